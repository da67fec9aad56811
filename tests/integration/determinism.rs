//! Determinism: the same inputs give the same memory, byte for byte (digest), every time.

use mnemo::sim::{memory_config, run_eval, SimConfig};

use crate::common::{memory, random_stream};

#[test]
fn same_seed_same_memory_digest() {
    let cfg = SimConfig {
        days: 2,
        seed: 42,
        ..SimConfig::default()
    };
    let a = run_eval(&cfg, memory_config()).unwrap();
    let b = run_eval(&cfg, memory_config()).unwrap();
    assert_eq!(a.memory.digest(), b.memory.digest());
    assert_eq!(a.report, b.report);
    let c = run_eval(&SimConfig { seed: 43, ..cfg }, memory_config()).unwrap();
    assert_ne!(a.memory.digest(), c.memory.digest());
}

#[test]
fn random_streams_replay_identically() {
    let stream = random_stream(7, 40, 200);
    let mut a = memory();
    let mut b = memory();
    for obs in &stream {
        a.ingest(obs).unwrap();
    }
    for obs in &stream {
        b.ingest(obs).unwrap();
    }
    assert_eq!(a.digest(), b.digest());
    // One more keyframe changes the digest.
    let extra = crate::common::keyframe(
        a.latest_stamp_ns().unwrap() + 1,
        1.0,
        1.0,
        0.0,
        vec![crate::common::det("lamp", [3.0, 1.0, 1.0])],
    );
    b.ingest(&extra).unwrap();
    assert_ne!(a.digest(), b.digest());
}

fn restore(m: &mnemo::core::Memory) -> mnemo::core::Memory {
    // Through JSON, as a store might keep the parts.
    let json = serde_json::to_string(&m.to_parts()).unwrap();
    let parts: mnemo::core::MemoryParts = serde_json::from_str(&json).unwrap();
    assert_eq!(parts, m.to_parts(), "parts survive a JSON round trip");
    mnemo::core::Memory::from_parts(
        m.config().clone(),
        Box::new(mnemo::core::LexicalEmbedder::default()),
        parts,
    )
    .unwrap()
}

fn same_answers(a: &mnemo::core::Memory, b: &mnemo::core::Memory) {
    use mnemo::core::query::{Query, Target};
    use mnemo::core::TimeWindow;
    let end = a.latest_stamp_ns().unwrap_or(0);
    let queries = [
        Query::Where {
            target: Target::Label("mug".into()),
            k: 10,
            at_ns: None,
        },
        Query::Where {
            target: Target::Text("cup".into()),
            k: 10,
            at_ns: Some(end - 3_600_000_000_000),
        },
        Query::When {
            target: Target::Label("book".into()),
            window: TimeWindow::all(),
        },
        Query::Near {
            point_world: nalgebra::Point3::new(2.5, 2.5, 0.8),
            radius_m: 3.0,
            window: TimeWindow::all(),
            label: None,
            k: 100,
        },
        Query::Recall {
            window: TimeWindow::all(),
            text: Some("kitchen".into()),
            k: 5,
        },
        Query::SceneGraphAt { stamp_ns: end },
        Query::Changes {
            window: TimeWindow::all(),
            label: None,
        },
    ];
    for q in &queries {
        assert_eq!(a.query(q), b.query(q), "{q:?}");
    }
}

/// The keyframes of a two-day simulated world (seed 8).
fn two_days_of_seed_8() -> Vec<mnemo::core::Observation> {
    let cfg = SimConfig {
        days: 2,
        seed: 8,
        ..SimConfig::default()
    };
    let mut stream = Vec::new();
    mnemo::sim::simulate(&cfg, |o| stream.push(o.clone())).unwrap();
    stream
}

#[test]
fn a_restored_memory_continues_exactly_where_it_left_off() {
    let stream = two_days_of_seed_8();
    // Cut mid-patrol and between patrols.
    for cut in [stream.len() / 3, stream.len() / 2 + 7] {
        let mut a = mnemo::core::Memory::new(
            memory_config(),
            Box::new(mnemo::core::LexicalEmbedder::default()),
        )
        .unwrap();
        for o in &stream[..cut] {
            a.ingest(o).unwrap();
        }
        let mut b = restore(&a);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.relations(), b.relations());
        same_answers(&a, &b);
        for o in &stream[cut..] {
            a.ingest(o).unwrap();
            b.ingest(o).unwrap();
        }
        assert_eq!(a.digest(), b.digest(), "cut at {cut}");
        assert_eq!(a.stats(), b.stats());
        same_answers(&a, &b);
    }
}

