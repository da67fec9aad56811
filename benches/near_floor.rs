//! `cargo bench --bench near_floor`: how fast could a `near` query be, right after an SQLite
//! R*Tree query has been through the caches, on this machine? `mnemo bench` reads its near
//! targets (20x SQLite, 1000x a linear scan) on such interleaved runs; this bench asks whether
//! any index layout could meet them here, not only the core's.
//!
//! It builds the `mnemo bench` memory (1M objects, 2M events by default; `NEAR_FLOOR_OBJECTS`,
//! `NEAR_FLOOR_EVENTS`, `NEAR_FLOOR_QUERIES` override) and the same SQLite baseline, then
//! answers the same r = 1 m, one-patrol-window queries, each right after SQLite's, four ways:
//! - the core (`Memory::query`, its k-d trees, full answers);
//! - a flat grid: every placement as a 32-byte entry (x, y, z, object, start, end) in 2 m
//!   cells stored contiguously, row by row (a query reads two cell offsets per row and one run
//!   of entries), built once and never updated — a layout no dynamic index beats on memory
//!   traffic, and one that cannot follow a changing memory; answers as full as the core's
//!   (each hit's object record read for its label, extent, state and times);
//! - the same, with every hit's object record prefetched before any is read, as the core does
//!   (their cache misses overlap instead of following one another);
//! - the same grid returning object ids only (no object record read): the floor of any index;
//! - the same grid with full answers built from a compact copy of each object's answer fields
//!   (label, extent as f32, place, first / last seen, state: one 64-byte cache line per object,
//!   prefetched), the copy a core would have to keep in step on every sighting;
//! - the same grid with those fields stored per entry, in an array parallel to the entries, so a
//!   hit's fields lie beside its cell's run instead of at a random address.
//!
//! Each prints its p50 and SQLite's p50 over the same loop, with the ratio, then the mean hits
//! per query and the size of one full answer (`ObjectHit`). Every answer's ids are checked
//! against the core's on every query.

use std::time::Instant;

use mnemo::bench::{build_memory, flats_of, BenchConfig, Flat, SqliteBaseline, NEAR_RADIUS_M, T0};
use mnemo::core::memory::Memory;
use mnemo::core::prefetch::prefetch_all;
use mnemo::core::query::{Answer, ObjectHit, Query};
use mnemo::core::time::{StampNs, TimeWindow};
use mnemo::sim::rng::Rng;
use nalgebra::Point3;

/// Near radius, m (as `mnemo bench`).
const R_M: f64 = NEAR_RADIUS_M;
/// Grid cell, m (a 2 m x 2 m query box spans at most two rows of cells).
const CELL_M: f64 = 2.0;

/// One placement in the grid.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    x: f32,
    y: f32,
    z: f32,
    object: u32,
    start_ns: StampNs,
    end_ns: StampNs,
}

/// An object's answer fields, one cache line: the compact copy the core would keep in step.
#[derive(Clone)]
#[repr(C, align(64))]
struct Compact {
    label: mnemo::core::label::Label,
    extent_m: [f32; 3],
    place: mnemo::core::ids::PlaceId,
    first_seen_ns: StampNs,
    last_seen_ns: StampNs,
    state: mnemo::core::scene_graph::ObjectState,
}

impl Compact {
    fn of(o: &mnemo::core::scene_graph::MemoryObject) -> Self {
        Self {
            label: o.label.clone(),
            extent_m: [
                o.extent_m.x as f32,
                o.extent_m.y as f32,
                o.extent_m.z as f32,
            ],
            place: o.place,
            first_seen_ns: o.first_seen_ns,
            last_seen_ns: o.last_seen_ns,
            state: o.state,
        }
    }

    fn hit(&self, id: u32, e: &Entry, d2: f32) -> ObjectHit {
        ObjectHit {
            id: mnemo::core::ids::ObjectId(id),
            label: self.label.clone(),
            position_world: [f64::from(e.x), f64::from(e.y), f64::from(e.z)],
            extent_m: self.extent_m.map(f64::from),
            first_seen_ns: self.first_seen_ns,
            last_seen_ns: self.last_seen_ns,
            state: self.state,
            place: self.place,
            score: 1.0,
            distance_m: Some(f64::from(d2).sqrt()),
            text: None,
        }
    }
}

/// Placements bucketed by 2 m cell, cells stored row-major and contiguous.
struct Grid {
    cols: usize,
    rows: usize,
    /// Start of each cell's entries (one more than cells).
    offsets: Vec<u32>,
    entries: Vec<Entry>,
}

impl Grid {
    fn cell(&self, x: f64, y: f64) -> (usize, usize) {
        let c = ((x / CELL_M).floor().max(0.0) as usize).min(self.cols - 1);
        let r = ((y / CELL_M).floor().max(0.0) as usize).min(self.rows - 1);
        (c, r)
    }

