//! The question-answer set derived from ground truth, and the metrics of a memory's answers.
//!
//! Questions only ask what the robot could have known: an object counts as observed at a
//! placement once it was visible in [`OBSERVED_VIEWS`] keyframes there; a change counts as
//! observable when the old spot was in view in [`CHANGE_VIEWS`] keyframes of the next patrol (and,
//! for a move, the new spot was observed). Of two identical twins that both changed in one gap
//! (both moved, or one moved and the other was removed), which is which is unobservable: either
//! assignment of their origins counts.

use std::collections::BTreeSet;

use nalgebra::Point3;
use serde::{Deserialize, Serialize};

use crate::core::episodic::EventKind;
use crate::core::memory::{ColdEvents, Memory};
use crate::core::query::{Answer, ChangeHit, Query, Target};
use crate::core::time::{ns_to_secs, StampNs, TimeWindow};

use super::scenario::{GroundTruth, GtChangeKind, GtObject};
use super::world::look_alike_groups;

/// Visible keyframes at a placement before the robot can know the object is there.
pub const OBSERVED_VIEWS: usize = 2;
/// Keyframes of the next patrol that must cover an old spot for its change to be observable.
pub const CHANGE_VIEWS: u32 = 3;
/// An answer within this distance of the truth counts as found, m.
pub const FOUND_RADIUS_M: f64 = 0.5;
/// Radius of the `near` questions, m.
pub const NEAR_RADIUS_M: f64 = 1.0;
/// Error recorded when a question gets no usable answer (m or s).
pub const UNANSWERED: f64 = 1.0e6;

/// A true change: `(moved?, label, from, to)` (`to` only for moves).
pub type TrueChange = (bool, String, Point3<f64>, Option<Point3<f64>>);

/// One question with its true answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    /// Where are the objects labelled `label` (now, or at `at_ns`)?
    Where {
        /// Label asked for.
        label: String,
        /// `None`: now (end of the run).
        at_ns: Option<StampNs>,
        /// True positions of the observed instances.
        instances: Vec<Point3<f64>>,
    },
    /// When was this object last seen?
    LastSeen {
        /// Its label.
        label: String,
        /// Where it was when last visible.
        position: Point3<f64>,
        /// When it was last visible, ns.
        truth_ns: StampNs,
    },
    /// Which objects moved or went missing in `window`?
    Changes {
        /// The window (end of one patrol to the end of the next).
        window: TimeWindow,
        /// Observable changes: `(moved?, label, from, to)`.
        observable: Vec<TrueChange>,
        /// Changes too poorly observed to ask about (answers matching them are not counted).
        unobservable: Vec<TrueChange>,
        /// Pairs of indices into `observable`: changes of identical twins (same class, same
        /// appearance) in this window, at least one of them a move. Which of the two is which
        /// cannot be observed (which went where; or, one moved and one removed, which was
        /// taken away), so an answer that gives each change the other's origin counts as right
        /// too.
        twin_changes: Vec<(usize, usize)>,
    },
    /// What stood within `radius_m` of `point` during `window`?
    Near {
        /// Centre, map frame.
        point: Point3<f64>,
        /// Radius, m.
        radius_m: f64,
        /// Window (a patrol).
        window: TimeWindow,
        /// Observed objects truly there: `(label, position)`.
        truth: Vec<(String, Point3<f64>)>,
    },
}

/// Metrics of one evaluation, as printed by `mnemo eval --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Questions asked.
    pub questions: usize,
    /// Median distance from each true instance to the nearest answered position, m.
    pub where_median_error_m: f64,
    /// 90th percentile of the same, m.
    pub where_p90_error_m: f64,
    /// Fraction of true instances with an answer within 0.5 m.
    pub where_found_rate: f64,
    /// Median |answered last sighting - true last visibility|, s.
    pub last_seen_median_error_s: f64,
    /// Reported changes that are real.
    pub change_precision: f64,
    /// Real, observable changes that were reported.
    pub change_recall: f64,
    /// Harmonic mean of the two.
    pub change_f1: f64,
    /// `near` answers that were really there.
    pub near_precision: f64,
    /// Objects really there that `near` returned.
    pub near_recall: f64,
    /// Objects (furniture included) present in the world at the end.
    pub objects_in_world: usize,
    /// Confirmed objects the memory believes present at the end.
    pub objects_in_memory: usize,
}

