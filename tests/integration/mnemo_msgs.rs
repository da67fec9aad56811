//! `mnemo_msgs` (issue 5): the `.msg`/`.srv` files in `msg/` and the Rust serde types must
//! never drift — same fields, types, order and constants — and the bytes must be the ones the
//! independent `rosbags` package writes from the files (needs `bash .ci/setup`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mnemo::ros::mnemo_msgs::{self as mm, schemas};
use mnemo::ros::msg::{decode, encode, RosMessage};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::replay::python;

fn msg_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("msg")
}

const PRIMITIVES: [&str; 14] = [
    "bool", "byte", "char", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
    "uint64", "float32", "float64", "string",
];

/// A parsed message part: `(type, name)` fields and `(type, name, value)` constants, with
/// types as our schema spells them (package-relative names qualified with `mnemo_msgs/`).
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    fields: Vec<(String, String)>,
    constants: Vec<(String, String, String)>,
}

fn qualify(ty: &str) -> String {
    let (base, array) = match ty.find('[') {
        Some(i) => (&ty[..i], &ty[i..]),
        None => (ty, ""),
    };
    if PRIMITIVES.contains(&base) || base.contains('/') {
        ty.to_string()
    } else {
        format!("mnemo_msgs/{base}{array}")
    }
}

fn parse(text: &str) -> Parsed {
    let mut p = Parsed::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (ty, rest) = line.split_once(char::is_whitespace).expect(line);
        let rest = rest.trim();
        if let Some((name, value)) = rest.split_once('=') {
            p.constants.push((
                qualify(ty),
                name.trim().to_string(),
                value.trim().to_string(),
            ));
        } else {
            assert!(
                !rest.contains(char::is_whitespace),
                "default values are not used: {line}"
            );
            p.fields.push((qualify(ty), rest.to_string()));
        }
    }
    p
}

/// Every part of every file in `msg/`, by the name the Rust schema gives it.
fn parts() -> BTreeMap<String, Parsed> {
    let mut out = BTreeMap::new();
    for (dir, ext) in [("msg", "msg"), ("srv", "srv")] {
        for entry in std::fs::read_dir(msg_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != ext) {
                continue;
            }
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            if ext == "msg" {
                out.insert(stem, parse(&text));
            } else {
                let (req, resp) = text.split_once("\n---\n").expect("a .srv has ---");
                out.insert(format!("{stem}_Request"), parse(req));
                out.insert(format!("{stem}_Response"), parse(resp));
            }
        }
    }
    out
}

#[test]
fn rust_types_match_the_msg_and_srv_files_field_by_field() {
    let files = parts();
    let rust: BTreeMap<String, Parsed> = schemas()
        .into_iter()
        .map(|(name, s)| {
            (
                name.to_string(),
                Parsed {
                    fields: (s.fields)()
                        .into_iter()
                        .map(|(t, n)| (t, n.to_string()))
                        .collect(),
                    constants: (s.constants)()
                        .into_iter()
                        .map(|(t, n, v)| (t, n.to_string(), v))
                        .collect(),
                },
            )
        })
        .collect();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        rust.keys().collect::<Vec<_>>()
    );
    for (name, parsed) in &files {
        assert_eq!(parsed, &rust[name], "{name}");
        if name.ends_with("_Response") {
            // Every response starts with success + message.
            assert_eq!(
                parsed.fields[..2],
                [
                    ("bool".to_string(), "success".to_string()),
                    ("string".to_string(), "message".to_string())
                ],
                "{name}"
            );
        }
    }
    // The interface package lists every file it generates.
    let cmake = std::fs::read_to_string(msg_dir().join("CMakeLists.txt")).unwrap();
    for name in files.keys() {
        let file = match name.rsplit_once('_') {
            Some((srv, "Request" | "Response")) => format!("\"srv/{srv}.srv\""),
            _ => format!("\"msg/{name}.msg\""),
        };
        assert!(cmake.contains(&file), "CMakeLists.txt lacks {file}");
    }
}

#[test]
fn the_drift_check_catches_a_changed_file() {
    // The same comparison on an edited copy must fail: a renamed field, a changed type.
    let text = std::fs::read_to_string(msg_dir().join("msg/Relation.msg")).unwrap();
    let schema = (schemas()
        .into_iter()
        .find(|(n, _)| *n == "Relation")
        .unwrap()
        .1
        .fields)();
    let fields = |p: Parsed| p.fields;
    let rust: Vec<(String, String)> = schema.into_iter().map(|(t, n)| (t, n.into())).collect();
    assert_eq!(fields(parse(&text)), rust);
    assert_ne!(
        fields(parse(&text.replace("uint32 subject_id", "uint32 subject"))),
        rust
    );
    assert_ne!(
        fields(parse(&text.replace("uint32 object_id", "uint64 object_id"))),
        rust
    );
}

fn check<T: RosMessage + DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    samples: &serde_json::Value,
    name: &str,
) {
    let sample = &samples[name];
    let want: T = serde_json::from_value(sample["values"].clone())
        .unwrap_or_else(|e| panic!("{name}: rosbags' fields do not fit the Rust type: {e}"));
    let hex = sample["cdr"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        decode::<T>(&bytes).unwrap(),
        want,
        "{name}: decoding rosbags' bytes"
    );
    assert_eq!(
        encode(&want).unwrap(),
        bytes,
        "{name}: our bytes vs rosbags'"
    );
}

#[test]
fn cdr_bytes_equal_what_rosbags_writes_from_the_files() {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/mnemo_msgs_cdr.py"))
        .arg(msg_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mnemo_msgs_cdr.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(samples.as_object().unwrap().len(), schemas().len());
    check::<mm::MemoryObject>(&samples, "MemoryObject");
    check::<mm::MemoryEvent>(&samples, "MemoryEvent");
    check::<mm::Relation>(&samples, "Relation");
    check::<mm::Episode>(&samples, "Episode");
    check::<mm::SceneGraph>(&samples, "SceneGraph");
    check::<mm::WhereRequest>(&samples, "Where_Request");
    check::<mm::WhereResponse>(&samples, "Where_Response");
    check::<mm::WhenRequest>(&samples, "When_Request");
    check::<mm::WhenResponse>(&samples, "When_Response");
    check::<mm::NearRequest>(&samples, "Near_Request");
    check::<mm::NearResponse>(&samples, "Near_Response");
    check::<mm::RecallRequest>(&samples, "Recall_Request");
    check::<mm::RecallResponse>(&samples, "Recall_Response");
    check::<mm::GetSceneGraphRequest>(&samples, "GetSceneGraph_Request");
    check::<mm::GetSceneGraphResponse>(&samples, "GetSceneGraph_Response");
    check::<mm::ForgetRequest>(&samples, "Forget_Request");
    check::<mm::ForgetResponse>(&samples, "Forget_Response");
}
