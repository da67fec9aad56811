//! Bad input: NaN poses and positions, zero and negative extents, stamps going backwards, empty
//! labels, k = 0 or huge, inverted windows, bad radii and texts. A typed error or a documented
//! behaviour, never a panic, and nothing already in memory is lost.

use mnemo::core::memory::RejectReason;
use mnemo::core::query::{Answer, Query, Target};
use mnemo::core::{CoreError, TimeWindow};
use nalgebra::{Isometry3, Point3, Quaternion, Translation3, UnitQuaternion, Vector3};

use crate::common::{det, keyframe, memory, T0};

fn seeded() -> mnemo::core::Memory {
    let mut m = memory();
    for k in 0..3 {
        m.ingest(&keyframe(
            T0 + k * 1_000_000_000,
            0.0,
            0.0,
            0.0,
            vec![det("mug", [2.0, 0.0, 0.8])],
        ))
        .unwrap();
    }
    m
}

#[test]
fn non_finite_or_invalid_poses_are_refused_and_change_nothing() {
    let mut m = seeded();
    let before = m.digest();
    let mut obs = keyframe(
        T0 + 10_000_000_000,
        0.0,
        0.0,
        0.0,
        vec![det("mug", [2.0, 0.0, 0.8])],
    );
    obs.world_from_body.translation.x = f64::NAN;
    assert!(matches!(
        m.ingest(&obs),
        Err(CoreError::NonFinitePose {
            field: "world_from_body"
        })
    ));
    let mut obs = keyframe(T0 + 10_000_000_000, 0.0, 0.0, 0.0, vec![]);
    obs.world_from_camera = Isometry3::from_parts(
        Translation3::new(0.0, 0.0, 1.0),
        UnitQuaternion::new_unchecked(Quaternion::new(2.0, 0.0, 0.0, 0.0)),
    );
    assert!(matches!(
        m.ingest(&obs),
        Err(CoreError::NonFinitePose {
            field: "world_from_camera"
        })
    ));
    let mut obs = keyframe(T0 + 10_000_000_000, 0.0, 0.0, 0.0, vec![]);
    obs.world_from_body.translation.y = 1e12;
    assert!(m.ingest(&obs).is_err());
    let mut obs = keyframe(T0 + 10_000_000_000, 0.0, 0.0, 0.0, vec![]);
    obs.camera.fx_px = 0.0;
    assert!(matches!(
        m.ingest(&obs),
        Err(CoreError::InvalidCamera { .. })
    ));
    assert!(matches!(
        m.ingest_pose(&mnemo::core::PoseUpdate {
            stamp_ns: T0 + 10_000_000_000,
            world_from_body: Isometry3::translation(f64::INFINITY, 0.0, 0.0)
        }),
        Err(CoreError::NonFinitePose { .. })
    ));
    assert_eq!(
        m.digest(),
        before,
        "a refused input leaves the memory untouched"
    );
    assert_eq!(m.stats().inputs_rejected, 5);
}

#[test]
fn stamps_going_backwards_are_refused() {
    let mut m = seeded();
    let before = m.digest();
    let err = m
        .ingest(&keyframe(
            T0,
            0.0,
            0.0,
            0.0,
            vec![det("cup", [1.0, 0.0, 0.8])],
        ))
        .unwrap_err();
    assert_eq!(
        err,
        CoreError::StampBackwards {
            stamp_ns: T0,
            latest_ns: T0 + 2_000_000_000
        }
    );
    assert_eq!(m.digest(), before);
    // The same stamp again is fine (several keyframes may share a stamp).
    m.ingest(&keyframe(T0 + 2_000_000_000, 0.0, 0.0, 0.0, vec![]))
        .unwrap();
}

