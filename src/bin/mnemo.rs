//! `mnemo`: the command-line tool. Evaluates the memory on simulated worlds, benchmarks it,
//! shows a small demo, answers queries from a database, inspects and prunes databases, and runs
//! the crash test. Thin: argument parsing and printing only.

// No unwrap()/expect() outside tests: input never reaches a panic (bad input is a typed error).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use mnemo::bench::{run_bench, BenchConfig};
use mnemo::core::embed::LexicalEmbedder;
use mnemo::core::ids::ObjectId;
use mnemo::core::memory::{ColdEvents, Forget};
use mnemo::core::query::{Answer, Query, Target};
use mnemo::core::time::{ns_to_secs, TimeWindow};
use mnemo::sim::scenario::SIM_EPOCH_NS;
use mnemo::sim::{memory_config, run_eval, SimConfig};
use mnemo::store::{
    crashtest, default_db_path, CommitPolicy, HotEvents, OpenMode, PersistentMemory,
    RetentionConfig, Store, StoreError,
};

/// `print!` that ends the program quietly when stdout is a closed pipe (`mnemo ... | head`)
/// instead of panicking, as Rust's `print!` does (it ignores SIGPIPE).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), $($arg)*) {
            stdout_failed(err)
        }
    }};
}

/// `println!`, the same way as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = writeln!(std::io::stdout(), $($arg)*) {
            stdout_failed(err)
        }
    }};
}

