//! Days of robot patrols through the household: the camera's keyframes, a detector model with
//! misses, false positives, noise and look-alike confusion, people moving, removing and adding
//! objects between patrols, and the ground truth of it all.

use nalgebra::{Isometry3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::geometry::{DepthImage, PinholeCamera};
use crate::core::observation::{Detection, DetectionFrame, Observation};
use crate::core::time::{secs_to_ns, StampNs, NS_PER_S};

use super::rng::Rng;
use super::world::{Aabb, Layout, CLASSES};

/// Start of simulated time: 2026-01-01T00:00:00Z, ns.
pub const SIM_EPOCH_NS: StampNs = 1_767_225_600 * NS_PER_S;
/// Camera height above the floor, m.
pub const CAMERA_HEIGHT_M: f64 = 1.1;
/// Camera pitch (down), rad.
pub const CAMERA_PITCH_RAD: f64 = 15.0 * std::f64::consts::PI / 180.0;
/// Robot speed along its path, m/s.
pub const ROBOT_SPEED_M_S: f64 = 0.5;
/// Heading step when the robot turns in place at a room centre, rad.
pub const TURN_STEP_RAD: f64 = 15.0 * std::f64::consts::PI / 180.0;
/// Border margin inside which a spot does not count as in view for the QA set, px.
pub const IN_VIEW_MARGIN_PX: f64 = 16.0;
/// Dimension of the simulated appearance embeddings.
pub const APPEARANCE_DIM: usize = 16;
/// Per-dimension noise of a detection's appearance embedding.
const APPEARANCE_NOISE: f64 = 0.08;

fn unit(v: Vec<f64>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.into_iter().map(|x| (x / n) as f32).collect()
}

/// Appearance of an instance of class `class`: 60% shared with its class, 40% its own.
fn appearance_for(class_seed: u64, rng: &mut Rng) -> Vec<f32> {
    let mut class_rng = Rng::new(class_seed ^ 0xa11c_e5ee_d000_0000);
    unit(
        (0..APPEARANCE_DIM)
            .map(|_| 0.6 * class_rng.normal() + 0.4 * rng.normal())
            .collect(),
    )
}

/// Every knob of the simulation. All runs with the same values are identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Simulated days.
    pub days: u32,
    /// Rooms (kitchen, living room, office, bedroom, repeating).
    pub rooms: usize,
    /// Small objects at the start.
    pub objects: usize,
    /// Probability that a visible object is detected in a keyframe.
    pub detection_recall: f64,
    /// Mean number of false detections per keyframe.
    pub false_positive_rate: f64,
    /// Base position noise (per axis, standard deviation), m; 1% of depth is added.
    pub position_noise_m: f64,
    /// Fraction of small objects moved per day.
    pub move_rate: f64,
    /// Fraction of small objects removed per day.
    pub remove_rate: f64,
    /// New objects per day, as a fraction of `objects`.
    pub add_rate: f64,
    /// Probability that a detection of an object with a look-alike gets the look-alike's label.
    pub confusion_rate: f64,
    /// Patrols per day (changes happen between consecutive patrols).
    pub patrols_per_day: u32,
    /// Time between keyframes, s.
    pub keyframe_period_s: f64,
    /// A caption every this many keyframes (0 = none).
    pub caption_every: u32,
    /// Width of the coarse depth image sent with each keyframe, px.
    pub depth_width_px: u32,
    /// Height of the coarse depth image, px.
    pub depth_height_px: u32,
    /// Whether detections carry appearance embeddings (`vision_msgs` detections in a bag
    /// cannot; the world and the detector's random draws are the same either way).
    pub appearance: bool,
    /// Share of detections whose appearance embedding has nothing to do with the object (as a
    /// descriptor of an image region mostly covered by something else gives), in [0, 1]. Drawn
    /// from a random stream of its own: the world and the detector's other draws do not change.
    #[serde(default)]
    pub appearance_outlier_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            days: 3,
            rooms: 4,
            objects: 60,
            detection_recall: 0.85,
            false_positive_rate: 0.1,
            position_noise_m: 0.03,
            move_rate: 0.15,
            remove_rate: 0.03,
            add_rate: 0.03,
            confusion_rate: 0.1,
            patrols_per_day: 2,
            keyframe_period_s: 1.0,
            caption_every: 5,
            depth_width_px: 64,
            depth_height_px: 48,
            appearance: true,
            appearance_outlier_rate: 0.0,
        }
    }
}

