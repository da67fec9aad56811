//! The memory: turns pose updates and keyframe observations into scene-graph changes and events.
//!
//! Owns [`Memory`] and the ingest path: validation, data association through the k-d tree
//! (label-compatible, size-aware gates, one-to-one), robust position updates, confirmation of
//! tentative objects, change detection against the camera frustum and depth image (missing,
//! reappeared, moved by re-identification), merging of duplicates, places from the trajectory,
//! and incremental `on` / `in` / `near` relations. Queries live in `core::query`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use nalgebra::{Isometry3, Point3, Vector3};
use serde::Serialize;

use super::config::MemoryConfig;
use super::embed::Embedder;
use super::episodic::{CaptionRecord, Event, EventKind, EventLog};
use super::error::CoreError;
use super::geometry::{isometry_is_finite, point_is_finite, to_f32, vector_is_finite, yaw_rad};
use super::ids::{EventId, ObjectId, PlaceId, PlacementId};
use super::observation::{DetectionFrame, Observation, PoseUpdate};
use super::scene_graph::{
    max_extent, relation_between, BoxShape, MemoryObject, ObjectState, Place, Placement, Relation,
};
use super::spatial_index::PointIndex;
use super::time::StampNs;

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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
}

/// A detection after validation, in the map frame.
struct WorldDetection {
    label: String,
    group: u32,
    score: f32,
    position_world: Point3<f64>,
    extent_m: Vector3<f64>,
    depth_m: f64,
    text: Option<String>,
    embedding: Option<Vec<f32>>,
}

/// Key of an object in the per-label index: present before missing, then most recent first.
type LabelKey = (bool, Reverse<StampNs>, ObjectId);

/// The objects around the camera for one keyframe, found by one radius search: association,
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
    relations_rev: BTreeSet<(ObjectId, super::scene_graph::RelationKind, ObjectId)>,
    relation_anchor: Vec<Point3<f64>>,
    pub(crate) log: EventLog,
    /// Every non-retired object at its current (or, if missing, last) position.
    pub(crate) object_index: PointIndex,
    /// Closed placements.
    pub(crate) closed_index: PointIndex,
    place_index: PointIndex,
    /// Reportable objects per label.
    /// Lookups only (never iterated into an answer), hence a hash map.
    pub(crate) label_index: HashMap<String, BTreeSet<LabelKey>>,
    label_key: Vec<Option<(String, LabelKey)>>,
    /// Embedding per label that has (had) reportable objects.
    pub(crate) label_embeddings: BTreeMap<String, Vec<f32>>,
    /// Embedding of each object's OCR text.
    pub(crate) text_embeddings: BTreeMap<ObjectId, Vec<f32>>,
    /// Label -> compatibility group.
    /// Lookups only, hence a hash map.
    groups: HashMap<String, u32>,
    next_group: u32,
    /// Missing objects per group, for re-identification.
    missing_by_group: BTreeMap<u32, BTreeSet<ObjectId>>,
    /// Confirmed, never-moved objects per group by first sighting, for re-identification.
    recent_by_group: BTreeMap<u32, BTreeSet<(StampNs, ObjectId)>>,
    /// Objects near the camera during the keyframe being ingested (see [`Neighborhood`]).
    neighborhood: Option<Neighborhood>,
    /// Generation of the current neighbourhood, and per object the generation it was last
    /// enrolled in (O(1) membership without a per-keyframe set).
    nb_generation: u32,
    nb_mark: Vec<u32>,
    /// New objects waiting (until the stamp) for a re-identification from the same sweep.
    pending_reid: BTreeMap<ObjectId, StampNs>,
    pub(crate) max_extent_seen_m: f64,
    latest_stamp_ns: Option<StampNs>,
    current_place: Option<PlaceId>,
    pub(crate) stats: IngestStats,
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

impl Memory {
    /// A new, empty memory.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] when the config does not validate.
    pub fn new(config: MemoryConfig, embedder: Box<dyn Embedder>) -> Result<Self, CoreError> {
        config.validate()?;
        let mut groups = HashMap::new();
        let mut next_group = 0;
        for group in &config.compatible_labels {
            for label in group {
                groups.insert(normalize_label(label), next_group);
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
            label_index: HashMap::new(),
            label_key: Vec::new(),
            label_embeddings: BTreeMap::new(),
            text_embeddings: BTreeMap::new(),
            groups,
            next_group,
            missing_by_group: BTreeMap::new(),
            recent_by_group: BTreeMap::new(),
            neighborhood: None,
            nb_generation: 0,
            nb_mark: Vec::new(),
            pending_reid: BTreeMap::new(),
            max_extent_seen_m: 0.0,
            latest_stamp_ns: None,
            current_place: None,
            stats: IngestStats::default(),
        })
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

    /// Latest stamp ingested.
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
        self.groups.insert(label.to_string(), g);
        g
    }

    /// Recomputes an object's cached compatibility group after its label changed.
    fn refresh_group(&mut self, id: ObjectId) {
        let label = self.objects[id.index()].label.clone();
        let g = self.group_of(&label);
        self.objects[id.index()].group = g;
    }

