//! The crash test behind `mnemo crashtest`: a child process ingests a simulated world into a
//! database and prints every acknowledgement; the parent kills it with SIGKILL at a random
//! moment, reopens the file and checks it.
//!
//! Checks per trial: `PRAGMA integrity_check` passes; the memory loads (every reference
//! resolves); every acknowledged event is on disk, identical to the event a reference run in
//! the parent produced; and the objects, placements and places on disk equal the reference's
//! after exactly the number of keyframes the file says it holds (no object half-written, no
//! batch half-applied).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{CommitPolicy, HotEvents, OpenMode, PersistentMemory, RetentionConfig, Store};
use crate::core::embed::LexicalEmbedder;
use crate::core::episodic::Event;
use crate::core::memory::Memory;
use crate::core::time::TimeWindow;
use crate::sim::rng::Rng;
use crate::sim::{memory_config, simulate, SimConfig};

/// The world the child writes: small and short, so that kills land all along the stream.
pub fn child_world(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        days: 3,
        rooms: 2,
        objects: 30,
        ..SimConfig::default()
    }
}

/// The child's commit policy: small batches, so that there are many acknowledgements.
pub fn child_policy() -> CommitPolicy {
    CommitPolicy {
        max_delay: Duration::from_millis(2),
        max_changes: 64,
    }
}

/// The lying child's commit policy: batches large and slow enough that acknowledged events
/// wait uncommitted through most of the run, so that nearly every kill finds some lost, however
/// loaded the machine (with [`child_policy`]'s 2 ms batches, a dozen kills on a busy machine
/// could all land between a commit and the next acknowledgement).
fn lying_child_policy() -> CommitPolicy {
    CommitPolicy {
        max_delay: Duration::from_millis(500),
        max_changes: 4096,
    }
}

/// Runs the child: ingests [`child_world`] into `db` and prints `ack <events> <keyframes>` after
/// every commit, flushing stdout each time. With `lie`, it acknowledges every event as soon as
/// it is ingested, before any commit, and commits rarely (`lying_child_policy`): the parent
/// must then find losses (a check of the check).
///
/// # Errors
/// A message when the database cannot be opened or a commit fails.
pub fn run_child(db: &Path, seed: u64, lie: bool) -> Result<(), String> {
    let mut pm = PersistentMemory::open(
        db,
        Some(memory_config()),
        Box::new(LexicalEmbedder::default()),
        if lie {
            lying_child_policy()
        } else {
            child_policy()
        },
        RetentionConfig::keep_everything(),
    )
    .map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut failure = None;
    let mut last_commits = pm.status().commits;
    simulate(&child_world(seed), |obs| {
        if failure.is_some() {
            return;
        }
        if let Err(e) = pm.ingest(obs) {
            failure = Some(e.to_string());
            return;
        }
        let st = pm.status();
        if let Some(d) = st.degraded {
            failure = Some(d);
            return;
        }
        if lie {
            let mut out = stdout.lock();
            let _ = writeln!(out, "ack {} 0", pm.memory().log().next_id());
            let _ = out.flush();
        } else if st.commits != last_commits {
            last_commits = st.commits;
            let mut out = stdout.lock();
            let _ = writeln!(
                out,
                "ack {} {}",
                st.acknowledged_events,
                pm.memory().stats().keyframes
            );
            let _ = out.flush();
        }
    })
    .map_err(|e| e.to_string())?;
    if let Some(f) = failure {
        return Err(f);
    }
    pm.commit().map_err(|e| e.to_string())?;
    let st = pm.status();
    println!(
        "ack {} {}",
        st.acknowledged_events,
        pm.memory().stats().keyframes
    );
    println!("done");
    Ok(())
}

/// The outcome of [`run_trials`]. Keys as printed by `mnemo crashtest --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrashReport {
    /// Trials run.
    pub trials: u64,
    /// Acknowledged events missing or different after a kill, over all trials.
    pub acknowledged_lost: u64,
    /// Trials whose file failed the integrity check, did not load, or held a state no
    /// reference keyframe count explains.
    pub corruptions: u64,
    /// Mean time to reopen and load the killed database, ms.
    pub mean_reopen_ms: f64,
    /// Trials in which the child was killed before it finished.
    pub killed_mid_stream: u64,
    /// Acknowledgements the children printed, over all trials.
    pub acknowledgements: u64,
    /// The first problems found (at most 10).
    pub problems: Vec<String>,
}

/// The reference run: events, and the memory digest (objects, placements, places, relations,
/// events, captions) after each keyframe count. The child keeps every event in RAM, so a
/// reloaded file digests the same way.
struct Reference {
    events: Vec<Event>,
    digests: Vec<u64>,
    duration: Duration,
}

