//! End to end, does appearance from the colour image help? For each seed: a one-day simulated
//! world is exported, recorded as a bag by `tests/interop/sim_to_bag.py --paint-objects` (each
//! true detection's box painted in a colour made from its appearance, nearer objects covering
//! farther ones), replayed through the node's pipeline with and without colour descriptors,
//! and scored against the world's ground truth.
//!
//! Usage: `cargo run --release --example appearance_e2e -- FIRST_SEED LAST_SEED [IMAGE_WxH]
//! [ASSOCIATION_MIN_COSINE|core]` (image 640x480 and the node's association bound by default;
//! `core`: the core's own bounds; `DAYS=3` for three-day worlds). Needs the `.venv` that `bash .ci/setup` creates. Prints one
//! line per seed (with `EXPLAIN=1` also the scored changes of the colour run), the means, and
//! how steady the descriptors were (pairs of sightings scoring below 0.85).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use mnemo::core::config::MemoryConfig;
use mnemo::core::embed::cosine;
use mnemo::core::{LexicalEmbedder, Memory};
use mnemo::replay::{replay, ReplayConfig};
use mnemo::ros::pipeline::Output;
use mnemo::sim::{evaluate, memory_config, questions, EvalReport, GroundTruth, SimConfig};

/// How steady the colour descriptors were: of consecutive sightings of one object, and of two
/// objects of one label in one keyframe, how many pairs scored below 0.85 (`(below, pairs)`).
#[derive(Default)]
struct Steadiness {
    same_object: (usize, usize),
    different_objects: (usize, usize),
}

impl Steadiness {
    /// Counts one keyframe's described detections; `sources[i]` is detection `i`'s object.
    fn add(
        &mut self,
        detections: &[mnemo::core::Detection],
        sources: &[Option<usize>],
        last: &mut HashMap<usize, Vec<f32>>,
    ) {
        let below = |a: &[f32], b: &[f32]| usize::from(cosine(a, b) < 0.85);
        let seen: Vec<(usize, &str, &Vec<f32>)> = detections
            .iter()
            .zip(sources)
            .filter_map(|(d, s)| {
                Some((
                    s.as_ref().copied()?,
                    d.label.as_str(),
                    d.embedding.as_ref()?,
                ))
            })
            .collect();
        for (i, &(src, label, e)) in seen.iter().enumerate() {
            if let Some(prev) = last.insert(src, e.clone()) {
                self.same_object.0 += below(&prev, e);
                self.same_object.1 += 1;
            }
            for &(other, other_label, f) in &seen[i + 1..] {
                if other != src && other_label == label {
                    self.different_objects.0 += below(e, f);
                    self.different_objects.1 += 1;
                }
            }
        }
    }
}

/// Replays `bag`, with colour descriptors when `appearance` is `Some(association bound)`, and
/// scores the memory; with `sources` (each keyframe's detection sources) also counts how
/// steady the descriptors were.
fn replay_and_score(
    bag: &Path,
    appearance: Option<Option<f32>>,
    truth: &GroundTruth,
    sources: Option<&[Vec<Option<usize>>]>,
    steadiness: &mut Steadiness,
) -> (EvalReport, u64) {
    let mut config = ReplayConfig::default();
    config.pipeline.appearance = appearance.is_some();
    let memory = MemoryConfig {
        association_min_appearance_cosine: appearance.flatten(),
        ..memory_config()
    };
    let mut m = Memory::new(memory, Box::new(LexicalEmbedder::default())).unwrap();
    let (mut keyframe, mut last) = (0, HashMap::new());
    let summary = replay(
        bag,
        &config,
        |o| {
            let _ = match o {
                Output::Pose(p) => m.ingest_pose(p).map(|_| ()),
                Output::Keyframe(k) => {
                    // The bag has one camera frame per simulated keyframe, in order.
                    if let Some(s) = sources.and_then(|s| s.get(keyframe)) {
                        if s.len() == k.observation.detections.len() {
                            steadiness.add(&k.observation.detections, s, &mut last);
                        }
                    }
                    keyframe += 1;
                    m.ingest(&k.observation).map(|_| ())
                }
            };
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
    if appearance.is_some() && std::env::var_os("EXPLAIN").is_some() {
        for l in mnemo::sim::qa::explain_changes(&m, None, &questions(truth)) {
            println!("{l}");
        }
    }
    (
        evaluate(&m, None, truth, &questions(truth)),
        summary.pipeline.appearance_described,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let first: u64 = args.get(1).map_or(1, |s| s.parse().unwrap());
    let last: u64 = args.get(2).map_or(first, |s| s.parse().unwrap());
    let size = args.get(3).cloned().unwrap_or_else(|| "640x480".into());
    // The association bound with colours: the node's default, or "core" for the core's own.
    let association = match args.get(4).map(String::as_str) {
        None => Some(mnemo::perception::appearance::ASSOCIATION_MIN_COSINE),
        Some("core") => None,
        Some(v) => Some(v.parse().unwrap()),
    };
    // Simulated days per world (`DAYS`, default 1).
    let days: u32 = std::env::var("DAYS").map_or(1, |v| v.parse().unwrap());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python =
        std::env::var_os("MNEMO_PYTHON").map_or_else(|| root.join(".venv/bin/python"), Into::into);
    let dir = tempfile::tempdir().unwrap();
    let (mut sum_pos, mut sum_col, mut n) = (0.0, 0.0, 0.0);
    let mut steadiness = Steadiness::default();
    println!("seed  f1_positions  f1_colours  objects world/positions/colours  described");
    for seed in first..=last {
        let cfg = SimConfig {
            seed,
            days,
            ..SimConfig::default()
        };
        let export = dir.path().join(format!("world{seed}.jsonl"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&export).unwrap());
        let truth = mnemo::sim::export::write_jsonl(&cfg, &mut f).unwrap();
        drop(f);
        let bag = dir.path().join(format!("bag{seed}"));
        let out = Command::new(&python)
            .arg(root.join("tests/interop/sim_to_bag.py"))
            .arg(&export)
            .arg(&bag)
            .args(["--image-size", &size, "--paint-objects"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut sources = Vec::new();
        mnemo::sim::simulate_with_sources(&cfg, |_, s| sources.push(s.to_vec())).unwrap();
        let (pos, _) = replay_and_score(&bag, None, &truth, None, &mut steadiness);
        let (col, described) = replay_and_score(
            &bag,
            Some(association),
            &truth,
            Some(&sources),
            &mut steadiness,
        );
        println!(
            "{seed:4}  {:12.3}  {:10.3}  {} / {} / {}  {described}",
            pos.change_f1,
            col.change_f1,
            pos.objects_in_world,
            pos.objects_in_memory,
            col.objects_in_memory
        );
        // A 640x480 bag of one day is about 0.5 GB: keep one at a time.
        std::fs::remove_dir_all(&bag).unwrap();
        std::fs::remove_file(&export).unwrap();
        sum_pos += pos.change_f1;
        sum_col += col.change_f1;
        n += 1.0;
    }
    println!(
        "mean change_f1: positions {:.4}, colours {:.4} ({} seeds)",
        sum_pos / n,
        sum_col / n,
        n
    );
    let share = |(below, pairs): (usize, usize)| 100.0 * below as f64 / pairs.max(1) as f64;
    println!(
        "descriptors below 0.85: {:.1} % of {} consecutive sightings of one object, \
         {:.1} % of {} pairs of objects of one label in one keyframe",
        share(steadiness.same_object),
        steadiness.same_object.1,
        share(steadiness.different_objects),
        steadiness.different_objects.1
    );
}
