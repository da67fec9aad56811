//! RViz markers of a memory (`~/markers`, `visualization_msgs/MarkerArray`): built from the
//! memory as it stands, published reliable + transient-local so a late RViz gets the last one.
//!
//! Owns: the marker layout. Namespaces: `objects` (a cube per object, coloured by state as in
//! Rerun, id = object id), `labels` (`label #id` above each box), `relations` (one line list,
//! blue `on`, purple `in`, grey `near`), `places` (one sphere list). The array starts with a
//! `DELETEALL`, so objects that were forgotten or merged disappear.

use crate::core::scene_graph::ObjectState;
use crate::core::time::StampNs;
use crate::core::Memory;
use crate::ros::msg::{ColorRgba, Header, Marker, MarkerArray, Point, Pose, Time, Vector3};

use super::{relation_rgb, state_rgb};

fn rgba([r, g, b]: [u8; 3], a: f32) -> ColorRgba {
    ColorRgba {
        r: f32::from(r) / 255.0,
        g: f32::from(g) / 255.0,
        b: f32::from(b) / 255.0,
        a,
    }
}

fn point(p: &nalgebra::Point3<f64>) -> Point {
    Point {
        x: p.x,
        y: p.y,
        z: p.z,
    }
}

/// The markers of `memory` at `stamp_ns`, in `map_frame`.
pub fn markers(memory: &Memory, stamp_ns: StampNs, map_frame: &str) -> MarkerArray {
    let header = Header {
        stamp: Time::from_ns(stamp_ns),
        frame_id: map_frame.to_string(),
    };
    let marker = |ns: &str, id: i32, kind: i32| Marker {
        header: header.clone(),
        ns: ns.to_string(),
        id,
        kind,
        action: Marker::ADD,
        ..Marker::default()
    };
    let mut out = vec![Marker {
        action: Marker::DELETEALL,
        ..marker("", 0, 0)
    }];
    let objects: Vec<_> = memory
        .objects()
        .iter()
        .filter(|o| o.is_reportable())
        .collect();
    for o in &objects {
        let id = i32::try_from(o.id.0).unwrap_or(i32::MAX);
        let alpha = if o.state == ObjectState::Missing {
            0.4
        } else {
            0.8
        };
        let size = |e: f64| e.max(0.01);
        out.push(Marker {
            pose: Pose {
                position: point(&o.position_world),
                ..Pose::default()
            },
            scale: Vector3 {
                x: size(o.extent_m.x),
                y: size(o.extent_m.y),
                z: size(o.extent_m.z),
            },
            color: rgba(state_rgb(o.state), alpha),
            ..marker("objects", id, Marker::CUBE)
        });
        out.push(Marker {
            pose: Pose {
                position: Point {
                    z: o.position_world.z + o.extent_m.z / 2.0 + 0.08,
                    ..point(&o.position_world)
                },
                ..Pose::default()
            },
            scale: Vector3 {
                z: 0.08,
                ..Vector3::default()
            },
            color: rgba([255, 255, 255], 1.0),
            text: format!("{} #{}", o.label, o.id.0),
            ..marker("labels", id, Marker::TEXT_VIEW_FACING)
        });
    }
    let mut relations = Marker {
        scale: Vector3 {
            x: 0.01,
            ..Vector3::default()
        },
        color: rgba([180, 180, 180], 0.8),
        pose: Pose::default(),
        ..marker("relations", 0, Marker::LINE_LIST)
    };
    for r in memory.relations() {
        let (Some(a), Some(b)) = (memory.object(r.subject), memory.object(r.object)) else {
            continue;
        };
        let c = rgba(relation_rgb(r.kind), 0.8);
        relations
            .points
            .extend([point(&a.position_world), point(&b.position_world)]);
        relations.colors.extend([c, c]);
    }
    out.push(relations);
    let places = memory.places();
    out.push(Marker {
        scale: Vector3 {
            x: 0.2,
            y: 0.2,
            z: 0.2,
        },
        color: rgba([80, 140, 255], 0.6),
        points: places.iter().map(|p| point(&p.center_world)).collect(),
        ..marker("places", 0, Marker::SPHERE_LIST)
    });
    MarkerArray { markers: out }
}