fn compatible(a: &str, b: &str, groups: &[Vec<String>]) -> bool {
    a == b
        || groups
            .iter()
            .any(|g| g.iter().any(|x| x == a) && g.iter().any(|x| x == b))
}

fn observed_placements(o: &GtObject, t: StampNs) -> Option<Point3<f64>> {
    let p = o.placement_at(t)?;
    (p.seen_by(t) >= OBSERVED_VIEWS).then_some(p.position)
}

/// Builds the question set from the ground truth.
pub fn questions(truth: &GroundTruth) -> Vec<Question> {
    let mut out = Vec::new();
    let Some(last) = truth.patrols.last() else {
        return out;
    };
    let end = last.end_ns;
    let small: Vec<&GtObject> = truth
        .objects
        .iter()
        .filter(|o| o.furniture.is_none())
        .collect();
    // Where now, and where at the end of each earlier patrol.
    let mut times: Vec<Option<StampNs>> = vec![None];
    times.extend(
        truth.patrols[..truth.patrols.len() - 1]
            .iter()
            .map(|p| Some(p.end_ns)),
    );
    for at in times {
        let t = at.unwrap_or(end);
        let mut by_label: std::collections::BTreeMap<&str, Vec<Point3<f64>>> = Default::default();
        for o in &small {
            if let Some(p) = observed_placements(o, t) {
                by_label.entry(o.label).or_default().push(p);
            }
        }
        for (label, instances) in by_label {
            out.push(Question::Where {
                label: label.to_string(),
                at_ns: at,
                instances,
            });
        }
    }
    // Last seen.
    for o in &small {
        let seen: usize = o.placements.iter().map(|p| p.seen_ns.len()).sum();
        if seen < OBSERVED_VIEWS {
            continue;
        }
        if let Some((t, p)) = o
            .placements
            .iter()
            .filter_map(|p| p.seen_ns.last().map(|t| (*t, p.position)))
            .max_by_key(|(t, _)| *t)
        {
            out.push(Question::LastSeen {
                label: o.label.to_string(),
                position: p,
                truth_ns: t,
            });
        }
    }
    // Changes between consecutive patrols.
    for (gap, w) in truth.patrols.windows(2).enumerate() {
        let Ok(window) = TimeWindow::new(w[0].end_ns + 1, w[1].end_ns) else {
            continue;
        };
        let mut observable = Vec::new();
        let mut observable_objects = Vec::new();
        let mut unobservable = Vec::new();
        for c in truth
            .changes
            .iter()
            .filter(|c| c.gap == gap && c.kind != GtChangeKind::Added)
        {
            let o = &truth.objects[c.object];
            let Some(from) = c.from else { continue };
            let moved = c.kind == GtChangeKind::Moved;
            let known_before = o
                .placements
                .iter()
                .find(|p| p.to_ns == Some(c.time_ns))
                .is_some_and(|p| p.seen_by(w[0].end_ns) >= OBSERVED_VIEWS);
            let new_seen = !moved
                || o.placement_at(w[1].end_ns).is_some_and(|p| {
                    p.from_ns == c.time_ns && p.seen_by(w[1].end_ns) >= OBSERVED_VIEWS
                });
            let entry = (moved, o.label.to_string(), from, c.to);
            if known_before && new_seen && c.old_spot_views >= CHANGE_VIEWS {
                observable.push(entry);
                observable_objects.push(c.object);
            } else {
                unobservable.push(entry);
            }
        }
        let mut twin_changes = Vec::new();
        for i in 0..observable.len() {
            for j in i + 1..observable.len() {
                let (a, b) = (
                    &truth.objects[observable_objects[i]],
                    &truth.objects[observable_objects[j]],
                );
                // Two removals swapped are the same two removals.
                if (observable[i].0 || observable[j].0)
                    && a.label == b.label
                    && a.appearance == b.appearance
                {
                    twin_changes.push((i, j));
                }
            }
        }
        out.push(Question::Changes {
            window,
            observable,
            unobservable,
            twin_changes,
        });
    }
    // Near each furniture top, during each patrol.
    for patrol in &truth.patrols {
        let Ok(window) = TimeWindow::new(patrol.start_ns, patrol.end_ns) else {
            continue;
        };
        for f in &truth.layout.furniture {
            let point = Point3::new(f.center.x, f.center.y, f.center.z + f.extent.z / 2.0);
            let truth_here: Vec<(String, Point3<f64>)> = truth
                .objects
                .iter()
                .filter_map(|o| {
                    let p = o.placements.iter().find(|p| {
                        p.from_ns <= patrol.end_ns && p.to_ns.is_none_or(|e| e > patrol.start_ns)
                    })?;
                    ((p.position - point).norm() <= NEAR_RADIUS_M
                        && p.seen_by(patrol.end_ns) >= OBSERVED_VIEWS)
                        .then(|| (o.label.to_string(), p.position))
                })
                .collect();
            out.push(Question::Near {
                point,
                radius_m: NEAR_RADIUS_M,
                window,
                truth: truth_here,
            });
        }
    }
    out
}

