//! Change detection and identity: expected-but-unseen objects, missing / reappeared,
//! confirmation of tentative tracks, re-identification of moved objects, and merging of
//! duplicate tracks.

use super::*;
use std::cmp::Reverse;

/// How much closer (in appearance cosine) a rival must be to take a new object from the one
/// being declared missing (see [`Memory::better_rival`]).
pub(super) const RIVAL_MARGIN: f32 = 0.05;

/// How much closer (in appearance cosine) an object found gone must be to a newcomer already
/// taken for another object to take it over (see [`Memory::hand_newcomer_to_better_old`]):
/// half the rival margin. Look-alikes' cosines with one newcomer differ by up to about 0.02
/// from appearance noise alone, so a smaller difference is a coin toss, not worth undoing a
/// link for.
const HANDOVER_MARGIN: f32 = RIVAL_MARGIN / 2.0;

impl Memory {
    /// When a missing object came back at the earliest, once seen again in place: the keyframe
    /// that confirmed it gone on a later visit ([`Memory::absent_seen`]), else `last_seen_ns`
    /// (its last sighting before). Forgets the empty views.
    fn back_from(&mut self, id: ObjectId, last_seen_ns: StampNs) -> StampNs {
        let confirmed = self.absent_seen(id);
        self.absent_views.remove(&id);
        confirmed.map_or(last_seen_ns, |t| t.max(last_seen_ns))
    }

    /// A missing object seen again where it was.
    pub(super) fn reappear(&mut self, id: ObjectId, stamp: StampNs) {
        let group = self.group_of(&self.objects[id.index()].label.clone());
        if let Some(set) = self.missing_by_group.get_mut(&group) {
            set.remove(&id);
        }
        let previous_last_seen = self.objects[id.index()].last_seen_ns;
        let placement = self.open_placement(id, stamp);
        self.touch(id);
        let obj = &mut self.objects[id.index()];
        obj.state = ObjectState::Present;
        obj.missing_since_ns = None;
        obj.last_seen_ns = stamp;
        obj.placements.push(placement);
        obj.open_since_ns = Some(stamp);
        let pos = obj.position_world;
        self.index_object(id, &pos);
        let back_from = self.back_from(id, previous_last_seen);
        let mut ev = self.object_event(EventKind::Reappeared, &self.objects[id.index()], stamp);
        ev.start_ns = back_from;
        ev.end_ns = stamp;
        self.push_event(ev);
        self.refresh_relations(id);
    }

    /// Creates an open placement for `id` at its current position, starting at `start_ns`.
    pub(super) fn open_placement(&mut self, id: ObjectId, start_ns: StampNs) -> PlacementId {
        let pid = PlacementId(self.placements.len() as u32);
        let obj = &self.objects[id.index()];
        self.placements.push(Placement {
            id: pid,
            object: id,
            position_world: obj.position_world,
            start_ns,
            last_seen_ns: start_ns,
            closed_at_ns: None,
        });
        self.touch_placement(pid);
        pid
    }

    /// Closes the object's current placement (it is no longer believed there).
    pub(super) fn close_current_placement(&mut self, id: ObjectId, stamp: StampNs) {
        let Some(pid) = self.objects[id.index()].placements.last().copied() else {
            return;
        };
        self.touch_placement(pid);
        let p = &mut self.placements[pid.index()];
        if p.closed_at_ns.is_none() {
            p.closed_at_ns = Some(stamp);
            let pos = to_f32(&p.position_world);
            self.closed_index.upsert(pid.0, pos);
        }
        self.touch(id);
        self.objects[id.index()].open_since_ns = None;
    }

    /// Tracks born in this keyframe (`touched`: the tracks seen in it) beside a confirmed track
    /// of the same label seen in the same keyframe, within the base association gate: the
    /// detection could have been that object had it not been seen in the same image, so it is
    /// a second object of the kind standing next to it (identical objects side by side), not a
    /// false positive, which lands at a random spot with a random label and looks like nothing
    /// in particular (with appearance embeddings, the newborn must look like that track:
    /// `min_appearance_cosine_single`).
    pub(super) fn born_beside_a_twin(&self, touched: &[ObjectId], stamp: StampNs) -> Vec<ObjectId> {
        let mut out = Vec::new();
        if touched.len() < 2 {
            return out;
        }
        for id in touched {
            let o = &self.objects[id.index()];
            if o.confirmed || o.retired || o.times_seen != 1 || o.first_seen_ns != stamp {
                continue;
            }
            let twin = touched.iter().any(|t| {
                let x = &self.objects[t.index()];
                t != id
                    && x.is_reportable()
                    && x.state.is_present()
                    && x.label == o.label
                    && (x.position_world - o.position_world).norm() <= self.config.gate_base_m
                    && appearance(x, o)
                        .is_none_or(|c| c >= self.config.min_appearance_cosine_single)
            });
            if twin && !self.unseen_look_alike_within(o, touched, self.config.gate_base_m) {
                out.push(*id);
            }
        }
        out
    }

    /// Whether another track of `o`'s group (tentative, confirmed or missing, not retired), not
    /// seen in this keyframe (`touched`), stands within `radius_m` of it: `o` may be that
    /// track, missed by the association.
    fn unseen_look_alike_within(
        &self,
        o: &MemoryObject,
        touched: &[ObjectId],
        radius_m: f64,
    ) -> bool {
        self.look_alike_within(o, radius_m, |x| !x.retired && !touched.contains(&x.id))
    }

    /// The earliest stamp at which an object last seen at `seen_ns` may have been carried off
    /// and seen elsewhere: `min_move_gap_s` later (at least 1 ns: never at the same stamp).
    fn earliest_move_ns(&self, seen_ns: StampNs) -> StampNs {
        seen_ns.saturating_add(self.config.min_move_gap_ns().max(1))
    }

    /// Whether a confirmed, present track of `o`'s group other than `o` stands within
    /// `radius_m` of it and looks about as much like `o` as `old` does (cosine lower by no
    /// more than [`RIVAL_MARGIN`]; any such track when either look is unknown): a single
    /// sighting there is then as likely that track's, split off by a noisy position or
    /// appearance, as `old`'s. One that looks much more like `old` than like the track beside
    /// it is no split-off sighting of that track.
    fn look_alike_may_own(&self, o: &MemoryObject, old: &MemoryObject, radius_m: f64) -> bool {
        let own = appearance(o, old);
        self.look_alike_within(o, radius_m, |x| {
            x.is_reportable()
                && x.state.is_present()
                && match (own, appearance(x, o)) {
                    (Some(own), Some(theirs)) => theirs >= own - RIVAL_MARGIN,
                    _ => true,
                }
        })
    }

    /// Whether another track of `o`'s group for which `pred` holds stands within `radius_m` of
    /// it.
    fn look_alike_within(
        &self,
        o: &MemoryObject,
        radius_m: f64,
        pred: impl Fn(&MemoryObject) -> bool,
    ) -> bool {
        let mut found = false;
        self.objects_within(to_f32(&o.position_world), radius_m as f32, |raw, _| {
            let x = &self.objects[raw as usize];
            if !found && x.id != o.id && x.group == o.group && pred(x) {
                found = true;
            }
        });
        found
    }

    /// Confirms a tentative object once it has been seen often enough, or at once when it
    /// was born beside its twin ([`Memory::born_beside_a_twin`]).
    pub(super) fn maybe_confirm(&mut self, id: ObjectId, stamp: StampNs, beside_twin: bool) {
        let obj = &self.objects[id.index()];
        if obj.confirmed
            || obj.retired
            || (obj.times_seen < self.config.min_sightings_to_confirm && !beside_twin)
        {
            return;
        }
        self.touch(id);
        self.objects[id.index()].confirmed = true;
        // Where an object was taken away moments ago: it never left.
        if self.retract_move_link(id, stamp) {
            return;
        }
        // A new object of a label whose instance went missing recently is that instance, moved
        // (unless another instance, not checked since, looks more like it: by the rival margin,
        // the newcomer is left to that one; by half of it, the sweep decides which of them it
        // was, see `resolve_pending_reid`).
        let recent = self.unrivalled_missing_match(id, true);
        if let Some(old) = recent {
            if !self.source_likelier_unchecked(old, id) {
                self.merge_moved(old, id, stamp);
                return;
            }
        } else if self.relink_to_better_newcomer(id, stamp) {
            return;
        }
        // Only long-missing candidates (or a recent one with an unchecked look-alike
        // likelier): wait for one that goes missing in this sweep.
        if self.find_missing_match(id, false).is_some() {
            self.pending_reid
                .insert(id, stamp.saturating_add(self.config.reid_window_ns()));
        }
        let first_seen = self.objects[id.index()].first_seen_ns;
        let mut ev = self.object_event(EventKind::FirstSeen, &self.objects[id.index()], stamp);
        ev.start_ns = first_seen;
        ev.end_ns = stamp;
        self.push_event(ev);
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        self.reid_enroll(id, group, first_seen);
        self.refresh_text_embedding(id);
        // Registers the label (and its embedding) on first use.
        self.refresh_label_index(id);
        self.refresh_relations(id);
    }

    /// A first sighting whose appearance matches an object that went missing recently is that
    /// object, moved: no need to wait for confirmation (appearance is the evidence). Not one
    /// within `gate_base_m` of a confirmed, present look-alike that it looks about as much like
    /// ([`Memory::look_alike_may_own`]): too unlike that one to be matched to it, it is still
    /// as likely that one's, seen with a noisy look, as the missing one carried there (seed
    /// 5461's near-twin kettles swapped names so). It waits for confirmation like any new track.
    pub(super) fn try_early_reid(&mut self, id: ObjectId, stamp: StampNs) {
        if self.objects[id.index()].embedding.is_none() {
            return;
        }
        if let Some(old) = self.unrivalled_missing_match(id, true) {
            let (o, n) = (&self.objects[old.index()], &self.objects[id.index()]);
            if appearance(o, n).is_some()
                && !self.source_likelier_unchecked(old, id)
                && !self.look_alike_may_own(n, o, self.config.gate_base_m)
            {
                self.merge_moved(old, id, stamp);
            }
        }
    }

