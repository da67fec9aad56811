//! `mnemo bench`: ingest rate and query latency of the core at scale, each against baselines
//! built from the same data in the same run — a linear scan, and SQLite's R*Tree module
//! (rusqlite, bundled, in-memory, prepared statements, time as a fourth indexed dimension).
//!
//! Owns the synthetic large-scale workload and the timing. Not part of the core: it uses SQLite.
//! Every baseline's answer is checked against the core's, so a fast wrong answer is caught.

pub mod store;

use std::collections::BTreeSet;
use std::time::Instant;

use nalgebra::{Isometry3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};
use rusqlite::{params, Connection};
use serde::Serialize;
use thiserror::Error;

use crate::core::config::MemoryConfig;
use crate::core::embed::LexicalEmbedder;
use crate::core::error::CoreError;
use crate::core::geometry::PinholeCamera;
use crate::core::memory::Memory;
use crate::core::observation::{Detection, DetectionFrame, Observation};
use crate::core::query::{Answer, Query, Target};
use crate::core::time::{StampNs, TimeWindow, NS_PER_S};
use crate::sim::rng::Rng;

/// Camera height above the floor in the bench world, m.
const CAMERA_HEIGHT_M: f64 = 2.0;
/// Keyframe footprint cell, m (fits inside the downward camera's view at 1.9 m depth).
const CELL_X_M: f64 = 2.2;
const CELL_Y_M: f64 = 1.6;
/// Objects per label.
const OBJECTS_PER_LABEL: usize = 100;
/// Keyframe period, ns (20 Hz).
const KEYFRAME_NS: StampNs = NS_PER_S / 20;
/// Radius of the `near` queries, m.
pub const NEAR_RADIUS_M: f64 = 1.0;

/// Sizes of the benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Objects in the world.
    pub objects: usize,
    /// Target number of events (one visit per object per patrol).
    pub events: usize,
    /// Queries timed per kind (SQLite answers all near queries; the linear scans a twentieth,
    /// at least 20).
    pub queries: usize,
    /// Seed of the data.
    pub seed: u64,
}

/// Errors of the benchmark.
#[derive(Debug, Error)]
pub enum BenchError {
    /// Bad sizes.
    #[error("invalid bench size: {0}")]
    Size(&'static str),
    /// The core refused something.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// SQLite failed.
    #[error("sqlite baseline: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store or a baseline failed.
    #[error("store bench: {0}")]
    Store(String),
}

/// Figures printed by `mnemo bench --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Objects in the memory.
    pub objects: usize,
    /// Events in the memory's log.
    pub events: usize,
    /// Keyframes ingested.
    pub keyframes: u64,
    /// Detections ingested per second (one thread, association + change detection + relations).
    pub ingest_obs_per_s: f64,
    /// Keyframes ingested per second.
    pub ingest_keyframes_per_s: f64,
    /// Near query (r = 1 m, one-patrol window), median, µs.
    pub near_p50_us: f64,
    /// Near query, 99th percentile, µs.
    pub near_p99_us: f64,
    /// Same query on SQLite R*Tree, median, µs.
    pub near_sqlite_p50_us: f64,
    /// Same query on SQLite R*Tree, 99th percentile, µs.
    pub near_sqlite_p99_us: f64,
    /// Same query by linear scan, median, µs.
    pub near_linear_p50_us: f64,
    /// `near_sqlite_p50_us / near_p50_us`.
    pub near_speedup_vs_sqlite: f64,
    /// `near_linear_p50_us / near_p50_us`.
    pub near_speedup_vs_linear: f64,
    /// The same near queries again, the core alone in a loop of its own (caches warm with its
    /// own data, as for a planner asking in a tight loop), median, µs. The figures above
    /// interleave the contenders, so each query runs after the other's (SQLite's evicts more of
    /// the core's working set than the core's evicts of SQLite's).
    pub near_alone_p50_us: f64,
    /// SQLite R*Tree alone in a loop of its own, median, µs.
    pub near_sqlite_alone_p50_us: f64,
    /// Linear scan alone in a loop of its own (the same sample), median, µs.
    pub near_linear_alone_p50_us: f64,
    /// `near_sqlite_alone_p50_us / near_alone_p50_us`.
    pub near_alone_speedup_vs_sqlite: f64,
    /// `near_linear_alone_p50_us / near_alone_p50_us`.
    pub near_alone_speedup_vs_linear: f64,
    /// Where query (label, k = 10), median, µs.
    pub where_p50_us: f64,
    /// Where query, 99th percentile, µs.
    pub where_p99_us: f64,
    /// Same query by linear scan over objects, median, µs.
    pub where_linear_p50_us: f64,
    /// When query (label, one-patrol window), median, µs.
    pub when_p50_us: f64,
    /// When query, 99th percentile, µs.
    pub when_p99_us: f64,
    /// Same query by linear scan over the event log, median, µs.
    pub when_linear_p50_us: f64,
    /// Whether every baseline answer equalled the core's.
    pub baselines_agree: bool,
}

