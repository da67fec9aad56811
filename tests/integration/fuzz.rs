//! Arbitrary inputs (NaN, infinities, huge and negative values, random stamps, empty and odd
//! labels) through every ingest and query entry point: typed errors or answers, never a panic,
//! and the memory keeps its invariants.

use mnemo::core::geometry::PinholeCamera;
use mnemo::core::query::{Query, Target};
use mnemo::core::{
    DepthImage, Detection, DetectionFrame, ObjectId, Observation, PoseUpdate, TimeWindow,
};
use nalgebra::{Isometry3, Point3, Quaternion, Translation3, UnitQuaternion, Vector3};
use proptest::prelude::*;

use crate::common::memory;

fn wild_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -20.0f64..20.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e30),
        1 => Just(-1e7),
        1 => Just(0.0),
    ]
}

fn wild_label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mug".to_string()),
        Just("CUP ".to_string()),
        Just("".to_string()),
        Just("   ".to_string()),
        Just("ünïcødé 🙂".to_string()),
        "[a-z]{1,12}",
    ]
}

prop_compose! {
    fn detection()(label in wild_label(), score in prop_oneof![Just(f32::NAN), -1.0f32..2.0], x in wild_f64(), y in wild_f64(), z in wild_f64(),
                   ex in wild_f64(), ey in wild_f64(), ez in wild_f64(), camera in any::<bool>(), emb in proptest::option::of(proptest::collection::vec(-1.0f32..1.0, 0..6)))
                   -> Detection {
        Detection {
            label, score,
            position_m: Point3::new(x, y, z),
            frame: if camera { DetectionFrame::Camera } else { DetectionFrame::World },
            extent_m: Vector3::new(ex, ey, ez),
            text: None,
            embedding: emb,
        }
    }
}

/// Mostly ordinary values, sometimes wild ones.
fn mostly_sane(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![9 => lo..hi, 1 => wild_f64()]
}

fn camera() -> impl Strategy<Value = PinholeCamera> {
    prop_oneof![
        8 => Just(PinholeCamera::vga_default()),
        1 => (wild_f64(), 0u32..1000, 0u32..1000, wild_f64(), wild_f64()).prop_map(|(f, w, h, dmin, dmax)| PinholeCamera {
            width_px: w,
            height_px: h,
            fx_px: f,
            fy_px: f,
            cx_px: 320.0,
            cy_px: 240.0,
            min_depth_m: dmin,
            max_depth_m: dmax,
        }),
    ]
}

prop_compose! {
    /// A keyframe `step` seconds in (sometimes a wild stamp), usually with a sane pose and camera,
    /// always with arbitrary detections.
    fn observation(step: i64)(wild_stamp in prop_oneof![9 => Just(None), 1 => any::<i64>().prop_map(Some)],
                     tx in mostly_sane(-10.0, 10.0), ty in mostly_sane(-10.0, 10.0), yaw in mostly_sane(-3.0, 3.0),
                     bad_rotation in prop_oneof![19 => Just(false), 1 => Just(true)],
                     camera in camera(),
                     dets in proptest::collection::vec(detection(), 0..8),
                     depth in proptest::option::of((0u32..8, 0u32..8, proptest::collection::vec(-1.0f32..10.0, 0..80))),
                     caption in proptest::option::of(wild_label()))
                     -> Observation {
        let rot = if bad_rotation {
            UnitQuaternion::new_unchecked(Quaternion::new(2.0, 0.0, 0.0, 0.0))
        } else {
            UnitQuaternion::from_euler_angles(0.0, 0.0, if yaw.is_finite() { yaw } else { 0.0 })
        };
        let pose = Isometry3::from_parts(Translation3::new(tx, ty, 0.0), rot);
        Observation {
            stamp_ns: wild_stamp.unwrap_or(step * 1_000_000_000),
            world_from_body: pose,
            world_from_camera: pose * mnemo::sim::scenario::body_from_camera(),
            camera,
            detections: dets,
            caption,
            depth: depth.map(|(w, h, d)| DepthImage { width_px: w, height_px: h, depth_m: d }),
        }
    }
}

/// A stream of keyframes one second apart (with the occasional wild one).
fn stream() -> impl Strategy<Value = Vec<Observation>> {
    (1usize..12).prop_flat_map(|n| (0..n as i64).map(observation).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_inputs_never_panic(obs in stream(),
                                    qx in wild_f64(), qr in wild_f64(), k in prop_oneof![Just(0usize), Just(usize::MAX), 0usize..5],
                                    t in any::<i64>(), a in any::<i64>(), b in any::<i64>(), text in wild_label()) {
        let mut m = memory();
        for o in &obs {
            let _ = m.ingest(o);
            let _ = m.ingest_pose(&PoseUpdate { stamp_ns: o.stamp_ns, world_from_body: o.world_from_body });
        }
        let window = TimeWindow::new(a.min(b), a.max(b)).unwrap();
        let queries = [
            Query::Where { target: Target::Label(text.clone()), k, at_ns: None },
            Query::Where { target: Target::Text(text.clone()), k, at_ns: Some(t) },
            Query::Where { target: Target::Object(ObjectId(k.min(u32::MAX as usize) as u32)), k, at_ns: None },
            Query::When { target: Target::Text(text.clone()), window },
            Query::Near { point_world: Point3::new(qx, qx, qx), radius_m: qr, window, label: Some(text.clone()), k },
            Query::Near { point_world: Point3::new(1.0, 1.0, 1.0), radius_m: qr, window, label: None, k },
            Query::Recall { window, text: Some(text.clone()), k },
            Query::SceneGraphAt { stamp_ns: t },
            Query::Changes { window, label: None },
        ];
        for q in &queries {
            let _ = m.query(q);
        }
        // Whatever was accepted keeps the memory consistent.
        prop_assert_eq!(m.relations(), &m.relations_from_scratch());
        for pair in m.log().events().windows(2) {
            prop_assert!(pair[0].stamp_ns <= pair[1].stamp_ns);
        }
        for o in m.objects() {
            prop_assert!(o.position_world.coords.iter().all(|c| c.is_finite()));
        }
    }
}

#[test]
fn arbitrary_inputs_reach_the_ingest_path() {
    // Run the property's strategy once more, on its own, and count what got in.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    let accepted = std::cell::Cell::new(0usize);
    runner
        .run(&stream(), |obs| {
            let mut m = memory();
            let n = obs.iter().filter(|o| m.ingest(o).is_ok()).count();
            accepted.set(accepted.get() + n);
            Ok(())
        })
        .unwrap();
    let accepted = accepted.get();
    assert!(
        accepted >= 150,
        "only {accepted} keyframes accepted: the fuzz strategy is too hostile"
    );
}
