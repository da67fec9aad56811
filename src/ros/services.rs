//! The node's services as pure translations: a `mnemo_msgs` request becomes a core [`Query`]
//! (or [`Forget`]), the core's answer becomes the response. The node's callbacks only decode,
//! call these and encode; the query logic stays in [`crate::core::query`].
//!
//! Owns: request validation (empty or oversized requests, inverted windows, unknown modes give
//! `success = false` and a message, never a panic), the time conventions of `msg/` (a zero
//! `at`/`stamp` is now, a zero `window_start` the beginning, a zero `window_end` no end), and
//! the conversion of core answers and events to messages. Time is passed in.

use nalgebra::Point3;

use super::mnemo_msgs::{
    ChangesRequest, ChangesResponse, Episode, ForgetRequest, ForgetResponse, GetSceneGraphRequest,
    GetSceneGraphResponse, MemoryEvent, MemoryObject, NearRequest, NearResponse, RecallRequest,
    RecallResponse, Relation, SceneGraph, WhenRequest, WhenResponse, WhereRequest, WhereResponse,
};
use super::msg::{Header, Point, Time, Vector3};
use crate::core::episodic::{Event, EventKind, EventLog};
use crate::core::memory::Forget;
use crate::core::query::{Answer, ChangeHit, ObjectHit, Query, Target, TimelineEntry};
use crate::core::scene_graph::{ObjectState, RelationKind};
use crate::core::time::{StampNs, TimeWindow};
use crate::core::{CoreError, ObjectId};

/// Most results one request may ask for (`k`); larger requests are refused.
pub const MAX_K: u32 = 10_000;
/// Longest text (target, label, recall text) a request may carry, bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Most object ids one forget request may carry.
pub const MAX_FORGET_IDS: usize = 100_000;

/// Why a request was refused (the response's `message`).
type Refusal = String;

fn time(ns: StampNs) -> Time {
    Time::from_ns(ns)
}

fn point(p: [f64; 3]) -> Point {
    Point {
        x: p[0],
        y: p[1],
        z: p[2],
    }
}

fn text(name: &str, s: &str) -> Result<String, Refusal> {
    let t = s.trim();
    if t.is_empty() {
        Err(format!("{name} is empty"))
    } else if s.len() > MAX_TEXT_BYTES {
        Err(format!(
            "{name} is {} bytes, more than {MAX_TEXT_BYTES}",
            s.len()
        ))
    } else {
        Ok(t.to_string())
    }
}

/// As [`text`], but blank means none.
fn optional_text(name: &str, s: &str) -> Result<Option<String>, Refusal> {
    if s.trim().is_empty() {
        Ok(None)
    } else {
        text(name, s).map(Some)
    }
}

fn k(k: u32) -> Result<usize, Refusal> {
    if k > MAX_K {
        Err(format!("k = {k} is more than {MAX_K}"))
    } else {
        Ok(k as usize)
    }
}

fn target(s: &str, exact_label: bool) -> Result<Target, Refusal> {
    let t = text("target", s)?;
    Ok(if exact_label {
        Target::Label(t)
    } else {
        Target::Text(t)
    })
}

/// `window_start` zero: the beginning; `window_end` zero: no end.
fn window(start: Time, end: Time) -> Result<TimeWindow, Refusal> {
    let zero = Time::default();
    let start_ns = if start == zero {
        StampNs::MIN
    } else {
        start.to_ns()
    };
    let end_ns = if end == zero {
        StampNs::MAX
    } else {
        end.to_ns()
    };
    if start.nanosec >= 1_000_000_000 || end.nanosec >= 1_000_000_000 {
        return Err("a window time has nanosec >= 1e9".into());
    }
    TimeWindow::new(start_ns, end_ns).map_err(|e| e.to_string())
}

/// `at` zero: now (`None`).
fn at(t: Time) -> Result<Option<StampNs>, Refusal> {
    if t.nanosec >= 1_000_000_000 {
        return Err("nanosec >= 1e9".into());
    }
    Ok((t != Time::default()).then(|| t.to_ns()))
}

fn state(s: ObjectState) -> u8 {
    match s {
        ObjectState::Present => MemoryObject::STATE_PRESENT,
        ObjectState::Moved => MemoryObject::STATE_MOVED,
        ObjectState::Missing => MemoryObject::STATE_MISSING,
    }
}

