//! Oracle tests: the k-d tree index and every spatial and time-window query against brute force.

use std::collections::BTreeSet;

use mnemo::core::episodic::EventKind;
use mnemo::core::query::{Answer, Query, Target};
use mnemo::core::spatial_index::PointIndex;
use mnemo::core::{Memory, ObjectId, StampNs, TimeWindow};
use mnemo::sim::rng::Rng;
use mnemo::sim::{memory_config, run_eval, SimConfig};
use nalgebra::Point3;
use proptest::prelude::*;

use crate::common::{brute_near, memory, random_stream, LABELS, T0};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random inserts, moves (small and large), removals and compactions; every radius query
    /// equals a linear scan.
    #[test]
    fn point_index_matches_linear_scan(seed in any::<u64>(), n in 1usize..3000, slack in 0.0f32..0.5) {
        let mut rng = Rng::new(seed);
        let mut idx = PointIndex::new(slack);
        let mut truth: Vec<Option<[f32; 3]>> = vec![None; n];
        for step in 0..(n * 2) {
            let id = rng.index(n);
            match rng.index(10) {
                0 => { idx.remove(id as u32); truth[id] = None; }
                1 if truth[id].is_some() => {
                    let p = truth[id].unwrap();
                    let q = [p[0] + rng.range(-0.2, 0.2) as f32, p[1] + rng.range(-0.2, 0.2) as f32, p[2]];
                    idx.upsert(id as u32, q); truth[id] = Some(q);
                }
                _ => {
                    let p = [rng.range(0.0, 20.0) as f32, rng.range(0.0, 20.0) as f32, rng.range(0.0, 2.0) as f32];
                    idx.upsert(id as u32, p); truth[id] = Some(p);
                }
            }
            if step % 997 == 0 { idx.compact(); }
        }
        prop_assert_eq!(idx.len(), truth.iter().filter(|t| t.is_some()).count());
        for _ in 0..50 {
            let q = [rng.range(0.0, 20.0) as f32, rng.range(0.0, 20.0) as f32, rng.range(0.0, 2.0) as f32];
            let r = rng.range(0.0, 3.0) as f32;
            let got: BTreeSet<u32> = idx.within(q, r).into_iter().map(|h| h.0).collect();
            let want: BTreeSet<u32> = truth.iter().enumerate().filter_map(|(i, p)| {
                let p = (*p)?;
                let d2 = (p[0]-q[0]).powi(2) + (p[1]-q[1]).powi(2) + (p[2]-q[2]).powi(2);
                (d2 <= r * r).then_some(i as u32)
            }).collect();
            prop_assert_eq!(got, want);
        }
    }
}

fn built(seed: u64) -> Memory {
    let mut m = memory();
    for obs in random_stream(seed, 80, 400) {
        m.ingest(&obs).unwrap();
    }
    m
}

fn random_window(rng: &mut Rng, m: &Memory) -> TimeWindow {
    let end = m.latest_stamp_ns().unwrap_or(T0);
    let a = T0 + (rng.uniform() * (end - T0) as f64) as StampNs;
    let b = T0 + (rng.uniform() * (end - T0) as f64) as StampNs;
    TimeWindow::new(a.min(b), a.max(b)).unwrap()
}

fn check_near(m: &Memory, rng: &mut Rng, queries: usize) {
    for _ in 0..queries {
        let p = Point3::new(
            rng.range(-1.0, 11.0),
            rng.range(-1.0, 11.0),
            rng.range(0.0, 1.5),
        );
        let r = rng.range(0.0, 3.0);
        let w = if rng.chance(0.2) {
            TimeWindow::all()
        } else {
            random_window(rng, m)
        };
        let Answer::Objects(hits) = m
            .query(&Query::Near {
                point_world: p,
                radius_m: r,
                window: w,
                label: None,
                k: usize::MAX,
            })
            .unwrap()
        else {
            panic!("near answers objects")
        };
        let got: BTreeSet<ObjectId> = hits.iter().map(|h| h.id).collect();
        assert_eq!(got.len(), hits.len(), "one hit per object");
        let (inside, boundary) = brute_near(m, &p, r, &w, 1e-4);
        let got_core: BTreeSet<ObjectId> = got.difference(&boundary).copied().collect();
        assert_eq!(got_core, inside, "near({p:?}, {r}) in {w:?}");
        // Sorted by distance, then id.
        for pair in hits.windows(2) {
            let (a, b) = (pair[0].distance_m.unwrap(), pair[1].distance_m.unwrap());
            assert!(a < b || (a == b && pair[0].id < pair[1].id));
        }
    }
}

