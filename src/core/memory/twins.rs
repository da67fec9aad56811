//! Count evidence for look-alike twins: two confirmed objects of one kind a few centimetres
//! apart, of which the detector keeps reporting only one.
//!
//! One sighting between two identical objects may be either's, and position noise along the
//! viewing ray (3 cm + 1 % of depth per axis) spreads the sightings of the one left over both
//! spots when its twin is taken away: each twin's run of misses is then broken by a sighting
//! that was really the other's, and neither ever goes missing. What does show is the count:
//! both in view, one sighting, keyframe after keyframe. This module keeps that count per pair
//! over one pass, and weighs, for each twin, the hypothesis that it stands there alone against
//! both standing there with the detector finding one of them each time:
//! - the count: one sighting where two were in view is 1 / (2 (1 - r)) times likelier with one
//!   object than with two, for a detector that finds an object in view with probability r
//!   (`MemoryConfig::twin_detection_recall`; 0.85 gives ln 3.3 = 1.2 a keyframe);
//! - where the sighting fell: with δ the log-likelihood ratio of its coming from this twin's
//!   spot rather than the other's, ln 2 - ln(1 + e^-δ): at most ln 2, and far below zero for a
//!   sighting on the other twin's spot (which the two-object hypothesis explains and the
//!   one-object one does not).
//!
//! Once the count reaches `missing_after_views` and one twin's sum `twin_evidence_llr` (3:
//! about 20 times likelier), the other is declared missing. The sightings it got in that pass
//! were its twin's: its last sighting goes back to before them, so a look-alike that turned up
//! elsewhere meanwhile can be where it went.

use super::*;
use std::f64::consts::LN_2;

/// ln(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Evidence on a pair of twins (the lower id first) gathered over keyframes of one pass in
/// which both were in view and only one was seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwinDeficit {
    /// Keyframes with both in view and one sighting between them.
    pub views: u32,
    /// Per twin (lower id first), the log-likelihood ratio (natural log) of its standing there
    /// alone against both standing there, from the count and the sightings' positions (see the
    /// module).
    pub alone_llr: [f64; 2],
    /// Each twin's last sighting before the first of those keyframes, ns (lower id first).
    pub seen_before_ns: [StampNs; 2],
    /// The latest of those keyframes, ns: a keyframe more than `missing_min_absence_s` later
    /// starts the count again (another pass).
    pub last_view_ns: StampNs,
}

/// One sighting applied in a keyframe: the object it went to (the better fit of a shared
/// one), where it was seen, its depth and the object's previous last sighting.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sighting {
    pub id: ObjectId,
    pub position_world: Point3<f64>,
    pub depth_m: f64,
    pub previous_seen_ns: StampNs,
}

