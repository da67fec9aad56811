//! Accuracy floors of the memory on small simulated worlds (answers scored against ground truth).
//! Floors sit below the targets that `mnemo eval` reports against, so that a regression fails
//! here while seed-to-seed variation does not.

use mnemo::sim::{memory_config, run_eval, SimConfig};

#[test]
fn default_world_meets_accuracy_floors() {
    for seed in [1, 2, 3] {
        let run = run_eval(
            &SimConfig {
                seed,
                ..SimConfig::default()
            },
            memory_config(),
        )
        .unwrap();
        let r = &run.report;
        assert_eq!(run.rejected_keyframes, 0);
        assert!(r.questions > 100, "seed {seed}: {r:?}");
        assert!(r.where_median_error_m <= 0.25, "seed {seed}: {r:?}");
        assert!(r.where_found_rate >= 0.95, "seed {seed}: {r:?}");
        assert!(r.last_seen_median_error_s <= 1.0, "seed {seed}: {r:?}");
        assert!(
            r.near_recall >= 0.95 && r.near_precision >= 0.9,
            "seed {seed}: {r:?}"
        );
        assert!(r.change_f1 >= 0.8, "seed {seed}: {r:?}");
        assert!(
            r.objects_in_memory.abs_diff(r.objects_in_world) <= 5,
            "seed {seed}: {r:?}"
        );
    }
}

/// One detection in ten carries an appearance embedding unrelated to its object, as a
/// descriptor of an image region mostly covered by something nearer would. A track whose look
/// rests on such a sighting must not turn the object's later sightings into duplicates and
/// "replacements" (before tracks pooled their looks, seed 3 scored 0.875).
#[test]
fn sightings_that_look_wrong_now_and_then_keep_the_change_target() {
    for seed in [1, 2, 3] {
        let run = run_eval(
            &SimConfig {
                seed,
                appearance_outlier_rate: 0.1,
                ..SimConfig::default()
            },
            memory_config(),
        )
        .unwrap();
        let r = &run.report;
        assert!(r.change_f1 >= 0.9, "seed {seed}: {r:?}");
        assert!(
            r.objects_in_memory.abs_diff(r.objects_in_world) <= 5,
            "seed {seed}: {r:?}"
        );
    }
}

#[test]
fn a_blind_detector_scores_badly() {
    // The metrics can fail: with almost no detections the memory cannot answer.
    let run = run_eval(
        &SimConfig {
            seed: 1,
            days: 1,
            detection_recall: 0.02,
            ..SimConfig::default()
        },
        memory_config(),
    )
    .unwrap();
    assert!(run.report.where_found_rate < 0.5, "{:?}", run.report);
}

#[test]
fn explain_marks_every_change_as_the_scores_count_it() {
    // Seed 7 misses a move (recall 0.96), so both marks of a true change occur.
    let run = run_eval(
        &SimConfig {
            seed: 7,
            ..SimConfig::default()
        },
        memory_config(),
    )
    .unwrap();
    let lines = mnemo::sim::qa::explain_changes(&run.memory, None, &run.questions);
    let count = |mark: &str| lines.iter().filter(|l| l.ends_with(mark)).count();
    let (found, missed) = (count("[found]"), count("[MISSED]"));
    let (right, wrong) = (count("[right]"), count("[WRONG]"));
    assert!(missed > 0 && found > 0, "{lines:#?}");
    assert_eq!(found, right);
    let r = &run.report;
    assert!((r.change_recall - found as f64 / (found + missed) as f64).abs() < 1e-12);
    assert!((r.change_precision - right as f64 / (right + wrong) as f64).abs() < 1e-12);
    // Every true change and every report carries a mark.
    for l in &lines {
        let t = l.trim_start();
        if t.starts_with("truth") || t.starts_with("reported") {
            assert!(l.ends_with(']'), "{l}");
        }
    }
}

/// Seed 1495: of two identical hats, one was taken away and the other moved in one patrol gap;
/// the memory reported the other assignment (the first hat moved, the second gone), which no
/// observation can tell from the true one. The question pairs the two changes as twins, and
/// both reports count as right, as for two twins that both moved.
#[test]
fn a_twin_taken_away_while_its_twin_moved_may_be_either_one() {
    use mnemo::sim::qa::{explain_changes, Question};
    let run = run_eval(
        &SimConfig {
            seed: 1495,
            ..SimConfig::default()
        },
        memory_config(),
    )
    .unwrap();
    let removal_and_move = run.questions.iter().any(|q| match q {
        Question::Changes {
            observable,
            twin_changes,
            ..
        } => twin_changes
            .iter()
            .any(|&(a, b)| observable[a].0 != observable[b].0 && observable[a].1 == "hat"),
        _ => false,
    });
    assert!(removal_and_move);
    let lines = explain_changes(&run.memory, None, &run.questions);
    let hats: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" hat ") && (l.contains("truth") || l.contains("reported")))
        .collect();
    assert!(
        hats.iter().any(|l| l.contains("reported    missing hat")),
        "{hats:#?}"
    );
    assert!(
        hats.iter()
            .all(|l| l.ends_with("[found]") || l.ends_with("[right]")),
        "{hats:#?}"
    );
    assert!(run.report.change_f1 >= 0.9, "{:?}", run.report);
}
