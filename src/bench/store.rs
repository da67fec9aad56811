//! `mnemo bench-store`: the persistence figures of issue 3, each against a baseline in the same
//! run.
//!
//! - Sustained write: the bench workload streamed through a [`PersistentMemory`] with the
//!   default group commit (100 ms or 10,000 changes); events per second spent in commits,
//!   against SQLite with one autocommitted insert per event (no group commit) on a sample.
//! - Reopen: a fresh `mnemo inspect --load-timing` process opens the database and loads the
//!   memory as a restarting node does (objects, placements, places, the hot events); its wall
//!   time and peak RSS are reported.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::store::{CommitPolicy, PersistentMemory, RetentionConfig};

/// What `mnemo bench-store --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct StoreBenchReport {
    /// Objects in the memory.
    pub objects: usize,
    /// Events written.
    pub events: u64,
    /// Commits.
    pub commits: u64,
    /// Events per second of commit time, group commit.
    pub write_events_per_s: f64,
    /// Events per second, one autocommitted insert per event (baseline, sampled).
    pub baseline_autocommit_events_per_s: f64,
    /// `write_events_per_s / baseline_autocommit_events_per_s`.
    pub group_commit_speedup: f64,
    /// Wall time of ingest + commits, s.
    pub total_s: f64,
    /// Database size after the run (main file + WAL), bytes.
    pub db_bytes: u64,
    /// Reopen: open + load in a fresh process, s.
    pub reopen_s: f64,
    /// Peak RSS of that process, MiB.
    pub reopen_peak_rss_mib: f64,
    /// Events loaded into RAM on reopen (the hot window).
    pub reopen_events_in_ram: u64,
    /// Resident memory of this (the writing) process while the reopen ran, MiB: the writer's
    /// memory is dropped and its freed heap returned to the kernel first, as when a node
    /// restarts (its old process is gone). `NaN` where unknown.
    pub writer_rss_at_reopen_mib: f64,
    /// The same reopen right after, with the database dropped from the page cache first (as
    /// after a reboot; Linux), s. `NaN` where that is not possible.
    pub reopen_cold_s: f64,
    /// Peak RSS of that process, MiB.
    pub reopen_cold_peak_rss_mib: f64,
    /// Whether the cold reopen loaded the same memory (equal digests) as the first.
    pub reopens_agree: bool,
}

/// Returns the heap's free pages to the kernel (glibc keeps freed memory for reuse).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: glibc's `malloc_trim` takes no pointers and only releases free memory.
    unsafe {
        malloc_trim(0);
    }
}

/// Elsewhere freed memory stays with the process.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

