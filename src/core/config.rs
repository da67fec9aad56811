//! Typed, validated configuration of the memory core.
//!
//! Owns [`MemoryConfig`]. Every field carries its unit in its name; [`MemoryConfig::validate`]
//! names the first bad field. Adapters (CLI flags, ROS parameters) fill this in once.

use serde::{Deserialize, Serialize};

use super::error::CoreError;
use super::time::{secs_to_ns, StampNs};

/// Knobs of association, change detection, places, relations and text matching.
///
/// Fields missing from a serialized config (one saved by an older version) take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryConfig {
    /// Base association gate: a detection may match an object whose centre is this close, m.
    pub gate_base_m: f64,
    /// Extra gate per metre of detection depth (depth noise grows with range).
    pub gate_per_depth: f64,
    /// Extra gate as a fraction of the larger object's largest extent (size-aware gating).
    pub gate_extent_fraction: f64,
    /// Largest ratio between a detection's and an object's largest extent that may still match.
    pub max_extent_ratio: f64,
    /// Added to the gate-normalised association cost (distance / gate, in [0, 1]) of a missing
    /// object, so a detection that a present look-alike explains about as well does not bring
    /// the missing one back.
    pub missing_match_penalty: f64,
    /// A detection matched to one object is *shared* when a confirmed, present object of the
    /// same kind that got no detection in this keyframe fits within this factor of the match's
    /// gate-normalised cost: one of the two was seen, which one is unclear, so neither is
    /// updated and only the one it fits better is spared a miss (identical objects side by
    /// side). 1 turns this off.
    pub ambiguity_ratio: f64,
    /// A match is also shared when that second object is no more than this plus
    /// `ambiguity_margin_per_depth` x detection depth farther from the detection than the first,
    /// m: within one sighting's noise the two are not told apart, even when the ratio of their
    /// distances is large (a detection a few centimetres from one twin and a few more from the
    /// other). Zero (both) turns this off.
    pub ambiguity_margin_m: f64,
    /// Depth-proportional part of that margin (noise grows with range).
    pub ambiguity_margin_per_depth: f64,
    /// Groups of labels the detector confuses (e.g. `[cup, mug]`): members may associate.
    pub compatible_labels: Vec<Vec<String>>,
    /// Sightings before an object is confirmed (and reported); fewer is tentative. A track born
    /// beside a confirmed, alike track of its label seen in the same keyframe (within
    /// `gate_base_m`) is confirmed by its first sighting: two detections of one label in one
    /// image are two objects.
    pub min_sightings_to_confirm: u32,
    /// Keyframes in which a confirmed object should have been seen but was not before it is
    /// declared missing.
    pub missing_after_views: u32,
    /// The same, when a look-alike that could be this object (a re-identification candidate)
    /// turned up elsewhere since it was last seen: that makes a move likelier than a miss, so
    /// fewer views suffice, unless another object of its kind, not checked since the
    /// look-alike turned up, could just as well be the one that moved. At most
    /// `missing_after_views`.
    pub missing_after_views_with_candidate: u32,
    /// An object seen less than this long ago is not declared missing on missed views alone: a
    /// detector's misses a second apart are not independent evidence (a re-identification
    /// candidate elsewhere is, so `missing_after_views_with_candidate` does not wait), s.
    pub missing_min_absence_s: f64,
    /// Expected-but-unseen keyframes after which a tentative object is dropped as a false positive.
    pub tentative_max_misses: u32,
    /// Pixels from the image border inside which an object does not count as expected.
    pub frustum_margin_px: f64,
    /// Base tolerance of the occlusion test, m: depth closer than the object's top (the centre
    /// of its upper face) by more than this plus half the object's largest extent plus
    /// `occlusion_depth_fraction` of its depth counts as something in front of it.
    pub occlusion_margin_m: f64,
    /// Depth-proportional part of the occlusion tolerance (sensor noise grows with range).
    pub occlusion_depth_fraction: f64,
    /// Half-size of the pixel window (full-resolution pixels) around the projection of an object's
    /// top: the object counts as in view when at least half of the depth pixels there are not in
    /// front of it (robust to depth edges and coarse depth images).
    pub occlusion_window_px: f64,
    /// Standard deviation of one detection's position, m. The occlusion test looks
    /// `occlusion_lift_std_errors` times this divided by the square root of the object's
    /// sightings (standard errors of its estimate) above its estimated top: an estimate that
    /// came out low from a few sightings would otherwise put the test window on the surface in
    /// front of a flat object seen at a grazing angle, which lies closer than the object and
    /// hides an empty spot. Zero tests the estimated top itself.
    pub detection_noise_m: f64,
    /// How many standard errors of the position estimate the occlusion test looks above an
    /// object's estimated top (see `detection_noise_m`): enough that the window lies at or above
    /// the real top however the estimate came out, short of looking over whatever stands in
    /// front of the object. Zero tests the estimated top itself.
    pub occlusion_lift_std_errors: f64,
    /// Log-likelihood ratio (natural log) at which, of two confirmed look-alikes within
    /// `gate_base_m` of each other, both in view with one sighting between them in at least
    /// `missing_after_views` keyframes of one pass (none with both seen), one is taken to stand
    /// there alone and the other is declared missing (when unseen `missing_min_absence_s`
    /// before). The ratio weighs one object against two from the count (see
    /// `twin_detection_recall`) and from where each sighting fell (σ = `detection_noise_m` +
    /// `ambiguity_margin_per_depth` × depth per axis): a sighting on the other twin's spot
    /// speaks for two. Without it the sightings of the twin left behind, spread over both spots
    /// by position noise along the viewing ray, keep breaking each twin's own run of misses.
    /// Zero turns the rule off.
    pub twin_evidence_llr: f64,
    /// How often the detector finds an object in view, in (0, 1): one sighting where two
    /// look-alikes are in view is 1 / (2 (1 - r)) times likelier with one object there than
    /// with two (`twin_evidence_llr`).
    pub twin_detection_recall: f64,
    /// Whether a newcomer waits for the sweep, instead of being taken at once for an object
    /// found gone within `reid_window_s`, while another present look-alike, not checked since
    /// the newcomer turned up, looks more like it by more than half the rival margin (0.025
    /// cosine): that one may be found gone moments later. Once it is, the newcomer goes to the
    /// missing object it looks most like; once it is seen in place, to the first. Meanwhile
    /// the newcomer does not shorten any other object's wait for `missing_after_views`.
    pub wait_for_likelier_source: bool,
    /// Whether a sighting that fits a present object not seen for `min_move_gap_s` is refused
    /// to it when a missing look-alike looks more like the sighting, and a newcomer seen since
    /// looks more like the object than like that look-alike (both by the rival margin): the
    /// two were carried past each other, one put down where the other stood.
    pub refuse_swapped_sightings: bool,
    /// Cap on the number of sightings averaged into an object's position (lets it adapt).
    pub max_position_weight: f64,
    /// Two compatible objects closer than this that were never seen together are merged, m.
    pub merge_distance_m: f64,
    /// Two compatible objects never seen together are also merged when closer than this
    /// fraction of the smallest dimension of either extent: two solid objects cannot stand
    /// closer than that, and for large ones (a sofa, a table) `merge_distance_m` is far below
    /// their position noise. In [0, 1]; zero leaves only `merge_distance_m`.
    pub merge_extent_fraction: f64,
    /// Sightings further apart in time than this start a new visit interval, s.
    pub visit_gap_s: f64,
    /// A missing object re-identified elsewhere within this age becomes `moved`, s.
    pub reid_max_age_s: f64,
    /// A new object and an object that went missing within this time of each other are taken
    /// to be one object that moved; a new object that only matches objects missing for longer
    /// waits this long (for a better match from the same sweep) before it is re-identified, s.
    pub reid_window_s: f64,
    /// A look-alike first seen less than this long after an object's last sighting is not
    /// where that object went: a detector's misses and a second object of the kind are far
    /// likelier than someone carrying it off within minutes (a robot's pass sees one spot and
    /// then the other a minute later), s. A move watched as it happens within this time is
    /// reported as `missing` plus a new object: lower it for a robot that watches people work.
    /// By the same token, a look-alike confirmed where an object was, less than this long after
    /// that object was taken for a newcomer elsewhere, retracts the link: the object never
    /// left. And a newcomer that looks different (appearance below `min_appearance_cosine`,
    /// or `min_appearance_cosine_single` while seen once), first seen this long after an
    /// object's last sighting, is not folded into it for standing too close to it
    /// (`merge_distance_m`): someone swapped them. Zero: any look-alike seen after the last
    /// sighting, no retraction, and such newcomers merged.
    pub min_move_gap_s: f64,
    /// After `min_move_gap_s` without a sighting (time enough for someone to carry it off), a
    /// confirmed object's gate loses its size allowance (`gate_extent_fraction`): a sighting
    /// farther than `gate_base_m` + `gate_per_depth` x depth is a short move (to the next
    /// shelf), left to a new track and re-identification, not a reason to drag the estimate
    /// across. An object whose own sightings scatter widely (a large one whose centre wanders
    /// with the viewpoint) keeps this many times their RMS scatter about its estimate instead,
    /// when that is larger; never more than the full gate. Zero `min_move_gap_s` keeps the full
    /// gate.
    pub move_gate_scatter_factor: f64,
    /// With appearance embeddings on both sides, the smallest cosine similarity at which a
    /// detection may match an object, or two objects may be one (re-identification,
    /// duplicates), in [-1, 1].
    pub min_appearance_cosine: f32,
    /// The same for a detection and a track seen only once, in [-1, 1], at most
    /// `min_appearance_cosine`: that track's embedding is one sighting's, as noisy as the
    /// detection's, so two views of one object agree less than a view and an average of many.
    pub min_appearance_cosine_single: f32,
    /// With appearance embeddings on both sides, the smallest cosine at which a newcomer is
    /// taken for an object missing since more than `reid_window_s` before the newcomer was
    /// first seen (time says nothing about that pair: a look-alike put down since is as likely
    /// as the object carried there), in [-1, 1]; never below `min_appearance_cosine`, which is
    /// all a newcomer back within `gate_base_m` of the object's spot needs. Without appearance
    /// such a newcomer away from the spot is not taken for the object at all.
    pub min_appearance_cosine_long_missing: f32,
    /// When set, the smallest appearance cosine at which a sighting may be matched to a track
    /// (association only), in [-1, 1], instead of `min_appearance_cosine` and
    /// `min_appearance_cosine_single`; re-identification and duplicates keep those. For
    /// appearance descriptors less steady from one sighting to the next than a learned
    /// embedding, such as the node's colour descriptors (`appearance.enabled`), whose part
    /// covered by something nearer or whose shade drifts with the light would otherwise split
    /// one object into several tracks.
    pub association_min_appearance_cosine: Option<f32>,
    /// Radius of a place around the trajectory point that created it, m.
    pub place_radius_m: f64,
    /// Two objects closer than this (centre to centre) are `near`, m.
    pub near_relation_m: f64,
    /// Vertical tolerance for `on` (bottom of one vs top of the other), m.
    pub on_tolerance_m: f64,
    /// Smallest text-match score for a label or caption to answer a text query, in [0, 1].
    pub min_text_score: f32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            gate_base_m: 0.30,
            gate_per_depth: 0.03,
            gate_extent_fraction: 0.5,
            max_extent_ratio: 4.0,
            missing_match_penalty: 0.5,
            ambiguity_ratio: 1.3,
            ambiguity_margin_m: 0.05,
            ambiguity_margin_per_depth: 0.01,
            compatible_labels: Vec::new(),
            min_sightings_to_confirm: 2,
            missing_after_views: 3,
            missing_after_views_with_candidate: 2,
            missing_min_absence_s: 30.0,
            tentative_max_misses: 3,
            frustum_margin_px: 16.0,
            occlusion_margin_m: 0.05,
            occlusion_depth_fraction: 0.01,
            occlusion_window_px: 8.0,
            detection_noise_m: 0.03,
            occlusion_lift_std_errors: 3.0,
            twin_evidence_llr: 3.0,
            twin_detection_recall: 0.85,
            wait_for_likelier_source: true,
            refuse_swapped_sightings: true,
            max_position_weight: 30.0,
            merge_distance_m: 0.08,
            merge_extent_fraction: 0.5,
            visit_gap_s: 300.0,
            reid_max_age_s: 7.0 * 86_400.0,
            reid_window_s: 3600.0,
            min_move_gap_s: 300.0,
            move_gate_scatter_factor: 3.0,
            min_appearance_cosine: 0.85,
            min_appearance_cosine_single: 0.80,
            min_appearance_cosine_long_missing: 0.92,
            association_min_appearance_cosine: None,
            place_radius_m: 2.0,
            near_relation_m: 1.0,
            on_tolerance_m: 0.12,
            min_text_score: 0.3,
        }
    }
}