fn reference(seed: u64) -> Result<Reference, String> {
    let mut m = Memory::new(memory_config(), Box::new(LexicalEmbedder::default()))
        .map_err(|e| e.to_string())?;
    let mut digests = vec![m.digest()];
    let t0 = Instant::now();
    simulate(&child_world(seed), |obs| {
        if m.ingest(obs).is_ok() {
            digests.push(m.digest());
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(Reference {
        events: m.log().events().to_vec(),
        digests,
        duration: t0.elapsed(),
    })
}

/// Configuration of [`run_trials`].
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// Number of kills.
    pub trials: u64,
    /// Seed of the world and of the kill moments.
    pub seed: u64,
    /// The `mnemo` executable to start as the child.
    pub exe: PathBuf,
    /// Directory for the databases.
    pub dir: PathBuf,
    /// Run a child that acknowledges before committing (the checks must catch it).
    pub lying_child: bool,
}

/// Runs `trials` kill-and-reopen rounds.
///
/// # Errors
/// A message when the child cannot be started or the reference run fails.
pub fn run_trials(cfg: &CrashConfig) -> Result<CrashReport, String> {
    let reference = reference(cfg.seed)?;
    let mut rng = Rng::new(cfg.seed ^ 0x00c0_ffee);
    std::fs::create_dir_all(&cfg.dir).map_err(|e| format!("{}: {e}", cfg.dir.display()))?;
    // Calibration: one child run (of the kind the trials run) to the end; kills then land
    // uniformly over its duration.
    let calibration = cfg.dir.join("calibration.db");
    let t0 = Instant::now();
    let mut calibrate = Command::new(&cfg.exe);
    calibrate.args(["crashtest-child", "--seed", &cfg.seed.to_string()]);
    if cfg.lying_child {
        calibrate.arg("--lie");
    }
    let status = calibrate
        .arg("--db")
        .arg(&calibration)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("starting {}: {e}", cfg.exe.display()))?;
    if !status.success() {
        return Err(format!(
            "the crash-test writer failed on its own ({status})"
        ));
    }
    let max_delay_ms = (t0.elapsed().as_millis() as u64)
        .max(reference.duration.as_millis() as u64)
        .max(10);
    super::remove_db_files(&calibration);
    let mut report = CrashReport::default();
    let mut reopen_ms_total = 0.0;
    for trial in 0..cfg.trials {
        let db = cfg.dir.join(format!("crash-{trial}.db"));
        super::remove_db_files(&db);
        let mut cmd = Command::new(&cfg.exe);
        cmd.args(["crashtest-child", "--seed", &cfg.seed.to_string()]);
        if cfg.lying_child {
            cmd.arg("--lie");
        }
        let mut child = cmd
            .arg("--db")
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", cfg.exe.display()))?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        let reader = std::thread::spawn(move || {
            let mut last = (0u64, 0u64);
            let mut acks = 0u64;
            let mut done = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut it = line.split_whitespace();
                match it.next() {
                    Some("ack") => {
                        let ev = it.next().and_then(|v| v.parse().ok());
                        let kf = it.next().and_then(|v| v.parse().ok());
                        if let (Some(ev), Some(kf)) = (ev, kf) {
                            last = (ev, kf);
                            acks += 1;
                        }
                    }
                    Some("done") => done = true,
                    _ => {}
                }
            }
            (last, acks, done)
        });
        let delay = rng.next_u64() % max_delay_ms;
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let ((acked_events, _acked_keyframes), acks, done) =
            reader.join().map_err(|_| "reader thread panicked")?;
        report.trials += 1;
        report.acknowledgements += acks;
        if !done {
            report.killed_mid_stream += 1;
        }
        let problem = |report: &mut CrashReport, what: String| {
            if report.problems.len() < 10 {
                report.problems.push(format!("trial {trial}: {what}"));
            }
        };
        if !db.exists() {
            if acked_events > 0 {
                report.acknowledged_lost += acked_events;
                problem(&mut report, "database file missing".to_string());
            }
            continue;
        }
        let t0 = Instant::now();
        let opened = Store::open(&db, OpenMode::ReadWrite).and_then(|s| {
            let m = s.load(
                None,
                Box::new(LexicalEmbedder::default()),
                HotEvents::AsSaved,
            )?;
            Ok((s, m))
        });
        reopen_ms_total += t0.elapsed().as_secs_f64() * 1e3;
        let (store, memory) = match opened {
            Ok(x) => x,
            Err(e) => {
                report.corruptions += 1;
                report.acknowledged_lost += acked_events;
                problem(&mut report, format!("reopen failed: {e}"));
                continue;
            }
        };
        if let Err(e) = store.integrity_check() {
            report.corruptions += 1;
            problem(&mut report, e.to_string());
        }
        let kf = memory.stats().keyframes as usize;
        if reference.digests.get(kf) != Some(&memory.digest()) {
            report.corruptions += 1;
            problem(
                &mut report,
                format!("memory after {kf} keyframes differs from the reference"),
            );
        }
        let on_disk =
            crate::core::memory::ColdEvents::recorded_in(&store, &TimeWindow::all(), None)
                .map_err(|e| e.to_string())?;
        let mut lost = 0u64;
        for want in reference.events.iter().take(acked_events as usize) {
            let found = on_disk
                .binary_search_by_key(&want.id, |e| e.id)
                .ok()
                .map(|i| &on_disk[i]);
            if found != Some(want) {
                lost += 1;
            }
        }
        if lost > 0 {
            problem(&mut report, format!("{lost} acknowledged events lost"));
        }
        report.acknowledged_lost += lost;
        drop(store);
        super::remove_db_files(&db);
    }
    report.mean_reopen_ms = if report.trials > 0 {
        reopen_ms_total / report.trials as f64
    } else {
        0.0
    };
    Ok(report)
}
