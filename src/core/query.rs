//! Typed queries over the memory and their answers: where, when, near, recall, scene graph at a
//! time, and changes in a window.
//!
//! Owns [`Query`], [`Answer`] and the query logic (adapters — CLI, ROS services — only convert).
//! Every answer is deterministic and sorted; ties are broken by id.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

use super::embed::cosine;
use super::episodic::{Event, EventKind};
use super::error::CoreError;
use super::geometry::{point_is_finite, to_f32};
use super::ids::{EventId, ObjectId, PlaceId};
use super::label::Label;
use super::memory::{normalize_label, ColdEvents, Memory};
use super::prefetch::prefetch_all;
use super::scene_graph::{
    relation_between, BoxShape, MemoryObject, ObjectState, Placement, Relation,
};
use super::spatial_index::PointIndex;
use super::stack_buf::StackBuf;
use super::time::{StampNs, TimeWindow};

/// What a query is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Objects whose label equals this (after trimming and lower-casing).
    Label(String),
    /// Objects whose label or read text matches this text through the embedder.
    Text(String),
    /// One object (ids of merged duplicates resolve to the surviving object).
    Object(ObjectId),
}

/// A question to the memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// Where is the target now (or at `at_ns`)? At most `k` objects; `k = 0` answers nothing.
    Where {
        /// What to look for.
        target: Target,
        /// Most objects to return.
        k: usize,
        /// Answer as the memory knew it at this time instead of now.
        at_ns: Option<StampNs>,
    },
    /// When was the target seen / did it change, within `window`?
    When {
        /// What to look for.
        target: Target,
        /// Time window.
        window: TimeWindow,
    },
    /// Which objects stood within `radius_m` of `point_world` at any time in `window`?
    Near {
        /// Centre, map frame, m.
        point_world: Point3<f64>,
        /// Radius, m.
        radius_m: f64,
        /// Time window.
        window: TimeWindow,
        /// Only objects with this label.
        label: Option<String>,
        /// Most objects to return.
        k: usize,
    },
    /// Which keyframe captions in `window` (ranked by `text` when given)?
    Recall {
        /// Time window.
        window: TimeWindow,
        /// Text to rank captions by; chronological when `None`.
        text: Option<String>,
        /// Most episodes to return.
        k: usize,
    },
    /// Objects and relations as the memory knew them at `stamp_ns`.
    SceneGraphAt {
        /// The time.
        stamp_ns: StampNs,
    },
    /// Net changes (moved, missing, reappeared) in `window`, one per object. A move counts in
    /// the window where the object was first seen at its new place (even when the memory
    /// recorded the move later, after confirming the old spot empty); missing and reappeared
    /// where they were recorded. A missing undone by a reappearance in place (a run of detector
    /// misses: no later visit confirmed the object gone before a visit later still saw it
    /// back, see [`Memory::absent_seen`]) is not reported, nor are moves away and back within
    /// the window (net displacement within `gate_base_m`).
    Changes {
        /// Time window.
        window: TimeWindow,
        /// Only objects with this label (normalized like labels); `None` or empty: any.
        label: Option<String>,
    },
}

/// An object in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectHit {
    /// Object id.
    pub id: ObjectId,
    /// Label.
    pub label: Label,
    /// Position, map frame, m.
    pub position_world: [f64; 3],
    /// Size, m.
    pub extent_m: [f64; 3],
    /// First sighting, ns.
    pub first_seen_ns: StampNs,
    /// Last sighting (as known at the query time), ns.
    pub last_seen_ns: StampNs,
    /// State (as known at the query time).
    pub state: ObjectState,
    /// Place.
    pub place: PlaceId,
    /// Match score in [0, 1] (1 for exact labels).
    pub score: f32,
    /// Distance to the query point for `Near`, m.
    pub distance_m: Option<f64>,
    /// Text read on the object.
    pub text: Option<String>,
}

/// An interval or event on an object's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// `visit`, `first_seen`, `moved`, `missing`, `reappeared`.
    pub kind: EventKind,
    /// Start, ns.
    pub start_ns: StampNs,
    /// End, ns (a visit still open ends at the last sighting).
    pub end_ns: StampNs,
    /// Object id.
    pub object_id: ObjectId,
    /// Object label.
    pub label: Label,
    /// Position, map frame, m.
    pub position_world: [f64; 3],
}

