//! The `mnemo` binary's contract: exact JSON keys, clear errors for bad flags.

use std::collections::BTreeSet;
use std::process::Command;

fn mnemo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mnemo"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keys(stdout: &[u8]) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

/// `mnemo eval` on a one-day world of seed 3 with `rooms` rooms and `objects` small objects.
fn small_eval(rooms: &str, objects: &str, more: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval",
        "--seed",
        "3",
        "--days",
        "1",
        "--rooms",
        rooms,
        "--objects",
        objects,
    ];
    args.extend_from_slice(more);
    mnemo(&args)
}

#[test]
fn eval_json_has_exactly_the_specified_keys() {
    let out = small_eval("2", "20", &["--json"]);
    assert_success(&out);
    let want: BTreeSet<String> = [
        "questions",
        "where_median_error_m",
        "where_p90_error_m",
        "where_found_rate",
        "last_seen_median_error_s",
        "change_precision",
        "change_recall",
        "change_f1",
        "near_precision",
        "near_recall",
        "objects_in_world",
        "objects_in_memory",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(keys(&out.stdout), want);
}

#[test]
fn bench_json_has_the_specified_keys() {
    let out = mnemo(&[
        "bench",
        "--objects",
        "3000",
        "--events",
        "9000",
        "--queries",
        "50",
        "--json",
    ]);
    assert_success(&out);
    let got = keys(&out.stdout);
    for k in [
        "ingest_obs_per_s",
        "near_p50_us",
        "near_p99_us",
        "near_sqlite_p50_us",
        "near_linear_p50_us",
        "near_speedup_vs_sqlite",
        "near_speedup_vs_linear",
        "where_p99_us",
        "when_p99_us",
        "near_alone_p50_us",
        "near_sqlite_alone_p50_us",
        "near_linear_alone_p50_us",
        "near_alone_speedup_vs_sqlite",
        "near_alone_speedup_vs_linear",
    ] {
        assert!(got.contains(k), "missing {k} in {got:?}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["baselines_agree"], serde_json::Value::Bool(true));
    for k in [
        "near_alone_p50_us",
        "near_sqlite_alone_p50_us",
        "near_linear_alone_p50_us",
    ] {
        let t = v[k].as_f64().unwrap();
        assert!(t > 0.0 && t.is_finite(), "{k} = {t}");
    }
}

/// The store benchmark replaces its file only when told to, and only a Mnemo database.
#[test]
fn bench_store_never_replaces_a_file_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let small = ["--objects", "200", "--events", "400", "--json"];
    let run = |db: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["bench-store", "--db", db.to_str().unwrap()];
        args.extend(small);
        args.extend(extra);
        mnemo(&args)
    };
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "not a memory").unwrap();
    for extra in [&[][..], &["--overwrite"][..]] {
        let out = run(&other, extra);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "not a memory");
    }
    let db = dir.path().join("bs.db");
    assert_success(&run(&db, &[]));
    let digest = || {
        let out = mnemo(&[
            "inspect",
            "--db",
            db.to_str().unwrap(),
            "--json",
            "--digest",
        ]);
        assert_success(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["digest"].as_str().unwrap().to_string()
    };
    let first = digest();
    let out = run(&db, &["--seed", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overwrite"));
    assert_eq!(digest(), first);
    // Not while a writer holds it.
    let writer = mnemo::store::Store::open(&db, mnemo::store::OpenMode::ReadWrite).unwrap();
    let out = run(&db, &["--seed", "2", "--overwrite"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by a writer"));
    drop(writer);
    assert_eq!(digest(), first);
    assert_success(&run(&db, &["--seed", "2", "--overwrite"]));
    assert_ne!(digest(), first);
}

#[test]
fn bench_store_writes_reopens_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bs.db");
    let out = mnemo(&[
        "bench-store",
        "--objects",
        "2000",
        "--events",
        "6000",
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["objects"].as_u64().unwrap() >= 1900, "{v}");
    assert!(v["events"].as_u64().unwrap() >= 6000, "{v}");
    assert!(v["commits"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["reopen_events_in_ram"].as_u64().unwrap() > 0, "{v}");
    for k in [
        "write_events_per_s",
        "baseline_autocommit_events_per_s",
        "reopen_s",
        "reopen_peak_rss_mib",
        "writer_rss_at_reopen_mib",
    ] {
        let x = v[k].as_f64().unwrap_or(f64::NAN);
        assert!(x > 0.0 && x.is_finite(), "{k} = {x}: {v}");
    }
    // Dropping a file from the page cache is a Linux call.
    if cfg!(target_os = "linux") {
        for k in ["reopen_cold_s", "reopen_cold_peak_rss_mib"] {
            let x = v[k].as_f64().unwrap_or(f64::NAN);
            assert!(x > 0.0 && x.is_finite(), "{k} = {x}: {v}");
        }
    }
    assert_eq!(v["reopens_agree"], true, "{v}");
    // The file it reports on is a memory that reopens.
    let out = mnemo(&["inspect", "--db", db.to_str().unwrap(), "--json"]);
    assert_success(&out);
}

#[test]
fn eval_says_when_the_world_holds_fewer_objects_than_asked_for() {
    let header = |objects: &str| {
        let out = small_eval("1", objects, &[]);
        assert_success(&out);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    // One room's furniture tops hold a few dozen small objects, not ten thousand.
    let crowded = header("10000");
    assert!(
        crowded.contains("(10000 asked for; the furniture tops hold no more)"),
        "{crowded}"
    );
    let placed: usize = crowded
        .split(" rooms, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{crowded}"));
    assert!((1..10000).contains(&placed), "{crowded}");
    let roomy = header("5");
    assert!(roomy.contains(", 5 objects, "), "{roomy}");
    assert!(!roomy.contains("asked for"), "{roomy}");
}

#[test]
fn bad_flags_fail_with_a_message_naming_the_flag() {
    let out = mnemo(&["eval", "--detection-recall", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--detection-recall"));
    let out = mnemo(&["bench", "--objects", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--objects"));
    for bad in ["0x48", "2000x48", "64"] {
        let out = mnemo(&["eval", "--depth-size", bad]);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("depth-size"), "{bad}: {err}");
    }
}

/// Asserts stdout is a non-empty JSON list of objects with exactly `want` as keys.
fn assert_rows_have_keys(stdout: &[u8], want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let rows = array_keys(stdout);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| *r == want), "{rows:?}");
}

fn array_keys(stdout: &[u8]) -> Vec<BTreeSet<String>> {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_object().unwrap().keys().cloned().collect())
        .collect()
}

#[test]
fn eval_db_query_inspect_and_forget_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let db_s = db.to_str().unwrap();
    let out = mnemo(&[
        "eval",
        "--seed",
        "2",
        "--days",
        "2",
        "--rooms",
        "2",
        "--objects",
        "20",
        "--db",
        db_s,
    ]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("peak_rss_mib") && text.contains("db_mib"),
        "{text}"
    );
    let digest = |out: &std::process::Output| -> String {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["digest"].as_str().unwrap().to_string()
    };
    let before = mnemo(&["inspect", "--db", db_s, "--json", "--digest"]);
    assert_success(&before);

    // A second run on the same file would score a new world against both: refused, file kept.
    let out = mnemo(&["eval", "--seed", "3", "--days", "1", "--db", db_s]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already holds a memory") && err.contains(db_s),
        "{err}"
    );
    let after = mnemo(&["inspect", "--db", db_s, "--json", "--digest"]);
    assert_eq!(digest(&after), digest(&before));

    let out = mnemo(&[
        "inspect",
        "--db",
        db_s,
        "--json",
        "--check",
        "--load-timing",
    ]);
    assert_success(&out);
    let k = keys(&out.stdout);
    for want in [
        "schema_version",
        "objects",
        "events",
        "captions",
        "first_stamp_ns",
        "last_stamp_ns",
        "file_bytes",
        "integrity",
        "load_s",
        "peak_rss_mib",
    ] {
        assert!(k.contains(want), "inspect lacks {want}: {k:?}");
    }
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["integrity"], "ok");
    assert!(info["events"].as_u64().unwrap() > 0);
    assert_eq!(info["load_cold_cache"], false);

    // A load from the disk (the file dropped from the page cache first) gives the same memory.
    let out = mnemo(&["inspect", "--db", db_s, "--json", "--load-timing", "--cold"]);
    assert_success(&out);
    let cold: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cold["load_cold_cache"], true);
    assert_eq!(cold["digest"], info["digest"]);
    let out = mnemo(&["inspect", "--db", db_s, "--cold"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--load-timing"));

    // Pick a label the memory holds.
    let out = mnemo(&["query", "graph", "--db", db_s, "--json"]);
    assert_success(&out);
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let label = graph["objects"][0]["label"].as_str().unwrap().to_string();

    let out = mnemo(&["query", "where", &label, "--db", db_s, "--json"]);
    assert_success(&out);
    assert_rows_have_keys(
        &out.stdout,
        &[
            "id",
            "label",
            "position",
            "frame",
            "first_seen_ns",
            "last_seen_ns",
            "state",
            "place",
            "score",
            "distance_m",
        ],
    );

    let out = mnemo(&["query", "when", &label, "--label", "--db", db_s, "--json"]);
    assert_success(&out);
    assert_rows_have_keys(
        &out.stdout,
        &[
            "kind",
            "start_ns",
            "end_ns",
            "object_id",
            "label",
            "position",
        ],
    );

    // What changed over the two days (the world moves objects between patrols), and nothing
    // before the memory began.
    let out = mnemo(&["query", "changes", "--db", db_s, "--json"]);
    assert_success(&out);
    assert_rows_have_keys(
        &out.stdout,
        &[
            "kind",
            "stamp_ns",
            "event_id",
            "object_id",
            "label",
            "from",
            "to",
            "frame",
        ],
    );
    let changes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = changes.as_array().unwrap();
    for c in changes {
        let kind = c["kind"].as_str().unwrap();
        assert!(["moved", "missing", "reappeared"].contains(&kind), "{c}");
        assert_eq!(c["to"].is_array(), kind == "moved", "{c}");
    }
    // --label keeps that label's rows.
    let first = changes[0]["label"].as_str().unwrap();
    let out = mnemo(&["query", "changes", "--label", first, "--db", db_s, "--json"]);
    assert_success(&out);
    let mine: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: Vec<_> = changes.iter().filter(|c| c["label"] == first).collect();
    assert_eq!(mine.as_array().unwrap().iter().collect::<Vec<_>>(), want);
    let out = mnemo(&["query", "changes", "--db", db_s, "--to-ns", "0"]);
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no changes");

    let out = mnemo(&["forget", "--label", &label, "--db", db_s]);
    assert_success(&out);
    let out = mnemo(&["query", "where", &label, "--label", "--db", db_s, "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn query_of_a_missing_database_names_it() {
    let out = mnemo(&["query", "where", "mug", "--db", "/nonexistent/dir/m.db"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir/m.db"));
}

#[test]
fn embedder_errors_name_the_flag_the_library_and_the_model() {
    // `mnemo query where mug --embedder SPEC` with ORT_DYLIB_PATH = `lib`: it fails, and its
    // stderr is returned.
    let failing = |spec: &str, lib: &std::ffi::OsStr| {
        let out = Command::new(env!("CARGO_BIN_EXE_mnemo"))
            .args([
                "query",
                "where",
                "mug",
                "--embedder",
                spec,
                "--db",
                "/tmp/x.db",
            ])
            .env("ORT_DYLIB_PATH", lib)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = failing("bert", "".as_ref());
    assert!(
        err.contains("--embedder") && err.contains("minilm"),
        "{err}"
    );
    let err = failing("minilm", "/nonexistent/libonnxruntime.so.1".as_ref());
    assert!(
        err.contains("/nonexistent/libonnxruntime.so.1") && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );
    let lib = super::perception::ort_library();
    let err = failing("minilm=/nonexistent/models", lib.as_os_str());
    assert!(
        err.contains("/nonexistent/models/minilm.onnx") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn crashtest_json_has_the_specified_keys_and_catches_a_lying_writer() {
    let out = mnemo(&["crashtest", "--trials", "4", "--json"]);
    assert_success(&out);
    let k = keys(&out.stdout);
    for want in [
        "trials",
        "acknowledged_lost",
        "corruptions",
        "mean_reopen_ms",
    ] {
        assert!(k.contains(want), "crashtest lacks {want}: {k:?}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trials"], 4);
    assert_eq!(v["acknowledged_lost"], 0);
    assert_eq!(v["corruptions"], 0);
    // A writer that acknowledges before committing must be caught.
    let out = mnemo(&["crashtest", "--trials", "12", "--json", "--lying-child"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["acknowledged_lost"].as_u64().unwrap() > 0, "{v}");
}

/// A file from an older Mnemo: readers name `mnemo migrate`, which migrates it once, says so,
/// and then has nothing to do; the readers answer afterwards. A missing file is not created.
#[test]
fn migrate_brings_an_older_file_to_this_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/memory_v2.db");
    std::fs::copy(&fixture, &db).unwrap();
    let db_s = db.to_str().unwrap();

    let out = mnemo(&["inspect", "--db", db_s, "--json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mnemo migrate --db") && err.contains(db_s),
        "{err}"
    );

    let out = mnemo(&["migrate", "--db", db_s, "--json"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let now = mnemo::store::schema::SCHEMA_VERSION;
    assert_eq!(v["from_version"], 2);
    assert_eq!(v["to_version"], now);
    assert_eq!(v["migrated"], true);

    let out = mnemo(&["migrate", "--db", db_s, "--json"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["from_version"], now);
    assert_eq!(v["migrated"], false);

    let out = mnemo(&["inspect", "--db", db_s, "--json"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], now);
    assert_eq!(v["objects"], 65);

    let missing = dir.path().join("missing.db");
    let out = mnemo(&["migrate", "--db", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no memory database"));
    assert!(!missing.exists());
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `mnemo eval --explain | head`: the pipe is closed before anything is written. Like any
    // Unix filter the command just stops (exit 0), with no panic on stderr.
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnemo"))
        .args(["eval", "--seed", "1", "--days", "1", "--explain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}
