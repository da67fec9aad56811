//! How change detection weighs its evidence: identical objects side by side, a missing object's
//! look-alike, misses a second apart, and a look-alike that turned up elsewhere (unless another
//! unchecked look-alike may be the one that moved): each of those
//! tests runs once with the rule and once with it turned off in the config, and checks the
//! outcomes differ. Then the depth check of a miss: an empty spot on a table counts, a spot
//! hidden behind something nearer does not; and a spot in a far corner of the view counts.
//! Last, stray tracks: one inside a large object is merged into it, and a tentative one never
//! charges the confirmed object beside it a miss; and a new object missed twice between two
//! sightings is kept until the second confirms it. Then the timing of moves: a look-alike seen
//! a minute after an object's last sighting is not where it went, a newcomer's first
//! sighting taken for a missing object does not count as that object's last sighting, and an
//! object seen where it was moments after it was taken for a newcomer never left (unless it
//! looks much more like a look-alike not checked since, put down there). Last, short
//! moves: a lamp moved 45 cm (inside its full gate) a patrol later is reported moved, while a
//! sofa whose detected centre wanders 30 cm with the view keeps its gate. And second tracks: a
//! different plate put where one was taken is not folded into it, while a second track of one
//! kettle, charged the misses of sightings it shared and gone missing, is folded back when the
//! kettle is seen, and an older track of one bowl that went missing is taken back by the newer
//! one confirmed right after. Last, twins: a look-alike first seen beside its confirmed twin is
//! confirmed by that sighting (unless an unseen look-alike stands there), and a lone sighting
//! beside a confirmed look-alike is not where a missing object went. Then hand-overs: a better
//! newcomer takes a move over, a sighting dropped as a false positive is where an object found
//! gone went, an object found gone takes over a newcomer that looks more like it, and a missing
//! twin's lone sighting (its twin's) does not keep a newcomer a minute later from being it.
//! Then objects gone for hours: a newcomer that looks like one is it as soon as every
//! look-alike that may have been carried there is checked (and keeps waiting while one it was
//! left to may yet be seen), needs a closer look than one an hour after the object went
//! missing (none without appearance), unless it is back at the spot; and an object missed
//! beside a look-alike that moved there since is not that look-alike's duplicate. Last, looks:
//! a plate whose first sighting looked wrong takes the look of its later sightings (a look
//! resting on several sightings stands), and a looser association bound (the node's, for
//! colour descriptors) keeps a shifted look on its track. And twins seen as one: a twin taken
//! away goes missing though the other's sightings fall on both spots (the count rule), one
//! carried elsewhere in the pass that finds it gone is reported moved, and twins seen one at a
//! time, each on its own spot, both stay. Last, newcomers that may be another look-alike's:
//! one likelier an unchecked look-alike's than a missing object's waits for that one's spot
//! to be checked, lets no look-alike go missing on fewer views meanwhile, and is not taken for
//! a look-alike found gone that it favours less; and one left to a look-alike seen again goes
//! to the missing object it favours most. Last, a swap: keys carried past each other, one put
//! down by the other's spot, are told apart by their looks; and a sighting goes to the
//! look-alike it looks like though it falls nearer another (not between near-twins). Last, a
//! lone sighting beside a look-alike it looks about as much like is not taken for that one's
//! missing near twin, and newcomers seen side by side, each re-identified, are no duplicates.
//! Last, a look-alike put down elsewhere, taken at its first sighting for an object found gone,
//! is an object of its own once its next sightings look unlike that object. And an object
//! found gone whose spot is seen empty again on a later visit was missing, though it comes
//! back. Last, tentative tracks across visits: a stray sighting left beside a vase starts over
//! when the vase comes back onto it (so it is where the vase went), strays between twin bowls a
//! visit apart make no third bowl, while a mug seen once beside its twin and again a visit
//! later was there since its first sighting.

use mnemo::core::config::MemoryConfig;
use mnemo::core::embed::LexicalEmbedder;
use mnemo::core::{Detection, Memory, ObjectId, ObjectState, StampNs};
use std::f64::consts::{FRAC_PI_2, PI};

use crate::common::{det, keyframe, looking, T0};

use crate::common::{HOUR, S};

fn memory_with(tweak: impl FnOnce(&mut MemoryConfig)) -> Memory {
    let mut cfg = MemoryConfig {
        compatible_labels: vec![vec!["cup".into(), "mug".into()]],
        ..MemoryConfig::default()
    };
    tweak(&mut cfg);
    Memory::new(cfg, Box::new(LexicalEmbedder::default())).unwrap()
}

fn ingest(m: &mut Memory, t: StampNs, dets: Vec<mnemo::core::Detection>) {
    m.ingest(&keyframe(t, 0.0, 0.0, 0.0, dets)).unwrap();
}

/// Two identical mugs 15 cm apart, both confirmed; returns (left, right) and the next stamp.
fn twin_mugs(m: &mut Memory) -> (ObjectId, ObjectId, StampNs) {
    let mut t = T0;
    for _ in 0..5 {
        ingest(
            m,
            t,
            vec![det("mug", [2.0, 0.0, 0.8]), det("mug", [2.0, 0.15, 0.8])],
        );
        t += S;
    }
    let id_near = |y: f64| {
        m.objects()
            .iter()
            .find(|o| o.is_reportable() && (o.position_world.y - y).abs() < 0.03)
            .map(|o| o.id)
            .unwrap()
    };
    (id_near(0.0), id_near(0.15), t)
}

#[test]
fn a_sighting_between_identical_twins_updates_neither() {
    for ratio in [MemoryConfig::default().ambiguity_ratio, 1.0] {
        let mut m = memory_with(|c| {
            c.ambiguity_ratio = ratio;
            if ratio == 1.0 {
                // Shared sightings off altogether.
                c.ambiguity_margin_m = 0.0;
                c.ambiguity_margin_per_depth = 0.0;
            }
        });
        let (left, right, t) = twin_mugs(&mut m);
        let before: Vec<_> = [left, right]
            .iter()
            .map(|id| m.object(*id).unwrap().clone())
            .collect();
        // One detection halfway between: one of the two was seen, which is unclear.
        ingest(&mut m, t, vec![det("mug", [2.0, 0.076, 0.8])]);
        let after: Vec<_> = [left, right]
            .iter()
            .map(|id| m.object(*id).unwrap().clone())
            .collect();
        let unchanged = before
            .iter()
            .zip(&after)
            .all(|(b, a)| a.times_seen == b.times_seen && a.position_world == b.position_world);
        if ratio > 1.0 {
            assert!(unchanged, "shared sighting changed a twin: {after:#?}");
            // It fits the right one a little better: only the left one is charged a miss.
            assert_eq!(m.object(right).unwrap().missed_views, 0);
            assert_eq!(m.object(left).unwrap().missed_views, 1);
            // A clear sighting of the left one charges the right one a miss.
            ingest(&mut m, t + S, vec![det("mug", [2.0, 0.0, 0.8])]);
            assert_eq!(m.object(left).unwrap().times_seen, before[0].times_seen + 1);
            assert_eq!(m.object(right).unwrap().missed_views, 1);
        } else {
            assert!(!unchanged, "without the rule one twin takes the sighting");
        }
    }
}

#[test]
fn a_sighting_within_one_noise_of_both_twins_is_shared_whatever_the_ratio() {
    // 5 cm from the left mug, 10 cm from the right one: twice as far, beyond the ratio, but
    // within the margin (5 cm + 1 cm per metre of depth) one sighting cannot tell them apart.
    for margin_m in [MemoryConfig::default().ambiguity_margin_m, 0.0] {
        let mut m = memory_with(|c| {
            c.ambiguity_margin_m = margin_m;
            c.ambiguity_margin_per_depth = 0.0;
        });
        let (left, _, t) = twin_mugs(&mut m);
        let seen_before = m.object(left).unwrap().times_seen;
        ingest(&mut m, t, vec![det("mug", [2.0, 0.05, 0.8])]);
        let updated = m.object(left).unwrap().times_seen > seen_before;
        assert_eq!(updated, margin_m == 0.0, "margin {margin_m}");
    }
}

#[test]
fn a_twin_taken_away_is_missed_though_the_sightings_of_the_other_are_shared() {
    let mut m = memory_with(|_| {});
    let (left, right, mut t) = twin_mugs(&mut m);
    // An hour later only the right mug is there, each sighting of it landing nearly halfway
    // (so shared between the two), a little nearer the right one.
    t += HOUR;
    for y in [0.08, 0.082, 0.079, 0.081, 0.08] {
        ingest(&mut m, t, vec![det("mug", [2.0, y, 0.8])]);
        t += S;
    }
    assert_eq!(m.object(left).unwrap().state, ObjectState::Missing);
    assert!(m.object(right).unwrap().state.is_present());
}

#[test]
fn a_missing_twin_does_not_come_back_for_its_look_alikes_sighting() {
    let default_penalty = MemoryConfig::default().missing_match_penalty;
    for penalty in [default_penalty, 0.0] {
        // Shared sightings off: this test is about the penalty alone.
        let mut m = memory_with(|c| {
            c.missing_match_penalty = penalty;
            c.ambiguity_ratio = 1.0;
            c.ambiguity_margin_m = 0.0;
            c.ambiguity_margin_per_depth = 0.0;
        });
        let (left, right, mut t) = twin_mugs(&mut m);
        // An hour later only the right mug is there: the left one goes missing.
        t += HOUR;
        t = keyframes_in_a_row(&mut m, t, 4, &[det("mug", [2.0, 0.15, 0.8])]);
        assert_eq!(m.object(left).unwrap().state, ObjectState::Missing);
        // A noisy sighting of the right mug lands a little nearer the left one's old spot.
        ingest(&mut m, t, vec![det("mug", [2.0, 0.07, 0.8])]);
        let left_state = m.object(left).unwrap().state;
        if penalty > 0.0 {
            assert_eq!(left_state, ObjectState::Missing);
            assert!(m.object(right).unwrap().state.is_present());
        } else {
            assert!(left_state.is_present(), "without the penalty it reappears");
        }
    }
}

#[test]
fn misses_a_second_after_a_sighting_do_not_make_an_object_missing() {
    let default_absence = MemoryConfig::default().missing_min_absence_s;
    assert!(default_absence > 5.0);
    for absence in [default_absence, 0.0] {
        let mut m = memory_with(|c| c.missing_min_absence_s = absence);
        let mut t = keyframes_in_a_row(&mut m, T0, 3, &[det("book", [2.0, 0.0, 0.8])]);
        let book = m.objects()[0].id;
        // Four keyframes in a row, a second apart, without the book.
        t = keyframes_in_a_row(&mut m, t, 4, &[]);
        let state = m.object(book).unwrap().state;
        if absence > 0.0 {
            assert_eq!(state, ObjectState::Present);
            assert!(m.object(book).unwrap().missed_views >= 3);
            // Still not there well after the last sighting: now it is missing.
            ingest(&mut m, t + (absence as StampNs + 1) * S, vec![]);
            assert_eq!(m.object(book).unwrap().state, ObjectState::Missing);
        } else {
            assert_eq!(state, ObjectState::Missing);
        }
    }
}

#[test]
fn a_look_alike_elsewhere_needs_fewer_missed_views_to_make_a_move() {
    let cfg = MemoryConfig::default();
    assert!(cfg.missing_after_views_with_candidate < cfg.missing_after_views);
    for fewer in [true, false] {
        let m = memory_with(|c| {
            if !fewer {
                c.missing_after_views_with_candidate = c.missing_after_views;
            }
        });
        let (m, keys) = keys_missed_twice_beside_a_newcomer(m, false);
        let state = m.object(keys).unwrap().state;
        if fewer {
            assert_eq!(state, ObjectState::Moved, "{:#?}", m.objects());
            let p = m.object(keys).unwrap().position_world;
            assert!((p.y + 0.6).abs() < 0.05, "{p:?}");
        } else {
            assert_eq!(state, ObjectState::Present);
        }
    }
}

/// A keyframe looking behind the robot (along -x) that sees keys at (-2, 0.5).
fn keys_behind(m: &mut Memory, t: StampNs) {
    seen_behind(m, t, "keys");
}

/// A keyframe looking behind the robot (along -x) that sees a `label` at (-2, 0.5).
fn seen_behind(m: &mut Memory, t: StampNs, label: &str) {
    let behind = keyframe(
        t,
        0.0,
        0.0,
        std::f64::consts::PI,
        vec![det(label, [-2.0, 0.5, 0.8])],
    );
    m.ingest(&behind).unwrap();
}

/// Keys seen at (2, 0.5) and, when `rival`, a second set behind the robot at (-2, 0.5); an hour
/// later the first spot is in view twice without its keys (a detector's misses: nothing says
/// they left) while keys turn up 1.1 m to the right. Returns the memory and the first keys.
fn keys_missed_twice_beside_a_newcomer(mut m: Memory, rival: bool) -> (Memory, ObjectId) {
    let mut t = T0;
    for _ in 0..5 {
        ingest(&mut m, t, vec![det("keys", [2.0, 0.5, 0.8])]);
        if rival {
            keys_behind(&mut m, t);
        }
        t += S;
    }
    let keys = m.objects()[0].id;
    t += HOUR;
    keyframes_in_a_row(&mut m, t, 2, &[det("keys", [2.0, -0.6, 0.8])]);
    (m, keys)
}

#[test]
fn a_newcomer_that_another_unchecked_look_alike_may_be_does_not_shorten_the_wait() {
    let state = |rival| {
        let (m, keys) = keys_missed_twice_beside_a_newcomer(memory_with(|_| {}), rival);
        m.object(keys).unwrap().state
    };
    // Alone of their kind: the newcomer is probably them, two missed views make the move.
    assert_eq!(state(false), ObjectState::Moved);
    // The keys behind the robot, not checked since, may be the ones that moved just as well:
    // two missed views are not enough.
    assert_eq!(state(true), ObjectState::Present);
}

/// Appearance embeddings: one object's look; one off it (cosine 0.8 with `SEEN`: below
/// `min_appearance_cosine`, so such a sighting starts a new track); and one between the two
/// (cosine 0.95 with both).
const SEEN: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
const OFF: [f32; 4] = [0.8, 0.6, 0.0, 0.0];
const BETWEEN: [f32; 4] = [0.95, 0.312, 0.0, 0.0];

/// The cosine of two appearance embeddings.
fn cosine(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32; 4]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

/// A `label` detection at (2, `y`, 0.8) with an appearance embedding.
fn look_at(label: &str, y: f64, embedding: [f32; 4]) -> Detection {
    looking(det(label, [2.0, y, 0.8]), embedding)
}

/// A keys detection at (2, `y`) with an appearance embedding.
fn keys_at(y: f64, embedding: [f32; 4]) -> Detection {
    look_at("keys", y, embedding)
}

#[test]
fn an_object_refound_where_it_was_reappears_and_does_not_move() {
    // A sighting `OFF` makes a new track; `BETWEEN` ones join it, which then looks like the
    // keys again.
    assert!(MemoryConfig::default().min_appearance_cosine > 0.8);
    // Re-found 2 cm from where it was (inside the association gate), and 1.1 m away.
    for (refound_y, moved) in [(0.32, false), (-0.8, true)] {
        let mut m = memory_with(|_| {});
        let mut t = keyframes_in_a_row(&mut m, T0, 5, &[keys_at(0.3, SEEN)]);
        let keys = m.objects()[0].id;
        // An hour later the spot is in view and empty: the keys go missing.
        t += HOUR;
        t = keyframes_in_a_row(&mut m, t, 4, &[]);
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
        let window_start = t;
        // A sighting that looks off starts a second track, which then looks like the keys and
        // is re-identified with them when confirmed.
        ingest(&mut m, t, vec![keys_at(refound_y, OFF)]);
        t += S;
        t = keyframes_in_a_row(&mut m, t, 3, &[keys_at(refound_y, BETWEEN)]);
        let reportable: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
        assert_eq!(reportable.len(), 1, "{reportable:#?}");
        assert_eq!(m.resolve(reportable[0].id), keys);
        let changes = match m
            .query(&mnemo::core::Query::Changes {
                window: mnemo::core::TimeWindow::new(window_start, t).unwrap(),
                label: None,
            })
            .unwrap()
        {
            mnemo::core::Answer::Changes(c) => c,
            other => panic!("{other:?}"),
        };
        let kinds: Vec<_> = changes.iter().map(|c| c.kind).collect();
        let state = m.object(keys).unwrap().state;
        if moved {
            assert_eq!(state, ObjectState::Moved);
            assert_eq!(kinds, vec![mnemo::core::EventKind::Moved]);
        } else {
            assert_eq!(state, ObjectState::Present);
            assert_eq!(
                kinds,
                vec![mnemo::core::EventKind::Reappeared],
                "{changes:#?}"
            );
        }
    }
}

/// A 64 x 48 depth image seen from the robot at the origin (yaw 0), rendered by the simulator:
/// a table top at `table_top_z` m from x = 1.4 to 2.6 m (|y| < 0.6 m), a wall at x = 4 m, and
/// optionally a screen across the whole view `screen_m` in front of the camera.
fn depth_view(table_top_z: f64, screen_m: Option<f64>) -> mnemo::core::DepthImage {
    use mnemo::sim::world::Aabb;
    use nalgebra::{Point3, Vector3};
    let camera = mnemo::core::geometry::PinholeCamera::vga_default();
    let world_from_camera = keyframe(T0, 0.0, 0.0, 0.0, vec![]).world_from_camera;
    let mut boxes = vec![
        Aabb::centered(
            Point3::new(2.0, 0.0, table_top_z - 0.02),
            Vector3::new(1.2, 1.2, 0.04),
        ),
        Aabb::centered(Point3::new(4.05, 0.0, 1.5), Vector3::new(0.1, 20.0, 3.0)),
    ];
    if let Some(d) = screen_m {
        // Camera at x = 0.1 m, looking 15 degrees down: a wall whose near face is `d` ahead.
        boxes.push(Aabb::centered(
            Point3::new(0.1 + d + 0.05, 0.0, 1.0),
            Vector3::new(0.1, 20.0, 4.0),
        ));
    }
    mnemo::sim::scenario::render_depth(&camera, &world_from_camera, &boxes, 64, 48)
}

