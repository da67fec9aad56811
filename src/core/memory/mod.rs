//! The memory: turns pose updates and keyframe observations into scene-graph changes and events.
//!
//! Owns [`Memory`] and the ingest path: validation, data association through the k-d tree
//! (label-compatible, size-aware gates, one-to-one), robust position updates, confirmation of
//! tentative objects, change detection against the camera frustum and depth image (missing,
//! reappeared, moved by re-identification), merging of duplicates, places from the trajectory,
//! and incremental `on` / `in` / `near` relations. Queries live in `core::query`.
//!
//! This file holds the state, the accessors and the ingest orchestration; the steps live in:
//! - `association`: detections into the map frame, gating, assignment, sightings;
//! - `changes`: expected-but-unseen objects, missing / reappeared / moved, confirmation,
//!   re-identification, duplicate merging;
//! - `graph`: places, captions, the label index, text embeddings, relations;
//! - `twins`: count evidence on look-alike pairs seen as one (which of two twins is gone).

mod association;
mod changes;
mod forget;
mod graph;
mod twins;

pub use forget::{Forget, ForgetReport};
pub use twins::TwinDeficit;

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

use super::config::MemoryConfig;
use super::embed::Embedder;
use super::episodic::{CaptionRecord, Event, EventKind, EventLog, EventLogParts};
use super::error::CoreError;
use super::fast_hash::FastMap;
use super::geometry::{isometry_is_finite, point_is_finite, to_f32, vector_is_finite, yaw_rad};
use super::ids::{EventId, ObjectId, PlaceId, PlacementId};
use super::label::Label;
use super::label_index::{LabelIndex, Membership};
use super::observation::{DetectionFrame, Observation, PoseUpdate};
use super::scene_graph::{
    max_extent, relation_between, BoxShape, MemoryObject, ObjectState, Place, Placement, Relation,
};
use super::spatial_index::PointIndex;
use super::time::{StampNs, TimeWindow};

/// Largest object extent accepted, m; larger detections are rejected as implausible.
pub const MAX_OBJECT_EXTENT_M: f64 = 10.0;
/// Movement of an object (m) that triggers recomputation of its relations.
const RELATION_UPDATE_M: f64 = 0.02;
/// Slack of the object index: position updates below this do not touch the trees.
const INDEX_SLACK_M: f32 = 0.05;
/// Objects remembered as seen together with one object (bounded).
const MAX_DISTINCT: usize = 16;
/// Places remembered per object as viewpoints it was detected from (bounded).
const MAX_SEEN_FROM: usize = 32;

/// Why one detection of an observation was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Label empty after trimming.
    EmptyLabel,
    /// Position NaN, infinite, or beyond 1e6 m.
    NonFinitePosition,
    /// Extent NaN, infinite, negative or larger than [`MAX_OBJECT_EXTENT_M`].
    BadExtent,
    /// Score NaN, <= 0 or > 1.
    BadScore,
}

/// What one ingest call did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Detections used.
    pub accepted: usize,
    /// Detections refused, by index in the observation.
    pub rejected: Vec<(usize, RejectReason)>,
    /// Ids of the events this call appended, in order (`first..end`).
    pub first_event: u64,
    /// One past the last event appended.
    pub end_event: u64,
}

/// Counters over the memory's lifetime (for diagnostics and benches).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestStats {
    /// Keyframes ingested.
    pub keyframes: u64,
    /// Pose updates ingested.
    pub poses: u64,
    /// Detections used.
    pub detections: u64,
    /// Detections refused.
    pub detections_rejected: u64,
    /// Observations or poses refused whole.
    pub inputs_rejected: u64,
    /// Objects created (tentative included).
    pub objects_created: u64,
    /// Tentative objects dropped as false positives.
    pub false_positives_dropped: u64,
    /// Duplicates merged.
    pub duplicates_merged: u64,
    /// Missing objects re-identified elsewhere.
    pub reidentified: u64,
    /// Re-identifications retracted: the object was seen again where it had been, moments
    /// after it was taken for a newcomer elsewhere; or the newcomer's next sightings looked
    /// unlike the object and like the newcomer's first one (a look-alike put down there).
    #[serde(default)]
    pub links_retracted: u64,
    /// Re-identifications handed on: a look-alike newcomer had been taken for a moved object,
    /// and another newcomer, seen within `reid_window_s`, looked much more like it; or another
    /// object, found gone within `reid_window_s`, looked more like the newcomer.
    #[serde(default)]
    pub links_handed_on: u64,
}

/// A detection after validation, in the map frame.
struct WorldDetection {
    label: Label,
    group: u32,
    score: f32,
    position_world: Point3<f64>,
    extent_m: Vector3<f64>,
    depth_m: f64,
    text: Option<String>,
    embedding: Option<Vec<f32>>,
}

/// The groups [`Memory::index_objects`] derives from the objects' label votes.
struct GroupsBulk {
    /// Every label an object voted for, with the group of the first object voting for it.
    first_group: FastMap<Label, u32>,
    /// One past the largest group of an object.
    next_group: u32,
}

/// Caches of missing and recent objects per group, derived beside the label index.
struct ByGroupBulk {
    /// (group, object) of every missing object.
    missing: Vec<(u32, ObjectId)>,
    /// Re-identification candidates per group (see `Memory::recent_by_group`).
    recent_by_group: Vec<(u32, BTreeSet<(StampNs, ObjectId)>)>,
}

/// Groups: the group of the first object voting for each label (one hash lookup per vote).
fn groups_in_bulk(objects: &[MemoryObject]) -> GroupsBulk {
    let mut first_group: FastMap<&str, u32> = FastMap::default();
    let mut next_group = 0;
    for o in objects {
        for label in o.label_votes.keys() {
            first_group.entry(label).or_insert(o.group);
        }
        next_group = next_group.max(o.group.saturating_add(1));
    }
    GroupsBulk {
        first_group: first_group
            .into_iter()
            .map(|(label, group)| (Label::new(label), group))
            .collect(),
        next_group,
    }
}

/// The missing objects and the re-identification candidates of each group.
fn by_group_in_bulk(objects: &[MemoryObject]) -> ByGroupBulk {
    let missing = objects
        .iter()
        .filter(|o| !o.retired && o.state == ObjectState::Missing)
        .map(|o| (o.group, o.id))
        .collect();
    // Sorted once, then each group's set is bulk-built (a million one-by-one inserts into
    // a few B-trees cost a third of a second).
    let mut keys: Vec<(u32, StampNs, ObjectId)> = objects
        .iter()
        .filter_map(|o| o.reid_key.map(|(g, t)| (g, t, o.id)))
        .collect();
    keys.sort_unstable();
    let recent_by_group = keys
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|k| (k.1, k.2)).collect()))
        .collect();
    ByGroupBulk {
        missing,
        recent_by_group,
    }
}

/// The label index [`Memory::from_parts`] derives on a thread of its own.
struct LabelBulk {
    index: LabelIndex,
    /// Reportable objects with a text (their embeddings are computed afterwards).
    with_text: Vec<ObjectId>,
}

/// The label index of saved objects, built in one pass.
fn label_index_in_bulk(objects: &[MemoryObject]) -> LabelBulk {
    let index =
        LabelIndex::from_members(objects.iter().filter_map(|o| Some((o.id, membership(o)?))));
    let with_text = objects
        .iter()
        .filter(|o| o.is_reportable() && o.text.is_some())
        .map(|o| o.id)
        .collect();
    LabelBulk { index, with_text }
}

/// What [`Memory::index_objects`] builds from the objects alone, for
/// [`Memory::from_parts_indexed`]: the object k-d tree, the label index and the relations both
/// ways. Opaque; it records what it was built from (counts and relation reach) so that
/// indexes of other objects are noticed.
pub struct ObjectIndexes {
    n_obj: usize,
    anchors: usize,
    reach_m: f64,
    object_index: PointIndex,
    groups: GroupsBulk,
    labels: LabelBulk,
    by_group: ByGroupBulk,
    relations: BTreeSet<Relation>,
    rev: BTreeSet<ReverseRelation>,
}

impl std::fmt::Debug for ObjectIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectIndexes")
            .field("objects", &self.n_obj)
            .field("relations", &self.relations.len())
            .finish_non_exhaustive()
    }
}