/// A keyframe delivered twice (a repeated message, a bag replayed into the memory that recorded
/// it) is refused and counted once: every keyframe of a simulated day ingested twice in a row
/// gives the memory of ingesting each once. Another camera at the same stamp, or the same view
/// at a later stamp, is new evidence and goes in.
#[test]
fn a_keyframe_delivered_twice_counts_once() {
    let cfg = mnemo::sim::SimConfig {
        seed: 4,
        days: 1,
        ..mnemo::sim::SimConfig::default()
    };
    let mut stream = Vec::new();
    mnemo::sim::simulate(&cfg, |o| stream.push(o.clone())).unwrap();
    let new = || {
        mnemo::core::Memory::new(
            mnemo::sim::memory_config(),
            Box::new(mnemo::core::LexicalEmbedder::default()),
        )
        .unwrap()
    };
    let (mut once, mut twice) = (new(), new());
    for o in &stream {
        once.ingest(o).unwrap();
        twice.ingest(o).unwrap();
        assert_eq!(
            twice.ingest(o).unwrap_err(),
            CoreError::DuplicateKeyframe {
                stamp_ns: o.stamp_ns
            }
        );
    }
    assert_eq!(twice.digest(), once.digest());

    let mut m = seeded();
    let last = keyframe(
        T0 + 2_000_000_000,
        0.0,
        0.0,
        0.0,
        vec![det("mug", [2.0, 0.0, 0.8])],
    );
    let before = m.digest();
    assert!(matches!(
        m.ingest(&last),
        Err(CoreError::DuplicateKeyframe { .. })
    ));
    assert_eq!(m.digest(), before);
    // A second camera looking from elsewhere at the same instant.
    let mut other = last.clone();
    other.world_from_camera = Isometry3::from_parts(
        Translation3::new(0.0, 0.5, 1.0),
        last.world_from_camera.rotation,
    );
    m.ingest(&other).unwrap();
    // The same view a second later.
    let mut later = last.clone();
    later.stamp_ns += 1_000_000_000;
    m.ingest(&later).unwrap();
}

#[test]
fn bad_detections_are_skipped_and_reported() {
    let mut m = seeded();
    let mut nan = det("mug", [f64::NAN, 0.0, 0.8]);
    nan.frame = mnemo::core::DetectionFrame::Camera;
    let mut negative = det("bowl", [2.0, 1.0, 0.8]);
    negative.extent_m = Vector3::new(-0.1, 0.1, 0.1);
    let mut huge = det("bowl", [2.0, 1.0, 0.8]);
    huge.extent_m = Vector3::new(100.0, 0.1, 0.1);
    let mut bad_score = det("bowl", [2.0, 1.0, 0.8]);
    bad_score.score = f32::NAN;
    let mut zero = det("coin", [2.0, -1.0, 0.8]);
    zero.extent_m = Vector3::zeros();
    let far = det("coin", [2.0e7, 0.0, 0.0]);
    let report = m
        .ingest(&keyframe(
            T0 + 5_000_000_000,
            0.0,
            0.0,
            0.0,
            vec![
                nan,
                det("  ", [1.0, 1.0, 1.0]),
                negative,
                huge,
                bad_score,
                zero,
                det("Mug ", [2.0, 0.0, 0.8]),
                far,
            ],
        ))
        .unwrap();
    assert_eq!(report.accepted, 2, "{report:?}");
    assert_eq!(
        report.rejected,
        vec![
            (0, RejectReason::NonFinitePosition),
            (1, RejectReason::EmptyLabel),
            (2, RejectReason::BadExtent),
            (3, RejectReason::BadExtent),
            (4, RejectReason::BadScore),
            (7, RejectReason::NonFinitePosition),
        ]
    );
    // "Mug " normalised onto the existing mug; the zero-size coin is a point object.
    let mugs: Vec<_> = m.objects().iter().filter(|o| o.label == "mug").collect();
    assert_eq!(mugs.len(), 1);
    assert_eq!(mugs[0].times_seen, 4);
    assert!(m
        .objects()
        .iter()
        .any(|o| o.label == "coin" && o.extent_m == Vector3::zeros()));
}

#[test]
fn queries_with_bad_arguments_give_typed_errors() {
    let m = seeded();
    assert!(matches!(
        TimeWindow::new(10, 5),
        Err(CoreError::InvertedWindow {
            start_ns: 10,
            end_ns: 5
        })
    ));
    let near = |p: Point3<f64>, r: f64| Query::Near {
        point_world: p,
        radius_m: r,
        window: TimeWindow::all(),
        label: None,
        k: 10,
    };
    assert_eq!(
        m.query(&near(Point3::new(f64::NAN, 0.0, 0.0), 1.0)),
        Err(CoreError::NonFinitePoint)
    );
    assert_eq!(
        m.query(&near(Point3::origin(), -1.0)),
        Err(CoreError::InvalidRadius { radius_m: -1.0 })
    );
    assert!(matches!(
        m.query(&near(Point3::origin(), f64::INFINITY)),
        Err(CoreError::InvalidRadius { .. })
    ));
    assert!(matches!(
        m.query(&near(Point3::origin(), f64::NAN)),
        Err(CoreError::InvalidRadius { .. })
    ));
    for target in [Target::Text("   ".into()), Target::Label("".into())] {
        assert_eq!(
            m.query(&Query::Where {
                target: target.clone(),
                k: 3,
                at_ns: None
            }),
            Err(CoreError::EmptyText)
        );
        assert_eq!(
            m.query(&Query::When {
                target,
                window: TimeWindow::all()
            }),
            Err(CoreError::EmptyText)
        );
    }
    assert_eq!(
        m.query(&Query::Recall {
            window: TimeWindow::all(),
            text: Some("".into()),
            k: 3
        }),
        Err(CoreError::EmptyText)
    );
}

