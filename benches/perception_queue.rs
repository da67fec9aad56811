//! `cargo bench --bench perception_queue`: does a slow captioner slow ingest? Three simulated
//! days of keyframes, each with its own colour image (as the pipeline hands keyframes over; the
//! image moves, it is never copied, so its size only changes allocator costs, which at 640x480
//! swamp the comparison with glibc's mmap threshold effects: 64x48 here), are ingested into a fresh memory twice per round: without captioning (the baseline:
//! the image is dropped after ingest) and with a captioner that takes 100 ms per image behind
//! the perception queue (`perception::worker`, drop-oldest, 4 slots; the image moves into the
//! queue). Prints both throughputs and their ratio (target >= 0.95), the median of 3 rounds, and
//! what the queue dropped. No timed assertion: the figure is printed.

use std::time::{Duration, Instant};

use mnemo::core::{LexicalEmbedder, Memory, Observation};
use mnemo::perception::worker::{apply_result, FixedDelayCaptioner, KeyframeJob, PerceptionWorker};
use mnemo::ros::pipeline::ColorImage;
use mnemo::sim::{memory_config, simulate, SimConfig};

/// Ingests `observations` with their images; returns keyframes per second and queue drops.
fn run(observations: &[Observation], captioner: Option<Duration>) -> (f64, u64) {
    let mut memory = Memory::new(memory_config(), Box::new(LexicalEmbedder::default()))
        .unwrap_or_else(|e| {
            eprintln!("memory: {e}");
            std::process::exit(1)
        });
    let mut images: Vec<ColorImage> = observations
        .iter()
        .map(|o| ColorImage {
            stamp_ns: o.stamp_ns,
            width_px: 64,
            height_px: 48,
            rgb: vec![128; 64 * 48 * 3],
        })
        .collect();
    let worker =
        captioner.map(|delay| PerceptionWorker::spawn(Box::new(FixedDelayCaptioner { delay }), 4));
    let t = Instant::now();
    for (o, image) in observations.iter().zip(images.drain(..)) {
        let _ = memory.ingest(o);
        if let Some(w) = &worker {
            w.submit(KeyframeJob {
                stamp_ns: o.stamp_ns,
                world_from_body: o.world_from_body,
                image,
                view: None,
            });
            for r in w.drain() {
                let _ = apply_result(&mut memory, r);
            }
        }
    }
    let rate = observations.len() as f64 / t.elapsed().as_secs_f64();
    (rate, worker.map_or(0, |w| w.dropped()))
}

fn main() {
    let cfg = SimConfig {
        days: 3,
        ..SimConfig::default()
    };
    let mut observations = Vec::new();
    if let Err(e) = simulate(&cfg, |o| observations.push(o.clone())) {
        eprintln!("simulate: {e}");
        std::process::exit(1);
    }
    let mut ratios = Vec::new();
    for round in 0..3 {
        let (base, _) = run(&observations, None);
        let (slow, dropped) = run(&observations, Some(Duration::from_millis(100)));
        ratios.push(slow / base);
        println!(
            "round {round}: {} keyframes; no captioner {base:.0} kf/s, 100 ms captioner {slow:.0} kf/s \
             (ratio {:.3}), {dropped} keyframes dropped from the queue",
            observations.len(),
            slow / base
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "ingest throughput with a 100 ms captioner / without: {:.3} (median of 3; target >= 0.95)",
        ratios[1]
    );
}
