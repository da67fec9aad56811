//! The `mnemo_node` binary: startup refusals, and an independent DDS stack (Eclipse Cyclone
//! DDS through its Python binding) acting as the robot and the planner over loopback.

use std::path::Path;
use std::process::Command;

fn node() -> &'static str {
    env!("CARGO_BIN_EXE_mnemo_node")
}

fn run_node(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(node())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_parameter_stops_the_node_naming_it() {
    let (code, err) = run_node(&["--ros-args", "-p", "camera.max_depth_m:=-1.0"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("camera.max_depth_m"), "{err}");
    let (code, err) = run_node(&["--ros-args", "-p", "qos.odom:=fast"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("qos.odom") && err.contains("sensor_data"),
        "{err}"
    );
    let (code, err) = run_node(&["--ros-args", "-p", "detections_type:=4d"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("detections_type"), "{err}");
    // A look-alike group of one label, and a label in two groups.
    for groups in ["['cup']", "['cup,mug', 'mug,glass']"] {
        let arg = format!("association.compatible_labels:={groups}");
        let (code, err) = run_node(&["--ros-args", "-p", &arg], &[]);
        assert_eq!(code, 2, "{groups}: {err}");
        assert!(err.contains("association.compatible_labels"), "{err}");
    }
    let (code, err) = run_node(
        &["--ros-args", "--params-file", "/nonexistent/mnemo.yaml"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/mnemo.yaml"), "{err}");
    let (code, err) = run_node(&["stray"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stray"), "{err}");
}

#[test]
fn a_bad_domain_id_stops_the_node_naming_it() {
    let (code, err) = run_node(&[], &[("ROS_DOMAIN_ID", "999")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("ROS_DOMAIN_ID") && err.contains("999"),
        "{err}"
    );
}

fn python() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "run `bash .ci/setup` first (needs {})",
        p.display()
    );
    p
}

/// Runs the Cyclone peer in `mode` inside a private network namespace (only `lo`).
pub fn cyclone_peer(mode: &str, extra: &[&str]) -> serde_json::Value {
    cyclone_peer_with(mode, extra, &[])
}

/// As [`cyclone_peer`], with extra environment variables (the node inherits them).
pub fn cyclone_peer_with(
    mode: &str,
    extra: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/cyclone_peer.py");
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .arg("-n")
        .arg(python())
        .arg(&script)
        .args([mode, "--netns", "--node", node(), "--workdir"])
        .arg(work.path())
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "cyclone_peer.py printed no report ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "cyclone_peer.py {mode} failed: {}\n{report:#}\nstderr: {}",
        report["failed"],
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

#[test]
fn cyclone_dds_peer_drives_the_node() {
    let report = cyclone_peer("scenario", &[]);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 40, "{report:#}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{report:#}");
    assert!(report["where_mug_error_m"].as_f64().unwrap() <= 0.1);
}

/// The node with keyframe models over DDS: captions come back through ~/recall, the
/// detector's boxes become objects ~/where finds (tiny handcrafted models, CPU).
#[test]
fn the_node_runs_keyframe_models_for_a_dds_peer() {
    let dir = tempfile::tempdir().unwrap();
    let captioner = crate::perception::captioner::tiny_model(dir.path());
    let detector = crate::perception::yolo::tiny_model(dir.path());
    let lib = crate::perception::ort_library();
    let report = cyclone_peer_with(
        "perception",
        &[
            "--captioner",
            captioner.to_str().unwrap(),
            "--detector",
            detector.to_str().unwrap(),
        ],
        &[("ORT_DYLIB_PATH", lib.as_os_str())],
    );
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 7, "{report:#}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{report:#}");
}

#[test]
fn with_use_sim_time_the_node_runs_on_the_clock_topic() {
    let report = cyclone_peer("simtime", &[]);
    assert_eq!(report["where_header_stamp_s"], 1000, "{report:#}");
}
