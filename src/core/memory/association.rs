//! Association: validating detections into the map frame, gating candidates from the k-d
//! tree (label, size, appearance), one-to-one assignment, and applying a sighting to an object
//! (robust position, label votes, visits) or creating a tentative one; a tentative track
//! whose old sighting may have been a look-alike's starts over when seen on a later visit.

use super::changes::RIVAL_MARGIN;
use super::*;

/// What association made of one detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Assoc {
    /// It is a sighting of this object.
    Match(ObjectId),
    /// It fits the first object, but nearly as well a second one of the same kind that got no
    /// detection in this keyframe: one of the two was seen, which one is unclear. Neither is
    /// updated; the first, which it fits better, is not charged a miss, the second is (when one
    /// of two twins is taken away, the sightings of the one left fit that one better, so the
    /// gone one's misses still count) unless the first is a tentative track (the second, which
    /// is always confirmed, is not charged for a hypothesis that may be its own duplicate).
    Shared(ObjectId, ObjectId),
    /// Nothing known fits: a new object.
    New,
    /// It fits this present object, but is rather a missing look-alike's, put down where this
    /// one stood ([`Memory::sighting_is_a_swapped_look_alikes`]): a new object, never the same
    /// as this one.
    Refused(ObjectId),
}

impl Memory {
    pub(super) fn world_detections(
        &mut self,
        obs: &Observation,
        camera_from_world: &Isometry3<f64>,
        report: &mut IngestReport,
    ) -> Vec<WorldDetection> {
        let mut out = Vec::with_capacity(obs.detections.len());
        for (i, d) in obs.detections.iter().enumerate() {
            let label = normalized_label(&d.label);
            if label.is_empty() {
                report.rejected.push((i, RejectReason::EmptyLabel));
                continue;
            }
            if !point_is_finite(&d.position_m) {
                report.rejected.push((i, RejectReason::NonFinitePosition));
                continue;
            }
            if !vector_is_finite(&d.extent_m)
                || d.extent_m
                    .iter()
                    .any(|c| *c < 0.0 || *c > MAX_OBJECT_EXTENT_M)
            {
                report.rejected.push((i, RejectReason::BadExtent));
                continue;
            }
            if !(d.score.is_finite() && d.score > 0.0 && d.score <= 1.0) {
                report.rejected.push((i, RejectReason::BadScore));
                continue;
            }
            let (position_world, depth_m) = match d.frame {
                DetectionFrame::Camera => (obs.world_from_camera * d.position_m, d.position_m.z),
                DetectionFrame::World => (d.position_m, (camera_from_world * d.position_m).z),
            };
            if !point_is_finite(&position_world) {
                report.rejected.push((i, RejectReason::NonFinitePosition));
                continue;
            }
            let group = self.group_of(&label);
            out.push(WorldDetection {
                label,
                group,
                score: d.score,
                position_world,
                extent_m: d.extent_m,
                depth_m: depth_m.abs(),
                text: d.text.clone().filter(|t| !t.trim().is_empty()),
                embedding: d.embedding.clone(),
            });
        }
        out
    }

    /// Gate for matching a detection to an object, m.
    pub(super) fn gate_m(&self, det: &WorldDetection, obj: &MemoryObject) -> f64 {
        let size = max_extent(&det.extent_m).max(max_extent(&obj.extent_m));
        self.config.gate_base_m
            + self.config.gate_per_depth * det.depth_m
            + self.config.gate_extent_fraction * size
    }