/// A write to stdout failed: a reader that went away (a closed pipe) ends the program
/// successfully, as with any Unix filter; anything else is reported and fails it.
fn stdout_failed(err: std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to stdout: {err}");
    std::process::exit(1);
}

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
        /// Write the memory into this database (created if needed) and print, per simulated
        /// day, events in RAM, peak RSS and database size.
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Measure persistence: sustained write through group commit (vs one commit per event) and
    /// reopen time and RSS of the resulting database in a fresh process.
    BenchStore {
        /// Objects in the memory.
        #[arg(long, default_value_t = 1_000_000)]
        objects: usize,
        /// Events (one sighting visit each).
        #[arg(long, default_value_t = 10_000_000)]
        events: usize,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The database to write (a new file; see --overwrite).
        #[arg(long)]
        db: PathBuf,
        /// Replace the file at --db if it is a Mnemo database (any other file is never
        /// replaced).
        #[arg(long)]
        overwrite: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Answer a query from a database (opened read-only: works while a node writes it).
    Query {
        #[command(subcommand)]
        query: QueryCmd,
        /// The database [default: $ROS_HOME/mnemo/memory.db, else ~/.ros/mnemo/memory.db].
        #[arg(long, global = true)]
        db: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        /// Text matching: lexical (word overlap), minilm (sentence embeddings from models/,
        /// ONNX Runtime from ORT_DYLIB_PATH) or minilm=DIR.
        #[arg(long, global = true, default_value = "lexical")]
        embedder: String,
    },
    /// Print a database's schema version, counts, time span and file size.
    Inspect {
        /// The database [default: $ROS_HOME/mnemo/memory.db, else ~/.ros/mnemo/memory.db].
        #[arg(long)]
        db: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also time a full load (as a restarting node does) and report peak RSS.
        #[arg(long)]
        load_timing: bool,
        /// With --load-timing: first drop the database file from the OS page cache, so the load
        /// reads it from the disk as after a reboot (Linux).
        #[arg(long, requires = "load_timing")]
        cold: bool,
        /// Also run SQLite's integrity check.
        #[arg(long)]
        check: bool,
        /// Also load the memory and print its digest (equal digests = identical memories).
        #[arg(long)]
        digest: bool,
    },
    /// Bring a database written by an older Mnemo to this version's schema (a writer, such as
    /// the node, does it on open; readers such as `query` and `inspect` ask for it first).
    Migrate {
        /// The database [default: $ROS_HOME/mnemo/memory.db, else ~/.ros/mnemo/memory.db].
        #[arg(long)]
        db: Option<PathBuf>,
        /// Print JSON (`path`, `from_version`, `to_version`, `migrated`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Erase objects, events and captions from a database (and their bytes from the file).
    Forget {
        /// The database [default: $ROS_HOME/mnemo/memory.db, else ~/.ros/mnemo/memory.db].
        #[arg(long)]
        db: Option<PathBuf>,
        /// Object ids (repeatable).
        #[arg(long = "object")]
        objects: Vec<u32>,
        /// Every object with this label.
        #[arg(long)]
        label: Option<String>,
        /// Everything within a sphere: X,Y,Z,RADIUS in m, map frame.
        #[arg(long, value_delimiter = ',', num_args = 4, allow_hyphen_values = true)]
        region: Option<Vec<f64>>,
        /// Everything recorded from this stamp (ns; with --to-ns).
        #[arg(long, requires = "to_ns")]
        from_ns: Option<i64>,
        /// ... to this stamp (ns, inclusive).
        #[arg(long, requires = "from_ns")]
        to_ns: Option<i64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Kill a writer with SIGKILL at random moments and check what survives.
    Crashtest {
        /// Kill-and-reopen rounds.
        #[arg(long, default_value_t = 100)]
        trials: u64,
        /// Seed of the world and the kill moments.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory for the scratch databases [default: a temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Use a writer that acknowledges before committing: the test must report losses.
        #[arg(long, hide = true)]
        lying_child: bool,
    },
    /// The writer the crash test kills (internal).
    #[command(hide = true)]
    CrashtestChild {
        /// The database.
        #[arg(long)]
        db: PathBuf,
        /// Seed of the world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Acknowledge before committing (to check that the crash test catches it).
        #[arg(long)]
        lie: bool,
    },
    /// Replay a rosbag2 MCAP bag (file or bag directory) through the node's ingest pipeline.
    Replay {
        /// The bag: an .mcap file or a rosbag2 directory holding one.
        bag: PathBuf,
        /// Write the memory to this database (otherwise it lives in RAM for this run).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Read bag topic FROM as TO (repeatable), e.g. --remap /robot/odom:=/odom.
        #[arg(long, value_name = "FROM:=TO")]
        remap: Vec<String>,
        /// Configure the replay as the node: a ROS 2 params file (what `--ros-args
        /// --params-file` takes, e.g. launch/params/mnemo.yaml), read for the node --node-name.
        /// Used: frames, topics, camera depth range, keyframe policy, TF and sync, appearance,
        /// association and change-detection knobs, store retention (with --db), embedder,
        /// perception providers and the keyframe models. Not used: db_path, rerun, QoS,
        /// lifecycle, DDS and commit settings. Flags given here win over the file.
        #[arg(long, value_name = "FILE")]
        params_file: Option<PathBuf>,
        /// The node whose sections of --params-file apply: a name (mnemo) or a fully
        /// qualified name (/robot1/mnemo).
        #[arg(
            long,
            value_name = "NAME",
            default_value = "mnemo",
            requires = "params_file"
        )]
        node_name: String,
        /// Set one of the node's parameters, over --params-file (repeatable), as the node's
        /// `-p NAME:=VALUE`: e.g. -p changes.missing_after_views:=2.
        #[arg(short = 'p', long = "param", value_name = "NAME:=VALUE")]
        params: Vec<String>,
        /// Visualise in Rerun: save[=FILE.rrd] (default rerun-recordings/<bag>.rrd),
        /// connect[=HOST:PORT|URL] (a running viewer), spawn (start one), or off.
        #[arg(
            long,
            value_name = "save=FILE.rrd|connect=ADDR|spawn",
            default_value = "off"
        )]
        rerun: String,
        #[command(flatten)]
        flags: ReplayFlags,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a simulated world's keyframes as JSON lines (input of tests/interop/sim_to_bag.py).
    ExportSim {
        #[command(flatten)]
        sim: SimArgs,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
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

/// A query against a database.
#[derive(Subcommand)]
enum QueryCmd {
    /// Where is it now (or at --at-ns)?
    Where {
        /// What to look for (matched against labels and read text).
        text: String,
        /// Match the label exactly instead of by text similarity.
        #[arg(long)]
        label: bool,
        /// Most objects.
        #[arg(long, default_value_t = 5)]
        k: usize,
        /// As known at this stamp, ns.
        #[arg(long)]
        at_ns: Option<i64>,
    },
    /// When was it seen, and what happened to it?
    When {
        /// What to look for.
        text: String,
        /// Match the label exactly.
        #[arg(long)]
        label: bool,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// What stood within a radius of a point during a window?
    Near {
        /// Centre x, map frame, m.
        #[arg(long, allow_hyphen_values = true)]
        x: f64,
        /// Centre y, m.
        #[arg(long, allow_hyphen_values = true)]
        y: f64,
        /// Centre z, m.
        #[arg(long, allow_hyphen_values = true, default_value_t = 0.0)]
        z: f64,
        /// Radius, m.
        #[arg(long, default_value_t = 1.0)]
        radius: f64,
        /// Only this label.
        #[arg(long)]
        label: Option<String>,
        /// Most objects.
        #[arg(long, default_value_t = 20)]
        k: usize,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// Which keyframe captions, ranked by a text?
    Recall {
        /// Text to rank by (chronological without).
        text: Option<String>,
        /// Most episodes.
        #[arg(long, default_value_t = 5)]
        k: usize,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// What moved, went missing or reappeared during a window (one net change per object; a
    /// move counts where the object was first seen at its new place)?
    Changes {
        /// Only objects with this label.
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// The scene graph (objects and relations) as known at a stamp [default: latest].
    Graph {
        /// The stamp, ns.
        #[arg(long)]
        at_ns: Option<i64>,
    },
}

/// A time window in ns; open ends reach the start or end of time.
#[derive(Args)]
struct WindowArgs {
    /// From this stamp, ns.
    #[arg(long)]
    from_ns: Option<i64>,
    /// To this stamp (inclusive), ns.
    #[arg(long)]
    to_ns: Option<i64>,
}

impl WindowArgs {
    fn window(&self) -> Result<TimeWindow> {
        Ok(TimeWindow::new(
            self.from_ns.unwrap_or(i64::MIN),
            self.to_ns.unwrap_or(i64::MAX),
        )?)
    }
}

/// Retention of a persistent run.
#[derive(Args)]
struct RetentionArgs {
    /// Events of the last this many hours stay in RAM.
    #[arg(long, default_value_t = 24.0)]
    hot_window_hours: f64,
    /// Visits older than this many days become one summary per object and day (0: never).
    #[arg(long, default_value_t = 1.0)]
    consolidate_after_days: f64,
    /// Events and captions older than this many days are deleted (0: never).
    #[arg(long, default_value_t = 14.0)]
    max_age_days: f64,
}

impl RetentionArgs {
    fn config(&self) -> RetentionConfig {
        let opt = |days: f64| (days > 0.0).then_some(days * 86_400.0);
        RetentionConfig {
            hot_window_s: self.hot_window_hours * 3600.0,
            consolidate_after_s: opt(self.consolidate_after_days),
            max_age_s: opt(self.max_age_days),
            ..RetentionConfig::default()
        }
    }
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
    /// Detections without appearance embeddings (what a bag's vision_msgs detections carry).
    #[arg(long)]
    no_appearance: bool,
    /// Share of detections whose appearance embedding is unrelated to the object (an image
    /// region mostly covered by a nearer object, say) [default: 0].
    #[arg(long)]
    appearance_outlier_rate: Option<f64>,
    /// Size of the depth image sent with each keyframe (used for occlusion checks), WxH
    /// [default: 64x48].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    depth_size: Option<(u32, u32)>,
}

/// `WxH` in pixels, e.g. `160x120`.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?}: expected WxH, e.g. 160x120");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    Ok((w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?))
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
            appearance: !self.no_appearance,
            appearance_outlier_rate: self
                .appearance_outlier_rate
                .unwrap_or(d.appearance_outlier_rate),
            depth_width_px: self.depth_size.map_or(d.depth_width_px, |s| s.0),
            depth_height_px: self.depth_size.map_or(d.depth_height_px, |s| s.1),
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
        Command::Eval {
            sim,
            json,
            explain,
            db: Some(db),
            retention,
        } => eval_persistent(&sim.config(), json, explain, &db, &retention.config()),
        Command::Eval {
            sim, json, explain, ..
        } => eval(&sim.config(), json, explain),
        Command::BenchStore {
            objects,
            events,
            seed,
            db,
            overwrite,
            json,
        } => {
            may_replace(&db, overwrite)?;
            let r = mnemo::bench::store::run_store_bench(
                &BenchConfig {
                    objects,
                    events,
                    queries: 0,
                    seed,
                },
                &db,
                &std::env::current_exe()?,
            )
            .context("store benchmark failed")?;
            if json {
                outln!("{}", serde_json::to_string(&r)?);
            } else {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            }
            Ok(())
        }
        Command::Query {
            query,
            db,
            json,
            embedder,
        } => query_db(
            &db.unwrap_or_else(default_db_path),
            &query,
            json,
            embedder_of(&embedder)?,
        ),
        Command::Inspect {
            db,
            json,
            load_timing,
            cold,
            check,
            digest,
        } => inspect(
            &db.unwrap_or_else(default_db_path),
            json,
            load_timing || digest,
            cold,
            check,
        ),
        Command::Migrate { db, json } => migrate(&db.unwrap_or_else(default_db_path), json),
        Command::Replay {
            bag,
            db,
            remap,
            params_file,
            node_name,
            params,
            rerun,
            flags,
            json,
        } => {
            let node = replay_node_config(params_file.as_deref(), &node_name, &params)?;
            let setup = ReplaySetup::new(&node, flags, &remap)?;
            replay_cmd(
                &bag,
                db.as_deref(),
                ReplayOpts {
                    rerun: &rerun,
                    json,
                    params_file: params_file.as_deref(),
                    setup,
                },
            )
        }
        Command::ExportSim { sim, out } => export_sim(&sim.config(), &out),
        Command::Forget {
            db,
            objects,
            label,
            region,
            from_ns,
            to_ns,
            json,
        } => {
            let mut selectors = Vec::new();
            if !objects.is_empty() {
                selectors.push(Forget::Objects(objects.into_iter().map(ObjectId).collect()));
            }
            if let Some(l) = label {
                selectors.push(Forget::Label(l));
            }
            if let Some(r) = region {
                selectors.push(Forget::Region {
                    center_world: nalgebra::Point3::new(r[0], r[1], r[2]),
                    radius_m: r[3],
                });
            }
            if let (Some(a), Some(b)) = (from_ns, to_ns) {
                selectors.push(Forget::Window(TimeWindow::new(a, b)?));
            }
            anyhow::ensure!(
                !selectors.is_empty(),
                "say what to forget: --object, --label, --region or --from-ns/--to-ns"
            );
            forget(&db.unwrap_or_else(default_db_path), &selectors, json)
        }
        Command::Crashtest {
            trials,
            seed,
            dir,
            json,
            lying_child,
        } => {
            let tmp;
            let dir = match dir {
                Some(d) => d,
                None => {
                    tmp = tempdir()?;
                    tmp.clone()
                }
            };
            let report = crashtest::run_trials(&crashtest::CrashConfig {
                trials,
                seed,
                exe: std::env::current_exe()?,
                dir: dir.clone(),
                lying_child,
            })
            .map_err(anyhow::Error::msg)?;
            let _ = std::fs::remove_dir_all(&dir);
            if json {
                outln!("{}", serde_json::to_string(&report)?);
            } else {
                outln!(
                    "crashtest: {} trials ({} killed mid-stream, {} acknowledgements), {} acknowledged events lost, {} corruptions, mean reopen {:.1} ms",
                    report.trials, report.killed_mid_stream, report.acknowledgements,
                    report.acknowledged_lost, report.corruptions, report.mean_reopen_ms
                );
                for p in &report.problems {
                    outln!("  {p}");
                }
            }
            anyhow::ensure!(
                report.acknowledged_lost == 0 && report.corruptions == 0,
                "the crash test found lost or corrupted data"
            );
            Ok(())
        }
        Command::CrashtestChild { db, seed, lie } => {
            crashtest::run_child(&db, seed, lie).map_err(anyhow::Error::msg)
        }
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
                outln!("{}", serde_json::to_string(&report)?);
            } else {
                out!("{}", report.table());
            }
            Ok(())
        }
    }
}

fn eval(sim: &SimConfig, json: bool, explain: bool) -> Result<()> {
    let run = run_eval(sim, memory_config()).context("evaluation failed")?;
    let r = &run.report;
    if json {
        outln!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let placed = run.truth.small_objects_at_start();
    let objects = if placed < sim.objects {
        format!(
            "{placed} objects ({} asked for; the furniture tops hold no more)",
            sim.objects
        )
    } else {
        format!("{placed} objects")
    };
    outln!(
        "mnemo eval: seed {}, {} days, {} rooms, {objects}, {} keyframes",
        sim.seed,
        sim.days,
        sim.rooms,
        run.truth.keyframes
    );
    outln!("  questions                 {}", r.questions);
    outln!(
        "  where median error        {:.3} m",
        r.where_median_error_m
    );
    outln!("  where p90 error           {:.3} m", r.where_p90_error_m);
    outln!("  where found rate          {:.3}", r.where_found_rate);
    outln!(
        "  last seen median error    {:.2} s (keyframe period {:.2} s)",
        r.last_seen_median_error_s,
        sim.keyframe_period_s
    );
    outln!(
        "  change precision/recall   {:.3} / {:.3} (F1 {:.3})",
        r.change_precision,
        r.change_recall,
        r.change_f1
    );
    outln!(
        "  near precision/recall     {:.3} / {:.3}",
        r.near_precision,
        r.near_recall
    );
    outln!(
        "  objects in world/memory   {} / {}",
        r.objects_in_world,
        r.objects_in_memory
    );
    let s = run.memory.stats();
    outln!(
        "  ingest: {} detections, {} objects created, {} false positives dropped, {} duplicates merged, {} re-identified, {} links retracted, {} handed on",
        s.detections, s.objects_created, s.false_positives_dropped, s.duplicates_merged, s.reidentified, s.links_retracted, s.links_handed_on
    );
    if explain {
        for line in mnemo::sim::qa::explain_changes(&run.memory, None, &run.questions) {
            outln!("{line}");
        }
    }
    Ok(())
}

/// A fresh scratch directory under the system's temporary directory.
fn tempdir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let d = base.join(format!("mnemo-crashtest-{}-{i}", std::process::id()));
        if std::fs::create_dir(&d).is_ok() {
            return Ok(d);
        }
    }
    anyhow::bail!("cannot create a directory under {}", base.display())
}