/// `sightings` sightings of `seen` (a detection on the table), then an hour later four views
/// of the spot empty, whose depth shows the bare table (`screen_m`: or a screen in front of
/// everything). Returns the object's state afterwards.
fn state_after_empty_table_views(
    mut m: Memory,
    seen: Detection,
    sightings: usize,
    screen_m: Option<f64>,
) -> ObjectState {
    let mut t = keyframes_in_a_row(&mut m, T0, sightings, std::slice::from_ref(&seen));
    let id = m.objects()[0].id;
    assert!(m.object(id).unwrap().is_reportable());
    t += HOUR;
    for _ in 0..4 {
        let mut kf = keyframe(t, 0.0, 0.0, 0.0, vec![]);
        kf.depth = Some(depth_view(0.75, screen_m));
        m.ingest(&kf).unwrap();
        t += S;
    }
    m.object(id).unwrap().state
}

/// A book on a table, its centre estimated 3 cm below the table top (position noise), then an
/// hour later the spot is empty ([`state_after_empty_table_views`]).
fn book_on_table_after_empty_views(screen_m: Option<f64>) -> ObjectState {
    let book = det("book", [2.0, 0.0, 0.72]);
    state_after_empty_table_views(memory_with(|_| {}), book, 4, screen_m)
}

#[test]
fn an_empty_spot_on_a_table_counts_although_the_estimate_sits_a_little_low() {
    // The book's centre estimate is behind the table top in the depth image; its top is not.
    assert_eq!(book_on_table_after_empty_views(None), ObjectState::Missing);
}

/// A phone (1 cm tall) on the table, 2.2 m ahead, seen `sightings` times with its centre at
/// `z` (the table top is at 0.75 m: estimated low by position noise), then an hour later four
/// views of the bare table. Returns its state afterwards.
fn flat_phone_after_empty_views(
    z: f64,
    sightings: usize,
    configure: impl FnOnce(&mut MemoryConfig),
) -> ObjectState {
    let mut phone = det("phone", [2.2, 0.0, z]);
    phone.extent_m = nalgebra::Vector3::new(0.07, 0.15, 0.01);
    state_after_empty_table_views(memory_with(configure), phone, sightings, None)
}

/// The phone of [`flat_phone_after_empty_views`] at `z`, seen `sightings` times: missed on
/// the bare table with the default configuration, still present with `weaker` applied.
fn missed_by_default_not_with(z: f64, sightings: usize, weaker: impl FnOnce(&mut MemoryConfig)) {
    let default = flat_phone_after_empty_views(z, sightings, |_| {});
    assert_eq!(default, ObjectState::Missing);
    let weakened = flat_phone_after_empty_views(z, sightings, weaker);
    assert_eq!(weakened, ObjectState::Present);
}

#[test]
fn a_flat_object_estimated_low_from_two_sightings_is_missed_on_the_bare_table() {
    // Seen twice, 4.5 cm low: its estimated top lies below the table top, and the depth window
    // there shows the table in front of it. Lifted (3 cm / sqrt 2 per standard error), the
    // window shows the bare table.
    missed_by_default_not_with(0.71, 2, |c| c.detection_noise_m = 0.0);
}

#[test]
fn a_flat_object_estimated_low_by_several_standard_errors_is_missed_on_the_bare_table() {
    // Seen four times, 6.5 cm low: four standard errors (3 cm / sqrt 4) below the real centre.
    // One standard error above its estimated top the window still lies on the table in front;
    // three (the default) reach the bare table.
    missed_by_default_not_with(0.69, 4, |c| c.occlusion_lift_std_errors = 1.0);
}

#[test]
fn an_object_hidden_behind_something_nearer_is_not_declared_missing() {
    assert_eq!(
        book_on_table_after_empty_views(Some(1.0)),
        ObjectState::Present
    );
}

#[test]
fn an_object_in_a_far_corner_of_the_view_is_missed_like_any_other() {
    // A spot near the top-left corner of the image at 4.8 m depth: inside the frustum (16 px
    // margin), but 5.7 m from the camera, beyond a ball of the 5 m depth range around it.
    let probe = keyframe(T0, 0.0, 0.0, 0.0, vec![]);
    let p_cam = probe.camera.back_project(40.0, 40.0, 4.8);
    assert!(p_cam.coords.norm() > probe.camera.max_depth_m + 0.5);
    let p = probe.world_from_camera * p_cam;
    let mut m = memory_with(|_| {});
    let mut t = keyframes_in_a_row(&mut m, T0, 3, &[det("vase", [p.x, p.y, p.z])]);
    let vase = m.objects()[0].id;
    assert!(m.object(vase).unwrap().confirmed);
    // An hour later the same view, without the vase.
    t += HOUR;
    keyframes_in_a_row(&mut m, t, 4, &[]);
    assert_eq!(m.object(vase).unwrap().state, ObjectState::Missing);
}

/// A desk lamp (40 cm tall) on a shelf 2 m ahead, its centre projected at row `v_px` near the
/// top of the image, seen four times; an hour later four views of the shelf without it, the
/// wall behind. Returns the lamp's state afterwards.
fn lamp_below_the_top_edge_after_empty_views(v_px: f64) -> ObjectState {
    use mnemo::sim::world::Aabb;
    use nalgebra::{Point3, Vector3};
    let probe = keyframe(T0, 0.0, 0.0, 0.0, vec![]);
    let centre = probe.world_from_camera * probe.camera.back_project(320.0, v_px, 2.0);
    let mut lamp = det("desk lamp", [centre.x, centre.y, centre.z]);
    lamp.extent_m = Vector3::new(0.15, 0.15, 0.4);
    let depth = {
        let shelf = Aabb::centered(
            Point3::new(centre.x, 0.0, centre.z - 0.21),
            Vector3::new(0.4, 1.2, 0.02),
        );
        let wall = Aabb::centered(Point3::new(4.05, 0.0, 1.5), Vector3::new(0.1, 20.0, 3.0));
        mnemo::sim::scenario::render_depth(
            &probe.camera,
            &probe.world_from_camera,
            &[shelf, wall],
            64,
            48,
        )
    };
    let mut m = memory_with(|_| {});
    let mut t = keyframes_in_a_row(&mut m, T0, 4, &[lamp]);
    let id = m.objects()[0].id;
    assert!(m.object(id).unwrap().confirmed);
    t += HOUR;
    for _ in 0..4 {
        let mut kf = keyframe(t, 0.0, 0.0, 0.0, vec![]);
        kf.depth = Some(depth.clone());
        m.ingest(&kf).unwrap();
        t += S;
    }
    m.object(id).unwrap().state
}

#[test]
fn a_tall_object_whose_top_is_out_of_frame_is_missed_like_any_other() {
    // Centre at row 50: the top edge cuts off its top centimetres, and the occlusion test's
    // point (lifted above the top by a few standard errors) and its window lie above the
    // image, so no view of the empty shelf could count. The highest in-frame point of the
    // lamp's axis is tested instead: the wall behind shows there, and it goes missing.
    let probe = keyframe(T0, 0.0, 0.0, 0.0, vec![]);
    let camera_from_world = probe.world_from_camera.inverse();
    // The image row of the point `dz` above the centre of a lamp centred at row `v_px`.
    let row = |v_px: f64, dz: f64| {
        let centre = probe.world_from_camera * probe.camera.back_project(320.0, v_px, 2.0);
        let p = camera_from_world * (centre + nalgebra::Vector3::new(0.0, 0.0, dz));
        probe.camera.project(&p).unwrap().1
    };
    let lift = 3.0 * 0.03 / 2.0;
    assert!(row(50.0, 0.2) < 0.0 && row(50.0, 0.2 + lift) < -8.0);
    assert_eq!(
        lamp_below_the_top_edge_after_empty_views(50.0),
        ObjectState::Missing
    );
    // Centre at row 30: more than its top 15 % is cut off, which a detector may not find
    // (nor could it be told missing): the view does not count.
    assert!(row(50.0, 0.35 * 0.4) > 0.0 && row(30.0, 0.35 * 0.4) < 0.0);
    assert_eq!(
        lamp_below_the_top_edge_after_empty_views(30.0),
        ObjectState::Present
    );
}

/// A sofa (2 x 0.9 x 0.85 m) seen three times with one appearance, then twice 20 cm off with an
/// appearance just below the match threshold (a second track is born), then again as at first;
/// an hour later it is seen again many times. Returns the reportable sofas and whether a sofa
/// was ever reported missing.
fn sofa_with_a_stray_track(merge_extent_fraction: f64) -> (usize, bool) {
    let mut m = memory_with(|c| c.merge_extent_fraction = merge_extent_fraction);
    let sofa = |y: f64, embedding: [f32; 2]| {
        let mut d = looking(det("sofa", [2.5, y, 0.45]), embedding);
        d.extent_m = nalgebra::Vector3::new(0.9, 2.0, 0.85);
        d
    };
    // cos(a, b) = 0.8 < min_appearance_cosine (0.85).
    let (a, b) = ([1.0, 0.0], [0.8, 0.6]);
    let mut t = T0;
    let mut views = vec![sofa(0.0, a); 3];
    views.extend([sofa(0.2, b), sofa(0.2, b), sofa(0.0, a)]);
    for d in views {
        ingest(&mut m, t, vec![d]);
        t += S;
    }
    t += HOUR;
    keyframes_in_a_row(&mut m, t, 6, &[sofa(0.0, a)]);
    let sofas = m
        .objects()
        .iter()
        .filter(|o| o.is_reportable() && o.label == "sofa")
        .count();
    let missing = m
        .log()
        .events()
        .iter()
        .any(|e| e.kind == mnemo::core::EventKind::Missing);
    (sofas, missing)
}

#[test]
fn a_stray_track_inside_a_large_object_is_merged_not_left_to_go_missing() {
    // Two solid sofas cannot stand 20 cm apart: the stray track is the same sofa.
    assert_eq!(sofa_with_a_stray_track(0.5), (1, false));
    // With only the fixed 8 cm merge distance it stays a second sofa, which the later
    // sightings (the first appearance) never match: it goes missing though nothing moved.
    assert_eq!(sofa_with_a_stray_track(0.0), (2, true));
}

#[test]
fn a_tentative_track_that_fits_a_sighting_better_does_not_charge_the_confirmed_object() {
    let mut m = memory_with(|_| {});
    let mut t = keyframes_in_a_row(&mut m, T0, 5, &[det("mug", [2.0, 0.0, 0.8])]);
    let mug = m.objects()[0].id;
    // A stray detection 45 cm to the side (beyond the gate) starts a tentative track.
    t += HOUR;
    ingest(
        &mut m,
        t,
        vec![det("mug", [2.0, 0.0, 0.8]), det("mug", [2.0, 0.45, 0.8])],
    );
    t += S;
    let stray = m.objects().last().unwrap().id;
    assert!(!m.object(stray).unwrap().confirmed);
    // Sightings a little nearer the stray track than the mug: which one was seen is unclear.
    keyframes_in_a_row(&mut m, t, 3, &[det("mug", [2.0, 0.24, 0.8])]);
    assert_eq!(m.object(mug).unwrap().missed_views, 0);
    assert_eq!(m.object(stray).unwrap().times_seen, 1);
}

/// An object of a cluttered shelf, seen in the first and last of four views of one pass
/// (the detector missing it in between): with `tentative_max_misses` 3 the two sightings make
/// one confirmed object; with 2 the first track is dropped as a false positive after the two
/// misses and the second sighting starts a new tentative one, so the object is never known
/// (and its later move never reported).
#[test]
fn a_new_object_missed_twice_between_two_sightings_is_still_confirmed() {
    assert_eq!(MemoryConfig::default().tentative_max_misses, 3);
    for max_misses in [3, 2] {
        let mut m = memory_with(|c| c.tentative_max_misses = max_misses);
        let mut t = T0;
        let apple = || vec![det("apple", [2.0, 0.0, 0.8])];
        for dets in [apple(), vec![], vec![], apple()] {
            ingest(&mut m, t, dets);
            t += S;
        }
        let known: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
        if max_misses == 3 {
            assert_eq!(known.len(), 1, "{known:?}");
            assert_eq!(known[0].times_seen, 2);
            assert_eq!(m.stats().false_positives_dropped, 0);
        } else {
            assert!(known.is_empty(), "{known:?}");
            assert_eq!(m.stats().false_positives_dropped, 1);
        }
    }
}

/// Keys seen at (2, 0.5) and, a minute later in the same pass, a second set behind the robot at
/// (-2, 0.5). `check_first` = true: half an hour later the first spot is empty for three
/// views.
/// `check_first` = false: the first spot is found empty 40 s after the sighting (before the
/// second set is seen). Returns the memory and the first keys.
fn keys_and_a_look_alike_a_minute_later(mut m: Memory, check_first: bool) -> (Memory, ObjectId) {
    let mut t = keyframes_in_a_row(&mut m, T0, 3, &[det("keys", [2.0, 0.5, 0.8])]);
    let keys = m.objects()[0].id;
    if !check_first {
        t += 40 * S;
        t = keyframes_in_a_row(&mut m, t, 3, &[]);
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
    }
    let last_seen = m.object(keys).unwrap().last_seen_ns;
    t = t.max(last_seen + 60 * S);
    for _ in 0..3 {
        keys_behind(&mut m, t);
        t += S;
    }
    if check_first {
        t += HOUR / 2;
        keyframes_in_a_row(&mut m, t, 3, &[]);
    }
    (m, keys)
}

#[test]
fn a_look_alike_seen_a_minute_after_the_last_sighting_is_not_where_the_object_went() {
    let gap = MemoryConfig::default().min_move_gap_s;
    assert!(gap > 60.0, "{gap}");
    for check_first in [true, false] {
        for gap in [gap, 0.0] {
            let m = memory_with(|c| c.min_move_gap_s = gap);
            let (m, keys) = keys_and_a_look_alike_a_minute_later(m, check_first);
            let first = m.object(keys).unwrap();
            let reportable = m.objects().iter().filter(|o| o.is_reportable()).count();
            if gap > 0.0 {
                // Two sets of keys: the first one missing, the second present where it was seen.
                assert_eq!(first.state, ObjectState::Missing, "{first:?}");
                assert!((first.position_world.x - 2.0).abs() < 0.05, "{first:?}");
                assert_eq!(reportable, 2, "{:#?}", m.objects());
            } else {
                // Without the gap the second sighting is taken for the first keys, carried off.
                assert_eq!(first.state, ObjectState::Moved, "{first:?}");
                assert!((first.position_world.x + 2.0).abs() < 0.05, "{first:?}");
                assert_eq!(reportable, 1, "{:#?}", m.objects());
            }
        }
    }
}

/// A notebook detection at `p` with appearance `e`.
fn notebook(p: [f64; 3], e: [f32; 4]) -> Detection {
    looking(det("notebook", p), e)
}

/// A notebook is seen at A, and an hour later A is empty: it is missing. A notebook's first
/// sighting at C looks like it (cosine 0.9) and is taken for it, moved; but the next two
/// sightings at C (12 cm off) look different (cosine 0.5) and start a track of their own, the
/// newcomer's, and the notebook misses them. Twenty seconds later a notebook that looks just
/// like the first turns up at D. Half an hour later C is in view again: the newcomer's track is
/// seen, the notebook is missed a third time and goes missing from C. The lone sighting at C
/// was the newcomer's (a second track right there keeps being seen), so the notebook was last
/// seen at A: D, first seen twenty seconds after that sighting but hours after A, is where it
/// went.
#[test]
fn a_newcomers_first_sighting_taken_for_a_missing_object_does_not_hide_where_it_went() {
    const E_N: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const E_1: [f32; 4] = [0.9, 0.435_889_9, 0.0, 0.0];
    const E_2: [f32; 4] = [0.5, 0.866_025_4, 0.0, 0.0];
    const A: [f64; 3] = [2.0, 0.5, 0.8];
    const C: [f64; 3] = [0.3, 3.0, 0.8];
    // The newcomer's own sightings, 12 cm from the first one (beyond the merge distance).
    const C2: [f64; 3] = [0.3, 3.12, 0.8];
    const D: [f64; 3] = [-2.0, 0.5, 0.8];
    let (yaw_c, yaw_d) = (std::f64::consts::FRAC_PI_2, std::f64::consts::PI);
    let mut m = memory_with(|_| {});
    let mut t = T0;
    let view = |m: &mut Memory, t: &mut StampNs, yaw: f64, dets: Vec<Detection>| {
        m.ingest(&keyframe(*t, 0.0, 0.0, yaw, dets)).unwrap();
        *t += S;
    };
    for _ in 0..3 {
        view(&mut m, &mut t, 0.0, vec![notebook(A, E_N)]);
    }
    let first = m.objects()[0].id;
    t += HOUR;
    for _ in 0..3 {
        view(&mut m, &mut t, 0.0, vec![]);
    }
    assert_eq!(m.object(first).unwrap().state, ObjectState::Missing);
    t += 10 * S;
    view(&mut m, &mut t, yaw_c, vec![notebook(C, E_1)]);
    let o = m.object(first).unwrap();
    assert_eq!(o.state, ObjectState::Moved, "taken for the newcomer: {o:?}");
    for _ in 0..2 {
        view(&mut m, &mut t, yaw_c, vec![notebook(C2, E_2)]);
    }
    assert_eq!(
        m.object(first).unwrap().missed_views,
        2,
        "{:#?}",
        m.objects()
    );
    t += 20 * S;
    for _ in 0..3 {
        view(&mut m, &mut t, yaw_d, vec![notebook(D, E_N)]);
    }
    t += HOUR / 2;
    view(&mut m, &mut t, yaw_c, vec![notebook(C2, E_2)]);
    let o = m.object(first).unwrap();
    assert_eq!(o.state, ObjectState::Moved, "{:#?}", m.objects());
    assert!((o.position_world.x - D[0]).abs() < 0.05, "{o:?}");
    let notebooks = m.objects().iter().filter(|o| o.is_reportable()).count();
    assert_eq!(notebooks, 2, "the newcomer at C and the first one, at D");
}

