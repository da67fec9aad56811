//! The `mnemo` binary's contract: exact JSON keys, clear errors for bad flags.

use std::collections::BTreeSet;
use std::process::Command;

fn mnemo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mnemo"))
        .args(args)
        .output()
        .unwrap()
}

fn keys(stdout: &[u8]) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn eval_json_has_exactly_the_specified_keys() {
    let out = mnemo(&[
        "eval",
        "--seed",
        "3",
        "--days",
        "1",
        "--rooms",
        "2",
        "--objects",
        "20",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    ] {
        assert!(got.contains(k), "missing {k} in {got:?}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["baselines_agree"], serde_json::Value::Bool(true));
}

#[test]
fn bad_flags_fail_with_a_message_naming_the_flag() {
    let out = mnemo(&["eval", "--detection-recall", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--detection-recall"));
    let out = mnemo(&["bench", "--objects", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--objects"));
}