    /// New objects whose wait is over are re-identified with a long-missing object, if any.
    /// The wait is over at its deadline. Before that, a newcomer is re-identified as soon as no
    /// look-alike is left that may have been carried there and has not been checked since
    /// ([`Memory::source_left_unchecked`]) and a missing object is its match: the sweep has
    /// nothing better to offer, and the answer for the patrol that saw the newcomer need not
    /// wait an hour (or, for a robot that parks after its patrol, until its next keyframe).
    /// Without a match it waits on: a rival may still be seen again.
    pub(super) fn resolve_pending_reid(&mut self, stamp: StampNs) {
        if self.pending_reid.is_empty() {
            return;
        }
        let due: Vec<(ObjectId, bool)> = self
            .pending_reid
            .iter()
            .map(|(id, deadline)| (*id, *deadline <= stamp))
            .filter(|(id, expired)| *expired || !self.source_left_unchecked(*id))
            .collect();
        for (id, expired) in due {
            let o = &self.objects[id.index()];
            if !o.is_reportable() || !o.state.is_present() || o.placements.len() != 1 {
                self.pending_reid.remove(&id);
                continue;
            }
            if let Some(old) = self.unrivalled_missing_match(id, false) {
                self.pending_reid.remove(&id);
                self.merge_moved(old, id, stamp);
            } else if expired {
                self.pending_reid.remove(&id);
            }
        }
    }

    /// [`Memory::find_missing_match`], unless a present object of the group that may have been
    /// carried there just as well looks more like `new_id` ([`Memory::better_rival`]): the
    /// newcomer is then left for that object's own absence to claim.
    fn unrivalled_missing_match(
        &mut self,
        new_id: ObjectId,
        recent_only: bool,
    ) -> Option<ObjectId> {
        self.find_missing_match(new_id, recent_only)
            .filter(|old| !self.better_rival(*old, new_id))
    }

    /// The missing object of the same group nearest to `new_id`: missing for at most
    /// `reid_window_s` when `recent_only`, else last seen within `reid_max_age_s` (and, when
    /// missing since more than `reid_window_s` before `new_id` was first seen and farther than
    /// `gate_base_m` from it, as similar as `min_appearance_cosine_long_missing` says); last seen,
    /// as re-identification counts it ([`Memory::reid_last_seen`]), `min_move_gap_s` or more
    /// before `new_id`'s first sighting.
    pub(super) fn find_missing_match(
        &mut self,
        new_id: ObjectId,
        recent_only: bool,
    ) -> Option<ObjectId> {
        let label = self.objects[new_id.index()].label.clone();
        let group = self.group_of(&label);
        let new_obj = &self.objects[new_id.index()];
        let now = self.latest_stamp_ns.unwrap_or(0);
        let min_last_seen = now.saturating_sub(self.config.reid_max_age_ns());
        // First seen after the last sighting, and not within `min_move_gap_s` of it.
        let min_missing_since = if recent_only {
            now.saturating_sub(self.config.reid_window_ns())
        } else {
            StampNs::MIN
        };
        // Missing longer than `reid_window_s` when the newcomer turned up, and away from its
        // spot: stronger appearance.
        let first_seen = new_obj.first_seen_ns;
        let recent_since = first_seen.saturating_sub(self.config.reid_window_ns());
        let min_cos = self.config.min_appearance_cosine;
        let min_cos_long = self.config.min_appearance_cosine_long_missing.max(min_cos);
        let set = self.missing_by_group.get(&group)?;
        set.iter()
            .copied()
            .filter(|id| {
                let o = &self.objects[id.index()];
                !o.retired
                    && o.last_seen_ns >= min_last_seen
                    && o.missing_since_ns.is_some_and(|m| m >= min_missing_since)
                    && !new_obj.distinct_from.contains(id)
                    && {
                        let recent = o.missing_since_ns.is_some_and(|m| m >= recent_since);
                        let in_place = (o.position_world - new_obj.position_world).norm()
                            <= self.config.gate_base_m;
                        match appearance(o, new_obj) {
                            Some(c) => c >= if recent || in_place { min_cos } else { min_cos_long },
                            None => recent || in_place,
                        }
                    }
                    // The gap from the last sighting as re-identification counts it (no later
                    // than the last sighting itself, so that one is tried first).
                    && (self.earliest_move_ns(o.last_seen_ns) <= first_seen
                        || self.earliest_move_ns(self.reid_last_seen(*id)) <= first_seen)
            })
            .min_by(|a, b| self.reid_order(new_obj, *a, *b))
    }

    /// A confirmed, never-moved object of the same group first seen after `old_id` was last
    /// seen, and at most `reid_window_s` before `old_id` was first found gone: the old object
    /// may have been carried there. (The new place may have been seen on the pass that first
    /// missed the object, hours before a later pass confirms the old spot empty.) A tentative
    /// track, still open or dropped unconfirmed ([`Memory::drop_tentative`]), qualifies when
    /// appearance says it is the old object, but not one within `gate_base_m` of a confirmed,
    /// present look-alike that it looks about as much like ([`Memory::look_alike_may_own`]):
    /// that sighting was as likely the look-alike's, split off by a noisy appearance.
    pub(super) fn find_new_match(&mut self, old_id: ObjectId) -> Option<ObjectId> {
        let last_seen = self.reid_last_seen(old_id);
        let label = self.objects[old_id.index()].label.clone();
        let group = self.group_of(&label);
        let old = &self.objects[old_id.index()];
        let set = self.recent_by_group.get(&group)?;
        let first_missed = self
            .missed_since
            .get(&old_id)
            .copied()
            .unwrap_or(self.latest_stamp_ns.unwrap_or(0));
        let earliest = first_missed
            .saturating_sub(self.config.reid_window_ns())
            .max(self.earliest_move_ns(last_seen));
        set.range((earliest, ObjectId(0))..)
            .map(|(_, id)| *id)
            .filter(|id| {
                let o = &self.objects[id.index()];
                *id != old_id
                    && (!o.retired || o.is_dropped_tentative())
                    && (o.confirmed
                        || (appearance(o, old).is_some()
                            && !self.look_alike_may_own(o, old, self.config.gate_base_m)))
                    && o.state.is_present()
                    && o.placements.len() == 1
                    && !old.distinct_from.contains(id)
                    && !o.distinct_from.contains(&old_id)
                    && appearance(o, old).is_none_or(|c| c >= self.config.min_appearance_cosine)
            })
            .min_by(|a, b| self.reid_order(old, *a, *b))
    }

    /// When `id` was last seen, as far as re-identification is concerned. A lone sighting that
    /// opened the current visit and was followed by `missing_after_views` misses in view, while
    /// a look-alike right next to it (within twice the base gate: a twin seen together with it,
    /// or a second track of the object that sighting belonged to) was seen after it (whether
    /// or not it has gone missing since, as twins missed together do), was probably that
    /// look-alike's, mis-associated (twins side by side, one of them carried
    /// away; a newcomer's first sighting taken for a missing object): the end of the object's
    /// previous visit counts then, so a new object first seen before, or right after, that
    /// sighting can still be where it went. The same holds for a missing object whose last
    /// visit, closed when it was declared missing, was that one sighting. Otherwise (and when
    /// the log no longer holds the previous visit) its last sighting.
    pub(super) fn reid_last_seen(&self, id: ObjectId) -> StampNs {
        let o = &self.objects[id.index()];
        let last = o.last_seen_ns;
        let lone = match o.open_visit {
            Some((start, end)) => start == end && o.missed_views >= self.config.missing_after_views,
            // Missing (declared after its misses): its last visit, closed then, is in the log.
            None => {
                o.state == ObjectState::Missing
                    && self.object_events[id.index()]
                        .iter()
                        .rev()
                        .filter_map(|e| self.log.get(*e))
                        .find(|e| e.kind == EventKind::Visit)
                        .is_some_and(|v| v.start_ns == last && v.end_ns == last)
            }
        };
        if !lone {
            return last;
        }
        let (pos, group) = (to_f32(&o.position_world), o.group);
        let mut near: Vec<u32> = Vec::new();
        self.objects_within(pos, 2.0 * self.config.gate_base_m as f32, |raw, _| {
            near.push(raw);
        });
        let look_alike_seen_since = near.iter().any(|&raw| {
            self.objects.get(raw as usize).is_some_and(|t| {
                t.id != id && t.is_reportable() && t.group == group && t.last_seen_ns > last
            })
        });
        if !look_alike_seen_since {
            return last;
        }
        self.object_events[id.index()]
            .iter()
            .rev()
            .filter_map(|e| self.log.get(*e))
            .find(|e| e.kind == EventKind::Visit && e.end_ns < last)
            .map_or(last, |e| e.end_ns)
    }

    /// Another look-alike of `old` not seen since `new` was first seen (so it may have been
    /// carried there just as well), seen within `reid_max_age_s`, looks more like `new` than
    /// `old` does (appearance cosine higher by more than [`RIVAL_MARGIN`]): linking `old` to
    /// `new` now would likely swap the two. `new` is left for the rival, which is declared
    /// missing on its own evidence when its spot is checked, and `old` goes missing.
    pub(super) fn better_rival(&self, old: ObjectId, new: ObjectId) -> bool {
        let (o, n) = (&self.objects[old.index()], &self.objects[new.index()]);
        if appearance(o, n).is_none() {
            return false;
        }
        self.any_unchecked_rival(old, new, |rival| looks_more_like(n, rival, o))
    }

    /// Whether some reportable, present object of `old`'s group other than `old` and `new`,
    /// seen within `reid_max_age_s` but not since `new` was first seen, and never seen together
    /// with `new`, satisfies `pred`.
    fn any_unchecked_rival(
        &self,
        old: ObjectId,
        new: ObjectId,
        pred: impl Fn(&MemoryObject) -> bool,
    ) -> bool {
        let (o, n) = (&self.objects[old.index()], &self.objects[new.index()]);
        let now = self.latest_stamp_ns.unwrap_or(0);
        let min_last_seen = now.saturating_sub(self.config.reid_max_age_ns());
        self.group_members(o.group).any(|r| {
            let rival = &self.objects[r.index()];
            r != old
                && r != new
                && rival.is_reportable()
                && rival.state.is_present()
                && rival.last_seen_ns < n.first_seen_ns
                && rival.last_seen_ns >= min_last_seen
                && !n.distinct_from.contains(&r)
                && !rival.distinct_from.contains(&new)
                && pred(rival)
        })
    }

    /// Whether another present look-alike of `x`, last seen `min_move_gap_s` or more before `t`
    /// was first seen and not since (so it may have been carried to where `t` is), looks more
    /// like `t` than `x` does by more than [`RIVAL_MARGIN`]: `t`, seen where `x` was moments
    /// after `x` was taken for a newcomer elsewhere, is then likelier that look-alike, put down
    /// where `x` was taken from, than `x` back. (Seed 4061's bananas: one carried off, the
    /// other put down 15 cm from its spot; the two sightings of it there had cosines 0.92 and
    /// 0.97 with the one put down, 0.85 and 0.89 with the one taken.) The link stands, `t`
    /// stays a track of its own, and the look-alike, found gone when its spot is checked, is
    /// re-identified in it.
    fn put_down_look_alike(&self, x: ObjectId, t: ObjectId) -> bool {
        self.carried_rival_likelier(x, t, RIVAL_MARGIN)
    }