/// One mug seen at one spot, its second sighting 10 cm off with an appearance at cosine 0.82
/// from the first (two noisy views of one object): with `min_appearance_cosine_single` below
/// that, the two make one confirmed mug; at `min_appearance_cosine` (0.85) for every track, the
/// second starts a track of its own. A track seen three times compares its average with the
/// stricter bound.
#[test]
fn a_second_sighting_is_matched_to_a_track_seen_once_with_the_looser_appearance_bound() {
    const FIRST: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const SECOND: [f32; 4] = [0.82, 0.572_363_5, 0.0, 0.0];
    let cfg = MemoryConfig::default();
    assert!(cfg.min_appearance_cosine_single < 0.82 && cfg.min_appearance_cosine > 0.82);
    for single in [cfg.min_appearance_cosine_single, cfg.min_appearance_cosine] {
        let mut m = memory_with(|c| c.min_appearance_cosine_single = single);
        let mug = |y, e| looking(det("mug", [2.0, y, 0.8]), e);
        ingest(&mut m, T0, vec![mug(0.0, FIRST)]);
        // 10 cm off (position noise): inside the gate, beyond the merge distance.
        ingest(&mut m, T0 + S, vec![mug(0.1, SECOND)]);
        let tracks: Vec<_> = m.objects().iter().filter(|o| !o.retired).collect();
        if single < 0.82 {
            assert_eq!(tracks.len(), 1, "{tracks:#?}");
            assert!(tracks[0].confirmed && tracks[0].times_seen == 2);
        } else {
            assert_eq!(tracks.len(), 2, "{tracks:#?}");
        }
    }
    // Seen three times with FIRST: a sighting at cosine 0.82 is another object.
    let mut m = memory_with(|_| {});
    let mug = |y, e| looking(det("mug", [2.0, y, 0.8]), e);
    for i in 0..3 {
        ingest(&mut m, T0 + i * S, vec![mug(0.0, FIRST)]);
    }
    ingest(&mut m, T0 + 3 * S, vec![mug(0.1, SECOND)]);
    let tracks = m.objects().iter().filter(|o| !o.retired).count();
    assert_eq!(tracks, 2);
}

/// Keys seen at (2, 0.5); an hour later that spot is in view twice without them (detector
/// misses) while keys turn up at (2, -0.6): the keys are taken for those, moved. The next two
/// views see keys at (2, 0.5) again, beside the keys at (2, -0.6). Moves take longer than
/// `min_move_gap_s`, so the link is retracted: the keys never left (no change over the hour,
/// a restored memory agrees), and the keys at (2, -0.6) are an object of their own. Without
/// the gap the link stands and the keys at (2, 0.5) are a new object.
#[test]
fn keys_seen_where_they_were_moments_after_being_taken_for_a_newcomer_never_left() {
    for gap in [MemoryConfig::default().min_move_gap_s, 0.0] {
        let m = memory_with(|c| c.min_move_gap_s = gap);
        let (mut m, keys) = keys_missed_twice_beside_a_newcomer(m, false);
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Moved);
        let mut t = m.latest_stamp_ns().unwrap() + S;
        for _ in 0..2 {
            let both = vec![det("keys", [2.0, 0.5, 0.8]), det("keys", [2.0, -0.6, 0.8])];
            ingest(&mut m, t, both);
            t += S;
        }
        let o = m.object(keys).unwrap();
        let other = the_one_other(&m, keys);
        let changes = changes_since(&m, T0 + 10 * S);
        if gap > 0.0 {
            assert_eq!(o.state, ObjectState::Present, "{o:?}");
            assert!((o.position_world.y - 0.5).abs() < 0.05, "{o:?}");
            assert!((other.position_world.y + 0.6).abs() < 0.05, "{other:?}");
            assert!(other.state.is_present(), "{other:?}");
            assert!(changes.is_empty(), "{changes:?}");
            assert_eq!(m.stats().links_retracted, 1);
            assert_sound_and_restorable(&m, &[keys, other.id]);
        } else {
            assert_eq!(o.state, ObjectState::Moved, "{o:?}");
            assert!((o.position_world.y + 0.6).abs() < 0.05, "{o:?}");
            assert!((other.position_world.y - 0.5).abs() < 0.05, "{other:?}");
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(m.stats().links_retracted, 0);
        }
    }
}

/// Keys A at (2, 0.5) and keys B behind the robot at (-2, 0.5), each with a look of its own
/// (cosine 0.88 between them). An hour later A's spot is in view twice without them while keys
/// that look like A turn up at (2, -0.6): A moved there. The next two views see keys at
/// (2, 0.5) again, looking `back`; then B's spot is seen empty three times. Returns the memory,
/// A, B, and the keys seen at (2, 0.5) (A when folded back into it).
fn keys_back_where_a_was_taken(back: [f32; 4]) -> (Memory, ObjectId, ObjectId, ObjectId) {
    let mut m = memory_with(|_| {});
    let mut t = T0;
    for _ in 0..5 {
        ingest(&mut m, t, vec![keys_at(0.5, SEEN)]);
        let b = looking(det("keys", [-2.0, 0.5, 0.8]), B_LOOK);
        m.ingest(&keyframe(t, 0.0, 0.0, std::f64::consts::PI, vec![b]))
            .unwrap();
        t += S;
    }
    let a = object_at(&m, [2.0, 0.5, 0.8]);
    let b = the_one_other(&m, a).id;
    t = keyframes_in_a_row(&mut m, t + HOUR, 2, &[keys_at(-0.6, SEEN)]);
    assert_eq!(m.object(a).unwrap().state, ObjectState::Moved);
    t = keyframes_in_a_row(&mut m, t, 2, &[keys_at(-0.6, SEEN), keys_at(0.5, back)]);
    let there = object_at(&m, [2.0, 0.5, 0.8]);
    for _ in 0..3 {
        m.ingest(&keyframe(t, 0.0, 0.0, std::f64::consts::PI, vec![]))
            .unwrap();
        t += S;
    }
    (m, a, b, there)
}

/// The reportable object within 5 cm of `p`.
fn object_at(m: &Memory, p: [f64; 3]) -> ObjectId {
    let p = nalgebra::Point3::from(p);
    m.objects()
        .iter()
        .find(|o| o.is_reportable() && (o.position_world - p).norm() < 0.05)
        .map(|o| o.id)
        .unwrap()
}

/// B's look: cosine 0.88 with `SEEN` (A's).
const B_LOOK: [f32; 4] = [0.88, 0.475, 0.0, 0.0];

/// As `keys_seen_where_they_were_moments_after_being_taken_for_a_newcomer_never_left`, with a
/// look-alike not checked since: keys seen where A was, moments after A was taken for a
/// newcomer, that look much more like B than like A are B, put down there (a swap of places
/// seed 4061's bananas showed): A's move stands, and B, found gone, moved there. Keys that
/// look like A, or about as much like A as like B, are A, which never left.
#[test]
fn keys_seen_where_others_were_taken_moments_ago_are_a_look_alike_put_down_if_they_look_it() {
    const ABOUT_AS_MUCH: [f32; 4] = [0.97, 0.243, 0.0, 0.0];
    assert!((cosine(&B_LOOK, &SEEN) - 0.88).abs() < 0.005);
    assert!((cosine(&ABOUT_AS_MUCH, &SEEN) - cosine(&ABOUT_AS_MUCH, &B_LOOK)).abs() < 0.05);
    for (back, put_down) in [(B_LOOK, true), (SEEN, false), (ABOUT_AS_MUCH, false)] {
        let (m, a, b, there) = keys_back_where_a_was_taken(back);
        let changes = changes_since(&m, T0 + 10 * S);
        let (ao, bo) = (m.object(a).unwrap(), m.object(b).unwrap());
        if put_down {
            assert_eq!(m.stats().links_retracted, 0);
            assert_eq!(ao.state, ObjectState::Moved, "{ao:?}");
            assert!((ao.position_world.y + 0.6).abs() < 0.05, "{ao:?}");
            assert_eq!(m.resolve(there), b);
            assert_eq!(bo.state, ObjectState::Moved, "{bo:?}");
            assert!((bo.position_world - nalgebra::Point3::new(2.0, 0.5, 0.8)).norm() < 0.05);
            let moved: Vec<_> = changes.iter().map(|c| (c.object_id, c.kind)).collect();
            assert_eq!(changes.len(), 2, "{changes:?}");
            assert!(
                moved.contains(&(a, mnemo::core::EventKind::Moved)),
                "{changes:?}"
            );
            assert!(
                moved.contains(&(b, mnemo::core::EventKind::Moved)),
                "{changes:?}"
            );
            assert_sound_and_restorable(&m, &[a, b]);
        } else {
            assert_eq!(m.stats().links_retracted, 1);
            assert_eq!(m.resolve(there), a);
            assert_eq!(ao.state, ObjectState::Present, "{ao:?}");
            assert!((ao.position_world.y - 0.5).abs() < 0.05, "{ao:?}");
            assert!(changes.iter().all(|c| c.object_id != a), "{changes:?}");
        }
    }
}

/// A detection of `label` at `p` with the given size.
fn sized(label: &str, p: [f64; 3], extent_m: [f64; 3]) -> Detection {
    Detection {
        extent_m: nalgebra::Vector3::from(extent_m),
        ..det(label, p)
    }
}

/// `n` keyframes a second apart from `t`, each with one `label` of size `extent_m` at
/// `at(i)`; returns the stamp after the last.
fn sightings(
    m: &mut Memory,
    mut t: StampNs,
    n: u32,
    label: &str,
    extent_m: [f64; 3],
    at: impl Fn(u32) -> [f64; 3],
) -> StampNs {
    for i in 0..n {
        ingest(m, t, vec![sized(label, at(i), extent_m)]);
        t += S;
    }
    t
}

/// `n` keyframes a second apart from `t`, each with `dets`; returns the stamp after the last.
fn keyframes_in_a_row(m: &mut Memory, mut t: StampNs, n: usize, dets: &[Detection]) -> StampNs {
    for _ in 0..n {
        ingest(m, t, dets.to_vec());
        t += S;
    }
    t
}

/// `ids` as the scene graph's invariants want them: each one's placements its own, in time
/// order, only the last open, at the object; relations as a recomputation finds them; and a
/// memory restored from its parts the same, events included.
fn assert_sound_and_restorable(m: &Memory, ids: &[ObjectId]) {
    for &id in ids {
        let o = m.object(id).unwrap();
        let ps: Vec<_> = o
            .placements
            .iter()
            .map(|p| &m.placements()[p.index()])
            .collect();
        assert!(ps.iter().all(|p| m.resolve(p.object) == id), "{ps:?}");
        assert!(
            ps.windows(2).all(|w| w[0].start_ns <= w[1].start_ns),
            "{ps:?}"
        );
        let (last, earlier) = ps.split_last().unwrap();
        assert!(earlier.iter().all(|p| p.closed_at_ns.is_some()), "{ps:?}");
        assert_eq!(last.closed_at_ns, None, "{ps:?}");
        assert_eq!(o.open_since_ns, Some(last.start_ns));
        assert!((last.position_world - o.position_world).norm() < 1e-9);
    }
    assert_eq!(m.relations(), &m.relations_from_scratch());
    let restored = Memory::from_parts(
        m.config().clone(),
        Box::new(LexicalEmbedder::default()),
        m.to_parts(),
    )
    .unwrap();
    assert_eq!(restored.digest(), m.digest());
    for &id in ids {
        assert_eq!(restored.object_events(id), m.object_events(id), "{id:?}");
    }
}

/// The one reportable object other than `id`.
fn the_one_other(m: &Memory, id: ObjectId) -> &mnemo::core::scene_graph::MemoryObject {
    let others: Vec<_> = m
        .objects()
        .iter()
        .filter(|o| o.is_reportable() && o.id != id)
        .collect();
    assert_eq!(others.len(), 1, "{:#?}", m.objects());
    others[0]
}

/// The changes reported from `from` on.
fn changes_since(m: &Memory, from: StampNs) -> Vec<mnemo::core::query::ChangeHit> {
    changes_in(m, from, m.latest_stamp_ns().unwrap())
}

/// The changes reported in `[from, to]`.
fn changes_in(m: &Memory, from: StampNs, to: StampNs) -> Vec<mnemo::core::query::ChangeHit> {
    use mnemo::core::query::{Answer, Query};
    use mnemo::core::TimeWindow;
    let window = TimeWindow::new(from, to).unwrap();
    match m.query(&Query::Changes {
        window,
        label: None,
    }) {
        Ok(Answer::Changes(hits)) => hits,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lamp_moved_to_the_next_shelf_within_its_gate_is_reported_moved() {
    // A 40 cm desk lamp, 2 m away: its full gate (30 cm + 3 cm per metre + half its size) is
    // 56 cm, so an hour later a sighting 45 cm off would drag the estimate across and no move
    // would ever be reported. Stale, it only gets the base gate (36 cm): a new track, the old
    // spot seen empty, a re-identification, a move (not a duplicate track folded back: the new
    // one was first seen a patrol after the lamp's last sighting). A scatter factor large
    // enough to reach the full gate is the control.
    let lamp = [0.15, 0.15, 0.4];
    for factor in [MemoryConfig::default().move_gate_scatter_factor, 100.0] {
        let mut m = memory_with(|c| c.move_gate_scatter_factor = factor);
        let wobble = |i: u32| 0.01 * f64::from(i % 3) - 0.01;
        let t = sightings(&mut m, T0, 5, "lamp", lamp, |i| [2.0, wobble(i), 0.9]);
        let id = m.objects().iter().find(|o| o.is_reportable()).unwrap().id;
        assert!(m.sighting_scatter_m(id).unwrap() > 0.0);
        let moved_at = t + HOUR;
        sightings(&mut m, moved_at, 5, "lamp", lamp, |i| {
            [2.0, 0.45 + wobble(i), 0.9]
        });
        let reportable: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
        assert_eq!(reportable.len(), 1, "{reportable:#?}");
        let o = m.object(id).unwrap();
        let changes = changes_since(&m, moved_at - 1);
        if factor < 100.0 {
            assert_eq!(o.state, ObjectState::Moved, "{o:?}");
            assert!((o.position_world.y - 0.45).abs() < 0.03, "{o:?}");
            assert_eq!(changes.len(), 1, "{changes:?}");
            let c = &changes[0];
            assert_eq!(c.kind, mnemo::core::EventKind::Moved);
            assert_eq!(c.object_id, id);
            assert!(c.from_world[1].abs() < 0.03, "{c:?}");
            assert!((c.to_world.unwrap()[1] - 0.45).abs() < 0.03, "{c:?}");
            // The moved object keeps one scatter, its new track's.
            assert!(m.sighting_scatter_m(id).unwrap() < 0.05);
        } else {
            assert!(changes.is_empty(), "{changes:?}");
            assert_eq!(o.state, ObjectState::Present, "{o:?}");
        }
    }
}

#[test]
fn a_sofa_whose_centre_wanders_with_the_view_keeps_its_gate_after_a_gap() {
    // A sofa's detected centre swings 30 cm either way between views. An hour later one view
    // puts it 45 cm off, beyond the base gate (39 cm at 3 m) but within three times its own
    // scatter: the same sofa, where it was. With no scatter allowance (factor 0) that view
    // starts a second sofa.
    let sofa = [2.0, 0.9, 0.8];
    for factor in [MemoryConfig::default().move_gate_scatter_factor, 0.0] {
        let mut m = memory_with(|c| c.move_gate_scatter_factor = factor);
        let swing = |i: u32, a: f64, b: f64| if i.is_multiple_of(2) { a } else { b };
        let t = sightings(&mut m, T0, 8, "sofa", sofa, |i| {
            [3.0, swing(i, 0.3, -0.3), 0.4]
        });
        let id = m.objects().iter().find(|o| o.is_reportable()).unwrap().id;
        let scatter = m.sighting_scatter_m(id).unwrap();
        assert!(scatter > 0.25, "{scatter}");
        let back_at = t + HOUR;
        sightings(&mut m, back_at, 6, "sofa", sofa, |i| {
            [3.0, swing(i, 0.45, 0.0), 0.4]
        });
        let sofas = m.objects().iter().filter(|o| o.is_reportable()).count();
        if factor > 0.0 {
            assert_eq!(sofas, 1, "{:#?}", m.objects());
            assert_eq!(m.object(id).unwrap().state, ObjectState::Present);
            assert!(changes_since(&m, back_at).is_empty());
        } else {
            assert_eq!(sofas, 2, "{:#?}", m.objects());
        }
    }
}

/// A plate seen `n` times a second apart from `t` at (2, `y`, 0.8) looking like `embedding`;
/// returns the stamp after the last.
fn plates(m: &mut Memory, mut t: StampNs, n: u32, y: f64, embedding: [f32; 4]) -> StampNs {
    for _ in 0..n {
        let d = looking(sized("plate", [2.0, y, 0.8], [0.25, 0.25, 0.03]), embedding);
        ingest(m, t, vec![d]);
        t += S;
    }
    t
}

#[test]
fn a_different_plate_put_where_one_was_taken_is_not_folded_into_it() {
    // A plate, then an hour later a plate that looks nothing like it 6 cm from its spot: two
    // solid plates cannot stand that close, but this one turned up long after the first was
    // last seen, time enough for someone to swap them. The first is missed from then on and
    // goes missing; the newcomer is an object of its own. With `min_move_gap_s` 0 (any
    // look-alike could be the same plate) the newcomer is taken for a duplicate track of the
    // first and folded into it: nothing is reported.
    const FIRST: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const OTHER: [f32; 4] = [0.0, 1.0, 0.0, 0.0];
    for gap_s in [MemoryConfig::default().min_move_gap_s, 0.0] {
        let mut m = memory_with(|c| c.min_move_gap_s = gap_s);
        let t = plates(&mut m, T0, 6, 0.0, FIRST);
        let first = m.objects().iter().find(|o| o.is_reportable()).unwrap().id;
        let swapped_at = t + HOUR;
        plates(&mut m, swapped_at, 8, 0.06, OTHER);
        let reportable: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
        let changes = changes_since(&m, swapped_at - 1);
        if gap_s > 0.0 {
            assert_eq!(reportable.len(), 2, "{reportable:#?}");
            assert_eq!(m.object(first).unwrap().state, ObjectState::Missing);
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Missing);
            assert_eq!(changes[0].object_id, first);
            let newcomer = reportable.iter().find(|o| o.id != first).unwrap();
            assert_eq!(newcomer.state, ObjectState::Present);
            assert!(
                (newcomer.position_world.y - 0.06).abs() < 0.01,
                "{newcomer:?}"
            );
        } else {
            assert_eq!(reportable.len(), 1, "{reportable:#?}");
            assert!(changes.is_empty(), "{changes:?}");
        }
    }
}

#[test]
fn a_second_track_charged_the_misses_is_folded_back_when_the_object_is_seen() {
    // A kettle seen five times; then a sighting that looks off (cosine 0.8 with it, below
    // `min_appearance_cosine`) 10 cm away starts a second track, which a sighting between the
    // two looks confirms. An hour later the sightings land between the tracks, a little nearer
    // the kettle: shared, they spare the kettle and charge the second track, which goes
    // missing. Then the kettle is seen clearly: the missing track was the kettle's own, so it
    // is folded back and the hour reports no change. Control: the second track was seen in
    // one keyframe together with the kettle, so it is a second kettle, taken away: missing.
    let kettle = |y: f64, e: [f32; 4]| looking(det("kettle", [2.0, y, 0.8]), e);
    for together in [false, true] {
        let mut m = memory_with(|_| {});
        let mut t = keyframes_in_a_row(&mut m, T0, 5, &[kettle(0.0, SEEN)]);
        let first = m.objects()[0].id;
        ingest(&mut m, t, vec![kettle(0.10, OFF)]);
        t += S;
        let both = if together {
            vec![kettle(0.0, SEEN), kettle(0.10, BETWEEN)]
        } else {
            vec![kettle(0.10, BETWEEN)]
        };
        ingest(&mut m, t, both);
        t += S;
        let second = m.objects().iter().find(|o| o.id != first).unwrap().id;
        assert!(m.object(second).unwrap().is_reportable());
        t += HOUR;
        let window_start = t;
        t = keyframes_in_a_row(&mut m, t, 4, &[kettle(0.04, BETWEEN)]);
        assert_eq!(m.object(second).unwrap().state, ObjectState::Missing);
        ingest(&mut m, t, vec![kettle(0.0, SEEN)]);
        let changes = changes_since(&m, window_start);
        assert!(m.object(first).unwrap().state.is_present());
        if together {
            assert_eq!(m.object(second).unwrap().state, ObjectState::Missing);
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Missing);
        } else {
            assert_eq!(m.resolve(second), first);
            assert!(changes.is_empty(), "{changes:?}");
            assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 1);
        }
    }
}

