//! Bag replay (issue 4): bags written by the independent `rosbags` package from simulated
//! worlds are replayed through the node's pipeline and must answer the world's ground truth;
//! damaged bags are reported, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use mnemo::core::{LexicalEmbedder, Memory};
use mnemo::replay::{replay, ReplayConfig, ReplayError, ReplaySummary};
use mnemo::ros::pipeline::Output;
use mnemo::sim::{evaluate, memory_config, questions, EvalReport, GroundTruth, SimConfig};

/// The Python with `rosbags` (`bash .ci/setup` creates it).
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MNEMO_PYTHON") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash .ci/setup` first (a venv with the rosbags package)",
        p.display()
    );
    p
}

pub(crate) fn sim(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        days: 1,
        ..SimConfig::default()
    }
}

/// Exports a world, records it as a bag with rosbags, returns (bag dir, truth).
pub(crate) fn bag(dir: &Path, cfg: &SimConfig, extra: &[&str]) -> (PathBuf, GroundTruth) {
    let export = dir.join(format!("world{}.jsonl", cfg.seed));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&export).unwrap());
    let truth = mnemo::sim::export::write_jsonl(cfg, &mut f).unwrap();
    drop(f);
    let out = dir.join(format!("bag{}{}", cfg.seed, extra.join("")));
    let status = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sim_to_bag.py"))
        .arg(&export)
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "sim_to_bag.py failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    (out, truth)
}

pub(crate) fn replay_into_memory(bag: &Path, config: &ReplayConfig) -> (Memory, ReplaySummary) {
    let mut m = Memory::new(memory_config(), Box::new(LexicalEmbedder::default())).unwrap();
    let summary = replay_into(&mut m, bag, config);
    (m, summary)
}

/// Replays `bag` into `m`; inputs the memory refuses are skipped.
fn replay_into(m: &mut Memory, bag: &Path, config: &ReplayConfig) -> ReplaySummary {
    replay(
        bag,
        config,
        |o| {
            let _ = match o {
                Output::Pose(p) => m.ingest_pose(p).map(|_| ()),
                Output::Keyframe(k) => m.ingest(&k.observation).map(|_| ()),
            };
            Ok(())
        },
        |_, _| {},
    )
    .unwrap()
}

fn score(m: &Memory, truth: &GroundTruth) -> EvalReport {
    evaluate(m, None, truth, &questions(truth))
}

#[test]
fn replayed_rosbags_bags_answer_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [1, 2, 3] {
        let cfg = sim(seed);
        let (bag, truth) = bag(dir.path(), &cfg, &[]);
        let (m, summary) = replay_into_memory(&bag, &ReplayConfig::default());
        let p = &summary.pipeline;
        assert!(p.keyframes > 100, "seed {seed}: {summary:?}");
        assert_eq!(p.keyframes, p.poses);
        assert_eq!(
            (p.tf_dropped, p.bad_detections, summary.skipped_undecodable),
            (0, 0, 0)
        );
        let r = score(&m, &truth);
        // The same keyframes straight into the core, minus what a Detection3DArray cannot
        // carry (appearance embeddings, captions): the bag path must lose nothing else.
        let direct = direct_without_appearance(&cfg);
        assert!(r.where_found_rate >= 0.95, "seed {seed}: {r:?}");
        assert!(r.where_median_error_m <= 0.25, "seed {seed}: {r:?}");
        assert!(r.near_recall >= 0.9, "seed {seed}: {r:?}");
        assert!(
            (r.where_found_rate - direct.where_found_rate).abs() <= 0.01
                && (r.where_median_error_m - direct.where_median_error_m).abs() <= 0.005
                && (r.change_f1 - direct.change_f1).abs() <= 0.05
                && (r.near_recall - direct.near_recall).abs() <= 0.01,
            "seed {seed}: replay {r:?} vs direct {direct:?}"
        );
        assert_eq!(r.objects_in_memory, direct.objects_in_memory, "seed {seed}");
    }
}

fn direct_without_appearance(cfg: &SimConfig) -> EvalReport {
    let mut m = Memory::new(memory_config(), Box::new(LexicalEmbedder::default())).unwrap();
    let truth = mnemo::sim::simulate(cfg, |o| {
        let mut o = o.clone();
        o.caption = None;
        for d in &mut o.detections {
            d.embedding = None;
            d.text = None;
        }
        let _ = m.ingest(&o);
    })
    .unwrap();
    score(&m, &truth)
}

