//! Forgetting on request: erasing objects, events, captions and embeddings from the memory.
//!
//! An erased object keeps its arena slot (ids are never reused) but nothing else: label, votes,
//! text, appearance, positions and history are wiped, and it answers no query. Erased events
//! and captions leave the log. A store mirrors the erasure on disk from the [`ForgetReport`].

use nalgebra::{Point3, Vector3};
use serde::Serialize;

use super::*;

/// What to forget.
#[derive(Debug, Clone, PartialEq)]
pub enum Forget {
    /// These objects (and the duplicates merged into them), with their whole history.
    Objects(Vec<ObjectId>),
    /// Everything seen within `radius_m` of `center_world`: objects that stood there (at any
    /// time), and events and captions recorded there.
    Region {
        /// Centre, map frame, m.
        center_world: Point3<f64>,
        /// Radius, m.
        radius_m: f64,
    },
    /// Every event and caption recorded in the window, and the objects seen only inside it.
    Window(TimeWindow),
    /// Every object carrying this label (after normalisation), with its history.
    Label(String),
}

/// What [`Memory::forget`] erased from RAM, and what a store must erase on disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ForgetReport {
    /// Every object erased (merged duplicates included), sorted.
    pub objects: Vec<ObjectId>,
    /// Events erased from RAM.
    pub events_erased: usize,
    /// Captions erased from RAM, by index.
    pub captions_erased: Vec<u32>,
}

/// Whether a label, region or window selection takes `o` in: live objects, and tentative
/// tracks dropped as false positives (they still hold a label, a place and a look). Objects
/// merged into another follow it; tombstones hold nothing.
fn erasable(o: &MemoryObject) -> bool {
    !o.retired || o.is_dropped_tentative()
}

impl Memory {
    /// Erases what `what` selects. Objects keep their ids as empty, retired tombstones.
    ///
    /// # Errors
    /// [`CoreError::EmptyText`] for a blank label, [`CoreError::NonFinitePoint`] /
    /// [`CoreError::InvalidRadius`] for a bad region; the memory is then unchanged.
    pub fn forget(&mut self, what: &Forget) -> Result<ForgetReport, CoreError> {
        let mut selected: BTreeSet<ObjectId> = BTreeSet::new();
        let mut erase_events: BTreeSet<EventId> = BTreeSet::new();
        match what {
            Forget::Objects(ids) => {
                for id in ids {
                    if id.index() < self.objects.len() {
                        selected.insert(self.resolve(*id));
                    }
                }
            }
            Forget::Label(label) => {
                let label = normalize_label(label);
                if label.is_empty() {
                    return Err(CoreError::EmptyText);
                }
                for o in &self.objects {
                    if erasable(o) && o.label == label {
                        selected.insert(o.id);
                    }
                }
            }
            Forget::Region {
                center_world,
                radius_m,
            } => {
                if !point_is_finite(center_world) {
                    return Err(CoreError::NonFinitePoint);
                }
                if !(radius_m.is_finite() && *radius_m >= 0.0) {
                    return Err(CoreError::InvalidRadius {
                        radius_m: *radius_m,
                    });
                }
                let inside = |p: &Point3<f64>| (p - center_world).norm() <= *radius_m;
                for o in &self.objects {
                    if !erasable(o) {
                        continue;
                    }
                    let stood_there = inside(&o.position_world)
                        || o.placements.iter().any(|pid| {
                            self.placements
                                .get(pid.index())
                                .is_some_and(|p| inside(&p.position_world))
                        });
                    if stood_there {
                        selected.insert(o.id);
                    }
                }
                let inside32 = |p: &[f32; 3]| {
                    inside(&Point3::new(
                        f64::from(p[0]),
                        f64::from(p[1]),
                        f64::from(p[2]),
                    ))
                };
                for e in self.log.events() {
                    if inside32(&e.position_world) || e.from_world.as_ref().is_some_and(inside32) {
                        erase_events.insert(e.id);
                    }
                }
            }
            Forget::Window(window) => {
                for e in self.log.recorded_in(window) {
                    erase_events.insert(e.id);
                }
                for o in &self.objects {
                    if erasable(o)
                        && o.first_seen_ns >= window.start_ns()
                        && o.last_seen_ns <= window.end_ns()
                    {
                        selected.insert(o.id);
                    }
                }
            }
        }
        // Every object that stands for a selected one, transitively (merged duplicates).
        let mut all: BTreeSet<ObjectId> = selected.clone();
        for o in &self.objects {
            if o.merged_into.is_some() && selected.contains(&self.resolve(o.id)) {
                all.insert(o.id);
            }
        }
        for id in &selected {
            erase_events.extend(self.object_events[id.index()].iter().copied());
        }
        for id in &all {
            self.erase_object(*id);
        }
        let captions_erased = self.log.erase(&erase_events);
        for list in &mut self.object_events {
            list.retain(|e| !erase_events.contains(e));
        }
        self.compact();
        Ok(ForgetReport {
            objects: all.into_iter().collect(),
            events_erased: erase_events.len(),
            captions_erased,
        })
    }

    /// Turns an object into an empty, retired tombstone and removes it from every index.
    fn erase_object(&mut self, id: ObjectId) {
        self.reid_withdraw(id);
        self.pending_reid.remove(&id);
        let group = self.objects[id.index()].group;
        if let Some(set) = self.missing_by_group.get_mut(&group) {
            set.remove(&id);
        }
        self.object_index.remove(id.0);
        self.text_embeddings.remove(&id);
        let label = self.objects[id.index()].label.clone();
        let placements = self.objects[id.index()].placements.clone();
        for pid in placements {
            self.closed_index.remove(pid.0);
            self.touch_placement(pid);
            let p = &mut self.placements[pid.index()];
            p.position_world = Point3::origin();
        }
        self.touch(id);
        self.missed_since.remove(&id);
        self.absent_views.remove(&id);
        self.set_scatter_m2(id, 0.0);
        {
            let o = &mut self.objects[id.index()];
            o.label = Label::default();
            o.label_votes.clear();
            o.position_world = Point3::origin();
            o.extent_m = Vector3::zeros();
            o.text = None;
            o.embedding = None;
            o.confirmed = false;
            o.retired = true;
            o.merged_into = None;
            o.placements.clear();
            o.open_since_ns = None;
            o.missing_since_ns = None;
            o.seen_from.clear();
            o.distinct_from.clear();
            o.open_visit = None;
            o.confidence = 0.0;
        }
        self.relation_anchor[id.index()] = Point3::origin();
        self.refresh_label_index(id);
        self.refresh_relations(id);
        // A label no object carries any more is forgotten too (its embedding with it).
        if self.label_index.is_empty_label(label.as_str()) {
            self.label_index.forget_label(label.as_str());
            self.label_embeddings.remove(label.as_str());
        }
    }
}
