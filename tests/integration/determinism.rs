//! Determinism: the same inputs give the same memory, byte for byte (digest), every time.

use mnemo::sim::{memory_config, run_eval, SimConfig};

use crate::common::{memory, random_stream};

#[test]
fn same_seed_same_memory_digest() {
    let cfg = SimConfig {
        days: 2,
        seed: 42,
        ..SimConfig::default()
    };
    let a = run_eval(&cfg, memory_config()).unwrap();
    let b = run_eval(&cfg, memory_config()).unwrap();
    assert_eq!(a.memory.digest(), b.memory.digest());
    assert_eq!(a.report, b.report);
    let c = run_eval(&SimConfig { seed: 43, ..cfg }, memory_config()).unwrap();
    assert_ne!(a.memory.digest(), c.memory.digest());
}

#[test]
fn random_streams_replay_identically() {
    let stream = random_stream(7, 40, 200);
    let mut a = memory();
    let mut b = memory();
    for obs in &stream {
        a.ingest(obs).unwrap();
    }
    for obs in &stream {
        b.ingest(obs).unwrap();
    }
    assert_eq!(a.digest(), b.digest());
    // One more keyframe changes the digest.
    let extra = crate::common::keyframe(
        a.latest_stamp_ns().unwrap() + 1,
        1.0,
        1.0,
        0.0,
        vec![crate::common::det("lamp", [3.0, 1.0, 1.0])],
    );
    b.ingest(&extra).unwrap();
    assert_ne!(a.digest(), b.digest());
}
