//! The 3D scene graph: objects, places, placements and geometric relations, in arenas.
//!
//! Owns the graph's data types and the pure geometric predicates behind `on` / `in` / `near`.
//! It does not decide *when* things change (that is association and change detection in
//! `memory`); it only stores them and answers structural questions.

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

use super::ids::{ObjectId, PlaceId, PlacementId};
use super::label::Label;
use super::time::StampNs;

/// What the memory believes about an object now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectState {
    /// Seen where it was last seen.
    Present,
    /// Present, at a new position since its last change (re-identified elsewhere).
    Moved,
    /// Expected in view several times and not seen.
    Missing,
}

impl ObjectState {
    /// Whether the object is believed to be somewhere now (present or moved).
    pub fn is_present(self) -> bool {
        !matches!(self, ObjectState::Missing)
    }

    /// Lower-case name, as used in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectState::Present => "present",
            ObjectState::Moved => "moved",
            ObjectState::Missing => "missing",
        }
    }
}

/// Score-weighted label votes, sorted by label. A small sorted vector rather than a map: an
/// object holds one to three labels, and at a million objects a B-tree node per object costs
/// hundreds of megabytes; labels are [`Label`]s, so a short one needs no heap buffer either.
/// Serialises as a map (label -> votes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelVotes(Vec<(Label, f32)>);

impl LabelVotes {
    /// One label with its first votes.
    pub fn single(label: &str, votes: f32) -> Self {
        Self(vec![(Label::from(label), votes)])
    }

    /// Adds `votes` to `label` (inserting it).
    pub fn add(&mut self, label: &str, votes: f32) {
        match self.0.binary_search_by(|(l, _)| l.as_str().cmp(label)) {
            Ok(i) => self.0[i].1 += votes,
            Err(i) => self.0.insert(i, (Label::from(label), votes)),
        }
    }

    /// Votes for `label`.
    pub fn get(&self, label: &str) -> Option<f32> {
        self.0
            .binary_search_by(|(l, _)| l.as_str().cmp(label))
            .ok()
            .map(|i| self.0[i].1)
    }

    /// (label, votes) in label order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> {
        self.0.iter().map(|(l, v)| (l.as_str(), *v))
    }

    /// Labels in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(l, _)| l.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no label has votes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops every vote.
    pub fn clear(&mut self) {
        self.0 = Vec::new();
    }

    /// The label with the most votes (the first in label order on a tie).
    pub fn majority(&self) -> Option<&Label> {
        let mut best: Option<(&Label, f32)> = None;
        for (label, v) in &self.0 {
            let v = *v;
            match best {
                Some((_, bv)) if v <= bv => {}
                _ => best = Some((label, v)),
            }
        }
        best.map(|(l, _)| l)
    }

    /// The most-voted label as an object's [`Label`] (empty when there are no votes).
    pub fn majority_label(&self) -> Label {
        self.majority().cloned().unwrap_or_default()
    }
}

impl Serialize for LabelVotes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(l, v)| (l, v)))
    }
}