#[test]
fn restoring_random_streams_at_random_points_changes_nothing() {
    for seed in [1, 2, 3, 4] {
        let stream = random_stream(seed, 50, 300);
        let cut = 37 * seed as usize + 60;
        let mut a = memory();
        for o in &stream[..cut] {
            a.ingest(o).unwrap();
        }
        let mut b = restore(&a);
        for o in &stream[cut..] {
            a.ingest(o).unwrap();
            b.ingest(o).unwrap();
        }
        assert_eq!(a.digest(), b.digest(), "seed {seed}");
        assert_eq!(b.relations(), &b.relations_from_scratch());
    }
}

/// The store's path: indexes built ahead from the objects (while the log still loads) give the
/// memory `from_parts` gives; indexes built from other objects are noticed and rebuilt.
#[test]
fn indexes_built_ahead_restore_the_same_memory_and_others_are_not_trusted() {
    let stream = two_days_of_seed_8();
    let fresh = || Box::new(mnemo::core::LexicalEmbedder::default());
    let upto = |n: usize| {
        let mut m = mnemo::core::Memory::new(memory_config(), fresh()).unwrap();
        for o in &stream[..n] {
            m.ingest(o).unwrap();
        }
        m
    };
    let a = upto(stream.len() / 2);
    let early = upto(stream.len() / 8);
    let index = |m: &mnemo::core::Memory| {
        let p = m.to_parts();
        mnemo::core::Memory::index_objects(
            m.config(),
            &p.objects,
            &p.relation_anchors,
            p.max_extent_seen_m,
        )
    };
    assert!(early.objects().len() < a.objects().len());
    for indexes in [index(&a), index(&early)] {
        let b = mnemo::core::Memory::from_parts_indexed(
            a.config().clone(),
            fresh(),
            a.to_parts(),
            indexes,
        )
        .unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.relations(), b.relations());
        same_answers(&a, &b);
    }
}

#[test]
fn inconsistent_parts_are_refused_with_a_reason() {
    let mut a = memory();
    for o in random_stream(9, 20, 60) {
        a.ingest(&o).unwrap();
    }
    let fresh = || Box::new(mnemo::core::LexicalEmbedder::default());
    let mut p = a.to_parts();
    p.objects.swap(0, 1);
    assert!(matches!(
        mnemo::core::Memory::from_parts(a.config().clone(), fresh(), p),
        Err(mnemo::core::CoreError::InvalidParts { .. })
    ));
    let mut p = a.to_parts();
    p.placements[0].object = mnemo::core::ObjectId(1_000_000);
    assert!(matches!(
        mnemo::core::Memory::from_parts(a.config().clone(), fresh(), p),
        Err(mnemo::core::CoreError::InvalidParts { .. })
    ));
    let mut p = a.to_parts();
    p.log.events.reverse();
    assert!(matches!(
        mnemo::core::Memory::from_parts(a.config().clone(), fresh(), p),
        Err(mnemo::core::CoreError::InvalidParts { .. })
    ));
    let mut p = a.to_parts();
    p.relation_anchors.pop();
    assert!(matches!(
        mnemo::core::Memory::from_parts(a.config().clone(), fresh(), p),
        Err(mnemo::core::CoreError::InvalidParts { .. })
    ));
}

/// A small world's detections beside those of the same world with `tweak` applied: the
/// keyframes, labels, scores and positions must not change (checked here), only embeddings.
fn detections_beside(
    tweak: impl FnOnce(&mut SimConfig),
) -> Vec<(mnemo::core::Detection, mnemo::core::Detection)> {
    let cfg = SimConfig {
        seed: 7,
        days: 1,
        rooms: 2,
        objects: 20,
        ..SimConfig::default()
    };
    let mut changed = cfg.clone();
    tweak(&mut changed);
    let collect = |cfg: &SimConfig| {
        let mut out = Vec::new();
        mnemo::sim::simulate(cfg, |o| out.push(o.clone())).unwrap();
        out
    };
    let (a, b) = (collect(&cfg), collect(&changed));
    assert_eq!(b, collect(&changed), "not deterministic");
    assert_eq!(a.len(), b.len());
    let mut pairs = Vec::new();
    for (ka, kb) in a.into_iter().zip(b) {
        assert_eq!(ka.stamp_ns, kb.stamp_ns);
        assert_eq!(ka.detections.len(), kb.detections.len());
        for (da, db) in ka.detections.into_iter().zip(kb.detections) {
            assert_eq!((&da.label, da.score), (&db.label, db.score));
            assert_eq!(da.position_m, db.position_m);
            pairs.push((da, db));
        }
    }
    pairs
}