/// A core object hit as a message.
pub fn object(hit: &ObjectHit) -> MemoryObject {
    MemoryObject {
        id: hit.id.0,
        label: hit.label.to_string(),
        position: point(hit.position_world),
        extent: Vector3 {
            x: hit.extent_m[0],
            y: hit.extent_m[1],
            z: hit.extent_m[2],
        },
        first_seen: time(hit.first_seen_ns),
        last_seen: time(hit.last_seen_ns),
        state: state(hit.state),
        place_id: hit.place.0,
        score: hit.score,
        has_distance: hit.distance_m.is_some(),
        distance: hit.distance_m.unwrap_or(0.0),
        text: hit.text.clone().unwrap_or_default(),
    }
}

/// An event kind as `MemoryEvent::KIND_*`.
pub fn event_kind(kind: EventKind) -> u8 {
    match kind {
        EventKind::FirstSeen => MemoryEvent::KIND_FIRST_SEEN,
        EventKind::Visit => MemoryEvent::KIND_VISIT,
        EventKind::Moved => MemoryEvent::KIND_MOVED,
        EventKind::Missing => MemoryEvent::KIND_MISSING,
        EventKind::Reappeared => MemoryEvent::KIND_REAPPEARED,
        EventKind::Caption => MemoryEvent::KIND_CAPTION,
        EventKind::PlaceEntered => MemoryEvent::KIND_PLACE_ENTERED,
    }
}

fn timeline_event(e: &TimelineEntry, map_frame: &str) -> MemoryEvent {
    MemoryEvent {
        header: Header {
            stamp: time(e.end_ns),
            frame_id: map_frame.to_string(),
        },
        kind: event_kind(e.kind),
        start: time(e.start_ns),
        end: time(e.end_ns),
        has_object: true,
        object_id: e.object_id.0,
        label: e.label.to_string(),
        position: point(e.position_world),
        ..MemoryEvent::default()
    }
}

/// A logged event as published on `~/events`; `label` is the object's label when known.
pub fn log_event(e: &Event, log: &EventLog, label: Option<&str>, map_frame: &str) -> MemoryEvent {
    let f = |p: [f32; 3]| point([f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]);
    MemoryEvent {
        header: Header {
            stamp: time(e.stamp_ns),
            frame_id: map_frame.to_string(),
        },
        event_id: e.id.0,
        kind: event_kind(e.kind),
        start: time(e.start_ns),
        end: time(e.end_ns),
        has_object: e.object.is_some(),
        object_id: e.object.map_or(0, |o| o.0),
        label: label.unwrap_or_default().to_string(),
        position: f(e.position_world),
        has_from: e.from_world.is_some(),
        from_position: e.from_world.map(f).unwrap_or_default(),
        has_place: e.place.is_some(),
        place_id: e.place.map_or(0, |p| p.0),
        caption: e
            .caption
            .and_then(|c| log.caption(c))
            .map(|c| c.text.clone())
            .unwrap_or_default(),
    }
}

/// A response with `success = false` and `message`.
macro_rules! refused {
    ($t:ident, $m:expr) => {
        $t {
            message: $m,
            ..$t::default()
        }
    };
}

fn map_header(now_ns: StampNs, map_frame: &str) -> Header {
    Header {
        stamp: time(now_ns),
        frame_id: map_frame.to_string(),
    }
}

