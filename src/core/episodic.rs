//! The episodic event log: append-only, sorted by the stamp at which the memory recorded each
//! event, with captions and their embeddings on the side.
//!
//! Owns [`Event`], [`EventKind`], [`CaptionRecord`] and [`EventLog`]. Decides nothing: the memory
//! appends, queries read ranges.

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
    /// A missing object was seen again in place; `start_ns` last sighting before, `end_ns` now.
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

/// The append-only log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventLog {
    events: Vec<Event>,
    captions: Vec<CaptionRecord>,
}

impl EventLog {
    /// A log from saved events and captions.
    ///
    /// # Errors
    /// [`CoreError::InvalidParts`] when ids are not `0..n` in order, stamps go backwards, or a
    /// caption event points past the captions.
    pub fn from_parts(events: Vec<Event>, captions: Vec<CaptionRecord>) -> Result<Self, CoreError> {
        for (i, e) in events.iter().enumerate() {
            if e.id != EventId(i as u64) {
                return Err(CoreError::InvalidParts {
                    reason: format!("event {i} has id {}", e.id),
                });
            }
            if i > 0 && e.stamp_ns < events[i - 1].stamp_ns {
                return Err(CoreError::InvalidParts {
                    reason: format!("event {i} goes back in time"),
                });
            }
            if e.caption.is_some_and(|c| c as usize >= captions.len()) {
                return Err(CoreError::InvalidParts {
                    reason: format!("event {i} points past the captions"),
                });
            }
        }
        Ok(Self { events, captions })
    }

    /// Appends an event, assigning its id. A stamp older than the last one is raised to it, so
    /// the log stays sorted whatever the caller does.
    pub fn append(&mut self, mut event: Event) -> EventId {
        if let Some(last) = self.events.last() {
            event.stamp_ns = event.stamp_ns.max(last.stamp_ns);
        }
        let id = EventId(self.events.len() as u64);
        event.id = id;
        self.events.push(event);
        id
    }

    /// Stores a caption and returns its index for a `Caption` event.
    pub fn add_caption(&mut self, record: CaptionRecord) -> u32 {
        self.captions.push(record);
        (self.captions.len() - 1) as u32
    }

    /// All events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// One event.
    pub fn get(&self, id: EventId) -> Option<&Event> {
        self.events.get(id.index())
    }

    /// One caption.
    pub fn caption(&self, index: u32) -> Option<&CaptionRecord> {
        self.captions.get(index as usize)
    }

    /// All captions.
    pub fn captions(&self) -> &[CaptionRecord] {
        &self.captions
    }

    /// Events recorded inside `window` (binary search on the stamp).
    pub fn recorded_in(&self, window: &TimeWindow) -> &[Event] {
        let lo = self
            .events
            .partition_point(|e| e.stamp_ns < window.start_ns());
        let hi = self
            .events
            .partition_point(|e| e.stamp_ns <= window.end_ns());
        &self.events[lo..hi.max(lo)]
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
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
}