    /// Whether another present look-alike of `old`, last seen `min_move_gap_s` or more before
    /// `new` was first seen and not since ([`Memory::any_unchecked_rival`]), looks more like
    /// `new` than `old` does by more than `margin` (both looks known).
    fn carried_rival_likelier(&self, old: ObjectId, new: ObjectId, margin: f32) -> bool {
        let (o, n) = (&self.objects[old.index()], &self.objects[new.index()]);
        let Some(own) = appearance(o, n) else {
            return false;
        };
        let first_seen = n.first_seen_ns;
        self.any_unchecked_rival(old, new, |rival| {
            self.earliest_move_ns(rival.last_seen_ns) <= first_seen
                && appearance(rival, n).is_some_and(|theirs| theirs > own + margin)
        })
    }

    /// Whether another present look-alike of `old`, last seen `min_move_gap_s` or more before
    /// `new` was first seen and not since (so it may have been carried there just as well, and
    /// its spot may yet be found empty in this sweep), looks more like `new` than `old` does by
    /// more than [`HANDOVER_MARGIN`] (less than [`RIVAL_MARGIN`], which keeps `new` from `old`
    /// outright, see [`Memory::better_rival`]): linking `old` to `new` now would likely be
    /// undone by what the sweep is about to find, so `new` waits for it.
    fn source_likelier_unchecked(&self, old: ObjectId, new: ObjectId) -> bool {
        self.config.wait_for_likelier_source
            && self.carried_rival_likelier(old, new, HANDOVER_MARGIN)
    }

    /// Whether newcomer `new` waits ([`Memory::resolve_pending_reid`]) while an object other
    /// than `id` that looks like it was found gone within `reid_window_s` (its link deferred
    /// for a look-alike that looked likelier and was not checked,
    /// [`Memory::source_likelier_unchecked`]): `new` is no evidence that `id` in particular is
    /// gone, so `id` needs its full `missing_after_views`. (A newcomer kept from a missing
    /// object by a [`Memory::better_rival`] does not wait, and the rival goes missing on fewer
    /// views.)
    fn claim_deferred(&self, id: ObjectId, new: ObjectId) -> bool {
        if !self.config.wait_for_likelier_source || !self.pending_reid.contains_key(&new) {
            return false;
        }
        let n = &self.objects[new.index()];
        let now = self.latest_stamp_ns.unwrap_or(0);
        let recent = now.saturating_sub(self.config.reid_window_ns());
        let Some(set) = self.missing_by_group.get(&n.group) else {
            return false;
        };
        set.iter().any(|&b| {
            let o = &self.objects[b.index()];
            b != id
                && o.missing_since_ns.is_some_and(|m| m >= recent)
                && appearance(o, n).is_some_and(|c| c >= self.config.min_appearance_cosine)
        })
    }