/// A scoped thread's result (its panic, if any, goes on in the caller: only a bug panics).
pub(crate) fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match handle.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Search radius that finds every possible relation partner, m.
fn relation_reach_m(config: &MemoryConfig, max_extent_seen_m: f64) -> f64 {
    config.near_relation_m.max(max_extent_seen_m) + config.on_tolerance_m
}

/// Everything a memory is, as plain data: what only its history determines. Every index and
/// cache (k-d trees, label index, relations, groups, per-object event lists) is derived again
/// by [`Memory::from_parts`]. A store saves these; restoring them continues exactly where the
/// memory left off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryParts {
    /// All objects, retired ones included, in id order.
    pub objects: Vec<MemoryObject>,
    /// All placements, in id order.
    pub placements: Vec<Placement>,
    /// All places, in id order.
    pub places: Vec<Place>,
    /// The event log as far as it is in RAM (a store keeps evicted events).
    pub log: EventLogParts,
    /// Per object, the position its relations were last computed from.
    pub relation_anchors: Vec<Point3<f64>>,
    /// New objects waiting for a re-identification, with their deadline.
    pub pending_reid: Vec<(ObjectId, StampNs)>,
    /// Largest detection extent seen, m.
    pub max_extent_seen_m: f64,
    /// Latest stamp ingested.
    pub latest_stamp_ns: Option<StampNs>,
    /// The place the robot is in.
    pub current_place: Option<PlaceId>,
    /// Lifetime counters.
    pub stats: IngestStats,
    /// The newest keyframe stamp and the fingerprints of the keyframes ingested at it
    /// ([`Observation::fingerprint`]): a repeat after a restart is recognised too.
    #[serde(default)]
    pub recent_keyframes: (StampNs, Vec<u64>),
    /// Objects in a run of missed views, with the first keyframe of the run, ids increasing.
    #[serde(default)]
    pub missed_since: Vec<(ObjectId, StampNs)>,
    /// Missing objects whose spot was seen empty on a later visit than the one that found
    /// them gone, with the number of such views and the last of them, ids increasing (see
    /// [`Memory::absent_views`]).
    #[serde(default)]
    pub absent_views: Vec<(ObjectId, u32, StampNs)>,
    /// Per object (by index), the running mean of the squared distance between its sightings
    /// and the estimate each one updated, m² (what [`Memory::sighting_scatter_m`] reports);
    /// objects past the end of a shorter list (parts from before it existed) have none yet.
    #[serde(default)]
    pub sighting_scatter_m2: Vec<f32>,
    /// Look-alike pairs in view together and seen as one, with the evidence on which of them
    /// is gone (see [`TwinDeficit`]), pairs increasing.
    #[serde(default)]
    pub twin_deficits: Vec<(ObjectId, ObjectId, TwinDeficit)>,
}

/// What changed since the last [`Memory::take_changes`]: the rows a store must rewrite. Events
/// and captions are append-only (or erased by [`Memory::forget`]) and tracked by id instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Objects whose data, relation anchor or relations (as subject) changed, sorted.
    pub objects: Vec<ObjectId>,
    /// Objects whose relations as subject may have changed (a subset of `objects`), sorted: a
    /// store rewrites their relation rows, and only theirs.
    pub relations: Vec<ObjectId>,
    /// Placements created or changed, sorted.
    pub placements: Vec<PlacementId>,
    /// Places created or changed, sorted.
    pub places: Vec<PlaceId>,
}

impl ChangeSet {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.placements.is_empty() && self.places.is_empty()
    }
}

/// A set of arena slots marked as changed: O(1) marking, no duplicates.
#[derive(Debug, Default)]
struct Marks {
    list: Vec<u32>,
    marked: Vec<bool>,
}

impl Marks {
    fn touch(&mut self, i: u32) {
        let at = i as usize;
        if self.marked.len() <= at {
            self.marked.resize(at + 1, false);
        }
        if !self.marked[at] {
            self.marked[at] = true;
            self.list.push(i);
        }
    }

    fn take(&mut self) -> Vec<u32> {
        let mut list = std::mem::take(&mut self.list);
        for i in &list {
            self.marked[*i as usize] = false;
        }
        list.sort_unstable();
        list
    }
}

/// Changed-row tracking for stores.
#[derive(Debug, Default)]
struct Dirty {
    objects: Marks,
    relations: Marks,
    placements: Marks,
    places: Marks,
}

/// Where a memory finds the events it evicted from RAM (a store implements it; the core only
/// defines the seam). Queries whose window reaches before [`EventLog::evicted_before_ns`] ask it.
pub trait ColdEvents {
    /// Events recorded in `window` (inclusive), ids increasing; with `objects`, only those whose
    /// `object` is in the list (sorted).
    ///
    /// # Errors
    /// [`CoreError::Cold`] when the store cannot be read.
    fn recorded_in(
        &self,
        window: &TimeWindow,
        objects: Option<&[ObjectId]>,
    ) -> Result<Vec<Event>, CoreError>;

    /// The change events (see [`EventKind::is_change`]) recorded in `window` (inclusive), ids
    /// increasing.
    ///
    /// # Errors
    /// [`CoreError::Cold`] when the store cannot be read.
    fn changes_recorded_in(&self, window: &TimeWindow) -> Result<Vec<Event>, CoreError>;

    /// One caption by index.
    ///
    /// # Errors
    /// [`CoreError::Cold`] when the store cannot be read.
    fn caption(&self, index: u32) -> Result<Option<super::episodic::CaptionRecord>, CoreError>;
}

/// The objects around the camera's view for one keyframe, found by one radius search: association,
/// change detection and duplicate and relation checks of that keyframe all search inside it
/// instead of walking the k-d trees again (queries whose ball does not fit fall back to the
/// trees, so results are exact). Distances use current positions; objects created during the
/// keyframe are added.
#[derive(Debug)]
struct Neighborhood {
    center: [f32; 3],
    radius_m: f32,
    ids: Vec<u32>,
}

/// Keyframe fingerprints kept for the newest stamp (several cameras may report the same
/// instant).
const MAX_KEYFRAMES_PER_STAMP: usize = 32;

/// The spatio-temporal memory.
pub struct Memory {
    pub(crate) config: MemoryConfig,
    pub(crate) embedder: Box<dyn Embedder>,
    pub(crate) objects: Vec<MemoryObject>,
    pub(crate) object_events: Vec<Vec<EventId>>,
    pub(crate) placements: Vec<Placement>,
    pub(crate) places: Vec<Place>,
    /// Relations ordered by subject.
    pub(crate) relations: BTreeSet<Relation>,
    /// The same relations keyed `(object, kind, subject)`, to find those pointing at an object.
    relations_rev: BTreeSet<ReverseRelation>,
    relation_anchor: Vec<Point3<f64>>,
    pub(crate) log: EventLog,
    /// Every non-retired object at its current (or, if missing, last) position.
    pub(crate) object_index: PointIndex,
    /// Closed placements.
    pub(crate) closed_index: PointIndex,
    place_index: PointIndex,
    /// Reportable objects per label, in `Where` order.
    pub(crate) label_index: LabelIndex,
    /// Embedding per label that has (had) reportable objects.
    pub(crate) label_embeddings: BTreeMap<String, Vec<f32>>,
    /// Embedding of each object's OCR text.
    pub(crate) text_embeddings: BTreeMap<ObjectId, Vec<f32>>,
    /// Label -> compatibility group.
    /// Lookups only, hence a hash map.
    groups: FastMap<Label, u32>,
    next_group: u32,
    /// Missing objects per group, for re-identification.
    missing_by_group: BTreeMap<u32, BTreeSet<ObjectId>>,
    /// Per group, no earlier than the latest `missing_since_ns` of its missing objects (a
    /// quick test that none went missing after some stamp).
    latest_missing_by_group: BTreeMap<u32, StampNs>,
    /// Never-moved objects per group by first sighting, for re-identification: confirmed
    /// ones, tentative tracks, and tentative tracks with an appearance dropped as false
    /// positives ([`Memory::drop_tentative`]).
    recent_by_group: BTreeMap<u32, BTreeSet<(StampNs, ObjectId)>>,
    /// Objects near the camera during the keyframe being ingested (see [`Neighborhood`]).
    neighborhood: Option<Neighborhood>,
    /// The last neighbourhood's id list, kept for the next keyframe (no allocation per keyframe).
    nb_spare: Vec<u32>,
    /// Generation of the current neighbourhood, and per object the generation it was last
    /// enrolled in (O(1) membership without a per-keyframe set).
    nb_generation: u32,
    nb_mark: Vec<u32>,
    /// New objects waiting (until the stamp) for a re-identification from the same sweep.
    pending_reid: BTreeMap<ObjectId, StampNs>,
    pub(crate) max_extent_seen_m: f64,
    latest_stamp_ns: Option<StampNs>,
    /// Fingerprints of the keyframes ingested at the newest keyframe stamp, with that stamp: a
    /// keyframe delivered twice is refused, not counted twice.
    recent_keyframes: (StampNs, Vec<u64>),
    /// Objects in a run of missed views (`MemoryObject::missed_views` > 0), with the run's first
    /// keyframe: when each was first found gone, which bounds how long before that the new
    /// place of a move may have been seen.
    pub(crate) missed_since: BTreeMap<ObjectId, StampNs>,
    /// Missing objects whose spot was in view (unoccluded, from a place they were seen from)
    /// with nothing of their kind there, on a later visit than the one that found them gone:
    /// the number of such keyframes (up to `missing_after_views`) and the last of them.
    pub(crate) absent_views: BTreeMap<ObjectId, (u32, StampNs)>,
    /// Look-alike pairs (lower id first) in view together and seen as one, with the evidence
    /// on which of them is gone (`twins`).
    twin_deficits: BTreeMap<(ObjectId, ObjectId), TwinDeficit>,
    /// Per object (by index): mean squared distance of its sightings from its estimate, m².
    sighting_scatter_m2: Vec<f32>,
    current_place: Option<PlaceId>,
    pub(crate) stats: IngestStats,
    /// Rows changed since the last `take_changes`.
    dirty: Dirty,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("objects", &self.objects.len())
            .field("places", &self.places.len())
            .field("events", &self.log.len())
            .finish()
    }
}