#[test]
fn k_zero_answers_nothing_and_huge_k_answers_everything() {
    let m = seeded();
    let where_k = |k| {
        m.query(&Query::Where {
            target: Target::Label("mug".into()),
            k,
            at_ns: None,
        })
        .unwrap()
    };
    assert_eq!(where_k(0), Answer::Objects(vec![]));
    let Answer::Objects(all) = where_k(usize::MAX) else {
        panic!()
    };
    assert_eq!(all.len(), 1);
    let near = m
        .query(&Query::Near {
            point_world: Point3::new(2.0, 0.0, 0.8),
            radius_m: 1.0,
            window: TimeWindow::all(),
            label: None,
            k: 0,
        })
        .unwrap();
    assert_eq!(near, Answer::Objects(vec![]));
    let Answer::Objects(all) = m
        .query(&Query::Near {
            point_world: Point3::new(2.0, 0.0, 0.8),
            radius_m: 1.0,
            window: TimeWindow::all(),
            label: None,
            k: usize::MAX,
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(all.len(), 1);
    // Unknown labels and objects: empty answers, not errors.
    assert_eq!(
        m.query(&Query::Where {
            target: Target::Label("unicorn".into()),
            k: 5,
            at_ns: None
        })
        .unwrap(),
        Answer::Objects(vec![])
    );
    assert_eq!(
        m.query(&Query::When {
            target: Target::Object(mnemo::core::ObjectId(9999)),
            window: TimeWindow::all()
        })
        .unwrap(),
        Answer::Timeline(vec![])
    );
}

#[test]
fn invalid_configs_name_the_parameter() {
    let cfg = mnemo::core::MemoryConfig {
        gate_base_m: -1.0,
        ..Default::default()
    };
    match mnemo::core::Memory::new(cfg, Box::new(mnemo::core::LexicalEmbedder::default())) {
        Err(CoreError::InvalidConfig { name, .. }) => assert_eq!(name, "gate_base_m"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

/// Regression: stamps at the ends of the i64 range overflowed `stamp - last_sighting` in the
/// visit logic (a panic in debug builds, a wrong visit in release).
#[test]
fn extreme_stamps_do_not_overflow() {
    let mut m = memory();
    for stamp in [i64::MIN, 0, 1, i64::MAX - 1, i64::MAX] {
        m.ingest(&keyframe(
            stamp,
            0.0,
            0.0,
            0.0,
            vec![det("mug", [2.0, 0.0, 0.8])],
        ))
        .unwrap();
    }
    let mug = m.objects().iter().find(|o| o.label == "mug").unwrap();
    assert_eq!(mug.times_seen, 5);
    assert_eq!(mug.last_seen_ns, i64::MAX);
    // Jumps longer than the visit gap split the sightings into separate visits; the very first
    // one closed while the track was tentative and lives on as the first-seen start.
    let Answer::Timeline(entries) = m
        .query(&Query::When {
            target: Target::Label("mug".into()),
            window: TimeWindow::all(),
        })
        .unwrap()
    else {
        panic!()
    };
    let visits: Vec<(i64, i64)> = entries
        .iter()
        .filter(|e| e.kind == mnemo::core::EventKind::Visit)
        .map(|e| (e.start_ns, e.end_ns))
        .collect();
    assert_eq!(visits, vec![(0, 1), (i64::MAX - 1, i64::MAX)]);
    assert!(entries
        .iter()
        .any(|e| e.kind == mnemo::core::EventKind::FirstSeen && e.start_ns == i64::MIN));
}