impl<'de> Deserialize<'de> for LabelVotes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = LabelVotes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from label to votes")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LabelVotes, A::Error> {
                let mut out = LabelVotes(Vec::with_capacity(map.size_hint().unwrap_or(1).min(16)));
                while let Some((label, votes)) = map.next_entry::<Label, f32>()? {
                    // Written sorted; anything else is folded in (duplicates add up).
                    match out.0.last() {
                        Some((last, _)) if *last >= label => out.add(&label, votes),
                        _ => out.0.push((label, votes)),
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// An object in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryObject {
    /// Its id.
    pub id: ObjectId,
    /// Most-voted label.
    pub label: Label,
    /// Compatibility group of `label` (labels the detector confuses share one).
    pub group: u32,
    /// Score-weighted label votes (label confusion is resolved by majority).
    pub label_votes: LabelVotes,
    /// Estimated centre in the map frame, m.
    pub position_world: Point3<f64>,
    /// Estimated axis-aligned size, m.
    pub extent_m: Vector3<f64>,
    /// First sighting, ns.
    pub first_seen_ns: StampNs,
    /// Last sighting, ns.
    pub last_seen_ns: StampNs,
    /// Number of sightings.
    pub times_seen: u32,
    /// Probability-like confidence that the object is real, in [0, 1].
    pub confidence: f32,
    /// Current belief.
    pub state: ObjectState,
    /// The place it belongs to.
    pub place: PlaceId,
    /// Text read on it (OCR), if any.
    pub text: Option<String>,
    /// Appearance: running mean (L2-normalised) of the detections' embeddings, if they had any.
    pub embedding: Option<Vec<f32>>,
    /// Whether it has been seen often enough to be reported.
    pub confirmed: bool,
    /// Set when it was merged into another object (a duplicate) or dropped as a false positive;
    /// retired objects answer no query.
    pub retired: bool,
    /// The object it was merged into, if any.
    pub merged_into: Option<ObjectId>,
    /// Placements in time order; the last one is current unless the object is missing.
    pub placements: Vec<PlacementId>,
    /// Start of the open (last) placement, `None` when it is closed: the one fact `Near` needs
    /// about placements, kept on the object so queries need not load them.
    pub open_since_ns: Option<StampNs>,
    /// When it was declared missing (while it is).
    pub missing_since_ns: Option<StampNs>,
    /// Places the robot stood in when it detected this object (bounded): a miss only counts
    /// from such a place, so objects behind walls are not expected.
    pub seen_from: Vec<PlaceId>,
    /// Keyframes in a row in which it should have been seen but was not.
    pub missed_views: u32,
    /// Weight of the position estimate (sightings averaged, capped).
    pub position_weight: f64,
    /// Objects seen in the same keyframe as this one: they are distinct and never merged.
    pub distinct_from: Vec<ObjectId>,
    /// The open visit interval `(start_ns, end_ns)`, if any.
    pub open_visit: Option<(StampNs, StampNs)>,
    /// While it is a candidate for re-identification as a moved object (confirmed or tentative,
    /// never missing): its key `(group, since_ns)` in the memory's candidate sets.
    pub reid_key: Option<(u32, StampNs)>,
}

impl MemoryObject {
    /// Whether queries may report it.
    pub fn is_reportable(&self) -> bool {
        self.confirmed && !self.retired
    }

    /// Whether it is a tentative track dropped unconfirmed (its sightings were taken for
    /// false positives): retired, merged into nothing, and not erased (a tombstone keeps no
    /// placement).
    pub fn is_dropped_tentative(&self) -> bool {
        self.retired && !self.confirmed && self.merged_into.is_none() && !self.placements.is_empty()
    }
}

/// One interval during which an object stood at one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Its id.
    pub id: PlacementId,
    /// The object.
    pub object: ObjectId,
    /// Position, map frame, m (the object's estimate while the placement is open).
    pub position_world: Point3<f64>,
    /// First sighting at this position, ns.
    pub start_ns: StampNs,
    /// Last sighting at this position, ns.
    pub last_seen_ns: StampNs,
    /// When the memory learned the object was no longer here (missing or moved), ns.
    pub closed_at_ns: Option<StampNs>,
}

/// A region the robot visited, created from its trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Its id.
    pub id: PlaceId,
    /// Centre, map frame, m (the trajectory point that created it).
    pub center_world: Point3<f64>,
    /// First time the robot was here, ns.
    pub first_visit_ns: StampNs,
    /// Last time the robot was here, ns.
    pub last_visit_ns: StampNs,
}

/// Kinds of geometric relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// Subject rests on top of the object.
    On,
    /// Subject's centre lies inside the object's box.
    In,
    /// Centres closer than the `near` distance (and neither on nor in).
    Near,
}

impl RelationKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::On => "on",
            RelationKind::In => "in",
            RelationKind::Near => "near",
        }
    }
}

/// `subject kind object`, e.g. `mug on table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Relation {
    /// The object the relation is about.
    pub subject: ObjectId,
    /// Which relation.
    pub kind: RelationKind,
    /// The other object.
    pub object: ObjectId,
}

/// A box for relation tests: centre and full size, m.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxShape {
    /// Centre, map frame.
    pub center: Point3<f64>,
    /// Full size along x, y, z.
    pub extent: Vector3<f64>,
}

impl BoxShape {
    fn volume(&self) -> f64 {
        self.extent.x.max(0.0) * self.extent.y.max(0.0) * self.extent.z.max(0.0)
    }

    fn contains_xy(&self, p: &Point3<f64>) -> bool {
        (p.x - self.center.x).abs() <= self.extent.x / 2.0
            && (p.y - self.center.y).abs() <= self.extent.y / 2.0
    }
}

