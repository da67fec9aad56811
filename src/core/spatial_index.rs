//! A dynamic 3D point index over dense `u32` ids, built from kiddo's immutable k-d trees.
//!
//! The trees index the horizontal position (x, y) only and the exact 3D distance is checked
//! afterwards: a robot's world is nearly flat (z spans a few metres over hundreds), and a 3D
//! k-d tree splitting on that thin z range must visit both sides of every z split — several
//! times slower for the same exact answer. A 3D ball projects into the 2D disc of the same
//! radius, so no point is missed.
//!
//! Owns [`PointIndex`]. Kiddo's immutable tree is the fastest to query and copes with many points
//! on one coordinate, but cannot change; so the index keeps a logarithmic set of immutable trees
//! (Bentley–Saxe): inserts go to a small buffer, full buffers become trees, and trees of similar
//! size are merged. Small position updates (within `slack_m` of the indexed position) only
//! change the stored current position; queries search the radius plus the largest such offset
//! (none after a compaction) and check exact distances against current positions, so results
//! are exact. Stores ids only, never payloads.
//!
//! Most ids are *clean*: indexed once, at their current position, and not changed since. Their
//! tree entry alone answers a query (the tree holds x and y, the entry carries z), so a query
//! touches the per-id arrays only for the few *dirty* ids (moved, removed or re-indexed since
//! the last [`PointIndex::compact`]), found in a bitset small enough to stay in cache.

use std::sync::atomic::{AtomicU64, Ordering};

use kiddo::{Eytzinger, KdTree, SquaredEuclidean, VecOfArenas};

/// Points per k-d tree leaf (kiddo's default for its immutable tree).
const LEAF_POINTS: usize = 32;
/// One `(id, version)` entry per item.
type Entry = (u32, u32);

/// What a tree stores per point: its entry and the z of its indexed position, so a hit on a
/// clean id is checked in 3D without a lookup in a side array (a cache miss per hit on a large
/// index).
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
struct TreeItem {
    id: u32,
    version: u32,
    z: f32,
}

/// Kiddo's immutable tree layout (as `ImmutableKdTree`), its items [`TreeItem`]s.
type Tree =
    KdTree<f32, TreeItem, Eytzinger, VecOfArenas<f32, TreeItem, 2, LEAF_POINTS>, 2, LEAF_POINTS>;

/// Entries kept in the linear buffer before they become a tree.
const BUFFER_CAP: usize = 1024;
/// A trailing level is merged into a new one while it is at most this many times larger, which
/// keeps the number of trees (searched by every query) near log4(n / BUFFER_CAP).
const MERGE_FACTOR: usize = 4;

struct Level {
    tree: Tree,
    /// The tree's entries, sorted (kept for merges).
    entries: Vec<Entry>,
}

/// Current position and live version of one id.
#[derive(Debug, Clone, Copy)]
struct Slot {
    current: [f32; 3],
    version: u32,
}

/// Exact radius search over points identified by dense `u32` ids.
pub struct PointIndex {
    levels: Vec<Level>,
    buffer: Vec<(u32, u32)>,
    /// Current position per id.
    /// Current position and live version per id, side by side (one cache line per lookup);
    /// version 0 = absent. Tree entries with another version are stale.
    slots: Vec<Slot>,
    /// Position at which each id is indexed.
    indexed: Vec<[f32; 3]>,
    /// One bit per id: set when the id changed (moved, removed, re-indexed) since the last
    /// [`PointIndex::compact`], so its tree entries may be stale or away from its current
    /// position. Clear bits let a query trust the tree entry alone.
    dirty: Vec<u64>,
    slack_m: f32,
    /// Largest distance between a live id's current and indexed positions since the last
    /// [`PointIndex::compact`] (at most `slack_m`): queries search this much further than asked.
    /// Zero after a compaction, so a settled index searches exactly the radius asked for.
    max_offset_m: f32,
    len: usize,
    /// Queries answered since the trees last changed shape (drives [`PointIndex::maintain`]).
    queries_since_change: AtomicU64,
}

impl std::fmt::Debug for PointIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointIndex")
            .field("len", &self.len)
            .field("levels", &self.levels.len())
            .field("buffer", &self.buffer.len())
            .finish()
    }
}