/// A knob out of range.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("invalid simulation setting --{name} {value}: {reason}")]
pub struct SimError {
    /// The flag name.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// The expected range.
    pub reason: &'static str,
}

impl SimConfig {
    /// Checks every knob.
    ///
    /// # Errors
    /// [`SimError`] naming the flag.
    pub fn validate(&self) -> Result<(), SimError> {
        let prob = |name: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(SimError {
                    name,
                    value: v.to_string(),
                    reason: "must be in [0, 1]",
                })
            }
        };
        let nonneg = |name: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(SimError {
                    name,
                    value: v.to_string(),
                    reason: "must be finite and >= 0",
                })
            }
        };
        if self.days == 0 || self.days > 3650 {
            return Err(SimError {
                name: "days",
                value: self.days.to_string(),
                reason: "must be in 1..=3650",
            });
        }
        if self.rooms == 0 || self.rooms > 64 {
            return Err(SimError {
                name: "rooms",
                value: self.rooms.to_string(),
                reason: "must be in 1..=64",
            });
        }
        if self.objects > 100_000 {
            return Err(SimError {
                name: "objects",
                value: self.objects.to_string(),
                reason: "must be <= 100000",
            });
        }
        prob("detection-recall", self.detection_recall)?;
        nonneg("false-positive-rate", self.false_positive_rate)?;
        if self.false_positive_rate > 50.0 {
            return Err(SimError {
                name: "false-positive-rate",
                value: self.false_positive_rate.to_string(),
                reason: "must be <= 50 per keyframe",
            });
        }
        nonneg("position-noise-m", self.position_noise_m)?;
        prob("move-rate", self.move_rate)?;
        prob("remove-rate", self.remove_rate)?;
        nonneg("add-rate", self.add_rate)?;
        prob("confusion-rate", self.confusion_rate)?;
        prob("appearance-outlier-rate", self.appearance_outlier_rate)?;
        if self.patrols_per_day == 0 || self.patrols_per_day > 12 {
            return Err(SimError {
                name: "patrols-per-day",
                value: self.patrols_per_day.to_string(),
                reason: "must be in 1..=12",
            });
        }
        if !(self.keyframe_period_s.is_finite()
            && self.keyframe_period_s > 0.0
            && self.keyframe_period_s <= 60.0)
        {
            return Err(SimError {
                name: "keyframe-period-s",
                value: self.keyframe_period_s.to_string(),
                reason: "must be in (0, 60]",
            });
        }
        if self.depth_width_px == 0
            || self.depth_height_px == 0
            || self.depth_width_px > 640
            || self.depth_height_px > 480
        {
            return Err(SimError {
                name: "depth-size",
                value: format!("{}x{}", self.depth_width_px, self.depth_height_px),
                reason: "must be non-zero and at most the camera's 640x480",
            });
        }
        Ok(())
    }

    /// Keyframe period in ns.
    pub fn keyframe_period_ns(&self) -> StampNs {
        secs_to_ns(self.keyframe_period_s)
    }
}

/// One interval during which a ground-truth object stood still.
#[derive(Debug, Clone, PartialEq)]
pub struct GtPlacement {
    /// Centre, map frame, m.
    pub position: Point3<f64>,
    /// Placed at, ns.
    pub from_ns: StampNs,
    /// Taken away at (moved or removed), ns.
    pub to_ns: Option<StampNs>,
    /// Keyframes in which it was visible (in frustum and range, not occluded), ns.
    pub seen_ns: Vec<StampNs>,
    /// Surface it stands on (`None` for furniture).
    pub surface: Option<usize>,
}

impl GtPlacement {
    /// Whether the placement covers time `t`.
    pub fn covers(&self, t: StampNs) -> bool {
        self.from_ns <= t && self.to_ns.is_none_or(|e| t < e)
    }

    /// Visible keyframes up to and including `t`.
    pub fn seen_by(&self, t: StampNs) -> usize {
        self.seen_ns.partition_point(|s| *s <= t)
    }
}

/// A ground-truth object.
#[derive(Debug, Clone, PartialEq)]
pub struct GtObject {
    /// Index in the ground truth.
    pub id: usize,
    /// True label.
    pub label: &'static str,
    /// True size, m.
    pub extent: Vector3<f64>,
    /// Furniture index for furniture, `None` for small objects.
    pub furniture: Option<usize>,
    /// True appearance (unit vector): a class part plus an instance part; identical twins share
    /// it. The detector reports it with noise.
    pub appearance: Vec<f32>,
    /// Placements in time order.
    pub placements: Vec<GtPlacement>,
}