/// A relation keyed by its object: `(object, kind, subject)`.
type ReverseRelation = (ObjectId, super::scene_graph::RelationKind, ObjectId);

/// `items` stably ordered by `key` (each key `< buckets`): a counting sort, linear in
/// `items.len() + buckets`.
fn bucket_sorted<T: Copy>(items: &[T], buckets: usize, key: impl Fn(&T) -> usize) -> Vec<T> {
    let mut next = vec![0usize; buckets + 1];
    for item in items {
        next[key(item) + 1] += 1;
    }
    for i in 1..next.len() {
        next[i] += next[i - 1];
    }
    let mut out = items.to_vec();
    for item in items {
        let slot = &mut next[key(item)];
        out[*slot] = *item;
        *slot += 1;
    }
    out
}

/// Relations sorted (subject, kind, object), and their reverse keys `(object, kind, subject)`
/// sorted: two passes of a stable counting sort for the first and one for the second, instead
/// of comparison sorts of millions of relations when a memory is loaded. Falls back to
/// comparison sorts if a relation names an object at or past `n_obj`.
fn sorted_both_ways(
    relations: Vec<Relation>,
    n_obj: usize,
) -> (Vec<Relation>, Vec<ReverseRelation>) {
    use super::scene_graph::RelationKind;
    const KINDS: usize = 3;
    let kind_index = |k: RelationKind| match k {
        RelationKind::On => 0,
        RelationKind::In => 1,
        RelationKind::Near => 2,
    };
    let reversed = |r: &Relation| (r.object, r.kind, r.subject);
    if relations
        .iter()
        .any(|r| r.object.index() >= n_obj || r.subject.index() >= n_obj)
    {
        let mut forward = relations;
        forward.sort_unstable();
        let mut rev: Vec<_> = forward.iter().map(reversed).collect();
        rev.sort_unstable();
        return (forward, rev);
    }
    let buckets = n_obj * KINDS;
    let by_object = bucket_sorted(&relations, n_obj, |r| r.object.index());
    drop(relations);
    let forward = bucket_sorted(&by_object, buckets, |r| {
        r.subject.index() * KINDS + kind_index(r.kind)
    });
    drop(by_object);
    let rev = bucket_sorted(&forward, buckets, |r| {
        r.object.index() * KINDS + kind_index(r.kind)
    })
    .iter()
    .map(reversed)
    .collect();
    (forward, rev)
}

impl Memory {
    /// A new, empty memory.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] when the config does not validate.
    pub fn new(config: MemoryConfig, embedder: Box<dyn Embedder>) -> Result<Self, CoreError> {
        config.validate()?;
        let mut groups = FastMap::default();
        let mut next_group = 0;
        for group in &config.compatible_labels {
            for label in group {
                groups.insert(normalized_label(label), next_group);
            }
            next_group += 1;
        }
        Ok(Self {
            config,
            embedder,
            objects: Vec::new(),
            object_events: Vec::new(),
            placements: Vec::new(),
            places: Vec::new(),
            relations: BTreeSet::new(),
            relations_rev: BTreeSet::new(),
            relation_anchor: Vec::new(),
            log: EventLog::default(),
            object_index: PointIndex::new(INDEX_SLACK_M),
            closed_index: PointIndex::new(0.0),
            place_index: PointIndex::new(0.0),
            label_index: LabelIndex::default(),
            label_embeddings: BTreeMap::new(),
            text_embeddings: BTreeMap::new(),
            groups,
            next_group,
            missing_by_group: BTreeMap::new(),
            latest_missing_by_group: BTreeMap::new(),
            recent_by_group: BTreeMap::new(),
            neighborhood: None,
            nb_spare: Vec::new(),
            nb_generation: 0,
            nb_mark: Vec::new(),
            pending_reid: BTreeMap::new(),
            max_extent_seen_m: 0.0,
            latest_stamp_ns: None,
            recent_keyframes: Default::default(),
            missed_since: BTreeMap::new(),
            absent_views: BTreeMap::new(),
            twin_deficits: BTreeMap::new(),
            sighting_scatter_m2: Vec::new(),
            current_place: None,
            stats: IngestStats::default(),
            dirty: Dirty::default(),
        })
    }

    /// The memory's essential state as plain data (see [`MemoryParts`]).
    pub fn to_parts(&self) -> MemoryParts {
        MemoryParts {
            objects: self.objects.clone(),
            placements: self.placements.clone(),
            places: self.places.clone(),
            log: self.log.to_parts(),
            relation_anchors: self.relation_anchor.clone(),
            pending_reid: self.pending_reid.iter().map(|(id, t)| (*id, *t)).collect(),
            max_extent_seen_m: self.max_extent_seen_m,
            latest_stamp_ns: self.latest_stamp_ns,
            current_place: self.current_place,
            stats: self.stats.clone(),
            recent_keyframes: self.recent_keyframes.clone(),
            missed_since: self.missed_since.iter().map(|(id, t)| (*id, *t)).collect(),
            absent_views: self
                .absent_views
                .iter()
                .map(|(id, (n, t))| (*id, *n, *t))
                .collect(),
            sighting_scatter_m2: self.sighting_scatter_m2.clone(),
            twin_deficits: self.twin_deficits(),
        }
    }

    /// Rebuilds a memory from its parts: validates them, then derives every index and cache.
    /// The result behaves exactly as the memory the parts came from (same answers, and the same
    /// digest after the same further inputs).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for a bad config; [`CoreError::InvalidParts`] when ids are
    /// out of order or a reference dangles.
    pub fn from_parts(
        config: MemoryConfig,
        embedder: Box<dyn Embedder>,
        parts: MemoryParts,
    ) -> Result<Self, CoreError> {
        let indexes = Self::index_objects(
            &config,
            &parts.objects,
            &parts.relation_anchors,
            parts.max_extent_seen_m,
        );
        Self::from_parts_indexed(config, embedder, parts, indexes)
    }