#[test]
fn replaying_a_bag_twice_gives_identical_memories() {
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(4), &[]);
    let (mut a, _) = replay_into_memory(&bag, &ReplayConfig::default());
    let (b, _) = replay_into_memory(&bag, &ReplayConfig::default());
    assert_eq!(a.digest(), b.digest());
    assert!(!a.objects().is_empty());
    // Into the memory that recorded it: nothing changes (older stamps are refused, the last
    // keyframe is a duplicate).
    replay_into(&mut a, &bag, &ReplayConfig::default());
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn detection_2d_boxes_are_back_projected_through_depth() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sim(5);
    let (bag, truth) = bag(dir.path(), &cfg, &["--detections-2d"]);
    let (m, summary) = replay_into_memory(&bag, &ReplayConfig::default());
    assert!(summary.pipeline.keyframes > 100, "{summary:?}");
    let r = score(&m, &truth);
    // Depth from a coarse rendered image at the box centre: looser than 3D detections.
    assert!(r.where_found_rate >= 0.8, "{r:?}");
    assert!(r.where_median_error_m <= 0.3, "{r:?}");
}

/// A bag whose colour image shows each object in its colour (`sim_to_bag.py --paint-objects`,
/// nearer objects covering farther ones), replayed with colour descriptors and the node's
/// association bound for them: most detections are described, not those something nearer
/// covers, and the memory holds the world's objects without duplicate tracks and finds its
/// changes. (`examples/appearance_e2e.rs` measures this over many worlds.)
#[test]
fn painted_bags_replayed_with_colour_descriptors_answer_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sim(1);
    let (bag, truth) = bag(
        dir.path(),
        &cfg,
        &["--image-size", "320x240", "--paint-objects"],
    );
    let mut config = ReplayConfig::default();
    config.pipeline.appearance = true;
    let mut m = Memory::new(
        mnemo::core::config::MemoryConfig {
            association_min_appearance_cosine: Some(
                mnemo::perception::appearance::ASSOCIATION_MIN_COSINE,
            ),
            ..memory_config()
        },
        Box::new(LexicalEmbedder::default()),
    )
    .unwrap();
    let summary = replay_into(&mut m, &bag, &config);
    let true_detections: u64 = {
        let mut n = 0;
        mnemo::sim::simulate_with_sources(&cfg, |_, sources| {
            n += sources.iter().filter(|s| s.is_some()).count() as u64;
        })
        .unwrap();
        n
    };
    let described = summary.pipeline.appearance_described;
    assert!(
        described * 2 > true_detections && described < true_detections,
        "{described} of {true_detections}"
    );
    let r = score(&m, &truth);
    assert!(
        r.objects_in_memory.abs_diff(r.objects_in_world) <= 2,
        "{r:?}"
    );
    assert!(r.change_f1 >= 0.85 && r.where_found_rate >= 0.95, "{r:?}");
}