fn file_mib(path: &Path) -> f64 {
    mnemo::store::db_bytes(path) as f64 / (1024.0 * 1024.0)
}

fn eval_persistent(
    sim: &SimConfig,
    json: bool,
    explain: bool,
    db: &Path,
    retention: &RetentionConfig,
) -> Result<()> {
    // The questions are about this run's world only: added to another memory they would be
    // scored against objects the simulation never placed.
    if db.exists() {
        let holds_memory = match Store::open(db, OpenMode::ReadOnly) {
            Ok(store) => !store.is_empty()?,
            Err(StoreError::NeedsMigration { .. }) => true,
            Err(e) => return Err(e.into()),
        };
        anyhow::ensure!(
            !holds_memory,
            "{} already holds a memory; `mnemo eval --db` writes the memory of a new simulated \
             world: give a new path (or remove the file)",
            db.display()
        );
    }
    let mut pm = PersistentMemory::open(
        db,
        Some(memory_config()),
        Box::new(LexicalEmbedder::default()),
        CommitPolicy::default(),
        *retention,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    let header = "  day  events_in_ram  events_on_disk  peak_rss_mib  rss_mib  db_mib";
    if json {
        eprintln!("{header}");
    } else {
        outln!("mnemo eval --db {}: per simulated day", db.display());
        outln!("{header}");
    }
    let run = mnemo::sim::run_eval_persistent(sim, &mut pm, |day, pm| {
        let on_disk = pm
            .store()
            .and_then(|s| s.inspect().ok())
            .map_or(0, |i| i.events);
        let (peak, now) = mnemo::bench::rss_mib().unwrap_or((f64::NAN, f64::NAN));
        let line = format!(
            "  {:>3}  {:>13}  {:>14}  {:>12.1}  {:>7.1}  {:>6.2}",
            day + 1,
            pm.memory().log().len(),
            on_disk,
            peak,
            now,
            file_mib(db)
        );
        if json {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
    })
    .context("evaluation failed")?;
    let status = pm.status();
    if let Some(d) = &status.degraded {
        eprintln!("warning: the database is degraded: {d}");
    }
    let r = &run.report;
    if json {
        outln!("{}", serde_json::to_string(r)?);
    } else {
        outln!(
            "  where median {:.3} m, found {:.3}, change F1 {:.3}, near recall {:.3}; {} commits, {} events acknowledged",
            r.where_median_error_m, r.where_found_rate, r.change_f1, r.near_recall,
            status.commits, status.acknowledged_events
        );
    }
    if explain && !json {
        let cold = pm.store().map(|s| s as &dyn ColdEvents);
        for line in mnemo::sim::qa::explain_changes(pm.memory(), cold, &run.questions) {
            outln!("{line}");
        }
    }
    pm.close().context("final commit")?;
    Ok(())
}

/// The embedder `--embedder SPEC` names (ONNX Runtime from `ORT_DYLIB_PATH`).
fn embedder_of(spec: &str) -> Result<Box<dyn mnemo::core::Embedder>> {
    use mnemo::perception::{EmbedderChoice, RuntimeConfig};
    let choice: EmbedderChoice = spec
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--embedder {e}"))?;
    Ok(choice.open(&RuntimeConfig::default())?)
}

/// Opens a database read-only and loads its memory with every event left on disk.
fn open_read_only(
    db: &Path,
    embedder: Box<dyn mnemo::core::Embedder>,
) -> Result<(Store, mnemo::core::memory::Memory)> {
    let store = Store::open(db, OpenMode::ReadOnly)?;
    let memory = store.load(None, embedder, HotEvents::None)?;
    Ok((store, memory))
}

fn query_db(
    db: &Path,
    cmd: &QueryCmd,
    json: bool,
    embedder: Box<dyn mnemo::core::Embedder>,
) -> Result<()> {
    let (store, memory) = open_read_only(db, embedder)?;
    let target = |text: &String, label: bool| {
        if label {
            Target::Label(text.clone())
        } else {
            Target::Text(text.clone())
        }
    };
    let query = match cmd {
        QueryCmd::Where {
            text,
            label,
            k,
            at_ns,
        } => Query::Where {
            target: target(text, *label),
            k: *k,
            at_ns: *at_ns,
        },
        QueryCmd::When {
            text,
            label,
            window,
        } => Query::When {
            target: target(text, *label),
            window: window.window()?,
        },
        QueryCmd::Near {
            x,
            y,
            z,
            radius,
            label,
            k,
            window,
        } => Query::Near {
            point_world: nalgebra::Point3::new(*x, *y, *z),
            radius_m: *radius,
            window: window.window()?,
            label: label.clone(),
            k: *k,
        },
        QueryCmd::Recall { text, k, window } => Query::Recall {
            window: window.window()?,
            text: text.clone(),
            k: *k,
        },
        QueryCmd::Changes { window, label } => Query::Changes {
            window: window.window()?,
            label: label.clone(),
        },
        QueryCmd::Graph { at_ns } => Query::SceneGraphAt {
            stamp_ns: at_ns.or(memory.latest_stamp_ns()).unwrap_or(0),
        },
    };
    let answer = memory.query_with(&query, Some(&store as &dyn ColdEvents))?;
    print_answer(&answer, json)
}

fn print_answer(answer: &Answer, json: bool) -> Result<()> {
    use serde_json::json;
    let pos = |p: [f64; 3]| json!([p[0], p[1], p[2]]);
    match answer {
        Answer::Objects(hits) => {
            if json {
                let v: Vec<_> = hits
                    .iter()
                    .map(|h| {
                        json!({
                            "id": h.id.0,
                            "label": h.label,
                            "position": pos(h.position_world),
                            "frame": "map",
                            "first_seen_ns": h.first_seen_ns,
                            "last_seen_ns": h.last_seen_ns,
                            "state": h.state.as_str(),
                            "place": h.place.0,
                            "score": h.score,
                            "distance_m": h.distance_m,
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string(&v)?);
            } else if hits.is_empty() {
                outln!("nothing found");
            } else {
                for h in hits {
                    let p = h.position_world;
                    outln!(
                        "#{} {} at ({:.2}, {:.2}, {:.2}) m [map], {}, last seen {} ns, score {:.2}",
                        h.id,
                        h.label,
                        p[0],
                        p[1],
                        p[2],
                        h.state.as_str(),
                        h.last_seen_ns,
                        h.score
                    );
                }
            }
        }
        Answer::Timeline(entries) => {
            if json {
                let v: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        json!({
                            "kind": e.kind.as_str(),
                            "start_ns": e.start_ns,
                            "end_ns": e.end_ns,
                            "object_id": e.object_id.0,
                            "label": e.label,
                            "position": pos(e.position_world),
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string(&v)?);
            } else if entries.is_empty() {
                outln!("never");
            } else {
                for e in entries {
                    let p = e.position_world;
                    outln!(
                        "{} {} #{} {}..{} ns at ({:.2}, {:.2}, {:.2})",
                        e.kind.as_str(),
                        e.label,
                        e.object_id,
                        e.start_ns,
                        e.end_ns,
                        p[0],
                        p[1],
                        p[2]
                    );
                }
            }
        }
        Answer::Episodes(eps) => {
            if json {
                outln!("{}", serde_json::to_string(eps)?);
            } else {
                for e in eps {
                    outln!(
                        "{} ns: \"{}\" (score {:.2})",
                        e.stamp_ns,
                        e.caption,
                        e.score
                    );
                }
            }
        }
        Answer::SceneGraph(g) => {
            if json {
                outln!("{}", serde_json::to_string(g)?);
            } else {
                outln!(
                    "scene graph at {} ns: {} objects, {} relations",
                    g.stamp_ns,
                    g.objects.len(),
                    g.relations.len()
                );
                for r in &g.relations {
                    outln!("  #{} {} #{}", r.subject, r.kind.as_str(), r.object);
                }
            }
        }
        Answer::Changes(changes) => {
            if json {
                let v: Vec<_> = changes
                    .iter()
                    .map(|c| {
                        json!({
                            "kind": c.kind.as_str(),
                            "stamp_ns": c.stamp_ns,
                            "event_id": c.event_id.0,
                            "object_id": c.object_id.0,
                            "label": c.label,
                            "from": pos(c.from_world),
                            "to": c.to_world.map(pos),
                            "frame": "map",
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string(&v)?);
            } else if changes.is_empty() {
                outln!("no changes");
            } else {
                for c in changes {
                    let p = c.from_world;
                    let to = c.to_world.map_or(String::new(), |t| {
                        format!(" -> ({:.2}, {:.2}, {:.2})", t[0], t[1], t[2])
                    });
                    outln!(
                        "{} {} #{} ({:.2}, {:.2}, {:.2}){to} m [map], recorded {} ns",
                        c.kind.as_str(),
                        c.label,
                        c.object_id,
                        p[0],
                        p[1],
                        p[2],
                        c.stamp_ns
                    );
                }
            }
        }
    }
    Ok(())
}

fn inspect(db: &Path, json: bool, load_timing: bool, cold: bool, check: bool) -> Result<()> {
    let store = Store::open(db, OpenMode::ReadOnly)?;
    let info = store.inspect()?;
    let mut v = serde_json::to_value(&info)?;
    if check {
        let ok = store.integrity_check();
        v["integrity"] = serde_json::json!(match &ok {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        });
    }
    if load_timing {
        if cold {
            // Right before the timed load: the counts above read part of the file.
            mnemo::store::drop_cached_pages(db)?;
        }
        v["load_cold_cache"] = serde_json::json!(cold);
        let t0 = std::time::Instant::now();
        let m = store.load(
            None,
            Box::new(LexicalEmbedder::default()),
            HotEvents::AsSaved,
        )?;
        let load_s = t0.elapsed().as_secs_f64();
        let (peak, _) = mnemo::bench::rss_mib().unwrap_or((f64::NAN, f64::NAN));
        v["load_s"] = serde_json::json!(load_s);
        v["load_objects"] = serde_json::json!(m.objects().len());
        v["load_events_in_ram"] = serde_json::json!(m.log().len());
        v["digest"] = serde_json::json!(format!("{:016x}", m.digest()));
        v["peak_rss_mib"] = serde_json::json!(peak);
    }
    if json {
        outln!("{}", serde_json::to_string(&v)?);
    } else {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}

/// Whether a benchmark may replace the file at `db`: a new path, or a Mnemo database with
/// `overwrite` given (a robot's memory is not lost to a mistyped path, nor any other file).
fn may_replace(db: &Path, overwrite: bool) -> Result<()> {
    if !db.exists() {
        return Ok(());
    }
    match Store::open(db, OpenMode::ReadOnly) {
        Ok(_) | Err(StoreError::NeedsMigration { .. } | StoreError::NewerSchema { .. }) => {
            anyhow::ensure!(
                overwrite,
                "{} already exists; the benchmark replaces its file: pass --overwrite to replace \
                 this memory, or give a new path",
                db.display()
            );
            // A writer (a running node) holds the file's lock: its memory is not pulled away.
            let file = std::fs::File::open(db)?;
            anyhow::ensure!(
                file.try_lock().is_ok(),
                "{} is in use by a writer (a running node?); not replaced",
                db.display()
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "{} is not a Mnemo database this benchmark may replace: {e}",
            db.display()
        )),
    }
}

fn migrate(db: &Path, json: bool) -> Result<()> {
    anyhow::ensure!(db.exists(), "no memory database at {}", db.display());
    let (from, to) = Store::migrate_file(db)?;
    if json {
        let v = serde_json::json!({
            "path": db,
            "from_version": from,
            "to_version": to,
            "migrated": from != to,
        });
        outln!("{v}");
    } else if from == to {
        outln!("{}: schema version {to}, nothing to migrate", db.display());
    } else {
        outln!("{}: migrated schema version {from} -> {to}", db.display());
    }
    Ok(())
}

fn forget(db: &Path, selectors: &[Forget], json: bool) -> Result<()> {
    anyhow::ensure!(db.exists(), "no memory database at {}", db.display());
    let mut pm = PersistentMemory::open(
        db,
        None,
        Box::new(LexicalEmbedder::default()),
        CommitPolicy::default(),
        RetentionConfig::keep_everything(),
    )?;
    let mut reports = Vec::new();
    for what in selectors {
        reports.push(pm.forget(what)?);
    }
    if let Some(d) = pm.status().degraded {
        anyhow::bail!("forgotten in RAM but not on disk: {d}");
    }
    pm.close()?;
    if json {
        outln!("{}", serde_json::to_string(&reports)?);
    } else {
        for r in &reports {
            outln!(
                "forgot {} objects, {} events and {} captions held in RAM (and every matching row on disk)",
                r.objects.len(),
                r.events_erased,
                r.captions_erased.len()
            );
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
    outln!(
        "Simulated {} days in {} rooms: {} keyframes, {} objects and {} events in memory.\n",
        sim.days,
        sim.rooms,
        run.truth.keyframes,
        m.present_object_count(),
        m.log().len()
    );
    outln!("> where is the mug?");
    if let Answer::Objects(hits) = m.query(&Query::Where {
        target: Target::Label("mug".into()),
        k: 3,
        at_ns: None,
    })? {
        for h in hits {
            let p = h.position_world;
            outln!(
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
    outln!("> when did I last see the keys?");
    if let Answer::Timeline(entries) = m.query(&Query::When {
        target: Target::Label("keys".into()),
        window: TimeWindow::all(),
    })? {
        match entries
            .iter()
            .filter(|e| e.kind == mnemo::core::EventKind::Visit)
            .max_by_key(|e| e.end_ns)
        {
            Some(e) => outln!("  {} (keys #{})", clock(e.end_ns), e.object_id),
            None => outln!("  never"),
        }
    }
    outln!("> what changed during the last patrol?");
    if let (Some(a), Some(b)) = (
        run.truth.patrols.iter().rev().nth(1),
        run.truth.patrols.last(),
    ) {
        if let Answer::Changes(changes) = m.query(&Query::Changes {
            window: TimeWindow::new(a.end_ns + 1, b.end_ns)?,
            label: None,
        })? {
            for c in changes.iter().take(8) {
                match c.to_world {
                    Some(to) => outln!(
                        "  {} #{} moved ({:.1}, {:.1}) -> ({:.1}, {:.1})",
                        c.label,
                        c.object_id,
                        c.from_world[0],
                        c.from_world[1],
                        to[0],
                        to[1]
                    ),
                    None => outln!(
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
    outln!("> what was near the first table during the first patrol?");
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
            outln!("  {}", names.join(", "));
        }
    }
    outln!("> recall: \"mug in the kitchen\"");
    if let Answer::Episodes(eps) = m.query(&Query::Recall {
        window: TimeWindow::all(),
        text: Some("mug in the kitchen".into()),
        k: 3,
    })? {
        for e in eps {
            outln!(
                "  {}: \"{}\" (score {:.2})",
                clock(e.stamp_ns),
                e.caption,
                e.score
            );
        }
    }
    outln!(
        "\nScores against ground truth: `mnemo eval --seed {}`.",
        sim.seed
    );
    Ok(())
}

/// The node's configuration a replay starts from: what the node started as
/// `mnemo_node --ros-args [--params-file FILE] -r __node:=NAME [-r __ns:=NS] [-p NAME:=VALUE ..]`
/// would be configured with (the node's own argument and params-file handling: sections for
/// its fully qualified name, `-p` over the file). Unknown keys are warned about, as the node
/// does; a bad file, name or value is an error naming it.
fn replay_node_config(
    params_file: Option<&Path>,
    node_name: &str,
    overrides: &[String],
) -> Result<mnemo::ros::params::NodeConfig> {
    use mnemo::ros::params::{NodeConfig, RosArgs};
    let mut args = vec!["--ros-args".to_string()];
    if let Some(path) = params_file {
        args.extend(["--params-file".into(), path.display().to_string()]);
    }
    // `/robot1/mnemo` is the node `mnemo` in the namespace `/robot1`.
    let (ns, name) = match node_name.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((ns, name)) => (ns, name),
        None => ("/", node_name),
    };
    args.extend(["-r".into(), format!("__node:={name}")]);
    args.extend(["-r".into(), format!("__ns:={ns}")]);
    for p in overrides {
        args.extend(["-p".into(), p.clone()]);
    }
    let node = NodeConfig::from_args(&RosArgs::parse(&args)?)?;
    for key in &node.unknown {
        eprintln!("warning: unknown parameter {key} (ignored: not one of mnemo_node's)");
    }
    Ok(node)
}

/// `mnemo replay` flags that override the node's configuration (`--params-file` or the
/// node's defaults) when given.
#[derive(Args)]
struct ReplayFlags {
    /// The fixed frame (REP-105) [default: map, or the params file's map_frame].
    #[arg(long)]
    map_frame: Option<String>,
    /// The body frame (REP-105) [default: base_link, or the params file's base_frame].
    #[arg(long)]
    base_frame: Option<String>,
    /// Text matching for captions and labels: lexical, minilm or minilm=DIR (see `query`)
    /// [default: lexical, or the params file's embedder].
    #[arg(long)]
    embedder: Option<String>,
    /// Caption keyframes with an exported captioning model (README "Perception models").
    #[arg(long, value_name = "DIR")]
    captioner: Option<PathBuf>,
    /// Run a YOLOv8/YOLO11 ONNX export on keyframes; boxes are placed through the depth.
    #[arg(long, value_name = "MODEL.onnx")]
    detector: Option<PathBuf>,
    /// Class names for --detector, one per line (default: the model's metadata).
    #[arg(long, value_name = "FILE")]
    detector_labels: Option<PathBuf>,
    /// Read text on keyframes with the PP-OCR models in DIR (ppocr_det.onnx,
    /// ppocr_rec.onnx, e.g. models/): text landmarks.
    #[arg(long, value_name = "DIR")]
    ocr: Option<PathBuf>,
    /// Describe each detection's colours in the keyframe's image, so that look-alike
    /// instances (a red and a white mug) are told apart (`vision_msgs` detections carry no
    /// appearance) [default: off, or the params file's appearance.enabled].
    #[arg(long)]
    appearance: bool,
}

/// Everything a replay is configured with: the node's configuration with the flags applied.
struct ReplaySetup {
    replay: mnemo::replay::ReplayConfig,
    memory: mnemo::core::config::MemoryConfig,
    retention: RetentionConfig,
    embedder: mnemo::perception::EmbedderChoice,
    models: mnemo::perception::KeyframeModelsConfig,
    /// ONNX Runtime for the models and the embedder.
    runtime: mnemo::perception::RuntimeConfig,
}

impl ReplaySetup {
    fn new(
        node: &mnemo::ros::params::NodeConfig,
        flags: ReplayFlags,
        remaps: &[String],
    ) -> Result<Self> {
        let mut replay = mnemo::replay::ReplayConfig::from_node(node);
        let mut memory = node.memory.clone();
        if let Some(f) = flags.map_frame {
            replay.pipeline.map_frame = f;
        }
        if let Some(f) = flags.base_frame {
            replay.pipeline.base_frame = f;
        }
        if flags.appearance {
            // Colour descriptors match sightings to tracks at their own, looser bound.
            replay.pipeline.appearance = true;
            memory.association_min_appearance_cosine = Some(node.appearance_association_min_cosine);
        }
        for r in remaps {
            let (from, to) = r
                .split_once(":=")
                .ok_or_else(|| anyhow::anyhow!("--remap {r:?}: expected FROM:=TO"))?;
            anyhow::ensure!(
                !from.is_empty() && !to.is_empty(),
                "--remap {r:?}: expected FROM:=TO"
            );
            replay.remaps.push((from.to_string(), to.to_string()));
        }
        let embedder = match flags.embedder {
            Some(spec) => spec
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--embedder {e}"))?,
            None => node.embedder.clone(),
        };
        let retention = node.store.retention();
        // A model named by a flag replaces the file's; `--detector-labels` goes with a
        // detector named either way.
        let mut models = node.models.clone();
        if flags.captioner.is_some() {
            models.captioner_dir = flags.captioner;
        }
        if flags.detector.is_some() {
            models.detector_model = flags.detector;
            models.detector_labels = None;
        }
        if flags.detector_labels.is_some() {
            anyhow::ensure!(
                models.detector_model.is_some(),
                "--detector-labels needs --detector"
            );
            models.detector_labels = flags.detector_labels;
        }
        if flags.ocr.is_some() {
            models.ocr_dir = flags.ocr;
        }
        Ok(Self {
            replay,
            memory,
            retention,
            embedder,
            models,
            runtime: node.runtime.clone(),
        })
    }
}

/// How a replay reads and reports.
struct ReplayOpts<'a> {
    rerun: &'a str,
    json: bool,
    /// The params file the setup came from, if any (reported in the summary).
    params_file: Option<&'a Path>,
    setup: ReplaySetup,
}

/// What keyframe perception did during a replay.
#[derive(Default, serde::Serialize)]
struct PerceptionSummary {
    models: String,
    keyframes: u64,
    captions: u64,
    sightings: u64,
    errors: u64,
    first_error: Option<String>,
    /// Keyframes on which a model needing depth was skipped (no aligned depth image).
    skipped_no_depth: u64,
    mean_latency_ms: f64,
}

/// `mnemo replay`: the bag through the pipeline into a memory (RAM or database).
fn replay_cmd(bag: &Path, db: Option<&Path>, opts: ReplayOpts<'_>) -> Result<()> {
    use mnemo::perception::worker::{apply_result, KeyframeJob, PerceptionWorker};
    use mnemo::replay::replay;
    use mnemo::ros::pipeline::Output;
    use mnemo::viz::{RerunTarget, RerunViz};
    use std::io::IsTerminal;
    let ReplayOpts {
        rerun,
        json,
        params_file,
        setup,
    } = opts;
    let ReplaySetup {
        replay: config,
        memory: memory_config,
        retention,
        embedder,
        models,
        runtime,
    } = setup;
    let embedder = || -> Result<Box<dyn mnemo::core::Embedder>> { Ok(embedder.open(&runtime)?) };
    // Any model that cannot be opened stops the replay: the user asked for it by name.
    let models = models
        .open(&runtime, config.pipeline.appearance)
        .into_iter()
        .map(|r| r.map(|m| m.model).map_err(|f| anyhow::anyhow!("{f}")))
        .collect::<Result<Vec<_>>>()?;
    // Offline, every keyframe waits for its models (nothing dropped, results deterministic);
    // the node never waits.
    let worker = (!models.is_empty()).then(|| PerceptionWorker::spawn_models(models, 1));
    let mut perceived = PerceptionSummary {
        models: worker
            .as_ref()
            .map(|w| w.name().to_string())
            .unwrap_or_default(),
        ..PerceptionSummary::default()
    };
    let mut latency_s = 0.0;
    let target = RerunTarget::parse_with_default(rerun, &RerunTarget::default_save_path(bag))?;
    let bag_name = bag
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| bag.display().to_string());
    let mut viz = RerunViz::new(target, &bag_name)?;
    let mut persistent = match db {
        Some(path) => Some(PersistentMemory::open(
            path,
            Some(memory_config.clone()),
            embedder()?,
            CommitPolicy::default(),
            retention,
        )?),
        None => None,
    };
    let mut ram = match persistent {
        Some(_) => None,
        None => Some(mnemo::core::Memory::new(memory_config, embedder()?)?),
    };
    let bar = if std::io::stderr().is_terminal() && !json {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut rejected = 0u64;
    let t0 = std::time::Instant::now();
    let summary = replay(
        bag,
        &config,
        |o| {
            let r = match (o, persistent.as_mut(), ram.as_mut()) {
                (Output::Pose(p), Some(pm), _) => pm.ingest_pose(p).map(|_| ()),
                (Output::Keyframe(k), Some(pm), _) => pm.ingest(&k.observation).map(|_| ()),
                (Output::Pose(p), None, Some(m)) => m.ingest_pose(p).map(|_| ()),
                (Output::Keyframe(k), None, Some(m)) => m.ingest(&k.observation).map(|_| ()),
                _ => Ok(()),
            };
            if r.is_err() {
                rejected += 1;
            }
            if let (Some(w), Output::Keyframe(k)) = (worker.as_ref(), o) {
                if let Some(job) = KeyframeJob::from_keyframe((**k).clone()) {
                    w.submit(job);
                    for res in w.finish(std::time::Duration::from_secs(600)) {
                        perceived.keyframes += 1;
                        perceived.captions += u64::from(res.caption.is_some());
                        perceived.sightings += res
                            .sightings
                            .as_ref()
                            .map_or(0, |s| s.detections.len() as u64);
                        latency_s += res.latency.as_secs_f64();
                        perceived.skipped_no_depth += u64::from(!res.skipped.is_empty());
                        let (_, errors) = match (persistent.as_mut(), ram.as_mut()) {
                            (Some(pm), _) => apply_result(pm, res),
                            (None, Some(m)) => apply_result(m, res),
                            _ => (false, Vec::new()),
                        };
                        perceived.errors += errors.len() as u64;
                        if perceived.first_error.is_none() {
                            perceived.first_error = errors.into_iter().next();
                        }
                    }
                }
            }
            if viz.is_enabled() {
                let memory = match (persistent.as_ref(), ram.as_ref()) {
                    (Some(pm), _) => pm.memory(),
                    (None, Some(m)) => m,
                    _ => return Ok(()),
                };
                match o {
                    Output::Pose(p) => viz.pose(p),
                    Output::Keyframe(k) => viz.keyframe(k, memory),
                }
            }
            if let Some(pm) = persistent.as_mut() {
                if let Some(d) = pm.status().degraded {
                    return Err(format!("database: {d}"));
                }
            }
            Ok(())
        },
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    if let Some(pm) = persistent.as_mut() {
        pm.commit()?;
    }
    if let Err(e) = viz.flush(std::time::Duration::from_secs(10)) {
        eprintln!("warning: {e}");
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let memory = match (&persistent, &ram) {
        (Some(pm), _) => pm.memory(),
        (None, Some(m)) => m,
        _ => anyhow::bail!("no memory"),
    };
    let objects = memory
        .objects()
        .iter()
        .filter(|o| o.is_reportable())
        .count();
    let mut v = serde_json::to_value(&summary)?;
    v["keyframes"] = serde_json::json!(summary.pipeline.keyframes);
    v["objects"] = serde_json::json!(objects);
    let events = memory.log().next_id();
    v["events"] = serde_json::json!(events);
    v["rejected_by_memory"] = serde_json::json!(rejected);
    if perceived.keyframes > 0 {
        perceived.mean_latency_ms = 1e3 * latency_s / perceived.keyframes as f64;
    }
    v["perception"] = match worker {
        Some(_) => serde_json::to_value(&perceived)?,
        None => serde_json::Value::Null,
    };
    v["wall_s"] = serde_json::json!(wall_s);
    v["realtime_factor"] = serde_json::json!(summary.bag_duration_s / wall_s.max(1e-9));
    v["digest"] = serde_json::json!(format!("{:016x}", memory.digest()));
    v["db"] = serde_json::json!(db.map(|p| p.display().to_string()));
    v["params_file"] = serde_json::json!(params_file.map(|p| p.display().to_string()));
    v["rerun"] = match viz.target() {
        RerunTarget::Off => serde_json::Value::Null,
        t => serde_json::json!(t.to_string()),
    };
    if let Some(pm) = persistent.take() {
        pm.close()?;
    }
    if json {
        outln!("{}", serde_json::to_string(&v)?);
    } else {
        let p = &summary.pipeline;
        outln!("replayed {}", summary.bag);
        outln!(
            "  messages {} ({} on other topics, {} of a wrong type, {} undecodable){}",
            summary.messages,
            summary.skipped_other_topics,
            summary.skipped_wrong_type,
            summary.skipped_undecodable,
            if summary.truncated {
                ", file truncated or corrupt"
            } else {
                ""
            }
        );
        outln!(
            "  keyframes {}, poses {}, objects {}, events {}",
            p.keyframes,
            p.poses,
            objects,
            events
        );
        outln!(
            "  skipped: {} by keyframe policy, {} for TF ({} waited and used), {} without camera info, {} without depth, {} bad detections, {} bad odometry, {} bad images, {} rejected by the memory",
            p.skipped_by_policy, p.tf_dropped, p.tf_waited, p.no_camera_info, p.no_depth, p.bad_detections, p.bad_odometry, p.bad_images, rejected
        );
        outln!(
            "  bag {:.1} s in {:.2} s wall ({:.0}x real time), digest {}",
            summary.bag_duration_s,
            wall_s,
            summary.bag_duration_s / wall_s.max(1e-9),
            v["digest"].as_str().unwrap_or("")
        );
        if let Some(r) = v["rerun"].as_str() {
            outln!("  rerun: {r}");
        }
        if !perceived.models.is_empty() {
            outln!(
                "  perception ({}): {} keyframes ({} without depth for placing), {} captions, {} sightings, {} errors{}, {:.1} ms per keyframe",
                perceived.models,
                perceived.keyframes,
                perceived.skipped_no_depth,
                perceived.captions,
                perceived.sightings,
                perceived.errors,
                perceived
                    .first_error
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default(),
                perceived.mean_latency_ms
            );
        }
    }
    Ok(())
}

/// `mnemo export-sim`: one JSON object per keyframe (see `mnemo::sim::export`).
fn export_sim(sim: &SimConfig, out: &Path) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    mnemo::sim::export::write_jsonl(sim, &mut w)?;
    w.flush()?;
    Ok(())
}