impl GtObject {
    /// The placement covering `t`.
    pub fn placement_at(&self, t: StampNs) -> Option<&GtPlacement> {
        self.placements.iter().find(|p| p.covers(t))
    }

    /// Whether the object exists (anywhere) at `t`.
    pub fn present_at(&self, t: StampNs) -> bool {
        self.placement_at(t).is_some()
    }
}

/// Kinds of change between patrols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GtChangeKind {
    /// Carried to another surface.
    Moved,
    /// Taken away.
    Removed,
    /// Brought in.
    Added,
}

/// A change made by people between two patrols.
#[derive(Debug, Clone, PartialEq)]
pub struct GtChange {
    /// What happened.
    pub kind: GtChangeKind,
    /// The object.
    pub object: usize,
    /// Gap index: the change happened between patrol `gap` and `gap + 1`.
    pub gap: usize,
    /// When, ns.
    pub time_ns: StampNs,
    /// Old position (moved, removed).
    pub from: Option<Point3<f64>>,
    /// New position (moved, added).
    pub to: Option<Point3<f64>>,
    /// Keyframes of the following patrol in which the old spot was in view (not occluded).
    pub old_spot_views: u32,
}

/// Start and end of a patrol, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatrolSpan {
    /// First keyframe.
    pub start_ns: StampNs,
    /// Last keyframe.
    pub end_ns: StampNs,
}

/// Everything that really happened.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// The layout.
    pub layout: Layout,
    /// Objects (furniture first, then small objects in creation order).
    pub objects: Vec<GtObject>,
    /// Changes between patrols.
    pub changes: Vec<GtChange>,
    /// Patrols.
    pub patrols: Vec<PatrolSpan>,
    /// Keyframes produced.
    pub keyframes: u64,
    /// Keyframe period, ns.
    pub keyframe_period_ns: StampNs,
}

impl GroundTruth {
    /// Small objects placed at the start: `--objects`, or fewer when the furniture tops of
    /// `--rooms` rooms hold no more.
    pub fn small_objects_at_start(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| {
                o.furniture.is_none()
                    && o.placements
                        .first()
                        .is_some_and(|p| p.from_ns == SIM_EPOCH_NS)
            })
            .count()
    }
}

/// The pinhole model of the simulated camera.
pub fn sim_camera() -> PinholeCamera {
    PinholeCamera::vga_default()
}

/// `body <- camera optical frame`: camera 1.1 m up, 0.1 m forward, pitched down.
pub fn body_from_camera() -> Isometry3<f64> {
    // Optical axes (x right, y down, z forward) expressed in the body frame (x fwd, y left, z up).
    let optical = Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
        0.0, 0.0, 1.0, //
        -1.0, 0.0, 0.0, //
        0.0, -1.0, 0.0,
    ));
    let pitch = Rotation3::from_axis_angle(&Vector3::y_axis(), CAMERA_PITCH_RAD);
    let rot = UnitQuaternion::from_rotation_matrix(&(pitch * optical));
    Isometry3::from_parts(Translation3::new(0.1, 0.0, CAMERA_HEIGHT_M), rot)
}

fn body_pose(x: f64, y: f64, yaw: f64) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(x, y, 0.0),
        UnitQuaternion::from_euler_angles(0.0, 0.0, yaw),
    )
}

/// The robot's path for one patrol: `(x, y, yaw)` per keyframe.
pub fn patrol_path(layout: &Layout) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let mut heading = 0.0f64;
    let step = ROBOT_SPEED_M_S; // one keyframe per second of travel at 0.5 m/s
    for (i, room) in layout.rooms.iter().enumerate() {
        let c = room.center();
        let turns = (2.0 * std::f64::consts::PI / TURN_STEP_RAD).round() as usize;
        for k in 0..turns {
            out.push((c.x, c.y, heading + k as f64 * TURN_STEP_RAD));
        }
        if let (Some(door), Some(next)) = (layout.doors.get(i), layout.rooms.get(i + 1)) {
            let nc = next.center();
            // Through the door: centre -> just before the door -> just after -> next centre.
            let dir = Vector3::new(nc.x - c.x, nc.y - c.y, 0.0).normalize();
            let before = Point3::new(door.x - dir.x * 0.5, door.y - dir.y * 0.5, 0.0);
            let after = Point3::new(door.x + dir.x * 0.5, door.y + dir.y * 0.5, 0.0);
            let waypoints = [c, before, after, nc];
            for w in waypoints.windows(2) {
                let seg = w[1] - w[0];
                let len = seg.norm();
                if len < 1e-9 {
                    continue;
                }
                heading = seg.y.atan2(seg.x);
                let n = (len / step).ceil() as usize;
                for s in 1..=n {
                    let p = w[0] + seg * (s as f64 / n as f64);
                    out.push((p.x, p.y, heading));
                }
            }
        }
    }
    out
}