    fn build(flats: &[Flat], extent_x: f64, extent_y: f64) -> Self {
        let cols = (extent_x / CELL_M).ceil() as usize + 1;
        let rows = (extent_y / CELL_M).ceil() as usize + 1;
        let mut grid = Grid {
            cols,
            rows,
            offsets: vec![0; cols * rows + 1],
            entries: Vec::new(),
        };
        let mut keyed: Vec<(usize, Entry)> = flats
            .iter()
            .map(|f| {
                let [x, y, z] = f.position;
                let (c, r) = grid.cell(f64::from(x), f64::from(y));
                let e = Entry {
                    x,
                    y,
                    z,
                    object: f.object,
                    start_ns: f.start_ns,
                    end_ns: f.end_ns,
                };
                (r * cols + c, e)
            })
            .collect();
        keyed.sort_by_key(|(cell, e)| (*cell, e.object));
        for (cell, _) in &keyed {
            grid.offsets[cell + 1] += 1;
        }
        for i in 0..cols * rows {
            grid.offsets[i + 1] += grid.offsets[i];
        }
        grid.entries = keyed.into_iter().map(|(_, e)| e).collect();
        grid
    }

    /// Calls `f(index, squared distance, entry)` for every placement within `R_M` of `p` whose
    /// evidence overlaps `w`, reading two cell offsets per row and one run of entries.
    fn scan(&self, p: &Point3<f64>, w: &TimeWindow, mut f: impl FnMut(usize, f32, &Entry)) {
        let q = [p.x as f32, p.y as f32, p.z as f32];
        let r2 = (R_M * R_M) as f32;
        let (c0, r0) = self.cell(p.x - R_M, p.y - R_M);
        let (c1, r1) = self.cell(p.x + R_M, p.y + R_M);
        for row in r0..=r1 {
            let from = self.offsets[row * self.cols + c0] as usize;
            let to = self.offsets[row * self.cols + c1 + 1] as usize;
            for (i, e) in self.entries[from..to].iter().enumerate() {
                let d2 = (e.x - q[0]).powi(2) + (e.y - q[1]).powi(2) + (e.z - q[2]).powi(2);
                if d2 <= r2 && w.overlaps(e.start_ns, e.end_ns) {
                    f(from + i, d2, e);
                }
            }
        }
    }

    /// Placements within `R_M` of `p` whose evidence overlaps `w`: (object, squared distance,
    /// entry), closest first (one per object).
    fn near(&self, p: &Point3<f64>, w: &TimeWindow) -> Vec<(u32, f32, Entry)> {
        let mut found = Vec::new();
        self.scan(p, w, |_, d2, e| found.push((e.object, d2, *e)));
        closest_per_object(&mut found);
        found
    }

    /// As the core answers: each hit with its object's label, extent, state and times. With
    /// `prefetch`, every hit's object record is prefetched before any is read.
    fn near_hits(
        &self,
        memory: &Memory,
        p: &Point3<f64>,
        w: &TimeWindow,
        prefetch: bool,
    ) -> Vec<ObjectHit> {
        let found = self.near(p, w);
        if prefetch {
            for (id, _, _) in &found {
                if let Some(o) = memory.objects().get(*id as usize) {
                    prefetch_all(o);
                }
            }
        }
        found
            .into_iter()
            .filter_map(|(id, d2, e)| {
                let o = memory.objects().get(id as usize)?;
                Some(ObjectHit {
                    id: o.id,
                    label: o.label.clone(),
                    position_world: [f64::from(e.x), f64::from(e.y), f64::from(e.z)],
                    extent_m: [o.extent_m.x, o.extent_m.y, o.extent_m.z],
                    first_seen_ns: o.first_seen_ns,
                    last_seen_ns: o.last_seen_ns,
                    state: o.state,
                    place: o.place,
                    score: 1.0,
                    distance_m: Some(f64::from(d2).sqrt()),
                    text: o.text.clone(),
                })
            })
            .collect()
    }
}

impl Grid {
    /// Full answers from the compact per-object copy (prefetched), not the object records.
    fn near_compact(&self, compact: &[Compact], p: &Point3<f64>, w: &TimeWindow) -> Vec<ObjectHit> {
        let found = self.near(p, w);
        for (id, _, _) in &found {
            if let Some(c) = compact.get(*id as usize) {
                prefetch_all(c);
            }
        }
        found
            .iter()
            .filter_map(|(id, d2, e)| Some(compact.get(*id as usize)?.hit(*id, e, *d2)))
            .collect()
    }
}

/// A grid whose entries carry their object's answer fields beside the position.
struct FatGrid {
    grid: Grid,
    fat: Vec<Compact>,
}

impl FatGrid {
    fn near(&self, p: &Point3<f64>, w: &TimeWindow) -> Vec<ObjectHit> {
        let g = &self.grid;
        let mut found = Vec::new();
        g.scan(p, w, |i, d2, e| found.push((e.object, d2, i)));
        closest_per_object(&mut found);
        found
            .iter()
            .map(|&(id, d2, i)| self.fat[i].hit(id, &g.entries[i], d2))
            .collect()
    }
}