    /// What [`Memory::from_parts`] derives from the objects alone (the object k-d tree, the
    /// label index and the relations, the bulk of its work), built ahead: a store builds them
    /// while it still reads the event log, then passes them to [`Memory::from_parts_indexed`]
    /// with the same objects, relation anchors and `max_extent_seen_m` (indexes of other
    /// objects with the same count are not detected: the caller keeps them together). Runs
    /// on several threads (the relation sweep on every core).
    pub fn index_objects(
        config: &MemoryConfig,
        objects: &[MemoryObject],
        relation_anchors: &[Point3<f64>],
        max_extent_seen_m: f64,
    ) -> ObjectIndexes {
        let n_obj = objects.len();
        let reach = relation_reach_m(config, max_extent_seen_m);
        std::thread::scope(|scope| {
            let tree = scope.spawn(move || {
                let mut index = PointIndex::new(INDEX_SLACK_M);
                index.bulk_load(
                    objects
                        .iter()
                        .filter(|o| !o.retired)
                        .map(|o| (o.id.0, to_f32(&o.position_world))),
                );
                (index, groups_in_bulk(objects))
            });
            let labels =
                scope.spawn(move || (label_index_in_bulk(objects), by_group_in_bulk(objects)));
            let relations = graph::relations_in_bulk(objects, relation_anchors, config, reach);
            let (relations, rev) = sorted_both_ways(relations, n_obj);
            // Both come sorted: the sets are bulk-built (the sort inside `collect` only checks).
            let (relations, rev) = std::thread::scope(|inner| {
                let rev = inner.spawn(|| rev.into_iter().collect::<BTreeSet<_>>());
                let set = relations.iter().copied().collect::<BTreeSet<_>>();
                (set, joined(rev))
            });
            let (object_index, groups) = joined(tree);
            let (labels, by_group) = joined(labels);
            ObjectIndexes {
                n_obj,
                anchors: relation_anchors.len(),
                reach_m: reach,
                object_index,
                groups,
                labels,
                by_group,
                relations,
                rev,
            }
        })
    }