/// Whether an object centred at `point` with size `extent` is visible: its centre lies inside
/// the image (at least `margin_px` from the border) and depth range, and at least half of six
/// sample points on it (centre, ±x, ±y, top) are not occluded by `occluders` (hits within
/// 5 cm of a sample do not count) — so a thin panel in front does not hide a whole object, as
/// with a real detector. Returns the centre's depth.
pub fn visible_depth(
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    camera_from_world: &Isometry3<f64>,
    occluders: &[&Aabb],
    point: &Point3<f64>,
    extent: &Vector3<f64>,
    margin_px: f64,
) -> Option<f64> {
    let p_cam = camera_from_world * point;
    if !camera.sees(&p_cam, margin_px) {
        return None;
    }
    let origin = Point3::from(world_from_camera.translation.vector);
    let h = extent * 0.35;
    let samples = [
        *point,
        point + Vector3::new(h.x, 0.0, 0.0),
        point - Vector3::new(h.x, 0.0, 0.0),
        point + Vector3::new(0.0, h.y, 0.0),
        point - Vector3::new(0.0, h.y, 0.0),
        point + Vector3::new(0.0, 0.0, h.z),
    ];
    let clear = samples
        .iter()
        .filter(|sample| {
            let dir = *sample - origin;
            let len = dir.norm();
            if len < 1e-9 {
                return false;
            }
            let stop = 1.0 - 0.05 / len;
            !occluders
                .iter()
                .any(|b| b.ray_entry(&origin, &dir).is_some_and(|t| t < stop))
        })
        .count();
    (2 * clear >= samples.len()).then_some(p_cam.z)
}

/// Renders a coarse depth image by ray casting the occluders.
pub fn render_depth(
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    occluders: &[Aabb],
    width: u32,
    height: u32,
) -> DepthImage {
    let origin = Point3::from(world_from_camera.translation.vector);
    let mut depth_m = Vec::with_capacity((width * height) as usize);
    let sx = camera.width_px as f64 / width as f64;
    let sy = camera.height_px as f64 / height as f64;
    for y in 0..height {
        for x in 0..width {
            let u = (x as f64 + 0.5) * sx;
            let v = (y as f64 + 0.5) * sy;
            let d_cam = Vector3::new(
                (u - camera.cx_px) / camera.fx_px,
                (v - camera.cy_px) / camera.fy_px,
                1.0,
            );
            let d_world = world_from_camera.rotation * d_cam;
            let mut best = f64::INFINITY;
            for b in occluders {
                if let Some(t) = b.ray_entry(&origin, &d_world) {
                    if t > 1e-6 && t < best {
                        best = t;
                    }
                }
            }
            // `t` is the depth along the optical axis because d_cam.z == 1.
            depth_m.push(if best.is_finite() && best <= 10.0 {
                best as f32
            } else {
                0.0
            });
        }
    }
    DepthImage {
        width_px: width,
        height_px: height,
        depth_m,
    }
}

struct World {
    cfg: SimConfig,
    layout: Layout,
    objects: Vec<GtObject>,
    changes: Vec<GtChange>,
    rng: Rng,
}

impl World {
    fn small_present_on(&self, surface: usize, t: StampNs) -> Vec<(Point3<f64>, Vector3<f64>)> {
        self.objects
            .iter()
            .filter(|o| o.furniture.is_none())
            .filter_map(|o| {
                let p = o.placement_at(t)?;
                (p.surface == Some(surface)).then_some((p.position, o.extent))
            })
            .collect()
    }