impl BenchReport {
    /// A human-readable table.
    pub fn table(&self) -> String {
        format!(
            "mnemo bench: {} objects, {} events, {} keyframes\n\
             ingest          {:>12.0} detections/s ({:.0} keyframes/s)\n\
             near   p50/p99  {:>9.2} / {:>9.2} us   sqlite r*tree p50 {:>9.2} us ({:.1}x)   linear p50 {:>10.2} us ({:.0}x)\n\
             near, each alone: p50 {:>9.2} us   sqlite r*tree p50 {:>9.2} us ({:.1}x)   linear p50 {:>10.2} us ({:.0}x)\n\
             where  p50/p99  {:>9.2} / {:>9.2} us   linear p50 {:>10.2} us ({:.0}x)\n\
             when   p50/p99  {:>9.2} / {:>9.2} us   linear p50 {:>10.2} us ({:.0}x)\n\
             baselines agree with the core: {}\n",
            self.objects,
            self.events,
            self.keyframes,
            self.ingest_obs_per_s,
            self.ingest_keyframes_per_s,
            self.near_p50_us,
            self.near_p99_us,
            self.near_sqlite_p50_us,
            self.near_speedup_vs_sqlite,
            self.near_linear_p50_us,
            self.near_speedup_vs_linear,
            self.near_alone_p50_us,
            self.near_sqlite_alone_p50_us,
            self.near_alone_speedup_vs_sqlite,
            self.near_linear_alone_p50_us,
            self.near_alone_speedup_vs_linear,
            self.where_p50_us,
            self.where_p99_us,
            self.where_linear_p50_us,
            self.where_linear_p50_us / self.where_p50_us.max(1e-9),
            self.when_p50_us,
            self.when_p99_us,
            self.when_linear_p50_us,
            self.when_linear_p50_us / self.when_p50_us.max(1e-9),
            self.baselines_agree
        )
    }
}