/// The answer of a query, or why there is none.
fn ask(
    query: Result<Query, Refusal>,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> Result<Answer, Refusal> {
    let q = query?;
    run(&q).map_err(|e| e.to_string())
}

/// `~/where`.
pub fn handle_where(
    req: &WhereRequest,
    now_ns: StampNs,
    map_frame: &str,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> WhereResponse {
    let query = (|| {
        Ok(Query::Where {
            target: target(&req.target, req.exact_label)?,
            k: k(req.k)?,
            at_ns: at(req.at)?,
        })
    })();
    match ask(query, run) {
        Ok(Answer::Objects(hits)) => WhereResponse {
            success: true,
            message: String::new(),
            header: map_header(now_ns, map_frame),
            objects: hits.iter().map(object).collect(),
        },
        Ok(other) => refused!(WhereResponse, format!("unexpected answer {other:?}")),
        Err(m) => refused!(WhereResponse, m),
    }
}

/// `~/when`.
pub fn handle_when(
    req: &WhenRequest,
    map_frame: &str,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> WhenResponse {
    let query = (|| {
        Ok(Query::When {
            target: target(&req.target, req.exact_label)?,
            window: window(req.window_start, req.window_end)?,
        })
    })();
    match ask(query, run) {
        Ok(Answer::Timeline(entries)) => WhenResponse {
            success: true,
            message: String::new(),
            events: entries
                .iter()
                .map(|e| timeline_event(e, map_frame))
                .collect(),
        },
        Ok(other) => refused!(WhenResponse, format!("unexpected answer {other:?}")),
        Err(m) => refused!(WhenResponse, m),
    }
}

/// `~/near`.
pub fn handle_near(
    req: &NearRequest,
    now_ns: StampNs,
    map_frame: &str,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> NearResponse {
    let query = (|| {
        let label = optional_text("label", &req.label)?;
        Ok(Query::Near {
            point_world: Point3::new(req.point.x, req.point.y, req.point.z),
            radius_m: req.radius,
            window: window(req.window_start, req.window_end)?,
            label,
            k: k(req.k)?,
        })
    })();
    match ask(query, run) {
        Ok(Answer::Objects(hits)) => NearResponse {
            success: true,
            message: String::new(),
            header: map_header(now_ns, map_frame),
            objects: hits.iter().map(object).collect(),
        },
        Ok(other) => refused!(NearResponse, format!("unexpected answer {other:?}")),
        Err(m) => refused!(NearResponse, m),
    }
}

/// `~/recall`.
pub fn handle_recall(
    req: &RecallRequest,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> RecallResponse {
    let query = (|| {
        let text = optional_text("text", &req.text)?;
        Ok(Query::Recall {
            window: window(req.window_start, req.window_end)?,
            text,
            k: k(req.k)?,
        })
    })();
    match ask(query, run) {
        Ok(Answer::Episodes(episodes)) => RecallResponse {
            success: true,
            message: String::new(),
            episodes: episodes
                .iter()
                .map(|e| Episode {
                    stamp: time(e.stamp_ns),
                    caption: e.caption.clone(),
                    robot_position: point(e.robot_position_world),
                    robot_yaw: e.robot_yaw_rad,
                    has_place: e.place.is_some(),
                    place_id: e.place.map_or(0, |p| p.0),
                    score: e.score,
                })
                .collect(),
        },
        Ok(other) => refused!(RecallResponse, format!("unexpected answer {other:?}")),
        Err(m) => refused!(RecallResponse, m),
    }
}

/// `~/scene_graph`.
pub fn handle_scene_graph(
    req: &GetSceneGraphRequest,
    now_ns: StampNs,
    map_frame: &str,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> GetSceneGraphResponse {
    let query = at(req.stamp).map(|t| Query::SceneGraphAt {
        stamp_ns: t.unwrap_or(now_ns),
    });
    match ask(query, run) {
        Ok(Answer::SceneGraph(g)) => GetSceneGraphResponse {
            success: true,
            message: String::new(),
            graph: SceneGraph {
                header: map_header(g.stamp_ns, map_frame),
                objects: g.objects.iter().map(object).collect(),
                relations: g
                    .relations
                    .iter()
                    .map(|r| Relation {
                        subject_id: r.subject.0,
                        kind: match r.kind {
                            RelationKind::On => Relation::KIND_ON,
                            RelationKind::In => Relation::KIND_IN,
                            RelationKind::Near => Relation::KIND_NEAR,
                        },
                        object_id: r.object.0,
                    })
                    .collect(),
            },
        },
        Ok(other) => refused!(
            GetSceneGraphResponse,
            format!("unexpected answer {other:?}")
        ),
        Err(m) => refused!(GetSceneGraphResponse, m),
    }
}

/// A net change as a message: `position` is where it is now for a move (`from_position` where it
/// was), else where it was; stamp, start and end are when the memory recorded it.
fn change_event(c: &ChangeHit, map_frame: &str) -> MemoryEvent {
    MemoryEvent {
        header: map_header(c.stamp_ns, map_frame),
        event_id: c.event_id.0,
        kind: event_kind(c.kind),
        start: time(c.stamp_ns),
        end: time(c.stamp_ns),
        has_object: true,
        object_id: c.object_id.0,
        label: c.label.to_string(),
        position: point(c.to_world.unwrap_or(c.from_world)),
        has_from: c.to_world.is_some(),
        from_position: if c.to_world.is_some() {
            point(c.from_world)
        } else {
            Point::default()
        },
        ..MemoryEvent::default()
    }
}

/// `~/changes`.
pub fn handle_changes(
    req: &ChangesRequest,
    map_frame: &str,
    run: impl FnOnce(&Query) -> Result<Answer, CoreError>,
) -> ChangesResponse {
    let query = (|| {
        let label = optional_text("label", &req.label)?;
        Ok(Query::Changes {
            window: window(req.window_start, req.window_end)?,
            label,
        })
    })();
    match ask(query, run) {
        Ok(Answer::Changes(changes)) => ChangesResponse {
            success: true,
            message: String::new(),
            changes: changes.iter().map(|c| change_event(c, map_frame)).collect(),
        },
        Ok(other) => refused!(ChangesResponse, format!("unexpected answer {other:?}")),
        Err(m) => refused!(ChangesResponse, m),
    }
}

/// The core [`Forget`] a request selects, or why it is refused.
pub fn forget_of(req: &ForgetRequest) -> Result<Forget, String> {
    match req.mode {
        ForgetRequest::MODE_OBJECTS => {
            if req.object_ids.is_empty() {
                Err("MODE_OBJECTS with no object_ids".into())
            } else if req.object_ids.len() > MAX_FORGET_IDS {
                Err(format!(
                    "{} object_ids, more than {MAX_FORGET_IDS}",
                    req.object_ids.len()
                ))
            } else {
                Ok(Forget::Objects(
                    req.object_ids.iter().map(|&i| ObjectId(i)).collect(),
                ))
            }
        }
        ForgetRequest::MODE_LABEL => Ok(Forget::Label(text("label", &req.label)?)),
        ForgetRequest::MODE_REGION => {
            if !(req.radius.is_finite() && req.radius > 0.0) {
                return Err(format!("radius {} must be > 0", req.radius));
            }
            Ok(Forget::Region {
                center_world: Point3::new(req.center.x, req.center.y, req.center.z),
                radius_m: req.radius,
            })
        }
        ForgetRequest::MODE_WINDOW => {
            if req.window_start == Time::default() && req.window_end == Time::default() {
                return Err("MODE_WINDOW needs window_start or window_end (forgetting everything is not a window)".into());
            }
            Ok(Forget::Window(window(req.window_start, req.window_end)?))
        }
        m => Err(format!(
            "unknown mode {m} (expected MODE_OBJECTS, MODE_LABEL, MODE_REGION or MODE_WINDOW)"
        )),
    }
}

/// `~/forget`: `run` erases (in RAM and on disk) and reports the object ids and event count.
pub fn handle_forget<E: std::fmt::Display>(
    req: &ForgetRequest,
    run: impl FnOnce(&Forget) -> Result<(Vec<ObjectId>, u64), E>,
) -> ForgetResponse {
    match forget_of(req).and_then(|f| run(&f).map_err(|e| e.to_string())) {
        Ok((objects, events)) => ForgetResponse {
            success: true,
            message: String::new(),
            forgotten_object_ids: objects.iter().map(|o| o.0).collect(),
            forgotten_events: events,
        },
        Err(m) => refused!(ForgetResponse, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{LexicalEmbedder, Memory};
    use crate::sim::{memory_config, simulate, SimConfig};

    fn memory() -> Memory {
        let mut m = Memory::new(memory_config(), Box::new(LexicalEmbedder::default())).unwrap();
        let cfg = SimConfig {
            days: 1,
            ..SimConfig::default()
        };
        simulate(&cfg, |o| {
            let _ = m.ingest(o);
        })
        .unwrap();
        m
    }

    fn secs(s: i64) -> Time {
        Time::from_ns(s * 1_000_000_000)
    }

    #[test]
    fn answers_are_the_core_answers_as_messages() {
        let m = memory();
        let req = WhereRequest {
            target: " mug ".into(),
            exact_label: true,
            k: 3,
            at: Time::default(),
        };
        let r = handle_where(&req, 42, "map", |q| m.query(q));
        assert!(r.success, "{}", r.message);
        let Ok(Answer::Objects(hits)) = m.query(&Query::Where {
            target: Target::Label("mug".into()),
            k: 3,
            at_ns: None,
        }) else {
            panic!()
        };
        assert!(!hits.is_empty());
        assert_eq!(r.objects, hits.iter().map(object).collect::<Vec<_>>());
        assert_eq!(
            (r.header.frame_id.as_str(), r.header.stamp),
            ("map", time(42))
        );
        assert!(r
            .objects
            .iter()
            .all(|o| o.label == "mug" && !o.has_distance));
        // Near: distances set, within the radius, around the first mug.
        let p = r.objects[0].position;
        let near = handle_near(
            &NearRequest {
                point: p,
                radius: 1.0,
                k: 50,
                ..NearRequest::default()
            },
            42,
            "map",
            |q| m.query(q),
        );
        assert!(near.success, "{}", near.message);
        assert!(near
            .objects
            .iter()
            .all(|o| o.has_distance && o.distance <= 1.0 + 1e-9));
        assert!(near.objects.iter().any(|o| o.id == r.objects[0].id));
        // When: visits of that mug, in order.
        let when = handle_when(
            &WhenRequest {
                target: "mug".into(),
                exact_label: true,
                ..WhenRequest::default()
            },
            "map",
            |q| m.query(q),
        );
        assert!(when.success && !when.events.is_empty(), "{}", when.message);
        assert!(when
            .events
            .windows(2)
            .all(|w| w[0].start.to_ns() <= w[1].start.to_ns()));
        // Scene graph now: objects and relations between known ids.
        let g = handle_scene_graph(&GetSceneGraphRequest::default(), i64::MAX / 2, "map", |q| {
            m.query(q)
        });
        assert!(g.success && !g.graph.objects.is_empty() && !g.graph.relations.is_empty());
        let ids: std::collections::BTreeSet<u32> = g.graph.objects.iter().map(|o| o.id).collect();
        assert!(g
            .graph
            .relations
            .iter()
            .all(|r| ids.contains(&r.subject_id) && ids.contains(&r.object_id)));
        // Recall: the simulator captions keyframes.
        let rec = handle_recall(
            &RecallRequest {
                k: 5,
                ..RecallRequest::default()
            },
            |q| m.query(q),
        );
        assert!(rec.success && rec.episodes.len() == 5, "{}", rec.message);
        // Changes: the core's net changes, moves with their old place, by time; a label keeps
        // only that label's.
        let ch = handle_changes(&ChangesRequest::default(), "map", |q| m.query(q));
        assert!(ch.success, "{}", ch.message);
        let Ok(Answer::Changes(hits)) = m.query(&Query::Changes {
            window: TimeWindow::all(),
            label: None,
        }) else {
            panic!()
        };
        assert!(hits.iter().any(|c| c.kind == EventKind::Moved), "{hits:?}");
        assert_eq!(ch.changes.len(), hits.len());
        for (e, c) in ch.changes.iter().zip(&hits) {
            assert_eq!((e.object_id, e.event_id), (c.object_id.0, c.event_id.0));
            assert_eq!(
                (e.kind, e.header.stamp),
                (event_kind(c.kind), time(c.stamp_ns))
            );
            assert_eq!(e.header.frame_id, "map");
            let moved = c.kind == EventKind::Moved;
            assert_eq!(e.has_from, moved);
            let (to, from) = if moved {
                (c.to_world.unwrap(), Some(c.from_world))
            } else {
                (c.from_world, None)
            };
            assert_eq!(e.position, point(to));
            assert_eq!(from.map(point), e.has_from.then_some(e.from_position));
        }
        let label = hits[0].label.to_string();
        let mine = handle_changes(
            &ChangesRequest {
                label: label.to_uppercase(),
                ..ChangesRequest::default()
            },
            "map",
            |q| m.query(q),
        );
        assert!(mine.success && !mine.changes.is_empty());
        assert_eq!(
            mine.changes.len(),
            hits.iter().filter(|c| c.label == label.as_str()).count()
        );
        assert!(mine.changes.iter().all(|e| e.label == label));
    }

    #[test]
    fn bad_requests_are_refused_with_a_message_and_never_reach_the_core() {
        let never = |_: &Query| -> Result<Answer, CoreError> { panic!("asked the core") };
        let w = |target: &str, k: u32| WhereRequest {
            target: target.into(),
            k,
            ..WhereRequest::default()
        };
        for (req, want) in [
            (w("", 5), "target is empty"),
            (w("   ", 5), "target is empty"),
            (w(&"x".repeat(MAX_TEXT_BYTES + 1), 5), "bytes"),
            (w("mug", MAX_K + 1), "k = "),
        ] {
            let r = handle_where(&req, 0, "map", never);
            assert!(!r.success && r.message.contains(want), "{}", r.message);
            assert!(r.objects.is_empty());
        }
        let inverted = WhenRequest {
            target: "mug".into(),
            window_start: secs(10),
            window_end: secs(5),
            ..WhenRequest::default()
        };
        let r = handle_when(&inverted, "map", never);
        assert!(!r.success && !r.message.is_empty());
        let bad_ns = RecallRequest {
            window_start: Time {
                sec: 1,
                nanosec: 2_000_000_000,
            },
            ..RecallRequest::default()
        };
        assert!(!handle_recall(&bad_ns, never).success);
        let changes = |start: i64, end: i64, label: &str| ChangesRequest {
            window_start: secs(start),
            window_end: secs(end),
            label: label.into(),
        };
        for (req, want) in [
            (changes(10, 5, ""), "window"),
            (changes(0, 0, &"x".repeat(MAX_TEXT_BYTES + 1)), "bytes"),
        ] {
            let r = handle_changes(&req, "map", never);
            assert!(!r.success && r.message.contains(want), "{}", r.message);
        }
        // Core errors come back as messages too (a bad radius).
        let m = memory();
        let r = handle_near(
            &NearRequest {
                radius: -1.0,
                k: 5,
                ..NearRequest::default()
            },
            0,
            "map",
            |q| m.query(q),
        );
        assert!(!r.success && !r.message.is_empty());
    }

    #[test]
    fn forget_requests_select_one_core_forget() {
        let f = |mode: u8| ForgetRequest {
            mode,
            ..ForgetRequest::default()
        };
        assert!(forget_of(&f(ForgetRequest::MODE_OBJECTS)).is_err());
        assert!(forget_of(&f(ForgetRequest::MODE_LABEL)).is_err());
        assert!(forget_of(&f(ForgetRequest::MODE_REGION)).is_err());
        assert!(forget_of(&f(ForgetRequest::MODE_WINDOW)).is_err());
        assert!(forget_of(&f(9)).unwrap_err().contains("unknown mode 9"));
        assert_eq!(
            forget_of(&ForgetRequest {
                object_ids: vec![3, 1],
                ..f(ForgetRequest::MODE_OBJECTS)
            }),
            Ok(Forget::Objects(vec![ObjectId(3), ObjectId(1)]))
        );
        assert_eq!(
            forget_of(&ForgetRequest {
                label: "Mug".into(),
                ..f(ForgetRequest::MODE_LABEL)
            }),
            Ok(Forget::Label("Mug".into()))
        );
        // Then, through a memory: the mugs are gone for where.
        let mut m = memory();
        let r = handle_forget(
            &ForgetRequest {
                label: "mug".into(),
                ..f(ForgetRequest::MODE_LABEL)
            },
            |what| {
                m.forget(what)
                    .map(|rep| (rep.objects, rep.events_erased as u64))
            },
        );
        assert!(r.success && !r.forgotten_object_ids.is_empty() && r.forgotten_events > 0);
        let w = handle_where(
            &WhereRequest {
                target: "mug".into(),
                exact_label: true,
                k: 5,
                ..WhereRequest::default()
            },
            0,
            "map",
            |q| m.query(q),
        );
        assert!(w.success && w.objects.is_empty(), "{w:?}");
    }
}