/// One-to-one matching of answered changes to true ones (greedy by cost; `matches` gives the
/// cost of a pair that matches). For each pair of twin changes, the origins are swapped when
/// that matches more answers: which of two identical objects went where (or which of them was
/// taken away) cannot be observed. Returns `(answer, truth)` index pairs.
fn match_changes<P>(
    preds: &[P],
    observable: &[TrueChange],
    twin_changes: &[(usize, usize)],
    matches: impl Fn(&P, &TrueChange) -> Option<f64>,
) -> Vec<(usize, usize)> {
    let match_all = |truth: &[TrueChange]| {
        let mut costs = Vec::new();
        for (i, p) in preds.iter().enumerate() {
            for (j, t) in truth.iter().enumerate() {
                if let Some(c) = matches(p, t) {
                    costs.push((c, i, j));
                }
            }
        }
        greedy_match(costs)
    };
    let mut truth = observable.to_vec();
    let mut matched = match_all(&truth);
    for &(a, b) in twin_changes {
        let mut swapped = truth.clone();
        (swapped[a].2, swapped[b].2) = (truth[b].2, truth[a].2);
        let m = match_all(&swapped);
        if m.len() > matched.len() {
            (truth, matched) = (swapped, m);
        }
    }
    matched
}

fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((v.len() - 1) as f64 * q).round() as usize;
    v[idx.min(v.len() - 1)]
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn pt(a: &[f64; 3]) -> Point3<f64> {
    Point3::new(a[0], a[1], a[2])
}

/// Greedy one-to-one matching of predictions to truths by a cost; returns matched pairs.
fn greedy_match(costs: Vec<(f64, usize, usize)>) -> Vec<(usize, usize)> {
    let mut costs = costs;
    costs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_a = std::collections::BTreeSet::new();
    let mut used_b = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (_, a, b) in costs {
        if used_a.insert(a) {
            if used_b.insert(b) {
                out.push((a, b));
            } else {
                used_a.remove(&a);
            }
        }
    }
    out
}

/// How the memory's answer to one [`Question::Changes`] scores: what `evaluate` counts and
/// `explain_changes` shows.
struct ChangeScore {
    /// Every change the memory reported in the window (reappearances included).
    hits: Vec<ChangeHit>,
    /// Indices into `hits` of the scored answers (moves and missing objects).
    preds: Vec<usize>,
    /// `(index into preds, index into observable)` of the right answers.
    matched: Vec<(usize, usize)>,
    /// Indices into `preds` of wrong answers that describe an unobservable real change (not
    /// counted either way).
    unobservable: BTreeSet<usize>,
}