    /// A free spot for an object of `size` on `surface` at time `t`.
    fn free_spot(
        &mut self,
        surface: usize,
        size: &Vector3<f64>,
        t: StampNs,
    ) -> Option<Point3<f64>> {
        let s = self.layout.surfaces[surface];
        let others = self.small_present_on(surface, t);
        for _ in 0..40 {
            let (hx, hy) = (size.x / 2.0, size.y / 2.0);
            if s.max_xy[0] - s.min_xy[0] < 2.0 * hx || s.max_xy[1] - s.min_xy[1] < 2.0 * hy {
                return None;
            }
            let x = self.rng.range(s.min_xy[0] + hx, s.max_xy[0] - hx);
            let y = self.rng.range(s.min_xy[1] + hy, s.max_xy[1] - hy);
            let p = Point3::new(x, y, s.z_m + size.z / 2.0);
            if others.iter().all(|(q, e)| fits_apart(&p, size, q, e)) {
                return Some(p);
            }
        }
        None
    }

    fn add_small(
        &mut self,
        class: usize,
        surface: usize,
        position: Point3<f64>,
        t: StampNs,
        twin_of: Option<usize>,
    ) -> usize {
        let c = &CLASSES[class];
        let id = self.objects.len();
        let appearance = match twin_of {
            Some(other) => self.objects[other].appearance.clone(),
            None => appearance_for(class as u64, &mut self.rng),
        };
        self.objects.push(GtObject {
            id,
            label: c.label,
            extent: Vector3::new(c.size[0], c.size[1], c.size[2]),
            furniture: None,
            appearance,
            placements: vec![GtPlacement {
                position,
                from_ns: t,
                to_ns: None,
                seen_ns: Vec::new(),
                surface: Some(surface),
            }],
        });
        id
    }

    /// Places a new random object (and sometimes an identical twin right beside it).
    fn spawn(&mut self, t: StampNs, allow_twin: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for _ in 0..20 {
            let class = self.rng.index(CLASSES.len());
            let surface = self.rng.index(self.layout.surfaces.len());
            let c = CLASSES[class];
            let size = Vector3::new(c.size[0], c.size[1], c.size[2]);
            let Some(p) = self.free_spot(surface, &size, t) else {
                continue;
            };
            let first = self.add_small(class, surface, p, t, None);
            out.push(first);
            if allow_twin && self.rng.chance(0.25) {
                // Side by side: same class, 5-10 cm gap, same surface.
                let gap = self.rng.range(0.05, 0.10);
                let s = self.layout.surfaces[surface];
                let candidates = [
                    Point3::new(p.x + size.x + gap, p.y, p.z),
                    Point3::new(p.x - size.x - gap, p.y, p.z),
                    Point3::new(p.x, p.y + size.y + gap, p.z),
                    Point3::new(p.x, p.y - size.y - gap, p.z),
                ];
                let others = self.small_present_on(surface, t);
                if let Some(q) = candidates.into_iter().find(|q| {
                    q.x - size.x / 2.0 >= s.min_xy[0]
                        && q.x + size.x / 2.0 <= s.max_xy[0]
                        && q.y - size.y / 2.0 >= s.min_xy[1]
                        && q.y + size.y / 2.0 <= s.max_xy[1]
                        && others.iter().all(|(o, e)| fits_apart(q, &size, o, e))
                }) {
                    out.push(self.add_small(class, surface, q, t, Some(first)));
                }
            }
            break;
        }
        out
    }

    /// People change things between patrols `gap` and `gap + 1` at time `t`.
    fn apply_changes(&mut self, gap: usize, t: StampNs) {
        let per_gap = 1.0 / f64::from(self.cfg.patrols_per_day);
        let p_move = self.cfg.move_rate * per_gap;
        let p_remove = self.cfg.remove_rate * per_gap;
        let ids: Vec<usize> = self
            .objects
            .iter()
            .filter(|o| o.furniture.is_none() && o.present_at(t))
            .map(|o| o.id)
            .collect();
        for id in ids {
            let roll = self.rng.uniform();
            if roll < p_move {
                let size = self.objects[id].extent;
                let Some(current) = self.objects[id].placement_at(t).cloned() else {
                    continue;
                };
                let current_furniture = current.surface.map(|s| self.layout.surfaces[s].furniture);
                let mut target = None;
                for _ in 0..10 {
                    let s = self.rng.index(self.layout.surfaces.len());
                    if Some(self.layout.surfaces[s].furniture) == current_furniture {
                        continue;
                    }
                    if let Some(p) = self.free_spot(s, &size, t) {
                        target = Some((s, p));
                        break;
                    }
                }
                let Some((surface, to)) = target else {
                    continue;
                };
                if let Some(pl) = self.objects[id].placements.last_mut() {
                    pl.to_ns = Some(t);
                }
                self.objects[id].placements.push(GtPlacement {
                    position: to,
                    from_ns: t,
                    to_ns: None,
                    seen_ns: Vec::new(),
                    surface: Some(surface),
                });
                self.changes.push(GtChange {
                    kind: GtChangeKind::Moved,
                    object: id,
                    gap,
                    time_ns: t,
                    from: Some(current.position),
                    to: Some(to),
                    old_spot_views: 0,
                });
            } else if roll < p_move + p_remove {
                let Some(pl) = self.objects[id].placements.last_mut() else {
                    continue;
                };
                pl.to_ns = Some(t);
                let from = pl.position;
                self.changes.push(GtChange {
                    kind: GtChangeKind::Removed,
                    object: id,
                    gap,
                    time_ns: t,
                    from: Some(from),
                    to: None,
                    old_spot_views: 0,
                });
            }
        }
        let adds = self
            .rng
            .poisson(self.cfg.objects as f64 * self.cfg.add_rate * per_gap);
        for _ in 0..adds {
            for id in self.spawn(t, false) {
                let to = self.objects[id].placements[0].position;
                self.changes.push(GtChange {
                    kind: GtChangeKind::Added,
                    object: id,
                    gap,
                    time_ns: t,
                    from: None,
                    to: Some(to),
                    old_spot_views: 0,
                });
            }
        }
    }
}