#[test]
fn a_track_confirmed_right_after_its_older_twin_track_went_missing_takes_it_back() {
    // A bowl seen from two spots of the robot's round; a sighting that looks off (cosine 0.8)
    // 12 cm away starts a second, tentative track, seen from the first spot only. An hour
    // later, from the second spot, the bowl goes undetected: the first track is charged the
    // misses and goes missing (the tentative one is not expected from there and is no
    // duplicate to fold it into yet). Then, from the first spot, a sighting confirms the second
    // track: both were one bowl, so the first is taken back (it has as many sightings and is
    // older: it keeps its id) and the hour reports no change. Control: the sighting that
    // started the second track came with one of the first: two bowls, and the first, taken
    // away, stays missing.
    let bowl = |y: f64, e: [f32; 4]| looking(det("bowl", [2.0, y, 0.8]), e);
    let from = |m: &mut Memory, t: StampNs, x: f64, dets: Vec<Detection>| {
        m.ingest(&keyframe(t, x, 0.0, 0.0, dets)).unwrap();
    };
    for together in [false, true] {
        let mut m = memory_with(|_| {});
        let mut t = T0;
        from(&mut m, t, 0.0, vec![bowl(0.0, SEEN)]);
        t += S;
        from(&mut m, t, -2.5, vec![bowl(0.0, SEEN)]);
        let first = m.objects()[0].id;
        assert!(m.object(first).unwrap().is_reportable());
        t += S;
        let dets = if together {
            vec![bowl(0.0, SEEN), bowl(0.12, OFF)]
        } else {
            vec![bowl(0.12, OFF)]
        };
        from(&mut m, t, 0.0, dets);
        let second = m.objects().iter().find(|o| o.id != first).unwrap().id;
        // Born beside the first in one image, it is a second bowl at once.
        assert_eq!(m.object(second).unwrap().is_reportable(), together);
        t += HOUR;
        let window_start = t;
        for _ in 0..3 {
            from(&mut m, t, -2.5, vec![]);
            t += S;
        }
        assert_eq!(m.object(first).unwrap().state, ObjectState::Missing);
        from(&mut m, t, 0.0, vec![bowl(0.12, BETWEEN)]);
        let changes = changes_since(&m, window_start);
        if together {
            assert_eq!(m.object(first).unwrap().state, ObjectState::Missing);
            assert!(m.object(second).unwrap().is_reportable());
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Missing);
        } else {
            assert_eq!(m.resolve(second), first);
            let o = m.object(first).unwrap();
            assert_eq!(o.state, ObjectState::Present, "{o:?}");
            assert!((o.position_world.y - 0.12).abs() < 0.03, "{o:?}");
            assert!(changes.is_empty(), "{changes:?}");
        }
    }
}

#[test]
fn a_look_alike_first_seen_beside_its_confirmed_twin_is_confirmed_by_that_sighting() {
    // Scissors seen three times; then one keyframe shows them and a second pair 13 cm away
    // that looks the same: a second object (a detector's false positive lands at a random spot
    // and looks like nothing in particular), confirmed by that one sighting. An hour later
    // only the first pair is there and a pair that looks the same lies 80 cm off: the second
    // pair was moved there. Control: a newcomer that looks unlike the twin (cosine 0.6, below
    // `min_appearance_cosine_single`) stays tentative, so no move can be reported for it.
    let scissors = |y: f64, e: [f32; 4]| look_at("scissors", y, e);
    for newcomer_look in [SEEN, [0.6, 0.8, 0.0, 0.0]] {
        let alike = newcomer_look == SEEN;
        let mut m = memory_with(|_| {});
        let mut t = keyframes_in_a_row(&mut m, T0, 3, &[scissors(0.0, SEEN)]);
        let first = m.objects()[0].id;
        ingest(
            &mut m,
            t,
            vec![scissors(0.0, SEEN), scissors(0.13, newcomer_look)],
        );
        t += S;
        let second = m.objects().iter().find(|o| o.id != first).unwrap().id;
        assert_eq!(m.object(second).unwrap().is_reportable(), alike);
        t += HOUR;
        let window_start = t;
        for _ in 0..4 {
            ingest(
                &mut m,
                t,
                vec![scissors(0.0, SEEN), scissors(0.8, newcomer_look)],
            );
            t += S;
        }
        let changes = changes_since(&m, window_start);
        if alike {
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Moved);
            assert_eq!(m.resolve(changes[0].object_id), second);
            let to = changes[0].to_world.unwrap();
            assert!((to[1] - 0.8).abs() < 0.05, "{to:?}");
        } else {
            assert!(
                changes
                    .iter()
                    .all(|c| c.kind != mnemo::core::EventKind::Moved),
                "{changes:?}"
            );
        }
        assert!(m.object(first).unwrap().state.is_present());
    }
}

#[test]
fn a_newcomer_beside_a_twin_but_on_an_unseen_look_alike_waits_for_a_second_sighting() {
    // Two pairs of scissors 15 cm apart that look different (cosine 0.8), both confirmed.
    // Then a keyframe shows the first pair and, 10 cm past the second, a sighting that looks
    // like the first pair (too unlike the second's average to match it): beside a twin seen
    // in the same image, but it may just as well be the second pair, unseen in this keyframe
    // and missed by the association, so it stays tentative. Control: with the second pair
    // gone from the memory's neighbourhood (it stands 1 m away), it is confirmed at once.
    let scissors = |y: f64, e: [f32; 4]| look_at("scissors", y, e);
    for other_y in [0.15, 1.0] {
        let mut m = memory_with(|_| {});
        let t = keyframes_in_a_row(
            &mut m,
            T0,
            3,
            &[scissors(0.0, OFF), scissors(other_y, SEEN)],
        );
        assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 2);
        ingest(&mut m, t, vec![scissors(0.0, OFF), scissors(0.25, OFF)]);
        let newcomer = m
            .objects()
            .iter()
            .find(|o| (o.position_world.y - 0.25).abs() < 1e-6)
            .unwrap();
        assert_eq!(newcomer.times_seen, 1);
        assert_eq!(newcomer.is_reportable(), other_y > 0.5, "{newcomer:?}");
    }
}

/// Two look-alike bananas: P at (2, `p_y`), seen with appearance `SEEN`, and X at (2, -0.5).
/// An hour later one sighting lands at (2, 0.62), looking `LONE` (cosine 0.83 with P's
/// average, below `min_appearance_cosine`, so it starts a track of its own); P itself is seen
/// again in the next three views, and X's spot stays empty until X is declared missing.
/// - P 12 cm from that sighting (inside the association gate, beyond the distance at which
///   tracks merge) and X looking 0.87 like the sighting, about as much as P does: the
///   sighting was as likely P's, split off by its odd appearance, so X is not taken to have
///   moved there: X is missing.
/// - The same, but X looking 0.95 like the sighting, much more than P does: the sighting is
///   X's, and X is taken to have moved there (seed 4696's wallet, seen once at its new place
///   beside a wallet it looked nothing like).
/// - Control: with P 70 cm away, nothing else explains the sighting, and X, looking 0.87
///   like it, is taken to have moved there.
#[test]
fn a_lone_sighting_beside_a_confirmed_look_alike_is_not_where_a_missing_object_went() {
    const LONE: [f32; 4] = [0.83, 0.557_763, 0.0, 0.0];
    // 0.87 LONE + 0.493 e3 and 0.95 LONE + 0.312 e3.
    const ABOUT_AS_LIKE_P: [f32; 4] = [0.7221, 0.485_254, 0.493_052, 0.0];
    const MUCH_MORE_THAN_P: [f32; 4] = [0.7885, 0.529_875, 0.312_25, 0.0];
    let banana = |y: f64, e: [f32; 4]| look_at("banana", y, e);
    for (p_y, x_look, x_moved) in [
        (0.5, ABOUT_AS_LIKE_P, false),
        (0.5, MUCH_MORE_THAN_P, true),
        (1.25, ABOUT_AS_LIKE_P, true),
    ] {
        let mut m = memory_with(|_| {});
        let mut t = keyframes_in_a_row(&mut m, T0, 3, &[banana(p_y, SEEN), banana(-0.5, x_look)]);
        let id_at = |m: &Memory, y: f64| {
            m.objects()
                .iter()
                .find(|o| (o.position_world.y - y).abs() < 0.03)
                .map(|o| o.id)
                .unwrap()
        };
        let (p, x) = (id_at(&m, p_y), id_at(&m, -0.5));
        t += HOUR;
        ingest(&mut m, t, vec![banana(0.62, LONE)]);
        t += S;
        let lone = id_at(&m, 0.62);
        assert!(!m.object(lone).unwrap().is_reportable());
        keyframes_in_a_row(&mut m, t, 3, &[banana(p_y, SEEN)]);
        let xo = m.object(x).unwrap();
        assert!(m.object(p).unwrap().state.is_present());
        if x_moved {
            assert_eq!(xo.state, ObjectState::Moved, "{p_y} {x_look:?}: {xo:?}");
            assert!((xo.position_world.y - 0.62).abs() < 0.05, "{xo:?}");
        } else {
            assert_eq!(xo.state, ObjectState::Missing, "{xo:?}");
            assert!((xo.position_world.y + 0.5).abs() < 0.05, "{xo:?}");
        }
    }
}

/// Keys seen at (2, 0.5) looking `SEEN`. An hour later their spot is in view twice without
/// them while keys looking 0.87 like them (above `min_appearance_cosine`, so possibly theirs)
/// turn up at (2, -0.6): the keys are taken to have moved there. Then keys looking 0.98 like
/// them are seen twice at (2, 1.1), next to the keys at (2, -0.6): those look more like the
/// keys by more than the rival margin, so the first newcomer was a look-alike put down there,
/// and the keys moved to (2, 1.1). The hour's changes net out to that one move; the keys at
/// (2, -0.6) are an object of their own; a restored memory agrees. Control: keys looking 0.90
/// like them (within the margin of 0.87) at (2, 1.1) are a new object, and the move to
/// (2, -0.6) stands.
#[test]
fn a_newcomer_that_looks_much_more_like_a_moved_object_takes_over_its_move() {
    const FIRST_NEWCOMER: [f32; 4] = [0.87, 0.493, 0.0, 0.0];
    const BETTER: [f32; 4] = [0.98, 0.0, 0.199, 0.0];
    const ABOUT_AS_GOOD: [f32; 4] = [0.90, 0.0, 0.436, 0.0];
    for (later, relinked) in [(BETTER, true), (ABOUT_AS_GOOD, false)] {
        let mut m = memory_with(|_| {});
        let t = keyframes_in_a_row(&mut m, T0, 5, &[keys_at(0.5, SEEN)]);
        let keys = m.objects()[0].id;
        let t = keyframes_in_a_row(&mut m, t + HOUR, 2, &[keys_at(-0.6, FIRST_NEWCOMER)]);
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Moved);
        assert!((m.object(keys).unwrap().position_world.y + 0.6).abs() < 0.05);
        let both = [keys_at(-0.6, FIRST_NEWCOMER), keys_at(1.1, later)];
        keyframes_in_a_row(&mut m, t, 2, &both);
        let o = m.object(keys).unwrap();
        let other = the_one_other(&m, keys);
        let changes = changes_since(&m, T0 + 10 * S);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].object_id, keys);
        assert!((changes[0].from_world[1] - 0.5).abs() < 0.05, "{changes:?}");
        let (to_y, other_y) = if relinked { (1.1, -0.6) } else { (-0.6, 1.1) };
        let to = changes[0].to_world.unwrap();
        assert!((to[1] - to_y).abs() < 0.05, "{changes:?}");
        assert_eq!(o.state, ObjectState::Moved, "{o:?}");
        assert!((o.position_world.y - to_y).abs() < 0.05, "{o:?}");
        assert!((other.position_world.y - other_y).abs() < 0.05, "{other:?}");
        assert!(other.state.is_present(), "{other:?}");
        assert_eq!(m.stats().links_handed_on, u64::from(relinked));
        assert_eq!(m.stats().links_retracted, 0);
        assert_sound_and_restorable(&m, &[keys, other.id]);
    }
}

/// As above, the other way round: the keys' spot is seen empty three times first, so they go
/// missing with nothing to explain it, and the keys looking 0.87 like them at (2, -0.6) are
/// taken for them when confirmed. The keys looking 0.98 like them are then seen at (2, 0.0),
/// next to the first newcomer and in the same keyframes (the two are distinct objects): seen
/// together with the keys' record only since it stood for the newcomer, which says nothing
/// against their being the keys, so they take the move over, and the first newcomer is the
/// one seen together with them.
#[test]
fn a_better_newcomer_takes_over_a_move_made_after_the_object_went_missing() {
    const FIRST_NEWCOMER: [f32; 4] = [0.87, 0.493, 0.0, 0.0];
    const BETTER: [f32; 4] = [0.98, 0.0, 0.199, 0.0];
    for (later, relinked) in [(BETTER, true), (FIRST_NEWCOMER, false)] {
        let mut m = memory_with(|_| {});
        // Seen often: the sightings of the newcomer that its record averages in since the
        // link hardly change its look.
        let t = keyframes_in_a_row(&mut m, T0, 20, &[keys_at(0.5, SEEN)]);
        let keys = m.objects()[0].id;
        let t = keyframes_in_a_row(&mut m, t + HOUR, 3, &[]);
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
        let t = keyframes_in_a_row(&mut m, t, 2, &[keys_at(-0.6, FIRST_NEWCOMER)]);
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Moved);
        let both = [keys_at(-0.6, FIRST_NEWCOMER), keys_at(0.0, later)];
        keyframes_in_a_row(&mut m, t, 2, &both);
        let changes = changes_since(&m, T0 + 10 * S);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let to_y = if relinked { 0.0 } else { -0.6 };
        let to = changes[0].to_world.unwrap();
        assert!((to[1] - to_y).abs() < 0.05, "{changes:?}");
        assert_eq!(m.stats().links_handed_on, u64::from(relinked));
        let o = m.object(keys).unwrap();
        assert!((o.position_world.y - to_y).abs() < 0.05, "{o:?}");
        let other = the_one_other(&m, keys);
        // The two seen together are distinct, each from the other and not from itself.
        assert!(o.distinct_from.contains(&other.id), "{o:?}");
        assert!(other.distinct_from.contains(&keys), "{other:?}");
        assert!(!o.distinct_from.contains(&keys), "{o:?}");
        assert_sound_and_restorable(&m, &[keys, other.id]);
    }
}

/// At the twin mugs of `twin_mugs`, from `t`: one sighting at the right mug's spot, the next
/// at the left one's, then the spot in view three times, 20 s apart, without either (detector
/// misses). Returns the stamp of the last keyframe.
fn lone_sighting_then_twins_missed(m: &mut Memory, mut t: StampNs) -> StampNs {
    ingest(m, t, vec![det("mug", [2.0, 0.15, 0.8])]);
    t += S;
    // Turned right: the left mug's spot near the image's left edge, the right one's beyond it
    // (so it is not missed there).
    let turned = keyframe(t, 0.0, 0.0, -0.485, vec![det("mug", [2.0, 0.0, 0.8])]);
    m.ingest(&turned).unwrap();
    for _ in 0..3 {
        t += 20 * S;
        ingest(m, t, vec![]);
    }
    t
}

/// Twin mugs at (2, 0) and (2, 0.15), seen together. An hour later a mug turns up behind the
/// robot (the right one, carried there). Back at the twins, one sighting lands at the right
/// mug's spot (the left mug's, mis-assigned) and the next at the left one's; then the spot is
/// in view three times without either (detector misses), so both go missing in one keyframe,
/// the left first. The right mug's lone sighting was probably its twin's, which was seen after
/// it: its previous visit counts as its last sighting, so the mug behind the robot, first seen
/// before that lone sighting, can be where it went — also when the twin is missing by then
/// (it was still seen after). The left mug is seen again: it never left.
#[test]
fn a_lone_sighting_before_its_twin_was_seen_does_not_pin_a_mug_that_went_missing_with_it() {
    let mut m = memory_with(|_| {});
    let (left, right, t) = twin_mugs(&mut m);
    let mut t = t + HOUR;
    for _ in 0..2 {
        seen_behind(&mut m, t, "mug");
        t += S;
    }
    t = lone_sighting_then_twins_missed(&mut m, t + 5 * S);
    // Both went missing in that keyframe, the left one first; the right one was where the
    // mug behind the robot is.
    assert_eq!(m.object(left).unwrap().state, ObjectState::Missing);
    assert_eq!(m.object(right).unwrap().state, ObjectState::Moved);
    t += S;
    ingest(&mut m, t, vec![det("mug", [2.0, 0.0, 0.8])]);
    let changes = changes_since(&m, T0 + 10 * S);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].object_id, right, "{changes:?}");
    let to = changes[0].to_world.expect("a move");
    assert!(
        (to[0] + 2.0).abs() < 0.05 && (to[1] - 0.5).abs() < 0.05,
        "{changes:?}"
    );
    assert!(m.object(left).unwrap().state.is_present());
}