/// Asks the memory for the changes in a [`Question::Changes`]'s window and matches its moves
/// and missing objects to the true ones; `None` for another question or when the query fails.
fn score_changes(
    memory: &Memory,
    cold: Option<&dyn ColdEvents>,
    groups: &[Vec<String>],
    question: &Question,
) -> Option<ChangeScore> {
    let Question::Changes {
        window,
        observable,
        unobservable,
        twin_changes,
    } = question
    else {
        return None;
    };
    let Ok(Answer::Changes(hits)) = memory.query_with(
        &Query::Changes {
            window: *window,
            label: None,
        },
        cold,
    ) else {
        return None;
    };
    let preds: Vec<usize> = (0..hits.len())
        .filter(|i| matches!(hits[*i].kind, EventKind::Moved | EventKind::Missing))
        .collect();
    let matches_truth = |pred: &ChangeHit, t: &TrueChange| -> Option<f64> {
        let moved = pred.kind == EventKind::Moved;
        if moved != t.0 || !compatible(&pred.label, &t.1, groups) {
            return None;
        }
        let d_from = (pt(&pred.from_world) - t.2).norm();
        let d_to = match (pred.to_world, t.3) {
            (Some(a), Some(b)) => (pt(&a) - b).norm(),
            _ => 0.0,
        };
        (d_from <= FOUND_RADIUS_M && d_to <= FOUND_RADIUS_M).then_some(d_from + d_to)
    };
    let matched = match_changes(&preds, observable, twin_changes, |p, t| {
        matches_truth(&hits[*p], t)
    });
    let matched_preds: BTreeSet<usize> = matched.iter().map(|m| m.0).collect();
    // Unmatched answers that describe an unobservable real change are not counted.
    let unobservable = (0..preds.len())
        .filter(|i| {
            !matched_preds.contains(i)
                && unobservable
                    .iter()
                    .any(|t| matches_truth(&hits[preds[*i]], t).is_some())
        })
        .collect();
    Some(ChangeScore {
        hits,
        preds,
        matched,
        unobservable,
    })
}

/// Asks the memory every question and scores the answers; `cold` serves events the memory
/// evicted from RAM (a store), if any.
pub fn evaluate(
    memory: &Memory,
    cold: Option<&dyn ColdEvents>,
    truth: &GroundTruth,
    questions: &[Question],
) -> EvalReport {
    let groups = look_alike_groups();
    let mut where_errors = Vec::new();
    let mut last_seen_errors = Vec::new();
    let (mut change_tp, mut change_pred, mut change_truth) = (0usize, 0usize, 0usize);
    let (mut near_tp_pred, mut near_pred, mut near_tp_truth, mut near_truth) =
        (0usize, 0usize, 0usize, 0usize);
    for q in questions {
        match q {
            Question::Where {
                label,
                at_ns,
                instances,
            } => {
                let answer = memory.query_with(
                    &Query::Where {
                        target: Target::Label(label.clone()),
                        k: 1000,
                        at_ns: *at_ns,
                    },
                    cold,
                );
                let positions: Vec<Point3<f64>> = match answer {
                    Ok(Answer::Objects(hits)) => hits
                        .iter()
                        .filter(|h| h.state.is_present())
                        .map(|h| pt(&h.position_world))
                        .collect(),
                    _ => Vec::new(),
                };
                for inst in instances {
                    let err = positions
                        .iter()
                        .map(|p| (p - inst).norm())
                        .fold(UNANSWERED, f64::min);
                    where_errors.push(err);
                }
            }
            Question::LastSeen {
                label,
                position,
                truth_ns,
            } => {
                let answer = memory.query_with(
                    &Query::When {
                        target: Target::Label(label.clone()),
                        window: TimeWindow::all(),
                    },
                    cold,
                );
                let best = match answer {
                    Ok(Answer::Timeline(entries)) => entries
                        .iter()
                        .filter(|e| {
                            e.kind == EventKind::Visit
                                && (pt(&e.position_world) - position).norm() <= FOUND_RADIUS_M
                        })
                        .map(|e| e.end_ns)
                        .max(),
                    _ => None,
                };
                last_seen_errors
                    .push(best.map_or(UNANSWERED, |t| ns_to_secs((t - truth_ns).abs())));
            }
            Question::Changes { observable, .. } => {
                let Some(score) = score_changes(memory, cold, &groups, q) else {
                    continue;
                };
                change_tp += score.matched.len();
                change_pred += score.preds.len() - score.unobservable.len();
                change_truth += observable.len();
            }
            Question::Near {
                point,
                radius_m,
                window,
                truth: t,
            } => {
                let answer = memory.query_with(
                    &Query::Near {
                        point_world: *point,
                        radius_m: *radius_m,
                        window: *window,
                        label: None,
                        k: 10_000,
                    },
                    cold,
                );
                let hits = match answer {
                    Ok(Answer::Objects(hits)) => hits,
                    _ => Vec::new(),
                };
                let mut costs = Vec::new();
                for (i, h) in hits.iter().enumerate() {
                    for (j, (label, pos)) in t.iter().enumerate() {
                        let d = (pt(&h.position_world) - pos).norm();
                        if d <= FOUND_RADIUS_M && compatible(&h.label, label, &groups) {
                            costs.push((d, i, j));
                        }
                    }
                }
                let matched = greedy_match(costs).len();
                near_tp_pred += matched;
                near_tp_truth += matched;
                near_pred += hits.len();
                near_truth += t.len();
            }
        }
    }
    let found = where_errors
        .iter()
        .filter(|e| **e <= FOUND_RADIUS_M)
        .count();
    let change_precision = ratio(change_tp, change_pred);
    let change_recall = ratio(change_tp, change_truth);
    let change_f1 = if change_precision + change_recall > 0.0 {
        2.0 * change_precision * change_recall / (change_precision + change_recall)
    } else {
        0.0
    };
    let end = truth.patrols.last().map_or(0, |p| p.end_ns);
    EvalReport {
        questions: questions.len(),
        where_median_error_m: median(&mut where_errors.clone()),
        where_p90_error_m: percentile(&mut where_errors.clone(), 0.9),
        where_found_rate: ratio(found, where_errors.len()),
        last_seen_median_error_s: median(&mut last_seen_errors),
        change_precision,
        change_recall,
        change_f1,
        near_precision: ratio(near_tp_pred, near_pred),
        near_recall: ratio(near_tp_truth, near_truth),
        objects_in_world: truth.objects.iter().filter(|o| o.present_at(end)).count(),
        objects_in_memory: memory.present_object_count(),
    }
}

