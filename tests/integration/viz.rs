//! Rerun visualisation (issue 4): a replay's `.rrd` is read back by PyPI `rerun-sdk` (its CLI
//! and its own reader, not our code) and must hold the entities we log, on the `ros_time`
//! timeline, with exactly the memory's objects and events; a live `connect` stream reaches a
//! viewer; the web viewer renders the recording in headless Chromium (needs `bash .ci/setup`).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mnemo::core::episodic::EventKind;
use mnemo::core::scene_graph::ObjectState;
use mnemo::core::Memory;
use mnemo::replay::ReplayConfig;
use mnemo::viz::state_color;

use crate::replay::{bag, python, replay_into_memory, sim};

fn venv_bin(name: &str) -> PathBuf {
    python().with_file_name(name)
}

fn mnemo(args: &[&str]) -> serde_json::Value {
    crate::common::mnemo_json(args)
}

/// `tests/interop/check_rrd.py`: the recording as rerun-sdk's reader sees it.
fn read_rrd(rrd: &Path) -> serde_json::Value {
    let out = check_rrd(rrd);
    assert!(
        out.status.success(),
        "check_rrd.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A state's box colour as `0xRRGGBBAA` (how rerun-sdk's reader gives colours).
fn rgba(state: ObjectState) -> u64 {
    u64::from(state_color(state).to_u32())
}

/// The object id in a box label `label #id`.
fn label_id(label: &str) -> u64 {
    label.rsplit_once('#').unwrap().1.parse().unwrap()
}

/// Checks a recording of `memory` (replayed from a bag, with colour and depth images when
/// `images`) against the memory itself.
fn assert_recording_matches(rec: &serde_json::Value, memory: &Memory, images: bool) {
    let entities = rec["entities"].as_object().unwrap();
    let has = |path: &str, column: &str| {
        entities.get(path).is_some_and(|cols| {
            cols.as_array()
                .unwrap()
                .iter()
                .any(|c| c.as_str() == Some(column))
        })
    };
    let image_entities = [
        ("/world/camera/image", "Image:buffer"),
        ("/world/camera/depth", "Pinhole:image_from_camera"),
        ("/world/camera/depth", "DepthImage:buffer"),
    ];
    for (path, column) in image_entities {
        assert_eq!(has(path, column), images, "{path} {column}: {entities:?}");
    }
    for (path, column) in [
        ("/world", "ViewCoordinates:xyz"),
        ("/world/robot", "Transform3D:translation"),
        ("/world/robot/body", "Boxes3D:half_sizes"),
        ("/world/trajectory/0", "LineStrips3D:strips"),
        ("/world/camera", "Transform3D:quaternion"),
        ("/world/camera/image", "Pinhole:image_from_camera"),
        ("/world/objects", "Boxes3D:centers"),
        ("/world/objects", "Boxes3D:colors"),
        ("/world/objects", "Boxes3D:labels"),
        ("/world/places", "Points3D:positions"),
        ("/world/relations", "LineStrips3D:strips"),
        ("/world/changes/moved", "Arrows3D:vectors"),
        ("/events", "TextLog:text"),
    ] {
        assert!(has(path, column), "{path} {column} missing: {entities:?}");
    }
    assert!(
        rec["timelines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "ros_time"),
        "{}",
        rec["timelines"]
    );
    // The last object boxes are exactly the memory's objects.
    let reportable: Vec<_> = memory
        .objects()
        .iter()
        .filter(|o| o.is_reportable())
        .collect();
    let want: BTreeSet<String> = reportable
        .iter()
        .map(|o| format!("{} #{}", o.label, o.id.0))
        .collect();
    let got: BTreeSet<String> = rec["objects"]["last_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    // Scrubbing shows each object appearing when the memory confirmed it.
    let mut appeared: BTreeMap<u64, i64> = BTreeMap::new();
    for (label, t) in rec["objects"]["first_seen_ns"].as_object().unwrap() {
        let t = t.as_i64().unwrap();
        let e = appeared.entry(label_id(label)).or_insert(t);
        *e = (*e).min(t);
    }
    let events = memory.log().events();
    for e in events.iter().filter(|e| e.kind == EventKind::FirstSeen) {
        let id = e.object.unwrap();
        if memory.object(id).is_some_and(|o| o.is_reportable()) {
            assert_eq!(
                appeared.get(&u64::from(id.0)),
                Some(&e.stamp_ns),
                "object {}",
                id.0
            );
        }
    }
    // Every state the memory reached is drawn in its colour.
    let colours: BTreeSet<u64> = rec["objects"]["colours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    let mut states: BTreeSet<u64> = reportable.iter().map(|o| rgba(o.state)).collect();
    if events.iter().any(|e| e.kind == EventKind::Moved) {
        states.insert(rgba(ObjectState::Moved));
    }
    if events.iter().any(|e| e.kind == EventKind::Missing) {
        states.insert(rgba(ObjectState::Missing));
    }
    assert!(states.is_subset(&colours), "{states:x?} vs {colours:x?}");
    // One text line per event, by kind.
    let mut want_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        *want_kinds.entry(e.kind.as_str().to_string()).or_default() += 1;
    }
    let got_kinds: BTreeMap<String, u64> = rec["text_kinds"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got_kinds, want_kinds);
    assert!(
        want_kinds.get("moved").copied().unwrap_or(0) > 0,
        "{want_kinds:?}"
    );
    // The last moves as arrows from the old spot to the new one, oldest first.
    let moves: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Moved)
        .collect();
    let shown = &moves[moves.len().saturating_sub(mnemo::viz::MOVES_SHOWN)..];
    let m = &rec["moves"];
    let ids: Vec<u64> = m["last_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| label_id(l.as_str().unwrap()))
        .collect();
    let want_ids: Vec<u64> = shown
        .iter()
        .map(|e| u64::from(e.object.unwrap().0))
        .collect();
    assert_eq!(ids, want_ids, "{m}");
    let triple = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    for (i, e) in shown.iter().enumerate() {
        let from = e.from_world.unwrap();
        let (origin, vector) = (triple(&m["last_origins"][i]), triple(&m["last_vectors"][i]));
        for k in 0..3 {
            assert!((origin[k] - f64::from(from[k])).abs() < 1e-4, "{m}");
            let to = origin[k] + vector[k];
            assert!((to - f64::from(e.position_world[k])).abs() < 1e-4, "{m}");
        }
    }
}

#[test]
fn replay_saves_a_recording_that_rerun_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(1), &[]);
    let rrd = dir.path().join("recordings/demo.rrd");
    let rrd_s = rrd.to_str().unwrap();
    let summary = mnemo(&[
        "replay",
        bag.to_str().unwrap(),
        "--rerun",
        &format!("save={rrd_s}"),
        "--json",
    ]);
    assert_eq!(summary["rerun"], format!("save={rrd_s}"));
    let (memory, _) = replay_into_memory(&bag, &ReplayConfig::default());
    assert_eq!(summary["digest"], format!("{:016x}", memory.digest()));
    // The rerun CLI of the matching rerun-sdk loads and checks the file.
    let verify = Command::new(venv_bin("rerun"))
        .args(["rrd", "verify", rrd_s])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "rerun rrd verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let print = Command::new(venv_bin("rerun"))
        .args(["rrd", "print", rrd_s])
        .output()
        .unwrap();
    assert!(print.status.success());
    let print = String::from_utf8_lossy(&print.stdout);
    for entity in [
        "/world/objects",
        "/world/places",
        "/world/relations",
        "/world/camera/image",
        "/events",
    ] {
        assert!(
            print.contains(&format!("- {entity} - data columns")),
            "rrd print lists no {entity}:\n{print}"
        );
    }
    assert_recording_matches(&read_rrd(&rrd), &memory, true);
}

#[test]
fn replay_streams_live_to_a_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(2), &["--no-images"]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A headless Rerun server on loopback that writes what it receives to a file. Its own
    // process group: pip's `rerun` is a Python launcher that starts the real binary.
    let live = dir.path().join("live.rrd");
    let server = Command::new(venv_bin("rerun"))
        .args(["--serve-grpc", "--bind", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--save")
        .arg(&live)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let _server = KillGroup(server);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "rerun did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary = mnemo(&[
        "replay",
        bag.to_str().unwrap(),
        "--rerun",
        &format!("connect=127.0.0.1:{port}"),
        "--json",
    ]);
    assert_eq!(
        summary["rerun"],
        format!("connect=rerun+http://127.0.0.1:{port}/proxy")
    );
    let (memory, _) = replay_into_memory(&bag, &ReplayConfig::default());
    // The server writes as it receives; wait until the last object boxes are in the file.
    let t0 = Instant::now();
    let rec = loop {
        std::thread::sleep(Duration::from_millis(500));
        if live.exists() {
            let rec = read_rrd_lenient(&live);
            let n = rec["objects"]["last_labels"]
                .as_array()
                .map_or(0, |a| a.len());
            let events: u64 = rec["text_kinds"]
                .as_object()
                .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
            if n > 0 && events == memory.log().events().len() as u64 {
                break rec;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the live stream did not arrive"
        );
    };
    assert_recording_matches(&rec, &memory, false);
}

/// Ends a child started in its own process group, and all it started, when dropped (also when
/// the test fails).
struct KillGroup(std::process::Child);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Like [`read_rrd`], but a file still being written may fail to read: an empty summary then.
fn read_rrd_lenient(rrd: &Path) -> serde_json::Value {
    serde_json::from_slice(&check_rrd(rrd).stdout).unwrap_or(serde_json::Value::Null)
}

fn check_rrd(rrd: &Path) -> std::process::Output {
    Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/check_rrd.py"))
        .arg(rrd)
        .output()
        .unwrap()
}

#[test]
fn rerun_off_writes_nothing_and_bad_targets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(3), &["--no-images"]);
    let summary = mnemo(&["replay", bag.to_str().unwrap(), "--json"]);
    assert!(summary["rerun"].is_null());
    for bad in ["save=", "connect=", "rrd", "spawn=now"] {
        let out = Command::new(env!("CARGO_BIN_EXE_mnemo"))
            .args(["replay", bag.to_str().unwrap(), "--rerun", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--rerun") && err.contains("expected save"),
            "{bad}: {err}"
        );
    }
    // `spawn` without a viewer on PATH: the SDK's own message, saying how to install one.
    let out = Command::new(env!("CARGO_BIN_EXE_mnemo"))
        .args(["replay", bag.to_str().unwrap(), "--rerun", "spawn"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Failed to find Rerun Viewer"), "{err}");
    // An unwritable recording path is a clear error before anything is replayed.
    let out = Command::new(env!("CARGO_BIN_EXE_mnemo"))
        .args(["replay", bag.to_str().unwrap(), "--rerun"])
        .arg("save=/proc/mnemo/x.rrd")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/proc/mnemo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_web_viewer_renders_the_recording_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(1), &[]);
    let rrd = dir.path().join("web.rrd");
    mnemo(&[
        "replay",
        bag.to_str().unwrap(),
        "--rerun",
        &format!("save={}", rrd.display()),
        "--json",
    ]);
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("rerun-recordings/web-viewer.png");
    let _ = std::fs::remove_file(&png);
    // Inside a network namespace with only loopback: the page's web-font links go nowhere.
    let script = format!(
        "ip link set lo up && exec {} {} {} {}",
        python().display(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop/web_viewer_shot.py")
            .display(),
        rrd.display(),
        png.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "web_viewer_shot.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["distinct_colours"].as_u64().unwrap() >= 40,
        "{report}"
    );
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
}