/// Whether two objects standing on one surface keep 3 cm between their footprints.
fn fits_apart(p: &Point3<f64>, a: &Vector3<f64>, q: &Point3<f64>, b: &Vector3<f64>) -> bool {
    let gap = 0.03;
    (p.x - q.x).abs() >= (a.x + b.x) / 2.0 + gap || (p.y - q.y).abs() >= (a.y + b.y) / 2.0 + gap
}

/// Runs the whole simulation, handing every keyframe to `sink` in time order, and returns the
/// ground truth.
///
/// # Errors
/// [`SimError`] when a knob is out of range.
pub fn simulate(
    cfg: &SimConfig,
    mut sink: impl FnMut(&Observation),
) -> Result<GroundTruth, SimError> {
    simulate_with_sources(cfg, |obs, _| sink(obs))
}

/// [`simulate`], also handing `sink` each detection's source: the index of the ground-truth
/// object it saw (into [`GroundTruth::objects`]), `None` for a false positive.
///
/// # Errors
/// [`SimError`] when a knob is out of range.
pub fn simulate_with_sources(
    cfg: &SimConfig,
    mut sink: impl FnMut(&Observation, &[Option<usize>]),
) -> Result<GroundTruth, SimError> {
    cfg.validate()?;
    let mut rng = Rng::new(cfg.seed);
    let layout = Layout::build(cfg.rooms, &mut rng.fork(1));
    let mut world = World {
        cfg: cfg.clone(),
        layout: layout.clone(),
        objects: Vec::new(),
        changes: Vec::new(),
        rng: rng.fork(2),
    };
    let mut detector_rng = rng.fork(3);
    let mut outlier_rng = Rng::new(cfg.seed ^ 0x0cc1_0de5_a11c_e000);
    for (i, f) in layout.furniture.iter().enumerate() {
        let id = world.objects.len();
        world.objects.push(GtObject {
            id,
            label: f.kind.label(),
            extent: f.extent,
            furniture: Some(i),
            appearance: appearance_for(1000 + f.kind as u64, &mut world.rng),
            placements: vec![GtPlacement {
                position: f.center,
                from_ns: SIM_EPOCH_NS,
                to_ns: None,
                seen_ns: Vec::new(),
                surface: None,
            }],
        });
    }
    let mut placed = 0;
    let mut attempts = 0;
    while placed < cfg.objects && attempts < cfg.objects * 4 + 10 {
        attempts += 1;
        let remaining = cfg.objects - placed;
        let new = world.spawn(SIM_EPOCH_NS, remaining >= 2);
        placed += new.len();
    }

    let camera = sim_camera();
    let body_from_cam = body_from_camera();
    let path = patrol_path(&layout);
    let period = cfg.keyframe_period_ns();
    let ppd = cfg.patrols_per_day as usize;
    let patrol_count = cfg.days as usize * ppd;
    let mut patrols = Vec::with_capacity(patrol_count);
    let mut keyframes = 0u64;
    let mut prev_end: Option<StampNs> = None;
    for p in 0..patrol_count {
        let day = (p / ppd) as i64;
        let slot = (p % ppd) as f64;
        let start = SIM_EPOCH_NS
            + day * 86_400 * NS_PER_S
            + secs_to_ns((9.0 + slot * 10.0 / ppd as f64) * 3600.0);
        if let Some(end) = prev_end {
            world.apply_changes(p - 1, end + (start - end) / 2);
        }
        let ghosts: Vec<usize> = world
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| p > 0 && c.gap == p - 1 && c.from.is_some())
            .map(|(i, _)| i)
            .collect();
        let mut t = start;
        for (k, (x, y, yaw)) in path.iter().enumerate() {
            let world_from_body = body_pose(*x, *y, *yaw);
            let world_from_camera = world_from_body * body_from_cam;
            let camera_from_world = world_from_camera.inverse();
            let cam_pos = Point3::from(world_from_camera.translation.vector);
            let reach2 = (camera.max_depth_m + 1.0).powi(2);
            // Occluders near the camera, tagged with their furniture piece (None: walls, floor).
            let near: Vec<(Option<usize>, Aabb)> = layout
                .structure
                .iter()
                .map(|b| (None, *b))
                .chain(
                    layout
                        .furniture
                        .iter()
                        .enumerate()
                        .flat_map(|(i, f)| f.parts.iter().map(move |b| (Some(i), *b))),
                )
                .filter(|(_, b)| b.dist2(&cam_pos) < reach2)
                .collect();
            let mut detections = Vec::new();
            let mut sources = Vec::new();
            let mut visible_small: Vec<(f64, &'static str)> = Vec::new();
            for obj in world.objects.iter_mut() {
                let Some(pl) = obj.placements.iter_mut().find(|pl| pl.covers(t)) else {
                    continue;
                };
                if (pl.position - cam_pos).norm() > camera.max_depth_m + 1.0 {
                    continue;
                }
                let furniture = obj.furniture;
                let occluders: Vec<&Aabb> = near
                    .iter()
                    .filter(|(f, _)| f.is_none() || *f != furniture)
                    .map(|(_, b)| b)
                    .collect();
                let Some(depth) = visible_depth(
                    &camera,
                    &world_from_camera,
                    &camera_from_world,
                    &occluders,
                    &pl.position,
                    &obj.extent,
                    0.0,
                ) else {
                    continue;
                };
                pl.seen_ns.push(t);
                if obj.furniture.is_none() {
                    visible_small.push((depth, obj.label));
                }
                if !detector_rng.chance(cfg.detection_recall) {
                    continue;
                }
                let class = super::world::class_of(obj.label);
                let label = match class.and_then(|c| c.look_alike) {
                    Some(other) if detector_rng.chance(cfg.confusion_rate) => other,
                    _ => obj.label,
                };
                let sigma = cfg.position_noise_m + 0.01 * depth;
                let p_cam = camera_from_world * pl.position;
                let noisy = Point3::new(
                    p_cam.x + sigma * detector_rng.normal(),
                    p_cam.y + sigma * detector_rng.normal(),
                    p_cam.z + sigma * detector_rng.normal(),
                );
                let scale = (1.0 + 0.05 * detector_rng.normal()).max(0.5);
                let mut seen_appearance = unit(
                    obj.appearance
                        .iter()
                        .map(|a| f64::from(*a) + APPEARANCE_NOISE * detector_rng.normal())
                        .collect(),
                );
                if cfg.appearance_outlier_rate > 0.0
                    && outlier_rng.chance(cfg.appearance_outlier_rate)
                {
                    seen_appearance =
                        unit((0..APPEARANCE_DIM).map(|_| outlier_rng.normal()).collect());
                }
                sources.push(Some(obj.id));
                detections.push(Detection {
                    label: label.to_string(),
                    score: detector_rng.range(0.55, 0.95) as f32,
                    position_m: noisy,
                    frame: DetectionFrame::Camera,
                    extent_m: obj.extent * scale,
                    text: None,
                    embedding: cfg.appearance.then_some(seen_appearance),
                });
            }
            // False positives: a random class at a random pixel and depth.
            for _ in 0..detector_rng.poisson(cfg.false_positive_rate) {
                let c = CLASSES[detector_rng.index(CLASSES.len())];
                let u = detector_rng.range(0.0, f64::from(camera.width_px));
                let v = detector_rng.range(0.0, f64::from(camera.height_px));
                let d = detector_rng.range(0.6, 4.0);
                let score = detector_rng.range(0.3, 0.6) as f32;
                let appearance = unit((0..APPEARANCE_DIM).map(|_| detector_rng.normal()).collect());
                sources.push(None);
                detections.push(Detection {
                    label: c.label.to_string(),
                    score,
                    position_m: camera.back_project(u, v, d),
                    frame: DetectionFrame::Camera,
                    extent_m: Vector3::new(c.size[0], c.size[1], c.size[2]),
                    text: None,
                    embedding: cfg.appearance.then_some(appearance),
                });
            }
            // Ghosts: would the old spot of a changed object be in view?
            let all_near: Vec<&Aabb> = near.iter().map(|(_, b)| b).collect();
            for gi in &ghosts {
                let c = &world.changes[*gi];
                let extent = world.objects[c.object].extent;
                if let Some(from) = c.from {
                    if visible_depth(
                        &camera,
                        &world_from_camera,
                        &camera_from_world,
                        &all_near,
                        &from,
                        &extent,
                        IN_VIEW_MARGIN_PX,
                    )
                    .is_some()
                    {
                        world.changes[*gi].old_spot_views += 1;
                    }
                }
            }
            let occluders: Vec<Aabb> = near.iter().map(|(_, b)| *b).collect();
            let depth = render_depth(
                &camera,
                &world_from_camera,
                &occluders,
                cfg.depth_width_px,
                cfg.depth_height_px,
            );
            let caption =
                (cfg.caption_every > 0 && k % cfg.caption_every as usize == 0).then(|| {
                    let room = layout
                        .room_of(&Point3::new(*x, *y, 0.0))
                        .map(|r| layout.rooms[r].name)
                        .unwrap_or("hallway");
                    caption_for(room, &mut visible_small)
                });
            sink(
                &Observation {
                    stamp_ns: t,
                    world_from_body,
                    world_from_camera,
                    camera,
                    detections,
                    caption,
                    depth: Some(depth),
                },
                &sources,
            );
            keyframes += 1;
            t += period;
        }
        let end = t - period;
        patrols.push(PatrolSpan {
            start_ns: start,
            end_ns: end,
        });
        prev_end = Some(end);
    }
    Ok(GroundTruth {
        layout,
        objects: world.objects,
        changes: world.changes,
        patrols,
        keyframes,
        keyframe_period_ns: period,
    })
}