    /// [`Memory::from_parts`] with the indexes [`Memory::index_objects`] built from
    /// `parts.objects`, `parts.relation_anchors` and `parts.max_extent_seen_m` under `config`.
    /// Indexes that visibly belong to other objects (another count or relation reach) are
    /// built again rather than trusted.
    ///
    /// # Errors
    /// As [`Memory::from_parts`].
    pub fn from_parts_indexed(
        config: MemoryConfig,
        embedder: Box<dyn Embedder>,
        parts: MemoryParts,
        indexes: ObjectIndexes,
    ) -> Result<Self, CoreError> {
        let mut m = Self::new(config, embedder)?;
        let bad = |reason: String| Err(CoreError::InvalidParts { reason });
        let (n_obj, n_pl, n_places) = (
            parts.objects.len(),
            parts.placements.len(),
            parts.places.len(),
        );
        if parts.relation_anchors.len() != n_obj {
            return bad(format!(
                "{} relation anchors for {n_obj} objects",
                parts.relation_anchors.len()
            ));
        }
        for (i, o) in parts.objects.iter().enumerate() {
            if o.id.index() != i {
                return bad(format!("object {i} has id {}", o.id));
            }
            if o.place.index() >= n_places && !o.retired {
                return bad(format!("object {i} is in unknown place {}", o.place));
            }
            if o.placements.iter().any(|p| p.index() >= n_pl)
                || o.merged_into.is_some_and(|t| t.index() >= n_obj)
            {
                return bad(format!(
                    "object {i} references a missing placement or object"
                ));
            }
            if !(crate::core::geometry::point_is_finite(&o.position_world) || o.retired) {
                return bad(format!("object {i} has a non-finite position"));
            }
        }
        for (i, p) in parts.placements.iter().enumerate() {
            if p.id.index() != i || p.object.index() >= n_obj {
                return bad(format!(
                    "placement {i} has id {} / object {}",
                    p.id, p.object
                ));
            }
        }
        for (i, p) in parts.places.iter().enumerate() {
            if p.id.index() != i {
                return bad(format!("place {i} has id {}", p.id));
            }
        }
        if parts.log.events.iter().any(|e| {
            e.object.is_some_and(|o| o.index() >= n_obj)
                || e.place.is_some_and(|p| p.index() >= n_places)
        }) {
            return bad("an event references a missing object or place".to_string());
        }
        if parts.current_place.is_some_and(|p| p.index() >= n_places)
            || parts.pending_reid.iter().any(|c| c.0.index() >= n_obj)
            || parts.missed_since.iter().any(|c| c.0.index() >= n_obj)
            || parts.absent_views.iter().any(|c| c.0.index() >= n_obj)
            || parts
                .twin_deficits
                .iter()
                .any(|(a, b, _)| a.index() >= n_obj || b.index() >= n_obj || a >= b)
        {
            return bad("a reference past the objects or places".to_string());
        }
        if parts.sighting_scatter_m2.len() > n_obj
            || parts
                .sighting_scatter_m2
                .iter()
                .any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return bad("sighting scatter past the objects, negative or not finite".to_string());
        }
        let indexes = if indexes.n_obj == n_obj
            && indexes.anchors == parts.relation_anchors.len()
            && indexes.reach_m == relation_reach_m(&m.config, parts.max_extent_seen_m)
        {
            indexes
        } else {
            Self::index_objects(
                &m.config,
                &parts.objects,
                &parts.relation_anchors,
                parts.max_extent_seen_m,
            )
        };
        m.log = EventLog::from_parts(parts.log)?;
        m.objects = parts.objects;
        m.placements = parts.placements;
        m.places = parts.places;
        m.relation_anchor = parts.relation_anchors;
        m.max_extent_seen_m = parts.max_extent_seen_m;
        m.latest_stamp_ns = parts.latest_stamp_ns;
        m.current_place = parts.current_place;
        m.stats = parts.stats;
        m.recent_keyframes = parts.recent_keyframes;
        m.missed_since = parts.missed_since.into_iter().collect();
        m.absent_views = parts
            .absent_views
            .into_iter()
            .map(|(id, n, t)| (id, (n, t)))
            .collect();
        m.twin_deficits = parts
            .twin_deficits
            .into_iter()
            .map(|(a, b, d)| ((a, b), d))
            .collect();
        m.sighting_scatter_m2 = parts.sighting_scatter_m2;
        m.sighting_scatter_m2.resize(n_obj, 0.0);
        m.pending_reid = parts.pending_reid.into_iter().collect();
        // The rest of the derived state, in bulk (one sorted build per structure instead of
        // one insert per item): the place and closed-placement k-d trees beside the per-object
        // event lists.
        let mut place_index = std::mem::replace(&mut m.place_index, PointIndex::new(0.0));
        let mut closed_index = std::mem::replace(&mut m.closed_index, PointIndex::new(0.0));
        let (place_index, closed_index, object_events) = std::thread::scope(|scope| {
            let m = &m;
            let trees = scope.spawn(move || {
                place_index.bulk_load(m.places.iter().map(|p| (p.id.0, to_f32(&p.center_world))));
                closed_index.bulk_load(
                    m.placements
                        .iter()
                        .filter(|p| p.closed_at_ns.is_some())
                        .map(|p| (p.id.0, to_f32(&p.position_world))),
                );
                (place_index, closed_index)
            });
            let object_events = m.object_events_in_bulk();
            let (place_index, closed_index) = joined(trees);
            (place_index, closed_index, object_events)
        });
        let ObjectIndexes {
            object_index,
            groups:
                GroupsBulk {
                    first_group,
                    next_group,
                },
            labels:
                LabelBulk {
                    index: label_index,
                    with_text,
                },
            by_group:
                ByGroupBulk {
                    missing,
                    recent_by_group,
                },
            relations,
            rev,
            ..
        } = indexes;
        m.object_index = object_index;
        m.recent_by_group.extend(recent_by_group);
        m.place_index = place_index;
        m.closed_index = closed_index;
        // Configured groups come first.
        for (label, group) in first_group {
            m.groups.entry(label).or_insert(group);
        }
        m.next_group = m.next_group.max(next_group);
        m.object_events = object_events;
        m.nb_mark = vec![0; n_obj];
        for (group, id) in missing {
            m.index_missing(group, id);
        }
        let labels: Vec<Label> = label_index.labels().cloned().collect();
        for label in labels {
            m.ensure_label_embedding(&label);
        }
        m.label_index = label_index;
        for id in with_text {
            m.refresh_text_embedding(id);
        }
        m.relations = relations;
        m.relations_rev = rev;
        // Everything restored is, by definition, stored.
        m.dirty = Dirty::default();
        Ok(m)
    }

    /// Per-object event lists (events of merged duplicates belong to the survivor).
    fn object_events_in_bulk(&self) -> Vec<Vec<EventId>> {
        let mut object_events = vec![Vec::new(); self.objects.len()];
        for e in self.log.events() {
            if let Some(o) = e.object {
                object_events[self.resolve(o).index()].push(e.id);
            }
        }
        object_events
    }

    /// The configuration in force.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// All objects ever created, retired ones included (check [`MemoryObject::is_reportable`]).
    pub fn objects(&self) -> &[MemoryObject] {
        &self.objects
    }

    /// One object.
    pub fn object(&self, id: ObjectId) -> Option<&MemoryObject> {
        self.objects.get(id.index())
    }

    /// Follows `merged_into` links to the object that now stands for `id`.
    pub fn resolve(&self, mut id: ObjectId) -> ObjectId {
        for _ in 0..64 {
            match self.objects.get(id.index()).and_then(|o| o.merged_into) {
                Some(next) => id = next,
                None => break,
            }
        }
        id
    }

    /// Whether `a` and `b` were seen in one keyframe, as far as is known: either lists the
    /// other among the tracks it was seen with, directly or through a track since folded into
    /// the other (a newcomer re-identified, a duplicate absorbed).
    pub(super) fn seen_together(&self, a: ObjectId, b: ObjectId) -> bool {
        let lists = |x: ObjectId, y: ObjectId| {
            self.objects[x.index()]
                .distinct_from
                .iter()
                .any(|d| *d == y || self.resolve(*d) == y)
        };
        lists(a, b) || lists(b, a)
    }

    /// All placements.
    pub fn placements(&self) -> &[Placement] {
        &self.placements
    }

    /// All places.
    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// Current relations, sorted.
    pub fn relations(&self) -> &BTreeSet<Relation> {
        &self.relations
    }

    /// The event log.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Events of one object (including those of duplicates merged into it), in log order.
    pub fn object_events(&self, id: ObjectId) -> &[EventId] {
        self.object_events
            .get(id.index())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Lifetime counters.
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// When the object's current run of missed views began (`None` while it is seen, or was
    /// never expected and missed).
    pub fn missed_since(&self, id: ObjectId) -> Option<StampNs> {
        self.missed_since.get(&id).copied()
    }

    /// How often a missing object's spot was in view (unoccluded, from a place it was seen
    /// from) with nothing of its kind there, on a later visit than the one that found it gone
    /// (`visit_gap_s` on), counted up to `missing_after_views`, and the last keyframe counted;
    /// `None` when never (or it is not missing).
    pub fn absent_views(&self, id: ObjectId) -> Option<(u32, StampNs)> {
        self.absent_views.get(&id).copied()
    }

    /// The keyframe that confirmed a missing object gone on a later visit: the one that found
    /// its spot empty as often since the visit that found it gone as that visit needed
    /// (`missing_after_views`, see [`Memory::absent_views`]). The odds of a run of detector
    /// misses multiply over visits; when the object is seen in place again on a visit later
    /// still, it was gone, and the reappearance starts at this keyframe (it came back after
    /// it).
    pub fn absent_seen(&self, id: ObjectId) -> Option<StampNs> {
        self.absent_views
            .get(&id)
            .filter(|(n, _)| *n >= self.config.missing_after_views)
            .map(|(_, t)| *t)
    }

    /// RMS distance of an object's sightings from the estimate each one updated (running mean
    /// with the position's capped weight), m: how far its detections wander when it stays put.
    /// Zero for an object seen once, and `None` for an unknown id.
    pub fn sighting_scatter_m(&self, id: ObjectId) -> Option<f64> {
        self.sighting_scatter_m2
            .get(id.index())
            .map(|v| f64::from(*v).sqrt())
    }

    /// [`Memory::sighting_scatter_m`] squared, exactly as kept (a store saves this).
    pub fn sighting_scatter_m2(&self, id: ObjectId) -> Option<f32> {
        self.sighting_scatter_m2.get(id.index()).copied()
    }

    /// [`Memory::sighting_scatter_m2`], 0 for an unknown id.
    pub(super) fn scatter_m2_of(&self, id: ObjectId) -> f32 {
        self.sighting_scatter_m2(id).unwrap_or(0.0)
    }

    /// Sets an object's sighting scatter (the caller marks the object changed).
    pub(super) fn set_scatter_m2(&mut self, id: ObjectId, v: f32) {
        if let Some(slot) = self.sighting_scatter_m2.get_mut(id.index()) {
            *slot = v;
        }
    }

    /// The newest keyframe stamp and the fingerprints of the keyframes ingested at it.
    pub fn recent_keyframes(&self) -> &(StampNs, Vec<u64>) {
        &self.recent_keyframes
    }

    /// Latest stamp ingested (poses and keyframes).
    pub fn latest_stamp_ns(&self) -> Option<StampNs> {
        self.latest_stamp_ns
    }

    /// The embedder used for text.
    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    /// Number of reportable objects believed present now.
    pub fn present_object_count(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| o.is_reportable() && o.state.is_present())
            .count()
    }

    /// Compatibility group of a normalised label (labels outside configured groups get their own).
    pub(crate) fn group_of(&mut self, label: &str) -> u32 {
        if let Some(g) = self.groups.get(label) {
            return *g;
        }
        let g = self.next_group;
        self.next_group += 1;
        self.groups.insert(Label::new(label), g);
        g
    }

    /// Puts an object at `position` in the spatial index. During a keyframe the object also
    /// joins the keyframe's neighbourhood, so an object created or relocated there is found by
    /// the keyframe's later searches.
    pub(super) fn index_object(&mut self, id: ObjectId, position: &Point3<f64>) {
        self.object_index.upsert(id.0, to_f32(position));
        if self.nb_mark.len() <= id.index() {
            self.nb_mark.resize(id.index() + 1, 0);
        }
        if let Some(nb) = &mut self.neighborhood {
            if self.nb_mark[id.index()] != self.nb_generation {
                self.nb_mark[id.index()] = self.nb_generation;
                nb.ids.push(id.0);
            }
        }
    }

    /// Enters a missing object in the per-group re-identification set and raises the group's
    /// latest-missing stamp to its `missing_since_ns`.
    pub(super) fn index_missing(&mut self, group: u32, id: ObjectId) {
        self.missing_by_group.entry(group).or_default().insert(id);
        if let Some(since) = self.objects[id.index()].missing_since_ns {
            let latest = self.latest_missing_by_group.entry(group).or_insert(since);
            *latest = (*latest).max(since);
        }
    }

    /// Calls `f(id, squared_distance)` for every indexed object within `radius_m` of `query`,
    /// through the keyframe's neighbourhood when the ball fits inside it.
    pub(super) fn objects_within(
        &self,
        query: [f32; 3],
        radius_m: f32,
        mut f: impl FnMut(u32, f32),
    ) {
        if let Some(nb) = &self.neighborhood {
            let dc = ((query[0] - nb.center[0]).powi(2)
                + (query[1] - nb.center[1]).powi(2)
                + (query[2] - nb.center[2]).powi(2))
            .sqrt();
            if radius_m.is_finite() && radius_m >= 0.0 && dc + radius_m <= nb.radius_m {
                let r2 = radius_m * radius_m;
                for id in &nb.ids {
                    if let Some(p) = self.object_index.position(*id) {
                        let d2 = (p[0] - query[0]).powi(2)
                            + (p[1] - query[1]).powi(2)
                            + (p[2] - query[2]).powi(2);
                        if d2 <= r2 {
                            f(*id, d2);
                        }
                    }
                }
                return;
            }
        }
        self.object_index.for_each_within(query, radius_m, f);
    }

    fn check_stamp(&self, stamp_ns: StampNs) -> Result<(), CoreError> {
        match self.latest_stamp_ns {
            Some(latest) if stamp_ns < latest => Err(CoreError::StampBackwards {
                stamp_ns,
                latest_ns: latest,
            }),
            _ => Ok(()),
        }
    }

    /// Records a caption of a keyframe taken earlier at `stamp_ns` from `world_from_body`
    /// (captioning runs off the ingest path, so its result arrives after newer keyframes).
    /// The caption event keeps the keyframe's time as its start and end and the place nearest
    /// that pose; it is recorded (its log stamp) no earlier than the newest event. Blank text
    /// is ignored.
    ///
    /// # Errors
    /// [`CoreError::NonFinitePose`] for a non-finite pose; the memory is unchanged.
    pub fn add_caption(
        &mut self,
        stamp_ns: StampNs,
        world_from_body: &Isometry3<f64>,
        text: &str,
    ) -> Result<(), CoreError> {
        let t = world_from_body.translation.vector;
        let q = world_from_body.rotation.coords;
        if !(t.iter().all(|v| v.is_finite()) && q.iter().all(|v| v.is_finite())) {
            return Err(CoreError::NonFinitePose {
                field: "world_from_body",
            });
        }
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let here = Point3::new(t.x, t.y, t.z);
        let place = match self.place_for(&here).or(self.current_place) {
            Some(p) => p,
            // No place yet (a caption before any keyframe): the pose founds one.
            None => self.update_place(stamp_ns, world_from_body),
        };
        self.record_caption(text, stamp_ns, world_from_body, place);
        Ok(())
    }

    /// Ingests a robot pose (updates places and the trajectory). Time passes with it: a
    /// newcomer whose wait for re-identification ends by this stamp is resolved now, so a robot
    /// that parks after its patrol and sends only odometry still gets the answer at the deadline.
    ///
    /// # Errors
    /// [`CoreError::StampBackwards`] or [`CoreError::NonFinitePose`]; the memory is unchanged.
    pub fn ingest_pose(&mut self, pose: &PoseUpdate) -> Result<(), CoreError> {
        let checked = self.check_stamp(pose.stamp_ns).and_then(|()| {
            if isometry_is_finite(&pose.world_from_body) {
                Ok(())
            } else {
                Err(CoreError::NonFinitePose {
                    field: "world_from_body",
                })
            }
        });
        if let Err(e) = checked {
            self.stats.inputs_rejected += 1;
            return Err(e);
        }
        self.latest_stamp_ns = Some(pose.stamp_ns);
        self.stats.poses += 1;
        self.resolve_pending_reid(pose.stamp_ns);
        self.update_place(pose.stamp_ns, &pose.world_from_body);
        Ok(())
    }

    /// Ingests one keyframe.
    ///
    /// # Errors
    /// [`CoreError::StampBackwards`], [`CoreError::DuplicateKeyframe`] (equal to one already
    /// ingested at this stamp), [`CoreError::NonFinitePose`] or [`CoreError::InvalidCamera`];
    /// the memory is unchanged. Bad detections do not fail the
    /// call: they are skipped and listed in the report.
    pub fn ingest(&mut self, obs: &Observation) -> Result<IngestReport, CoreError> {
        self.ingest_with(obs, true)
    }

    /// Ingests what a model found on an earlier keyframe (detector boxes, text read by OCR)
    /// after newer keyframes went in: sightings only. Detections are associated, create and
    /// update objects and their visits exactly as in [`Memory::ingest`], but the keyframe is
    /// not evidence of absence (a text reader that saw no mug says nothing about the mug), so
    /// change detection does not run, and its caption (if any) is ignored (see
    /// [`Memory::add_caption`]). The stamp must not be older than the newest input: callers pass
    /// `max(keyframe stamp, latest_stamp_ns)`, which keeps the keyframe's pose and camera.
    ///
    /// # Errors
    /// As [`Memory::ingest`]; the memory is unchanged.
    pub fn ingest_sightings(&mut self, obs: &Observation) -> Result<IngestReport, CoreError> {
        self.ingest_with(obs, false)
    }

    fn ingest_with(
        &mut self,
        obs: &Observation,
        evidence_of_absence: bool,
    ) -> Result<IngestReport, CoreError> {
        if let Err(e) = self.validate_observation(obs) {
            self.stats.inputs_rejected += 1;
            return Err(e);
        }
        // A keyframe delivered twice. Stamps never go backwards, so a repeat has the newest
        // keyframe stamp. (Late sightings are not checked: they carry the newest stamp instead
        // of their keyframe's, so equal sightings of a robot standing still are not repeats.)
        if evidence_of_absence {
            let fingerprint = obs.fingerprint();
            let (stamp_seen, prints) = &mut self.recent_keyframes;
            if *stamp_seen == obs.stamp_ns && prints.contains(&fingerprint) {
                self.stats.inputs_rejected += 1;
                return Err(CoreError::DuplicateKeyframe {
                    stamp_ns: obs.stamp_ns,
                });
            }
            if *stamp_seen != obs.stamp_ns {
                *stamp_seen = obs.stamp_ns;
                prints.clear();
            }
            // Bounded: one per camera at one instant.
            if prints.len() < MAX_KEYFRAMES_PER_STAMP {
                prints.push(fingerprint);
            }
        }
        let first_event = self.log.next_id();
        let stamp = obs.stamp_ns;
        self.latest_stamp_ns = Some(stamp);
        if evidence_of_absence {
            self.stats.keyframes += 1;
        }
        self.resolve_pending_reid(stamp);
        let robot_place = self.update_place(stamp, &obs.world_from_body);

        let mut report = IngestReport::default();
        let camera_from_world = obs.world_from_camera.inverse();
        self.gather_neighborhood(obs);
        let detections = self.world_detections(obs, &camera_from_world, &mut report);
        self.stats.detections += detections.len() as u64;
        self.stats.detections_rejected += report.rejected.len() as u64;
        report.accepted = detections.len();

        let assignment = self.associate(&detections, obs.stamp_ns);
        let mut seen_now: BTreeSet<ObjectId> = BTreeSet::new();
        let mut touched: Vec<ObjectId> = Vec::new();
        // Present objects seen in this keyframe, with their previous last sighting.
        let mut back_after: Vec<(ObjectId, StampNs)> = Vec::new();
        // Every present object seen in this keyframe, tentative ones too, likewise.
        let mut seen_after: Vec<(ObjectId, StampNs)> = Vec::new();
        // Sightings of confirmed present objects, for the twins' count evidence.
        let mut sightings: Vec<twins::Sighting> = Vec::new();
        for (det_index, det) in detections.iter().enumerate() {
            if let association::Assoc::Match(id) | association::Assoc::Shared(id, _) =
                assignment[det_index]
            {
                let o = &self.objects[id.index()];
                if o.is_reportable() && o.state.is_present() {
                    sightings.push(twins::Sighting {
                        id,
                        position_world: det.position_world,
                        depth_m: det.depth_m,
                        previous_seen_ns: o.last_seen_ns,
                    });
                }
            }
            let id = match assignment[det_index] {
                association::Assoc::Match(id) => {
                    let o = &self.objects[id.index()];
                    if o.is_reportable() && o.state.is_present() {
                        back_after.push((id, o.last_seen_ns));
                    }
                    if !o.retired && o.state.is_present() {
                        seen_after.push((id, o.last_seen_ns));
                    }
                    self.observe(id, det, stamp, robot_place);
                    id
                }
                association::Assoc::Shared(a, b) => {
                    // Neither is updated; only the one it fits better is spared a miss, unless
                    // that one is a tentative track: it may be a duplicate of the confirmed
                    // one, and a hypothesis must not charge an established object a miss.
                    seen_now.insert(a);
                    if !self.objects[a.index()].confirmed {
                        seen_now.insert(b);
                    }
                    continue;
                }
                association::Assoc::New => {
                    let id = self.create_object(det, stamp, robot_place);
                    self.try_early_reid(id, stamp);
                    id
                }
                association::Assoc::Refused(other) => {
                    let id = self.create_object(det, stamp, robot_place);
                    // Not the object it was refused to: never merged into it as a duplicate.
                    self.mark_distinct(&[id, other]);
                    self.try_early_reid(id, stamp);
                    id
                }
            };
            seen_now.insert(id);
            touched.push(id);
        }
        self.mark_distinct(&touched);
        let beside_twin = self.born_beside_a_twin(&touched, stamp);
        for id in &touched {
            self.maybe_confirm(*id, stamp, beside_twin.contains(id));
        }
        for (id, previous) in back_after {
            self.rival_seen_again(id, previous, stamp);
        }
        for (id, previous) in seen_after {
            self.missing_duplicate_seen_again(id, previous, stamp);
        }
        if evidence_of_absence {
            let charged =
                self.detect_changes(obs, &camera_from_world, &seen_now, stamp, robot_place);
            self.weigh_twins(&sightings, &charged, stamp);
        }
        for id in &touched {
            // Duplicates arise when a track is born or drifts: check only then.
            let o = &self.objects[id.index()];
            let moved =
                (o.position_world - self.relation_anchor[id.index()]).norm() >= RELATION_UPDATE_M;
            if o.times_seen <= self.config.min_sightings_to_confirm + 1 || moved {
                self.merge_duplicates(*id, &seen_now, stamp);
            }
        }
        if let Some(text) = obs
            .caption
            .as_deref()
            .map(str::trim)
            .filter(|t| evidence_of_absence && !t.is_empty())
        {
            self.record_caption(text, stamp, &obs.world_from_body, robot_place);
        }
        for id in touched {
            self.refresh_relations_if_moved(id);
        }
        if let Some(nb) = self.neighborhood.take() {
            self.nb_spare = nb.ids;
        }
        // Newcomers whose sweep has now checked every look-alike that may have gone missing.
        self.resolve_pending_reid(stamp);
        self.object_index.maintain();
        self.closed_index.maintain();
        self.place_index.maintain();
        report.first_event = first_event;
        report.end_event = self.log.next_id();
        Ok(report)
    }

    /// One radius search around the view frustum's ball covering everything this keyframe can
    /// touch: detections up to the far depth plus noise, their gates, and relation partners.
    fn gather_neighborhood(&mut self, obs: &Observation) {
        let (c, ball_m) = frustum_ball_world(obs);
        let center = [c.x as f32, c.y as f32, c.z as f32];
        let reach = ball_m
            + obs.camera.max_depth_m * self.config.gate_per_depth
            + 2.0 * self.max_extent_seen_m
            + self.config.gate_base_m
            + self.config.near_relation_m
            + self.config.on_tolerance_m
            + 0.5;
        let mut ids = std::mem::take(&mut self.nb_spare);
        ids.clear();
        self.object_index
            .for_each_within(center, reach as f32, |raw, _| ids.push(raw));
        self.nb_generation = self.nb_generation.wrapping_add(1).max(1);
        for id in &ids {
            if let Some(m) = self.nb_mark.get_mut(*id as usize) {
                *m = self.nb_generation;
            }
        }
        self.neighborhood = Some(Neighborhood {
            center,
            radius_m: reach as f32,
            ids,
        });
    }

    fn validate_observation(&self, obs: &Observation) -> Result<(), CoreError> {
        self.check_stamp(obs.stamp_ns)?;
        if !isometry_is_finite(&obs.world_from_body) {
            return Err(CoreError::NonFinitePose {
                field: "world_from_body",
            });
        }
        if !isometry_is_finite(&obs.world_from_camera) {
            return Err(CoreError::NonFinitePose {
                field: "world_from_camera",
            });
        }
        obs.camera.validate()
    }

    pub(super) fn push_event(&mut self, event: Event) -> EventId {
        let object = event.object;
        let id = self.log.append(event);
        if let Some(o) = object {
            if let Some(list) = self.object_events.get_mut(o.index()) {
                list.push(id);
            }
        }
        id
    }

    pub(super) fn object_event(
        &self,
        kind: EventKind,
        obj: &MemoryObject,
        stamp: StampNs,
    ) -> Event {
        Event {
            id: EventId(0),
            stamp_ns: stamp,
            kind,
            object: Some(obj.id),
            place: Some(obj.place),
            start_ns: stamp,
            end_ns: stamp,
            position_world: to_f32(&obj.position_world),
            from_world: None,
            caption: None,
        }
    }

    /// Marks an object's row as changed.
    pub(super) fn touch(&mut self, id: ObjectId) {
        self.dirty.objects.touch(id.0);
    }

    /// Marks an object's row and its relations (as subject) as changed.
    pub(super) fn touch_relations(&mut self, id: ObjectId) {
        self.dirty.objects.touch(id.0);
        self.dirty.relations.touch(id.0);
    }

    /// Marks a placement's row as changed.
    pub(super) fn touch_placement(&mut self, id: PlacementId) {
        self.dirty.placements.touch(id.0);
    }

    /// Marks a place's row as changed.
    pub(super) fn touch_place(&mut self, id: PlaceId) {
        self.dirty.places.touch(id.0);
    }

    /// Makes an object a re-identification candidate of `group` since `since_ns` (replacing
    /// any earlier entry).
    pub(super) fn reid_enroll(&mut self, id: ObjectId, group: u32, since_ns: StampNs) {
        // Enrolled with this very key already (a new object confirmed: it was enrolled when
        // created, since its first sighting): nothing to do.
        if self.objects[id.index()].reid_key == Some((group, since_ns)) {
            return;
        }
        self.reid_withdraw(id);
        self.recent_by_group
            .entry(group)
            .or_default()
            .insert((since_ns, id));
        self.touch(id);
        self.objects[id.index()].reid_key = Some((group, since_ns));
    }

    /// Removes an object from the re-identification candidates.
    pub(super) fn reid_withdraw(&mut self, id: ObjectId) {
        if let Some((g, t)) = self.objects[id.index()].reid_key.take() {
            self.touch(id);
            if let Some(set) = self.recent_by_group.get_mut(&g) {
                set.remove(&(t, id));
            }
        }
    }

    /// The rows changed since the last call (objects, placements, places), and forgets them:
    /// a store calls this when it writes a batch. Events and captions are tracked by id
    /// ([`EventLog::next_id`]).
    pub fn take_changes(&mut self) -> ChangeSet {
        ChangeSet {
            objects: self
                .dirty
                .objects
                .take()
                .into_iter()
                .map(ObjectId)
                .collect(),
            relations: self
                .dirty
                .relations
                .take()
                .into_iter()
                .map(ObjectId)
                .collect(),
            placements: self
                .dirty
                .placements
                .take()
                .into_iter()
                .map(PlacementId)
                .collect(),
            places: self.dirty.places.take().into_iter().map(PlaceId).collect(),
        }
    }

    /// Marks rows as changed again (a store whose write failed gives its batch back, so
    /// nothing is lost and the next write retries it).
    pub fn restore_changes(&mut self, changes: &ChangeSet) {
        for id in &changes.objects {
            self.dirty.objects.touch(id.0);
        }
        for id in &changes.relations {
            self.dirty.relations.touch(id.0);
        }
        for id in &changes.placements {
            self.dirty.placements.touch(id.0);
        }
        for id in &changes.places {
            self.dirty.places.touch(id.0);
        }
    }

    /// The position an object's relations were last computed from.
    pub fn relation_anchor(&self, id: ObjectId) -> Option<&Point3<f64>> {
        self.relation_anchor.get(id.index())
    }

    /// Current relations with `id` as subject.
    pub fn relations_of(&self, id: ObjectId) -> impl Iterator<Item = &Relation> {
        self.relations
            .range(
                Relation {
                    subject: id,
                    kind: super::scene_graph::RelationKind::On,
                    object: ObjectId(0),
                }..,
            )
            .take_while(move |r| r.subject == id)
    }

    /// Look-alike pairs (lower id first) in view together and seen as one, with the evidence
    /// on which of them is gone, pairs increasing.
    pub fn twin_deficits(&self) -> Vec<(ObjectId, ObjectId, TwinDeficit)> {
        self.twin_deficits
            .iter()
            .map(|((a, b), d)| (*a, *b, *d))
            .collect()
    }

    /// Whether `id` is an object queries may report ([`MemoryObject::is_reportable`]) and present.
    pub(super) fn reportable_and_present(&self, id: ObjectId) -> bool {
        self.objects
            .get(id.index())
            .is_some_and(|o| o.is_reportable() && o.state.is_present())
    }

    /// New objects waiting for a re-identification, with their deadline.
    pub fn pending_reid(&self) -> Vec<(ObjectId, StampNs)> {
        self.pending_reid.iter().map(|(id, t)| (*id, *t)).collect()
    }

    /// Largest detection extent seen, m.
    pub fn max_extent_seen_m(&self) -> f64 {
        self.max_extent_seen_m
    }

    /// The place the robot is in.
    pub fn current_place(&self) -> Option<PlaceId> {
        self.current_place
    }

    /// Drops from RAM the events recorded before `stamp_ns` (and their captions); the caller
    /// must have stored them (a [`ColdEvents`] source then answers for them). Returns the number
    /// of events dropped.
    pub fn evict_events_before(&mut self, stamp_ns: StampNs) -> usize {
        let n = self.log.evict_before(stamp_ns);
        if n > 0 {
            if let Some(first) = self.log.events().first().map(|e| e.id) {
                for list in &mut self.object_events {
                    let cut = list.partition_point(|e| *e < first);
                    list.drain(..cut);
                }
            } else {
                self.object_events.iter_mut().for_each(Vec::clear);
            }
        }
        n
    }

    /// Rebuilds the k-d trees into one each (call after bulk loading, before queries).
    pub fn compact(&mut self) {
        self.object_index.compact();
        self.closed_index.compact();
        self.place_index.compact();
    }

    /// A 64-bit digest of the whole memory (objects, placements, places, relations, events,
    /// captions), for determinism checks: the same inputs give the same digest.
    pub fn digest(&self) -> u64 {
        let mut w = DigestWriter(0xcbf2_9ce4_8422_2325);
        let parts = (
            &self.objects,
            &self.placements,
            &self.places,
            &self.relations,
            self.log.events(),
            self.log.captions(),
        );
        // Serialising plain data into a hasher cannot fail.
        if serde_json::to_writer(&mut w, &parts).is_err() {
            return 0;
        }
        w.0
    }
}

