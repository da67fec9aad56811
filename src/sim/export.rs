//! Writes a simulated world's keyframes as JSON lines, the input of
//! `tests/interop/sim_to_bag.py` (which records them as a rosbag2 bag with `rosbags`).
//!
//! One object per keyframe: `stamp_ns`, `world_from_body`, `body_from_camera` and
//! `world_from_camera` as `[x, y, z, qx, qy, qz, qw]`, `camera` intrinsics, the rendered
//! `depth` image (metres, `null` for no reading) and `detections` (label, score, frame
//! `camera`/`world`, position, map-aligned extent, the appearance `embedding` or `null`, and
//! `source`: the index of the ground-truth object seen, `null` for a false positive).

use std::io::Write;

use nalgebra::Isometry3;

use super::scenario::{body_from_camera, simulate_with_sources, GroundTruth, SimConfig, SimError};
use crate::core::DetectionFrame;

fn pose(iso: &Isometry3<f64>) -> [f64; 7] {
    let t = iso.translation.vector;
    let q = iso.rotation.coords;
    [t.x, t.y, t.z, q.x, q.y, q.z, q.w]
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The simulator refused its configuration.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Writing failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Simulates `cfg`, writing every keyframe to `out`; returns the ground truth.
///
/// # Errors
/// [`ExportError`].
pub fn write_jsonl(cfg: &SimConfig, out: &mut impl Write) -> Result<GroundTruth, ExportError> {
    let mut err = None;
    let body_from_camera = body_from_camera();
    let truth = simulate_with_sources(cfg, |o, sources| {
        if err.is_some() {
            return;
        }
        let detections: Vec<serde_json::Value> = o
            .detections
            .iter()
            .zip(sources)
            .map(|(d, source)| {
                serde_json::json!({
                    "label": d.label,
                    "score": d.score,
                    "frame": match d.frame {
                        DetectionFrame::Camera => "camera",
                        DetectionFrame::World => "world",
                    },
                    "position": [d.position_m.x, d.position_m.y, d.position_m.z],
                    "extent": [d.extent_m.x, d.extent_m.y, d.extent_m.z],
                    "embedding": d.embedding,
                    "source": source,
                })
            })
            .collect();
        let c = &o.camera;
        let line = serde_json::json!({
            "stamp_ns": o.stamp_ns,
            "world_from_body": pose(&o.world_from_body),
            "body_from_camera": pose(&body_from_camera),
            "world_from_camera": pose(&o.world_from_camera),
            "camera": {
                "width": c.width_px, "height": c.height_px,
                "fx": c.fx_px, "fy": c.fy_px, "cx": c.cx_px, "cy": c.cy_px,
            },
            "depth": o.depth.as_ref().map(|d| serde_json::json!({
                "width": d.width_px, "height": d.height_px, "depth_m": d.depth_m,
            })),
            "detections": detections,
        });
        if let Err(e) = writeln!(out, "{line}") {
            err = Some(e);
        }
    })?;
    match err {
        Some(e) => Err(e.into()),
        None => Ok(truth),
    }
}
