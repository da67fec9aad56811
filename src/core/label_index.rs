//! Owns [`LabelIndex`]: the reportable objects of each label, in the order a `Where` query
//! reports them (present before missing, then most recently seen first, then lowest id).
//!
//! Every sighting moves its object to the front of its label's order, so this is updated for
//! nearly every detection. A `BTreeSet` of `(missing, Reverse(last_seen), id)` per label did it
//! with a remove and an insert (node searches, splits and merges, allocations) and cost a sixth
//! of the ingest time at a million objects. Here the present objects of a label form a doubly
//! linked list through a per-object array: a sighting (its stamp is the newest) unlinks the
//! object and puts it at the head, a few array writes. An out-of-order stamp (merging two tracks
//! keeps the later sighting of the two, which may be older than the label's head) walks to its
//! place. Missing objects change rarely and keep a `BTreeSet` per label.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::fast_hash::FastMap;
use super::ids::ObjectId;
use super::label::Label;
use super::time::StampNs;

/// No object / no label.
const NONE: u32 = u32::MAX;

/// One label's members.
#[derive(Debug, Clone)]
struct Slot {
    label: Label,
    /// First present member (the most recently seen); [`NONE`] when none.
    head: u32,
    /// Missing members, most recently seen first.
    missing: BTreeSet<(Reverse<StampNs>, ObjectId)>,
}

/// Where one object stands in the index.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Its label's slot; [`NONE`] when the object is not in the index.
    slot: u32,
    missing: bool,
    last_seen_ns: StampNs,
    /// Neighbours in the present list ([`NONE`] at the ends); unused when missing.
    prev: u32,
    next: u32,
}

const ABSENT: Entry = Entry {
    slot: NONE,
    missing: false,
    last_seen_ns: 0,
    prev: NONE,
    next: NONE,
};

/// Reportable objects per label, ordered as a `Where` query lists them.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelIndex {
    slot_of: FastMap<Label, u32>,
    slots: Vec<Slot>,
    /// Per object id.
    entries: Vec<Entry>,
}

/// What [`LabelIndex::set`] puts an object under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership<'a> {
    /// The object's label.
    pub label: &'a Label,
    /// Whether it is missing.
    pub missing: bool,
    /// Its last sighting, ns.
    pub last_seen_ns: StampNs,
}

impl LabelIndex {
    /// An index holding `members` (object, label, missing, last seen), built in one pass.
    pub(crate) fn from_members<'a>(
        members: impl Iterator<Item = (ObjectId, Membership<'a>)>,
    ) -> Self {
        let mut index = Self::default();
        let mut present: Vec<(u32, Reverse<StampNs>, ObjectId)> = Vec::new();
        for (id, m) in members {
            let slot = index.slot_for(m.label);
            index.grow_to(id);
            index.entries[id.index()] = Entry {
                slot,
                missing: m.missing,
                last_seen_ns: m.last_seen_ns,
                prev: NONE,
                next: NONE,
            };
            if m.missing {
                index.slots[slot as usize]
                    .missing
                    .insert((Reverse(m.last_seen_ns), id));
            } else {
                present.push((slot, Reverse(m.last_seen_ns), id));
            }
        }
        // Each label's list in order, linked back to front.
        present.sort_unstable();
        for &(slot, _, id) in present.iter().rev() {
            let head = index.slots[slot as usize].head;
            index.entries[id.index()].next = head;
            if head != NONE {
                index.entries[head as usize].prev = id.0;
            }
            index.slots[slot as usize].head = id.0;
        }
        index
    }

    /// Puts `id` under `membership` (moving it from where it was), or takes it out (`None`).
    /// Returns true when this made a label known that was not (its first member, or its first
    /// since [`LabelIndex::forget_label`]).
    pub(crate) fn set(&mut self, id: ObjectId, membership: Option<Membership<'_>>) -> bool {
        self.grow_to(id);
        let old = self.entries[id.index()];
        let Some(m) = membership else {
            if old.slot != NONE {
                self.take_out(id, old);
            }
            return false;
        };
        // Same label as before (compared inline, without hashing): keep the slot.
        let same_slot = old.slot != NONE && self.slots[old.slot as usize].label == *m.label;
        if same_slot && old.missing == m.missing && old.last_seen_ns == m.last_seen_ns {
            return false;
        }
        if old.slot != NONE {
            self.take_out(id, old);
        }
        let (slot, created) = if same_slot {
            (old.slot, false)
        } else {
            let known = self.slot_of.contains_key(m.label.as_str());
            (self.slot_for(m.label), !known)
        };
        self.put_in(id, slot, m.missing, m.last_seen_ns);
        created
    }