/// Keeps each object's closest hit, closest first (ties by object id).
fn closest_per_object<T>(found: &mut Vec<(u32, f32, T)>) {
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    found.dedup_by_key(|f| f.0);
    found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
}

fn p50(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("near_floor: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = BenchConfig {
        objects: env_or("NEAR_FLOOR_OBJECTS", 1_000_000),
        events: env_or("NEAR_FLOOR_EVENTS", 2_000_000),
        queries: env_or("NEAR_FLOOR_QUERIES", 20_000),
        seed: 1,
    };
    let mut rng = Rng::new(cfg.seed);
    let built = build_memory(&cfg, &mut rng)?;
    let memory = &built.memory;
    let flats = flats_of(memory);
    let sqlite = SqliteBaseline::build(&flats, T0)?;
    let grid = Grid::build(&flats, built.extent_x, built.extent_y);
    let compact: Vec<Compact> = memory.objects().iter().map(Compact::of).collect();
    let fat = FatGrid {
        fat: grid
            .entries
            .iter()
            .map(|e| Compact::of(&memory.objects()[e.object as usize]))
            .collect(),
        grid: Grid::build(&flats, built.extent_x, built.extent_y),
    };
    let queries: Vec<(Point3<f64>, TimeWindow)> = (0..cfg.queries)
        .map(|_| {
            let (s, e) = built.spans[rng.index(built.spans.len())];
            let p = Point3::new(
                rng.range(0.0, built.extent_x),
                rng.range(0.0, built.extent_y),
                0.05,
            );
            (
                p,
                TimeWindow::new(s, e).unwrap_or_else(|_| TimeWindow::all()),
            )
        })
        .collect();
    println!(
        "near r = {R_M} m over {} objects, {} events; {} queries, each right after SQLite's",
        cfg.objects,
        memory.log().len(),
        cfg.queries
    );
    // The grid's answers, checked against the core's first (the same objects).
    let near = |p: &Point3<f64>, w: &TimeWindow| Query::Near {
        point_world: *p,
        radius_m: R_M,
        window: *w,
        label: None,
        k: 1000,
    };
    let mut disagree = 0usize;
    let mut total_hits = 0usize;
    for (p, w) in &queries {
        let sorted = |mut v: Vec<u32>| {
            v.sort_unstable();
            v
        };
        let core = sorted(match memory.query(&near(p, w))? {
            Answer::Objects(hits) => hits.iter().map(|h| h.id.0).collect(),
            _ => Vec::new(),
        });
        let full = sorted(
            grid.near_hits(memory, p, w, false)
                .iter()
                .map(|h| h.id.0)
                .collect(),
        );
        let prefetched = sorted(
            grid.near_hits(memory, p, w, true)
                .iter()
                .map(|h| h.id.0)
                .collect(),
        );
        let ids = sorted(grid.near(p, w).iter().map(|f| f.0).collect());
        let comp = sorted(
            grid.near_compact(&compact, p, w)
                .iter()
                .map(|h| h.id.0)
                .collect(),
        );
        let fatids = sorted(fat.near(p, w).iter().map(|h| h.id.0).collect());
        total_hits += core.len();
        if core != full || core != prefetched || core != ids || core != comp || core != fatids {
            disagree += 1;
            if disagree <= 3 {
                eprintln!("{p:?}: core {core:?}, grid {full:?} / {ids:?}");
            }
        }
    }
    let ways = [
        "core (k-d trees, full answers)",
        "flat grid, full answers",
        "flat grid, full, prefetched",
        "flat grid, ids only",
        "flat grid, compact copy",
        "flat grid, fields in entries",
    ];
    for (way, name) in ways.iter().enumerate() {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for (p, w) in &queries {
            let began = Instant::now();
            std::hint::black_box(sqlite.near(p, R_M, w, T0)?);
            theirs.push(began.elapsed().as_secs_f64() * 1e6);
            let began = Instant::now();
            match way {
                0 => drop(std::hint::black_box(memory.query(&near(p, w))?)),
                1 => drop(std::hint::black_box(grid.near_hits(memory, p, w, false))),
                2 => drop(std::hint::black_box(grid.near_hits(memory, p, w, true))),
                3 => drop(std::hint::black_box(grid.near(p, w))),
                4 => drop(std::hint::black_box(grid.near_compact(&compact, p, w))),
                _ => drop(std::hint::black_box(fat.near(p, w))),
            }
            ours.push(began.elapsed().as_secs_f64() * 1e6);
        }
        let (a, b) = (p50(&mut ours), p50(&mut theirs));
        println!(
            "{name:<32} p50 {a:>6.2} us   sqlite p50 {b:>6.2} us   {:>5.1}x",
            b / a.max(1e-9)
        );
    }
    println!(
        "hits per query: {:.2}; ObjectHit {} bytes",
        total_hits as f64 / cfg.queries.max(1) as f64,
        std::mem::size_of::<ObjectHit>()
    );
    println!("grid answers that differ from the core's: {disagree}");
    Ok(())
}