    /// The reportable objects of look-alike group `group` (the label index holds them by label).
    pub(super) fn group_members(&self, group: u32) -> impl Iterator<Item = ObjectId> + '_ {
        self.groups
            .iter()
            .filter(move |(_, g)| **g == group)
            .flat_map(|(label, _)| self.label_index.members(label.as_str()))
    }

    /// Whether some reportable, present object of `new`'s group other than `new`, seen within
    /// `reid_max_age_s`, last seen `min_move_gap_s` or more before `new` was first seen and not
    /// since, and never seen together with `new`, may still be where `new` came from: its spot
    /// has not been checked since `new` appeared, so it may yet be found gone in this sweep.
    /// (A look-alike seen since is still in place, and one seen less than `min_move_gap_s`
    /// before is not where `new` came from, as [`Memory::find_missing_match`] has it.)
    fn source_left_unchecked(&self, new: ObjectId) -> bool {
        let n = &self.objects[new.index()];
        let now = self.latest_stamp_ns.unwrap_or(0);
        let min_last_seen = now.saturating_sub(self.config.reid_max_age_ns());
        self.group_members(n.group).any(|r| {
            let o = &self.objects[r.index()];
            r != new
                && o.is_reportable()
                && o.state.is_present()
                && o.last_seen_ns >= min_last_seen
                && self.earliest_move_ns(o.last_seen_ns) <= n.first_seen_ns
                && !n.distinct_from.contains(&r)
                && !o.distinct_from.contains(&new)
        })
    }

    /// Whether another present object of the group, not seen since before `new` was first
    /// seen (its spot not checked since, so it may as well be the one carried there), seen
    /// within `reid_max_age_s`, looks about as much like `new` as `old` does (appearance
    /// cosine lower by no more than [`RIVAL_MARGIN`]; any such object when appearance is
    /// unknown): then `new` is no evidence that `old` in particular is gone, and `old` needs
    /// its full `missing_after_views`.
    pub(super) fn rival_as_likely(&self, old: ObjectId, new: ObjectId) -> bool {
        let (o, n) = (&self.objects[old.index()], &self.objects[new.index()]);
        let own = appearance(o, n);
        self.any_unchecked_rival(old, new, |rival| match (own, appearance(rival, n)) {
            (Some(own), Some(theirs)) => theirs >= own - RIVAL_MARGIN,
            _ => true,
        })
    }

    /// Whether a sighting with appearance `embedding` that fits the present object `r` is
    /// rather a missing look-alike's, put down where `r` was while `r` itself was carried
    /// away (a swap): `r` was not seen for `min_move_gap_s` or more, a missing object `o` of its
    /// group looks more like the sighting than `r` does by more than [`RIVAL_MARGIN`], and a
    /// newcomer first seen since `r`'s last sighting, not taken for anything, looks more like
    /// `r` than like `o` by more than [`RIVAL_MARGIN`] (the newcomer was left to `r`,
    /// [`Memory::better_rival`]). Taken for `r`, the sighting would keep `r` in place and
    /// give the newcomer to `o` ([`Memory::rival_seen_again`]), both wrong; refused, it starts
    /// a track that `o` is found in, and `r`, missed at its spot, takes the newcomer.
    pub(super) fn sighting_is_a_swapped_look_alikes(
        &self,
        embedding: &[f32],
        r: &MemoryObject,
        stamp: StampNs,
    ) -> bool {
        if !self.config.refuse_swapped_sightings
            || !r.is_reportable()
            || !r.state.is_present()
            || self.earliest_move_ns(r.last_seen_ns) > stamp
        {
            return false;
        }
        let Some(own) = looks_like(r, embedding) else {
            return false;
        };
        let (Some(missing), Some(recent)) = (
            self.missing_by_group.get(&r.group),
            self.recent_by_group.get(&r.group),
        ) else {
            return false;
        };
        missing.iter().any(|o_id| {
            let o = &self.objects[o_id.index()];
            *o_id != r.id
                && looks_like(o, embedding).is_some_and(|t| t > own + RIVAL_MARGIN)
                && recent
                    .range((r.last_seen_ns.saturating_add(1), ObjectId(0))..)
                    .any(|(_, n_id)| {
                        let n = &self.objects[n_id.index()];
                        *n_id != r.id
                            && *n_id != *o_id
                            && !n.retired
                            && n.state.is_present()
                            && n.placements.len() == 1
                            && looks_more_like(n, r, o)
                    })
        })
    }

    /// `rival` was seen again, its previous sighting at `previous_ns`: a missing object of its
    /// group whose re-identification newcomer was first seen after that and looks more like
    /// the rival may have left the newcomer to it ([`Memory::better_rival`]); the rival is
    /// still here, so the newcomer is that object's.
    pub(super) fn rival_seen_again(
        &mut self,
        rival: ObjectId,
        previous_ns: StampNs,
        stamp: StampNs,
    ) {
        let group = self.objects[rival.index()].group;
        let Some(set) = self.missing_by_group.get(&group).filter(|s| !s.is_empty()) else {
            return;
        };
        // Cheap exit for an object seen keyframe after keyframe: no newcomer since.
        let newcomer_since = self.recent_by_group.get(&group).is_some_and(|r| {
            r.range((previous_ns.saturating_add(1), ObjectId(0))..)
                .next()
                .is_some()
        });
        if !newcomer_since {
            return;
        }
        let missing: Vec<ObjectId> = set.iter().copied().filter(|x| *x != rival).collect();
        for old in missing {
            let left_to_rival = |m: &Self, n: ObjectId| {
                let (o, n, r) = (
                    &m.objects[old.index()],
                    &m.objects[n.index()],
                    &m.objects[rival.index()],
                );
                n.first_seen_ns > previous_ns && looks_more_like(n, r, o)
            };
            if let Some(new) = self
                .find_new_match(old)
                .filter(|n| left_to_rival(self, *n) && !self.better_rival(old, *n))
            {
                // Another missing object the newcomer favours more is where it came from, or
                // the sweep decides between them (`resolve_pending_reid`).
                if self.config.wait_for_likelier_source
                    && self
                        .find_missing_match(new, false)
                        .is_some_and(|b| b != old)
                {
                    continue;
                }
                self.merge_moved(old, new, stamp);
            }
        }
    }

    /// `kept` (present, and confirmed by now) was seen, its previous sighting at
    /// `previous_ns`. A missing track of its group within the base gate of it that went missing
    /// after that, never seen together with it, with a compatible appearance, first seen after
    /// `kept` was last seen anywhere else, and either newer than `kept` or older but last seen
    /// less than `min_move_gap_s` before `kept` was first seen, was a second track of the same
    /// object: a sighting too far off or too different to match started one of them, and the
    /// missing one was charged misses the other was spared (sightings shared between them, or
    /// `kept` still tentative, or not expected from where the robot stood). The two are one
    /// object again: the track with more sightings (then the older) keeps its id and
    /// placements, and the memory records the object back in place (reappeared), so the
    /// missing cancels out.
    pub(super) fn missing_duplicate_seen_again(
        &mut self,
        kept: ObjectId,
        previous_ns: StampNs,
        stamp: StampNs,
    ) {
        let k = &self.objects[kept.index()];
        let group = k.group;
        // Cheap exit: nothing of the group went missing since `kept` was last seen.
        if !k.confirmed
            || k.retired
            || self
                .latest_missing_by_group
                .get(&group)
                .is_none_or(|t| *t <= previous_ns)
        {
            return;
        }
        // Not seen before `kept` was last seen anywhere else.
        let elsewhere_until = k
            .placements
            .iter()
            .rev()
            .nth(1)
            .map_or(StampNs::MIN, |p| self.placements[p.index()].last_seen_ns);
        // Tracks of one object: the newer born while the older was there, or (the older one
        // missing) less than `min_move_gap_s` after its last sighting.
        let gap = self.config.min_move_gap_ns();
        let entangled = |o: &MemoryObject| {
            (o.first_seen_ns, o.id) > (k.first_seen_ns, k.id)
                || k.first_seen_ns < o.last_seen_ns.saturating_add(gap)
        };
        let mut found: Vec<ObjectId> = Vec::new();
        self.objects_within(
            to_f32(&k.position_world),
            self.config.gate_base_m as f32,
            |raw, _| {
                let o = &self.objects[raw as usize];
                if o.id != kept
                    && !o.retired
                    && o.state == ObjectState::Missing
                    && o.group == group
                    && (o.position_world - k.position_world).norm() <= self.config.gate_base_m
                    && o.missing_since_ns.is_some_and(|t| t > previous_ns)
                    && entangled(o)
                    && o.first_seen_ns > elsewhere_until
                    && !o.distinct_from.contains(&kept)
                    && !k.distinct_from.contains(&o.id)
                    && appearance(o, k).is_none_or(|c| c >= self.config.min_appearance_cosine)
                {
                    found.push(o.id);
                }
            },
        );
        found.sort_unstable();
        let mut kept = kept;
        for m in found {
            let g = self.group_of(&self.objects[m.index()].label.clone());
            if let Some(set) = self.missing_by_group.get_mut(&g) {
                set.remove(&m);
            }
            // The track with more sightings (then the older) keeps its id and its placements,
            // which answer where it was when.
            let (a, b) = (&self.objects[m.index()], &self.objects[kept.index()]);
            if (a.times_seen, Reverse((a.first_seen_ns, a.id)))
                > (b.times_seen, Reverse((b.first_seen_ns, b.id)))
            {
                self.absorb_duplicate(m, kept, stamp);
                self.reappear(m, stamp);
                self.refresh_label_index(m);
                kept = m;
            } else {
                let back_from = self.back_from(m, previous_ns);
                self.absorb_duplicate(kept, m, stamp);
                let mut ev =
                    self.object_event(EventKind::Reappeared, &self.objects[kept.index()], stamp);
                ev.start_ns = back_from;
                ev.end_ns = stamp;
                self.push_event(ev);
            }
        }
    }

    /// Orders re-identification candidates for `reference`: most similar appearance first
    /// (when embeddings exist), then nearest, then lowest id.
    pub(super) fn reid_order(
        &self,
        reference: &MemoryObject,
        a: ObjectId,
        b: ObjectId,
    ) -> std::cmp::Ordering {
        let (oa, ob) = (&self.objects[a.index()], &self.objects[b.index()]);
        let ca = appearance(oa, reference).unwrap_or(0.0);
        let cb = appearance(ob, reference).unwrap_or(0.0);
        let da = (oa.position_world - reference.position_world).norm();
        let db = (ob.position_world - reference.position_world).norm();
        cb.total_cmp(&ca).then(da.total_cmp(&db)).then(a.cmp(&b))
    }

    /// A present object of the same group right next to `id` (within twice the base gate),
    /// seen more recently, never seen together with it ([`Memory::seen_together`]: nor
    /// through the tracks since folded into either, such as two newcomers seen side by side,
    /// each then re-identified), with a compatible appearance: `id` is its duplicate. Not one
    /// first seen `min_move_gap_s` or more after `id`'s last sighting and beyond the base gate
    /// of it: the narrowed gate of [`Memory::move_gate_m`] made that track, and it is where
    /// `id` may have been moved (re-identification decides). Nor one that moved there
    /// (re-identified) that long after `id`'s last sighting: another object of the kind put
    /// down beside the spot `id` left.
    pub(super) fn find_duplicate(&mut self, id: ObjectId) -> Option<ObjectId> {
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        let me = &self.objects[id.index()];
        let mut found: Vec<(f32, u32)> = Vec::new();
        self.objects_within(
            to_f32(&me.position_world),
            2.0 * self.config.gate_base_m as f32,
            |raw, d2| {
                found.push((d2, raw));
            },
        );
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let gap = self.config.min_move_gap_ns();
        found
            .into_iter()
            .map(|(_, raw)| ObjectId(raw))
            .find(|other| {
                let o = &self.objects[other.index()];
                let moved_there = gap > 0
                    && here_since(o).saturating_sub(me.last_seen_ns) >= gap
                    && (o.position_world - me.position_world).norm() > self.config.gate_base_m;
                *other != id
                    && !moved_there
                    && o.is_reportable()
                    && o.state.is_present()
                    && o.last_seen_ns > me.last_seen_ns
                    && o.group == group
                    && !self.seen_together(id, *other)
                    && appearance(o, me).is_none_or(|c| c >= self.config.min_appearance_cosine)
            })
    }

    /// `old` (missing, or about to be) is `new`, seen elsewhere: fold `new` into `old` and
    /// record a move.
    pub(super) fn merge_moved(&mut self, old: ObjectId, new: ObjectId, stamp: StampNs) {
        if self.objects[new.index()].is_dropped_tentative() {
            self.revive_dropped(new);
        }
        let old_group = self.group_of(&self.objects[old.index()].label.clone());
        if let Some(set) = self.missing_by_group.get_mut(&old_group) {
            set.remove(&old);
        }
        self.pending_reid.remove(&new);
        self.reid_withdraw(new);
        self.close_current_placement(old, stamp);
        self.missed_since.remove(&old);
        let from = self.objects[old.index()].position_world;
        let old_last_seen = self.objects[old.index()].last_seen_ns;
        let back_from = self.back_from(old, old_last_seen);
        // Close the old visit.
        self.touch(old);
        if let Some((s, e)) = self.objects[old.index()].open_visit.take() {
            if self.objects[old.index()].confirmed {
                self.emit_visit(old, s, e, stamp);
            }
        }
        let n = self.objects[new.index()].clone();
        // Re-found within the association gate of where it was: it never left (a detector
        // that kept missing it made a second track); a move is reported only beyond the gate,
        // as a direct match would have absorbed anything closer.
        let in_place = (n.position_world - from).norm() <= self.config.gate_base_m;
        // Its sightings from now on scatter about the new track's estimate, as the new track's did.
        let scatter = self.scatter_m2_of(new);
        self.set_scatter_m2(old, scatter);
        {
            self.touch(old);
            let o = &mut self.objects[old.index()];
            o.position_world = n.position_world;
            o.extent_m = n.extent_m;
            for (label, votes) in n.label_votes.iter() {
                o.label_votes.add(label, votes);
            }
            o.label = o.label_votes.majority_label();
            o.last_seen_ns = n.last_seen_ns.max(o.last_seen_ns);
            o.times_seen = o.times_seen.saturating_add(n.times_seen);
            o.confidence = o.confidence.max(n.confidence);
            o.state = if in_place {
                ObjectState::Present
            } else {
                ObjectState::Moved
            };
            o.missing_since_ns = None;
            o.place = n.place;
            o.missed_views = 0;
            o.position_weight = n.position_weight;
            o.open_visit = n.open_visit;
            o.placements.extend(n.placements.iter().copied());
            o.open_since_ns = n.open_since_ns;
            for d in &n.distinct_from {
                if !o.distinct_from.contains(d) && o.distinct_from.len() < MAX_DISTINCT {
                    o.distinct_from.push(*d);
                }
            }
            // Viewpoints of the old position say nothing about the new one.
            o.seen_from.clone_from(&n.seen_from);
            if n.text.is_some() {
                o.text.clone_from(&n.text);
            }
        }
        for pid in &n.placements {
            self.touch_placement(*pid);
            self.placements[pid.index()].object = old;
        }
        self.retire_into(new, old);
        let pos = self.objects[old.index()].position_world;
        self.index_object(old, &pos);
        let kind = if in_place {
            EventKind::Reappeared
        } else {
            EventKind::Moved
        };
        let mut ev = self.object_event(kind, &self.objects[old.index()], stamp);
        ev.from_world = Some(to_f32(&from));
        ev.start_ns = if in_place { back_from } else { old_last_seen };
        ev.end_ns = n.first_seen_ns;
        self.push_event(ev);
        self.stats.reidentified += 1;
        self.refresh_label_index(new);
        self.refresh_label_index(old);
        self.refresh_text_embedding(old);
        self.refresh_relations(new);
        self.refresh_relations(old);
    }

    /// A look-alike confirmed where an object was, less than `min_move_gap_s` after that object
    /// was taken for a newcomer seen elsewhere (declared missing after a few missed detections
    /// and linked to it): the object never left, the detector missed it. The link is retracted
    /// ([`Memory::undo_move_link`]) and the new track folded into the object. Returns whether
    /// it was.
    pub(super) fn retract_move_link(&mut self, t: ObjectId, stamp: StampNs) -> bool {
        let gap = self.config.min_move_gap_ns();
        let obj = &self.objects[t.index()];
        if gap <= 0 || obj.retired || obj.placements.len() != 1 {
            return false;
        }
        let mut closed: Vec<(f32, u32)> = Vec::new();
        self.closed_index.for_each_within(
            to_f32(&obj.position_world),
            self.config.gate_base_m as f32,
            |raw, d2| closed.push((d2, raw)),
        );
        closed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, raw) in closed {
            if let Some(link) = self.retractable_link(t, PlacementId(raw), stamp, gap) {
                self.undo_move_link(link, t, stamp);
                return true;
            }
        }
        false
    }

    /// An object moved, within the last `reid_window_s`, to a newcomer taken for it
    /// ([`Memory::last_move_link`]), when `t` (just confirmed, elsewhere: beyond `gate_base_m`
    /// of the newcomer; first seen `min_move_gap_s` or more after the object's last sighting
    /// at its old spot; not seen together with the object before the link) looks like it by
    /// `min_appearance_cosine` and by more than [`RIVAL_MARGIN`] more than the newcomer does:
    /// the newcomer was a look-alike put down there (cosine 0.85-0.90 by chance), and `t` is
    /// where the object went. The newcomer becomes an object of its own again
    /// ([`Memory::detach_newcomer`]; confirmed now if it was taken at its first sighting and
    /// seen since) and the object moves on to `t`, recorded as a move from the newcomer's
    /// spot, so the window's changes net out to one move from the old spot to `t`'s. (The
    /// object's appearance, which since the link also averages in the newcomer's sightings,
    /// only makes this harder.) Where several objects qualify, the one `t` favours most.
    /// Returns whether it did.
    pub(super) fn relink_to_better_newcomer(&mut self, t: ObjectId, stamp: StampNs) -> bool {
        let window = self.config.reid_window_ns();
        let to = &self.objects[t.index()];
        if window <= 0 || to.retired || to.embedding.is_none() || to.placements.len() != 1 {
            return false;
        }
        let links = self.recent_move_links(to.group, t, stamp);
        let mut best: Option<(f32, MoveLink)> = None;
        for link in links {
            let x = link.object;
            let pid = link.closed;
            let (xo, no) = (
                &self.objects[x.index()],
                &self.objects[link.newcomer.index()],
            );
            let last_there = self.placements[pid.index()].last_seen_ns;
            let (Some(own), Some(theirs)) = (appearance(xo, to), appearance(xo, no)) else {
                continue;
            };
            // Seen together with `t` before the link: two objects. (Since the link, `x`'s
            // sightings were the newcomer's.)
            let seen_with_t = xo.distinct_from.contains(&t) || to.distinct_from.contains(&x);
            let since_link = self.placements[pid.index()]
                .closed_at_ns
                .is_some_and(|c| to.first_seen_ns >= c);
            if own <= theirs + RIVAL_MARGIN
                || own < self.config.min_appearance_cosine
                || (seen_with_t && !since_link)
                || self.earliest_move_ns(last_there) > to.first_seen_ns
                || (to.position_world - xo.position_world).norm() <= self.config.gate_base_m
            {
                continue;
            }
            if best.is_none_or(|(m, _)| own - theirs > m) {
                best = Some((own - theirs, link));
            }
        }
        let Some((_, link)) = best else {
            return false;
        };
        let (x, n) = (link.object, link.newcomer);
        self.unlink_newcomer(link);
        self.stats.links_handed_on += 1;
        self.merge_moved(x, t, stamp);
        // `t` seen together with `x`'s record since the link was seen with the newcomer
        // (whose marks `t` now holds, [`Memory::hand_seen_together_to_newcomer`]).
        let with_newcomer = {
            let list = &mut self.objects[x.index()].distinct_from;
            let had = list.contains(&x) || list.contains(&n);
            list.retain(|d| *d != x);
            had
        };
        if with_newcomer {
            self.mark_seen_apart(x, n);
        }
        self.refresh_text_embedding(n);
        self.refresh_label_index(n);
        self.refresh_relations(n);
        // A newcomer taken for the object at its first sighting was never confirmed: it is
        // now, if seen often enough, as any new track (and may be another object, moved).
        if !self.objects[n.index()].confirmed {
            self.maybe_confirm(n, stamp, false);
        }
        true
    }

    /// Undoes the move link of `link.object` to `link.newcomer` for a hand-over: the newcomer
    /// becomes an object of its own again ([`Memory::detach_newcomer`]) and the object keeps
    /// its placements up to the one the link closed, its sightings less the newcomer's (and
    /// less the sightings at the newcomer's spot since the link, which went to the object's
    /// record uncounted apart: at least one when it was seen there since), and no open visit.
    /// Returns the object's record as it was before.
    fn unlink_newcomer(&mut self, link: MoveLink) -> MemoryObject {
        let (x, n) = (link.object, link.newcomer);
        let newcomer_last_seen = self.objects[n.index()].last_seen_ns;
        let (there, newcomer_seen) = self.detach_newcomer(link);
        let seen_since = u32::from(there.last_seen_ns > newcomer_last_seen);
        {
            self.touch(x);
            let o = &mut self.objects[x.index()];
            o.times_seen = o
                .times_seen
                .saturating_sub(newcomer_seen + seen_since)
                .max(1);
            o.open_visit = None;
            o.placements.truncate(link.at + 1);
        }
        self.objects[n.index()].times_seen += seen_since;
        there
    }

    /// `y` is found gone, and no newcomer is left for it: a newcomer taken, within the last
    /// `reid_window_s`, for another object `x` of the group ([`Memory::last_move_link`]) is
    /// `y`'s instead when it looks more like `y` than like `x` by more than
    /// [`HANDOVER_MARGIN`] (cosine at least `min_appearance_cosine`; not seen together with
    /// `y`; first seen `min_move_gap_s` or more after `y`'s last sighting, so `y` was not
    /// checked since and may have been carried there just as well). When `x` took it, `y` was
    /// believed present, and a look-alike had to beat `x` by [`RIVAL_MARGIN`] to keep the
    /// newcomer from it ([`Memory::better_rival`]); now both are gone, and the closer look
    /// wins. Not while a look-alike within twice `gate_base_m` of `y` is missing too, or being
    /// missed: twins missed together (each charged the other's misses) say little about which
    /// one is gone, and the one still there is seen again moments later. `x` is missing
    /// from its old spot again (recorded as a move back, dated like the move it undoes so the
    /// two net out, then a missing), and `y` moves to the newcomer. Where several links
    /// qualify, the one `y` favours most. Returns whether it did.
    fn hand_newcomer_to_better_old(&mut self, y: ObjectId, stamp: StampNs) -> bool {
        let yo = &self.objects[y.index()];
        if self.config.reid_window_ns() <= 0
            || yo.embedding.is_none()
            || self.look_alike_within(yo, 2.0 * self.config.gate_base_m, |x| {
                !x.retired && (x.state == ObjectState::Missing || x.missed_views > 0)
            })
        {
            return false;
        }
        let y_last_seen = self.reid_last_seen(y);
        let mut best: Option<(f32, MoveLink)> = None;
        for link in self.recent_move_links(yo.group, y, stamp) {
            let (xo, no) = (
                &self.objects[link.object.index()],
                &self.objects[link.newcomer.index()],
            );
            let (Some(own), Some(theirs)) = (appearance(xo, no), appearance(yo, no)) else {
                continue;
            };
            if theirs <= own + HANDOVER_MARGIN
                || theirs < self.config.min_appearance_cosine
                || yo.distinct_from.contains(&link.newcomer)
                || no.distinct_from.contains(&y)
                || self.earliest_move_ns(y_last_seen) > no.first_seen_ns
            {
                continue;
            }
            if best.is_none_or(|(m, _)| theirs - own > m) {
                best = Some((theirs - own, link));
            }
        }
        let Some((_, link)) = best else {
            return false;
        };
        let n = link.newcomer;
        self.send_back_missing(link, stamp);
        self.stats.links_handed_on += 1;
        self.merge_moved(y, n, stamp);
        true
    }

    /// Lists `a` and `b` among the tracks each was seen apart from (`distinct_from`, while
    /// there is room), so neither is taken for the other.
    fn mark_seen_apart(&mut self, a: ObjectId, b: ObjectId) {
        for (x, y) in [(a, b), (b, a)] {
            let list = &mut self.objects[x.index()].distinct_from;
            if !list.contains(&y) && list.len() < MAX_DISTINCT {
                list.push(y);
            }
            self.touch(x);
        }
    }

    /// Undoes the move link `link` of an object `x` whose last change it is: the newcomer
    /// becomes an object of its own again ([`Memory::unlink_newcomer`]), and `x` is missing
    /// from its old spot again, since the link found it empty (recorded as a move back, dated
    /// like the move it undoes so the two net out, then a missing).
    fn send_back_missing(&mut self, link: MoveLink, stamp: StampNs) {
        let (x, n, closed) = (link.object, link.newcomer, link.closed);
        let moved_at = self
            .changes_newest_first(x)
            .next()
            .map_or(stamp, |e| e.end_ns.min(e.stamp_ns));
        let there = self.unlink_newcomer(link);
        // `x`, missing from its old spot since the link found it empty.
        let (back, last_there, found_empty) = {
            let p = &self.placements[closed.index()];
            (
                p.position_world,
                p.last_seen_ns,
                p.closed_at_ns.unwrap_or(stamp),
            )
        };
        let place = self.place_for(&back).unwrap_or(there.place);
        {
            self.touch(x);
            let o = &mut self.objects[x.index()];
            o.position_world = back;
            o.last_seen_ns = last_there;
            o.place = place;
            o.missed_views = 0;
            o.open_since_ns = None;
            // The viewpoints kept were the newcomer's.
            o.seen_from.clear();
        }
        self.index_object(x, &back);
        let mut ev = self.object_event(EventKind::Moved, &self.objects[x.index()], stamp);
        ev.from_world = Some(to_f32(&there.position_world));
        ev.start_ns = moved_at;
        ev.end_ns = moved_at;
        self.push_event(ev);
        self.refresh_text_embedding(x);
        self.mark_missing(x, found_empty, stamp);
        self.refresh_text_embedding(n);
        self.refresh_label_index(n);
        self.refresh_relations(n);
    }

    /// `t`, a new track within merge reach of `x`, where `x` was moved moments ago: its last
    /// change, within `reid_window_s`, is a move to a newcomer taken for it
    /// ([`Memory::last_move_link`]), and `t` was born after the newcomer. When `t` looks unlike
    /// `x` (below [`Memory::appearance_bound`]) but like the newcomer (`min_appearance_cosine`:
    /// not a sighting with a stray look, which would look like neither), the newcomer was a
    /// look-alike put down here, whose first sighting happened to look like `x` (a cosine of
    /// 0.85-0.90 by chance), and what is seen here since is that look-alike.
    /// The link is undone ([`Memory::send_back_missing`]: `x` is missing from its old spot
    /// again) and `t` is folded into the newcomer, an object of its own (confirmed when seen
    /// often enough, as any new track) and known to be another than `x`. Returns whether it
    /// was.
    fn unlink_unlike_newcomer(&mut self, x: ObjectId, t: ObjectId, stamp: StampNs) -> bool {
        let window = self.config.reid_window_ns();
        let xo = &self.objects[x.index()];
        if window <= 0 || !xo.is_reportable() || xo.state != ObjectState::Moved {
            return false;
        }
        if !self.changes_newest_first(x).next().is_some_and(|e| {
            e.kind == EventKind::Moved && stamp.saturating_sub(e.stamp_ns) < window
        }) {
            return false;
        }
        let Some(link) = self.last_move_link(x) else {
            return false;
        };
        let (to, no) = (
            &self.objects[t.index()],
            &self.objects[link.newcomer.index()],
        );
        let (Some(own), Some(theirs)) = (appearance(xo, to), appearance(no, to)) else {
            return false;
        };
        if to.first_seen_ns <= no.first_seen_ns
            || own >= self.appearance_bound(to.times_seen)
            || theirs < self.config.min_appearance_cosine
        {
            return false;
        }
        let n = link.newcomer;
        self.send_back_missing(link, stamp);
        self.stats.links_retracted += 1;
        // Told apart by their looks, over more sightings than the link had: two objects, so
        // the newcomer is not taken for `x` again (whose look still averages in the
        // newcomer's first sighting), neither when `t` folded into it confirms it nor later.
        self.mark_seen_apart(x, n);
        // The newcomer, first seen before `t`, is the older track and survives.
        self.merge_duplicate_pair(n, t, stamp);
        let kept = self.resolve(n);
        if !self.objects[kept.index()].confirmed {
            self.maybe_confirm(kept, stamp, false);
        }
        true
    }

    /// The move links ([`Memory::last_move_link`]) of the objects of `group` other than
    /// `except` whose last change is a move recorded within the last `reid_window_s` (read off
    /// the log's index of change events), in object order.
    fn recent_move_links(&self, group: u32, except: ObjectId, stamp: StampNs) -> Vec<MoveLink> {
        let window = self.config.reid_window_ns();
        let Ok(recent) = TimeWindow::new(stamp.saturating_sub(window), stamp) else {
            return Vec::new();
        };
        let mut candidates: Vec<ObjectId> = self
            .log
            .changes_recorded_in(&recent)
            .filter(|e| e.kind == EventKind::Moved)
            .filter_map(|e| e.object.map(|o| self.resolve(o)))
            .filter(|x| {
                let xo = &self.objects[x.index()];
                *x != except
                    && xo.group == group
                    && xo.is_reportable()
                    && xo.state == ObjectState::Moved
            })
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .filter(|x| {
                self.changes_newest_first(*x).next().is_some_and(|e| {
                    e.kind == EventKind::Moved && stamp.saturating_sub(e.stamp_ns) < window
                })
            })
            .filter_map(|x| self.last_move_link(x))
            .collect()
    }

    /// The link of `x`'s last move, when it was a newcomer taken for `x` and nothing changed
    /// since: `x`'s last placement is the newcomer's, the one before it closed. The newcomer
    /// is the retired object merged into `x` with exactly that placement. Objects are created
    /// in stamp order (inputs never go back in time), so the search runs from the newest
    /// object back to the first one seen before that placement began.
    fn last_move_link(&self, x: ObjectId) -> Option<MoveLink> {
        let xo = &self.objects[x.index()];
        let at = xo.placements.len().checked_sub(2)?;
        let closed = xo.placements[at];
        self.placements[closed.index()].closed_at_ns?;
        let taken = &xo.placements[at + 1..];
        let began = self.placements[taken[0].index()].start_ns;
        let newcomer = self
            .objects
            .iter()
            .rev()
            .take_while(|no| no.first_seen_ns >= began)
            .find(|no| {
                no.id != x && no.retired && no.merged_into == Some(x) && no.placements == taken
            })?
            .id;
        Some(MoveLink {
            object: x,
            newcomer,
            closed,
            at,
        })
    }

    /// The move link that closed placement `pid`, if `t` (a new track beside it, seen within
    /// `gap_ns` of the closing) shows it wrong: the placement's object was re-identified as a
    /// newcomer elsewhere at that moment ([`Memory::merge_moved`]), has not changed since, is
    /// compatible with `t` (group, appearance), and the newcomer is known. Not when `t` may be
    /// a look-alike put down there ([`Memory::put_down_look_alike`]).
    fn retractable_link(
        &self,
        t: ObjectId,
        pid: PlacementId,
        stamp: StampNs,
        gap_ns: StampNs,
    ) -> Option<MoveLink> {
        let p = self.placements.get(pid.index())?;
        let closed_at = p.closed_at_ns?;
        if stamp.saturating_sub(closed_at) >= gap_ns {
            return None;
        }
        let x = p.object;
        let (xo, to) = (self.objects.get(x.index())?, &self.objects[t.index()]);
        // (Sightings together with the object's record say nothing: since the link it stands
        // for the newcomer.)
        if x == t
            || !xo.is_reportable()
            || xo.state != ObjectState::Moved
            || xo.group != to.group
            || appearance(xo, to).is_some_and(|c| c < self.config.min_appearance_cosine)
        {
            return None;
        }
        if self.put_down_look_alike(x, t) {
            return None;
        }
        // The newcomer's placements follow the one the link closed.
        let at = xo.placements.iter().position(|q| *q == pid)?;
        let taken = &xo.placements[at + 1..];
        if taken.is_empty() {
            return None;
        }
        // The link is the object's last change: a move recorded when the placement closed.
        let last_change = self.changes_newest_first(x).next()?;
        if last_change.kind != EventKind::Moved || last_change.stamp_ns != closed_at {
            return None;
        }
        // The newcomer: retired into the object, with exactly those placements (it was
        // confirmed before the link, so the log holds its first sighting).
        let newcomer = self.object_events[x.index()].iter().find_map(|e| {
            let n = self.log.get(*e)?.object?;
            let no = self.objects.get(n.index())?;
            (n != x && no.retired && no.merged_into == Some(x) && no.placements == taken)
                .then_some(n)
        })?;
        Some(MoveLink {
            object: x,
            newcomer,
            closed: pid,
            at,
        })
    }

    /// Retracts a move link ([`Memory::retractable_link`]): the newcomer becomes an object of
    /// its own again, where the object had been taken to (with what was seen there since);
    /// the object is back at its closed placement, with `t`, seen there now, folded into it.
    /// The log is append-only: a move back is recorded, so a window's changes net out.
    fn undo_move_link(&mut self, link: MoveLink, t: ObjectId, stamp: StampNs) {
        let MoveLink {
            object: x,
            newcomer: n,
            closed,
            at,
        } = link;
        let (there, newcomer_seen) = self.detach_newcomer(link);
        // The object, back where it was.
        let state_before = self.state_before_last_move(x);
        let (back, last_there) = {
            let p = &self.placements[closed.index()];
            (p.position_world, p.last_seen_ns)
        };
        let seen = self.objects[t.index()].clone();
        {
            self.touch(x);
            let o = &mut self.objects[x.index()];
            o.position_world = back;
            o.extent_m = seen.extent_m;
            o.last_seen_ns = last_there;
            o.times_seen = o.times_seen.saturating_sub(newcomer_seen).max(1);
            o.state = state_before;
            o.missing_since_ns = None;
            o.place = seen.place;
            o.missed_views = 0;
            o.position_weight = seen.position_weight;
            o.open_visit = None;
            o.placements.truncate(at + 1);
            o.seen_from.clone_from(&seen.seen_from);
        }
        let placement = self.open_placement(x, seen.first_seen_ns);
        {
            let o = &mut self.objects[x.index()];
            o.placements.push(placement);
            o.open_since_ns = Some(seen.first_seen_ns);
        }
        self.index_object(x, &back);
        let mut ev = self.object_event(EventKind::Moved, &self.objects[x.index()], stamp);
        ev.from_world = Some(to_f32(&there.position_world));
        ev.start_ns = there.last_seen_ns;
        ev.end_ns = seen.first_seen_ns;
        self.push_event(ev);
        self.stats.links_retracted += 1;
        self.absorb_duplicate(x, t, stamp);
        self.refresh_text_embedding(n);
        self.refresh_label_index(n);
        self.refresh_relations(n);
        self.refresh_text_embedding(x);
        self.refresh_label_index(x);
        self.refresh_relations(x);
    }

    /// The newcomer of a move link becomes an object of its own again, where the object had
    /// been taken to, with what was seen there since (its placements and events). Returns the
    /// object's record as it was before (standing for the newcomer since the link) and the
    /// newcomer's sightings.
    fn detach_newcomer(&mut self, link: MoveLink) -> (MemoryObject, u32) {
        let MoveLink {
            object: x,
            newcomer: n,
            at,
            ..
        } = link;
        let there = self.objects[x.index()].clone();
        // The newcomer, as it has been seen since it was taken for the object.
        for pid in &there.placements[at + 1..] {
            self.touch_placement(*pid);
            self.placements[pid.index()].object = n;
        }
        let newcomer_seen = self.objects[n.index()].times_seen;
        {
            self.touch(n);
            let o = &mut self.objects[n.index()];
            o.retired = false;
            o.merged_into = None;
            o.position_world = there.position_world;
            o.extent_m = there.extent_m;
            o.last_seen_ns = there.last_seen_ns;
            o.state = ObjectState::Present;
            o.missing_since_ns = None;
            o.place = there.place;
            o.missed_views = 0;
            o.position_weight = there.position_weight;
            o.open_visit = there.open_visit;
            o.open_since_ns = there.open_since_ns;
            o.seen_from.clone_from(&there.seen_from);
        }
        let (mine, theirs): (Vec<EventId>, Vec<EventId>) =
            std::mem::take(&mut self.object_events[x.index()])
                .into_iter()
                .partition(|e| {
                    self.log
                        .get(*e)
                        .and_then(|e| e.object)
                        .is_none_or(|o| self.resolve(o) != n)
                });
        self.object_events[x.index()] = mine;
        self.object_events[n.index()].extend(theirs);
        self.object_events[n.index()].sort_unstable();
        self.hand_seen_together_to_newcomer(x, n);
        let pos_n = self.objects[n.index()].position_world;
        self.index_object(n, &pos_n);
        let (group, since) = {
            let o = &self.objects[n.index()];
            (o.group, o.first_seen_ns)
        };
        self.reid_enroll(n, group, since);
        (there, newcomer_seen)
    }

    /// A move link of `x` to its newcomer `n` is being undone: since the newcomer's first
    /// sighting, `x`'s record stood for the newcomer, so a track first seen since then that
    /// was listed as seen together with `x` (`distinct_from`, on either side) was seen
    /// together with the newcomer, not with `x`. Those marks move to `n`. Left with `x`, they
    /// would keep the track from ever being taken for `x`: the object's own newcomer, seen
    /// beside the look-alike that was taken for it, could not re-identify it once it is
    /// missing again (seed 613's bananas). Tracks first seen before the newcomer keep their
    /// marks: nothing tells which record they were seen with. Objects are created in stamp
    /// order, so the search runs from the newest object back to the newcomer.
    fn hand_seen_together_to_newcomer(&mut self, x: ObjectId, n: ObjectId) {
        let since = self.objects[n.index()].first_seen_ns;
        let since_newcomer: Vec<ObjectId> = self
            .objects
            .iter()
            .rev()
            .take_while(|o| o.first_seen_ns >= since)
            .filter(|o| {
                o.id != x
                    && o.id != n
                    && !o.retired
                    && (o.distinct_from.contains(&x)
                        || self.objects[x.index()].distinct_from.contains(&o.id))
            })
            .map(|o| o.id)
            .collect();
        if since_newcomer.is_empty() {
            return;
        }
        self.touch(x);
        self.objects[x.index()]
            .distinct_from
            .retain(|d| !since_newcomer.contains(d));
        for t in since_newcomer {
            // (`mark_seen_apart` marks `t` changed.)
            self.objects[t.index()].distinct_from.retain(|d| *d != x);
            self.mark_seen_apart(t, n);
        }
    }

    /// An object's change events in RAM (moved, missing, reappeared), newest first.
    fn changes_newest_first(&self, x: ObjectId) -> impl Iterator<Item = &Event> + '_ {
        self.object_events[x.index()].iter().rev().filter_map(|e| {
            let e = self.log.get(*e)?;
            matches!(
                e.kind,
                EventKind::Moved | EventKind::Missing | EventKind::Reappeared
            )
            .then_some(e)
        })
    }

    /// The state an object had before its last move: moved, if it had moved before (its
    /// previous change was a move), else present.
    fn state_before_last_move(&self, x: ObjectId) -> ObjectState {
        match self.changes_newest_first(x).nth(1).map(|e| e.kind) {
            Some(EventKind::Moved) => ObjectState::Moved,
            _ => ObjectState::Present,
        }
    }

    /// Counts expected-but-unseen objects in this keyframe; declares missing or drops false
    /// positives.
    pub(super) fn detect_changes(
        &mut self,
        obs: &Observation,
        camera_from_world: &Isometry3<f64>,
        seen_now: &BTreeSet<ObjectId>,
        stamp: StampNs,
        robot_place: PlaceId,
    ) -> Vec<ObjectId> {
        let mut charged = Vec::new();
        // Everything in view lies in the frustum's ball (a centimetre more covers rounding).
        let (ball_center, ball_m) = frustum_ball_world(obs);
        let reach = ball_m + self.max_extent_seen_m + 0.01;
        // Frustum test on the index's compact positions first; objects are touched only when in
        // view (most candidates of the radius search are not).
        let mut expected: Vec<ObjectId> = Vec::new();
        let margin = self.config.frustum_margin_px;
        self.objects_within(
            [
                ball_center.x as f32,
                ball_center.y as f32,
                ball_center.z as f32,
            ],
            reach as f32,
            |raw, _| {
                let Some(pos) = self.object_index.position(raw) else {
                    return;
                };
                let p = Point3::new(f64::from(pos[0]), f64::from(pos[1]), f64::from(pos[2]));
                if obs.camera.sees(&(camera_from_world * p), margin) {
                    expected.push(ObjectId(raw));
                }
            },
        );
        expected.sort_unstable();
        for id in expected {
            if seen_now.contains(&id) {
                continue;
            }
            let obj = &self.objects[id.index()];
            if obj.retired || obj.last_seen_ns >= stamp || !obj.seen_from.contains(&robot_place) {
                continue;
            }
            let p_cam = camera_from_world * obj.position_world;
            if !obs.camera.sees(&p_cam, self.config.frustum_margin_px) {
                continue;
            }
            if let Some(depth) = &obs.depth {
                // Tested at the top of the object: it rests on a surface, and an estimate a
                // little low (position noise) would put its centre behind that surface in the
                // depth image, hiding an empty spot. Lifted by a few standard errors of the
                // estimate: for a flat object seen at a grazing angle a few centimetres put the
                // test window on the surface in front of it.
                let lift_m = self.config.occlusion_lift_std_errors * self.config.detection_noise_m
                    / f64::from(obj.times_seen.max(1)).sqrt();
                let top_world =
                    obj.position_world + Vector3::new(0.0, 0.0, 0.5 * obj.extent_m.z + lift_m);
                // A tall object near the image's edge may have its top (or the lifted test
                // point) out of frame while most of it is in view, as a detector needs: the
                // highest point of its vertical axis still in frame stands in for the top.
                let top_cam = camera_from_world * top_world;
                let most_cam = camera_from_world
                    * (obj.position_world
                        + Vector3::new(0.0, 0.0, IN_FRAME_HALF_HEIGHT * obj.extent_m.z));
                let p_cam = if obs.camera.sees(&most_cam, 0.0) {
                    highest_in_view(
                        &obs.camera,
                        self.config.frustum_margin_px,
                        camera_from_world * obj.position_world,
                        top_cam,
                    )
                } else {
                    top_cam
                };
                let Some((u, v)) = obs.camera.project(&p_cam) else {
                    continue;
                };
                let margin = self.config.occlusion_margin_m
                    + 0.5 * max_extent(&obj.extent_m)
                    + self.config.occlusion_depth_fraction * p_cam.z;
                let clear = depth.unoccluded_fraction(
                    &obs.camera,
                    u,
                    v,
                    self.config.occlusion_window_px,
                    p_cam.z - margin,
                );
                match clear {
                    Some(f) if f >= 0.5 => {}
                    // Mostly occluded, or no depth return: cannot tell.
                    _ => continue,
                }
            }
            if self.objects[id.index()].state == ObjectState::Missing {
                // Gone still, seen on a later visit: its spot in view, and nothing of its kind
                // seen there (a track seen there may be the object, back).
                let (group, spot, since) = {
                    let o = &self.objects[id.index()];
                    (o.group, o.position_world, o.missing_since_ns)
                };
                let later_visit =
                    since.is_some_and(|s| stamp >= s.saturating_add(self.config.visit_gap_ns()));
                let kind_there = seen_now.iter().any(|s| {
                    let o = &self.objects[s.index()];
                    o.group == group && (o.position_world - spot).norm() <= self.config.gate_base_m
                });
                // Counted up to the views that confirm it gone (`absent_seen`).
                let confirming = self
                    .absent_views
                    .get(&id)
                    .is_none_or(|(n, _)| *n < self.config.missing_after_views);
                if later_visit && !kind_there && confirming {
                    self.touch(id);
                    let views = self.absent_views.entry(id).or_insert((0, stamp));
                    *views = (views.0.saturating_add(1), stamp);
                }
                continue;
            }
            self.touch(id);
            let obj = &mut self.objects[id.index()];
            if obj.missed_views == 0 {
                self.missed_since.insert(id, stamp);
            }
            obj.missed_views = obj.missed_views.saturating_add(1);
            if !obj.confirmed {
                if obj.missed_views >= self.config.tentative_max_misses {
                    self.drop_tentative(id);
                }
            } else {
                let absent_long_enough =
                    stamp.saturating_sub(obj.last_seen_ns) >= self.config.missing_min_absence_ns();
                if (absent_long_enough && obj.missed_views >= self.config.missing_after_views)
                    || (obj.missed_views >= self.config.missing_after_views_with_candidate
                        && self.find_new_match(id).is_some_and(|n| {
                            !self.rival_as_likely(id, n) && !self.claim_deferred(id, n)
                        }))
                {
                    self.declare_missing(id, stamp);
                } else {
                    charged.push(id);
                }
            }
        }
        charged
    }

    /// `gone` is now known to be `survivor`: retire it, and hand its history (events) over.
    fn retire_into(&mut self, gone: ObjectId, survivor: ObjectId) {
        self.missed_since.remove(&gone);
        self.absent_views.remove(&gone);
        self.touch(gone);
        let r = &mut self.objects[gone.index()];
        r.retired = true;
        r.merged_into = Some(survivor);
        r.open_visit = None;
        r.open_since_ns = None;
        let moved_events = std::mem::take(&mut self.object_events[gone.index()]);
        self.object_events[survivor.index()].extend(moved_events);
        self.object_events[survivor.index()].sort_unstable();
        self.refresh_group(survivor);
        self.text_embeddings.remove(&gone);
        self.object_index.remove(gone.0);
    }

    /// Drops a tentative track as a false positive. One with an appearance stays a
    /// re-identification candidate ([`Memory::find_new_match`]): a false positive looks like
    /// nothing in particular, so a dropped sighting that looks like an object found gone in
    /// the same sweep was that object, seen once where it had been carried.
    pub(super) fn drop_tentative(&mut self, id: ObjectId) {
        self.missed_since.remove(&id);
        if self.objects[id.index()].embedding.is_none() {
            self.reid_withdraw(id);
        }
        self.touch(id);
        let obj = &mut self.objects[id.index()];
        obj.retired = true;
        obj.open_visit = None;
        self.object_index.remove(id.0);
        self.stats.false_positives_dropped += 1;
        self.refresh_label_index(id);
    }

    /// A dropped tentative track was a real object after all (see [`Memory::drop_tentative`]):
    /// its sightings form a visit again, and it no longer counts as a false positive.
    fn revive_dropped(&mut self, id: ObjectId) {
        self.touch(id);
        let o = &mut self.objects[id.index()];
        o.retired = false;
        o.open_visit = Some((o.first_seen_ns, o.last_seen_ns));
        self.stats.false_positives_dropped = self.stats.false_positives_dropped.saturating_sub(1);
    }

    pub(super) fn declare_missing(&mut self, id: ObjectId, stamp: StampNs) {
        // Missed again and again right next to a look-alike that keeps being seen: a duplicate.
        if let Some(twin) = self.find_duplicate(id) {
            self.merge_duplicate_pair(id, twin, stamp);
            return;
        }
        if let Some(new) = self
            .find_new_match(id)
            .filter(|n| !self.better_rival(id, *n))
        {
            // A newcomer already waiting goes to the object it favours most of those found
            // gone in this sweep.
            let favours_another = self.config.wait_for_likelier_source
                && self.pending_reid.contains_key(&new)
                && self.find_missing_match(new, true).is_some_and(|b| {
                    self.reid_order(&self.objects[new.index()], b, id) == std::cmp::Ordering::Less
                });
            let n = &self.objects[new.index()];
            if n.retired || !(favours_another || self.source_likelier_unchecked(id, new)) {
                self.merge_moved(id, new, stamp);
                return;
            }
            // Another look-alike, unchecked since, looks more like the newcomer, or a missing
            // one it favours more waits for it: `id` goes missing, and the newcomer waits for
            // the sweep (a tentative one is weighed again when it is confirmed).
            if n.confirmed {
                let deadline = stamp.saturating_add(self.config.reid_window_ns());
                self.pending_reid.entry(new).or_insert(deadline);
            }
        }
        if self.hand_newcomer_to_better_old(id, stamp) {
            return;
        }
        self.close_current_placement(id, stamp);
        self.touch(id);
        if let Some((s, e)) = self.objects[id.index()].open_visit.take() {
            self.emit_visit(id, s, e, stamp);
        }
        self.mark_missing(id, stamp, stamp);
    }

    /// Makes `id` (its placement closed, no open visit) missing since `since_ns`: indexed as a
    /// missing object of its group, no longer a re-identification candidate, a missing event
    /// recorded at `stamp` from its last sighting on, its label index and relations refreshed.
    fn mark_missing(&mut self, id: ObjectId, since_ns: StampNs, stamp: StampNs) {
        let last_seen = self.objects[id.index()].last_seen_ns;
        self.touch(id);
        self.objects[id.index()].state = ObjectState::Missing;
        self.objects[id.index()].missing_since_ns = Some(since_ns);
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        self.index_missing(group, id);
        self.reid_withdraw(id);
        self.absent_views.remove(&id);
        let mut ev = self.object_event(EventKind::Missing, &self.objects[id.index()], stamp);
        ev.start_ns = last_seen;
        self.push_event(ev);
        self.refresh_label_index(id);
        self.refresh_relations(id);
    }

    /// How close two tracks of compatible objects must be to be taken for one object, m:
    /// `merge_distance_m`, or `merge_extent_fraction` of the smallest dimension of either
    /// extent when that is larger (two solid objects cannot stand closer than that).
    pub(super) fn merge_limit_m(&self, a: &MemoryObject, b: &MemoryObject) -> f64 {
        let smallest = min_extent(&a.extent_m).min(min_extent(&b.extent_m));
        self.config
            .merge_distance_m
            .max(self.config.merge_extent_fraction * smallest)
    }

    /// Merges `id` with a compatible object within [`Memory::merge_limit_m`] that was never
    /// seen together with it (a duplicate created by noise). The older object survives.
    pub(super) fn merge_duplicates(
        &mut self,
        id: ObjectId,
        seen_now: &BTreeSet<ObjectId>,
        stamp: StampNs,
    ) {
        if self.objects[id.index()].retired {
            return;
        }
        let pos = self.objects[id.index()].position_world;
        let label = self.objects[id.index()].label.clone();
        let group = self.group_of(&label);
        // No limit with another object exceeds the one with itself.
        let reach = self.merge_limit_m(&self.objects[id.index()], &self.objects[id.index()]);
        let mut candidates: Vec<(f32, u32)> = Vec::new();
        self.objects_within(to_f32(&pos), reach as f32, |raw, d2| {
            candidates.push((d2, raw));
        });
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let gap = self.config.min_move_gap_ns();
        for (d2, raw) in candidates {
            let other = ObjectId(raw);
            if other == id {
                continue;
            }
            let (a, b) = (&self.objects[id.index()], &self.objects[other.index()]);
            let (older, newer) = if (a.first_seen_ns, a.id) <= (b.first_seen_ns, b.id) {
                (a, b)
            } else {
                (b, a)
            };
            // Not one object but a replacement: the newer track turned up only after time
            // enough for someone to take the older one away and put this one down, and looks
            // different (a third plate where the second stood). The older one, missed from now
            // on, goes missing or is re-identified elsewhere.
            let look = appearance(a, b);
            let replaced = gap > 0
                && newer.first_seen_ns.saturating_sub(older.last_seen_ns) >= gap
                && look.is_some_and(|c| c < self.appearance_bound(newer.times_seen));
            // Too early to say which look is the object's: the older track's look rests on a
            // sighting or two, the newer one's on a single one, and they disagree. One of
            // them may have looked wrong (a box mostly covered by something nearer); the next
            // sighting, matched to one of them, decides, and the merge then keeps that look
            // (`pool_embeddings`).
            let undecided = older.times_seen <= FEW_SIGHTINGS_FOR_A_LOOK
                && newer.times_seen <= 1
                && look.is_some_and(|c| c < self.appearance_bound(1));
            if replaced
                || undecided
                || f64::from(d2).sqrt() > self.merge_limit_m(a, b)
                || b.retired
                || b.state == ObjectState::Missing
                || a.state == ObjectState::Missing
                || b.group != group
                || a.distinct_from.contains(&other)
                || b.distinct_from.contains(&id)
                || (seen_now.contains(&id) && seen_now.contains(&other))
            {
                continue;
            }
            let (older_id, newer_id) = (older.id, newer.id);
            if self.unlink_unlike_newcomer(older_id, newer_id, stamp) {
                return;
            }
            self.merge_duplicate_pair(id, other, stamp);
            return;
        }
    }

    /// Merges two tracks of one object: the older (first seen earlier, then lower id) survives.
    pub(super) fn merge_duplicate_pair(&mut self, a: ObjectId, b: ObjectId, stamp: StampNs) {
        let (oa, ob) = (&self.objects[a.index()], &self.objects[b.index()]);
        if (oa.first_seen_ns, oa.id) <= (ob.first_seen_ns, ob.id) {
            self.absorb_duplicate(a, b, stamp);
        } else {
            self.absorb_duplicate(b, a, stamp);
        }
    }

    pub(super) fn absorb_duplicate(&mut self, keep: ObjectId, drop: ObjectId, stamp: StampNs) {
        let d = self.objects[drop.index()].clone();
        let limit = self.merge_limit_m(&self.objects[keep.index()], &d);
        self.reid_withdraw(drop);
        self.missed_since.remove(&keep);
        let (vk, vd) = (self.scatter_m2_of(keep), self.scatter_m2_of(drop));
        let agree = self.appearance_bound(self.objects[keep.index()].times_seen.min(d.times_seen));
        {
            self.touch(keep);
            let k = &mut self.objects[keep.index()];
            let total = k.position_weight + d.position_weight;
            let apart = (d.position_world - k.position_world).norm();
            // The sighting scatter goes with the estimate: the survivor's, or both pooled.
            let scatter = if apart > limit {
                // Two tracks of one object some way apart: the one seen last is where it is.
                if d.last_seen_ns > k.last_seen_ns {
                    k.position_world = d.position_world;
                    k.extent_m = d.extent_m;
                    vd
                } else {
                    vk
                }
            } else if total > 0.0 {
                k.position_world +=
                    (d.position_world - k.position_world) * (d.position_weight / total);
                ((f64::from(vk) * k.position_weight + f64::from(vd) * d.position_weight) / total)
                    as f32
            } else {
                vk
            };
            if let Some(slot) = self.sighting_scatter_m2.get_mut(keep.index()) {
                *slot = scatter;
            }
            for (label, votes) in d.label_votes.iter() {
                k.label_votes.add(label, votes);
            }
            k.label = k.label_votes.majority_label();
            pool_embeddings(
                &mut k.embedding,
                k.times_seen,
                d.embedding.as_deref(),
                d.times_seen,
                agree,
            );
            k.times_seen = k.times_seen.saturating_add(d.times_seen);
            k.last_seen_ns = k.last_seen_ns.max(d.last_seen_ns);
            k.first_seen_ns = k.first_seen_ns.min(d.first_seen_ns);
            k.confidence = k.confidence.max(d.confidence);
            k.position_weight = total.min(self.config.max_position_weight);
            k.missed_views = 0;
            k.open_visit = match (k.open_visit, d.open_visit) {
                (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                (a, b) => a.or(b),
            };
            if k.text.is_none() {
                k.text.clone_from(&d.text);
            }
            for p in &d.seen_from {
                if !k.seen_from.contains(p) && k.seen_from.len() < MAX_SEEN_FROM {
                    k.seen_from.push(*p);
                }
            }
        }
        // The duplicate's placements stay as evidence of where the object was (they resolve to
        // the survivor); its open one closes now.
        for pid in &d.placements {
            self.touch_placement(*pid);
            let p = &mut self.placements[pid.index()];
            if p.closed_at_ns.is_none() {
                p.closed_at_ns = Some(stamp);
                let pos = to_f32(&p.position_world);
                self.closed_index.upsert(pid.0, pos);
            }
        }
        self.retire_into(drop, keep);
        let pos = self.objects[keep.index()].position_world;
        if let Some(pid) = self.objects[keep.index()].placements.last().copied() {
            self.touch_placement(pid);
            let p = &mut self.placements[pid.index()];
            if p.closed_at_ns.is_none() {
                p.position_world = pos;
                p.last_seen_ns = p.last_seen_ns.max(d.last_seen_ns);
            }
        }
        self.index_object(keep, &pos);
        self.stats.duplicates_merged += 1;
        // A confirmed duplicate folded into a tentative one confirms it.
        if d.confirmed && !self.objects[keep.index()].confirmed {
            self.maybe_confirm(keep, stamp, false);
        }
        self.refresh_label_index(drop);
        self.refresh_label_index(keep);
        self.refresh_relations(drop);
        self.refresh_relations(keep);
    }
}

