//! The inputs of the core: robot pose updates and keyframe observations.
//!
//! Owns [`PoseUpdate`], [`Observation`] and [`Detection`]. Adapters (bag replay, the ROS node, the
//! simulator) build these; the core validates them on ingest.

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

use super::geometry::{DepthImage, PinholeCamera};
use super::time::StampNs;

/// The robot's body pose at a time (e.g. from odometry composed with `map <- odom`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoseUpdate {
    /// Stamp of the pose, ns.
    pub stamp_ns: StampNs,
    /// Pose of `base_link` in the map frame.
    pub world_from_body: Isometry3<f64>,
}

/// Which frame a detection's position is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetectionFrame {
    /// The keyframe's camera optical frame.
    Camera,
    /// The map (world) frame.
    World,
}

/// One detected object in a keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class label, e.g. `mug`. Normalised (trimmed, lower-case) on ingest; empty is rejected.
    pub label: String,
    /// Detector score in (0, 1].
    pub score: f32,
    /// Centre of the object, metres, in `frame`.
    pub position_m: Point3<f64>,
    /// Frame of `position_m`.
    pub frame: DetectionFrame,
    /// Axis-aligned size of the object, metres (x, y, z in the world frame). Zero sizes are
    /// allowed and treated as a point object.
    pub extent_m: Vector3<f64>,
    /// Text read on the object (OCR), if any.
    pub text: Option<String>,
    /// Appearance or text embedding, if the detector gives one.
    pub embedding: Option<Vec<f32>>,
}

/// A keyframe: the camera pose, its model, what was detected, and optionally a caption and a
/// (coarse) depth image used to tell occluded objects from missing ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Stamp of the keyframe, ns.
    pub stamp_ns: StampNs,
    /// Pose of `base_link` in the map frame.
    pub world_from_body: Isometry3<f64>,
    /// Pose of the camera optical frame in the map frame.
    pub world_from_camera: Isometry3<f64>,
    /// The camera model.
    pub camera: PinholeCamera,
    /// Detections in this keyframe.
    pub detections: Vec<Detection>,
    /// A caption of the keyframe, if a captioner produced one.
    pub caption: Option<String>,
    /// Aligned depth image (any resolution), used for the occlusion test of change detection.
    /// Without one, every object inside the frustum and depth range counts as visible.
    pub depth: Option<DepthImage>,
}
