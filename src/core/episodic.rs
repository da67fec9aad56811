//! The episodic event log: append-only, sorted by the stamp at which the memory recorded each
//! event, with captions and their embeddings on the side.
//!
//! Owns [`Event`], [`EventKind`], [`CaptionRecord`] and [`EventLog`]. Decides nothing: the memory
//! appends, queries read ranges.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::CoreError;
use super::ids::{EventId, ObjectId, PlaceId};
use super::time::{StampNs, TimeWindow};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An object was confirmed; `start_ns` is its first sighting.
    FirstSeen,
    /// An object was seen continuously (sightings less than `visit_gap_s` apart) over
    /// `[start_ns, end_ns]`; recorded when the visit closes.
    Visit,
    /// An object was re-identified elsewhere: `from_world` -> `position_world`; `start_ns` is the
    /// last sighting at the old place, `end_ns` the first at the new one.
    Moved,
    /// An object was expected in view and not seen; `start_ns` is its last sighting.
    Missing,
    /// A missing object was seen again in place; it came back between `start_ns` and `end_ns`
    /// (its first sighting back): `start_ns` is its last sighting before, or, when a later visit
    /// confirmed it gone, the keyframe that did (see [`crate::core::Memory::absent_seen`]).
    Reappeared,
    /// A keyframe caption (see `caption`).
    Caption,
    /// The robot entered a place.
    PlaceEntered,
}

impl EventKind {
    /// Lower-case name, as used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FirstSeen => "first_seen",
            EventKind::Visit => "visit",
            EventKind::Moved => "moved",
            EventKind::Missing => "missing",
            EventKind::Reappeared => "reappeared",
            EventKind::Caption => "caption",
            EventKind::PlaceEntered => "place_entered",
        }
    }

    /// Whether it reports a change of the scene (moved, missing, reappeared): the kinds
    /// [`crate::core::Query::Changes`] answers with.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            EventKind::Moved | EventKind::Missing | EventKind::Reappeared
        )
    }
}

/// One entry of the log. Positions are `f32` in the map frame to keep 10M events small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its id (= its index in the log).
    pub id: EventId,
    /// When the memory recorded it, ns; non-decreasing along the log.
    pub stamp_ns: StampNs,
    /// What happened.
    pub kind: EventKind,
    /// The object, for object events.
    pub object: Option<ObjectId>,
    /// The place (of the object, or of the robot for captions and place entries).
    pub place: Option<PlaceId>,
    /// Start of the interval the event describes, ns.
    pub start_ns: StampNs,
    /// End of the interval the event describes, ns.
    pub end_ns: StampNs,
    /// Object (or robot) position, map frame, m.
    pub position_world: [f32; 3],
    /// Previous position for `Moved`.
    pub from_world: Option<[f32; 3]>,
    /// Index into the caption table for `Caption`.
    pub caption: Option<u32>,
}

/// A keyframe caption with the robot's pose when it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionRecord {
    /// The caption text.
    pub text: String,
    /// Its embedding (from the memory's embedder).
    pub embedding: Vec<f32>,
    /// Robot position, map frame, m.
    pub robot_position_world: [f64; 3],
    /// Robot yaw, rad.
    pub robot_yaw_rad: f64,
}

/// The append-only log, or the part of it kept in RAM.
///
/// Ids are assigned in order and never reused. A store may *evict* the oldest events (they stay
/// on disk, see [`crate::core::memory::ColdEvents`]) and *forget* may erase some: the events in
/// RAM are then a sorted run of ids with gaps. Captions are keyed by their index the same way.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    events: Vec<Event>,
    /// Ids of the change events (see [`EventKind::is_change`]) among `events`, increasing: few
    /// next to sightings and captions, so a changes query need not scan the log.
    change_ids: Vec<EventId>,
    next_id: u64,
    captions: BTreeMap<u32, CaptionRecord>,
    next_caption: u32,
    last_stamp_ns: Option<StampNs>,
    /// Events recorded before this stamp are not in RAM (evicted to a store).
    evicted_before_ns: Option<StampNs>,
}

/// An [`EventLog`] as plain data (see [`EventLog::from_parts`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventLogParts {
    /// Events in RAM, ids increasing.
    pub events: Vec<Event>,
    /// The id the next event gets.
    pub next_id: u64,
    /// Captions in RAM by index.
    pub captions: BTreeMap<u32, CaptionRecord>,
    /// The index the next caption gets.
    pub next_caption: u32,
    /// Stamp of the last event ever appended.
    pub last_stamp_ns: Option<StampNs>,
    /// Events recorded before this stamp live only in a store.
    pub evicted_before_ns: Option<StampNs>,
}