/// Peak and current resident set size of this process, MiB (Linux `/proc`; `None` elsewhere).
pub fn rss_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn percentile_us(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// The bench world: objects on a floor, seen by a downward camera sweeping cell by cell.
struct World {
    positions: Vec<Point3<f64>>,
    labels: Vec<String>,
    cols: usize,
    rows: usize,
    /// Object ids per cell.
    cells: Vec<Vec<u32>>,
}

impl World {
    fn new(objects: usize, rng: &mut Rng) -> Self {
        // About one object per m² (a cluttered household, scaled up).
        let side = (objects as f64).sqrt().max(1.0);
        let cols = (side / CELL_X_M).ceil().max(1.0) as usize;
        let rows = (side / CELL_Y_M).ceil().max(1.0) as usize;
        let mut cells = vec![Vec::new(); cols * rows];
        let mut positions = Vec::with_capacity(objects);
        let mut labels = Vec::with_capacity(objects);
        let n_labels = objects.div_ceil(OBJECTS_PER_LABEL).max(1);
        for i in 0..objects {
            let p = Point3::new(
                rng.range(0.0, cols as f64 * CELL_X_M),
                rng.range(0.0, rows as f64 * CELL_Y_M),
                rng.range(0.0, 0.1),
            );
            let c = ((p.x / CELL_X_M) as usize).min(cols - 1);
            let r = ((p.y / CELL_Y_M) as usize).min(rows - 1);
            cells[r * cols + c].push(i as u32);
            positions.push(p);
            labels.push(format!("class_{:05}", rng.index(n_labels)));
        }
        Self {
            positions,
            labels,
            cols,
            rows,
            cells,
        }
    }

    fn camera() -> PinholeCamera {
        PinholeCamera {
            min_depth_m: 0.3,
            max_depth_m: 5.0,
            ..PinholeCamera::vga_default()
        }
    }

    /// The keyframe over cell `(c, r)` at `stamp`: every object the camera sees is detected.
    fn keyframe(&self, c: usize, r: usize, stamp: StampNs, rng: &mut Rng) -> Observation {
        let camera = Self::camera();
        let (cx, cy) = ((c as f64 + 0.5) * CELL_X_M, (r as f64 + 0.5) * CELL_Y_M);
        let world_from_body =
            Isometry3::from_parts(Translation3::new(cx, cy, 0.0), UnitQuaternion::identity());
        // Looking straight down: optical z = world -z, x = world x, y = world -y.
        let down = Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
            1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0,
        ));
        let world_from_camera = Isometry3::from_parts(
            Translation3::new(cx, cy, CAMERA_HEIGHT_M),
            UnitQuaternion::from_rotation_matrix(&down),
        );
        let camera_from_world = world_from_camera.inverse();
        let mut detections = Vec::new();
        for dr in -1i64..=1 {
            for dc in -1i64..=1 {
                let (nc, nr) = (c as i64 + dc, r as i64 + dr);
                if nc < 0 || nr < 0 || nc >= self.cols as i64 || nr >= self.rows as i64 {
                    continue;
                }
                for id in &self.cells[nr as usize * self.cols + nc as usize] {
                    let p_cam = camera_from_world * self.positions[*id as usize];
                    if !camera.sees(&p_cam, 0.0) {
                        continue;
                    }
                    let noisy = Point3::new(
                        p_cam.x + 0.02 * rng.normal(),
                        p_cam.y + 0.02 * rng.normal(),
                        p_cam.z + 0.02 * rng.normal(),
                    );
                    detections.push(Detection {
                        label: self.labels[*id as usize].clone(),
                        score: 0.9,
                        position_m: noisy,
                        frame: DetectionFrame::Camera,
                        extent_m: Vector3::new(0.1, 0.1, 0.1),
                        text: None,
                        embedding: None,
                    });
                }
            }
        }
        Observation {
            stamp_ns: stamp,
            world_from_body,
            world_from_camera,
            camera,
            detections,
            caption: None,
            depth: None,
        }
    }
}

/// One placement as the baselines store it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flat {
    /// The reportable object it stands for (merged duplicates resolved).
    pub object: u32,
    /// Position, map frame, m.
    pub position: [f32; 3],
    /// First sighting there, ns.
    pub start_ns: StampNs,
    /// Last sighting there once closed, `StampNs::MAX` while open, ns.
    pub end_ns: StampNs,
}

/// Every placement of every reportable object (a merged duplicate's placements count for the
/// survivor), as the core knows them: what the baselines answer from.
pub fn flats_of(memory: &Memory) -> Vec<Flat> {
    memory
        .placements()
        .iter()
        .filter(|p| {
            memory
                .object(memory.resolve(p.object))
                .is_some_and(|o| o.is_reportable())
        })
        .map(|p| Flat {
            object: memory.resolve(p.object).0,
            position: [
                p.position_world.x as f32,
                p.position_world.y as f32,
                p.position_world.z as f32,
            ],
            start_ns: p.start_ns,
            end_ns: if p.closed_at_ns.is_some() {
                p.last_seen_ns
            } else {
                StampNs::MAX
            },
        })
        .collect()
}

/// Start of the benchmark's time, ns.
pub const T0: StampNs = 1_767_225_600 * NS_PER_S;