impl Memory {
    /// Updates the pairs' evidence after a keyframe's change detection: `sightings` as
    /// applied, `charged` the confirmed objects charged a miss in this keyframe (in view, not
    /// occluded, unseen). A pair both seen is cleared; a charged object with a look-alike
    /// seen within `gate_base_m` adds a keyframe to the pair's count; a pair whose count
    /// reaches `missing_after_views` with one twin's ratio of standing alone at least
    /// `twin_evidence_llr` has the other declared missing, when that one had been unseen
    /// `missing_min_absence_s` before the pass began.
    pub(super) fn weigh_twins(
        &mut self,
        sightings: &[Sighting],
        charged: &[ObjectId],
        stamp: StampNs,
    ) {
        let decisive = self.config.twin_evidence_llr;
        if decisive <= 0.0
            || (self.twin_deficits.is_empty() && (charged.is_empty() || sightings.is_empty()))
        {
            return;
        }
        // Pairs both seen now, or no longer two present confirmed objects: cleared.
        let seen = |id: ObjectId| sightings.iter().any(|s| s.id == id);
        let stale: Vec<(ObjectId, ObjectId)> = self
            .twin_deficits
            .keys()
            .filter(|(a, b)| {
                (seen(*a) && seen(*b))
                    || !self.reportable_and_present(*a)
                    || !self.reportable_and_present(*b)
            })
            .copied()
            .collect();
        for key in stale {
            self.twin_deficits.remove(&key);
        }
        let radius_m = self.config.gate_base_m;
        let pass_ns = self.config.missing_min_absence_ns();
        // One sighting where two are in view: that much likelier with one object than two.
        let count_llr = -(2.0 * (1.0 - self.config.twin_detection_recall)).ln();
        // (pair, the twin found gone, its last sighting before the pass)
        let mut decided: Vec<((ObjectId, ObjectId), ObjectId, StampNs)> = Vec::new();
        for &b in charged {
            if !self.reportable_and_present(b) {
                continue;
            }
            let ob = &self.objects[b.index()];
            let dist =
                |id: ObjectId| (self.objects[id.index()].position_world - ob.position_world).norm();
            // The nearest look-alike seen in this keyframe.
            let twin = sightings
                .iter()
                .filter(|s| s.id != b && self.reportable_and_present(s.id))
                .filter(|s| {
                    let oa = &self.objects[s.id.index()];
                    oa.group == ob.group
                        && dist(s.id) <= radius_m
                        && appearance(oa, ob).is_none_or(|c| c >= self.config.min_appearance_cosine)
                })
                .min_by(|x, y| dist(x.id).total_cmp(&dist(y.id)).then(x.id.cmp(&y.id)));
            let Some(s) = twin else { continue };
            let a = s.id;
            let oa = &self.objects[a.index()];
            let sigma_m =
                self.config.detection_noise_m + self.config.ambiguity_margin_per_depth * s.depth_m;
            let d2 = |o: &MemoryObject| (o.position_world - s.position_world).norm_squared();
            // Positive: the sighting is likelier `a`'s.
            let llr_a = (d2(ob) - d2(oa)) / (2.0 * sigma_m * sigma_m);
            let (key, llr_lo, before) = if a < b {
                ((a, b), llr_a, [s.previous_seen_ns, ob.last_seen_ns])
            } else {
                ((b, a), -llr_a, [ob.last_seen_ns, s.previous_seen_ns])
            };
            let fresh = TwinDeficit {
                views: 0,
                alone_llr: [0.0; 2],
                seen_before_ns: before,
                last_view_ns: stamp,
            };
            let entry = self.twin_deficits.entry(key).or_insert(fresh);
            if stamp.saturating_sub(entry.last_view_ns) > pass_ns {
                *entry = fresh;
            }
            entry.last_view_ns = stamp;
            entry.views = entry.views.saturating_add(1);
            entry.alone_llr[0] += count_llr + LN_2 - softplus(-llr_lo);
            entry.alone_llr[1] += count_llr + LN_2 - softplus(llr_lo);
            // The twin the evidence says is left, and the one gone.
            let left = usize::from(entry.alone_llr[1] > entry.alone_llr[0]);
            let gone = 1 - left;
            if entry.views >= self.config.missing_after_views
                && entry.alone_llr[left] >= decisive
                && stamp.saturating_sub(entry.seen_before_ns[gone]) >= pass_ns
            {
                decided.push((key, [key.0, key.1][gone], entry.seen_before_ns[gone]));
            }
        }
        for (key, gone, seen_before_ns) in decided {
            if self.twin_deficits.remove(&key).is_some() && self.reportable_and_present(gone) {
                self.disown_sightings_after(gone, seen_before_ns);
                self.declare_missing(gone, stamp);
            }
        }
    }

    /// The sightings `id` got after `seen_ns` were its twin's: its last sighting, open visit
    /// and open placement end there again (a move is then judged from when it was really
    /// last seen, and the missing event says so).
    fn disown_sightings_after(&mut self, id: ObjectId, seen_ns: StampNs) {
        let Some(o) = self.objects.get_mut(id.index()) else {
            return;
        };
        if o.last_seen_ns <= seen_ns {
            return;
        }
        o.last_seen_ns = seen_ns.max(o.first_seen_ns);
        o.open_visit = match o.open_visit {
            Some((start, _)) if start > seen_ns => None,
            Some((start, end)) => Some((start, end.min(seen_ns))),
            None => None,
        };
        let open = o.placements.last().copied();
        self.touch(id);
        if let Some(p) = open.and_then(|p| self.placements.get_mut(p.index())) {
            if p.closed_at_ns.is_none() && p.last_seen_ns > seen_ns {
                p.last_seen_ns = seen_ns.max(p.start_ns);
                let pid = p.id;
                self.touch_placement(pid);
            }
        }
    }
}