impl EventLog {
    /// A log from saved parts.
    ///
    /// # Errors
    /// [`CoreError::InvalidParts`] when ids are not increasing or reach `next_id`, stamps go
    /// backwards, an event lies before the eviction stamp, or a caption index reaches
    /// `next_caption`.
    pub fn from_parts(parts: EventLogParts) -> Result<Self, CoreError> {
        let bad = |reason: String| Err(CoreError::InvalidParts { reason });
        for (i, e) in parts.events.iter().enumerate() {
            if e.id.0 >= parts.next_id {
                return bad(format!(
                    "event {} is not below next id {}",
                    e.id, parts.next_id
                ));
            }
            if i > 0 {
                let prev = &parts.events[i - 1];
                if e.id <= prev.id {
                    return bad(format!("event {} follows event {}", e.id, prev.id));
                }
                if e.stamp_ns < prev.stamp_ns {
                    return bad(format!("event {} goes back in time", e.id));
                }
            }
            if parts.evicted_before_ns.is_some_and(|t| e.stamp_ns < t) {
                return bad(format!("event {} is older than the eviction stamp", e.id));
            }
            if e.caption.is_some_and(|c| c >= parts.next_caption) {
                return bad(format!("event {} points past the captions", e.id));
            }
        }
        if parts.captions.keys().any(|c| *c >= parts.next_caption) {
            return bad("a caption index reaches the next caption index".to_string());
        }
        let last_in_ram = parts.events.last().map(|e| e.stamp_ns);
        if let (Some(a), Some(b)) = (last_in_ram, parts.last_stamp_ns) {
            if a > b {
                return bad("an event is newer than the last stamp".to_string());
            }
        }
        let change_ids = parts
            .events
            .iter()
            .filter(|e| e.kind.is_change())
            .map(|e| e.id)
            .collect();
        Ok(Self {
            last_stamp_ns: parts.last_stamp_ns.or(last_in_ram),
            change_ids,
            events: parts.events,
            next_id: parts.next_id,
            captions: parts.captions,
            next_caption: parts.next_caption,
            evicted_before_ns: parts.evicted_before_ns,
        })
    }

    /// The log as plain data.
    pub fn to_parts(&self) -> EventLogParts {
        EventLogParts {
            events: self.events.clone(),
            next_id: self.next_id,
            captions: self.captions.clone(),
            next_caption: self.next_caption,
            last_stamp_ns: self.last_stamp_ns,
            evicted_before_ns: self.evicted_before_ns,
        }
    }

    /// Appends an event, assigning its id. A stamp older than the last one is raised to it, so
    /// the log stays sorted whatever the caller does.
    pub fn append(&mut self, mut event: Event) -> EventId {
        if let Some(last) = self.last_stamp_ns {
            event.stamp_ns = event.stamp_ns.max(last);
        }
        let id = EventId(self.next_id);
        self.next_id += 1;
        event.id = id;
        self.last_stamp_ns = Some(event.stamp_ns);
        if event.kind.is_change() {
            self.change_ids.push(id);
        }
        self.events.push(event);
        id
    }

    /// Stores a caption and returns its index for a `Caption` event.
    pub fn add_caption(&mut self, record: CaptionRecord) -> u32 {
        let index = self.next_caption;
        self.next_caption += 1;
        self.captions.insert(index, record);
        index
    }

    /// The events in RAM, ids increasing.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// One event, if it is in RAM.
    pub fn get(&self, id: EventId) -> Option<&Event> {
        let first = self.events.first()?.id.0;
        // Without gaps the id is the offset; otherwise binary search.
        let direct = id.0.checked_sub(first).and_then(|i| {
            let e = self.events.get(usize::try_from(i).ok()?)?;
            (e.id == id).then_some(e)
        });
        direct.or_else(|| {
            self.events
                .binary_search_by_key(&id, |e| e.id)
                .ok()
                .map(|i| &self.events[i])
        })
    }

    /// One caption, if it is in RAM.
    pub fn caption(&self, index: u32) -> Option<&CaptionRecord> {
        self.captions.get(&index)
    }

    /// The captions in RAM, by index.
    pub fn captions(&self) -> &BTreeMap<u32, CaptionRecord> {
        &self.captions
    }

    /// Events in RAM recorded inside `window` (binary search on the stamp).
    pub fn recorded_in(&self, window: &TimeWindow) -> &[Event] {
        let lo = self
            .events
            .partition_point(|e| e.stamp_ns < window.start_ns());
        let hi = self
            .events
            .partition_point(|e| e.stamp_ns <= window.end_ns());
        &self.events[lo..hi.max(lo)]
    }