/// A captioned keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Keyframe stamp, ns.
    pub stamp_ns: StampNs,
    /// Caption.
    pub caption: String,
    /// Robot position, map frame, m.
    pub robot_position_world: [f64; 3],
    /// Robot yaw, rad.
    pub robot_yaw_rad: f64,
    /// Place of the robot.
    pub place: Option<PlaceId>,
    /// Match score (1 when no text was given).
    pub score: f32,
}

/// The scene graph as known at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneGraphSnapshot {
    /// The time.
    pub stamp_ns: StampNs,
    /// Objects known by then (present and missing), by id.
    pub objects: Vec<ObjectHit>,
    /// Relations between the present ones, sorted.
    pub relations: Vec<Relation>,
}

/// A net change of one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeHit {
    /// `moved`, `missing` or `reappeared`.
    pub kind: EventKind,
    /// When it was recorded, ns.
    pub stamp_ns: StampNs,
    /// The logged event that records it (for a move seen over several events, the last).
    pub event_id: EventId,
    /// Object id.
    pub object_id: ObjectId,
    /// Label.
    pub label: Label,
    /// Previous position (moved, missing, reappeared: where it was), map frame, m.
    pub from_world: [f64; 3],
    /// New position for `moved`, map frame, m.
    pub to_world: Option<[f64; 3]>,
}

/// An answer; its variant follows the query's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// For `Where` and `Near`.
    Objects(Vec<ObjectHit>),
    /// For `When`.
    Timeline(Vec<TimelineEntry>),
    /// For `Recall`.
    Episodes(Vec<Episode>),
    /// For `SceneGraphAt`.
    SceneGraph(SceneGraphSnapshot),
    /// For `Changes`.
    Changes(Vec<ChangeHit>),
}

fn arr(p: &Point3<f64>) -> [f64; 3] {
    [p.x, p.y, p.z]
}

