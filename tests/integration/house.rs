//! House rules that CI enforces: the core stays pure (no I/O crates, no wall clock).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `pat` occurs in `code` not preceded by an identifier character (so `ort::` does not
/// match `IngestReport::`).
fn contains_word(code: &str, pat: &str) -> bool {
    code.match_indices(pat).any(|(i, _)| {
        code[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn word_matching_respects_identifiers() {
    assert!(contains_word("use ort::Session;", "ort::"));
    assert!(contains_word("x = ort::init()", "ort::"));
    assert!(!contains_word("IngestReport::default()", "ort::"));
}

#[test]
fn core_imports_no_io_crate_and_reads_no_clock() {
    let forbidden = [
        "ros2_client",
        "rustdds",
        "ort::",
        "use ort",
        "rerun",
        "rusqlite",
        "tokio",
        "mcap",
        "image::",
        "use image",
        "std::fs",
        "std::net",
        "std::process",
        "SystemTime",
        "Instant",
        "std::env",
        "crate::sim",
        "crate::bench",
    ];
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core"),
        &mut files,
    );
    assert!(files.len() >= 10);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in forbidden {
                assert!(
                    !contains_word(code, bad),
                    "{}:{}: core must stay pure, found `{bad}`",
                    f.display(),
                    n + 1
                );
            }
        }
    }
}