#[test]
fn near_matches_brute_force_on_random_streams() {
    for seed in [1, 2, 3] {
        let m = built(seed);
        let mut rng = Rng::new(seed + 100);
        check_near(&m, &mut rng, 300);
    }
}

#[test]
fn near_matches_brute_force_on_a_simulated_household() {
    let run = run_eval(
        &SimConfig {
            days: 2,
            seed: 5,
            ..SimConfig::default()
        },
        memory_config(),
    )
    .unwrap();
    let mut rng = Rng::new(9);
    check_near(&run.memory, &mut rng, 300);
}

#[test]
fn near_with_label_filter_and_k_is_a_prefix_of_the_filtered_answer() {
    let m = built(4);
    let mut rng = Rng::new(4);
    for _ in 0..100 {
        let p = Point3::new(rng.range(0.0, 10.0), rng.range(0.0, 10.0), 0.8);
        let label = LABELS[rng.index(LABELS.len())];
        let all = m
            .query(&Query::Near {
                point_world: p,
                radius_m: 3.0,
                window: TimeWindow::all(),
                label: None,
                k: usize::MAX,
            })
            .unwrap();
        let Answer::Objects(all) = all else { panic!() };
        let want: Vec<ObjectId> = all
            .iter()
            .filter(|h| h.label == label)
            .map(|h| h.id)
            .take(3)
            .collect();
        let got = m
            .query(&Query::Near {
                point_world: p,
                radius_m: 3.0,
                window: TimeWindow::all(),
                label: Some(label.to_uppercase()),
                k: 3,
            })
            .unwrap();
        let Answer::Objects(got) = got else { panic!() };
        assert_eq!(got.iter().map(|h| h.id).collect::<Vec<_>>(), want);
    }
}