    /// [`Memory::gate_m`], narrowed for a confirmed object not seen for `min_move_gap_s`
    /// (someone may have moved it since): the base gate, or `move_gate_scatter_factor` times
    /// the RMS scatter of its own sightings when that is wider, never wider than the full gate.
    /// Within that, a sighting is the object where it was; beyond, it may be the object on the
    /// next shelf, which a new track and re-identification tell.
    pub(super) fn move_gate_m(
        &self,
        det: &WorldDetection,
        obj: &MemoryObject,
        stamp: StampNs,
    ) -> f64 {
        let gate = self.gate_m(det, obj);
        let gap = self.config.min_move_gap_ns();
        if gap <= 0
            || !obj.confirmed
            || obj.state == ObjectState::Missing
            || stamp.saturating_sub(obj.last_seen_ns) < gap
        {
            return gate;
        }
        let base = self.config.gate_base_m + self.config.gate_per_depth * det.depth_m;
        let wander =
            self.config.move_gate_scatter_factor * self.sighting_scatter_m(obj.id).unwrap_or(0.0);
        base.max(wander).min(gate)
    }

    /// The smallest appearance cosine at which something may be a track seen `times_seen`
    /// times: a track seen once carries one sighting's embedding, as noisy as a detection's, so
    /// it gets the looser `min_appearance_cosine_single`.
    pub(super) fn appearance_bound(&self, times_seen: u32) -> f32 {
        if times_seen <= 1 {
            self.config.min_appearance_cosine_single
        } else {
            self.config.min_appearance_cosine
        }
    }

    pub(super) fn extent_compatible(&self, det: &WorldDetection, obj: &MemoryObject) -> bool {
        let a = max_extent(&det.extent_m);
        let b = max_extent(&obj.extent_m);
        if a < 0.01 || b < 0.01 {
            return true;
        }
        let ratio = if a > b { a / b } else { b / a };
        ratio <= self.config.max_extent_ratio
    }