/// Keys seen at (2, 0.5) looking `SEEN`. An hour later keys looking `sighting` are seen once
/// behind the robot at (-2, 0.5) and then missed there three times: the lone sighting is
/// dropped as a false positive. Then the keys' own spot is in view and empty: they go missing.
/// Returns the memory (restored from its parts right after the drop when `restart`), the keys
/// and the dropped track.
fn keys_gone_after_a_dropped_sighting(
    sighting: [f32; 4],
    restart: bool,
) -> (Memory, ObjectId, ObjectId) {
    let mut m = memory_with(|_| {});
    let mut t = keyframes_in_a_row(&mut m, T0, 5, &[keys_at(0.5, SEEN)]);
    let keys = m.objects()[0].id;
    t += HOUR;
    let behind = |t, dets| keyframe(t, 0.0, 0.0, std::f64::consts::PI, dets);
    m.ingest(&behind(
        t,
        vec![looking(det("keys", [-2.0, 0.5, 0.8]), sighting)],
    ))
    .unwrap();
    let lone = m.objects().last().unwrap().id;
    for _ in 0..3 {
        t += S;
        m.ingest(&behind(t, vec![])).unwrap();
    }
    let dropped = m.object(lone).unwrap();
    assert!(dropped.retired && !dropped.confirmed, "{dropped:?}");
    assert_eq!(m.object(keys).unwrap().state, ObjectState::Present);
    if restart {
        m = Memory::from_parts(
            m.config().clone(),
            Box::new(LexicalEmbedder::default()),
            m.to_parts(),
        )
        .unwrap();
    }
    keyframes_in_a_row(&mut m, t + S, 4, &[]);
    (m, keys, lone)
}

/// A sighting dropped as a false positive, that looks like an object found gone in the same
/// sweep, was that object, seen once where it had been carried: the keys moved there, and the
/// dropped track is merged into them; a restart between the drop and the empty spot changes
/// nothing. Control: a dropped sighting that looks off (cosine 0.8, below
/// `min_appearance_cosine`) says nothing about the keys, which are missing.
#[test]
fn a_dropped_lone_sighting_that_looks_like_an_object_found_gone_is_where_it_went() {
    for restart in [false, true] {
        let (m, keys, lone) = keys_gone_after_a_dropped_sighting(BETWEEN, restart);
        let k = m.object(keys).unwrap();
        assert_eq!(k.state, ObjectState::Moved, "{k:?}");
        assert!((k.position_world.x + 2.0).abs() < 0.05, "{k:?}");
        assert_eq!(m.objects()[lone.index()].merged_into, Some(keys));
        assert_eq!(m.resolve(lone), keys);
        assert_eq!(m.stats().false_positives_dropped, 0);
        assert_sound_and_restorable(&m, &[keys]);
        let moves: Vec<_> = changes_since(&m, T0 + HOUR)
            .into_iter()
            .filter(|c| c.kind == mnemo::core::EventKind::Moved)
            .collect();
        assert_eq!(moves.len(), 1, "{moves:?}");
    }
    let (m, keys, lone) = keys_gone_after_a_dropped_sighting(OFF, false);
    assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
    assert!(m.objects()[lone.index()].is_dropped_tentative());
    assert_eq!(m.stats().false_positives_dropped, 1);
}

/// Keys X seen at (2, 0.5) looking `SEEN`, keys Y behind the robot at (-2, 0.5) looking
/// `y_look`. An hour later X's spot is empty and keys looking `NEWCOMER` (0.87 like X) turn
/// up at (2, -0.6): X is taken to have moved there (Y, not checked since, looks more like the
/// newcomer, but by less than the rival margin), unless `wait` (`wait_for_likelier_source`)
/// and Y looks likelier by more than half that margin: then X is missing and the newcomer
/// waits. Then Y's spot is in view and empty (and, with `twin`, that of a second set of keys
/// like Y 12 cm from it). Returns the memory, X and Y.
fn two_keys_gone_one_newcomer(
    y_look: [f32; 4],
    twin: bool,
    wait: bool,
) -> (Memory, ObjectId, ObjectId) {
    const NEWCOMER: [f32; 4] = [0.87, 0.493, 0.0, 0.0];
    let mut m = memory_with(|c| c.wait_for_likelier_source = wait);
    let behind = |t, dets| keyframe(t, 0.0, 0.0, std::f64::consts::PI, dets);
    let mut t = T0;
    for _ in 0..5 {
        ingest(&mut m, t, vec![keys_at(0.5, SEEN)]);
        let mut seen = vec![looking(det("keys", [-2.0, 0.5, 0.8]), y_look)];
        if twin {
            seen.push(looking(det("keys", [-2.0, 0.62, 0.8]), y_look));
        }
        m.ingest(&behind(t, seen)).unwrap();
        t += S;
    }
    let id_at = |m: &Memory, x: f64| {
        m.objects()
            .iter()
            .find(|o| {
                o.is_reportable()
                    && (o.position_world.x - x).abs() < 0.05
                    && (o.position_world.y - 0.5).abs() < 0.05
            })
            .map(|o| o.id)
            .unwrap()
    };
    let (x, y) = (id_at(&m, 2.0), id_at(&m, -2.0));
    t += HOUR;
    t = keyframes_in_a_row(&mut m, t, 3, &[keys_at(-0.6, NEWCOMER)]);
    let xo = m.object(x).unwrap();
    let likelier = cosine(&y_look, &NEWCOMER) > cosine(&SEEN, &NEWCOMER) + 0.025;
    if wait && likelier {
        assert_eq!(xo.state, ObjectState::Missing, "{xo:?}");
        assert_eq!(m.pending_reid().len(), 1);
    } else {
        assert_eq!(xo.state, ObjectState::Moved, "{xo:?}");
    }
    assert_eq!(m.object(y).unwrap().state, ObjectState::Present);
    for _ in 0..4 {
        m.ingest(&behind(t, vec![])).unwrap();
        t += S;
    }
    (m, x, y)
}

/// Two keys gone within the hour and one newcomer, first taken for the keys found gone first
/// (`two_keys_gone_one_newcomer`, without `wait_for_likelier_source`). The newcomer looks
/// 0.91 like the other keys, 0.04 more than like the first (beyond the hand-over margin of
/// 0.025): when those are found gone too, they take the newcomer over. The first keys are
/// missing from their spot, the others moved to the newcomer's, and the hour's changes say
/// exactly that; a restored memory agrees. Controls: other keys 0.885 like the newcomer (0.015
/// more: as alike as twins' noisy looks) leave the first link as it was, and go missing; so do
/// the other keys at 0.91 when their twin beside them goes missing with them (either may be
/// the one still there). With the wait (the default) the newcomer is never taken for the
/// first keys at 0.91: the changes are the same, without a hand-over; at 0.885 it is, as
/// without.
#[test]
fn an_object_found_gone_that_looks_more_like_a_taken_newcomer_takes_it_over() {
    use mnemo::core::EventKind;
    // cos * NEWCOMER + sin * e3: cosine `cos` with the newcomer.
    let with_cosine = |c: f32| {
        let s = (1.0 - c * c).sqrt();
        [0.87 * c, 0.493 * c, s, 0.0]
    };
    for (y_cos, twin, wait, handed) in [
        (0.91, false, false, true),
        (0.885, false, false, false),
        (0.91, true, false, false),
        (0.91, false, true, true),
        (0.885, false, true, false),
    ] {
        let (m, x, y) = two_keys_gone_one_newcomer(with_cosine(y_cos), twin, wait);
        let (xo, yo) = (m.object(x).unwrap(), m.object(y).unwrap());
        let changes: Vec<_> = changes_since(&m, T0 + HOUR)
            .into_iter()
            .map(|c| (c.object_id, c.kind, c.to_world.map(|p| p[0].round())))
            .collect();
        if handed {
            assert_eq!(xo.state, ObjectState::Missing, "{xo:?}");
            assert!((xo.position_world.y - 0.5).abs() < 0.05, "{xo:?}");
            assert_eq!(yo.state, ObjectState::Moved, "{yo:?}");
            assert!((yo.position_world.y + 0.6).abs() < 0.05, "{yo:?}");
            assert_eq!(m.stats().links_handed_on, u64::from(!wait));
            assert_eq!(
                changes,
                vec![
                    (x, EventKind::Missing, None),
                    (y, EventKind::Moved, Some(2.0))
                ]
            );
            assert_sound_and_restorable(&m, &[y]);
        } else {
            assert_eq!(xo.state, ObjectState::Moved, "{xo:?}");
            assert_eq!(yo.state, ObjectState::Missing, "{yo:?}");
            assert_eq!(m.stats().links_handed_on, 0);
            assert_eq!(changes[0], (x, EventKind::Moved, Some(2.0)));
            assert_eq!(changes[1], (y, EventKind::Missing, None));
            assert_eq!(changes.len(), if twin { 3 } else { 2 }, "{changes:?}");
        }
    }
}

/// As in `a_lone_sighting_before_its_twin_was_seen_does_not_pin_a_mug_that_went_missing_with_it`,
/// but the carried-off mug turns up behind the robot only after both twins went missing, a
/// minute after the right mug's lone sighting (the left mug's, mis-assigned). When it is
/// confirmed, the right mug's last sighting as re-identification counts it is its previous
/// visit, an hour before, so the newcomer can be where it went: it moved there. The left mug,
/// seen last right before, cannot be (a minute is not enough to carry it off); seen again, it
/// never left.
#[test]
fn a_missing_twins_lone_sighting_does_not_keep_a_newcomer_a_minute_later_from_being_it() {
    let mut m = memory_with(|_| {});
    let (left, right, t) = twin_mugs(&mut m);
    let mut t = lone_sighting_then_twins_missed(&mut m, t + HOUR);
    assert_eq!(m.object(left).unwrap().state, ObjectState::Missing);
    assert_eq!(m.object(right).unwrap().state, ObjectState::Missing);
    for _ in 0..2 {
        t += S;
        seen_behind(&mut m, t, "mug");
    }
    let r = m.object(right).unwrap();
    assert_eq!(r.state, ObjectState::Moved, "{r:?}");
    assert!((r.position_world.x + 2.0).abs() < 0.05, "{r:?}");
    assert_eq!(m.object(left).unwrap().state, ObjectState::Missing);
    t += S;
    ingest(&mut m, t, vec![det("mug", [2.0, 0.0, 0.8])]);
    let changes = changes_since(&m, T0 + 10 * S);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].object_id, right, "{changes:?}");
    assert!(m.object(left).unwrap().state.is_present());
    assert_sound_and_restorable(&m, &[left, right]);
}

/// Looks at cosine `c` with `SEEN` (in the plane of `SEEN` and `OFF`).
fn seen_at_cosine(c: f32) -> [f32; 4] {
    [c, (1.0 - c * c).sqrt(), 0.0, 0.0]
}

/// Keys at (2, 0.5) looking `SEEN`, seen on five keyframes a second apart, each followed by
/// `also` (another look around at that stamp); an hour later their spot is empty on four
/// views, so they are missing. Returns the keys and the next stamp.
fn keys_seen_then_found_gone(
    m: &mut Memory,
    mut also: impl FnMut(&mut Memory, StampNs),
) -> (ObjectId, StampNs) {
    let mut t = T0;
    for _ in 0..5 {
        ingest(m, t, vec![keys_at(0.5, SEEN)]);
        also(m, t);
        t += S;
    }
    let keys = m.objects()[0].id;
    let t = keyframes_in_a_row(m, t + HOUR, 4, &[]);
    assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
    (keys, t)
}

/// Keys at (2, 0.5) looking `SEEN` (and, when `rival`, a second set behind the robot, without
/// an appearance); an hour later their spot is empty on four views, so they are missing;
/// `gap` after that, keys looking like `look` (`None`: no appearance) turn up 1.1 m to the
/// right for three keyframes. Returns the memory, the first keys and the next stamp.
fn keys_gone_then_a_newcomer(
    mut m: Memory,
    rival: bool,
    gap: StampNs,
    look: Option<[f32; 4]>,
) -> (Memory, ObjectId, StampNs) {
    let (keys, t) = keys_seen_then_found_gone(&mut m, |m, t| {
        if rival {
            keys_behind(m, t);
        }
    });
    let newcomer = det("keys", [2.0, -0.6, 0.8]);
    let newcomer = match look {
        Some(e) => looking(newcomer, e),
        None => newcomer,
    };
    let t = keyframes_in_a_row(&mut m, t + gap, 3, &[newcomer]);
    (m, keys, t)
}

/// Keys found gone, and hours later (past `reid_window_s`) keys that look like them turn up
/// elsewhere. Alone of their kind, they moved there as soon as the newcomer is confirmed:
/// nothing else can have gone there, so the wait for a better match ends at once. With a
/// second set behind the robot, not checked since, that set may be the one carried there:
/// the newcomer waits, and the keys moved the moment the other set is seen in its place, long
/// before the wait's deadline. Control: the other set not checked, the keys stay missing
/// until the deadline, and then move.
#[test]
fn a_newcomer_like_an_object_gone_for_hours_is_it_once_every_look_alike_is_checked() {
    let look = Some(seen_at_cosine(0.96));
    let moved_to_newcomer = |m: &Memory, keys: ObjectId| {
        let k = m.object(keys).unwrap();
        k.state == ObjectState::Moved && (k.position_world.y + 0.6).abs() < 0.05
    };
    let (m, keys, _) = keys_gone_then_a_newcomer(memory_with(|_| {}), false, 3 * HOUR, look);
    assert!(moved_to_newcomer(&m, keys), "{:?}", m.object(keys));
    assert!(m.pending_reid().is_empty());

    let (mut m, keys, t) = keys_gone_then_a_newcomer(memory_with(|_| {}), true, 3 * HOUR, look);
    assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
    assert_eq!(m.pending_reid().len(), 1);
    let mut control = Memory::from_parts(
        m.config().clone(),
        Box::new(LexicalEmbedder::default()),
        m.to_parts(),
    )
    .unwrap();
    keys_behind(&mut m, t);
    assert!(moved_to_newcomer(&m, keys), "{:?}", m.object(keys));
    assert!(m.pending_reid().is_empty());
    assert_sound_and_restorable(&m, &[keys]);

    let t = keyframes_in_a_row(&mut control, t, 5, &[]);
    assert_eq!(control.object(keys).unwrap().state, ObjectState::Missing);
    ingest(&mut control, t + HOUR, vec![]);
    assert!(
        moved_to_newcomer(&control, keys),
        "{:?}",
        control.object(keys)
    );
}

/// The wait of `a_newcomer_like_an_object_gone_for_hours_is_it_once_every_look_alike_is_checked`
/// on a robot that parks after its patrol and sends only odometry: the keys stay missing while
/// the wait lasts, and move to the newcomer's spot on the first pose at or past its deadline.
/// Poses are time passing, not evidence: before the deadline they change nothing.
#[test]
fn a_parked_robots_odometry_ends_the_wait_for_a_long_missing_object_at_its_deadline() {
    let (mut m, keys, t) = keys_gone_then_a_newcomer(
        memory_with(|_| {}),
        true,
        3 * HOUR,
        Some(seen_at_cosine(0.96)),
    );
    let pending = m.pending_reid();
    assert_eq!(pending.len(), 1);
    let deadline = pending[0].1;
    assert!(deadline > t);
    let parked = |stamp_ns| mnemo::core::PoseUpdate {
        stamp_ns,
        world_from_body: nalgebra::Isometry3::identity(),
    };
    let before = m.object_events(keys).to_vec();
    for stamp in [t, (t + deadline) / 2, deadline - 1] {
        m.ingest_pose(&parked(stamp)).unwrap();
        assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
        assert_eq!(m.pending_reid().len(), 1);
    }
    assert_eq!(m.object_events(keys), before);
    m.ingest_pose(&parked(deadline)).unwrap();
    let k = m.object(keys).unwrap();
    assert_eq!(k.state, ObjectState::Moved, "{k:?}");
    assert!((k.position_world.y + 0.6).abs() < 0.05, "{k:?}");
    assert!(m.pending_reid().is_empty());
    assert_sound_and_restorable(&m, &[keys]);
}

/// Keys found gone, and keys that look 0.88 like them (enough for a sighting to match, not
/// for `min_appearance_cosine_long_missing`) turn up elsewhere. Hours later they are an
/// object of their own, also after the wait's deadline: a look-alike put down since is as
/// likely as the keys carried there. Ten minutes later they are the keys, moved: time says
/// so. Without appearance the same holds: a newcomer hours later is not taken for keys gone
/// without a look to go by, one ten minutes later is.
#[test]
fn a_newcomer_hours_after_an_object_went_missing_needs_a_closer_look_to_be_it() {
    for look in [Some(seen_at_cosine(0.88)), None] {
        for (gap, moves) in [(3 * HOUR, false), (10 * 60 * S, true)] {
            let (mut m, keys, t) = keys_gone_then_a_newcomer(memory_with(|_| {}), false, gap, look);
            ingest(&mut m, t + HOUR, vec![]);
            let k = m.object(keys).unwrap();
            if moves {
                assert_eq!(k.state, ObjectState::Moved, "{look:?} {k:?}");
            } else {
                assert_eq!(k.state, ObjectState::Missing, "{look:?} {k:?}");
                assert_eq!(the_one_other(&m, keys).state, ObjectState::Present);
            }
        }
    }
}