fn arr32(p: &[f32; 3]) -> [f64; 3] {
    [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
}

/// Candidates a near query keeps on the stack per list before spilling to the heap.
const NEAR_INLINE: usize = 16;

fn hit(obj: &MemoryObject, score: f32) -> ObjectHit {
    ObjectHit {
        id: obj.id,
        label: obj.label.clone(),
        position_world: arr(&obj.position_world),
        extent_m: [obj.extent_m.x, obj.extent_m.y, obj.extent_m.z],
        first_seen_ns: obj.first_seen_ns,
        last_seen_ns: obj.last_seen_ns,
        state: obj.state,
        place: obj.place,
        score,
        distance_m: None,
        text: obj.text.clone(),
    }
}

impl Memory {
    /// Answers a query.
    ///
    /// # Errors
    /// [`CoreError::EmptyText`] for blank text, [`CoreError::NonFinitePoint`] /
    /// [`CoreError::InvalidRadius`] for bad `Near` geometry. Windows are valid by construction.
    pub fn query(&self, query: &Query) -> Result<Answer, CoreError> {
        self.query_with(query, None)
    }

    /// Answers a query, reading events evicted from RAM from `cold` when the query's window
    /// reaches before [`crate::core::episodic::EventLog::evicted_before_ns`]. Without a cold
    /// source such windows are answered from RAM only.
    ///
    /// # Errors
    /// As [`Memory::query`], plus [`CoreError::Cold`] when the cold source fails.
    pub fn query_with(
        &self,
        query: &Query,
        cold: Option<&dyn ColdEvents>,
    ) -> Result<Answer, CoreError> {
        match query {
            Query::Where { target, k, at_ns } => {
                self.where_is(target, *k, *at_ns).map(Answer::Objects)
            }
            Query::When { target, window } => self.when(target, window, cold).map(Answer::Timeline),
            Query::Near {
                point_world,
                radius_m,
                window,
                label,
                k,
            } => self
                .near(point_world, *radius_m, window, label.as_deref(), *k)
                .map(Answer::Objects),
            Query::Recall { window, text, k } => self
                .recall(window, text.as_deref(), *k, cold)
                .map(Answer::Episodes),
            Query::SceneGraphAt { stamp_ns } => {
                Ok(Answer::SceneGraph(self.scene_graph_at(*stamp_ns)))
            }
            Query::Changes { window, label } => self
                .changes(window, label.as_deref(), cold)
                .map(Answer::Changes),
        }
    }

    /// Reportable objects matching a target, with their match scores, sorted by id.
    fn matching_objects(&self, target: &Target) -> Result<Vec<(ObjectId, f32)>, CoreError> {
        match target {
            Target::Object(id) => {
                let id = self.resolve(*id);
                Ok(self
                    .object(id)
                    .filter(|o| o.is_reportable())
                    .map(|o| vec![(o.id, 1.0)])
                    .unwrap_or_default())
            }
            Target::Label(label) => {
                let label = normalize_label(label);
                if label.is_empty() {
                    return Err(CoreError::EmptyText);
                }
                let mut ids: Vec<(ObjectId, f32)> = self
                    .label_index
                    .members(label.as_str())
                    .map(|id| (id, 1.0))
                    .collect();
                ids.sort_by_key(|x| x.0);
                Ok(ids)
            }
            Target::Text(text) => {
                let labels = self.matching_labels(text)?;
                let mut scores: BTreeMap<ObjectId, f32> = BTreeMap::new();
                for (label, score) in &labels {
                    for id in self.label_index.members(label.as_str()) {
                        scores.insert(id, *score);
                    }
                }
                let q = self.embedder.embed(text)?;
                for (id, emb) in &self.text_embeddings {
                    let s = cosine(&q, emb);
                    if s >= self.config.min_text_score {
                        let e = scores.entry(*id).or_insert(0.0);
                        *e = e.max(s);
                    }
                }
                Ok(scores.into_iter().collect())
            }
        }
    }

    /// Labels whose embedding matches `text`, best first.
    pub fn matching_labels(&self, text: &str) -> Result<Vec<(String, f32)>, CoreError> {
        if text.trim().is_empty() {
            return Err(CoreError::EmptyText);
        }
        let q = self.embedder.embed(text)?;
        let mut out: Vec<(String, f32)> = self
            .label_embeddings
            .iter()
            .map(|(l, e)| (l.clone(), cosine(&q, e)))
            .filter(|(_, s)| *s >= self.config.min_text_score)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    fn where_is(
        &self,
        target: &Target,
        k: usize,
        at_ns: Option<StampNs>,
    ) -> Result<Vec<ObjectHit>, CoreError> {
        if k == 0 {
            // Still validate the target so a blank text is reported.
            if let Target::Text(t) | Target::Label(t) = target {
                if t.trim().is_empty() {
                    return Err(CoreError::EmptyText);
                }
            }
            return Ok(Vec::new());
        }
        // Fast path: current positions for a label come from the ordered per-label index.
        if let (Target::Label(label), None) = (target, at_ns) {
            let label = normalize_label(label);
            if label.is_empty() {
                return Err(CoreError::EmptyText);
            }
            return Ok(self
                .label_index
                .members(label.as_str())
                .take(k)
                .filter_map(|id| self.object(id).map(|o| hit(o, 1.0)))
                .collect());
        }
        let matches = self.matching_objects(target)?;
        let mut hits: Vec<ObjectHit> = matches
            .into_iter()
            .filter_map(|(id, score)| {
                let obj = self.object(id)?;
                match at_ns {
                    None => Some(hit(obj, score)),
                    Some(t) => self.belief_at(obj, t).map(|mut h| {
                        h.score = score;
                        h
                    }),
                }
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then((a.state == ObjectState::Missing).cmp(&(b.state == ObjectState::Missing)))
                .then(b.last_seen_ns.cmp(&a.last_seen_ns))
                .then(a.id.cmp(&b.id))
        });
        hits.truncate(k);
        Ok(hits)
    }

    /// The object as the memory knew it at `t`: the latest placement started by then, present
    /// unless the memory had already closed it.
    fn belief_at(&self, obj: &MemoryObject, t: StampNs) -> Option<ObjectHit> {
        if obj.first_seen_ns > t {
            return None;
        }
        let placement = obj
            .placements
            .iter()
            .rev()
            .filter_map(|pid| self.placements.get(pid.index()))
            .find(|p| p.start_ns <= t)?;
        let open_at_t = placement.closed_at_ns.is_none_or(|c| c > t);
        let moved_before = obj
            .placements
            .first()
            .map(|p| *p != placement.id)
            .unwrap_or(false);
        let state = match (open_at_t, moved_before) {
            (false, _) => ObjectState::Missing,
            (true, true) => ObjectState::Moved,
            (true, false) => ObjectState::Present,
        };
        let mut h = hit(obj, 1.0);
        h.position_world = arr(&placement.position_world);
        h.last_seen_ns = placement.last_seen_ns.min(t);
        h.state = state;
        Some(h)
    }

    /// The part of `window` (by recorded stamp, from `from_ns` on) that lies before the
    /// eviction stamp, when a cold source must be asked.
    fn cold_window(&self, from_ns: StampNs, to_ns: StampNs) -> Option<TimeWindow> {
        let evicted = self.log.evicted_before_ns()?;
        if from_ns >= evicted {
            return None;
        }
        TimeWindow::new(from_ns, to_ns.min(evicted.saturating_sub(1))).ok()
    }

    /// Events of `window` (by recorded stamp) from RAM and, for the evicted part, from `cold`;
    /// with `objects`, only events of those objects (ids as stored, merged ones included).
    fn events_recorded_in(
        &self,
        window: &TimeWindow,
        cold: Option<&dyn ColdEvents>,
        objects: Option<&[ObjectId]>,
    ) -> Result<Vec<Event>, CoreError> {
        // Cold events are all recorded before the eviction stamp, RAM events from it on: the
        // concatenation is in id order.
        let mut out = Vec::new();
        if let (Some(cold), Some(w)) = (cold, self.cold_window(window.start_ns(), window.end_ns()))
        {
            out = cold.recorded_in(&w, objects)?;
        }
        out.extend(
            self.log
                .recorded_in(window)
                .iter()
                .filter(|e| {
                    objects
                        .is_none_or(|ids| e.object.is_some_and(|o| ids.binary_search(&o).is_ok()))
                })
                .cloned(),
        );
        Ok(out)
    }

    fn when(
        &self,
        target: &Target,
        window: &TimeWindow,
        cold: Option<&dyn ColdEvents>,
    ) -> Result<Vec<TimelineEntry>, CoreError> {
        let matches = self.matching_objects(target)?;
        // Events end no later than they are recorded, so only those recorded from the window's
        // start on can overlap it; older ones left RAM and are read from the cold source.
        let mut cold_events: BTreeMap<ObjectId, Vec<Event>> = BTreeMap::new();
        if let (Some(cold), Some(w)) = (cold, self.cold_window(window.start_ns(), StampNs::MAX)) {
            if !matches.is_empty() {
                let wanted: BTreeSet<ObjectId> = matches.iter().map(|m| m.0).collect();
                let mut ids: Vec<ObjectId> = wanted.iter().copied().collect();
                ids.extend(
                    self.objects
                        .iter()
                        .filter(|o| o.merged_into.is_some() && wanted.contains(&self.resolve(o.id)))
                        .map(|o| o.id),
                );
                ids.sort_unstable();
                for e in cold.recorded_in(&w, Some(&ids))? {
                    if let Some(o) = e.object {
                        cold_events.entry(self.resolve(o)).or_default().push(e);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (id, _) in matches {
            let Some(obj) = self.object(id) else { continue };
            let old = cold_events.remove(&id).unwrap_or_default();
            let hot = self
                .object_events(id)
                .iter()
                .filter_map(|eid| self.log.get(*eid));
            for ev in old.iter().chain(hot) {
                if matches!(ev.kind, EventKind::Caption | EventKind::PlaceEntered) {
                    continue;
                }
                if window.overlaps(ev.start_ns, ev.end_ns) {
                    out.push(TimelineEntry {
                        kind: ev.kind,
                        start_ns: ev.start_ns,
                        end_ns: ev.end_ns,
                        object_id: id,
                        label: obj.label.clone(),
                        position_world: arr32(&ev.position_world),
                    });
                }
            }
            if let Some((start, end)) = obj.open_visit {
                if window.overlaps(start, end) {
                    out.push(TimelineEntry {
                        kind: EventKind::Visit,
                        start_ns: start,
                        end_ns: end,
                        object_id: id,
                        label: obj.label.clone(),
                        position_world: arr(&obj.position_world),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            a.start_ns
                .cmp(&b.start_ns)
                .then(a.end_ns.cmp(&b.end_ns))
                .then(a.object_id.cmp(&b.object_id))
                .then(a.kind.cmp(&b.kind))
        });
        Ok(out)
    }

    fn near(
        &self,
        point: &Point3<f64>,
        radius_m: f64,
        window: &TimeWindow,
        label: Option<&str>,
        k: usize,
    ) -> Result<Vec<ObjectHit>, CoreError> {
        if !point_is_finite(point) {
            return Err(CoreError::NonFinitePoint);
        }
        if !(radius_m.is_finite() && radius_m >= 0.0) {
            return Err(CoreError::InvalidRadius { radius_m });
        }
        let label = label.map(normalize_label).filter(|l| !l.is_empty());
        if k == 0 {
            return Ok(Vec::new());
        }
        let q = to_f32(point);
        // Matching placements as (object, distance, position, last sighting there); an object may
        // match through several placements: the closest one is kept. The lists of this query
        // are short (a few candidates on average) and live on the stack.
        let mut found: StackBuf<(ObjectId, f64, [f64; 3], StampNs), NEAR_INLINE> =
            StackBuf::new((ObjectId(0), 0.0, [0.0; 3], 0));
        let dist = |pos: &Point3<f64>| (pos - point).norm();
        let accept = |obj: &MemoryObject| {
            obj.is_reportable() && label.as_ref().is_none_or(|l| &obj.label == l)
        };
        // Current (open) placements: the object index holds current positions. The ids are
        // gathered first, each object's memory prefetched as its id comes out of the tree, and
        // the objects read after the walk: their cache misses (one or more each, on a large
        // memory) overlap with each other and with the walk instead of following one another.
        let mut near: StackBuf<Option<&MemoryObject>, NEAR_INLINE> = StackBuf::new(None);
        self.object_index
            .for_each_within(q, radius_m as f32, |raw, _| {
                if let Some(obj) = self.objects.get(raw as usize) {
                    prefetch_all(obj);
                    near.push(Some(obj));
                }
            });
        for obj in near.as_slice().iter().flatten() {
            if !obj.state.is_present() || !accept(obj) {
                continue;
            }
            let Some(start_ns) = obj.open_since_ns else {
                continue;
            };
            if window.overlaps(start_ns, StampNs::MAX) {
                found.push((
                    obj.id,
                    dist(&obj.position_world),
                    arr(&obj.position_world),
                    obj.last_seen_ns,
                ));
            }
        }
        // Closed placements: evidence from first to last sighting there. Same overlap of
        // misses, in two steps: placements prefetched during the walk, then the objects of
        // those in the window prefetched before `accept` reads them.
        let mut closed: StackBuf<Option<&Placement>, NEAR_INLINE> = StackBuf::new(None);
        self.closed_index
            .for_each_within(q, radius_m as f32, |raw, _| {
                if let Some(p) = self.placements.get(raw as usize) {
                    prefetch_all(p);
                    closed.push(Some(p));
                }
            });
        let mut in_window: StackBuf<Option<(ObjectId, &Placement, &MemoryObject)>, NEAR_INLINE> =
            StackBuf::new(None);
        for p in closed.as_slice().iter().flatten() {
            if !window.overlaps(p.start_ns, p.last_seen_ns) {
                continue;
            }
            let id = self.resolve(p.object);
            if let Some(obj) = self.objects.get(id.index()) {
                prefetch_all(obj);
                in_window.push(Some((id, p, obj)));
            }
        }
        for (id, p, obj) in in_window.as_slice().iter().flatten() {
            if accept(obj) {
                found.push((
                    *id,
                    dist(&p.position_world),
                    arr(&p.position_world),
                    p.last_seen_ns,
                ));
            }
        }

        let found = found.as_mut_slice();
        // Stable: of placements of one object at the same distance the first pushed wins.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        // Closest placement per object (first of each id run), then by distance (ids unique).
        let mut kept = 0;
        for i in 0..found.len() {
            if kept == 0 || found[kept - 1].0 != found[i].0 {
                found[kept] = found[i];
                kept += 1;
            }
        }
        let found = &mut found[..kept];
        found.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let found = &found[..found.len().min(k)];

        let hits: Vec<ObjectHit> = found
            .iter()
            .filter_map(|&(id, d, pos, last_seen)| {
                let obj = self.object(id)?;
                let mut h = hit(obj, 1.0);
                h.position_world = pos;
                h.last_seen_ns = last_seen;
                h.distance_m = Some(d);
                Some(h)
            })
            .collect();
        Ok(hits)
    }

    fn recall(
        &self,
        window: &TimeWindow,
        text: Option<&str>,
        k: usize,
        cold: Option<&dyn ColdEvents>,
    ) -> Result<Vec<Episode>, CoreError> {
        let query = match text {
            Some(t) if t.trim().is_empty() => return Err(CoreError::EmptyText),
            Some(t) => Some(self.embedder.embed(t)?),
            None => None,
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let events = self.events_recorded_in(window, cold, None)?;
        let mut records = BTreeMap::new();
        for e in &events {
            if let (EventKind::Caption, Some(c)) = (e.kind, e.caption) {
                let record = match self.log.caption(c) {
                    Some(r) => Some(r.clone()),
                    None => match cold {
                        Some(cold) => cold.caption(c)?,
                        None => None,
                    },
                };
                if let Some(r) = record {
                    records.insert(c, r);
                }
            }
        }
        let mut out: Vec<Episode> = events
            .iter()
            .filter(|e| e.kind == EventKind::Caption)
            .filter_map(|e: &Event| {
                let c = records.get(&e.caption?)?;
                let score = match &query {
                    // A caption stored by another embedder (a memory reopened with a different
                    // model) is embedded again rather than never matching.
                    Some(q) if c.embedding.len() != q.len() => {
                        self.embedder.embed(&c.text).map_or(0.0, |e| cosine(q, &e))
                    }
                    Some(q) => cosine(q, &c.embedding),
                    None => 1.0,
                };
                (query.is_none() || score >= self.config.min_text_score).then(|| Episode {
                    // The keyframe's time (a late caption is recorded after it).
                    stamp_ns: e.start_ns,
                    caption: c.text.clone(),
                    robot_position_world: c.robot_position_world,
                    robot_yaw_rad: c.robot_yaw_rad,
                    place: e.place,
                    score,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.stamp_ns.cmp(&b.stamp_ns))
        });
        out.truncate(k);
        Ok(out)
    }

    fn scene_graph_at(&self, t: StampNs) -> SceneGraphSnapshot {
        let objects: Vec<ObjectHit> = self
            .objects
            .iter()
            .filter(|o| o.is_reportable())
            .filter_map(|o| self.belief_at(o, t))
            .collect();
        let present: Vec<&ObjectHit> = objects.iter().filter(|h| h.state.is_present()).collect();
        let mut index = PointIndex::new(0.0);
        for (i, h) in present.iter().enumerate() {
            index.upsert(
                i as u32,
                [
                    h.position_world[0] as f32,
                    h.position_world[1] as f32,
                    h.position_world[2] as f32,
                ],
            );
        }
        let shape = |h: &ObjectHit| BoxShape {
            center: Point3::new(
                h.position_world[0],
                h.position_world[1],
                h.position_world[2],
            ),
            extent: Vector3::new(h.extent_m[0], h.extent_m[1], h.extent_m[2]),
        };
        let max_extent = present
            .iter()
            .map(|h| h.extent_m.iter().copied().fold(0.0f64, f64::max))
            .fold(0.0f64, f64::max);
        let reach = self.config.near_relation_m.max(max_extent) + self.config.on_tolerance_m;
        let mut relations = BTreeSet::new();
        for a in &present {
            index.for_each_within(
                [
                    a.position_world[0] as f32,
                    a.position_world[1] as f32,
                    a.position_world[2] as f32,
                ],
                reach as f32,
                |j, _| {
                    let b = present[j as usize];
                    if b.id == a.id {
                        return;
                    }
                    if let Some(kind) = relation_between(
                        &shape(a),
                        &shape(b),
                        self.config.near_relation_m,
                        self.config.on_tolerance_m,
                    ) {
                        relations.insert(Relation {
                            subject: a.id,
                            kind,
                            object: b.id,
                        });
                    }
                },
            );
        }
        SceneGraphSnapshot {
            stamp_ns: t,
            objects,
            relations: relations.into_iter().collect(),
        }
    }

    /// Whether `reappeared`, the change after `missing`, shows the object was gone in between,
    /// not missed by the detector: a later visit confirmed it gone (the reappearance starts
    /// after the missing was recorded, see [`Memory::absent_seen`]) and it came back on a
    /// visit later still (`visit_gap_s` after the confirmation). Seen again on the visit that
    /// confirmed it gone, it was missed again from a view that hides it every time, not gone.
    fn gone_between(&self, missing: &Event, reappeared: &Event) -> bool {
        reappeared.start_ns > missing.stamp_ns
            && reappeared.end_ns
                >= reappeared
                    .start_ns
                    .saturating_add(self.config.visit_gap_ns())
    }

    fn changes(
        &self,
        window: &TimeWindow,
        label: Option<&str>,
        cold: Option<&dyn ColdEvents>,
    ) -> Result<Vec<ChangeHit>, CoreError> {
        let label = label.map(normalize_label).filter(|l| !l.is_empty());
        // A change belongs to the window in which the robot had its evidence: a move to the
        // window of the first sighting at the new place (`end_ns`), which may come before the
        // memory recorded the move (the old spot's emptiness is confirmed on a later pass);
        // missing and reappeared to their recording. A missing whose next change is a
        // reappearance in place was a run of detector misses (unless `gone_between`): it
        // counts in no window (a later window still reports the reappearance). So the changes
        // recorded from the window's start on are read, through the logs' indexes of change
        // events.
        let from_start = TimeWindow::new(window.start_ns(), StampNs::MAX)?;
        let mut events = Vec::new();
        if let (Some(cold), Some(w)) = (cold, self.cold_window(window.start_ns(), StampNs::MAX)) {
            events = cold.changes_recorded_in(&w)?;
        }
        events.extend(self.log.changes_recorded_in(&from_start).cloned());
        let mut by_object: BTreeMap<ObjectId, Vec<&Event>> = BTreeMap::new();
        for e in &events {
            if let Some(o) = e.object {
                by_object.entry(self.resolve(o)).or_default().push(e);
            }
        }
        // Per object, in log order: a move anywhere in the window wins (from the first old
        // position to the last new one), unless the moves net out (back where it was);
        // otherwise the last of missing / reappeared (after the last move, if any), and a
        // reappearance that undoes a missing in the same window cancels out.
        let mut per_object: BTreeMap<ObjectId, Vec<&Event>> = BTreeMap::new();
        for (id, log) in by_object {
            for (i, e) in log.iter().enumerate() {
                let evidence_ns = match e.kind {
                    EventKind::Moved => e.end_ns.min(e.stamp_ns),
                    _ => e.stamp_ns,
                };
                // (When the reappearance is in the window too, both cancel out below.)
                let undone = e.kind == EventKind::Missing
                    && log.get(i + 1).is_some_and(|n| {
                        n.kind == EventKind::Reappeared
                            && !window.contains(n.stamp_ns)
                            && !self.gone_between(e, n)
                    });
                if window.contains(evidence_ns) && !undone {
                    per_object.entry(id).or_default().push(e);
                }
            }
        }
        let mut out = Vec::new();
        for (id, events) in per_object {
            let Some(obj) = self.object(id) else { continue };
            if !obj.is_reportable() || label.as_ref().is_some_and(|l| &obj.label != l) {
                continue;
            }
            let moves: Vec<&&Event> = events
                .iter()
                .filter(|e| e.kind == EventKind::Moved)
                .collect();
            let net_move = match (moves.first(), moves.last()) {
                (Some(first), Some(last)) => {
                    let from = arr32(&first.from_world.unwrap_or(first.position_world));
                    let to = arr32(&last.position_world);
                    // Moved away and back within the window (to within the association gate,
                    // as a move is told from a reappearance): no net move.
                    let back = from
                        .iter()
                        .zip(&to)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        .sqrt()
                        <= self.config.gate_base_m;
                    (!back).then(|| ChangeHit {
                        kind: EventKind::Moved,
                        stamp_ns: last.stamp_ns,
                        event_id: last.id,
                        object_id: id,
                        label: obj.label.clone(),
                        from_world: from,
                        to_world: Some(to),
                    })
                }
                _ => None,
            };
            // Without a net move: the missing / reappeared events after the last move (all of
            // them when there is none), a reappearance undoing a missing cancelling out.
            let rest = events
                .iter()
                .rposition(|e| e.kind == EventKind::Moved)
                .map_or(&events[..], |i| &events[i + 1..]);
            let change = net_move.or_else(|| {
                let (first, last) = (rest.first()?, rest.last()?);
                let cancelled =
                    first.kind == EventKind::Missing && last.kind == EventKind::Reappeared;
                (!cancelled).then(|| ChangeHit {
                    kind: last.kind,
                    stamp_ns: last.stamp_ns,
                    event_id: last.id,
                    object_id: id,
                    label: obj.label.clone(),
                    from_world: arr32(&last.position_world),
                    to_world: None,
                })
            });
            out.extend(change);
        }
        out.sort_by(|a, b| {
            a.stamp_ns
                .cmp(&b.stamp_ns)
                .then(a.object_id.cmp(&b.object_id))
        });
        Ok(out)
    }
}