/// A colour camera recorded through `image_transport` (`sensor_msgs/CompressedImage` on
/// `.../image_raw/compressed`, as the node also subscribes): the replay reads it by default and,
/// the png being lossless, builds the same memory as from the raw images, colour descriptors
/// included.
#[test]
fn compressed_colour_on_the_image_transport_topic_replays_as_raw() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sim(2);
    let common = [
        "--image-size",
        "160x120",
        "--paint-objects",
        "--max-seconds",
        "140",
    ];
    let (raw, _) = bag(dir.path(), &cfg, &common);
    let compressed: Vec<&str> = common.iter().copied().chain(["--compressed-png"]).collect();
    let (png, _) = bag(dir.path(), &cfg, &compressed);
    let mut config = ReplayConfig::default();
    config.pipeline.appearance = true;
    let (a, sa) = replay_into_memory(&raw, &config);
    let (b, sb) = replay_into_memory(&png, &config);
    assert_eq!(
        sb.messages_by_topic["/camera/color/image_raw/compressed"],
        sa.messages_by_topic["/camera/color/image_raw"],
        "{sb:?}"
    );
    assert!(!sb.messages_by_topic.contains_key("/camera/color/image_raw"));
    assert_eq!(sb.pipeline.bad_images, 0, "{sb:?}");
    assert!(sa.pipeline.appearance_described > 50, "{sa:?}");
    assert_eq!(
        sb.pipeline.appearance_described,
        sa.pipeline.appearance_described
    );
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn damaged_bags_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(6), &["--no-images"]);
    let file = mnemo::replay::mcap_path(&bag).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let (_, whole) = replay_into_memory(&bag, &ReplayConfig::default());
    // Cut in half: what came before the cut is used, the rest is reported.
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (_, s) = replay_into_memory(&cut, &ReplayConfig::default());
    assert!(s.truncated && s.read_error.is_some(), "{s:?}");
    assert!(s.pipeline.keyframes > 0 && s.pipeline.keyframes < whole.pipeline.keyframes);
    // Flipped bytes in the middle: no panic, whatever is readable is used or reported.
    let mut flipped = bytes.clone();
    for i in (bytes.len() / 3..bytes.len() / 3 + 4096).step_by(7) {
        flipped[i] ^= 0x5a;
    }
    let f = dir.path().join("flipped.mcap");
    std::fs::write(&f, &flipped).unwrap();
    let _ = replay(&f, &ReplayConfig::default(), |_| Ok(()), |_, _| {});
    // Not MCAP at all (garbage, an empty file), and a missing path: clear errors.
    let empty = dir.path().join("empty.mcap");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        replay(&empty, &ReplayConfig::default(), |_| Ok(()), |_, _| {}),
        Err(ReplayError::NotMcap { .. })
    ));
    let g = dir.path().join("garbage.mcap");
    std::fs::write(&g, b"this is not a bag").unwrap();
    assert!(matches!(
        replay(&g, &ReplayConfig::default(), |_| Ok(()), |_, _| {}),
        Err(ReplayError::NotMcap { .. })
    ));
    assert!(matches!(
        replay(
            &dir.path().join("nope"),
            &ReplayConfig::default(),
            |_| Ok(()),
            |_, _| {}
        ),
        Err(ReplayError::Read { .. })
    ));
    // A topic remapped onto another type's slot is skipped as the wrong type.
    let config = ReplayConfig {
        remaps: vec![("/odom".into(), "/detections".into())],
        ..ReplayConfig::default()
    };
    let (_, s) = replay_into_memory(&bag, &config);
    assert_eq!(s.skipped_wrong_type, whole.messages_by_topic["/odom"]);
    assert_eq!(s.pipeline.poses, 0);
    assert_eq!(s.pipeline.keyframes, whole.pipeline.keyframes);
}