/// Keys found gone; hours later a second set, behind the robot and looking just like the
/// newcomer to come, is seen a minute before keys looking 0.93 like the first turn up 1.1 m
/// to the right. Nothing can have been carried there unseen (the other set was seen too
/// recently), but while the other set may be the newcomer (it looks more like it than the
/// first keys do), the newcomer is not taken for the first keys, and it keeps waiting: when
/// the other set is seen again in its place, the first keys moved to the newcomer's spot.
#[test]
fn a_newcomer_left_to_a_look_alike_seen_just_before_is_the_missing_object_once_that_is_seen_again()
{
    let newcomer_look = seen_at_cosine(0.93);
    let other_set = |t| {
        keyframe(
            t,
            0.0,
            0.0,
            std::f64::consts::PI,
            vec![looking(det("keys", [-2.0, 0.5, 0.8]), newcomer_look)],
        )
    };
    let mut m = memory_with(|_| {});
    let (keys, t) = keys_seen_then_found_gone(&mut m, |m, t| {
        m.ingest(&other_set(t)).unwrap();
    });
    let t = t + 3 * HOUR;
    m.ingest(&other_set(t)).unwrap();
    let newcomer = looking(det("keys", [2.0, -0.6, 0.8]), newcomer_look);
    let t = keyframes_in_a_row(&mut m, t + 60 * S, 3, &[newcomer]);
    assert_eq!(m.object(keys).unwrap().state, ObjectState::Missing);
    assert_eq!(m.pending_reid().len(), 1);
    m.ingest(&other_set(t)).unwrap();
    let k = m.object(keys).unwrap();
    assert_eq!(k.state, ObjectState::Moved, "{k:?}");
    assert!((k.position_world.y + 0.6).abs() < 0.05, "{k:?}");
}

/// Keys found gone; hours later keys turn up 15 cm from their spot, first looking too unlike
/// them to match (a new track), then closer: the new track, 0.88 like the keys, is below
/// `min_appearance_cosine_long_missing`, but back at the keys' spot it needs only
/// `min_appearance_cosine`: the keys reappeared there, one object.
#[test]
fn a_new_track_back_at_the_spot_of_an_object_gone_for_hours_is_it_with_the_usual_look() {
    let mut m = memory_with(|_| {});
    let (keys, t) = keys_seen_then_found_gone(&mut m, |_, _| {});
    let t = keyframes_in_a_row(
        &mut m,
        t + 3 * HOUR,
        1,
        &[keys_at(0.65, seen_at_cosine(0.83))],
    );
    keyframes_in_a_row(&mut m, t, 3, &[keys_at(0.65, seen_at_cosine(0.93))]);
    let reportable: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
    assert_eq!(reportable.len(), 1, "{reportable:#?}");
    let k = m.object(keys).unwrap();
    assert!(k.state.is_present(), "{k:?}");
    assert!((k.position_world.y - 0.65).abs() < 0.05, "{k:?}");
}

/// Keys found gone, back in place: seen again directly, or as a new track re-identified with
/// them. A run of detector misses is no change, so without another look the window that found
/// them gone reports nothing. Nor do fewer empty views an hour later than that visit needed
/// (a miss is common). But when their spot is seen empty again on a later visit as often as
/// the visit that found them gone needed, and they are back only on a visit later still, they
/// were gone: that window reports them missing, with a restart between the later look and
/// their return or without. Back on the visit of the later look, seconds after it, they were
/// missed again from a view that hides them, not gone. The window of their return reports the
/// reappearance, from the later look on, and a window over both nets out.
#[test]
fn keys_found_gone_again_on_a_later_visit_were_missing_though_they_come_back() {
    use mnemo::core::EventKind;
    let views = MemoryConfig::default().missing_after_views as usize;
    for (later_views, restart, new_track, back_after) in [
        (0, false, false, HOUR),
        (0, false, true, HOUR),
        (views - 1, false, false, HOUR),
        (views, false, false, HOUR),
        (views, false, true, HOUR),
        (views, true, false, HOUR),
        (views, false, false, 10 * S),
    ] {
        let case = format!(
            "{later_views} later views, restart {restart}, new track {new_track}, back after \
             {back_after} ns"
        );
        let mut m = memory_with(|_| {});
        let (keys, found_gone) = keys_seen_then_found_gone(&mut m, |_, _| {});
        let last_sighting = m.object(keys).unwrap().last_seen_ns;
        // Views of the empty spot in the visit that found them gone do not count.
        assert_eq!(m.absent_views(keys), None, "{case}");
        let mut t = keyframes_in_a_row(&mut m, found_gone + HOUR, later_views, &[]);
        let confirmed = later_views >= views;
        assert_eq!(m.absent_seen(keys), confirmed.then_some(t - S), "{case}");
        let gone_between = confirmed && back_after >= HOUR;
        if restart {
            let parts = m.to_parts();
            assert!(
                parts.absent_views.contains(&(keys, views as u32, t - S)),
                "{case}"
            );
            m = Memory::from_parts(
                m.config().clone(),
                Box::new(LexicalEmbedder::default()),
                parts,
            )
            .unwrap();
        }
        t += back_after;
        let back = t;
        if new_track {
            t = keyframes_in_a_row(&mut m, t, 1, &[keys_at(0.65, seen_at_cosine(0.83))]);
            keyframes_in_a_row(&mut m, t, 3, &[keys_at(0.65, seen_at_cosine(0.93))]);
        } else {
            keyframes_in_a_row(&mut m, t, 3, &[keys_at(0.5, SEEN)]);
        }
        let k = m.object(keys).unwrap();
        assert!(k.state.is_present(), "{case}: {k:?}");
        assert_eq!(m.absent_views(keys), None, "{case}");
        let kinds = |hits: Vec<mnemo::core::query::ChangeHit>| -> Vec<EventKind> {
            hits.iter().map(|c| c.kind).collect()
        };
        let gone = kinds(changes_in(&m, found_gone - HOUR, found_gone));
        if gone_between {
            assert_eq!(gone, vec![EventKind::Missing], "{case}");
        } else {
            assert!(gone.is_empty(), "{case}: {gone:?}");
        }
        assert_eq!(
            kinds(changes_since(&m, back)),
            vec![EventKind::Reappeared],
            "{case}"
        );
        assert!(changes_since(&m, found_gone - HOUR).is_empty(), "{case}");
        let reappeared = m
            .log()
            .events()
            .iter()
            .rfind(|e| e.kind == EventKind::Reappeared)
            .unwrap();
        let from = if confirmed {
            found_gone + HOUR + (later_views as StampNs - 1) * S
        } else {
            last_sighting
        };
        assert_eq!(reappeared.start_ns, from, "{case}");
    }
}

/// Keys on the table and a second set behind the robot, 0.91 alike. An hour later the second
/// set is gone from its spot and turns up half a metre from the first keys, which are gone
/// too. The first keys, missed beside a look-alike that keeps being seen, are not its
/// duplicate: that look-alike arrived there (moved, re-identified) an hour after their last
/// sighting, so someone swapped them. The first keys are missing, the second set moved.
#[test]
fn keys_missed_beside_a_look_alike_that_moved_there_since_are_not_its_duplicate() {
    let other_look = seen_at_cosine(0.91);
    let other_set = |t, y: f64, dets: bool| {
        let d = looking(det("keys", [-2.0, y, 0.8]), other_look);
        keyframe(
            t,
            0.0,
            0.0,
            std::f64::consts::PI,
            if dets { vec![d] } else { vec![] },
        )
    };
    let mut m = memory_with(|_| {});
    let mut t = T0;
    for _ in 0..5 {
        ingest(&mut m, t, vec![keys_at(0.5, SEEN)]);
        m.ingest(&other_set(t, 0.5, true)).unwrap();
        t += S;
    }
    let (keys, other) = (m.objects()[0].id, m.objects()[1].id);
    t += HOUR;
    for _ in 0..4 {
        m.ingest(&other_set(t, 0.5, false)).unwrap();
        t += S;
    }
    assert_eq!(m.object(other).unwrap().state, ObjectState::Missing);
    keyframes_in_a_row(&mut m, t, 5, &[keys_at(1.0, other_look)]);
    let (k, o) = (m.object(keys).unwrap(), m.object(other).unwrap());
    assert_eq!(o.state, ObjectState::Moved, "{o:?}");
    assert!((o.position_world.y - 1.0).abs() < 0.05, "{o:?}");
    assert!(!k.retired, "{k:?}");
    assert_eq!(k.state, ObjectState::Missing, "{k:?}");
    assert_sound_and_restorable(&m, &[other]);
}

#[test]
fn a_plate_whose_first_sighting_looked_wrong_takes_the_look_of_its_later_sightings() {
    // A plate's first sighting looks like nothing it is (a box mostly covered by something
    // nearer gives such a descriptor); its later sightings, all alike, fail that one sighting's
    // bound and start a second track. The two are one plate, and it looks like the later
    // sightings: an hour later it is seen as it looks and nothing has changed. Control: the
    // plate was seen looking one way three times before the sightings that look another: its
    // look stands, so those an hour later are a different plate put there (the first goes
    // missing).
    const WRONG: [f32; 4] = [0.0, 0.0, 1.0, 0.0];
    const PLATE: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const OTHER: [f32; 4] = [0.0, 1.0, 0.0, 0.0];
    for first_wrong in [true, false] {
        let mut m = memory_with(|_| {});
        let (first_look, first_seen, later) = if first_wrong {
            (WRONG, 1, PLATE)
        } else {
            (PLATE, 3, OTHER)
        };
        let mut t = plates(&mut m, T0, first_seen, 0.0, first_look);
        t = plates(&mut m, t, 5, 0.0, later);
        let reportable: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
        assert_eq!(reportable.len(), 1, "{:#?}", m.objects());
        let plate = reportable[0].id;
        let back_at = t + HOUR;
        plates(&mut m, back_at, 6, 0.0, later);
        let changes = changes_since(&m, back_at - 1);
        if first_wrong {
            assert!(changes.is_empty(), "{changes:?}");
            assert!(m.object(plate).unwrap().state.is_present());
            assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 1);
        } else {
            assert_eq!(m.object(plate).unwrap().state, ObjectState::Missing);
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Missing);
        }
    }
}

#[test]
fn a_looser_association_bound_keeps_a_shifted_look_on_its_track() {
    // A plate seen five times looking one way; an hour later, sightings at cosine 0.6 with that
    // look (a colour descriptor whose shade moved with the light). By the core's bounds they
    // are another plate put there: the first goes missing. With
    // `association_min_appearance_cosine` 0.5 (the node's bound for colour descriptors) they
    // are the same plate, seen again: nothing changed.
    const LOOK: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const SHIFTED: [f32; 4] = [0.6, 0.8, 0.0, 0.0];
    for loose in [false, true] {
        let mut m = memory_with(|c| {
            c.association_min_appearance_cosine = loose.then_some(0.5);
        });
        let t = plates(&mut m, T0, 5, 0.0, LOOK);
        let plate = m.objects()[0].id;
        let back_at = t + HOUR;
        plates(&mut m, back_at, 4, 0.0, SHIFTED);
        let changes = changes_since(&m, back_at - 1);
        let reportable = m.objects().iter().filter(|o| o.is_reportable()).count();
        if loose {
            assert!(changes.is_empty(), "{changes:?}");
            assert_eq!(reportable, 1);
            assert_eq!(m.object(plate).unwrap().times_seen, 9);
        } else {
            assert_eq!(m.object(plate).unwrap().state, ObjectState::Missing);
            assert_eq!(reportable, 2);
        }
    }
}

/// The twin mugs an hour later, one sighting a keyframe at `ys` (position noise along the
/// viewing ray spreads one mug's sightings over both spots); returns the next stamp.
fn mugs_seen_one_at_a_time(m: &mut Memory, mut t: StampNs, ys: &[f64]) -> StampNs {
    t += HOUR;
    for y in ys {
        ingest(m, t, vec![det("mug", [2.0, *y, 0.8])]);
        t += S;
    }
    t
}

/// Only the right mug is left: two sightings beyond it, then one beyond the left mug, in turn.
/// Each twin's run of misses is broken by a sighting that matches it outright, so without the
/// count rule neither ever goes missing.
const RIGHT_RIGHT_LEFT: [f64; 9] = [0.22, 0.20, 0.03, 0.21, 0.19, 0.02, 0.22, 0.20, 0.03];

#[test]
fn a_twin_taken_away_goes_missing_though_the_others_sightings_fall_on_both_spots() {
    for llr in [MemoryConfig::default().twin_evidence_llr, 0.0] {
        let mut m = memory_with(|c| c.twin_evidence_llr = llr);
        let (left, right, t) = twin_mugs(&mut m);
        let last_seen = m.object(left).unwrap().last_seen_ns;
        mugs_seen_one_at_a_time(&mut m, t, &RIGHT_RIGHT_LEFT);
        let left_now = m.object(left).unwrap();
        assert!(m.object(right).unwrap().state.is_present());
        if llr > 0.0 {
            // Four keyframes with both in view and one sighting, three of them far likelier
            // the right mug's: the left one is gone, last seen before this pass (the sighting
            // it got in it was the right one's).
            assert_eq!(left_now.state, ObjectState::Missing);
            assert_eq!(left_now.last_seen_ns, last_seen);
            assert_sound_and_restorable(&m, &[right]);
        } else {
            assert!(
                left_now.state.is_present(),
                "without the rule neither goes missing"
            );
        }
    }
}

#[test]
fn a_twin_taken_elsewhere_in_the_pass_that_finds_it_gone_is_reported_moved() {
    let mut m = memory_with(|_| {});
    let (left, _, t) = twin_mugs(&mut m);
    // The pass: the right mug's sightings on both spots (two of them matching the left mug
    // outright, a visit of its own), then a mug 60 cm to the side, first seen a second after
    // the left spot's last (stray) sighting.
    let mut t = mugs_seen_one_at_a_time(&mut m, t, &[0.22, 0.035, 0.21, 0.035]);
    let aside = [2.0, -0.6, 0.8];
    for y in [0.20, 0.21] {
        ingest(
            &mut m,
            t,
            vec![det("mug", [2.0, y, 0.8]), det("mug", aside)],
        );
        t += S;
    }
    let moved: Vec<_> = changes_since(&m, T0 + HOUR)
        .into_iter()
        .filter(|c| c.object_id == left)
        .map(|c| (c.kind, c.to_world))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].0, mnemo::core::EventKind::Moved, "{moved:?}");
    let to = moved[0].1.unwrap();
    assert!((to[1] - aside[1]).abs() < 0.05, "{moved:?}");
}

#[test]
fn twins_seen_one_at_a_time_on_their_own_spots_both_stay() {
    // Both mugs there, the detector finding one per keyframe, each where it stands: the count
    // says one, but sightings on both spots say two.
    let mut m = memory_with(|_| {});
    let (left, right, t) = twin_mugs(&mut m);
    let t = mugs_seen_one_at_a_time(&mut m, t, &[0.0, 0.15, 0.0, 0.15, 0.01, 0.14]);
    assert!(m.object(left).unwrap().state.is_present());
    assert!(m.object(right).unwrap().state.is_present());
    let deficits = m.twin_deficits();
    assert_eq!(deficits.len(), 1, "{deficits:?}");
    assert_eq!(deficits[0].2.views, 6);
    // The evidence is cleared by a keyframe that sees both.
    ingest(
        &mut m,
        t,
        vec![det("mug", [2.0, 0.0, 0.8]), det("mug", [2.0, 0.15, 0.8])],
    );
    assert!(m.twin_deficits().is_empty());
}

/// Keys of one look at (2, 0.5) ahead of the robot and keys of another behind it at (-2, 0.5),
/// both seen five times. An hour later, four views ahead: the first keys' spot is empty and
/// keys turn up at (2, -0.6) looking a little more like the keys behind (cosine 0.94) than
/// like the first ones (0.90): by less than the rival margin (0.05), which would keep the
/// newcomer from the first keys outright, and by more than half of it, so with `wait`
/// (`wait_for_likelier_source`) the newcomer waits. Half a minute later, four views behind,
/// the keys there detected in those of `behind_seen` that are true (in none: they are gone
/// too). Returns the memory, the first keys and those behind.
fn two_keys_and_a_newcomer_as_much_like_either(
    behind_seen: [bool; 4],
    wait: bool,
) -> (Memory, ObjectId, ObjectId) {
    const AHEAD_LOOK: [f32; 4] = [0.90, 0.436, 0.0, 0.0];
    const BEHIND_LOOK: [f32; 4] = [0.94, 0.0, 0.341, 0.0];
    const NEWCOMER_LOOK: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    let mut m = memory_with(|c| c.wait_for_likelier_source = wait);
    let behind = |m: &mut Memory, t: StampNs, dets: Vec<Detection>| {
        m.ingest(&keyframe(t, 0.0, 0.0, std::f64::consts::PI, dets))
            .unwrap();
    };
    let behind_keys = || looking(det("keys", [-2.0, 0.5, 0.8]), BEHIND_LOOK);
    let mut t = T0;
    for _ in 0..5 {
        ingest(&mut m, t, vec![keys_at(0.5, AHEAD_LOOK)]);
        behind(&mut m, t + S / 2, vec![behind_keys()]);
        t += S;
    }
    let id_at = |m: &Memory, x: f64| {
        m.objects()
            .iter()
            .find(|o| o.is_reportable() && (o.position_world.x - x).abs() < 0.1)
            .map(|o| o.id)
            .unwrap()
    };
    let (ahead, behind_id) = (id_at(&m, 2.0), id_at(&m, -2.0));
    t += HOUR;
    let t = keyframes_in_a_row(&mut m, t, 4, &[keys_at(-0.6, NEWCOMER_LOOK)]);
    let found_gone = if wait {
        ObjectState::Missing
    } else {
        ObjectState::Moved
    };
    assert_eq!(m.object(ahead).unwrap().state, found_gone);
    let mut t = t + 30 * S;
    for seen in behind_seen {
        behind(&mut m, t, if seen { vec![behind_keys()] } else { vec![] });
        t += S;
    }
    (m, ahead, behind_id)
}

#[test]
fn a_newcomer_likelier_an_unchecked_look_alikes_waits_for_its_spot_to_be_checked() {
    for wait in [true, false] {
        // The keys behind are gone as well: the newcomer, a little more like them, is where
        // they went, and the first keys are missing. Without the wait the newcomer is taken
        // for the first keys when they are found gone, and the keys behind go missing.
        let (m, ahead, behind) = two_keys_and_a_newcomer_as_much_like_either([false; 4], wait);
        let (a, b) = (m.object(ahead).unwrap(), m.object(behind).unwrap());
        let (went, stayed) = if wait { (b, a) } else { (a, b) };
        assert_eq!(stayed.state, ObjectState::Missing, "{stayed:?}");
        assert_eq!(went.state, ObjectState::Moved, "{went:?}");
        let to = nalgebra::Point3::new(2.0, -0.6, 0.8);
        assert!((went.position_world - to).norm() < 0.05, "{went:?}");
        assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 2);
        assert_sound_and_restorable(&m, &[went.id]);
        // The keys behind are still there: the newcomer is the first keys, moved, either way.
        let (m, ahead, behind) = two_keys_and_a_newcomer_as_much_like_either([true; 4], wait);
        let (a, b) = (m.object(ahead).unwrap(), m.object(behind).unwrap());
        assert_eq!(a.state, ObjectState::Moved, "{a:?}");
        assert!((a.position_world - to).norm() < 0.05, "{a:?}");
        assert!(b.state.is_present(), "{b:?}");
        assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 2);
        assert!(m.pending_reid().is_empty());
    }
}