/// Lines describing, per patrol gap, the true changes and what the memory reported, each
/// marked as `evaluate` scored it (for `mnemo eval --explain`): a true change `[found]` or
/// `[MISSED]`, a reported move or missing object `[right]`, `[WRONG]` or `[unobservable]` (it
/// describes a real change too poorly observed to ask about, and is not counted), other
/// reports `[not scored]`; then the window's counts.
pub fn explain_changes(
    memory: &Memory,
    cold: Option<&dyn ColdEvents>,
    questions: &[Question],
) -> Vec<String> {
    let groups = look_alike_groups();
    let mut out = Vec::new();
    for q in questions {
        let Question::Changes {
            window,
            observable,
            unobservable,
            twin_changes,
        } = q
        else {
            continue;
        };
        out.push(format!(
            "window {} .. {}",
            window.start_ns(),
            window.end_ns()
        ));
        let score = score_changes(memory, cold, &groups, q);
        let found: BTreeSet<usize> = score
            .iter()
            .flat_map(|s| s.matched.iter().map(|m| m.1))
            .collect();
        let show = |t: &TrueChange| {
            let to =
                t.3.map(|p| format!(" -> ({:.2}, {:.2}, {:.2})", p.x, p.y, p.z))
                    .unwrap_or_default();
            format!(
                "{} {} ({:.2}, {:.2}, {:.2}){to}",
                if t.0 { "moved" } else { "removed" },
                t.1,
                t.2.x,
                t.2.y,
                t.2.z
            )
        };
        for (j, t) in observable.iter().enumerate() {
            let mark = if found.contains(&j) {
                "found"
            } else {
                "MISSED"
            };
            out.push(format!("  truth       {} [{mark}]", show(t)));
        }
        for t in unobservable {
            out.push(format!("  unobserved  {}", show(t)));
        }
        for &(a, b) in twin_changes {
            let (a, b) = (&observable[a], &observable[b]);
            out.push(format!(
                "  twins       {} ({:.2}, {:.2}, {:.2}) and ({:.2}, {:.2}, {:.2}): identical, so {} \
                 cannot be observed",
                a.1,
                a.2.x,
                a.2.y,
                a.2.z,
                b.2.x,
                b.2.y,
                b.2.z,
                if a.0 && b.0 {
                    "which went where"
                } else {
                    "which moved and which was taken away"
                }
            ));
        }
        let Some(score) = score else {
            out.push("  (the changes query failed)".to_string());
            continue;
        };
        let right: BTreeSet<usize> = score.matched.iter().map(|m| score.preds[m.0]).collect();
        let not_counted: BTreeSet<usize> =
            score.unobservable.iter().map(|i| score.preds[*i]).collect();
        for (i, h) in score.hits.iter().enumerate() {
            let to = h
                .to_world
                .map(|p| format!(" -> ({:.2}, {:.2}, {:.2})", p[0], p[1], p[2]))
                .unwrap_or_default();
            let mark = if right.contains(&i) {
                "right"
            } else if not_counted.contains(&i) {
                "unobservable"
            } else if score.preds.contains(&i) {
                "WRONG"
            } else {
                "not scored"
            };
            out.push(format!(
                "  reported    {} {} #{} ({:.2}, {:.2}, {:.2}){to} [{mark}]",
                h.kind.as_str(),
                h.label,
                h.object_id,
                h.from_world[0],
                h.from_world[1],
                h.from_world[2]
            ));
        }
        let scored = score.preds.len() - score.unobservable.len();
        out.push(format!(
            "  {} of {} true changes found, {} of {} scored reports right",
            score.matched.len(),
            observable.len(),
            score.matched.len(),
            scored
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_matching_is_one_to_one() {
        let m = greedy_match(vec![(0.1, 0, 0), (0.2, 1, 0), (0.3, 1, 1), (0.05, 0, 1)]);
        assert_eq!(m, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn identical_twins_changed_crosswise_count_as_either_assignment() {
        let p = |x: f64| Point3::new(x, 0.0, 0.0);
        let mv = |from: f64, to: f64| (true, "glass".to_string(), p(from), Some(p(to)));
        let same = |a: &TrueChange, b: &TrueChange| {
            let to_same = match (a.3, b.3) {
                (Some(x), Some(y)) => (x - y).norm() <= FOUND_RADIUS_M,
                (None, None) => true,
                _ => false,
            };
            (a.0 == b.0 && (a.2 - b.2).norm() <= FOUND_RADIUS_M && to_same).then_some(0.0)
        };
        let truth = vec![mv(0.0, 10.0), mv(2.0, 20.0)];
        let crosswise = vec![mv(0.0, 20.0), mv(2.0, 10.0)];
        // Twins: the crosswise answer is as right as the straight one.
        assert_eq!(match_changes(&crosswise, &truth, &[(0, 1)], same).len(), 2);
        assert_eq!(match_changes(&truth, &truth, &[(0, 1)], same).len(), 2);
        // Not twins: crosswise is wrong twice.
        assert_eq!(match_changes(&crosswise, &truth, &[], same).len(), 0);
        // Both sent to one destination: only one of them can be right, swapped or not.
        let both_to_10 = vec![mv(0.0, 10.0), mv(2.0, 10.0)];
        assert_eq!(match_changes(&both_to_10, &truth, &[(0, 1)], same).len(), 1);

        // One twin moved, the other taken away: which is which cannot be observed either.
        let gone = |from: f64| (false, "glass".to_string(), p(from), None);
        let truth = vec![mv(0.0, 10.0), gone(2.0)];
        let crosswise = vec![mv(2.0, 10.0), gone(0.0)];
        assert_eq!(match_changes(&crosswise, &truth, &[(0, 1)], same).len(), 2);
        assert_eq!(match_changes(&truth, &truth, &[(0, 1)], same).len(), 2);
        assert_eq!(match_changes(&crosswise, &truth, &[], same).len(), 0);
        // The move's destination still has to be right.
        let elsewhere = vec![mv(2.0, 30.0), gone(0.0)];
        assert_eq!(match_changes(&elsewhere, &truth, &[(0, 1)], same).len(), 1);
    }

    #[test]
    fn percentiles() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&mut v), 3.0);
        assert_eq!(percentile(&mut v, 0.9), 5.0);
        assert_eq!(median(&mut []), 0.0);
    }
}