/// Runs the store benchmark into `db` (overwritten). `exe` is the `mnemo` binary, started for
/// the reopen measurement.
///
/// # Errors
/// [`BenchError`] for bad sizes or a failing store.
pub fn run_store_bench(
    cfg: &BenchConfig,
    db: &Path,
    exe: &Path,
) -> Result<StoreBenchReport, BenchError> {
    if cfg.objects == 0 || cfg.objects > 50_000_000 {
        return Err(BenchError::Size("objects must be in 1..=50,000,000"));
    }
    crate::store::remove_db_files(db);
    let store_err = |e: crate::store::StoreError| BenchError::Store(e.to_string());
    let mut rng = Rng::new(cfg.seed);
    let world = World::new(cfg.objects, &mut rng);
    let mut pm = PersistentMemory::open(
        db,
        Some(MemoryConfig::default()),
        Box::new(LexicalEmbedder::default()),
        CommitPolicy::default(),
        RetentionConfig::default(),
    )
    .map_err(store_err)?;
    let patrols = cfg.events.div_ceil(cfg.objects.max(1)).max(2);
    let began = Instant::now();
    let mut commit_s = 0.0;
    for p in 0..patrols {
        let mut t = T0 + p as i64 * 86_400 * NS_PER_S;
        for r in 0..world.rows {
            for i in 0..world.cols {
                let c = if r % 2 == 0 { i } else { world.cols - 1 - i };
                let obs = world.keyframe(c, r, t, &mut rng);
                let before = pm.status().commits;
                let t_in = Instant::now();
                pm.ingest(&obs)?;
                if pm.status().commits != before {
                    // The commit ran inside this ingest: count the call as commit time minus
                    // a typical ingest (negligible next to a commit of thousands of rows).
                    commit_s += t_in.elapsed().as_secs_f64();
                }
                t += KEYFRAME_NS;
            }
        }
    }
    let t_final = Instant::now();
    pm.commit().map_err(store_err)?;
    commit_s += t_final.elapsed().as_secs_f64();
    let total_s = began.elapsed().as_secs_f64();
    let status = pm.status();
    if let Some(d) = status.degraded {
        return Err(BenchError::Store(d));
    }
    let events = status.acknowledged_events;
    let commits = status.commits;
    let objects = pm.memory().objects().len();
    drop(pm);
    drop(world);
    let baseline = autocommit_baseline(db, 5_000)?;
    let db_bytes = crate::store::db_bytes(db);
    // A restart finds the file at rest: let the kernel finish writing back what the bench just
    // wrote, so the reopen is not timed against a 2 GB writeback.
    if let Ok(f) = std::fs::File::open(db) {
        let _ = f.sync_all();
    }
    // A restart starts the new process after the old one is gone: give back the writer's
    // memory first (on this project's VM the same load took 2.66 s instead of about 1.6 s
    // while another process held 2.4 GB it had just used).
    release_free_heap();
    let writer_rss_at_reopen_mib = rss_mib().map_or(f64::NAN, |(_, now)| now);
    let v = reopen_in_child(exe, db, false)?;
    // Then as after a reboot: the file dropped from the page cache first (Linux only; elsewhere
    // the figure is missing, not the bench).
    let cold = reopen_in_child(exe, db, true).ok();
    let cold_f = |k: &str| {
        cold.as_ref()
            .and_then(|c| c[k].as_f64())
            .unwrap_or(f64::NAN)
    };
    let write_events_per_s = events as f64 / commit_s.max(1e-9);
    Ok(StoreBenchReport {
        objects,
        events,
        commits,
        write_events_per_s,
        baseline_autocommit_events_per_s: baseline,
        group_commit_speedup: write_events_per_s / baseline.max(1e-9),
        total_s,
        db_bytes,
        reopen_s: v["load_s"].as_f64().unwrap_or(f64::NAN),
        reopen_peak_rss_mib: v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        reopen_events_in_ram: v["load_events_in_ram"].as_u64().unwrap_or(0),
        writer_rss_at_reopen_mib,
        reopen_cold_s: cold_f("load_s"),
        reopen_cold_peak_rss_mib: cold_f("peak_rss_mib"),
        reopens_agree: cold
            .as_ref()
            .is_none_or(|c| c["digest"].is_string() && c["digest"] == v["digest"]),
    })
}

/// `mnemo inspect --load-timing` on `db` in a fresh process (`--cold`: after dropping the file
/// from the page cache); its JSON.
fn reopen_in_child(exe: &Path, db: &Path, cold: bool) -> Result<serde_json::Value, BenchError> {
    let mut cmd = Command::new(exe);
    cmd.args(["inspect", "--json", "--load-timing", "--db"])
        .arg(db);
    if cold {
        cmd.arg("--cold");
    }
    let out = cmd
        .output()
        .map_err(|e| BenchError::Store(format!("starting {}: {e}", exe.display())))?;
    if !out.status.success() {
        return Err(BenchError::Store(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError::Store(format!("inspect output: {e}")))
}

/// Events per second inserting `n` event rows with one autocommitted statement each, into a
/// copy of the schema beside `db` (same pragmas as the store).
fn autocommit_baseline(db: &Path, n: usize) -> Result<f64, BenchError> {
    let mut p = db.as_os_str().to_owned();
    p.push(".baseline");
    let path = PathBuf::from(p);
    let e = |err: rusqlite::Error| BenchError::Store(err.to_string());
    crate::store::remove_db_files(&path);
    let conn = Connection::open(&path).map_err(e)?;
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(e)?;
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(e)?;
    for step in crate::store::schema::MIGRATIONS {
        conn.execute_batch(step).map_err(e)?;
    }
    let mut stmt = conn
        .prepare(
            "INSERT INTO events (id, stamp_ns, kind, object, place, start_ns, end_ns, x, y, z) \
             VALUES (?1, ?2, 1, ?3, 0, ?2, ?2, 1.0, 2.0, 0.5)",
        )
        .map_err(e)?;
    let began = Instant::now();
    for i in 0..n {
        stmt.execute(params![i as i64, T0 + i as i64, (i % 1000) as i64])
            .map_err(e)?;
    }
    let rate = n as f64 / began.elapsed().as_secs_f64().max(1e-9);
    drop(stmt);
    drop(conn);
    crate::store::remove_db_files(&path);
    Ok(rate)
}
