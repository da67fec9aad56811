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

impl Observation {
    /// A 64-bit fingerprint of the keyframe's content: stamp, poses, camera, detections,
    /// caption and a sample of the depth image. Equal keyframes have equal fingerprints; the
    /// memory uses it to recognise a keyframe delivered twice. Embeddings and the depth image
    /// enter through their sizes and a few values (an exact copy matches them all anyway).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::Hasher;
        let mut h = super::fast_hash::FastHasher::default();
        let f64s = |h: &mut super::fast_hash::FastHasher, values: &[f64]| {
            for v in values {
                h.write_u64(v.to_bits());
            }
        };
        h.write_i64(self.stamp_ns);
        for pose in [&self.world_from_body, &self.world_from_camera] {
            f64s(&mut h, pose.translation.vector.as_slice());
            f64s(&mut h, pose.rotation.coords.as_slice());
        }
        let c = &self.camera;
        h.write_u32(c.width_px);
        h.write_u32(c.height_px);
        f64s(
            &mut h,
            &[
                c.fx_px,
                c.fy_px,
                c.cx_px,
                c.cy_px,
                c.min_depth_m,
                c.max_depth_m,
            ],
        );
        h.write_usize(self.detections.len());
        for d in &self.detections {
            h.write(d.label.as_bytes());
            h.write_u32(d.score.to_bits());
            f64s(&mut h, d.position_m.coords.as_slice());
            h.write_u8(match d.frame {
                DetectionFrame::Camera => 0,
                DetectionFrame::World => 1,
            });
            f64s(&mut h, d.extent_m.as_slice());
            match &d.text {
                Some(t) => {
                    h.write_u8(1);
                    h.write(t.as_bytes());
                }
                None => h.write_u8(0),
            }
            match &d.embedding {
                Some(e) => {
                    h.write_usize(e.len());
                    for v in e.iter().take(8) {
                        h.write_u32(v.to_bits());
                    }
                }
                None => h.write_u8(0),
            }
        }
        match &self.caption {
            Some(t) => {
                h.write_u8(1);
                h.write(t.as_bytes());
            }
            None => h.write_u8(0),
        }
        match &self.depth {
            Some(d) => {
                h.write_u32(d.width_px);
                h.write_u32(d.height_px);
                let step = (d.depth_m.len() / 64).max(1);
                for v in d.depth_m.iter().step_by(step) {
                    h.write_u32(v.to_bits());
                }
            }
            None => h.write_u8(0),
        }
        h.finish()
    }
}