    /// Change events (see [`EventKind::is_change`]) in RAM recorded inside `window`, in log
    /// order, found through the log's index of them.
    pub fn changes_recorded_in<'a>(
        &'a self,
        window: &TimeWindow,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        let stamp = |id: &EventId| self.get(*id).map_or(StampNs::MIN, |e| e.stamp_ns);
        let lo = self
            .change_ids
            .partition_point(|id| stamp(id) < window.start_ns());
        let hi = self
            .change_ids
            .partition_point(|id| stamp(id) <= window.end_ns());
        self.change_ids[lo..hi.max(lo)]
            .iter()
            .filter_map(|id| self.get(*id))
    }

    /// Number of events in RAM.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is in RAM.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The id the next event gets (= events ever appended).
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The index the next caption gets.
    pub fn next_caption(&self) -> u32 {
        self.next_caption
    }

    /// Stamp of the last event ever appended.
    pub fn last_stamp_ns(&self) -> Option<StampNs> {
        self.last_stamp_ns
    }

    /// Events recorded before this stamp are no longer in RAM.
    pub fn evicted_before_ns(&self) -> Option<StampNs> {
        self.evicted_before_ns
    }

    /// Drops from RAM every event recorded before `stamp_ns` and the captions they point to.
    /// Returns the number of events dropped. The caller must have stored them first.
    pub fn evict_before(&mut self, stamp_ns: StampNs) -> usize {
        if self.evicted_before_ns.is_some_and(|t| t >= stamp_ns) {
            return 0;
        }
        let n = self.events.partition_point(|e| e.stamp_ns < stamp_ns);
        if let Some(first_kept) = self.events.get(n).map(|e| e.id) {
            self.change_ids.retain(|id| *id >= first_kept);
        } else {
            self.change_ids.clear();
        }
        for e in self.events.drain(..n) {
            if let Some(c) = e.caption {
                self.captions.remove(&c);
            }
        }
        self.evicted_before_ns = Some(stamp_ns);
        n
    }

    /// Erases the given events (ids sorted or not) and their captions from RAM. Returns the
    /// caption indices erased.
    pub fn erase(&mut self, ids: &BTreeSet<EventId>) -> Vec<u32> {
        let mut captions = Vec::new();
        self.events.retain(|e| {
            let gone = ids.contains(&e.id);
            if gone {
                if let Some(c) = e.caption {
                    captions.push(c);
                }
            }
            !gone
        });
        for c in &captions {
            self.captions.remove(c);
        }
        self.change_ids.retain(|id| !ids.contains(id));
        captions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stamp_ns: StampNs) -> Event {
        Event {
            id: EventId(0),
            stamp_ns,
            kind: EventKind::PlaceEntered,
            object: None,
            place: None,
            start_ns: stamp_ns,
            end_ns: stamp_ns,
            position_world: [0.0; 3],
            from_world: None,
            caption: None,
        }
    }

    #[test]
    fn log_stays_sorted_and_ranges_are_inclusive() {
        let mut log = EventLog::default();
        for s in [1, 3, 3, 7, 2] {
            log.append(ev(s));
        }
        let stamps: Vec<_> = log.events().iter().map(|e| e.stamp_ns).collect();
        assert_eq!(stamps, vec![1, 3, 3, 7, 7]);
        let w = TimeWindow::new(3, 7).unwrap();
        assert_eq!(log.recorded_in(&w).len(), 4);
        assert_eq!(log.recorded_in(&TimeWindow::new(4, 6).unwrap()).len(), 0);
        assert_eq!(log.events()[4].id, EventId(4));
    }

    #[test]
    fn eviction_and_erasure_keep_ids_and_lookups() {
        let mut log = EventLog::default();
        for s in 0..10 {
            log.append(ev(s));
        }
        assert_eq!(log.evict_before(3), 3);
        assert_eq!(log.next_id(), 10);
        assert!(log.get(EventId(2)).is_none());
        assert_eq!(log.get(EventId(3)).map(|e| e.stamp_ns), Some(3));
        log.erase(&BTreeSet::from([EventId(5), EventId(7)]));
        assert!(log.get(EventId(5)).is_none());
        assert_eq!(log.get(EventId(8)).map(|e| e.id), Some(EventId(8)));
        assert_eq!(log.append(ev(1)), EventId(10));
        // The stamp is raised to the last one even though older events are gone.
        assert_eq!(log.get(EventId(10)).map(|e| e.stamp_ns), Some(9));
        let back = EventLog::from_parts(log.to_parts()).unwrap();
        assert_eq!(back.to_parts(), log.to_parts());
        let mut bad = log.to_parts();
        bad.next_id = 5;
        assert!(EventLog::from_parts(bad).is_err());
    }
}