    /// Puts an object at `position` in the spatial index. During a keyframe the object also
    /// joins the keyframe's neighbourhood, so an object created or relocated there is found by
    /// the keyframe's later searches.
    fn index_object(&mut self, id: ObjectId, position: &Point3<f64>) {
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

    /// Calls `f(id, squared_distance)` for every indexed object within `radius_m` of `query`,
    /// through the keyframe's neighbourhood when the ball fits inside it.
    fn objects_within(&self, query: [f32; 3], radius_m: f32, mut f: impl FnMut(u32, f32)) {
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

    /// Ingests a robot pose (updates places and the trajectory).
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
        self.update_place(pose.stamp_ns, &pose.world_from_body);
        Ok(())
    }

    /// Ingests one keyframe.
    ///
    /// # Errors
    /// [`CoreError::StampBackwards`], [`CoreError::NonFinitePose`] or
    /// [`CoreError::InvalidCamera`]; the memory is unchanged. Bad detections do not fail the
    /// call: they are skipped and listed in the report.
    pub fn ingest(&mut self, obs: &Observation) -> Result<IngestReport, CoreError> {
        if let Err(e) = self.validate_observation(obs) {
            self.stats.inputs_rejected += 1;
            return Err(e);
        }
        let first_event = self.log.len() as u64;
        let stamp = obs.stamp_ns;
        self.latest_stamp_ns = Some(stamp);
        self.stats.keyframes += 1;
        self.resolve_pending_reid(stamp);
        let robot_place = self.update_place(stamp, &obs.world_from_body);

        let mut report = IngestReport::default();
        let camera_from_world = obs.world_from_camera.inverse();
        self.gather_neighborhood(obs);
        let detections = self.world_detections(obs, &camera_from_world, &mut report);
        self.stats.detections += detections.len() as u64;
        self.stats.detections_rejected += report.rejected.len() as u64;
        report.accepted = detections.len();

        let assignment = self.associate(&detections);
        let mut seen_now: BTreeSet<ObjectId> = BTreeSet::new();
        let mut touched: Vec<ObjectId> = Vec::new();
        for (det_index, det) in detections.iter().enumerate() {
            let id = match assignment[det_index] {
                Some(id) => {
                    self.observe(id, det, stamp, robot_place);
                    id
                }
                None => {
                    let id = self.create_object(det, stamp, robot_place);
                    self.try_early_reid(id, stamp);
                    id
                }
            };
            seen_now.insert(id);
            touched.push(id);
        }
        self.mark_distinct(&touched);
        for id in &touched {
            self.maybe_confirm(*id, stamp);
        }
        self.detect_changes(obs, &camera_from_world, &seen_now, stamp, robot_place);
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
            .filter(|t| !t.is_empty())
        {
            self.record_caption(text, stamp, &obs.world_from_body, robot_place);
        }
        for id in touched {
            self.refresh_relations_if_moved(id);
        }
        self.neighborhood = None;
        self.object_index.maintain();
        self.closed_index.maintain();
        self.place_index.maintain();
        report.first_event = first_event;
        report.end_event = self.log.len() as u64;
        Ok(report)
    }

    /// One radius search around the camera covering everything this keyframe can touch:
    /// detections up to the far depth plus noise, their gates, and relation partners.
    fn gather_neighborhood(&mut self, obs: &Observation) {
        let c = obs.world_from_camera.translation.vector;
        let center = [c.x as f32, c.y as f32, c.z as f32];
        let reach = obs.camera.max_depth_m * (1.0 + self.config.gate_per_depth)
            + 2.0 * self.max_extent_seen_m
            + self.config.gate_base_m
            + self.config.near_relation_m
            + self.config.on_tolerance_m
            + 0.5;
        let mut ids = Vec::new();
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

    fn world_detections(
        &mut self,
        obs: &Observation,
        camera_from_world: &Isometry3<f64>,
        report: &mut IngestReport,
    ) -> Vec<WorldDetection> {
        let mut out = Vec::with_capacity(obs.detections.len());
        for (i, d) in obs.detections.iter().enumerate() {
            let label = normalize_label(&d.label);
            if label.is_empty() {
                report.rejected.push((i, RejectReason::EmptyLabel));
                continue;
            }
            if !point_is_finite(&d.position_m) {
                report.rejected.push((i, RejectReason::NonFinitePosition));
                continue;
            }
            if !vector_is_finite(&d.extent_m)
                || d.extent_m
                    .iter()
                    .any(|c| *c < 0.0 || *c > MAX_OBJECT_EXTENT_M)
            {
                report.rejected.push((i, RejectReason::BadExtent));
                continue;
            }
            if !(d.score.is_finite() && d.score > 0.0 && d.score <= 1.0) {
                report.rejected.push((i, RejectReason::BadScore));
                continue;
            }
            let (position_world, depth_m) = match d.frame {
                DetectionFrame::Camera => (obs.world_from_camera * d.position_m, d.position_m.z),
                DetectionFrame::World => (d.position_m, (camera_from_world * d.position_m).z),
            };
            if !point_is_finite(&position_world) {
                report.rejected.push((i, RejectReason::NonFinitePosition));
                continue;
            }
            let group = self.group_of(&label);
            out.push(WorldDetection {
                label,
                group,
                score: d.score,
                position_world,
                extent_m: d.extent_m,
                depth_m: depth_m.abs(),
                text: d.text.clone().filter(|t| !t.trim().is_empty()),
                embedding: d.embedding.clone(),
            });
        }
        out
    }

    /// Gate for matching a detection to an object, m.
    fn gate_m(&self, det: &WorldDetection, obj: &MemoryObject) -> f64 {
        let size = max_extent(&det.extent_m).max(max_extent(&obj.extent_m));
        self.config.gate_base_m
            + self.config.gate_per_depth * det.depth_m
            + self.config.gate_extent_fraction * size
    }

    fn extent_compatible(&self, det: &WorldDetection, obj: &MemoryObject) -> bool {
        let a = max_extent(&det.extent_m);
        let b = max_extent(&obj.extent_m);
        if a < 0.01 || b < 0.01 {
            return true;
        }
        let ratio = if a > b { a / b } else { b / a };
        ratio <= self.config.max_extent_ratio
    }

    /// One-to-one assignment of detections to objects, greedy by normalised distance. Candidates
    /// are label- and size-compatible, inside the gate and, when both carry an appearance
    /// embedding, similar enough (`min_appearance_cosine`).
    fn associate(&self, detections: &[WorldDetection]) -> Vec<Option<ObjectId>> {
        let mut pairs: Vec<(f64, usize, ObjectId)> = Vec::new();
        for (i, det) in detections.iter().enumerate() {
            let search = self.config.gate_base_m
                + self.config.gate_per_depth * det.depth_m
                + self.config.gate_extent_fraction
                    * max_extent(&det.extent_m).max(self.max_extent_seen_m);
            self.objects_within(to_f32(&det.position_world), search as f32, |raw, _| {
                let Some(obj) = self.objects.get(raw as usize) else {
                    return;
                };
                if obj.retired || obj.group != det.group {
                    return;
                }
                if !self.extent_compatible(det, obj) {
                    return;
                }
                // With appearance on both sides, a different-looking instance is not a match.
                if let (Some(a), Some(b)) = (&det.embedding, &obj.embedding) {
                    if a.len() == b.len()
                        && super::embed::cosine(a, b) < self.config.min_appearance_cosine
                    {
                        return;
                    }
                }
                let d = (obj.position_world - det.position_world).norm();
                let gate = self.gate_m(det, obj);
                if d <= gate {
                    pairs.push((d / gate, i, obj.id));
                }
            });
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut assignment = vec![None; detections.len()];
        let mut used: BTreeSet<ObjectId> = BTreeSet::new();
        for (_, i, id) in pairs {
            if assignment[i].is_none() && !used.contains(&id) {
                assignment[i] = Some(id);
                used.insert(id);
            }
        }
        assignment
    }

    fn push_event(&mut self, event: Event) -> EventId {
        let object = event.object;
        let id = self.log.append(event);
        if let Some(o) = object {
            if let Some(list) = self.object_events.get_mut(o.index()) {
                list.push(id);
            }
        }
        id
    }

    fn object_event(&self, kind: EventKind, obj: &MemoryObject, stamp: StampNs) -> Event {
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

    fn create_object(
        &mut self,
        det: &WorldDetection,
        stamp: StampNs,
        robot_place: PlaceId,
    ) -> ObjectId {
        let id = ObjectId(self.objects.len() as u32);
        let placement = PlacementId(self.placements.len() as u32);
        let place = self.place_for(&det.position_world).unwrap_or(robot_place);
        let mut votes = BTreeMap::new();
        votes.insert(det.label.clone(), det.score);
        self.max_extent_seen_m = self.max_extent_seen_m.max(max_extent(&det.extent_m));
        self.objects.push(MemoryObject {
            id,
            label: det.label.clone(),
            group: det.group,
            label_votes: votes,
            position_world: det.position_world,
            extent_m: det.extent_m,
            first_seen_ns: stamp,
            last_seen_ns: stamp,
            times_seen: 1,
            confidence: det.score,
            state: ObjectState::Present,
            place,
            text: det.text.clone(),
            embedding: det.embedding.clone(),
            confirmed: false,
            retired: false,
            merged_into: None,
            placements: vec![placement],
            open_since_ns: Some(stamp),
            missing_since_ns: None,
            seen_from: vec![robot_place],
            missed_views: 0,
            position_weight: f64::from(det.score),
            distinct_from: Vec::new(),
            open_visit: Some((stamp, stamp)),
        });
        self.object_events.push(Vec::new());
        self.label_key.push(None);
        self.relation_anchor.push(det.position_world);
        self.placements.push(Placement {
            id: placement,
            object: id,
            position_world: det.position_world,
            start_ns: stamp,
            last_seen_ns: stamp,
            closed_at_ns: None,
        });
        self.index_object(id, &det.position_world);
        // Candidate for re-identification as a moved object from the start.
        self.recent_by_group
            .entry(det.group)
            .or_default()
            .insert((stamp, id));
        self.stats.objects_created += 1;
        id
    }

    /// Applies a sighting to a matched object.
    fn observe(
        &mut self,
        id: ObjectId,
        det: &WorldDetection,
        stamp: StampNs,
        robot_place: PlaceId,
    ) {
        let visit_gap = self.config.visit_gap_ns();
        let max_weight = self.config.max_position_weight;
        let was_missing;
        let mut closed_visit = None;
        let mut label_changed = false;
        {
            let obj = &mut self.objects[id.index()];
            was_missing = obj.state == ObjectState::Missing;
            // Robust position update: score-weighted running mean with a capped weight, so the
            // estimate converges but can still follow small drifts.
            let w_new = f64::from(det.score);
            let w_old = obj.position_weight.min(max_weight);
            let alpha = w_new / (w_old + w_new);
            obj.position_world += (det.position_world - obj.position_world) * alpha;
            obj.extent_m += (det.extent_m - obj.extent_m) * alpha;
            obj.position_weight = (w_old + w_new).min(max_weight);
            match obj.label_votes.get_mut(&det.label) {
                Some(v) => *v += det.score,
                None => {
                    obj.label_votes.insert(det.label.clone(), det.score);
                }
            }
            if majority_label(&obj.label_votes).is_some_and(|best| *best != obj.label) {
                obj.label = majority_label(&obj.label_votes)
                    .cloned()
                    .unwrap_or_default();
                label_changed = true;
            }
            obj.times_seen = obj.times_seen.saturating_add(1);
            obj.confidence = 1.0 - (1.0 - obj.confidence) * (1.0 - det.score * 0.5);
            obj.missed_views = 0;
            if !obj.seen_from.contains(&robot_place) {
                if obj.seen_from.len() >= MAX_SEEN_FROM {
                    obj.seen_from.remove(0);
                }
                obj.seen_from.push(robot_place);
            }
            if det.text.is_some() {
                obj.text.clone_from(&det.text);
            }
            if let Some(e) = &det.embedding {
                blend_embedding(&mut obj.embedding, e, obj.times_seen);
            }
            match obj.open_visit {
                Some((start, end)) if stamp - end <= visit_gap => {
                    obj.open_visit = Some((start, stamp))
                }
                Some(visit) => {
                    closed_visit = obj.confirmed.then_some(visit);
                    obj.open_visit = Some((stamp, stamp));
                }
                None => obj.open_visit = Some((stamp, stamp)),
            }
            if !was_missing {
                obj.last_seen_ns = stamp;
            }
        }
        self.max_extent_seen_m = self.max_extent_seen_m.max(max_extent(&det.extent_m));
        if label_changed {
            self.refresh_group(id);
        }
        if let Some((start, end)) = closed_visit {
            self.emit_visit(id, start, end, stamp);
        }
        if det.text.is_some() {
            self.refresh_text_embedding(id);
        }
        if was_missing {
            self.reappear(id, stamp);
        } else {
            let obj = &self.objects[id.index()];
            let pos = obj.position_world;
            if let Some(pid) = obj.placements.last().copied() {
                let p = &mut self.placements[pid.index()];
                p.position_world = pos;
                p.last_seen_ns = stamp;
            }
            self.index_object(id, &pos);
        }
        self.refresh_label_index(id);
    }

    fn emit_visit(&mut self, id: ObjectId, start: StampNs, end: StampNs, stamp: StampNs) {
        let mut ev = self.object_event(EventKind::Visit, &self.objects[id.index()], stamp);
        ev.start_ns = start;
        ev.end_ns = end;
        self.push_event(ev);
    }

    /// A missing object seen again where it was.
    fn reappear(&mut self, id: ObjectId, stamp: StampNs) {
        let group = self.group_of(&self.objects[id.index()].label.clone());
        if let Some(set) = self.missing_by_group.get_mut(&group) {
            set.remove(&id);
        }
        let previous_last_seen = self.objects[id.index()].last_seen_ns;
        let placement = self.open_placement(id, stamp);
        let obj = &mut self.objects[id.index()];
        obj.state = ObjectState::Present;
        obj.missing_since_ns = None;
        obj.last_seen_ns = stamp;
        obj.placements.push(placement);
        obj.open_since_ns = Some(stamp);
        let pos = obj.position_world;
        self.index_object(id, &pos);
        let mut ev = self.object_event(EventKind::Reappeared, &self.objects[id.index()], stamp);
        ev.start_ns = previous_last_seen;
        ev.end_ns = stamp;
        self.push_event(ev);
        self.refresh_relations(id);
    }

    /// Creates an open placement for `id` at its current position, starting at `start_ns`.
    fn open_placement(&mut self, id: ObjectId, start_ns: StampNs) -> PlacementId {
        let pid = PlacementId(self.placements.len() as u32);
        let obj = &self.objects[id.index()];
        self.placements.push(Placement {
            id: pid,
            object: id,
            position_world: obj.position_world,
            start_ns,
            last_seen_ns: start_ns,
            closed_at_ns: None,
        });
        pid
    }

    /// Closes the object's current placement (it is no longer believed there).
    fn close_current_placement(&mut self, id: ObjectId, stamp: StampNs) {
        let Some(pid) = self.objects[id.index()].placements.last().copied() else {
            return;
        };
        let p = &mut self.placements[pid.index()];
        if p.closed_at_ns.is_none() {
            p.closed_at_ns = Some(stamp);
            let pos = to_f32(&p.position_world);
            self.closed_index.upsert(pid.0, pos);
        }
        self.objects[id.index()].open_since_ns = None;
    }

    fn mark_distinct(&mut self, ids: &[ObjectId]) {
        if ids.len() < 2 {
            return;
        }
        let reach = self.config.merge_distance_m.max(self.config.gate_base_m) * 4.0;
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                if a == b {
                    continue;
                }
                let (pa, pb) = (
                    self.objects[a.index()].position_world,
                    self.objects[b.index()].position_world,
                );
                if (pa - pb).norm() > reach {
                    continue;
                }
                for (x, y) in [(*a, *b), (*b, *a)] {
                    let list = &mut self.objects[x.index()].distinct_from;
                    if !list.contains(&y) {
                        if list.len() >= MAX_DISTINCT {
                            list.remove(0);
                        }
                        list.push(y);
                    }
                }
            }
        }
    }

    /// Confirms a tentative object once it has been seen often enough.
    fn maybe_confirm(&mut self, id: ObjectId, stamp: StampNs) {
        let obj = &self.objects[id.index()];
        if obj.confirmed || obj.retired || obj.times_seen < self.config.min_sightings_to_confirm {
            return;
        }
        self.objects[id.index()].confirmed = true;
        // A new object of a label whose instance went missing recently is that instance, moved.
        if let Some(old) = self.find_missing_match(id, true) {
            self.merge_moved(old, id, stamp);
            return;
        }
        // Only long-missing candidates: wait for one that goes missing in this sweep.
        if self.find_missing_match(id, false).is_some() {
            self.pending_reid
                .insert(id, stamp.saturating_add(self.config.reid_window_ns()));
        }
        let first_seen = self.objects[id.index()].first_seen_ns;
        let mut ev = self.object_event(EventKind::FirstSeen, &self.objects[id.index()], stamp);
        ev.start_ns = first_seen;
        ev.end_ns = stamp;
        self.push_event(ev);
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        self.recent_by_group
            .entry(group)
            .or_default()
            .insert((first_seen, id));
        self.refresh_text_embedding(id);
        // Registers the label (and its embedding) on first use.
        self.refresh_label_index(id);
        self.refresh_relations(id);
    }

    /// A first sighting whose appearance matches an object that went missing recently is that
    /// object, moved: no need to wait for confirmation (appearance is the evidence).
    fn try_early_reid(&mut self, id: ObjectId, stamp: StampNs) {
        if self.objects[id.index()].embedding.is_none() {
            return;
        }
        if let Some(old) = self.find_missing_match(id, true) {
            if appearance(&self.objects[old.index()], &self.objects[id.index()]).is_some() {
                self.merge_moved(old, id, stamp);
            }
        }
    }

    /// New objects whose wait is over are re-identified with a long-missing object, if any.
    fn resolve_pending_reid(&mut self, stamp: StampNs) {
        let due: Vec<ObjectId> = self
            .pending_reid
            .iter()
            .filter(|(_, deadline)| **deadline <= stamp)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.pending_reid.remove(&id);
            let o = &self.objects[id.index()];
            if !o.is_reportable() || !o.state.is_present() || o.placements.len() != 1 {
                continue;
            }
            if let Some(old) = self.find_missing_match(id, false) {
                self.merge_moved(old, id, stamp);
            }
        }
    }

    /// The missing object of the same group nearest to `new_id`: missing for at most
    /// `reid_window_s` when `recent_only`, else last seen within `reid_max_age_s`.
    fn find_missing_match(&mut self, new_id: ObjectId, recent_only: bool) -> Option<ObjectId> {
        let label = self.objects[new_id.index()].label.clone();
        let group = self.group_of(&label);
        let new_obj = &self.objects[new_id.index()];
        let now = self.latest_stamp_ns.unwrap_or(0);
        let min_last_seen = now.saturating_sub(self.config.reid_max_age_ns());
        let min_missing_since = if recent_only {
            now.saturating_sub(self.config.reid_window_ns())
        } else {
            StampNs::MIN
        };
        let set = self.missing_by_group.get(&group)?;
        set.iter()
            .copied()
            .filter(|id| {
                let o = &self.objects[id.index()];
                !o.retired
                    && o.last_seen_ns >= min_last_seen
                    && o.missing_since_ns.is_some_and(|m| m >= min_missing_since)
                    && o.last_seen_ns < new_obj.first_seen_ns
                    && !new_obj.distinct_from.contains(id)
                    && appearance(o, new_obj).is_none_or(|c| c >= self.config.min_appearance_cosine)
            })
            .min_by(|a, b| self.reid_order(new_obj, *a, *b))
    }

    /// A confirmed, never-moved object of the same group first seen after `old_id` was last
    /// seen: the old object may have been carried there.
    fn find_new_match(&mut self, old_id: ObjectId) -> Option<ObjectId> {
        let label = self.objects[old_id.index()].label.clone();
        let group = self.group_of(&label);
        let old = &self.objects[old_id.index()];
        let set = self.recent_by_group.get(&group)?;
        let earliest = self
            .latest_stamp_ns
            .unwrap_or(0)
            .saturating_sub(self.config.reid_window_ns())
            .max(old.last_seen_ns.saturating_add(1));
        set.range((earliest, ObjectId(0))..)
            .map(|(_, id)| *id)
            .filter(|id| {
                let o = &self.objects[id.index()];
                *id != old_id
                    && !o.retired
                    && (o.confirmed || appearance(o, old).is_some())
                    && o.state.is_present()
                    && o.placements.len() == 1
                    && !old.distinct_from.contains(id)
                    && !o.distinct_from.contains(&old_id)
                    && appearance(o, old).is_none_or(|c| c >= self.config.min_appearance_cosine)
            })
            .min_by(|a, b| self.reid_order(old, *a, *b))
    }

    /// Orders re-identification candidates for `reference`: most similar appearance first
    /// (when embeddings exist), then nearest, then lowest id.
    fn reid_order(&self, reference: &MemoryObject, a: ObjectId, b: ObjectId) -> std::cmp::Ordering {
        let (oa, ob) = (&self.objects[a.index()], &self.objects[b.index()]);
        let ca = appearance(oa, reference).unwrap_or(0.0);
        let cb = appearance(ob, reference).unwrap_or(0.0);
        let da = (oa.position_world - reference.position_world).norm();
        let db = (ob.position_world - reference.position_world).norm();
        cb.total_cmp(&ca).then(da.total_cmp(&db)).then(a.cmp(&b))
    }

    /// A present object of the same group right next to `id` (within twice the base gate),
    /// seen more recently, never seen together with it, with a compatible appearance: `id` is
    /// its duplicate.
    fn find_duplicate(&mut self, id: ObjectId) -> Option<ObjectId> {
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        let me = &self.objects[id.index()];
        let mut found: Vec<(f32, u32)> = Vec::new();
        self.objects_within(
            to_f32(&me.position_world),
            2.0 * self.config.gate_base_m as f32,
            |raw, d2| {
                found.push((d2, raw));
            },
        );
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        found
            .into_iter()
            .map(|(_, raw)| ObjectId(raw))
            .find(|other| {
                let o = &self.objects[other.index()];
                *other != id
                    && o.is_reportable()
                    && o.state.is_present()
                    && o.last_seen_ns > me.last_seen_ns
                    && o.group == group
                    && !o.distinct_from.contains(&id)
                    && !me.distinct_from.contains(other)
                    && appearance(o, me).is_none_or(|c| c >= self.config.min_appearance_cosine)
            })
    }

    /// `old` (missing, or about to be) is `new`, seen elsewhere: fold `new` into `old` and
    /// record a move.
    fn merge_moved(&mut self, old: ObjectId, new: ObjectId, stamp: StampNs) {
        let old_group = self.group_of(&self.objects[old.index()].label.clone());
        if let Some(set) = self.missing_by_group.get_mut(&old_group) {
            set.remove(&old);
        }
        self.pending_reid.remove(&new);
        let new_group = self.group_of(&self.objects[new.index()].label.clone());
        let new_first = self.objects[new.index()].first_seen_ns;
        if let Some(set) = self.recent_by_group.get_mut(&new_group) {
            set.remove(&(new_first, new));
        }
        self.close_current_placement(old, stamp);
        let from = self.objects[old.index()].position_world;
        let old_last_seen = self.objects[old.index()].last_seen_ns;
        // Close the old visit.
        if let Some((s, e)) = self.objects[old.index()].open_visit.take() {
            if self.objects[old.index()].confirmed {
                self.emit_visit(old, s, e, stamp);
            }
        }
        let n = self.objects[new.index()].clone();
        {
            let o = &mut self.objects[old.index()];
            o.position_world = n.position_world;
            o.extent_m = n.extent_m;
            for (label, votes) in &n.label_votes {
                *o.label_votes.entry(label.clone()).or_insert(0.0) += votes;
            }
            o.label = majority_label(&o.label_votes).cloned().unwrap_or_default();
            o.last_seen_ns = n.last_seen_ns.max(o.last_seen_ns);
            o.times_seen = o.times_seen.saturating_add(n.times_seen);
            o.confidence = o.confidence.max(n.confidence);
            o.state = ObjectState::Moved;
            o.missing_since_ns = None;
            o.place = n.place;
            o.missed_views = 0;
            o.position_weight = n.position_weight;
            o.open_visit = n.open_visit;
            o.placements.extend(n.placements.iter().copied());
            o.open_since_ns = n.open_since_ns;
            for d in &n.distinct_from {
                if !o.distinct_from.contains(d) && o.distinct_from.len() < MAX_DISTINCT {
                    o.distinct_from.push(*d);
                }
            }
            // Viewpoints of the old position say nothing about the new one.
            o.seen_from.clone_from(&n.seen_from);
            if n.text.is_some() {
                o.text.clone_from(&n.text);
            }
        }
        for pid in &n.placements {
            self.placements[pid.index()].object = old;
        }
        {
            let r = &mut self.objects[new.index()];
            r.retired = true;
            r.merged_into = Some(old);
            r.open_visit = None;
        }
        let moved_events = std::mem::take(&mut self.object_events[new.index()]);
        self.object_events[old.index()].extend(moved_events);
        self.object_events[old.index()].sort_unstable();
        self.refresh_group(old);
        self.text_embeddings.remove(&new);
        self.object_index.remove(new.0);
        let pos = self.objects[old.index()].position_world;
        self.index_object(old, &pos);
        let mut ev = self.object_event(EventKind::Moved, &self.objects[old.index()], stamp);
        ev.from_world = Some(to_f32(&from));
        ev.start_ns = old_last_seen;
        ev.end_ns = n.first_seen_ns;
        self.push_event(ev);
        self.stats.reidentified += 1;
        self.refresh_label_index(new);
        self.refresh_label_index(old);
        self.refresh_text_embedding(old);
        self.refresh_relations(new);
        self.refresh_relations(old);
    }

    /// Counts expected-but-unseen objects in this keyframe; declares missing or drops false
    /// positives.
    fn detect_changes(
        &mut self,
        obs: &Observation,
        camera_from_world: &Isometry3<f64>,
        seen_now: &BTreeSet<ObjectId>,
        stamp: StampNs,
        robot_place: PlaceId,
    ) {
        let camera_pos = obs.world_from_camera.translation.vector;
        let reach = obs.camera.max_depth_m + self.max_extent_seen_m;
        // Frustum test on the index's compact positions first; objects are touched only when in
        // view (most candidates of the radius search are not).
        let mut expected: Vec<ObjectId> = Vec::new();
        let margin = self.config.frustum_margin_px;
        self.objects_within(
            [
                camera_pos.x as f32,
                camera_pos.y as f32,
                camera_pos.z as f32,
            ],
            reach as f32,
            |raw, _| {
                let Some(pos) = self.object_index.position(raw) else {
                    return;
                };
                let p = Point3::new(f64::from(pos[0]), f64::from(pos[1]), f64::from(pos[2]));
                if obs.camera.sees(&(camera_from_world * p), margin) {
                    expected.push(ObjectId(raw));
                }
            },
        );
        expected.sort_unstable();
        for id in expected {
            if seen_now.contains(&id) {
                continue;
            }
            let obj = &self.objects[id.index()];
            if obj.retired
                || obj.state == ObjectState::Missing
                || obj.last_seen_ns >= stamp
                || !obj.seen_from.contains(&robot_place)
            {
                continue;
            }
            let p_cam = camera_from_world * obj.position_world;
            if !obs.camera.sees(&p_cam, self.config.frustum_margin_px) {
                continue;
            }
            if let Some(depth) = &obs.depth {
                let Some((u, v)) = obs.camera.project(&p_cam) else {
                    continue;
                };
                let margin = self.config.occlusion_margin_m
                    + 0.5 * max_extent(&obj.extent_m)
                    + self.config.occlusion_depth_fraction * p_cam.z;
                let clear = depth.unoccluded_fraction(
                    &obs.camera,
                    u,
                    v,
                    self.config.occlusion_window_px,
                    p_cam.z - margin,
                );
                match clear {
                    Some(f) if f >= 0.5 => {}
                    // Mostly occluded, or no depth return: cannot tell.
                    _ => continue,
                }
            }
            let obj = &mut self.objects[id.index()];
            obj.missed_views = obj.missed_views.saturating_add(1);
            if !obj.confirmed {
                if obj.missed_views >= self.config.tentative_max_misses {
                    self.drop_tentative(id);
                }
            } else if obj.missed_views >= self.config.missing_after_views {
                self.declare_missing(id, stamp);
            }
        }
    }

    fn drop_tentative(&mut self, id: ObjectId) {
        let (first, label) = {
            let o = &self.objects[id.index()];
            (o.first_seen_ns, o.label.clone())
        };
        let group = self.group_of(&label);
        if let Some(set) = self.recent_by_group.get_mut(&group) {
            set.remove(&(first, id));
        }
        let obj = &mut self.objects[id.index()];
        obj.retired = true;
        obj.open_visit = None;
        self.object_index.remove(id.0);
        self.stats.false_positives_dropped += 1;
        self.refresh_label_index(id);
    }

    fn declare_missing(&mut self, id: ObjectId, stamp: StampNs) {
        // Missed again and again right next to a look-alike that keeps being seen: a duplicate.
        if let Some(twin) = self.find_duplicate(id) {
            self.merge_duplicate_pair(id, twin, stamp);
            return;
        }
        if let Some(new) = self.find_new_match(id) {
            self.merge_moved(id, new, stamp);
            return;
        }
        self.close_current_placement(id, stamp);
        if let Some((s, e)) = self.objects[id.index()].open_visit.take() {
            self.emit_visit(id, s, e, stamp);
        }
        let last_seen = self.objects[id.index()].last_seen_ns;
        self.objects[id.index()].state = ObjectState::Missing;
        self.objects[id.index()].missing_since_ns = Some(stamp);
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        self.missing_by_group.entry(group).or_default().insert(id);
        let first = self.objects[id.index()].first_seen_ns;
        if let Some(set) = self.recent_by_group.get_mut(&group) {
            set.remove(&(first, id));
        }
        let mut ev = self.object_event(EventKind::Missing, &self.objects[id.index()], stamp);
        ev.start_ns = last_seen;
        self.push_event(ev);
        self.refresh_label_index(id);
        self.refresh_relations(id);
    }

    /// Merges `id` with a compatible object closer than `merge_distance_m` that was never seen
    /// together with it (a duplicate created by noise). The older object survives.
    fn merge_duplicates(&mut self, id: ObjectId, seen_now: &BTreeSet<ObjectId>, stamp: StampNs) {
        if self.objects[id.index()].retired {
            return;
        }
        let pos = self.objects[id.index()].position_world;
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        let mut candidates: Vec<(f32, u32)> = Vec::new();
        self.objects_within(
            to_f32(&pos),
            self.config.merge_distance_m as f32,
            |raw, d2| {
                candidates.push((d2, raw));
            },
        );
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, raw) in candidates {
            let other = ObjectId(raw);
            if other == id {
                continue;
            }
            let (a, b) = (&self.objects[id.index()], &self.objects[other.index()]);
            if b.retired
                || b.state == ObjectState::Missing
                || a.state == ObjectState::Missing
                || b.group != group
                || a.distinct_from.contains(&other)
                || b.distinct_from.contains(&id)
                || (seen_now.contains(&id) && seen_now.contains(&other))
            {
                continue;
            }
            self.merge_duplicate_pair(id, other, stamp);
            return;
        }
    }