/// A `Write` that folds bytes into FNV-1a.
struct DigestWriter(u64);

impl std::io::Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut h = self.0;
        for b in buf {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Folds a new appearance embedding into an object's running mean (kept L2-normalised).
/// A vector of another dimension replaces the mean (the detector changed).
fn blend_embedding(mean: &mut Option<Vec<f32>>, new: &[f32], times_seen: u32) {
    if !new.iter().all(|x| x.is_finite()) {
        return;
    }
    match mean {
        Some(m) if m.len() == new.len() => mix_into(m, sightings_weight(times_seen), new, 1.0),
        _ => *mean = Some(new.to_vec()),
    }
}

/// The weight of a mean resting on `sightings` sightings: capped at 20, so that an object's
/// look can still follow a slow change of light or of the object itself.
fn sightings_weight(sightings: u32) -> f32 {
    sightings.clamp(1, 20) as f32
}

/// `m = normalise(m * wm + other * wo)`: a weighted mean of two unit vectors, kept unit.
fn mix_into(m: &mut [f32], wm: f32, other: &[f32], wo: f32) {
    for (a, b) in m.iter_mut().zip(other) {
        *a = *a * wm + b * wo;
    }
    let n = m.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        m.iter_mut().for_each(|x| *x /= n);
    }
}