/// "a mug", "an apple", "keys" (plural labels take no article).
fn with_article(label: &str) -> String {
    if label.ends_with('s') && !label.ends_with("ss") {
        label.to_string()
    } else if label.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {label}")
    } else {
        format!("a {label}")
    }
}

fn caption_for(room: &str, visible: &mut [(f64, &'static str)]) -> String {
    visible.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let mut labels: Vec<&str> = Vec::new();
    for (_, l) in visible.iter() {
        if !labels.contains(l) {
            labels.push(l);
        }
        if labels.len() == 4 {
            break;
        }
    }
    let items: Vec<String> = labels.iter().map(|l| with_article(l)).collect();
    match items.len() {
        0 => format!("an empty corner of the {room}"),
        1 => format!("{} in the {room}", items[0]),
        n => format!(
            "{} and {} in the {room}",
            items[..n - 1].join(", "),
            items[n - 1]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_looks_forward_and_down() {
        let bc = body_from_camera();
        // The optical axis (0,0,1) points along body +x, a little down.
        let axis = bc.rotation * Vector3::new(0.0, 0.0, 1.0);
        assert!(
            axis.x > 0.95 && axis.z < -0.2 && axis.y.abs() < 1e-9,
            "{axis:?}"
        );
        // Image x (right) is body -y.
        let right = bc.rotation * Vector3::new(1.0, 0.0, 0.0);
        assert!((right.y + 1.0).abs() < 1e-9);
    }

    #[test]
    fn bad_knobs_name_the_flag() {
        let cfg = SimConfig {
            detection_recall: 1.5,
            ..SimConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().name, "detection-recall");
        let cfg = SimConfig {
            days: 0,
            ..SimConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().name, "days");
        let cfg = SimConfig {
            appearance_outlier_rate: f64::NAN,
            ..SimConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().name, "appearance-outlier-rate");
    }

    #[test]
    fn captions_read_naturally() {
        let mut v = vec![(2.0, "plate"), (1.0, "mug"), (3.0, "kettle")];
        assert_eq!(
            caption_for("kitchen", &mut v),
            "a mug, a plate and a kettle in the kitchen"
        );
        assert_eq!(
            caption_for("office", &mut []),
            "an empty corner of the office"
        );
    }
}