/// `--no-appearance` drops the embeddings and nothing else: same keyframes, same detections.
#[test]
fn no_appearance_changes_only_the_embeddings() {
    let pairs = detections_beside(|c| c.appearance = false);
    assert!(!pairs.is_empty());
    for (with, without) in &pairs {
        assert!(with.embedding.is_some() && without.embedding.is_none());
    }
}

/// `--appearance-outlier-rate` replaces about that share of the embeddings with ones unrelated
/// to the object, from a random stream of its own: same keyframes, same detections otherwise.
#[test]
fn appearance_outliers_change_only_that_share_of_the_embeddings() {
    let pairs = detections_beside(|c| c.appearance_outlier_rate = 0.2);
    let replaced = pairs
        .iter()
        .filter(|(a, b)| a.embedding.as_ref().unwrap() != b.embedding.as_ref().unwrap())
        .count();
    // False positives' embeddings are random either way and never replaced.
    let share = replaced as f64 / pairs.len() as f64;
    assert!(
        pairs.len() > 300 && (0.12..0.25).contains(&share),
        "{replaced} of {}",
        pairs.len()
    );
}

#[test]
fn relations_rebuilt_in_bulk_equal_brute_force_across_cells_and_threads() {
    use mnemo::core::RelationKind;
    // About 4,600 objects (past the size where the bulk rebuild splits over threads) on a
    // jittered lattice around the origin, so pairs straddle grid cells on both sides of zero;
    // every fifth one with a smaller one stacked on it.
    let mut rng = mnemo::sim::rng::Rng::new(11);
    let mut dets = Vec::new();
    for i in 0..62 {
        for j in 0..62 {
            let x = -11.0 + f64::from(i) * 0.37 + rng.range(-0.05, 0.05);
            let y = -9.0 + f64::from(j) * 0.41 + rng.range(-0.05, 0.05);
            let label = ["box", "crate", "bin"][((i + j) % 3) as usize];
            dets.push(crate::common::det(label, [x, y, 0.5]));
            if (i * 62 + j) % 5 == 0 {
                let mut top = crate::common::det("mug", [x, y, 0.58]);
                top.extent_m = nalgebra::Vector3::new(0.06, 0.06, 0.06);
                dets.push(top);
            }
        }
    }
    let mut a = memory();
    for k in 0..3 {
        let obs = crate::common::keyframe(1_000_000_000 * (k + 1), 0.0, 0.0, 0.0, dets.clone());
        a.ingest(&obs).unwrap();
    }
    let b = restore(&a);
    let brute = b.relations_from_scratch();
    assert_eq!(b.relations(), &brute);
    assert_eq!(b.relations(), a.relations());
    // Not vacuous: many relations, of both kinds, also between objects left of the origin.
    assert!(brute.len() > 10_000, "{}", brute.len());
    assert!(brute.iter().any(|r| r.kind == RelationKind::On));
    assert!(brute.iter().any(|r| {
        r.kind == RelationKind::Near
            && b.object(r.subject)
                .is_some_and(|o| o.position_world.x < 0.0)
            && b.object(r.object).is_some_and(|o| o.position_world.y < 0.0)
    }));
}

/// Text read on objects (OCR) answers text queries after a restore as before it.
#[test]
fn restored_objects_keep_their_text_for_text_queries() {
    use mnemo::core::query::{Answer, Query, Target};
    let mut a = memory();
    for i in 0..6 {
        let mut tin = crate::common::det("box", [2.0, 1.0, 0.5]);
        tin.text = Some("ACME coffee".into());
        let mug = crate::common::det("mug", [2.0, 1.6, 0.5]);
        let kf = crate::common::keyframe(1_000_000_000 * (i + 1), 1.0, 1.0, 0.0, vec![tin, mug]);
        a.ingest(&kf).unwrap();
    }
    let q = Query::Where {
        target: Target::Text("acme".into()),
        k: 5,
        at_ns: None,
    };
    let before = a.query(&q).unwrap();
    assert!(
        matches!(&before, Answer::Objects(hits) if hits.len() == 1 && hits[0].label == "box"),
        "{before:?}"
    );
    assert_eq!(restore(&a).query(&q).unwrap(), before);
}