/// A track's look resting on this many sightings or fewer may be one sighting that looked
/// wrong (a box mostly covered by something nearer): merged with a track that disagrees and
/// was seen more often, it takes that track's look.
const FEW_SIGHTINGS_FOR_A_LOOK: u32 = 2;

/// Pools the appearance of two tracks of one object. When they agree (cosine at least
/// `agree`), the means are averaged, each weighted by its sightings (capped like
/// [`blend_embedding`]'s running mean). When they disagree and the survivor's look rests on
/// [`FEW_SIGHTINGS_FOR_A_LOOK`] sightings or fewer, one of those may have looked wrong (a box
/// mostly covered by something nearer, say): the other track, seen more often, carries the
/// object's look. Two tracks that each rest on several sightings and disagree are more likely
/// two objects taken for one: the survivor keeps its own look.
///
/// Without this the survivor of a duplicate merge kept its own mean, however few sightings it
/// rested on: a track whose first sighting looked wrong turned every later sighting of its
/// object into another duplicate, and the object into a "replacement" in the next patrol.
fn pool_embeddings(
    keep: &mut Option<Vec<f32>>,
    keep_seen: u32,
    other: Option<&[f32]>,
    other_seen: u32,
    agree: f32,
) {
    let Some(o) = other else {
        return;
    };
    if !o.iter().all(|x| x.is_finite()) {
        return;
    }
    match keep {
        Some(k) if k.len() == o.len() => {
            if super::embed::cosine(k, o) < agree {
                if keep_seen <= FEW_SIGHTINGS_FOR_A_LOOK && other_seen > keep_seen {
                    k.copy_from_slice(o);
                }
                return;
            }
            mix_into(
                k,
                sightings_weight(keep_seen),
                o,
                sightings_weight(other_seen),
            );
        }
        Some(_) => {}
        None => *keep = Some(o.to_vec()),
    }
}