    /// The members of `label` in order: present ones most recently seen first (ties: lower id
    /// first), then missing ones likewise.
    pub(crate) fn members(&self, label: &str) -> impl Iterator<Item = ObjectId> + '_ {
        self.slot_of
            .get(label)
            .map(|s| &self.slots[*s as usize])
            .into_iter()
            .flat_map(move |slot| {
                let first = (slot.head != NONE).then_some(slot.head);
                std::iter::successors(first, move |&c| {
                    let next = self.entries[c as usize].next;
                    (next != NONE).then_some(next)
                })
                .map(ObjectId)
                .chain(slot.missing.iter().map(|(_, id)| *id))
            })
    }

    /// Whether `label` is known and has no members left.
    pub(crate) fn is_empty_label(&self, label: &str) -> bool {
        self.slot_of.get(label).is_some_and(|s| {
            let slot = &self.slots[*s as usize];
            slot.head == NONE && slot.missing.is_empty()
        })
    }

    /// Forgets an empty label (its slot stays allocated, unused, until a rebuild).
    pub(crate) fn forget_label(&mut self, label: &str) {
        if self.is_empty_label(label) {
            self.slot_of.remove(label);
        }
    }

    /// Every known label.
    pub(crate) fn labels(&self) -> impl Iterator<Item = &Label> + '_ {
        self.slot_of.keys()
    }

    fn grow_to(&mut self, id: ObjectId) {
        if self.entries.len() <= id.index() {
            self.entries.resize(id.index() + 1, ABSENT);
        }
    }

    fn slot_for(&mut self, label: &Label) -> u32 {
        if let Some(s) = self.slot_of.get(label.as_str()) {
            return *s;
        }
        let s = self.slots.len() as u32;
        self.slots.push(Slot {
            label: label.clone(),
            head: NONE,
            missing: BTreeSet::new(),
        });
        self.slot_of.insert(label.clone(), s);
        s
    }

    fn take_out(&mut self, id: ObjectId, old: Entry) {
        let slot = &mut self.slots[old.slot as usize];
        if old.missing {
            slot.missing.remove(&(Reverse(old.last_seen_ns), id));
        } else {
            if old.prev == NONE {
                slot.head = old.next;
            } else {
                self.entries[old.prev as usize].next = old.next;
            }
            if old.next != NONE {
                self.entries[old.next as usize].prev = old.prev;
            }
        }
        self.entries[id.index()] = ABSENT;
    }

    fn put_in(&mut self, id: ObjectId, slot: u32, missing: bool, last_seen_ns: StampNs) {
        let mut entry = Entry {
            slot,
            missing,
            last_seen_ns,
            prev: NONE,
            next: NONE,
        };
        if missing {
            self.slots[slot as usize]
                .missing
                .insert((Reverse(last_seen_ns), id));
        } else {
            // After every member that comes first: seen later, or at the same time with a
            // lower id. A sighting's stamp is the newest, so this stops at the head.
            let mut prev = NONE;
            let mut cur = self.slots[slot as usize].head;
            while cur != NONE {
                let e = &self.entries[cur as usize];
                if e.last_seen_ns > last_seen_ns || (e.last_seen_ns == last_seen_ns && cur < id.0) {
                    prev = cur;
                    cur = e.next;
                } else {
                    break;
                }
            }
            entry.prev = prev;
            entry.next = cur;
            if prev == NONE {
                self.slots[slot as usize].head = id.0;
            } else {
                self.entries[prev as usize].next = id.0;
            }
            if cur != NONE {
                self.entries[cur as usize].prev = id.0;
            }
        }
        self.entries[id.index()] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The order the index must keep: a sorted set of `(missing, Reverse(last_seen), id)` per
    /// label, as the index was before.
    /// The former index key: `(missing, Reverse(last_seen), id)`.
    type Key = (bool, Reverse<StampNs>, ObjectId);

    #[derive(Default)]
    struct Model {
        sets: BTreeMap<String, BTreeSet<Key>>,
        current: BTreeMap<ObjectId, (String, Key)>,
    }

    impl Model {
        fn set(&mut self, id: ObjectId, m: Option<(&str, bool, StampNs)>) -> bool {
            if let Some((label, key)) = self.current.remove(&id) {
                if let Some(set) = self.sets.get_mut(&label) {
                    set.remove(&key);
                }
            }
            let Some((label, missing, t)) = m else {
                return false;
            };
            let key = (missing, Reverse(t), id);
            let created = !self.sets.contains_key(label);
            self.sets.entry(label.to_string()).or_default().insert(key);
            self.current.insert(id, (label.to_string(), key));
            created
        }

        fn members(&self, label: &str) -> Vec<ObjectId> {
            self.sets
                .get(label)
                .map(|s| s.iter().map(|k| k.2).collect())
                .unwrap_or_default()
        }
    }

    const LABELS: [&str; 3] = ["mug", "cup", "book"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random sightings (mostly newest-stamp, some older, many ties), state changes,
        /// relabels, removals and forgotten labels: the index lists every label exactly as the
        /// sorted-set model does, and reports new labels alike.
        #[test]
        fn matches_a_sorted_set_per_label(
            ops in proptest::collection::vec(
                (0u32..12, 0usize..4, any::<bool>(), 0i64..6, 0u8..10), 1..200)
        ) {
            let mut index = LabelIndex::default();
            let mut model = Model::default();
            let labels: Vec<Label> = LABELS.iter().map(|l| Label::new(l)).collect();
            let mut now: StampNs = 100;
            for (id, label, missing, back, what) in ops {
                let id = ObjectId(id);
                if what == 0 {
                    // An empty label is forgotten.
                    let l = LABELS[label % 3];
                    prop_assert_eq!(index.is_empty_label(l), model.sets.get(l).is_some_and(BTreeSet::is_empty));
                    if model.sets.get(l).is_some_and(BTreeSet::is_empty) {
                        model.sets.remove(l);
                    }
                    index.forget_label(l);
                    continue;
                }
                if what == 1 {
                    now += 1;
                }
                let m = (label < 3).then(|| (label, missing, if what < 4 { now - back } else { now }));
                let created = index.set(id, m.map(|(l, missing, t)| Membership {
                    label: &labels[l],
                    missing,
                    last_seen_ns: t,
                }));
                let want = model.set(id, m.map(|(l, missing, t)| (LABELS[l], missing, t)));
                prop_assert_eq!(created, want);
                for l in LABELS {
                    prop_assert_eq!(index.members(l).collect::<Vec<_>>(), model.members(l), "label {}", l);
                }
            }
            // A bulk build from the same members gives the same lists.
            let bulk = LabelIndex::from_members(model.current.iter().map(|(id, (label, key))| {
                let l = labels.iter().find(|x| x.as_str() == label).unwrap();
                (*id, Membership { label: l, missing: key.0, last_seen_ns: key.1 .0 })
            }));
            for l in LABELS {
                prop_assert_eq!(bulk.members(l).collect::<Vec<_>>(), model.members(l));
            }
        }
    }

    #[test]
    fn a_sighting_moves_an_object_to_the_front_and_missing_ones_come_last() {
        let mug = Label::new("mug");
        let mut index = LabelIndex::default();
        let put = |index: &mut LabelIndex, id: u32, missing: bool, t: StampNs| {
            index.set(
                ObjectId(id),
                Some(Membership {
                    label: &mug,
                    missing,
                    last_seen_ns: t,
                }),
            )
        };
        assert!(put(&mut index, 1, false, 10));
        assert!(!put(&mut index, 2, false, 11));
        put(&mut index, 3, true, 12);
        put(&mut index, 4, false, 11);
        let ids = |index: &LabelIndex| index.members("mug").map(|i| i.0).collect::<Vec<_>>();
        assert_eq!(ids(&index), vec![2, 4, 1, 3]);
        put(&mut index, 1, false, 20);
        assert_eq!(ids(&index), vec![1, 2, 4, 3]);
        index.set(ObjectId(2), None);
        assert_eq!(ids(&index), vec![1, 4, 3]);
        assert!(index.members("cup").next().is_none());
    }
}