/// A 2D tree over the entries at the (x, y) of their indexed positions.
fn build_tree(
    entries: &[Entry],
    indexed: &[[f32; 3]],
) -> Result<Tree, kiddo::kd_tree::ConstructionError> {
    let items: Vec<(TreeItem, [f32; 2])> = entries
        .iter()
        .map(|e| {
            let p = indexed[e.0 as usize];
            let item = TreeItem {
                id: e.0,
                version: e.1,
                z: p[2],
            };
            (item, [p[0], p[1]])
        })
        .collect();
    Tree::new_from_entries(&items)
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

impl PointIndex {
    /// An empty index; updates smaller than `slack_m` do not touch the trees.
    pub fn new(slack_m: f32) -> Self {
        Self {
            levels: Vec::new(),
            buffer: Vec::new(),
            slots: Vec::new(),
            indexed: Vec::new(),
            dirty: Vec::new(),
            slack_m: if slack_m.is_finite() {
                slack_m.max(0.0)
            } else {
                0.0
            },
            max_offset_m: 0.0,
            len: 0,
            queries_since_change: AtomicU64::new(0),
        }
    }

    /// Number of live ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u32) -> bool {
        self.slots.get(id as usize).is_some_and(|s| s.version != 0)
    }

    /// Current position of a live id.
    pub fn position(&self, id: u32) -> Option<[f32; 3]> {
        self.slots
            .get(id as usize)
            .filter(|s| s.version != 0)
            .map(|s| s.current)
    }

    /// Makes room for `id` in the per-id arrays; returns its index.
    fn grow_to(&mut self, id: u32) -> usize {
        let i = id as usize;
        if i >= self.slots.len() {
            self.slots.resize(
                i + 1,
                Slot {
                    current: [0.0; 3],
                    version: 0,
                },
            );
            self.indexed.resize(i + 1, [0.0; 3]);
            self.dirty.resize(i / 64 + 1, 0);
        }
        i
    }

    fn mark_dirty(&mut self, i: usize) {
        if let Some(word) = self.dirty.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    fn is_dirty(&self, id: u32) -> bool {
        let i = id as usize;
        self.dirty
            .get(i / 64)
            .is_none_or(|w| w & (1 << (i % 64)) != 0)
    }

    /// Inserts `id` at `position`, or moves it there if it is already live. Non-finite positions
    /// are ignored (the id is removed), so they can never reach the trees.
    pub fn upsert(&mut self, id: u32, position: [f32; 3]) {
        if !position.iter().all(|c| c.is_finite()) {
            self.remove(id);
            return;
        }
        let i = self.grow_to(id);
        self.slots[i].current = position;
        if self.slots[i].version != 0 {
            self.mark_dirty(i);
            let d2 = dist2(&self.indexed[i], &position);
            if d2 <= self.slack_m * self.slack_m {
                self.max_offset_m = self.max_offset_m.max(d2.sqrt());
                return;
            }
        } else {
            self.len += 1;
        }
        // (Re)index: bump the version so any older entry goes stale.
        self.slots[i].version = self.slots[i].version.wrapping_add(1).max(1);
        self.indexed[i] = position;
        self.buffer.push((id, self.slots[i].version));
        if self.buffer.len() >= BUFFER_CAP {
            self.flush_buffer();
        }
    }

    /// Inserts (or moves) many ids and rebuilds the trees once, leaving them as
    /// [`PointIndex::compact`] does: the fast path for loading a saved memory. Same contents as
    /// calling [`PointIndex::upsert`] for each item and then `compact`.
    pub fn bulk_load(&mut self, items: impl IntoIterator<Item = (u32, [f32; 3])>) {
        for (id, position) in items {
            if !position.iter().all(|c| c.is_finite()) {
                self.remove(id);
                continue;
            }
            let i = self.grow_to(id);
            if self.slots[i].version == 0 {
                self.len += 1;
            } else {
                self.mark_dirty(i);
            }
            let slot = &mut self.slots[i];
            slot.current = position;
            slot.version = slot.version.wrapping_add(1).max(1);
            self.indexed[i] = position;
            self.buffer.push((id, slot.version));
        }
        self.compact();
    }

    /// Removes `id` (no-op when absent).
    pub fn remove(&mut self, id: u32) {
        let i = id as usize;
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.version != 0 {
                slot.version = 0;
                self.len -= 1;
                self.mark_dirty(i);
            }
        }
    }

    fn is_live(&self, entry: (u32, u32)) -> bool {
        self.slots
            .get(entry.0 as usize)
            .is_some_and(|s| s.version == entry.1)
    }

    /// Compacts everything into one tree once the index has answered more queries than half
    /// its size since its shape last changed: mostly-static data is then searched in a single
    /// tree, at an amortised cost of O(log n) per query. Call when convenient (after an ingest).
    pub fn maintain(&mut self) {
        let trees = self.level_count();
        let queries = self.queries_since_change.load(Ordering::Relaxed);
        if trees > 1 && queries >= (self.len as u64 / 2).max(4096) {
            self.compact();
        }
    }

    fn flush_buffer(&mut self) {
        self.queries_since_change.store(0, Ordering::Relaxed);
        let mut entries: Vec<(u32, u32)> = std::mem::take(&mut self.buffer);
        entries.retain(|e| self.is_live(*e));
        // Merge with the trailing levels while they are no larger than what we carry.
        while let Some(last) = self.levels.last() {
            if last.entries.len() > MERGE_FACTOR * entries.len().max(BUFFER_CAP) {
                break;
            }
            if let Some(level) = self.levels.pop() {
                entries.extend(level.entries.into_iter().filter(|e| self.is_live(*e)));
            }
        }
        if entries.is_empty() {
            return;
        }
        entries.sort_unstable();
        entries.dedup();
        match build_tree(&entries, &self.indexed) {
            Ok(tree) => self.levels.push(Level { tree, entries }),
            // Construction only fails for pathological inputs (e.g. coordinates at f32::MAX);
            // keep those entries in the linear buffer rather than lose them.
            Err(_) => self.buffer = entries,
        }
    }

    /// Rebuilds everything into one tree: call when idle (after a bulk load) for the fastest
    /// queries.
    pub fn compact(&mut self) {
        self.queries_since_change.store(0, Ordering::Relaxed);
        let mut entries: Vec<(u32, u32)> = std::mem::take(&mut self.buffer);
        for level in std::mem::take(&mut self.levels) {
            entries.extend(level.entries);
        }
        entries.retain(|e| self.is_live(*e));
        self.buffer = entries;
        if self.buffer.is_empty() {
            return;
        }
        let carried = std::mem::take(&mut self.buffer);
        let mut entries = carried;
        entries.sort_unstable();
        entries.dedup();
        // Everything is re-indexed at its current position, once: every id is clean again.
        for e in &entries {
            let i = e.0 as usize;
            self.indexed[i] = self.slots[i].current;
        }
        match build_tree(&entries, &self.indexed) {
            Ok(tree) => {
                self.levels.push(Level { tree, entries });
                self.dirty.fill(0);
                self.max_offset_m = 0.0;
            }
            Err(_) => self.buffer = entries,
        }
    }

    /// Calls `f(id, squared_distance)` for every live id within `radius_m` of `query` (inclusive),
    /// each exactly once, in no particular order.
    pub fn for_each_within(&self, query: [f32; 3], radius_m: f32, mut f: impl FnMut(u32, f32)) {
        if !(radius_m.is_finite() && radius_m >= 0.0 && query.iter().all(|c| c.is_finite())) {
            return;
        }
        self.queries_since_change.fetch_add(1, Ordering::Relaxed);
        let r2 = radius_m * radius_m;
        // Ids within `max_offset_m` of where they are indexed: a small absolute allowance
        // covers rounding in that bound (none is needed when every id sits where indexed).
        let search = if self.max_offset_m > 0.0 {
            radius_m + self.max_offset_m + 1e-4
        } else {
            radius_m
        };
        let search2 = search * search;
        for level in &self.levels {
            // `visit` walks the hits without collecting them: no allocation per query and level.
            level
                .tree
                .query(&[query[0], query[1]])
                .within::<SquaredEuclidean<f32>>(search2)
                .unsorted()
                .with_distances()
                .visit(|hit| {
                    let item = hit.item;
                    let d2 = if self.is_dirty(item.id) {
                        self.live_dist2((item.id, item.version), &query)
                    } else {
                        // Clean: the id's only entry, live, at its current position.
                        let dz = item.z - query[2];
                        Some(hit.distance + dz * dz)
                    };
                    if let Some(d2) = d2.filter(|d2| *d2 <= r2) {
                        f(item.id, d2);
                    }
                });
        }
        for entry in &self.buffer {
            if let Some(d2) = self.live_dist2(*entry, &query).filter(|d2| *d2 <= r2) {
                f(entry.0, d2);
            }
        }
    }

    /// Squared distance from `query` to the entry's id at its current position, if the entry is
    /// live (its version current).
    fn live_dist2(&self, entry: Entry, query: &[f32; 3]) -> Option<f32> {
        self.slots
            .get(entry.0 as usize)
            .filter(|s| s.version == entry.1)
            .map(|s| dist2(&s.current, query))
    }

    /// Ids within `radius_m` of `query`, sorted by distance then id.
    pub fn within(&self, query: [f32; 3], radius_m: f32) -> Vec<(u32, f32)> {
        let mut out = Vec::new();
        self.for_each_within(query, radius_m, |id, d2| out.push((id, d2)));
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Number of units every query searches: the trees, plus the linear buffer when non-empty.
    pub fn level_count(&self) -> usize {
        self.levels.len() + usize::from(!self.buffer.is_empty())
    }

    /// Bytes held by the trees' position copies (an estimate for memory reports).
    pub fn approx_bytes(&self) -> usize {
        let per_level: usize = self
            .levels
            .iter()
            .map(|l| l.entries.len() * 8 + l.tree.size() * 16)
            .sum();
        per_level + self.slots.len() * (16 + 12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_load_equals_upserts_then_compact() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 10_000) as f32 / 100.0
        };
        // Repeated ids (a later position wins) and a non-finite one (dropped).
        let mut items: Vec<(u32, [f32; 3])> = (0..5000)
            .map(|i| ((i * 7) % 3000, [next(), next(), next() / 50.0]))
            .collect();
        items.push((17, [f32::NAN, 0.0, 0.0]));
        let mut a = PointIndex::new(0.05);
        for (id, p) in &items {
            a.upsert(*id, *p);
        }
        a.compact();
        let mut b = PointIndex::new(0.05);
        b.bulk_load(items.iter().copied());
        assert_eq!(a.len(), b.len());
        for id in 0..3000 {
            assert_eq!(a.position(id), b.position(id), "id {id}");
        }
        for q in 0..50 {
            let q = [q as f32 * 2.0, 50.0 - q as f32, 0.5];
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.for_each_within(q, 7.5, |id, _| x.push(id));
            b.for_each_within(q, 7.5, |id, _| y.push(id));
            x.sort_unstable();
            y.sort_unstable();
            assert_eq!(x, y);
        }
    }

    fn brute(points: &[(u32, [f32; 3])], q: [f32; 3], r: f32) -> Vec<u32> {
        let mut v: Vec<u32> = points
            .iter()
            .filter(|(_, p)| dist2(p, &q) <= r * r)
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn many_points_on_one_coordinate_are_fine() {
        let mut idx = PointIndex::new(0.05);
        for id in 0..2000 {
            idx.upsert(id, [1.0, 1.0, 1.0]);
        }
        assert_eq!(idx.within([1.0, 1.0, 1.0], 0.0).len(), 2000);
    }

    #[test]
    fn moves_and_removals_are_seen_by_queries() {
        let mut idx = PointIndex::new(0.1);
        for id in 0..1000u32 {
            idx.upsert(id, [id as f32, 0.0, 0.0]);
        }
        idx.upsert(5, [5.05, 0.0, 0.0]); // within slack
        idx.upsert(6, [500.5, 0.0, 0.0]); // far move
        idx.remove(7);
        idx.upsert(8, [f32::NAN, 0.0, 0.0]);
        assert!(!idx.contains(8));
        let near5: Vec<u32> = idx
            .within([5.05, 0.0, 0.0], 0.01)
            .iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(near5, vec![5]);
        let near6: Vec<u32> = idx
            .within([6.0, 0.0, 0.0], 0.4)
            .iter()
            .map(|h| h.0)
            .collect();
        assert!(near6.is_empty());
        let far6: Vec<u32> = idx
            .within([500.5, 0.0, 0.0], 0.01)
            .iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(far6, vec![6]);
        assert!(idx.within([7.0, 0.0, 0.0], 0.1).is_empty());
        assert!(!idx.contains(7));
    }

    #[test]
    fn maintain_compacts_a_queried_static_index() {
        let mut idx = PointIndex::new(0.0);
        for id in 0..5000u32 {
            idx.upsert(id, [id as f32, 0.0, 0.0]);
        }
        assert!(idx.level_count() > 1);
        idx.maintain();
        assert!(idx.level_count() > 1, "no queries yet: nothing to gain");
        for q in 0..5000u32 {
            idx.for_each_within([q as f32, 0.0, 0.0], 0.5, |_, _| {});
        }
        idx.maintain();
        assert_eq!(idx.level_count(), 1);
        assert_eq!(idx.within([42.0, 0.0, 0.0], 0.1).len(), 1);
    }

    #[test]
    fn queries_reach_ids_moved_within_the_slack_and_compaction_drops_the_extra_reach() {
        let mut idx = PointIndex::new(0.05);
        idx.bulk_load([(0, [0.0, 0.0, 0.0]), (1, [5.0, 5.0, 0.0])]);
        assert_eq!(idx.max_offset_m, 0.0);
        // A small move stays in the tree at its old spot: 1.03 m from the query, 1.0 m now.
        idx.upsert(0, [0.03, 0.0, 0.0]);
        assert!((idx.max_offset_m - 0.03).abs() < 1e-6);
        assert_eq!(idx.level_count(), 1);
        let ids = |idx: &PointIndex| -> Vec<u32> {
            idx.within([1.03, 0.0, 0.0], 1.0)
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        assert_eq!(ids(&idx), vec![0]);
        idx.compact();
        assert_eq!(idx.max_offset_m, 0.0);
        assert_eq!(ids(&idx), vec![0]);
        // Just out of reach.
        idx.upsert(0, [0.0, 0.0, 0.0]);
        assert!(idx.within([1.03, 0.0, 0.0], 1.0).is_empty());
    }

    #[test]
    fn compaction_leaves_every_id_clean_and_changes_make_ids_dirty() {
        let mut idx = PointIndex::new(0.1);
        for id in 0..3000u32 {
            idx.upsert(id, [id as f32 * 0.01, 0.0, 0.0]);
        }
        idx.upsert(10, [0.12, 0.0, 0.0]); // within slack: current position moves
        idx.upsert(20, [50.0, 0.0, 0.0]); // re-indexed
        idx.remove(30);
        assert!(idx.is_dirty(10) && idx.is_dirty(20) && idx.is_dirty(30));
        assert!(!idx.is_dirty(40), "a new id is indexed where it is");
        idx.compact();
        assert!((0..3000).all(|id| !idx.is_dirty(id)));
        // Queries answered from the tree entries alone see the compacted positions.
        assert_eq!(idx.within([0.12, 0.0, 0.0], 0.001).len(), 2); // ids 10 and 12
        assert_eq!(idx.within([50.0, 0.0, 0.0], 0.001)[0].0, 20);
        assert!(idx.within([0.3, 0.0, 0.0], 0.001).is_empty());
        idx.upsert(10, [0.13, 0.0, 0.0]);
        assert!(idx.is_dirty(10));
    }

    #[test]
    fn compact_keeps_everything_live() {
        let mut idx = PointIndex::new(0.0);
        let mut pts = Vec::new();
        for id in 0..3000u32 {
            let p = [(id % 17) as f32, (id % 13) as f32, (id % 7) as f32];
            idx.upsert(id, p);
            pts.push((id, p));
        }
        for id in (0..3000u32).step_by(3) {
            idx.remove(id);
        }
        pts.retain(|(id, _)| id % 3 != 0);
        idx.compact();
        assert_eq!(idx.level_count(), 1);
        let q = [8.0, 6.0, 3.0];
        let mut got: Vec<u32> = idx.within(q, 2.5).iter().map(|h| h.0).collect();
        got.sort_unstable();
        assert_eq!(got, brute(&pts, q, 2.5));
    }
}