/// Cosine similarity of two objects' appearance, when both have one of the same dimension.
fn appearance(a: &MemoryObject, b: &MemoryObject) -> Option<f32> {
    a.embedding.as_deref().and_then(|x| looks_like(b, x))
}

/// Cosine similarity of an object's appearance to `embedding`, when it has one of the same
/// dimension.
fn looks_like(o: &MemoryObject, embedding: &[f32]) -> Option<f32> {
    o.embedding
        .as_deref()
        .filter(|e| e.len() == embedding.len())
        .map(|e| super::embed::cosine(embedding, e))
}

/// Trims and lower-cases a label.
pub fn normalize_label(label: &str) -> String {
    label.trim().to_lowercase()
}

/// Where an object stands in the label index: under its label when reportable, else nowhere.
fn membership(obj: &MemoryObject) -> Option<Membership<'_>> {
    obj.is_reportable().then_some(Membership {
        label: &obj.label,
        missing: obj.state == ObjectState::Missing,
        last_seen_ns: obj.last_seen_ns,
    })
}

/// The ball around everything the keyframe's camera can see (see
/// [`PinholeCamera::frustum_ball`](super::geometry::PinholeCamera::frustum_ball)): centre in the
/// map frame, radius in metres.
fn frustum_ball_world(obs: &Observation) -> (Point3<f64>, f64) {
    let (along_axis_m, radius_m) = obs.camera.frustum_ball();
    (
        obs.world_from_camera * Point3::new(0.0, 0.0, along_axis_m),
        radius_m,
    )
}

/// [`normalize_label`] as a [`Label`], without a heap allocation for a short label that is
/// lowercase ASCII already (what detectors emit).
pub(crate) fn normalized_label(label: &str) -> Label {
    let t = label.trim();
    if t.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Label::new(t)
    } else {
        Label::from(t.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::scene_graph::RelationKind;

    #[test]
    fn normalized_label_is_normalize_label_as_a_label() {
        for raw in [
            "mug",
            "  Coffee Mug ",
            "class_00042",
            "CUP",
            "Šálek",
            "a label longer than twenty-two bytes",
            "",
            "\t\n",
        ] {
            assert_eq!(
                normalized_label(raw).as_str(),
                normalize_label(raw),
                "{raw:?}"
            );
        }
    }

    /// Pseudo-random relations over `n_obj` objects (duplicates and self-pairs included).
    fn random_relations(n_obj: u32, n: usize, mut state: u64) -> Vec<Relation> {
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        (0..n)
            .map(|_| Relation {
                subject: ObjectId(next() % n_obj),
                kind: [RelationKind::On, RelationKind::In, RelationKind::Near]
                    [(next() % 3) as usize],
                object: ObjectId(next() % n_obj),
            })
            .collect()
    }

    fn by_comparison(
        relations: &[Relation],
    ) -> (Vec<Relation>, Vec<(ObjectId, RelationKind, ObjectId)>) {
        let mut forward = relations.to_vec();
        forward.sort_unstable();
        let mut rev: Vec<_> = forward
            .iter()
            .map(|r| (r.object, r.kind, r.subject))
            .collect();
        rev.sort_unstable();
        (forward, rev)
    }

    #[test]
    fn counting_sorts_of_relations_equal_comparison_sorts() {
        for (n_obj, n, seed) in [(1, 5, 1), (7, 200, 2), (1000, 20_000, 3), (50, 0, 4)] {
            let relations = random_relations(n_obj, n, seed);
            assert_eq!(
                sorted_both_ways(relations.clone(), n_obj as usize),
                by_comparison(&relations),
                "{n_obj} objects, {n} relations"
            );
        }
    }

    #[test]
    fn relations_past_the_objects_fall_back_to_comparison_sorts() {
        let relations = random_relations(30, 500, 5);
        // Ids up to 29, but only 10 objects declared: the counting path would index past its
        // buckets.
        assert_eq!(
            sorted_both_ways(relations.clone(), 10),
            by_comparison(&relations)
        );
    }
}
