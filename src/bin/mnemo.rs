//! `mnemo`: the command-line tool. Evaluates the memory on simulated worlds, benchmarks it, and
//! shows a small demo of its answers. Thin: argument parsing and printing only.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use mnemo::bench::{run_bench, BenchConfig};
use mnemo::core::query::{Answer, Query, Target};
use mnemo::core::time::{ns_to_secs, TimeWindow};
use mnemo::sim::scenario::SIM_EPOCH_NS;
use mnemo::sim::{memory_config, run_eval, SimConfig};

#[derive(Parser)]
#[command(name = "mnemo", version, about = "Spatio-temporal memory for robots")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a household, build a memory from it and score its answers against ground truth.
    Eval {
        #[command(flatten)]
        sim: SimArgs,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Also list, per patrol gap, the true changes and the changes the memory reported.
        #[arg(long)]
        explain: bool,
    },
    /// Simulate a household and show the memory answering a few everyday questions.
    Demo {
        #[command(flatten)]
        sim: SimArgs,
    },
    /// Measure ingest rate and query latency at scale against a linear scan and SQLite's R*Tree.
    Bench {
        /// Objects in the memory.
        #[arg(long, default_value_t = 1_000_000)]
        objects: usize,
        /// Events in the memory (one sighting visit each).
        #[arg(long, default_value_t = 10_000_000)]
        events: usize,
        /// Queries timed per kind.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The simulation knobs, all optional, defaults from [`SimConfig::default`].
#[derive(Args)]
struct SimArgs {
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated days.
    #[arg(long)]
    days: Option<u32>,
    /// Rooms.
    #[arg(long)]
    rooms: Option<usize>,
    /// Small objects at the start.
    #[arg(long)]
    objects: Option<usize>,
    /// Probability that a visible object is detected in a keyframe.
    #[arg(long)]
    detection_recall: Option<f64>,
    /// Mean false detections per keyframe.
    #[arg(long)]
    false_positive_rate: Option<f64>,
    /// Base position noise (1 sigma per axis), m; 1% of depth is added.
    #[arg(long)]
    position_noise_m: Option<f64>,
    /// Fraction of small objects moved per day.
    #[arg(long)]
    move_rate: Option<f64>,
    /// Fraction of small objects removed per day.
    #[arg(long)]
    remove_rate: Option<f64>,
    /// New objects per day, as a fraction of --objects.
    #[arg(long)]
    add_rate: Option<f64>,
    /// Probability of a look-alike label (cup/mug, book/notebook).
    #[arg(long)]
    confusion_rate: Option<f64>,
    /// Patrols per day.
    #[arg(long)]
    patrols_per_day: Option<u32>,
}

impl SimArgs {
    fn config(&self) -> SimConfig {
        let d = SimConfig::default();
        SimConfig {
            seed: self.seed,
            days: self.days.unwrap_or(d.days),
            rooms: self.rooms.unwrap_or(d.rooms),
            objects: self.objects.unwrap_or(d.objects),
            detection_recall: self.detection_recall.unwrap_or(d.detection_recall),
            false_positive_rate: self.false_positive_rate.unwrap_or(d.false_positive_rate),
            position_noise_m: self.position_noise_m.unwrap_or(d.position_noise_m),
            move_rate: self.move_rate.unwrap_or(d.move_rate),
            remove_rate: self.remove_rate.unwrap_or(d.remove_rate),
            add_rate: self.add_rate.unwrap_or(d.add_rate),
            confusion_rate: self.confusion_rate.unwrap_or(d.confusion_rate),
            patrols_per_day: self.patrols_per_day.unwrap_or(d.patrols_per_day),
            ..d
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Eval { sim, json, explain } => eval(&sim.config(), json, explain),
        Command::Demo { sim } => demo(&sim.config()),
        Command::Bench {
            objects,
            events,
            queries,
            seed,
            json,
        } => {
            let report = run_bench(&BenchConfig {
                objects,
                events,
                queries,
                seed,
            })
            .context("benchmark failed")?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
    }
}

fn eval(sim: &SimConfig, json: bool, explain: bool) -> Result<()> {
    let run = run_eval(sim, memory_config()).context("evaluation failed")?;
    let r = &run.report;
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "mnemo eval: seed {}, {} days, {} rooms, {} objects, {} keyframes",
        sim.seed, sim.days, sim.rooms, sim.objects, run.truth.keyframes
    );
    println!("  questions                 {}", r.questions);
    println!(
        "  where median error        {:.3} m",
        r.where_median_error_m
    );
    println!("  where p90 error           {:.3} m", r.where_p90_error_m);
    println!("  where found rate          {:.3}", r.where_found_rate);
    println!(
        "  last seen median error    {:.2} s (keyframe period {:.2} s)",
        r.last_seen_median_error_s, sim.keyframe_period_s
    );
    println!(
        "  change precision/recall   {:.3} / {:.3} (F1 {:.3})",
        r.change_precision, r.change_recall, r.change_f1
    );
    println!(
        "  near precision/recall     {:.3} / {:.3}",
        r.near_precision, r.near_recall
    );
    println!(
        "  objects in world/memory   {} / {}",
        r.objects_in_world, r.objects_in_memory
    );
    let s = run.memory.stats();
    println!(
        "  ingest: {} detections, {} objects created, {} false positives dropped, {} duplicates merged, {} re-identified",
        s.detections, s.objects_created, s.false_positives_dropped, s.duplicates_merged, s.reidentified
    );
    if explain {
        for line in mnemo::sim::qa::explain_changes(&run.memory, &run.questions) {
            println!("{line}");
        }
    }
    Ok(())
}

fn clock(ns: i64) -> String {
    let s = ns_to_secs(ns - SIM_EPOCH_NS);
    let day = (s / 86_400.0).floor();
    let rem = s - day * 86_400.0;
    format!(
        "day {} {:02}:{:02}:{:02}",
        day as i64 + 1,
        (rem / 3600.0) as i64,
        ((rem % 3600.0) / 60.0) as i64,
        (rem % 60.0) as i64
    )
}

fn demo(sim: &SimConfig) -> Result<()> {
    let run = run_eval(sim, memory_config()).context("simulation failed")?;
    let m = &run.memory;
    println!(
        "Simulated {} days in {} rooms: {} keyframes, {} objects and {} events in memory.\n",
        sim.days,
        sim.rooms,
        run.truth.keyframes,
        m.present_object_count(),
        m.log().len()
    );
    println!("> where is the mug?");
    if let Answer::Objects(hits) = m.query(&Query::Where {
        target: Target::Label("mug".into()),
        k: 3,
        at_ns: None,
    })? {
        for h in hits {
            let p = h.position_world;
            println!(
                "  mug #{} at ({:.2}, {:.2}, {:.2}) m, {}, last seen {}",
                h.id,
                p[0],
                p[1],
                p[2],
                h.state.as_str(),
                clock(h.last_seen_ns)
            );
        }
    }
    println!("> when did I last see the keys?");
    if let Answer::Timeline(entries) = m.query(&Query::When {
        target: Target::Label("keys".into()),
        window: TimeWindow::all(),
    })? {
        match entries
            .iter()
            .filter(|e| e.kind == mnemo::core::EventKind::Visit)
            .max_by_key(|e| e.end_ns)
        {
            Some(e) => println!("  {} (keys #{})", clock(e.end_ns), e.object_id),
            None => println!("  never"),
        }
    }
    println!("> what changed during the last patrol?");
    if let (Some(a), Some(b)) = (
        run.truth.patrols.iter().rev().nth(1),
        run.truth.patrols.last(),
    ) {
        if let Answer::Changes(changes) = m.query(&Query::Changes {
            window: TimeWindow::new(a.end_ns + 1, b.end_ns)?,
        })? {
            for c in changes.iter().take(8) {
                match c.to_world {
                    Some(to) => println!(
                        "  {} #{} moved ({:.1}, {:.1}) -> ({:.1}, {:.1})",
                        c.label, c.object_id, c.from_world[0], c.from_world[1], to[0], to[1]
                    ),
                    None => println!(
                        "  {} #{} {} at ({:.1}, {:.1})",
                        c.label,
                        c.object_id,
                        c.kind.as_str(),
                        c.from_world[0],
                        c.from_world[1]
                    ),
                }
            }
        }
    }
    println!("> what was near the first table during the first patrol?");
    if let (Some(f), Some(p)) = (
        run.truth
            .layout
            .furniture
            .iter()
            .find(|f| f.kind.label() == "table"),
        run.truth.patrols.first(),
    ) {
        let point = nalgebra::Point3::new(f.center.x, f.center.y, f.center.z + f.extent.z / 2.0);
        if let Answer::Objects(hits) = m.query(&Query::Near {
            point_world: point,
            radius_m: 1.0,
            window: TimeWindow::new(p.start_ns, p.end_ns)?,
            label: None,
            k: 10,
        })? {
            let names: Vec<String> = hits
                .iter()
                .map(|h| format!("{} ({:.2} m)", h.label, h.distance_m.unwrap_or(0.0)))
                .collect();
            println!("  {}", names.join(", "));
        }
    }
    println!("> recall: \"mug in the kitchen\"");
    if let Answer::Episodes(eps) = m.query(&Query::Recall {
        window: TimeWindow::all(),
        text: Some("mug in the kitchen".into()),
        k: 3,
    })? {
        for e in eps {
            println!(
                "  {}: \"{}\" (score {:.2})",
                clock(e.stamp_ns),
                e.caption,
                e.score
            );
        }
    }
    println!(
        "\nScores against ground truth: `mnemo eval --seed {}`.",
        sim.seed
    );
    Ok(())
}