    /// One-to-one assignment of detections to objects, greedy by normalised distance (distance
    /// / gate, plus `missing_match_penalty` for a missing object). Candidates are label- and
    /// size-compatible, inside the gate and, when both carry an appearance embedding, similar
    /// enough (`min_appearance_cosine`; `min_appearance_cosine_single` for a track seen once,
    /// whose embedding is one sighting's rather than an average). A detection that another
    /// confirmed look-alike in its gate, left without a detection, explains better by its
    /// looks goes to that one ([`Memory::hand_to_better_looks`]). A match is
    /// [`Assoc::Shared`] when a confirmed, present object that got no detection fits within
    /// `ambiguity_ratio` of the match's normalised distance (penalty left out: a sighting right
    /// at a missing object's spot is its own), or lies no more than `ambiguity_margin_m` +
    /// `ambiguity_margin_per_depth` x depth farther. A detection refused to a present object as
    /// a swapped look-alike's ([`Memory::sighting_is_a_swapped_look_alikes`]) is not its
    /// candidate; matched to nothing else, it is [`Assoc::Refused`].
    pub(super) fn associate(&self, detections: &[WorldDetection], stamp: StampNs) -> Vec<Assoc> {
        // (cost with penalty, detection, object, gate-normalised distance, distance in m)
        let mut pairs: Vec<(f64, usize, ObjectId, f64, f64)> = Vec::new();
        // Unpenalised cost and distance of each gated pair with a confirmed, present object.
        let mut rivals: Vec<(usize, ObjectId, f64, f64)> = Vec::new();
        // Per detection, the first present object it was refused to as a swapped look-alike's.
        let mut refused: Vec<Option<ObjectId>> = vec![None; detections.len()];
        for (i, det) in detections.iter().enumerate() {
            let search = self.config.gate_base_m
                + self.config.gate_per_depth * det.depth_m
                + self.config.gate_extent_fraction
                    * max_extent(&det.extent_m).max(self.max_extent_seen_m);
            self.objects_within(to_f32(&det.position_world), search as f32, |raw, _| {
                let Some(obj) = self.objects.get(raw as usize) else {
                    return;
                };
                if obj.retired || obj.group != det.group {
                    return;
                }
                if !self.extent_compatible(det, obj) {
                    return;
                }
                // With appearance on both sides, a different-looking instance is not a match.
                if let (Some(a), Some(b)) = (&det.embedding, &obj.embedding) {
                    let min_cos = self
                        .config
                        .association_min_appearance_cosine
                        .unwrap_or_else(|| self.appearance_bound(obj.times_seen));
                    if a.len() == b.len() && crate::core::embed::cosine(a, b) < min_cos {
                        return;
                    }
                    // A swapped look-alike's sighting is not this one's. Checked for every
                    // candidate in the search radius, not only inside the gate: the track it
                    // starts is kept distinct from `obj`, and duplicate merging reaches beyond
                    // the gate (checked after the gate instead, seed 2660 loses a stapler's move
                    // to such a merge; 85 other seeds where the two differ are unchanged).
                    if self.sighting_is_a_swapped_look_alikes(a, obj, stamp) {
                        refused[i].get_or_insert(obj.id);
                        return;
                    }
                }
                let d = (obj.position_world - det.position_world).norm();
                let gate = self.move_gate_m(det, obj, stamp);
                if d <= gate {
                    if obj.is_reportable() && obj.state != ObjectState::Missing {
                        rivals.push((i, obj.id, d / gate, d));
                    }
                    let penalty = if obj.state == ObjectState::Missing {
                        self.config.missing_match_penalty
                    } else {
                        0.0
                    };
                    pairs.push((d / gate + penalty, i, obj.id, d / gate, d));
                }
            });
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        // Per detection: the object assigned, its cost and its distance.
        let mut assignment: Vec<Option<(ObjectId, f64, f64)>> = vec![None; detections.len()];
        let mut used: BTreeSet<ObjectId> = BTreeSet::new();
        for (_, i, id, c, d) in pairs {
            if assignment[i].is_none() && !used.contains(&id) {
                assignment[i] = Some((id, c, d));
                used.insert(id);
            }
        }
        if self.config.association_min_appearance_cosine.is_none() {
            self.hand_to_better_looks(detections, &rivals, &mut assignment, &mut used);
        }
        let ratio = self.config.ambiguity_ratio;
        assignment
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                None => refused[i].map_or(Assoc::New, Assoc::Refused),
                Some((id, cost, dist)) => {
                    // A rival farther by no more than one sighting's noise is not told apart.
                    let margin = self.config.ambiguity_margin_m
                        + self.config.ambiguity_margin_per_depth * detections[i].depth_m;
                    let rival = rivals
                        .iter()
                        .filter(|(j, b, c, d)| {
                            *j == i
                                && b != id
                                && !used.contains(b)
                                && (*c <= cost * ratio || *d - dist <= margin)
                        })
                        .min_by(|x, y| x.2.total_cmp(&y.2).then(x.1.cmp(&y.1)));
                    match rival {
                        Some((_, b, _, _)) => Assoc::Shared(*id, *b),
                        None => Assoc::Match(*id),
                    }
                }
            })
            .collect()
    }

    /// Gives a detection assigned by position to `a` to another confirmed, present track `b`
    /// inside its gate that got no detection in this keyframe (`rivals` holds the gated pairs,
    /// `used` the tracks assigned), when `b` looks more like the detection than `a` does by
    /// more than [`RIVAL_MARGIN`] and `a` and `b` are told apart by their looks (cosine
    /// between them below `min_appearance_cosine_long_missing`): position decides between
    /// look-alikes only when looks do not. Seed 1795: a banana 10 cm from where another had
    /// stood until it was carried off, its sightings nearer that one's track (cosine 0.90)
    /// than its own (0.96), kept the other's track present and left its own to go missing.
    /// Twins' looks differ by noise alone, so between them position still decides. Only for
    /// appearance as steady from one sighting to the next as a learned embedding: not with
    /// `association_min_appearance_cosine` set.
    fn hand_to_better_looks(
        &self,
        detections: &[WorldDetection],
        rivals: &[(usize, ObjectId, f64, f64)],
        assignment: &mut [Option<(ObjectId, f64, f64)>],
        used: &mut BTreeSet<ObjectId>,
    ) {
        // `rivals` is in detection order (pushed while looping over the detections), so each
        // detection's gated pairs are one run; most detections have none besides their match,
        // and cost no cosine.
        for run in rivals.chunk_by(|x, y| x.0 == y.0) {
            let i = run[0].0;
            let (Some((a, _, _)), Some(e)) = (assignment[i], detections[i].embedding.as_deref())
            else {
                continue;
            };
            if !run.iter().any(|(_, b, _, _)| *b != a && !used.contains(b)) {
                continue;
            }
            let Some(own) = looks_like(&self.objects[a.index()], e) else {
                continue;
            };
            let told_apart = |b: ObjectId| {
                appearance(&self.objects[a.index()], &self.objects[b.index()])
                    .is_some_and(|c| c < self.config.min_appearance_cosine_long_missing)
            };
            let better = run
                .iter()
                .filter(|(_, b, _, _)| *b != a && !used.contains(b))
                .filter_map(|&(_, b, c, d)| {
                    let theirs = looks_like(&self.objects[b.index()], e)?;
                    (theirs > own + RIVAL_MARGIN && told_apart(b)).then_some((theirs, b, c, d))
                })
                .max_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1)));
            if let Some((_, b, c, d)) = better {
                used.remove(&a);
                used.insert(b);
                assignment[i] = Some((b, c, d));
            }
        }
    }

    pub(super) fn create_object(
        &mut self,
        det: &WorldDetection,
        stamp: StampNs,
        robot_place: PlaceId,
    ) -> ObjectId {
        let id = ObjectId(self.objects.len() as u32);
        let placement = PlacementId(self.placements.len() as u32);
        let place = self.place_for(&det.position_world).unwrap_or(robot_place);
        let votes = crate::core::scene_graph::LabelVotes::single(&det.label, det.score);
        self.max_extent_seen_m = self.max_extent_seen_m.max(max_extent(&det.extent_m));
        self.sighting_scatter_m2.push(0.0);
        self.objects.push(MemoryObject {
            id,
            label: det.label.clone(),
            group: det.group,
            label_votes: votes,
            position_world: det.position_world,
            extent_m: det.extent_m,
            first_seen_ns: stamp,
            last_seen_ns: stamp,
            times_seen: 1,
            confidence: det.score,
            state: ObjectState::Present,
            place,
            text: det.text.clone(),
            embedding: det.embedding.clone(),
            confirmed: false,
            retired: false,
            merged_into: None,
            placements: vec![placement],
            open_since_ns: Some(stamp),
            missing_since_ns: None,
            seen_from: vec![robot_place],
            missed_views: 0,
            position_weight: f64::from(det.score),
            distinct_from: Vec::new(),
            open_visit: Some((stamp, stamp)),
            reid_key: None,
        });
        self.object_events.push(Vec::new());
        self.relation_anchor.push(det.position_world);
        self.placements.push(Placement {
            id: placement,
            object: id,
            position_world: det.position_world,
            start_ns: stamp,
            last_seen_ns: stamp,
            closed_at_ns: None,
        });
        self.index_object(id, &det.position_world);
        self.touch(id);
        self.touch_placement(placement);
        // Candidate for re-identification as a moved object from the start.
        self.reid_enroll(id, det.group, stamp);
        self.stats.objects_created += 1;
        id
    }

    /// Applies a sighting to a matched object. A tentative track last seen more than
    /// `visit_gap_s` ago, by a sighting that may have been a look-alike's
    /// ([`Memory::stray_of_a_look_alike`]), starts over from this sighting
    /// ([`Memory::restart_tentative`]).
    pub(super) fn observe(
        &mut self,
        id: ObjectId,
        det: &WorldDetection,
        stamp: StampNs,
        robot_place: PlaceId,
    ) {
        let visit_gap = self.config.visit_gap_ns();
        let stale = {
            let o = &self.objects[id.index()];
            !o.confirmed && !o.retired && stamp.saturating_sub(o.last_seen_ns) > visit_gap
        } && self.stray_of_a_look_alike(id);
        if stale {
            self.restart_tentative(id, det, stamp);
        }
        let max_weight = self.config.max_position_weight;
        let was_missing;
        let mut closed_visit = None;
        let mut label_changed = false;
        self.missed_since.remove(&id);
        {
            self.touch(id);
            let obj = &mut self.objects[id.index()];
            was_missing = obj.state == ObjectState::Missing;
            // Robust position update: score-weighted running mean with a capped weight, so the
            // estimate converges but can still follow small drifts.
            let w_new = f64::from(det.score);
            let w_old = obj.position_weight.min(max_weight);
            let alpha = w_new / (w_old + w_new);
            // The scatter of sightings about the estimate, averaged like the position (the
            // first one taken whole).
            let miss2 = (det.position_world - obj.position_world).norm_squared();
            if let Some(v) = self.sighting_scatter_m2.get_mut(id.index()) {
                let a = if obj.times_seen <= 1 { 1.0 } else { alpha };
                *v = (f64::from(*v) + (miss2 - f64::from(*v)) * a) as f32;
            }
            obj.position_world += (det.position_world - obj.position_world) * alpha;
            obj.extent_m += (det.extent_m - obj.extent_m) * alpha;
            obj.position_weight = (w_old + w_new).min(max_weight);
            obj.label_votes.add(&det.label, det.score);
            if obj
                .label_votes
                .majority()
                .is_some_and(|best| *best != obj.label)
            {
                obj.label = obj.label_votes.majority_label();
                label_changed = true;
            }
            obj.times_seen = obj.times_seen.saturating_add(1);
            obj.confidence = if stale {
                // A first sighting's, as for a new track.
                det.score
            } else {
                1.0 - (1.0 - obj.confidence) * (1.0 - det.score * 0.5)
            };
            obj.missed_views = 0;
            if !obj.seen_from.contains(&robot_place) {
                if obj.seen_from.len() >= MAX_SEEN_FROM {
                    obj.seen_from.remove(0);
                }
                obj.seen_from.push(robot_place);
            }
            if det.text.is_some() {
                obj.text.clone_from(&det.text);
            }
            if let Some(e) = &det.embedding {
                blend_embedding(&mut obj.embedding, e, obj.times_seen);
            }
            match obj.open_visit {
                Some((start, end)) if stamp.saturating_sub(end) <= visit_gap => {
                    obj.open_visit = Some((start, stamp))
                }
                Some(visit) => {
                    closed_visit = obj.confirmed.then_some(visit);
                    obj.open_visit = Some((stamp, stamp));
                }
                None => obj.open_visit = Some((stamp, stamp)),
            }
            if !was_missing {
                obj.last_seen_ns = stamp;
            }
        }
        self.max_extent_seen_m = self.max_extent_seen_m.max(max_extent(&det.extent_m));
        if label_changed {
            self.refresh_group(id);
        }
        if let Some((start, end)) = closed_visit {
            self.emit_visit(id, start, end, stamp);
        }
        if det.text.is_some() {
            self.refresh_text_embedding(id);
        }
        if was_missing {
            self.reappear(id, stamp);
        } else {
            let obj = &self.objects[id.index()];
            let pos = obj.position_world;
            if let Some(pid) = obj.placements.last().copied() {
                self.touch_placement(pid);
                let p = &mut self.placements[pid.index()];
                p.position_world = pos;
                p.last_seen_ns = stamp;
            }
            self.index_object(id, &pos);
        }
        self.refresh_label_index(id);
    }

    /// Whether tentative track `id`'s sightings may all have been a look-alike's: a confirmed
    /// object of its group, never seen together with it, stood within `gate_base_m` of it
    /// then (a placement within `visit_gap_s` of its last sighting). One sighting split off
    /// from an object by position or appearance noise leaves such a track behind. Not a
    /// look-alike missing within `gate_base_m` of it now: the two tracks may be one object,
    /// back, and the track confirmed takes the missing one back
    /// ([`Memory::missing_duplicate_seen_again`]).
    pub(super) fn stray_of_a_look_alike(&self, id: ObjectId) -> bool {
        let o = &self.objects[id.index()];
        let gap = self.config.visit_gap_ns();
        self.group_members(o.group).any(|x| {
            let xo = &self.objects[x.index()];
            x != id
                && xo.is_reportable()
                && !o.distinct_from.contains(&x)
                && !xo.distinct_from.contains(&id)
                && (xo.state != ObjectState::Missing
                    || (xo.position_world - o.position_world).norm() > self.config.gate_base_m)
                && xo.placements.iter().any(|p| {
                    self.placements.get(p.index()).is_some_and(|p| {
                        (p.position_world - o.position_world).norm() <= self.config.gate_base_m
                            && p.start_ns.saturating_sub(gap) <= o.last_seen_ns
                            && o.last_seen_ns <= p.last_seen_ns.saturating_add(gap)
                    })
                })
        })
    }

    /// A tentative track whose sighting on an earlier visit may have been a look-alike's
    /// ([`Memory::stray_of_a_look_alike`]), seen again now: that sighting does not corroborate
    /// this one, so the track starts over from this sighting (`det`, applied by the caller) as
    /// if it were new: first seen now, where it is seen now, looking as it looks now, enrolled
    /// for re-identification from now. Without this, a stray sighting of an object, left where
    /// the robot rarely looks, turns the first sighting of an object carried there a day later
    /// into an object seen since that day, which hides where it came from; and two strays of
    /// twins, a day apart, make a third object between them. Kept: its id, and the
    /// look-alikes it was seen together with.
    pub(super) fn restart_tentative(&mut self, id: ObjectId, det: &WorldDetection, stamp: StampNs) {
        self.touch(id);
        let o = &mut self.objects[id.index()];
        o.first_seen_ns = stamp;
        o.last_seen_ns = stamp;
        o.times_seen = 0;
        o.position_world = det.position_world;
        o.extent_m = det.extent_m;
        o.position_weight = 0.0;
        o.label_votes = crate::core::scene_graph::LabelVotes::default();
        o.embedding = None;
        o.seen_from.clear();
        o.missed_views = 0;
        o.open_visit = None;
        o.open_since_ns = Some(stamp);
        let group = o.group;
        if let Some(p) = o.placements.last().copied() {
            self.touch_placement(p);
            let pl = &mut self.placements[p.index()];
            pl.position_world = det.position_world;
            pl.start_ns = stamp;
            pl.last_seen_ns = stamp;
        }
        self.reid_enroll(id, group, stamp);
    }

    pub(super) fn emit_visit(
        &mut self,
        id: ObjectId,
        start: StampNs,
        end: StampNs,
        stamp: StampNs,
    ) {
        let mut ev = self.object_event(EventKind::Visit, &self.objects[id.index()], stamp);
        ev.start_ns = start;
        ev.end_ns = end;
        self.push_event(ev);
    }

    pub(super) fn mark_distinct(&mut self, ids: &[ObjectId]) {
        if ids.len() < 2 {
            return;
        }
        let reach = self.config.merge_distance_m.max(self.config.gate_base_m) * 4.0;
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                if a == b {
                    continue;
                }
                let (pa, pb) = (
                    self.objects[a.index()].position_world,
                    self.objects[b.index()].position_world,
                );
                if (pa - pb).norm() > reach {
                    continue;
                }
                for (x, y) in [(*a, *b), (*b, *a)] {
                    self.touch(x);
                    let list = &mut self.objects[x.index()].distinct_from;
                    if !list.contains(&y) {
                        if list.len() >= MAX_DISTINCT {
                            list.remove(0);
                        }
                        list.push(y);
                    }
                }
            }
        }
    }
}