#[test]
fn when_matches_a_scan_of_the_event_log() {
    let m = built(5);
    let mut rng = Rng::new(5);
    for _ in 0..200 {
        let label = LABELS[rng.index(LABELS.len())];
        let w = random_window(&mut rng, &m);
        let Answer::Timeline(got) = m
            .query(&Query::When {
                target: Target::Label(label.into()),
                window: w,
            })
            .unwrap()
        else {
            panic!()
        };
        let mut want: Vec<(StampNs, StampNs, ObjectId, EventKind)> = Vec::new();
        for e in m.log().events() {
            let Some(o) = e.object else { continue };
            let id = m.resolve(o);
            let obj = m.object(id).unwrap();
            if obj.is_reportable() && obj.label == label && w.overlaps(e.start_ns, e.end_ns) {
                want.push((e.start_ns, e.end_ns, id, e.kind));
            }
        }
        for o in m.objects() {
            if let Some((s, e)) = o.open_visit {
                if o.is_reportable() && o.label == label && w.overlaps(s, e) {
                    want.push((s, e, o.id, EventKind::Visit));
                }
            }
        }
        want.sort();
        let got: Vec<_> = got
            .iter()
            .map(|e| (e.start_ns, e.end_ns, e.object_id, e.kind))
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn where_by_label_matches_a_scan_of_objects() {
    let m = built(6);
    for label in LABELS {
        for k in [1, 3, 1000] {
            let Answer::Objects(got) = m
                .query(&Query::Where {
                    target: Target::Label((*label).into()),
                    k,
                    at_ns: None,
                })
                .unwrap()
            else {
                panic!()
            };
            let mut want: Vec<(bool, std::cmp::Reverse<StampNs>, ObjectId)> = m
                .objects()
                .iter()
                .filter(|o| o.is_reportable() && o.label == *label)
                .map(|o| {
                    (
                        !o.state.is_present(),
                        std::cmp::Reverse(o.last_seen_ns),
                        o.id,
                    )
                })
                .collect();
            want.sort();
            want.truncate(k);
            assert_eq!(
                got.iter().map(|h| h.id).collect::<Vec<_>>(),
                want.iter().map(|w| w.2).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn where_at_time_follows_the_placement_history() {
    let m = built(7);
    let end = m.latest_stamp_ns().unwrap();
    let mut rng = Rng::new(7);
    for _ in 0..100 {
        let t = T0 + (rng.uniform() * (end - T0) as f64) as StampNs;
        let label = LABELS[rng.index(LABELS.len())];
        let Answer::Objects(hits) = m
            .query(&Query::Where {
                target: Target::Label(label.into()),
                k: usize::MAX,
                at_ns: Some(t),
            })
            .unwrap()
        else {
            panic!()
        };
        let got: BTreeSet<ObjectId> = hits.iter().map(|h| h.id).collect();
        let want: BTreeSet<ObjectId> = m
            .objects()
            .iter()
            .filter(|o| o.is_reportable() && o.label == label && o.first_seen_ns <= t)
            .filter(|o| {
                o.placements
                    .iter()
                    .any(|p| m.placements()[p.index()].start_ns <= t)
            })
            .map(|o| o.id)
            .collect();
        assert_eq!(got, want);
        for h in &hits {
            // The reported position is the latest placement started by then.
            let o = m.object(h.id).unwrap();
            let p = o
                .placements
                .iter()
                .rev()
                .map(|p| &m.placements()[p.index()])
                .find(|p| p.start_ns <= t)
                .unwrap();
            assert_eq!(
                h.position_world,
                [p.position_world.x, p.position_world.y, p.position_world.z]
            );
            let open = p.closed_at_ns.is_none_or(|c| c > t);
            assert_eq!(h.state.is_present(), open);
        }
    }
}

#[test]
fn recall_matches_a_scan_of_captions() {
    let m = built(8);
    let mut rng = Rng::new(8);
    for _ in 0..100 {
        let w = random_window(&mut rng, &m);
        let Answer::Episodes(got) = m
            .query(&Query::Recall {
                window: w,
                text: None,
                k: usize::MAX,
            })
            .unwrap()
        else {
            panic!()
        };
        let want: Vec<StampNs> = m
            .log()
            .events()
            .iter()
            .filter(|e| e.kind == EventKind::Caption && w.contains(e.stamp_ns))
            .map(|e| e.stamp_ns)
            .collect();
        assert_eq!(got.iter().map(|e| e.stamp_ns).collect::<Vec<_>>(), want);
        let Answer::Episodes(ranked) = m
            .query(&Query::Recall {
                window: w,
                text: Some("mug".into()),
                k: 5,
            })
            .unwrap()
        else {
            panic!()
        };
        let q = m.embedder().embed("mug").unwrap();
        let mut want: Vec<(f32, StampNs)> = m
            .log()
            .events()
            .iter()
            .filter(|e| e.kind == EventKind::Caption && w.contains(e.stamp_ns))
            .map(|e| {
                (
                    mnemo::core::embed::cosine(
                        &q,
                        &m.log().caption(e.caption.unwrap()).unwrap().embedding,
                    ),
                    e.stamp_ns,
                )
            })
            .filter(|(s, _)| *s >= m.config().min_text_score)
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        want.truncate(5);
        assert_eq!(
            ranked.iter().map(|e| e.stamp_ns).collect::<Vec<_>>(),
            want.iter().map(|w| w.1).collect::<Vec<_>>()
        );
        assert!(
            ranked.iter().all(|e| e.caption.contains("mug")),
            "lexical matches share the word"
        );
    }
}

#[test]
fn scene_graph_at_relations_match_brute_force_geometry() {
    let run = run_eval(
        &SimConfig {
            days: 1,
            seed: 3,
            ..SimConfig::default()
        },
        memory_config(),
    )
    .unwrap();
    let m = &run.memory;
    let end = m.latest_stamp_ns().unwrap();
    for t in [T0, end - 3_600_000_000_000, end] {
        let Answer::SceneGraph(g) = m.query(&Query::SceneGraphAt { stamp_ns: t }).unwrap() else {
            panic!()
        };
        let present: Vec<_> = g.objects.iter().filter(|o| o.state.is_present()).collect();
        let mut want = BTreeSet::new();
        for a in &present {
            for b in &present {
                if a.id == b.id {
                    continue;
                }
                let shape = |h: &mnemo::core::ObjectHit| mnemo::core::scene_graph::BoxShape {
                    center: Point3::new(
                        h.position_world[0],
                        h.position_world[1],
                        h.position_world[2],
                    ),
                    extent: nalgebra::Vector3::new(h.extent_m[0], h.extent_m[1], h.extent_m[2]),
                };
                if let Some(kind) = mnemo::core::scene_graph::relation_between(
                    &shape(a),
                    &shape(b),
                    m.config().near_relation_m,
                    m.config().on_tolerance_m,
                ) {
                    want.insert(mnemo::core::Relation {
                        subject: a.id,
                        kind,
                        object: b.id,
                    });
                }
            }
        }
        let got: BTreeSet<_> = g.relations.iter().copied().collect();
        assert_eq!(got, want, "relations at {t}");
        if t == end {
            assert!(
                got.iter().any(|r| r.kind == mnemo::core::RelationKind::On),
                "objects stand on furniture"
            );
            assert!(
                got.iter().any(|r| r.kind == mnemo::core::RelationKind::In),
                "objects stand in shelves"
            );
        }
    }
}