/// `mnemo replay` failing: its stderr.
fn replay_fails(args: &[&str]) -> String {
    let out = crate::common::mnemo_command(&["replay"])
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "replay {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `mnemo replay --params-file` configures the replay as the node: the documented file (the
/// node's defaults) replays as no file does, the file's topics, frames and memory knobs
/// apply to the node it names (and `/**` to every node), flags win over the file, and a bad
/// file or value stops the replay with a message naming it.
#[test]
fn replay_reads_the_nodes_params_file() {
    use crate::common::mnemo_json;
    let dir = tempfile::tempdir().unwrap();
    let (bag, _) = bag(dir.path(), &sim(6), &["--no-images"]);
    let bag_s = bag.to_str().unwrap();
    // `mnemo replay BAG ARGS.. --json`.
    let replay = |args: &[&str]| {
        let mut all = vec!["replay", bag_s];
        all.extend_from_slice(args);
        all.push("--json");
        mnemo_json(&all)
    };
    let plain = replay(&[]);
    assert!(plain["keyframes"].as_u64().unwrap() > 100, "{plain}");
    assert!(plain["params_file"].is_null());
    // The in-process replay with default settings and the simulator's look-alikes is what the
    // binary does without a file (the node's default look-alike groups are the same).
    let (memory, _) = replay_into_memory(&bag, &ReplayConfig::default());
    assert_eq!(plain["digest"], format!("{:016x}", memory.digest()));

    let documented = Path::new(env!("CARGO_MANIFEST_DIR")).join("launch/params/mnemo.yaml");
    let documented = documented.to_str().unwrap();
    let same = replay(&["--params-file", documented]);
    assert_eq!(same["digest"], plain["digest"]);
    assert_eq!(same["params_file"], documented);

    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    // Topics: the file renames the detections topic, so the bag's is not read...
    let renamed = write(
        "renamed.yaml",
        "/**:\n  ros__parameters:\n    topics:\n      detections: /robot/detections\n",
    );
    let r = replay(&["--params-file", &renamed]);
    assert_eq!(r["keyframes"], 0, "{r}");
    assert!(r["messages_by_topic"].get("/detections").is_none(), "{r}");
    // ...until a remap reads it under that name: the same memory as before.
    let r = replay(&[
        "--params-file",
        &renamed,
        "--remap",
        "/detections:=/robot/detections",
    ]);
    assert_eq!(r["digest"], plain["digest"], "{r}");

    // Memory knobs, for the node named: declaring missing after one view changes the memory;
    // another node's section does not apply.
    let knobs = write(
        "knobs.yaml",
        "mnemo:\n  ros__parameters:\n    changes:\n      missing_after_views: 1\n      \
         missing_after_views_with_candidate: 1\n      missing_min_absence_s: 0.0\n\
         other:\n  ros__parameters:\n    map_frame: nowhere\n",
    );
    let r = replay(&["--params-file", &knobs]);
    assert_ne!(r["digest"], plain["digest"], "{r}");
    assert_eq!(r["keyframes"], plain["keyframes"]);
    // The same knobs as `-p NAME:=VALUE`, without a file; and `-p` over the file's values.
    let by_p = replay(&[
        "-p",
        "changes.missing_after_views:=1",
        "-p",
        "changes.missing_after_views_with_candidate:=1",
        "--param",
        "changes.missing_min_absence_s:=0.0",
    ]);
    assert_eq!(by_p["digest"], r["digest"]);
    let back = replay(&[
        "--params-file",
        &knobs,
        "-p",
        "changes.missing_after_views:=3",
        "-p",
        "changes.missing_after_views_with_candidate:=2",
        "-p",
        "changes.missing_min_absence_s:=30.0",
    ]);
    assert_eq!(back["digest"], plain["digest"]);
    // `--node-name other`: its map frame, which the bag's TF does not reach: no keyframe...
    let r = replay(&["--params-file", &knobs, "--node-name", "other"]);
    assert_eq!(r["keyframes"], 0, "{r}");
    // ...and the flag wins over the file: back to the plain memory.
    let r = replay(&[
        "--params-file",
        &knobs,
        "--node-name",
        "/other",
        "--map-frame",
        "map",
    ]);
    assert_eq!(r["digest"], plain["digest"], "{r}");

    // Look-alike groups are a node parameter too: none, and a detector's cup seen as a mug
    // becomes a second object.
    let no_groups = write(
        "groups.yaml",
        "/**:\n  ros__parameters:\n    association:\n      compatible_labels: []\n",
    );
    let r = replay(&["--params-file", &no_groups]);
    assert_ne!(r["digest"], plain["digest"], "{r}");

    // Bad input: each a clear error naming what is wrong, before anything is written.
    let db = dir.path().join("never.db");
    let db_s = db.to_str().unwrap();
    let err = replay_fails(&[
        bag_s,
        "--params-file",
        "/nonexistent/mnemo.yaml",
        "--db",
        db_s,
    ]);
    assert!(err.contains("/nonexistent/mnemo.yaml"), "{err}");
    let bad_value = write(
        "bad.yaml",
        "/**:\n  ros__parameters:\n    association:\n      gate_base_m: wide\n",
    );
    let err = replay_fails(&[bag_s, "--params-file", &bad_value, "--db", db_s]);
    assert!(err.contains("association.gate_base_m"), "{err}");
    let bad_groups = write(
        "badgroups.yaml",
        "/**:\n  ros__parameters:\n    association:\n      compatible_labels: [\"cup\"]\n",
    );
    let err = replay_fails(&[bag_s, "--params-file", &bad_groups, "--db", db_s]);
    assert!(err.contains("association.compatible_labels"), "{err}");
    // The file's keyframe models are opened as the flags' are: one that is not there stops
    // the replay.
    let detector = write(
        "detector.yaml",
        "/**:\n  ros__parameters:\n    detector:\n      model: /nonexistent/yolo.onnx\n",
    );
    let err = replay_fails(&[bag_s, "--params-file", &detector, "--db", db_s]);
    assert!(err.contains("/nonexistent/yolo.onnx"), "{err}");
    let err = replay_fails(&[bag_s, "-p", "association.gate_base_m", "--db", db_s]);
    assert!(err.contains("expected NAME:=VALUE"), "{err}");
    let err = replay_fails(&[bag_s, "-p", "association.gate_base_m:=wide", "--db", db_s]);
    assert!(err.contains("association.gate_base_m"), "{err}");
    let err = replay_fails(&[bag_s, "--params-file", documented, "--node-name", "9lives"]);
    assert!(err.contains("9lives") && err.contains("node name"), "{err}");
    let err = replay_fails(&[bag_s, "--node-name", "other"]);
    assert!(err.contains("--params-file"), "{err}");
    assert!(!db.exists());
    // An unknown key is warned about, not fatal (a shared `/**` section may hold other
    // nodes' keys).
    let unknown = write(
        "unknown.yaml",
        "/**:\n  ros__parameters:\n    some_other_nodes_key: 1\n",
    );
    let out = crate::common::mnemo_command(&["replay", bag_s, "--params-file", &unknown, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("some_other_nodes_key"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["digest"], plain["digest"]);
}