/// Whether `a` rests on top of `b`: smaller, centred over `b`'s footprint, its bottom within
/// `on_tolerance_m` of `b`'s top.
fn is_on(a: &BoxShape, b: &BoxShape, on_tolerance_m: f64) -> bool {
    let a_bottom = a.center.z - a.extent.z / 2.0;
    let b_top = b.center.z + b.extent.z / 2.0;
    a.volume() < b.volume()
        && b.contains_xy(&a.center)
        && (a_bottom - b_top).abs() <= on_tolerance_m
}

/// Whether `a` stands inside `b`: smaller, its centre inside `b`'s box.
fn is_in(a: &BoxShape, b: &BoxShape) -> bool {
    a.volume() < b.volume()
        && b.contains_xy(&a.center)
        && (a.center.z - b.center.z).abs() <= b.extent.z / 2.0
}

/// The relation of `a` to `b`, if any: `On` when `a`'s bottom sits within `on_tolerance_m` of
/// `b`'s top and `a`'s centre is over `b`'s footprint; `In` when `a`'s centre is inside `b`'s
/// box and `a` is the smaller; `Near` when centres are within `near_m` and neither supports or
/// contains the other. Pure; `near(a, b) == near(b, a)`.
pub fn relation_between(
    a: &BoxShape,
    b: &BoxShape,
    near_m: f64,
    on_tolerance_m: f64,
) -> Option<RelationKind> {
    if is_on(a, b, on_tolerance_m) {
        Some(RelationKind::On)
    } else if is_in(a, b) {
        Some(RelationKind::In)
    } else if (a.center - b.center).norm() <= near_m && !is_on(b, a, on_tolerance_m) && !is_in(b, a)
    {
        Some(RelationKind::Near)
    } else {
        None
    }
}

/// The largest of an extent's components, m (0 for non-finite or negative sizes).
pub fn max_extent(extent: &Vector3<f64>) -> f64 {
    extent
        .iter()
        .copied()
        .filter(|c| c.is_finite())
        .fold(0.0f64, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_votes_stay_sorted_add_up_and_break_ties_by_label() {
        let mut v = LabelVotes::single("mug", 0.5);
        v.add("cup", 0.5);
        v.add("mug", 0.25);
        v.add("bowl", 0.75);
        assert_eq!(v.keys().collect::<Vec<_>>(), ["bowl", "cup", "mug"]);
        assert_eq!(v.get("mug"), Some(0.75));
        assert_eq!(v.get("plate"), None);
        // bowl and mug tie at 0.75: the smaller label wins, as with the map it replaced.
        assert_eq!(v.majority().map(Label::as_str), Some("bowl"));
        assert_eq!(v.majority_label(), "bowl");
        v.clear();
        assert!(v.is_empty() && v.majority().is_none());
        assert_eq!(v.majority_label(), "");
    }

    fn bx(c: [f64; 3], e: [f64; 3]) -> BoxShape {
        BoxShape {
            center: Point3::new(c[0], c[1], c[2]),
            extent: Vector3::new(e[0], e[1], e[2]),
        }
    }

    #[test]
    fn mug_on_table_in_shelf_near_plate() {
        let table = bx([0.0, 0.0, 0.375], [1.2, 0.8, 0.75]);
        let mug = bx([0.1, 0.1, 0.80], [0.08, 0.08, 0.10]);
        let plate = bx([0.4, 0.1, 0.76], [0.25, 0.25, 0.02]);
        let shelf = bx([3.0, 0.0, 0.9], [0.8, 0.35, 1.8]);
        let book = bx([3.1, 0.0, 1.0], [0.15, 0.2, 0.22]);
        assert_eq!(
            relation_between(&mug, &table, 1.0, 0.1),
            Some(RelationKind::On)
        );
        assert_eq!(
            relation_between(&book, &shelf, 1.0, 0.1),
            Some(RelationKind::In)
        );
        assert_eq!(
            relation_between(&mug, &plate, 1.0, 0.1),
            Some(RelationKind::Near)
        );
        assert_eq!(
            relation_between(&plate, &mug, 1.0, 0.1),
            Some(RelationKind::Near)
        );
        // The table is not "near" the mug on it, and not on the mug.
        assert_eq!(relation_between(&table, &mug, 1.0, 0.1), None);
        assert_eq!(relation_between(&mug, &shelf, 1.0, 0.1), None);
    }
}