/// A memory built by the benchmark's workload, with what the ingest cost.
pub struct BuiltMemory {
    /// The memory (compacted).
    pub memory: Memory,
    /// `(start, end)` of each patrol, ns.
    pub spans: Vec<(StampNs, StampNs)>,
    /// Seconds spent inside `Memory::ingest`.
    pub ingest_s: f64,
    /// Keyframes ingested.
    pub keyframes: u64,
    /// Detections ingested.
    pub detections: u64,
    /// Size of the floor along x, m.
    pub extent_x: f64,
    /// Size of the floor along y, m.
    pub extent_y: f64,
}

/// Builds the benchmark memory: `cfg.objects` objects seen patrol by patrol (boustrophedon)
/// until about `cfg.events` events, timing only the ingest calls.
///
/// # Errors
/// [`BenchError::Core`] if the core refuses a keyframe (it should not).
pub fn build_memory(cfg: &BenchConfig, rng: &mut Rng) -> Result<BuiltMemory, BenchError> {
    let world = World::new(cfg.objects, rng);
    let mut memory = Memory::new(
        MemoryConfig::default(),
        Box::new(LexicalEmbedder::default()),
    )?;
    let patrols = cfg.events.div_ceil(cfg.objects.max(1)).max(2);
    let mut spans = Vec::with_capacity(patrols);
    let mut ingest_s = 0.0;
    let mut keyframes = 0u64;
    let mut detections = 0u64;
    for p in 0..patrols {
        let start = T0 + p as i64 * 86_400 * NS_PER_S;
        let mut t = start;
        for r in 0..world.rows {
            for i in 0..world.cols {
                let c = if r % 2 == 0 { i } else { world.cols - 1 - i };
                let obs = world.keyframe(c, r, t, rng);
                detections += obs.detections.len() as u64;
                let began = Instant::now();
                memory.ingest(&obs)?;
                ingest_s += began.elapsed().as_secs_f64();
                keyframes += 1;
                t += KEYFRAME_NS;
            }
        }
        spans.push((start, t - KEYFRAME_NS));
    }
    memory.compact();
    Ok(BuiltMemory {
        memory,
        spans,
        ingest_s,
        keyframes,
        detections,
        extent_x: world.cols as f64 * CELL_X_M,
        extent_y: world.rows as f64 * CELL_Y_M,
    })
}