#[test]
fn a_waiting_newcomer_does_not_let_a_look_alike_go_missing_on_fewer_views() {
    // The keys behind are there, missed by the detector in the first two views. The newcomer
    // waiting for them is no sign that they in particular were carried off (the first keys,
    // found gone, wait for it), so two misses are not enough: they are seen in the third view,
    // and the newcomer is the first keys, moved.
    let (m, ahead, behind) =
        two_keys_and_a_newcomer_as_much_like_either([false, false, true, true], true);
    let (a, b) = (m.object(ahead).unwrap(), m.object(behind).unwrap());
    assert!(b.state.is_present(), "{b:?}");
    assert_eq!(a.state, ObjectState::Moved, "{a:?}");
    let to = nalgebra::Point3::new(2.0, -0.6, 0.8);
    assert!((a.position_world - to).norm() < 0.05, "{a:?}");
    let changes = changes_since(&m, T0 + HOUR);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 2);
}

/// Spots around the robot standing at the origin, with the yaw it looks at each from: ahead
/// (2, 0.5), behind (-2, 0.5), to its left (0.3, 2) and to its right (0.3, -2).
const AROUND: [([f64; 3], f64); 4] = [
    ([2.0, 0.5, 0.8], 0.0),
    ([-2.0, 0.5, 0.8], std::f64::consts::PI),
    ([0.3, 2.0, 0.8], std::f64::consts::FRAC_PI_2),
    ([0.3, -2.0, 0.8], -std::f64::consts::FRAC_PI_2),
];

/// Keys looking `looks[i]` at spot `i` of [`AROUND`], each seen five times in turn. An hour
/// later, four views ahead find the first keys gone and keys looking `[1, 0, 0, 0]` at
/// (2, -0.6); half a minute later the views `then`, each towards spot `i`, the keys there
/// detected or not. Returns the memory and the keys, in the order of `looks`.
fn keys_around_and_a_newcomer(
    looks: &[[f32; 4]],
    then: &[(usize, bool)],
) -> (Memory, Vec<ObjectId>) {
    let mut m = memory_with(|_| {});
    let view = |m: &mut Memory, t: StampNs, i: usize, seen: bool| {
        let dets = if seen {
            vec![looking(det("keys", AROUND[i].0), looks[i])]
        } else {
            vec![]
        };
        m.ingest(&keyframe(t, 0.0, 0.0, AROUND[i].1, dets)).unwrap();
    };
    let mut t = T0;
    for _ in 0..5 {
        for i in 0..looks.len() {
            view(&mut m, t, i, true);
            t += S;
        }
    }
    let ids: Vec<ObjectId> = AROUND[..looks.len()]
        .iter()
        .map(|(p, _)| {
            m.objects()
                .iter()
                .find(|o| {
                    o.is_reportable()
                        && (o.position_world.x - p[0]).abs() < 0.1
                        && (o.position_world.y - p[1]).abs() < 0.1
                })
                .map(|o| o.id)
                .unwrap()
        })
        .collect();
    t += HOUR;
    let newcomer = looking(det("keys", [2.0, -0.6, 0.8]), [1.0, 0.0, 0.0, 0.0]);
    let mut t = keyframes_in_a_row(&mut m, t, 4, &[newcomer]) + 30 * S;
    assert_eq!(m.object(ids[0]).unwrap().state, ObjectState::Missing);
    for &(i, seen) in then {
        view(&mut m, t, i, seen);
        t += S;
    }
    (m, ids)
}

/// Keys of three looks, seen five times each: at (2, 0.5) ahead of the robot, at (-2, 0.5)
/// behind it and at (0.3, 2) to its left. An hour later keys turn up at (2, -0.6) in four views
/// ahead that find the first keys gone; they look like the keys behind (cosine 0.95) and those
/// to the left (0.92) more than like the first ones (0.88): by more than the rival margin
/// (0.05) for the keys behind, so the newcomer is left to them. Half a minute later the keys to
/// the left are found gone (the keys behind, unchecked, still look likelier: the newcomer
/// waits), then the keys behind are seen where they were. Returns the memory and the three
/// keys (ahead, behind, left).
fn three_keys_and_a_newcomer_left_to_the_others() -> (Memory, Vec<ObjectId>) {
    let looks = [
        [0.88, 0.475, 0.0, 0.0],
        [0.95, 0.0, 0.312, 0.0],
        [0.92, 0.0, 0.0, 0.392],
    ];
    let mut then = vec![(2, false); 4];
    then.extend([(1, true); 2]);
    keys_around_and_a_newcomer(&looks, &then)
}

#[test]
fn a_newcomer_left_to_a_look_alike_seen_again_goes_to_the_missing_one_it_favours() {
    // When the keys behind are seen again, the newcomer left to them is not theirs; of the two
    // missing keys it is the left ones' (0.92), not the first ones' (0.88), though the first
    // went missing first.
    let (m, ids) = three_keys_and_a_newcomer_left_to_the_others();
    let [ahead, behind, left] = ids[..] else {
        unreachable!()
    };
    let state = |id| m.object(id).unwrap().state;
    assert_eq!(state(ahead), ObjectState::Missing);
    assert!(state(behind).is_present());
    assert_eq!(state(left), ObjectState::Moved);
    let to = m.object(left).unwrap().position_world;
    assert!(
        (to - nalgebra::Point3::new(2.0, -0.6, 0.8)).norm() < 0.05,
        "{to:?}"
    );
    assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 3);
    assert_sound_and_restorable(&m, &[behind, left]);
}

/// Keys of four looks, seen five times each: ahead of the robot at (2, 0.5), behind it at
/// (-2, 0.5), to its left at (0.3, 2) and to its right at (0.3, -2). An hour later keys turn up
/// at (2, -0.6) in four views ahead that find the first keys gone; they look 0.90 like the
/// first, 0.94 like the keys behind (likelier by more than 0.025: the newcomer waits), 0.89
/// like those to the left and 0.80 like those to the right. Then the keys behind are seen in
/// place, the keys to the left are found gone, and the keys to the right are seen in place.
/// Returns the memory and the four keys (ahead, behind, left, right).
fn four_keys_and_a_waiting_newcomer() -> (Memory, Vec<ObjectId>) {
    let looks = [
        [0.90, 0.436, 0.0, 0.0],
        [0.94, 0.0, 0.341, 0.0],
        [0.89, 0.0, 0.0, 0.456],
        [0.80, 0.0, 0.0, 0.6],
    ];
    let mut then = vec![(1, true), (1, true)];
    then.extend([(2, false); 4]);
    then.extend([(3, true); 2]);
    keys_around_and_a_newcomer(&looks, &then)
}

#[test]
fn a_waiting_newcomer_is_not_taken_for_a_look_alike_found_gone_that_it_favours_less() {
    // When the keys to the left are found gone, the keys behind (seen in place) no longer
    // speak against the first keys, but the keys to the right are still unchecked: the
    // newcomer waits on. It favours the first keys (0.90) over those to the left (0.89), so
    // it is not taken for those; once the keys to the right are seen, it is the first keys'.
    let (m, ids) = four_keys_and_a_waiting_newcomer();
    let [ahead, behind, left, right] = ids[..] else {
        unreachable!()
    };
    let state = |id| m.object(id).unwrap().state;
    assert_eq!(state(ahead), ObjectState::Moved);
    assert!(state(behind).is_present());
    assert_eq!(state(left), ObjectState::Missing);
    assert!(state(right).is_present());
    let to = m.object(ahead).unwrap().position_world;
    assert!(
        (to - nalgebra::Point3::new(2.0, -0.6, 0.8)).norm() < 0.05,
        "{to:?}"
    );
    assert!(m.pending_reid().is_empty());
}

/// Keys ahead of the robot at (2, 0.5) and keys behind it at (-2, 0.5), alike (cosine 0.88),
/// seen five times each in turn. An hour later the keys behind have been put down 10 cm from
/// where the first keys stood, and the first keys carried to the robot's right, (0.3, -2):
/// four views behind find the keys there gone, four views to the right find a newcomer that
/// looks like the first keys (left to them: not checked since), and then four views ahead see
/// the look of the keys behind by the first keys' spot. `refuse` is
/// `refuse_swapped_sightings`. Returns the memory and the keys (first, behind).
fn swapped_keys(refuse: bool) -> (Memory, ObjectId, ObjectId) {
    let mut m = memory_with(|c| c.refuse_swapped_sightings = refuse);
    let first = [1.0, 0.0, 0.0, 0.0];
    let behind = [0.88, 0.475, 0.0, 0.0];
    let view = |m: &mut Memory, t: StampNs, i: usize, dets: Vec<Detection>| {
        m.ingest(&keyframe(t, 0.0, 0.0, AROUND[i].1, dets)).unwrap();
    };
    let mut t = T0;
    for _ in 0..5 {
        view(&mut m, t, 0, vec![looking(det("keys", AROUND[0].0), first)]);
        view(
            &mut m,
            t + S,
            1,
            vec![looking(det("keys", AROUND[1].0), behind)],
        );
        t += 2 * S;
    }
    let near = |m: &Memory, p: [f64; 3]| {
        m.objects()
            .iter()
            .find(|o| o.is_reportable() && (o.position_world.x - p[0]).abs() < 0.1)
            .map(|o| o.id)
            .unwrap()
    };
    let (a, b) = (near(&m, AROUND[0].0), near(&m, AROUND[1].0));
    t += HOUR;
    for _ in 0..4 {
        view(&mut m, t, 1, vec![]);
        t += S;
    }
    assert_eq!(m.object(b).unwrap().state, ObjectState::Missing);
    for _ in 0..4 {
        view(&mut m, t, 3, vec![looking(det("keys", AROUND[3].0), first)]);
        t += S;
    }
    let put_down = [2.0, 0.6, 0.8];
    for _ in 0..4 {
        view(&mut m, t, 0, vec![looking(det("keys", put_down), behind)]);
        t += S;
    }
    (m, a, b)
}

#[test]
fn keys_carried_past_each_other_are_told_apart_by_their_looks() {
    // The sighting by the first keys' spot looks like the keys behind (1.0 against 0.88), found
    // gone, and the newcomer to the right like the first keys (1.0 against 0.88): refused to
    // the first keys, the sighting starts a track the keys behind are found in, and the first
    // keys, missed at their spot, are the newcomer. Two moves, each to where it went.
    let (m, a, b) = swapped_keys(true);
    let (oa, ob) = (m.object(a).unwrap(), m.object(b).unwrap());
    assert_eq!(oa.state, ObjectState::Moved, "{oa:?}");
    assert_eq!(ob.state, ObjectState::Moved, "{ob:?}");
    let right = nalgebra::Point3::new(0.3, -2.0, 0.8);
    let put_down = nalgebra::Point3::new(2.0, 0.6, 0.8);
    assert!((oa.position_world - right).norm() < 0.05, "{oa:?}");
    assert!((ob.position_world - put_down).norm() < 0.05, "{ob:?}");
    let changes = changes_since(&m, T0 + HOUR);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(m.objects().iter().filter(|o| o.is_reportable()).count(), 2);
    assert_sound_and_restorable(&m, &[a, b]);

    // Without the rule the first keys are taken to be still there, and the newcomer for the
    // keys behind: one move, to the wrong place.
    let (m, a, b) = swapped_keys(false);
    let (oa, ob) = (m.object(a).unwrap(), m.object(b).unwrap());
    assert!(
        oa.state.is_present() && oa.state != ObjectState::Moved,
        "{oa:?}"
    );
    assert!((ob.position_world - right).norm() < 0.05, "{ob:?}");
    assert_eq!(changes_since(&m, T0 + HOUR).len(), 1);
}

/// Keys A at (2, 0.50) looking `SEEN` and keys C at (2, 0.62) looking `c_look`, seen together
/// five times. An hour later A has been carried off, and C is seen three times at (2, 0.52):
/// nearer A's spot than its own (2 cm from it, 10 cm from C's), looking like C. Returns the
/// memory, A and C.
fn keys_left_beside_a_spot(
    c_look: [f32; 4],
    tweak: impl FnOnce(&mut MemoryConfig),
) -> (Memory, ObjectId, ObjectId) {
    let mut m = memory_with(tweak);
    let both = [keys_at(0.50, SEEN), keys_at(0.62, c_look)];
    let t = keyframes_in_a_row(&mut m, T0, 5, &both);
    let (a, c) = (
        object_at(&m, [2.0, 0.50, 0.8]),
        object_at(&m, [2.0, 0.62, 0.8]),
    );
    keyframes_in_a_row(&mut m, t + HOUR, 3, &[keys_at(0.52, c_look)]);
    (m, a, c)
}

/// Between look-alikes that their looks tell apart, a sighting goes to the one it looks like
/// (by the rival margin) even when it falls nearer the other: the keys left behind are not
/// charged a miss, and the ones carried off go missing. Between look-alikes about as alike as twins (cosine
/// 0.93), or with appearance descriptors too unsteady for one sighting to tell
/// (`association_min_appearance_cosine` set), position decides: the sightings keep the keys
/// carried off present.
#[test]
fn a_sighting_goes_to_the_look_alike_it_looks_like_though_it_falls_nearer_another() {
    const TOLD_APART: [f32; 4] = [0.88, 0.475, 0.0, 0.0];
    const ALMOST_TWINS: [f32; 4] = [0.93, 0.368, 0.0, 0.0];
    assert!((cosine(&TOLD_APART, &SEEN) - 0.88).abs() < 0.005);
    assert!((cosine(&ALMOST_TWINS, &SEEN) - 0.93).abs() < 0.005);
    // (C's look, unsteady descriptors, sightings go by looks)
    let cases = [
        (TOLD_APART, false, true),
        (ALMOST_TWINS, false, false),
        (TOLD_APART, true, false),
    ];
    for (c_look, unsteady, by_looks) in cases {
        let (m, a, c) = keys_left_beside_a_spot(c_look, |c| {
            if unsteady {
                c.association_min_appearance_cosine = Some(0.5);
            }
        });
        let (ao, co) = (m.object(a).unwrap(), m.object(c).unwrap());
        if by_looks {
            assert_eq!(ao.state, ObjectState::Missing, "{ao:?}");
            assert_eq!(co.state, ObjectState::Present, "{co:?}");
            // Falling within one sighting's noise of both, the sightings are shared: C, which
            // they fit better by looks, is not charged a miss.
            assert_eq!(co.missed_views, 0, "{co:?}");
            assert_sound_and_restorable(&m, &[c]);
        } else {
            assert_eq!(ao.state, ObjectState::Present, "{ao:?}");
            assert_eq!(ao.last_seen_ns, m.latest_stamp_ns().unwrap(), "{ao:?}");
        }
    }
}

/// Kettle B's look: cosine 0.97 with `SEEN` (kettle A's), near twins.
const B_TWIN: [f32; 4] = [0.97, 0.243, 0.0, 0.0];

/// Kettles A ahead of the robot at (2, 0.5) looking `SEEN`, and B behind it at (-2, 0.5), near
/// twins (cosine 0.97), seen five times each in turn. An hour later four views behind find B
/// gone, and one view ahead sees a kettle at (2, 0.55) looking `look`. Returns the memory, A
/// and B.
fn a_kettle_gone_and_one_seen_beside_its_twin(look: [f32; 4]) -> (Memory, ObjectId, ObjectId) {
    let mut m = memory_with(|_| {});
    let mut t = T0;
    for _ in 0..5 {
        for (p, yaw, seen) in [([2.0, 0.5, 0.8], 0.0, SEEN), ([-2.0, 0.5, 0.8], PI, B_TWIN)] {
            let d = looking(det("kettle", p), seen);
            m.ingest(&keyframe(t, 0.0, 0.0, yaw, vec![d])).unwrap();
            t += S;
        }
    }
    let (a, b) = (
        object_at(&m, [2.0, 0.5, 0.8]),
        object_at(&m, [-2.0, 0.5, 0.8]),
    );
    t += HOUR;
    for _ in 0..4 {
        m.ingest(&keyframe(t, 0.0, 0.0, PI, vec![])).unwrap();
        t += S;
    }
    assert_eq!(m.object(b).unwrap().state, ObjectState::Missing);
    let d = looking(det("kettle", [2.0, 0.55, 0.8]), look);
    m.ingest(&keyframe(t, 0.0, 0.0, 0.0, vec![d])).unwrap();
    (m, a, b)
}

/// A lone sighting 5 cm from a kettle, too unlike it to be matched (cosine 0.83) but about as
/// like it as like its missing near twin (0.86), is as likely the kettle's, seen with a noisy
/// look, as the twin carried there: the twin is not re-identified in it (seed 5461's kettles,
/// which swapped names). One that looks much more like the twin (0.90 against 0.77) is the
/// twin, put down beside it.
#[test]
fn a_lone_sighting_beside_a_look_alike_it_looks_about_as_much_like_is_no_missing_twin() {
    const AS_MUCH: [f32; 4] = [0.83, 0.226, 0.51, 0.0];
    const TWIN_S: [f32; 4] = [0.767, 0.642, 0.0, 0.0];
    let bound = MemoryConfig::default().min_appearance_cosine;
    assert!(cosine(&AS_MUCH, &SEEN) < bound);
    assert!(cosine(&AS_MUCH, &B_TWIN) >= bound);
    assert!((cosine(&AS_MUCH, &B_TWIN) - 0.86).abs() < 0.005);
    assert!((cosine(&TWIN_S, &B_TWIN) - 0.90).abs() < 0.005);
    assert!((cosine(&TWIN_S, &SEEN) - 0.767).abs() < 0.005);
    for (look, twin) in [(AS_MUCH, false), (TWIN_S, true)] {
        let (m, a, b) = a_kettle_gone_and_one_seen_beside_its_twin(look);
        let (ao, bo) = (m.object(a).unwrap(), m.object(b).unwrap());
        assert_eq!(ao.state, ObjectState::Present, "{ao:?}");
        if twin {
            assert_eq!(bo.state, ObjectState::Moved, "{bo:?}");
            assert!((bo.position_world.y - 0.55).abs() < 0.01, "{bo:?}");
            assert_sound_and_restorable(&m, &[a, b]);
        } else {
            assert_eq!(bo.state, ObjectState::Missing, "{bo:?}");
            assert_eq!(m.stats().reidentified, 0);
        }
    }
}