    /// Merges two tracks of one object: the older (first seen earlier, then lower id) survives.
    fn merge_duplicate_pair(&mut self, a: ObjectId, b: ObjectId, stamp: StampNs) {
        let (oa, ob) = (&self.objects[a.index()], &self.objects[b.index()]);
        if (oa.first_seen_ns, oa.id) <= (ob.first_seen_ns, ob.id) {
            self.absorb_duplicate(a, b, stamp);
        } else {
            self.absorb_duplicate(b, a, stamp);
        }
    }

    fn absorb_duplicate(&mut self, keep: ObjectId, drop: ObjectId, stamp: StampNs) {
        let d = self.objects[drop.index()].clone();
        let first = d.first_seen_ns;
        let group = self.group_of(&d.label);
        if let Some(set) = self.recent_by_group.get_mut(&group) {
            set.remove(&(first, drop));
        }
        {
            let k = &mut self.objects[keep.index()];
            let total = k.position_weight + d.position_weight;
            let apart = (d.position_world - k.position_world).norm();
            if apart > self.config.merge_distance_m {
                // Two tracks of one object some way apart: the one seen last is where it is.
                if d.last_seen_ns > k.last_seen_ns {
                    k.position_world = d.position_world;
                    k.extent_m = d.extent_m;
                }
            } else if total > 0.0 {
                k.position_world +=
                    (d.position_world - k.position_world) * (d.position_weight / total);
            }
            for (label, votes) in &d.label_votes {
                *k.label_votes.entry(label.clone()).or_insert(0.0) += votes;
            }
            k.label = majority_label(&k.label_votes).cloned().unwrap_or_default();
            k.times_seen = k.times_seen.saturating_add(d.times_seen);
            k.last_seen_ns = k.last_seen_ns.max(d.last_seen_ns);
            k.first_seen_ns = k.first_seen_ns.min(d.first_seen_ns);
            k.confidence = k.confidence.max(d.confidence);
            k.position_weight = total.min(self.config.max_position_weight);
            k.missed_views = 0;
            k.open_visit = match (k.open_visit, d.open_visit) {
                (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                (a, b) => a.or(b),
            };
            if k.text.is_none() {
                k.text.clone_from(&d.text);
            }
            for p in &d.seen_from {
                if !k.seen_from.contains(p) && k.seen_from.len() < MAX_SEEN_FROM {
                    k.seen_from.push(*p);
                }
            }
        }
        // The duplicate's placements stay as evidence of where the object was (they resolve to
        // the survivor); its open one closes now.
        for pid in &d.placements {
            let p = &mut self.placements[pid.index()];
            if p.closed_at_ns.is_none() {
                p.closed_at_ns = Some(stamp);
                let pos = to_f32(&p.position_world);
                self.closed_index.upsert(pid.0, pos);
            }
        }
        {
            let r = &mut self.objects[drop.index()];
            r.retired = true;
            r.merged_into = Some(keep);
            r.open_visit = None;
            r.open_since_ns = None;
        }
        let moved_events = std::mem::take(&mut self.object_events[drop.index()]);
        self.object_events[keep.index()].extend(moved_events);
        self.object_events[keep.index()].sort_unstable();
        self.refresh_group(keep);
        self.text_embeddings.remove(&drop);
        self.object_index.remove(drop.0);
        let pos = self.objects[keep.index()].position_world;
        if let Some(pid) = self.objects[keep.index()].placements.last().copied() {
            let p = &mut self.placements[pid.index()];
            if p.closed_at_ns.is_none() {
                p.position_world = pos;
                p.last_seen_ns = p.last_seen_ns.max(d.last_seen_ns);
            }
        }
        self.index_object(keep, &pos);
        self.stats.duplicates_merged += 1;
        // A confirmed duplicate folded into a tentative one confirms it.
        if d.confirmed && !self.objects[keep.index()].confirmed {
            self.maybe_confirm(keep, stamp);
        }
        self.refresh_label_index(drop);
        self.refresh_label_index(keep);
        self.refresh_relations(drop);
        self.refresh_relations(keep);
    }

    fn record_caption(
        &mut self,
        text: &str,
        stamp: StampNs,
        world_from_body: &Isometry3<f64>,
        place: PlaceId,
    ) {
        let embedding = self.embedder.embed(text).unwrap_or_default();
        let p = world_from_body.translation.vector;
        let index = self.log.add_caption(CaptionRecord {
            text: text.to_string(),
            embedding,
            robot_position_world: [p.x, p.y, p.z],
            robot_yaw_rad: yaw_rad(world_from_body),
        });
        self.push_event(Event {
            id: EventId(0),
            stamp_ns: stamp,
            kind: EventKind::Caption,
            object: None,
            place: Some(place),
            start_ns: stamp,
            end_ns: stamp,
            position_world: [p.x as f32, p.y as f32, p.z as f32],
            from_world: None,
            caption: Some(index),
        });
    }

    /// Nearest place within twice the place radius of `position`.
    fn place_for(&self, position: &Point3<f64>) -> Option<PlaceId> {
        self.nearest_place(position, 2.0 * self.config.place_radius_m)
    }

    /// Nearest place within `radius_m` (ties to the lower id).
    fn nearest_place(&self, position: &Point3<f64>, radius_m: f64) -> Option<PlaceId> {
        let mut best: Option<(f32, u32)> = None;
        self.place_index
            .for_each_within(to_f32(position), radius_m as f32, |raw, d2| {
                if best.is_none_or(|b| (d2, raw) < b) {
                    best = Some((d2, raw));
                }
            });
        best.map(|(_, raw)| PlaceId(raw))
    }

    /// Places the robot: the nearest place within the place radius, or a new one.
    fn update_place(&mut self, stamp: StampNs, world_from_body: &Isometry3<f64>) -> PlaceId {
        let p = world_from_body.translation.vector;
        let here = Point3::new(p.x, p.y, p.z);
        let place = match self.nearest_place(&here, self.config.place_radius_m) {
            Some(id) => {
                self.places[id.index()].last_visit_ns = stamp;
                id
            }
            None => {
                let id = PlaceId(self.places.len() as u32);
                self.places.push(Place {
                    id,
                    center_world: here,
                    first_visit_ns: stamp,
                    last_visit_ns: stamp,
                });
                self.place_index.upsert(id.0, to_f32(&here));
                id
            }
        };
        if self.current_place != Some(place) {
            self.current_place = Some(place);
            self.push_event(Event {
                id: EventId(0),
                stamp_ns: stamp,
                kind: EventKind::PlaceEntered,
                object: None,
                place: Some(place),
                start_ns: stamp,
                end_ns: stamp,
                position_world: to_f32(&here),
                from_world: None,
                caption: None,
            });
        }
        place
    }

    fn ensure_label_embedding(&mut self, label: &str) {
        if !self.label_embeddings.contains_key(label) {
            let e = self.embedder.embed(label).unwrap_or_default();
            self.label_embeddings.insert(label.to_string(), e);
        }
    }

    fn refresh_text_embedding(&mut self, id: ObjectId) {
        let obj = &self.objects[id.index()];
        if !obj.is_reportable() {
            return;
        }
        if let Some(text) = obj.text.clone() {
            let e = self.embedder.embed(&text).unwrap_or_default();
            self.text_embeddings.insert(id, e);
        }
    }

    /// Keeps the per-label index in step with the object's label, state and last sighting.
    fn refresh_label_index(&mut self, id: ObjectId) {
        let obj = &self.objects[id.index()];
        let wanted = obj.is_reportable().then_some((
            obj.state == ObjectState::Missing,
            Reverse(obj.last_seen_ns),
            id,
        ));
        let same_label =
            matches!(&self.label_key[id.index()], Some((label, _)) if *label == obj.label);
        match (&mut self.label_key[id.index()], wanted) {
            (None, None) => {}
            // Same label, new key (the common case on a sighting): move the key in place.
            (Some((label, key)), Some(w)) if same_label => {
                if *key != w {
                    if let Some(set) = self.label_index.get_mut(label.as_str()) {
                        set.remove(key);
                        set.insert(w);
                    }
                    *key = w;
                }
            }
            (slot, wanted) => {
                if let Some((label, key)) = slot.take() {
                    if let Some(set) = self.label_index.get_mut(&label) {
                        set.remove(&key);
                    }
                }
                if let Some(w) = wanted {
                    let label = self.objects[id.index()].label.clone();
                    match self.label_index.get_mut(&label) {
                        Some(set) => {
                            set.insert(w);
                        }
                        None => {
                            self.ensure_label_embedding(&label);
                            self.label_index.insert(label.clone(), BTreeSet::from([w]));
                        }
                    }
                    self.label_key[id.index()] = Some((label, w));
                }
            }
        }
    }

    fn refresh_relations_if_moved(&mut self, id: ObjectId) {
        let obj = &self.objects[id.index()];
        if (obj.position_world - self.relation_anchor[id.index()]).norm() >= RELATION_UPDATE_M {
            self.refresh_relations(id);
        }
    }

    /// Whether an object takes part in relations (reportable and present).
    fn in_relations(&self, id: ObjectId) -> bool {
        self.objects
            .get(id.index())
            .is_some_and(|o| o.is_reportable() && o.state.is_present())
    }

    /// Search radius that finds every possible relation partner.
    fn relation_reach(&self) -> f64 {
        self.config.near_relation_m.max(self.max_extent_seen_m) + self.config.on_tolerance_m
    }

    /// Recomputes every relation involving `id` from the anchors.
    fn refresh_relations(&mut self, id: ObjectId) {
        self.relation_anchor[id.index()] = self.objects[id.index()].position_world;
        let as_subject: Vec<Relation> = self
            .relations
            .range(
                Relation {
                    subject: id,
                    kind: super::scene_graph::RelationKind::On,
                    object: ObjectId(0),
                }..,
            )
            .take_while(|r| r.subject == id)
            .copied()
            .collect();
        for r in as_subject {
            self.relations.remove(&r);
            self.relations_rev.remove(&(r.object, r.kind, r.subject));
        }
        let as_object: Vec<(ObjectId, super::scene_graph::RelationKind, ObjectId)> = self
            .relations_rev
            .range((id, super::scene_graph::RelationKind::On, ObjectId(0))..)
            .take_while(|r| r.0 == id)
            .copied()
            .collect();
        for r in as_object {
            self.relations_rev.remove(&r);
            self.relations.remove(&Relation {
                subject: r.2,
                kind: r.1,
                object: r.0,
            });
        }
        if !self.in_relations(id) {
            return;
        }
        let anchor = self.relation_anchor[id.index()];
        let mut partners: Vec<u32> = Vec::new();
        self.objects_within(to_f32(&anchor), self.relation_reach() as f32, |raw, _| {
            partners.push(raw);
        });
        partners.sort_unstable();
        for raw in partners {
            let other = ObjectId(raw);
            if other == id || !self.in_relations(other) {
                continue;
            }
            for (s, o) in [(id, other), (other, id)] {
                if let Some(kind) = self.relation_of(s, o) {
                    self.relations.insert(Relation {
                        subject: s,
                        kind,
                        object: o,
                    });
                    self.relations_rev.insert((o, kind, s));
                }
            }
        }
    }

    fn relation_of(
        &self,
        subject: ObjectId,
        object: ObjectId,
    ) -> Option<super::scene_graph::RelationKind> {
        let a = BoxShape {
            center: self.relation_anchor[subject.index()],
            extent: self.objects[subject.index()].extent_m,
        };
        let b = BoxShape {
            center: self.relation_anchor[object.index()],
            extent: self.objects[object.index()].extent_m,
        };
        relation_between(
            &a,
            &b,
            self.config.near_relation_m,
            self.config.on_tolerance_m,
        )
    }

    /// Relations recomputed from scratch over all objects (brute force). Equal to
    /// [`Memory::relations`] at all times; exposed for tests and audits.
    pub fn relations_from_scratch(&self) -> BTreeSet<Relation> {
        let ids: Vec<ObjectId> = self
            .objects
            .iter()
            .filter(|o| self.in_relations(o.id))
            .map(|o| o.id)
            .collect();
        let mut out = BTreeSet::new();
        for a in &ids {
            for b in &ids {
                if a != b {
                    if let Some(kind) = self.relation_of(*a, *b) {
                        out.insert(Relation {
                            subject: *a,
                            kind,
                            object: *b,
                        });
                    }
                }
            }
        }
        out
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
        Some(m) if m.len() == new.len() => {
            let w = times_seen.clamp(1, 20) as f32;
            for (a, b) in m.iter_mut().zip(new) {
                *a = *a * w + b;
            }
            let n = m.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                m.iter_mut().for_each(|x| *x /= n);
            }
        }
        _ => *mean = Some(new.to_vec()),
    }
}

/// Cosine similarity of two objects' appearance, when both have one of the same dimension.
fn appearance(a: &MemoryObject, b: &MemoryObject) -> Option<f32> {
    match (&a.embedding, &b.embedding) {
        (Some(x), Some(y)) if x.len() == y.len() => Some(super::embed::cosine(x, y)),
        _ => None,
    }
}

/// Trims and lower-cases a label.
pub fn normalize_label(label: &str) -> String {
    label.trim().to_lowercase()
}

/// The label with most votes; ties go to the lexicographically smallest.
fn majority_label(votes: &BTreeMap<String, f32>) -> Option<&String> {
    let mut best: Option<(&String, f32)> = None;
    for (label, v) in votes {
        match best {
            Some((_, bv)) if *v <= bv => {}
            _ => best = Some((label, *v)),
        }
    }
    best.map(|(l, _)| l)
}