impl MemoryConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), CoreError> {
        // `v` must be finite and above `min` (or at least `min` when `inclusive`).
        let bounded = |name: &'static str, v: f64, min: f64, inclusive: bool, reason| {
            if v.is_finite() && (v > min || (inclusive && v == min)) {
                Ok(())
            } else {
                Err(CoreError::InvalidConfig {
                    name,
                    value: v.to_string(),
                    reason,
                })
            }
        };
        let pos = |name, v| bounded(name, v, 0.0, false, "must be finite and > 0");
        let nonneg = |name, v| bounded(name, v, 0.0, true, "must be finite and >= 0");
        let ratio = |name, v| bounded(name, v, 1.0, true, "must be finite and >= 1");
        pos("gate_base_m", self.gate_base_m)?;
        nonneg("gate_per_depth", self.gate_per_depth)?;
        nonneg("gate_extent_fraction", self.gate_extent_fraction)?;
        ratio("max_extent_ratio", self.max_extent_ratio)?;
        let at_least_one = |name: &'static str, v: u32| {
            if v >= 1 {
                Ok(())
            } else {
                Err(CoreError::InvalidConfig {
                    name,
                    value: v.to_string(),
                    reason: "must be >= 1",
                })
            }
        };
        at_least_one("min_sightings_to_confirm", self.min_sightings_to_confirm)?;
        at_least_one("missing_after_views", self.missing_after_views)?;
        at_least_one(
            "missing_after_views_with_candidate",
            self.missing_after_views_with_candidate,
        )?;
        if self.missing_after_views_with_candidate > self.missing_after_views {
            return Err(CoreError::InvalidConfig {
                name: "missing_after_views_with_candidate",
                value: self.missing_after_views_with_candidate.to_string(),
                reason: "must not exceed missing_after_views",
            });
        }
        nonneg("missing_min_absence_s", self.missing_min_absence_s)?;
        nonneg("missing_match_penalty", self.missing_match_penalty)?;
        ratio("ambiguity_ratio", self.ambiguity_ratio)?;
        nonneg("ambiguity_margin_m", self.ambiguity_margin_m)?;
        nonneg(
            "ambiguity_margin_per_depth",
            self.ambiguity_margin_per_depth,
        )?;
        at_least_one("tentative_max_misses", self.tentative_max_misses)?;
        nonneg("frustum_margin_px", self.frustum_margin_px)?;
        nonneg("occlusion_margin_m", self.occlusion_margin_m)?;
        nonneg("occlusion_depth_fraction", self.occlusion_depth_fraction)?;
        nonneg("occlusion_window_px", self.occlusion_window_px)?;
        nonneg("detection_noise_m", self.detection_noise_m)?;
        nonneg("occlusion_lift_std_errors", self.occlusion_lift_std_errors)?;
        nonneg("twin_evidence_llr", self.twin_evidence_llr)?;
        if !(self.twin_detection_recall > 0.0 && self.twin_detection_recall < 1.0) {
            return Err(CoreError::InvalidConfig {
                name: "twin_detection_recall",
                value: self.twin_detection_recall.to_string(),
                reason: "must be in (0, 1)",
            });
        }
        ratio("max_position_weight", self.max_position_weight)?;
        nonneg("merge_distance_m", self.merge_distance_m)?;
        if !(0.0..=1.0).contains(&self.merge_extent_fraction) {
            return Err(CoreError::InvalidConfig {
                name: "merge_extent_fraction",
                value: self.merge_extent_fraction.to_string(),
                reason: "must be in [0, 1]",
            });
        }
        pos("visit_gap_s", self.visit_gap_s)?;
        nonneg("reid_max_age_s", self.reid_max_age_s)?;
        nonneg("reid_window_s", self.reid_window_s)?;
        nonneg("min_move_gap_s", self.min_move_gap_s)?;
        nonneg("move_gate_scatter_factor", self.move_gate_scatter_factor)?;
        pos("place_radius_m", self.place_radius_m)?;
        pos("near_relation_m", self.near_relation_m)?;
        nonneg("on_tolerance_m", self.on_tolerance_m)?;
        if !(-1.0..=1.0).contains(&self.min_appearance_cosine) {
            return Err(CoreError::InvalidConfig {
                name: "min_appearance_cosine",
                value: self.min_appearance_cosine.to_string(),
                reason: "must be in [-1, 1]",
            });
        }
        if !(-1.0..=self.min_appearance_cosine).contains(&self.min_appearance_cosine_single) {
            return Err(CoreError::InvalidConfig {
                name: "min_appearance_cosine_single",
                value: self.min_appearance_cosine_single.to_string(),
                reason: "must be in [-1, min_appearance_cosine]",
            });
        }
        if let Some(c) = self.association_min_appearance_cosine {
            if !(-1.0..=1.0).contains(&c) {
                return Err(CoreError::InvalidConfig {
                    name: "association_min_appearance_cosine",
                    value: c.to_string(),
                    reason: "must be in [-1, 1]",
                });
            }
        }
        if !(-1.0..=1.0).contains(&self.min_appearance_cosine_long_missing) {
            return Err(CoreError::InvalidConfig {
                name: "min_appearance_cosine_long_missing",
                value: self.min_appearance_cosine_long_missing.to_string(),
                reason: "must be in [-1, 1]",
            });
        }
        if !(0.0..=1.0).contains(&self.min_text_score) {
            return Err(CoreError::InvalidConfig {
                name: "min_text_score",
                value: self.min_text_score.to_string(),
                reason: "must be in [0, 1]",
            });
        }
        let mut grouped = std::collections::BTreeSet::new();
        for group in &self.compatible_labels {
            if group.iter().any(|l| l.trim().is_empty()) {
                return Err(CoreError::InvalidConfig {
                    name: "compatible_labels",
                    value: format!("{group:?}"),
                    reason: "labels must be non-empty",
                });
            }
            // A label belongs to one group: two groups sharing a label are one group.
            if group
                .iter()
                .any(|l| !grouped.insert(l.trim().to_lowercase()))
            {
                return Err(CoreError::InvalidConfig {
                    name: "compatible_labels",
                    value: format!("{group:?}"),
                    reason: "a label is in two groups (or twice in one): merge them into one group",
                });
            }
        }
        Ok(())
    }

    /// `visit_gap_s` in nanoseconds.
    pub fn visit_gap_ns(&self) -> StampNs {
        secs_to_ns(self.visit_gap_s)
    }

    /// `missing_min_absence_s` in nanoseconds.
    pub fn missing_min_absence_ns(&self) -> StampNs {
        secs_to_ns(self.missing_min_absence_s)
    }

    /// `reid_window_s` in nanoseconds.
    pub fn reid_window_ns(&self) -> StampNs {
        secs_to_ns(self.reid_window_s)
    }

    /// `min_move_gap_s` in nanoseconds.
    pub fn min_move_gap_ns(&self) -> StampNs {
        secs_to_ns(self.min_move_gap_s)
    }

    /// `reid_max_age_s` in nanoseconds.
    pub fn reid_max_age_ns(&self) -> StampNs {
        secs_to_ns(self.reid_max_age_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        MemoryConfig::default().validate().unwrap();
    }

    #[test]
    fn evidence_knobs_are_checked() {
        let bad = [
            (
                MemoryConfig {
                    missing_after_views_with_candidate: 4,
                    ..MemoryConfig::default()
                },
                "missing_after_views_with_candidate",
            ),
            (
                MemoryConfig {
                    missing_after_views_with_candidate: 0,
                    ..MemoryConfig::default()
                },
                "missing_after_views_with_candidate",
            ),
            (
                MemoryConfig {
                    ambiguity_ratio: 0.9,
                    ..MemoryConfig::default()
                },
                "ambiguity_ratio",
            ),
            (
                MemoryConfig {
                    missing_match_penalty: -0.1,
                    ..MemoryConfig::default()
                },
                "missing_match_penalty",
            ),
            (
                MemoryConfig {
                    missing_min_absence_s: f64::INFINITY,
                    ..MemoryConfig::default()
                },
                "missing_min_absence_s",
            ),
            (
                MemoryConfig {
                    merge_extent_fraction: 1.5,
                    ..MemoryConfig::default()
                },
                "merge_extent_fraction",
            ),
            (
                MemoryConfig {
                    merge_extent_fraction: f64::NAN,
                    ..MemoryConfig::default()
                },
                "merge_extent_fraction",
            ),
            (
                MemoryConfig {
                    move_gate_scatter_factor: -1.0,
                    ..MemoryConfig::default()
                },
                "move_gate_scatter_factor",
            ),
            (
                MemoryConfig {
                    min_appearance_cosine_single: 0.9,
                    ..MemoryConfig::default()
                },
                "min_appearance_cosine_single",
            ),
            (
                MemoryConfig {
                    min_appearance_cosine_single: f32::NAN,
                    ..MemoryConfig::default()
                },
                "min_appearance_cosine_single",
            ),
            (
                MemoryConfig {
                    occlusion_lift_std_errors: -1.0,
                    ..MemoryConfig::default()
                },
                "occlusion_lift_std_errors",
            ),
            (
                MemoryConfig {
                    occlusion_lift_std_errors: f64::INFINITY,
                    ..MemoryConfig::default()
                },
                "occlusion_lift_std_errors",
            ),
            (
                MemoryConfig {
                    twin_evidence_llr: -0.5,
                    ..MemoryConfig::default()
                },
                "twin_evidence_llr",
            ),
            (
                MemoryConfig {
                    twin_evidence_llr: f64::NAN,
                    ..MemoryConfig::default()
                },
                "twin_evidence_llr",
            ),
            (
                MemoryConfig {
                    twin_detection_recall: 1.0,
                    ..MemoryConfig::default()
                },
                "twin_detection_recall",
            ),
            (
                MemoryConfig {
                    twin_detection_recall: f64::NAN,
                    ..MemoryConfig::default()
                },
                "twin_detection_recall",
            ),
            (
                MemoryConfig {
                    association_min_appearance_cosine: Some(f32::NAN),
                    ..MemoryConfig::default()
                },
                "association_min_appearance_cosine",
            ),
            (
                MemoryConfig {
                    association_min_appearance_cosine: Some(-1.5),
                    ..MemoryConfig::default()
                },
                "association_min_appearance_cosine",
            ),
            (
                MemoryConfig {
                    compatible_labels: vec![
                        vec!["cup".into(), "mug".into()],
                        vec!["Mug".into(), "glass".into()],
                    ],
                    ..MemoryConfig::default()
                },
                "compatible_labels",
            ),
            (
                MemoryConfig {
                    compatible_labels: vec![vec!["cup".into(), " ".into()]],
                    ..MemoryConfig::default()
                },
                "compatible_labels",
            ),
            (
                MemoryConfig {
                    min_appearance_cosine_long_missing: 1.5,
                    ..MemoryConfig::default()
                },
                "min_appearance_cosine_long_missing",
            ),
            (
                MemoryConfig {
                    min_appearance_cosine_long_missing: f32::NAN,
                    ..MemoryConfig::default()
                },
                "min_appearance_cosine_long_missing",
            ),
            (
                MemoryConfig {
                    min_move_gap_s: -1.0,
                    ..MemoryConfig::default()
                },
                "min_move_gap_s",
            ),
        ];
        for (cfg, field) in bad {
            match cfg.validate() {
                Err(CoreError::InvalidConfig { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_config_saved_before_a_field_existed_loads_with_its_default() {
        let mut v = serde_json::to_value(MemoryConfig::default()).unwrap();
        let map = v.as_object_mut().unwrap();
        map.remove("ambiguity_ratio");
        map.insert("gate_base_m".into(), serde_json::json!(0.4));
        let cfg: MemoryConfig = serde_json::from_value(v).unwrap();
        assert_eq!(cfg.gate_base_m, 0.4);
        assert_eq!(cfg.ambiguity_ratio, MemoryConfig::default().ambiguity_ratio);
    }

    #[test]
    fn bad_value_names_the_field() {
        let cfg = MemoryConfig {
            place_radius_m: f64::NAN,
            ..MemoryConfig::default()
        };
        match cfg.validate() {
            Err(CoreError::InvalidConfig { name, .. }) => assert_eq!(name, "place_radius_m"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        let cfg = MemoryConfig {
            missing_after_views: 0,
            ..MemoryConfig::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(CoreError::InvalidConfig {
                name: "missing_after_views",
                ..
            })
        ));
    }
}