/// Keys P looking `SEEN` ahead of the robot at (2, 0.5) and keys Q looking 0.90 like them
/// behind it at (-2, 0.5), seen five times each. An hour later both have been carried to its
/// left, P to (0.3, 2.0) and Q 17 cm beside it: four views left see the two together, then
/// views ahead and behind find each gone and it is re-identified there. Another hour later Q
/// has been taken away: views to the left see only P, Q's spot empty. Returns the memory, P
/// and Q.
fn keys_moved_side_by_side_then_one_taken() -> (Memory, ObjectId, ObjectId) {
    const Q_LOOK: [f32; 4] = [0.90, 0.436, 0.0, 0.0];
    let (p_left, q_left) = ([0.3, 2.0, 0.8], [0.3, 2.17, 0.8]);
    let mut m = memory_with(|_| {});
    let mut t = T0;
    let view = |m: &mut Memory, t: &mut StampNs, yaw: f64, dets: Vec<Detection>| {
        m.ingest(&keyframe(*t, 0.0, 0.0, yaw, dets)).unwrap();
        *t += S;
    };
    for _ in 0..5 {
        let p_ahead = looking(det("keys", [2.0, 0.5, 0.8]), SEEN);
        view(&mut m, &mut t, 0.0, vec![p_ahead]);
        let q_behind = looking(det("keys", [-2.0, 0.5, 0.8]), Q_LOOK);
        view(&mut m, &mut t, PI, vec![q_behind]);
    }
    let (p, q) = (
        object_at(&m, [2.0, 0.5, 0.8]),
        object_at(&m, [-2.0, 0.5, 0.8]),
    );
    t += HOUR;
    let both = vec![
        looking(det("keys", p_left), SEEN),
        looking(det("keys", q_left), Q_LOOK),
    ];
    for _ in 0..4 {
        view(&mut m, &mut t, FRAC_PI_2, both.clone());
    }
    for yaw in [0.0, PI] {
        for _ in 0..4 {
            view(&mut m, &mut t, yaw, vec![]);
        }
    }
    for (id, spot) in [(p, p_left), (q, q_left)] {
        let o = m.object(id).unwrap();
        assert_eq!(o.state, ObjectState::Moved, "{o:?}");
        assert!((o.position_world - nalgebra::Point3::from(spot)).norm() < 0.01);
    }
    t += HOUR;
    for _ in 0..4 {
        let p_only = looking(det("keys", p_left), SEEN);
        view(&mut m, &mut t, FRAC_PI_2, vec![p_only]);
    }
    (m, p, q)
}

/// Keys seen side by side as newcomers, each re-identified as keys that went missing
/// elsewhere, were seen together: when one pair is taken away, its spot found empty beside the
/// other's, it goes missing and is not folded into the other as a duplicate track (seed
/// 5461's apples), though the tracks that saw them together are now the two keys'.
#[test]
fn keys_seen_together_as_newcomers_are_no_duplicates_once_re_identified() {
    let (m, p, q) = keys_moved_side_by_side_then_one_taken();
    let (po, qo) = (m.object(p).unwrap(), m.object(q).unwrap());
    assert_eq!(qo.state, ObjectState::Missing, "{qo:?}");
    assert!(!qo.retired, "{qo:?}");
    assert!(po.state.is_present(), "{po:?}");
    assert_eq!(m.stats().duplicates_merged, 0);
    let changes = changes_since(&m, T0 + 2 * HOUR);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].object_id, q);
    assert_eq!(changes[0].kind, mnemo::core::EventKind::Missing);
    assert_sound_and_restorable(&m, &[p]);
}

/// One keyframe from the origin, looking along `yaw`, with `dets`; the clock moves on a second.
fn view_from_origin(m: &mut Memory, t: &mut StampNs, yaw: f64, dets: Vec<Detection>) {
    m.ingest(&keyframe(*t, 0.0, 0.0, yaw, dets)).unwrap();
    *t += S;
}

/// The first sighting of a clock put down at (0.3, 2.0, 0.8), looking 0.87 like clock A.
const FIRST_LOOK_THERE: [f32; 4] = [0.87, 0.493, 0.0, 0.0];

/// Clock A looking `SEEN` ahead of the robot at (2, 0.5), seen five times. An hour later four
/// views ahead find it gone, and to the robot's left a clock is seen at (0.3, 2.0, 0.8),
/// looking `FIRST_LOOK_THERE`: A is taken to have moved there. Returns the memory, A and the
/// next keyframe's stamp.
fn a_clock_gone_and_taken_for_one_put_down_elsewhere() -> (Memory, ObjectId, StampNs) {
    let mut m = memory_with(|_| {});
    let mut t = T0;
    for _ in 0..5 {
        view_from_origin(&mut m, &mut t, 0.0, vec![look_at("clock", 0.5, SEEN)]);
    }
    let a = object_at(&m, [2.0, 0.5, 0.8]);
    t += HOUR;
    for _ in 0..4 {
        view_from_origin(&mut m, &mut t, 0.0, vec![]);
    }
    assert_eq!(m.object(a).unwrap().state, ObjectState::Missing);
    let first = looking(det("clock", [0.3, 2.0, 0.8]), FIRST_LOOK_THERE);
    view_from_origin(&mut m, &mut t, FRAC_PI_2, vec![first]);
    let ao = m.object(a).unwrap();
    assert_eq!(ao.state, ObjectState::Moved, "{ao:?}");
    (m, a, t)
}

/// [`a_clock_gone_and_taken_for_one_put_down_elsewhere`], then three sightings there looking
/// `later`. Returns the memory and A.
fn a_clock_gone_and_a_look_alike_put_down_elsewhere(later: [f32; 4]) -> (Memory, ObjectId) {
    let (mut m, a, mut t) = a_clock_gone_and_taken_for_one_put_down_elsewhere();
    for _ in 0..3 {
        let d = looking(det("clock", [0.31, 2.02, 0.8]), later);
        view_from_origin(&mut m, &mut t, FRAC_PI_2, vec![d]);
    }
    (m, a)
}

/// A clock found gone, then a clock seen elsewhere whose first sighting looked 0.87 like it
/// (taken for it, moved), but whose next sightings look 0.77 like it and 0.94 like that
/// first one: the clock put down there is another one, which happened to look like the one
/// taken away at first (seed 6785's clocks). The move is undone, the clock is missing from its
/// spot, and the one seen there is an object of its own. Sightings that look like neither
/// (0.80 like the clock, 0.78 like that first one, as a stray look would) undo nothing: the
/// clock moved there.
#[test]
fn a_look_alike_put_down_elsewhere_is_no_longer_taken_for_a_missing_object_once_it_looks_unlike_it()
{
    const LIKE_FIRST: [f32; 4] = [0.77, 0.548, 0.327, 0.0];
    const LIKE_NEITHER: [f32; 4] = [0.80, 0.170, 0.575, 0.0];
    const FIRST: [f32; 4] = FIRST_LOOK_THERE;
    let bound = MemoryConfig::default().min_appearance_cosine;
    assert!((cosine(&FIRST, &SEEN) - 0.87).abs() < 0.005);
    assert!((cosine(&LIKE_FIRST, &SEEN) - 0.77).abs() < 0.005);
    assert!((cosine(&LIKE_FIRST, &FIRST) - 0.94).abs() < 0.005);
    assert!((cosine(&LIKE_NEITHER, &SEEN) - 0.80).abs() < 0.005);
    assert!((cosine(&LIKE_NEITHER, &FIRST) - 0.78).abs() < 0.005);
    assert!(cosine(&LIKE_FIRST, &SEEN) < bound && cosine(&LIKE_NEITHER, &SEEN) < bound);
    for (later, another) in [(LIKE_FIRST, true), (LIKE_NEITHER, false)] {
        let (m, a) = a_clock_gone_and_a_look_alike_put_down_elsewhere(later);
        let ao = m.object(a).unwrap();
        let changes = changes_since(&m, T0 + HOUR);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].object_id, a);
        if another {
            assert_eq!(ao.state, ObjectState::Missing, "{ao:?}");
            assert!((ao.position_world - nalgebra::Point3::new(2.0, 0.5, 0.8)).norm() < 0.01);
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Missing);
            let other = object_at(&m, [0.31, 2.01, 0.8]);
            assert_ne!(other, a);
            let oo = m.object(other).unwrap();
            assert_eq!(oo.state, ObjectState::Present, "{oo:?}");
            assert_eq!(oo.times_seen, 4, "{oo:?}");
            assert_eq!(m.stats().links_retracted, 1);
            assert_sound_and_restorable(&m, &[other]);
        } else {
            assert_eq!(ao.state, ObjectState::Moved, "{ao:?}");
            assert!((ao.position_world - nalgebra::Point3::new(0.3, 2.0, 0.8)).norm() < 0.05);
            assert_eq!(changes[0].kind, mnemo::core::EventKind::Moved);
            assert_eq!(m.stats().links_retracted, 0);
            assert_sound_and_restorable(&m, &[a]);
        }
    }
}

/// Clock A, gone from its spot, was carried 60 cm below a look-alike put down at the same
/// time, whose first sighting looked 0.87 like A: A is taken to have moved to the look-alike.
/// The next view sees both, the look-alike (looking like A's first sighting there, so taken
/// for A again) and A itself below it (a newcomer, seen together with A's record). Then the
/// look-alike shows its own look (0.68 like A, 0.92 like its first sighting), the move is
/// undone, and A is missing again; A's newcomer is seen again. It was seen together with the
/// look-alike's sightings, not with A: A moved to it (seed 613's bananas), and the look-alike
/// is an object of its own.
#[test]
fn an_objects_newcomer_seen_beside_the_look_alike_taken_for_it_still_re_identifies_it() {
    const FIRST: [f32; 4] = FIRST_LOOK_THERE;
    const LIKE_FIRST: [f32; 4] = [0.68, 0.666, 0.3066, 0.0];
    assert!((cosine(&LIKE_FIRST, &SEEN) - 0.68).abs() < 0.005);
    assert!((cosine(&LIKE_FIRST, &FIRST) - 0.92).abs() < 0.005);
    let (there, below) = ([0.3, 2.0, 0.8], [0.3, 2.0, 0.2]);
    let (mut m, a, mut t) = a_clock_gone_and_taken_for_one_put_down_elsewhere();
    let both = vec![
        looking(det("clock", there), FIRST),
        looking(det("clock", below), SEEN),
    ];
    view_from_origin(&mut m, &mut t, FRAC_PI_2, both);
    let own_look = looking(det("clock", there), LIKE_FIRST);
    view_from_origin(&mut m, &mut t, FRAC_PI_2, vec![own_look.clone()]);
    assert_eq!(m.stats().links_retracted, 1);
    for _ in 0..3 {
        let both = vec![own_look.clone(), looking(det("clock", below), SEEN)];
        view_from_origin(&mut m, &mut t, FRAC_PI_2, both);
    }
    let ao = m.object(a).unwrap();
    assert_eq!(ao.state, ObjectState::Moved, "{ao:?}");
    assert!((ao.position_world - nalgebra::Point3::from(below)).norm() < 0.05);
    let other = object_at(&m, there);
    assert_ne!(other, a);
    let oo = m.object(other).unwrap();
    assert_eq!(oo.state, ObjectState::Present, "{oo:?}");
    let changes = changes_since(&m, T0 + HOUR);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].object_id, a);
    assert_eq!(changes[0].kind, mnemo::core::EventKind::Moved);
    assert_sound_and_restorable(&m, &[a, other]);
}

#[test]
fn a_stray_sighting_left_beside_a_vase_does_not_hide_where_the_vase_came_back_from() {
    // A stray sighting of a vase 22 cm beside it, from a place 3 m back (so views from the
    // vase's own place never charge the track it leaves a miss), looking too unlike the vase
    // (cosine 0.75) for its next sightings to go to it: a tentative track, left for good.
    // The vase is carried off to the side an hour later (a move), and the next hour back to
    // the stray's spot, looking a little different (0.95 like itself, 0.92 like the stray):
    // the tentative track takes the sighting. Its one sighting an hour and more ago was
    // probably the vase's, so the track starts over, and it is where the vase went when the
    // side spot is found empty. Otherwise it would count as an object seen since that first
    // hour, which the vase, seen at the side since then, cannot have become: the vase would
    // be reported missing.
    const LOOK: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const STRAY: [f32; 4] = [0.75, 0.661, 0.0, 0.0];
    const BACK: [f32; 4] = [0.95, 0.312, 0.0, 0.0];
    let vase = |p: [f64; 3], look: [f32; 4]| looking(det("vase", p), look);
    let mut m = memory_with(|_| {});
    let mut t = T0;
    m.ingest(&keyframe(
        t,
        -3.0,
        0.0,
        0.0,
        vec![vase([2.0, 0.22, 0.8], STRAY)],
    ))
    .unwrap();
    for _ in 0..5 {
        t += S;
        ingest(&mut m, t, vec![vase([2.0, 0.0, 0.8], LOOK)]);
    }
    let reportable = |m: &Memory| -> Vec<ObjectId> {
        m.objects()
            .iter()
            .filter(|o| o.is_reportable())
            .map(|o| o.id)
            .collect()
    };
    let ids = reportable(&m);
    assert_eq!(ids.len(), 1, "{:#?}", m.objects());
    let a = ids[0];
    let stray = m
        .objects()
        .iter()
        .find(|o| !o.confirmed && !o.retired)
        .map(|o| o.id)
        .unwrap();
    // Carried to the side.
    let side = [2.5, -1.0, 0.8];
    t += HOUR;
    for _ in 0..5 {
        ingest(&mut m, t, vec![vase(side, LOOK)]);
        t += S;
    }
    assert_eq!(m.resolve(a), a);
    assert!((m.object(a).unwrap().position_world.y - side[1]).abs() < 0.05);
    assert_eq!(m.object(a).unwrap().state, ObjectState::Moved);
    // Back, onto the stray's spot.
    let back_at = t + HOUR;
    t = back_at;
    for _ in 0..5 {
        ingest(&mut m, t, vec![vase([2.0, 0.2, 0.8], BACK)]);
        t += S;
    }
    assert_eq!(m.resolve(stray), a, "{:#?}", m.objects());
    let changes = changes_since(&m, back_at - 1);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].kind, mnemo::core::EventKind::Moved);
    assert!(
        (changes[0].to_world.unwrap()[1] - 0.2).abs() < 0.05,
        "{changes:?}"
    );
    assert_sound_and_restorable(&m, &[a]);
}

#[test]
fn a_mug_seen_once_beside_its_twin_and_again_a_visit_later_was_there_since_the_first() {
    // Two identical mugs 16 cm apart; the detector finds the second only once on the first
    // visit (two keyframes), in a keyframe that finds the first too, and once more an hour
    // later. Both
    // sightings are the second mug's (two detections in one image are two objects): the
    // track is confirmed as an object first seen on the first visit, not started over.
    let mut m = memory_with(|_| {});
    let mut t = T0;
    ingest(
        &mut m,
        t,
        vec![det("mug", [2.0, 0.0, 0.8]), det("mug", [2.0, 0.16, 0.8])],
    );
    let first = t;
    t += S;
    ingest(&mut m, t, vec![det("mug", [2.0, 0.0, 0.8])]);
    let second = m
        .objects()
        .iter()
        .find(|o| (o.position_world.y - 0.16).abs() < 0.03)
        .map(|o| o.id)
        .unwrap();
    t += HOUR;
    ingest(
        &mut m,
        t,
        vec![det("mug", [2.0, 0.0, 0.8]), det("mug", [2.0, 0.17, 0.8])],
    );
    let o = m.object(second).unwrap();
    assert!(o.confirmed, "{o:#?}");
    assert_eq!(o.first_seen_ns, first);
    assert_eq!(o.times_seen, 2);
}

#[test]
fn strays_between_twin_bowls_a_visit_apart_make_no_third_bowl() {
    // Two identical bowls 25 cm apart. In one keyframe the detector finds the right one and,
    // 12 cm from the left one, a sighting that looks off (cosine 0.75): a tentative track.
    // An hour later one sighting falls 1 cm from that track (looking like a bowl again): the
    // left bowl's, most likely. The old stray does not corroborate it (it may have been the
    // left bowl's too), so no third bowl is confirmed; seen at their spots afterwards, the two
    // bowls stay the only ones.
    const LOOK: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const STRAY: [f32; 4] = [0.75, 0.661, 0.0, 0.0];
    const AGAIN: [f32; 4] = [0.95, 0.312, 0.0, 0.0];
    let bowl = |y: f64, look: [f32; 4]| looking(det("bowl", [2.0, y, 0.8]), look);
    let mut m = memory_with(|_| {});
    let mut t = T0;
    for _ in 0..5 {
        ingest(&mut m, t, vec![bowl(0.0, LOOK), bowl(0.25, LOOK)]);
        t += S;
    }
    ingest(&mut m, t, vec![bowl(0.12, STRAY), bowl(0.25, LOOK)]);
    assert_eq!(m.objects().len(), 3, "{:#?}", m.objects());
    t += HOUR;
    ingest(&mut m, t, vec![bowl(0.11, AGAIN)]);
    // Started over: one sighting, first seen now, where it is seen now, as sure as a new one.
    let stray = m.objects().iter().find(|o| !o.confirmed).unwrap();
    assert_eq!(
        (stray.times_seen, stray.first_seen_ns, stray.last_seen_ns),
        (1, t, t)
    );
    assert!((stray.position_world.y - 0.11).abs() < 1e-9, "{stray:?}");
    assert_eq!(stray.confidence, 0.9);
    for _ in 0..4 {
        t += S;
        ingest(&mut m, t, vec![bowl(0.0, LOOK), bowl(0.25, LOOK)]);
    }
    let reportable = m.objects().iter().filter(|o| o.is_reportable()).count();
    assert_eq!(reportable, 2, "{:#?}", m.objects());
    assert_sound_and_restorable(&m, &[]);
}