/// Runs the benchmark.
///
/// # Errors
/// [`BenchError`] for bad sizes or a failing baseline.
pub fn run_bench(cfg: &BenchConfig) -> Result<BenchReport, BenchError> {
    if cfg.objects == 0 || cfg.objects > 50_000_000 {
        return Err(BenchError::Size("--objects must be in 1..=50000000"));
    }
    if cfg.events < cfg.objects {
        return Err(BenchError::Size(
            "--events must be >= --objects (one visit per object per patrol)",
        ));
    }
    if cfg.queries == 0 {
        return Err(BenchError::Size("--queries must be >= 1"));
    }
    let mut rng = Rng::new(cfg.seed);
    let built = build_memory(cfg, &mut rng)?;
    let BuiltMemory {
        memory,
        spans,
        ingest_s,
        keyframes,
        detections,
        extent_x,
        extent_y,
    } = built;
    let t0 = T0;

    let flats = flats_of(&memory);
    let sqlite = SqliteBaseline::build(&flats, t0)?;

    let baseline_queries = (cfg.queries / 20).max(20).min(cfg.queries);
    let mut agree = true;

    // Near.
    let near_queries: Vec<(Point3<f64>, TimeWindow)> = (0..cfg.queries)
        .map(|_| {
            let (s, e) = spans[rng.index(spans.len())];
            let p = Point3::new(rng.range(0.0, extent_x), rng.range(0.0, extent_y), 0.05);
            (
                p,
                TimeWindow::new(s, e).unwrap_or_else(|_| TimeWindow::all()),
            )
        })
        .collect();
    let near_query = |p: &Point3<f64>, w: &TimeWindow| Query::Near {
        point_world: *p,
        radius_m: NEAR_RADIUS_M,
        window: *w,
        label: None,
        k: 1000,
    };
    // The core and SQLite answer every query, interleaved (same moment: the machine's noise
    // falls on both alike; each query runs in caches the other has just used); the linear
    // scan, a thousand times slower, answers a sample.
    let mut near_us = Vec::with_capacity(cfg.queries);
    let mut near_sqlite_us = Vec::with_capacity(cfg.queries);
    let mut near_linear_us = Vec::new();
    for (i, (p, w)) in near_queries.iter().enumerate() {
        let q = near_query(p, w);
        let began = Instant::now();
        let answer = memory.query(&q)?;
        near_us.push(began.elapsed().as_secs_f64() * 1e6);
        let ids: BTreeSet<u32> = match answer {
            Answer::Objects(hits) => hits.iter().map(|h| h.id.0).collect(),
            _ => BTreeSet::new(),
        };
        let began = Instant::now();
        let sqlite_ids = sqlite.near(p, NEAR_RADIUS_M, w, t0)?;
        near_sqlite_us.push(began.elapsed().as_secs_f64() * 1e6);
        agree &= sqlite_ids == ids;
        if i < baseline_queries {
            let began = Instant::now();
            let linear_ids = linear_near(&flats, p, NEAR_RADIUS_M, w);
            near_linear_us.push(began.elapsed().as_secs_f64() * 1e6);
            agree &= linear_ids == ids;
        }
    }

    // The same queries with each contender alone in a loop of its own.
    let mut near_alone_us = Vec::with_capacity(cfg.queries);
    for (p, w) in &near_queries {
        let q = near_query(p, w);
        let began = Instant::now();
        let answer = memory.query(&q)?;
        near_alone_us.push(began.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(answer);
    }
    let mut near_sqlite_alone_us = Vec::with_capacity(cfg.queries);
    for (p, w) in &near_queries {
        let began = Instant::now();
        let ids = sqlite.near(p, NEAR_RADIUS_M, w, t0)?;
        near_sqlite_alone_us.push(began.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(ids);
    }
    let mut near_linear_alone_us = Vec::with_capacity(baseline_queries);
    for (p, w) in near_queries.iter().take(baseline_queries) {
        let began = Instant::now();
        let ids = linear_near(&flats, p, NEAR_RADIUS_M, w);
        near_linear_alone_us.push(began.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(ids);
    }

    // Where (label, k = 10).
    let n_labels = cfg.objects.div_ceil(OBJECTS_PER_LABEL).max(1);
    let labels: Vec<String> = (0..cfg.queries)
        .map(|_| format!("class_{:05}", rng.index(n_labels)))
        .collect();
    let mut where_us = Vec::with_capacity(cfg.queries);
    let mut where_answers = Vec::with_capacity(cfg.queries);
    for label in &labels {
        let q = Query::Where {
            target: Target::Label(label.clone()),
            k: 10,
            at_ns: None,
        };
        let began = Instant::now();
        let answer = memory.query(&q)?;
        where_us.push(began.elapsed().as_secs_f64() * 1e6);
        where_answers.push(match answer {
            Answer::Objects(hits) => hits.iter().map(|h| h.id.0).collect::<Vec<_>>(),
            _ => Vec::new(),
        });
    }
    let mut where_linear_us = Vec::new();
    for (i, label) in labels.iter().take(baseline_queries).enumerate() {
        let began = Instant::now();
        let mut hits: Vec<(bool, std::cmp::Reverse<StampNs>, u32)> = memory
            .objects()
            .iter()
            .filter(|o| o.is_reportable() && &o.label == label)
            .map(|o| {
                (
                    !o.state.is_present(),
                    std::cmp::Reverse(o.last_seen_ns),
                    o.id.0,
                )
            })
            .collect();
        hits.sort();
        hits.truncate(10);
        where_linear_us.push(began.elapsed().as_secs_f64() * 1e6);
        agree &= hits.iter().map(|h| h.2).collect::<Vec<_>>() == where_answers[i];
    }

    // When (label, one patrol).
    let mut when_us = Vec::with_capacity(cfg.queries);
    let mut when_answers = Vec::with_capacity(cfg.queries);
    let when_windows: Vec<TimeWindow> = (0..cfg.queries)
        .map(|_| {
            let (s, e) = spans[rng.index(spans.len())];
            TimeWindow::new(s, e).unwrap_or_else(|_| TimeWindow::all())
        })
        .collect();
    for (label, w) in labels.iter().zip(&when_windows) {
        let q = Query::When {
            target: Target::Label(label.clone()),
            window: *w,
        };
        let began = Instant::now();
        let answer = memory.query(&q)?;
        when_us.push(began.elapsed().as_secs_f64() * 1e6);
        when_answers.push(match answer {
            Answer::Timeline(entries) => entries.len(),
            _ => 0,
        });
    }
    let mut when_linear_us = Vec::new();
    for (i, (label, w)) in labels
        .iter()
        .zip(&when_windows)
        .take(baseline_queries)
        .enumerate()
    {
        let began = Instant::now();
        let mut n = 0usize;
        for e in memory.log().events() {
            if let Some(o) = e.object {
                if matches!(
                    e.kind,
                    crate::core::EventKind::Caption | crate::core::EventKind::PlaceEntered
                ) {
                    continue;
                }
                let o = memory.resolve(o);
                if w.overlaps(e.start_ns, e.end_ns)
                    && memory
                        .object(o)
                        .is_some_and(|x| x.is_reportable() && &x.label == label)
                {
                    n += 1;
                }
            }
        }
        // Visits still open are not in the log yet.
        for o in memory.objects() {
            if let Some((s, e)) = o.open_visit {
                if o.is_reportable() && &o.label == label && w.overlaps(s, e) {
                    n += 1;
                }
            }
        }
        when_linear_us.push(began.elapsed().as_secs_f64() * 1e6);
        agree &= n == when_answers[i];
    }

    let near_p50 = percentile_us(&mut near_us, 0.5);
    let near_sqlite_p50 = percentile_us(&mut near_sqlite_us, 0.5);
    let near_linear_p50 = percentile_us(&mut near_linear_us, 0.5);
    let near_alone_p50 = percentile_us(&mut near_alone_us, 0.5);
    let near_sqlite_alone_p50 = percentile_us(&mut near_sqlite_alone_us, 0.5);
    let near_linear_alone_p50 = percentile_us(&mut near_linear_alone_us, 0.5);
    Ok(BenchReport {
        objects: memory
            .objects()
            .iter()
            .filter(|o| o.is_reportable())
            .count(),
        events: memory.log().len(),
        keyframes,
        ingest_obs_per_s: detections as f64 / ingest_s.max(1e-9),
        ingest_keyframes_per_s: keyframes as f64 / ingest_s.max(1e-9),
        near_p50_us: near_p50,
        near_p99_us: percentile_us(&mut near_us, 0.99),
        near_sqlite_p50_us: near_sqlite_p50,
        near_sqlite_p99_us: percentile_us(&mut near_sqlite_us, 0.99),
        near_linear_p50_us: near_linear_p50,
        near_speedup_vs_sqlite: near_sqlite_p50 / near_p50.max(1e-9),
        near_speedup_vs_linear: near_linear_p50 / near_p50.max(1e-9),
        near_alone_p50_us: near_alone_p50,
        near_sqlite_alone_p50_us: near_sqlite_alone_p50,
        near_linear_alone_p50_us: near_linear_alone_p50,
        near_alone_speedup_vs_sqlite: near_sqlite_alone_p50 / near_alone_p50.max(1e-9),
        near_alone_speedup_vs_linear: near_linear_alone_p50 / near_alone_p50.max(1e-9),
        where_p50_us: percentile_us(&mut where_us, 0.5),
        where_p99_us: percentile_us(&mut where_us, 0.99),
        where_linear_p50_us: percentile_us(&mut where_linear_us, 0.5),
        when_p50_us: percentile_us(&mut when_us, 0.5),
        when_p99_us: percentile_us(&mut when_us, 0.99),
        when_linear_p50_us: percentile_us(&mut when_linear_us, 0.5),
        baselines_agree: agree,
    })
}

/// Exact near by scanning every placement.
fn linear_near(flats: &[Flat], p: &Point3<f64>, r: f64, w: &TimeWindow) -> BTreeSet<u32> {
    let q = [p.x as f32, p.y as f32, p.z as f32];
    let r2 = (r * r) as f32;
    let mut out = BTreeSet::new();
    for f in flats {
        let d2 = (f.position[0] - q[0]).powi(2)
            + (f.position[1] - q[1]).powi(2)
            + (f.position[2] - q[2]).powi(2);
        if d2 <= r2 && w.overlaps(f.start_ns, f.end_ns) {
            out.insert(f.object);
        }
    }
    out
}

/// SQLite R*Tree over placements: x, y, z and time (seconds since `t0`) as indexed dimensions,
/// the exact position as auxiliary columns.
pub struct SqliteBaseline {
    conn: Connection,
}

/// Seconds since `t0` as the R*Tree stores them (open ends as a far future).
fn rel_s(t: StampNs, t0: StampNs) -> f64 {
    if t == StampNs::MAX {
        1.0e12
    } else if t == StampNs::MIN {
        -1.0e12
    } else {
        (t - t0) as f64 / NS_PER_S as f64
    }
}

impl SqliteBaseline {
    /// An in-memory R*Tree holding `flats`, times as seconds since `t0`.
    ///
    /// # Errors
    /// SQLite's.
    pub fn build(flats: &[Flat], t0: StampNs) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE VIRTUAL TABLE placements USING rtree(id, min_x, max_x, min_y, max_y, min_z, max_z, min_t, max_t, +object INTEGER, +x REAL, +y REAL, +z REAL);",
        )?;
        {
            let tx = conn.unchecked_transaction()?;
            {
                let mut insert = tx.prepare("INSERT INTO placements VALUES (?1, ?2, ?2, ?3, ?3, ?4, ?4, ?5, ?6, ?7, ?2, ?3, ?4)")?;
                for (i, f) in flats.iter().enumerate() {
                    insert.execute(params![
                        i as i64,
                        f64::from(f.position[0]),
                        f64::from(f.position[1]),
                        f64::from(f.position[2]),
                        rel_s(f.start_ns, t0),
                        rel_s(f.end_ns, t0),
                        i64::from(f.object)
                    ])?;
                }
            }
            tx.commit()?;
        }
        Ok(Self { conn })
    }

    /// Objects with a placement within `r` of `p` (exact 3D distance) whose evidence overlaps
    /// `w`: the R*Tree's box query, then the distance check.
    ///
    /// # Errors
    /// SQLite's.
    pub fn near(
        &self,
        p: &Point3<f64>,
        r: f64,
        w: &TimeWindow,
        t0: StampNs,
    ) -> Result<BTreeSet<u32>, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT object, x, y, z FROM placements WHERE min_x <= ?2 AND max_x >= ?1 AND min_y <= ?4 AND max_y >= ?3 AND min_z <= ?6 AND max_z >= ?5 AND min_t <= ?8 AND max_t >= ?7",
        )?;
        let (ws, we) = (rel_s(w.start_ns(), t0), rel_s(w.end_ns(), t0));
        let rows = stmt.query_map(
            params![p.x - r, p.x + r, p.y - r, p.y + r, p.z - r, p.z + r, ws, we],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, f64>(1)?,
                    row.get::<_, f64>(2)?,
                    row.get::<_, f64>(3)?,
                ))
            },
        )?;
        let q = [p.x as f32, p.y as f32, p.z as f32];
        let r2 = (r * r) as f32;
        let mut out = BTreeSet::new();
        for row in rows {
            let (object, x, y, z) = row?;
            let d2 =
                (x as f32 - q[0]).powi(2) + (y as f32 - q[1]).powi(2) + (z as f32 - q[2]).powi(2);
            if d2 <= r2 {
                out.insert(object as u32);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs_and_baselines_agree() {
        let report = run_bench(&BenchConfig {
            objects: 2_000,
            events: 6_000,
            queries: 40,
            seed: 3,
        })
        .unwrap();
        assert!(report.baselines_agree, "{report:?}");
        assert!(
            report.objects > 1_900,
            "objects confirmed: {}",
            report.objects
        );
        assert!(report.events >= 6_000);
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(run_bench(&BenchConfig {
            objects: 0,
            events: 1,
            queries: 1,
            seed: 1
        })
        .is_err());
        assert!(run_bench(&BenchConfig {
            objects: 10,
            events: 5,
            queries: 1,
            seed: 1
        })
        .is_err());
    }
}