/// A move link: `object`'s placement `closed` (its `at`-th) was closed when `newcomer` was
/// taken for it, seen elsewhere, and folded into it (the newcomer's placements follow).
#[derive(Debug, Clone, Copy)]
struct MoveLink {
    object: ObjectId,
    newcomer: ObjectId,
    closed: PlacementId,
    at: usize,
}

/// Whether `new` looks more like `rival` than like `old`: appearance cosine higher by more than
/// [`RIVAL_MARGIN`] (false when either lacks an embedding).
fn looks_more_like(new: &MemoryObject, rival: &MemoryObject, old: &MemoryObject) -> bool {
    matches!((appearance(old, new), appearance(rival, new)),
        (Some(own), Some(theirs)) if theirs > own + RIVAL_MARGIN)
}

/// Since when `o` has been where it is: for an object moved there, since its newcomer's first
/// sighting there; otherwise since its first sighting.
fn here_since(o: &MemoryObject) -> StampNs {
    match (o.state, o.open_since_ns) {
        (ObjectState::Moved, Some(t)) => t,
        _ => o.first_seen_ns,
    }
}

/// Smallest dimension of an extent, m.
fn min_extent(e: &Vector3<f64>) -> f64 {
    e.x.min(e.y).min(e.z).max(0.0)
}

/// How far above its centre (a fraction of its height) an object must be in frame to be
/// expected in view when its top is not: a detector finds an object cut off at its top edge
/// if most of it shows (the middle 70 % of its height).
const IN_FRAME_HALF_HEIGHT: f64 = 0.35;

/// The point nearest `top` on the segment from `centre` (in view) to `top` that `camera` sees
/// (at least `margin_px` inside the image): `top` itself when in view, else found by bisection
/// to a thousandth of the segment.
fn highest_in_view(
    camera: &crate::core::geometry::PinholeCamera,
    margin_px: f64,
    centre: Point3<f64>,
    top: Point3<f64>,
) -> Point3<f64> {
    if camera.sees(&top, margin_px) || !camera.sees(&centre, margin_px) {
        return top;
    }
    let (mut inside, mut outside) = (0.0, 1.0);
    for _ in 0..10 {
        let mid = 0.5 * (inside + outside);
        if camera.sees(&centre.lerp(&top, mid), margin_px) {
            inside = mid;
        } else {
            outside = mid;
        }
    }
    centre.lerp(&top, inside)
}
