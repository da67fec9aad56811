//! The ingest pipeline shared by `mnemo replay` and the live node: decoded ROS messages in,
//! core inputs ([`PoseUpdate`]s and keyframe [`Observation`]s) out.
//!
//! Owns: TF bookkeeping, camera intrinsics, depth-image conversion and time matching,
//! detection conversion (3D boxes resolved through TF; 2D boxes back-projected through the
//! aligned depth image), the keyframe policy, the bounded queue of data waiting for TF, and the
//! counters of everything skipped. It does not know where messages come from (bag or DDS) and
//! never reads a clock: stamps come from the messages.

use std::collections::VecDeque;

use nalgebra::{Isometry3, Point3, Quaternion, Translation3, UnitQuaternion, Vector3};
use serde::Serialize;

use super::msg::{
    CameraInfo, CompressedImage, Detection2DArray, Detection3DArray, Image,
    ObjectHypothesisWithPose, Odometry, TfMessage,
};
use super::tf::{TfBuffer, TfConfig, TfError};
use crate::core::geometry::{DepthImage, PinholeCamera};
use crate::core::observation::{Detection, DetectionFrame, Observation, PoseUpdate};
use crate::core::time::StampNs;

/// When a detection message becomes a keyframe: the first always, then when the camera moved
/// or turned enough, or enough time passed, since the last keyframe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyframePolicy {
    /// Camera translation that triggers a keyframe, m.
    pub min_translation_m: f64,
    /// Camera rotation that triggers a keyframe, rad.
    pub min_rotation_rad: f64,
    /// Time that triggers a keyframe, s (0: every detection message is a keyframe).
    pub max_interval_s: f64,
}

impl Default for KeyframePolicy {
    fn default() -> Self {
        Self {
            min_translation_m: 0.25,
            min_rotation_rad: 0.26,
            max_interval_s: 0.5,
        }
    }
}

/// Pipeline settings (the node fills them from ROS parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The fixed frame memory positions are kept in (REP-105 `map`).
    pub map_frame: String,
    /// The robot body frame (REP-105 `base_link`).
    pub base_frame: String,
    /// Nearest depth the detector reports, m.
    pub min_depth_m: f64,
    /// Farthest depth the detector reports, m.
    pub max_depth_m: f64,
    /// Keyframe policy.
    pub keyframe: KeyframePolicy,
    /// TF buffer settings.
    pub tf: TfConfig,
    /// How long (in message time) data waits for its transform before it is dropped, s.
    pub tf_wait_s: f64,
    /// Most messages waiting for TF; the oldest is dropped beyond it.
    pub max_waiting: usize,
    /// Largest stamp difference between detections and the depth image used with them, s.
    pub depth_slop_s: f64,
    /// Give each keyframe detection the colour descriptor of its image region
    /// ([`crate::perception::appearance`]) when the keyframe has a colour image, so that
    /// look-alike instances are told apart by appearance (`vision_msgs` detections carry none).
    pub appearance: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            map_frame: "map".into(),
            base_frame: "base_link".into(),
            min_depth_m: 0.3,
            max_depth_m: 5.0,
            keyframe: KeyframePolicy::default(),
            tf: TfConfig::default(),
            tf_wait_s: 0.5,
            max_waiting: 64,
            depth_slop_s: 0.05,
            appearance: false,
        }
    }
}

/// Back-projects an image box (centre `u`, `v`, size `w` x `h` in the camera's pixels) through
/// the aligned `depth` image: the median depth of the box's central half (robust to background
/// at the edges) along the centre's ray, in the camera frame, with a box extent of that size at
/// that depth. `None` when the box holds no valid depth.
pub fn back_project_box(
    camera: &PinholeCamera,
    depth: &DepthImage,
    u: f64,
    v: f64,
    w: f64,
    h: f64,
) -> Option<(Point3<f64>, Vector3<f64>)> {
    let sx = f64::from(depth.width_px) / f64::from(camera.width_px.max(1));
    let sy = f64::from(depth.height_px) / f64::from(camera.height_px.max(1));
    let (x0, x1) = (((u - w / 4.0) * sx).floor(), ((u + w / 4.0) * sx).ceil());
    let (y0, y1) = (((v - h / 4.0) * sy).floor(), ((v + h / 4.0) * sy).ceil());
    let mut zs: Vec<f32> = Vec::new();
    for y in (y0.max(0.0) as u32)..(y1.max(0.0) as u32).min(depth.height_px) {
        for x in (x0.max(0.0) as u32)..(x1.max(0.0) as u32).min(depth.width_px) {
            let z = depth.depth_m[(y * depth.width_px + x) as usize];
            if z.is_finite() && z > 0.0 {
                zs.push(z);
            }
        }
    }
    if zs.is_empty() {
        return None;
    }
    zs.sort_unstable_by(f32::total_cmp);
    let z = f64::from(zs[zs.len() / 2]);
    let p = Point3::new(
        (u - camera.cx_px) / camera.fx_px * z,
        (v - camera.cy_px) / camera.fy_px * z,
        z,
    );
    let width_m = w / camera.fx_px * z;
    let height_m = h / camera.fy_px * z;
    Some((p, Vector3::new(width_m, height_m, width_m.min(height_m))))
}

/// One decoded input message.
#[derive(Debug, Clone)]
pub enum Input {
    /// `/tf`.
    Tf(TfMessage),
    /// `/tf_static`.
    TfStatic(TfMessage),
    /// Odometry of the body.
    Odometry(Box<Odometry>),
    /// Intrinsics of the colour camera.
    CameraInfo(Box<CameraInfo>),
    /// Colour image (kept for keyframe visualisation and captioning).
    ColorImage(Image),
    /// Compressed colour image (`jpeg` or `png`, as `image_transport`'s `compressed` plugin
    /// publishes it); decoded only when it travels with a keyframe.
    CompressedColorImage(CompressedImage),
    /// Depth image aligned with the colour camera.
    DepthImage(Image),
    /// 3D detections (`vision_msgs/Detection3DArray`).
    Detections3D(Detection3DArray),
    /// 2D detections back-projected through depth (`vision_msgs/Detection2DArray`).
    Detections2D(Detection2DArray),
}

/// An 8-bit RGB image (converted from `rgb8`, `bgr8`, `rgba8`, `bgra8` or `mono8`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColorImage {
    /// Stamp of the source image, ns.
    pub stamp_ns: StampNs,
    /// Width, pixels.
    pub width_px: u32,
    /// Height, pixels.
    pub height_px: u32,
    /// Row-major RGB bytes, `3 * width_px * height_px` of them.
    pub rgb: Vec<u8>,
}

impl ColorImage {
    /// Checks that the buffer holds `3 * width * height` bytes of a non-empty image.
    ///
    /// # Errors
    /// A message giving the size and byte count.
    pub fn check_rgb8(&self) -> Result<(), String> {
        let want = 3 * self.width_px as usize * self.height_px as usize;
        if self.width_px == 0 || self.height_px == 0 || self.rgb.len() != want {
            return Err(format!(
                "image {}x{} with {} bytes is not RGB8",
                self.width_px,
                self.height_px,
                self.rgb.len()
            ));
        }
        Ok(())
    }
}

/// A keyframe: what the memory ingests, plus the colour image taken with it when there is one
/// within the slop (for visualisation and captioning; the memory does not need it).
#[derive(Debug, Clone)]
pub struct Keyframe {
    /// The observation for the memory.
    pub observation: Observation,
    /// The colour image nearest in time, if within `depth_slop_s`.
    pub color: Option<ColorImage>,
}

/// One output for the memory.
#[derive(Debug, Clone)]
pub enum Output {
    /// A body pose.
    Pose(PoseUpdate),
    /// A keyframe.
    Keyframe(Box<Keyframe>),
}

/// Counters of what the pipeline did and skipped (printed in summaries and diagnostics).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PipelineStats {
    /// Keyframes produced.
    pub keyframes: u64,
    /// Pose updates produced.
    pub poses: u64,
    /// Detection messages the keyframe policy skipped.
    pub skipped_by_policy: u64,
    /// Messages dropped because their transform never arrived, had a gap, or is unknown.
    pub tf_dropped: u64,
    /// Messages that waited for TF and were used.
    pub tf_waited: u64,
    /// Transforms refused (bad frames, non-finite numbers).
    pub tf_rejected: u64,
    /// Detection messages dropped for want of camera intrinsics.
    pub no_camera_info: u64,
    /// 2D detection messages dropped for want of a depth image within the slop.
    pub no_depth: u64,
    /// Images with an unsupported encoding or inconsistent sizes.
    pub bad_images: u64,
    /// Detections dropped for missing labels, non-finite numbers or no valid depth.
    pub bad_detections: u64,
    /// Odometry messages with a non-finite pose or a zero quaternion.
    pub bad_odometry: u64,
    /// Inputs whose stamp went backwards (still used when TF allows).
    pub stamps_backwards: u64,
    /// Times the stamps jumped back by more than [`TIME_JUMP_BACK_S`] (a bag loop, a
    /// simulator reset): dynamic TF, waiting messages and image buffers were cleared, static
    /// transforms kept.
    pub time_jumps: u64,
    /// Keyframe detections given a colour descriptor (`PipelineConfig::appearance`).
    pub appearance_described: u64,
}

/// An odometry or detection stamp this far behind the newest one seen is a jump back in time,
/// not a late message, s (for TF the threshold is the TF cache length).
pub const TIME_JUMP_BACK_S: f64 = 1.0;

/// Where and with which camera a keyframe is taken.
#[derive(Debug, Clone, Copy)]
struct KeyframeFrame {
    stamp_ns: StampNs,
    camera: PinholeCamera,
    world_from_body: Isometry3<f64>,
    world_from_camera: Isometry3<f64>,
}

/// A message waiting for TF.
#[derive(Debug, Clone)]
struct Waiting {
    stamp_ns: StampNs,
    input: Input,
    /// Whether it already failed for want of newer TF once.
    waited: bool,
}

/// The pipeline state.
#[derive(Debug, Clone)]
pub struct Pipeline {
    config: PipelineConfig,
    tf: TfBuffer,
    camera: Option<CameraInfo>,
    /// Recent depth images (stamp, image), newest last.
    depth: VecDeque<(StampNs, DepthImage)>,
    /// Recent colour images (stamp, message), newest last; converted only for keyframes.
    color: VecDeque<(StampNs, ColorSource)>,
    last_keyframe: Option<(StampNs, Isometry3<f64>)>,
    last_stamp_ns: Option<StampNs>,
    waiting: VecDeque<Waiting>,
    stats: PipelineStats,
}

/// How many recent depth and colour images are kept for time matching.
const RECENT_IMAGES: usize = 8;

fn ns(s: f64) -> i64 {
    (s * 1e9).round() as i64
}

fn iso_from(p: &super::msg::Pose) -> Option<Isometry3<f64>> {
    let q = Quaternion::new(
        p.orientation.w,
        p.orientation.x,
        p.orientation.y,
        p.orientation.z,
    );
    let t = Vector3::new(p.position.x, p.position.y, p.position.z);
    if !(q.norm() > 1e-9 && q.coords.iter().chain(t.iter()).all(|v| v.is_finite())) {
        return None;
    }
    Some(Isometry3::from_parts(
        Translation3::from(t),
        UnitQuaternion::from_quaternion(q),
    ))
}

/// The best hypothesis (highest score, then smallest class id) as (label, score).
fn best_hypothesis(results: &[ObjectHypothesisWithPose]) -> Option<(String, f32)> {
    results
        .iter()
        .filter(|h| !h.hypothesis.class_id.trim().is_empty() && h.hypothesis.score.is_finite())
        .max_by(|a, b| {
            a.hypothesis
                .score
                .total_cmp(&b.hypothesis.score)
                .then_with(|| b.hypothesis.class_id.cmp(&a.hypothesis.class_id))
        })
        .map(|h| {
            (
                h.hypothesis.class_id.trim().to_string(),
                h.hypothesis.score as f32,
            )
        })
}

/// Bytes per pixel and channel order (indices of R, G, B) of a supported colour encoding, when
/// the sizes are consistent.
fn color_layout(img: &Image) -> Option<(usize, [usize; 3])> {
    let (bpp, order) = match img.encoding.as_str() {
        "rgb8" => (3, [0, 1, 2]),
        "bgr8" => (3, [2, 1, 0]),
        "rgba8" => (4, [0, 1, 2]),
        "bgra8" => (4, [2, 1, 0]),
        "mono8" | "8UC1" => (1, [0, 0, 0]),
        _ => return None,
    };
    let (w, h, step) = (img.width as usize, img.height as usize, img.step as usize);
    (w > 0 && h > 0 && step >= w * bpp && img.data.len() >= step * h).then_some((bpp, order))
}

/// A colour image as it arrived: raw or compressed.
#[derive(Debug, Clone)]
enum ColorSource {
    Raw(Image),
    Compressed(CompressedImage),
}

/// Whether a `CompressedImage` format names a codec we decode (`jpeg`/`png`, possibly after a
/// `rgb8; ` prefix); `compressedDepth` is not a colour image.
fn compressed_format_supported(format: &str) -> bool {
    let f = format.to_ascii_lowercase();
    !f.contains("compresseddepth") && (f.contains("jpeg") || f.contains("jpg") || f.contains("png"))
}

/// Decodes a `jpeg` or `png` compressed colour image to RGB; `None` when the format is not
/// supported or the bytes do not decode.
pub fn color_from_compressed(img: &CompressedImage) -> Option<ColorImage> {
    if !compressed_format_supported(&img.format) {
        return None;
    }
    let rgb = image::load_from_memory(&img.data).ok()?.to_rgb8();
    Some(ColorImage {
        stamp_ns: img.header.stamp.to_ns(),
        width_px: rgb.width(),
        height_px: rgb.height(),
        rgb: rgb.into_raw(),
    })
}

/// Converts a colour image (`rgb8`, `bgr8`, `rgba8`, `bgra8`, `mono8`) to RGB; `None` for other
/// encodings or inconsistent sizes.
pub fn color_from_image(img: &Image) -> Option<ColorImage> {
    let (bpp, [r, g, b]) = color_layout(img)?;
    let (w, h, step) = (img.width as usize, img.height as usize, img.step as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let line = &img.data[row * step..row * step + w * bpp];
        if bpp == 3 && r == 0 {
            rgb.extend_from_slice(line);
            continue;
        }
        for px in line.chunks_exact(bpp) {
            rgb.extend_from_slice(&[px[r], px[g], px[b]]);
        }
    }
    Some(ColorImage {
        stamp_ns: img.header.stamp.to_ns(),
        width_px: img.width,
        height_px: img.height,
        rgb,
    })
}

/// Converts a depth image (`16UC1` millimetres or `32FC1` metres) to metres; `None` for other
/// encodings or inconsistent sizes.
pub fn depth_from_image(img: &Image) -> Option<DepthImage> {
    let (w, h) = (img.width as usize, img.height as usize);
    let bytes_per_px = match img.encoding.as_str() {
        "16UC1" | "mono16" => 2,
        "32FC1" => 4,
        _ => return None,
    };
    let step = img.step as usize;
    if w == 0 || h == 0 || step < w * bytes_per_px || img.data.len() < step * h {
        return None;
    }
    let big = img.is_bigendian != 0;
    let mut depth_m = Vec::with_capacity(w * h);
    for row in 0..h {
        let line = &img.data[row * step..row * step + w * bytes_per_px];
        for px in line.chunks_exact(bytes_per_px) {
            let v = if bytes_per_px == 2 {
                let raw = if big {
                    u16::from_be_bytes([px[0], px[1]])
                } else {
                    u16::from_le_bytes([px[0], px[1]])
                };
                // 0 = no reading.
                if raw == 0 {
                    f32::NAN
                } else {
                    f32::from(raw) / 1000.0
                }
            } else {
                let b = [px[0], px[1], px[2], px[3]];
                let v = if big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                if v > 0.0 {
                    v
                } else {
                    f32::NAN
                }
            };
            depth_m.push(v);
        }
    }
    Some(DepthImage {
        width_px: img.width,
        height_px: img.height,
        depth_m,
    })
}

impl Pipeline {
    /// A pipeline with no TF, intrinsics or images yet.
    pub fn new(config: PipelineConfig) -> Self {
        Self {
            tf: TfBuffer::new(config.tf.clone()),
            config,
            camera: None,
            depth: VecDeque::new(),
            color: VecDeque::new(),
            last_keyframe: None,
            last_stamp_ns: None,
            waiting: VecDeque::new(),
            stats: PipelineStats::default(),
        }
    }

    /// Keeps a colour image for keyframes to come (the most recent few).
    fn push_color(&mut self, stamp_ns: StampNs, image: ColorSource) {
        self.color.push_back((stamp_ns, image));
        while self.color.len() > RECENT_IMAGES {
            self.color.pop_front();
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// The TF buffer (for visualisation).
    pub fn tf(&self) -> &TfBuffer {
        &self.tf
    }

    /// Messages waiting for TF.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Feeds one message; whatever becomes ready is appended to `out`.
    pub fn push(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Tf(m) => {
                // A transform older than the TF cache would be dropped on arrival: only a jump
                // back in time explains it (late TF within the cache is normal, e.g. a slow
                // localiser's map -> odom).
                if let Some(newest) = m.transforms.iter().map(|t| t.header.stamp.to_ns()).max() {
                    self.jumped_back(newest, self.config.tf.cache_s.max(TIME_JUMP_BACK_S));
                }
                self.add_tf(&m, false);
                self.retry_waiting(out, false);
            }
            Input::TfStatic(m) => {
                self.add_tf(&m, true);
                self.retry_waiting(out, false);
            }
            Input::CameraInfo(info) => {
                self.camera = Some(*info);
            }
            Input::ColorImage(img) => {
                if color_layout(&img).is_some() {
                    self.push_color(img.header.stamp.to_ns(), ColorSource::Raw(img));
                } else {
                    self.stats.bad_images += 1;
                }
            }
            Input::CompressedColorImage(img) => {
                if compressed_format_supported(&img.format) && !img.data.is_empty() {
                    self.push_color(img.header.stamp.to_ns(), ColorSource::Compressed(img));
                } else {
                    self.stats.bad_images += 1;
                }
            }
            Input::DepthImage(img) => match depth_from_image(&img) {
                Some(d) => {
                    self.depth.push_back((img.header.stamp.to_ns(), d));
                    while self.depth.len() > RECENT_IMAGES {
                        self.depth.pop_front();
                    }
                }
                None => self.stats.bad_images += 1,
            },
            other => {
                let stamp = match &other {
                    Input::Odometry(m) => m.header.stamp.to_ns(),
                    Input::Detections3D(m) => m.header.stamp.to_ns(),
                    Input::Detections2D(m) => m.header.stamp.to_ns(),
                    _ => return,
                };
                if !self.jumped_back(stamp, TIME_JUMP_BACK_S)
                    && self.last_stamp_ns.is_some_and(|t| stamp < t)
                {
                    self.stats.stamps_backwards += 1;
                }
                self.last_stamp_ns = Some(self.last_stamp_ns.map_or(stamp, |t| t.max(stamp)));
                self.waiting.push_back(Waiting {
                    stamp_ns: stamp,
                    input: other,
                    waited: false,
                });
                while self.waiting.len() > self.config.max_waiting.max(1) {
                    self.waiting.pop_front();
                    self.stats.tf_dropped += 1;
                }
                self.retry_waiting(out, false);
            }
        }
    }

    /// Whether `stamp_ns` is more than `threshold_s` behind the newest stamp (a jump back in
    /// time); if so, forgets the old timeline (dynamic
    /// TF, waiting messages, image buffers, keyframe policy state) and counts it.
    fn jumped_back(&mut self, stamp_ns: StampNs, threshold_s: f64) -> bool {
        let jumped = self
            .last_stamp_ns
            .is_some_and(|t| t.saturating_sub(stamp_ns) as f64 > threshold_s * 1e9);
        if jumped {
            self.stats.time_jumps += 1;
            self.tf.clear_dynamic();
            self.stats.tf_dropped += self.waiting.len() as u64;
            self.waiting.clear();
            self.depth.clear();
            self.color.clear();
            self.last_keyframe = None;
            self.last_stamp_ns = None;
        }
        jumped
    }

    /// Gives every waiting message a last chance (end of a bag, node shutdown) and drops the rest.
    pub fn finish(&mut self, out: &mut Vec<Output>) {
        self.retry_waiting(out, true);
    }

    fn add_tf(&mut self, m: &TfMessage, is_static: bool) {
        for t in &m.transforms {
            if self.tf.insert_msg(t, is_static).is_err() {
                self.stats.tf_rejected += 1;
            }
        }
    }

    /// Processes waiting messages in arrival order; one still waiting for future TF stops the
    /// queue (so outputs keep their order) unless it timed out or `last_chance` is set.
    fn retry_waiting(&mut self, out: &mut Vec<Output>, last_chance: bool) {
        let newest = self.last_stamp_ns.unwrap_or(StampNs::MIN);
        while let Some(w) = self.waiting.pop_front() {
            match self.try_process(&w.input, out) {
                Ok(()) => {
                    if w.waited {
                        self.stats.tf_waited += 1;
                    }
                }
                Err(TfError::Future { .. })
                    if !last_chance && newest - w.stamp_ns <= ns(self.config.tf_wait_s) =>
                {
                    self.waiting.push_front(Waiting { waited: true, ..w });
                    return;
                }
                Err(_) => self.stats.tf_dropped += 1,
            }
        }
    }

    /// Converts one message, or says which transform it lacks.
    fn try_process(&mut self, input: &Input, out: &mut Vec<Output>) -> Result<(), TfError> {
        match input {
            Input::Odometry(m) => {
                let stamp = m.header.stamp.to_ns();
                let Some(parent_from_child) = iso_from(&m.pose.pose) else {
                    self.stats.bad_odometry += 1;
                    return Ok(());
                };
                let frame = if m.header.frame_id.is_empty() {
                    "odom"
                } else {
                    m.header.frame_id.as_str()
                };
                let map_from_parent = self.tf.lookup(&self.config.map_frame, frame, stamp)?;
                let child = if m.child_frame_id.is_empty() {
                    self.config.base_frame.as_str()
                } else {
                    m.child_frame_id.as_str()
                };
                // The pose of the child; the body is `base_frame` (through TF if different).
                let map_from_child = map_from_parent * parent_from_child;
                let world_from_body = if child == self.config.base_frame {
                    map_from_child
                } else {
                    map_from_child * self.tf.lookup(child, &self.config.base_frame, stamp)?
                };
                self.stats.poses += 1;
                out.push(Output::Pose(PoseUpdate {
                    stamp_ns: stamp,
                    world_from_body,
                }));
                Ok(())
            }
            Input::Detections3D(m) => self.keyframe_3d(m, out),
            Input::Detections2D(m) => self.keyframe_2d(m, out),
            _ => Ok(()),
        }
    }

    /// Camera model from the latest intrinsics, with the configured depth range.
    fn camera_model(&self) -> Option<(PinholeCamera, String)> {
        let info = self.camera.as_ref()?;
        let k = info.k.0;
        let cam = PinholeCamera {
            width_px: info.width,
            height_px: info.height,
            fx_px: k[0],
            fy_px: k[4],
            cx_px: k[2],
            cy_px: k[5],
            min_depth_m: self.config.min_depth_m,
            max_depth_m: self.config.max_depth_m,
        };
        cam.validate().ok()?;
        Some((cam, info.header.frame_id.clone()))
    }

    /// The camera model and poses of a keyframe at `stamp`, or `None` (counted) when there are
    /// no intrinsics yet or the keyframe policy skips it.
    fn keyframe_frame(&mut self, stamp: StampNs) -> Result<Option<KeyframeFrame>, TfError> {
        let Some((camera, camera_frame)) = self.camera_model() else {
            self.stats.no_camera_info += 1;
            return Ok(None);
        };
        let world_from_camera = self
            .tf
            .lookup(&self.config.map_frame, &camera_frame, stamp)?;
        let world_from_body =
            self.tf
                .lookup(&self.config.map_frame, &self.config.base_frame, stamp)?;
        if let Some((t, last)) = &self.last_keyframe {
            let p = &self.config.keyframe;
            let moved = (world_from_camera.translation.vector - last.translation.vector).norm();
            let turned = world_from_camera.rotation.angle_to(&last.rotation);
            let dt = (stamp - t) as f64 * 1e-9;
            if moved < p.min_translation_m && turned < p.min_rotation_rad && dt < p.max_interval_s {
                self.stats.skipped_by_policy += 1;
                return Ok(None);
            }
        }
        Ok(Some(KeyframeFrame {
            stamp_ns: stamp,
            camera,
            world_from_body,
            world_from_camera,
        }))
    }

    fn matched_depth(&self, stamp: StampNs) -> Option<&DepthImage> {
        self.depth
            .iter()
            .filter(|(t, _)| (t - stamp).abs() <= ns(self.config.depth_slop_s))
            .min_by_key(|(t, _)| (t - stamp).abs())
            .map(|(_, d)| d)
    }

    fn emit(
        &mut self,
        frame: KeyframeFrame,
        mut detections: Vec<Detection>,
        depth: Option<DepthImage>,
        out: &mut Vec<Output>,
    ) {
        self.last_keyframe = Some((frame.stamp_ns, frame.world_from_camera));
        self.stats.keyframes += 1;
        let slop = ns(self.config.depth_slop_s);
        let nearest = self
            .color
            .iter()
            .filter(|(t, _)| (t - frame.stamp_ns).abs() <= slop)
            .min_by_key(|(t, _)| (t - frame.stamp_ns).abs());
        let color = match nearest.map(|(_, c)| c) {
            None => None,
            Some(ColorSource::Raw(img)) => color_from_image(img),
            Some(ColorSource::Compressed(img)) => {
                let decoded = color_from_compressed(img);
                if decoded.is_none() {
                    // Not decodable after all (corrupt bytes): counted once, when needed.
                    self.stats.bad_images += 1;
                }
                decoded
            }
        };
        if self.config.appearance {
            if let Some(image) = &color {
                self.stats.appearance_described += crate::perception::appearance::attach(
                    &mut detections,
                    &frame.camera,
                    &frame.world_from_camera,
                    image,
                    depth.as_ref(),
                ) as u64;
            }
        }
        out.push(Output::Keyframe(Box::new(Keyframe {
            observation: Observation {
                stamp_ns: frame.stamp_ns,
                world_from_body: frame.world_from_body,
                world_from_camera: frame.world_from_camera,
                camera: frame.camera,
                detections,
                caption: None,
                depth,
            },
            color,
        })));
    }

    fn keyframe_3d(&mut self, m: &Detection3DArray, out: &mut Vec<Output>) -> Result<(), TfError> {
        let stamp = m.header.stamp.to_ns();
        let Some(kf) = self.keyframe_frame(stamp)? else {
            return Ok(());
        };
        let mut detections = Vec::with_capacity(m.detections.len());
        for d in &m.detections {
            let frame = if d.header.frame_id.is_empty() {
                &m.header.frame_id
            } else {
                &d.header.frame_id
            };
            let world_from_frame = self.tf.lookup(&self.config.map_frame, frame, stamp)?;
            let (Some((label, score)), Some(pose)) =
                (best_hypothesis(&d.results), iso_from(&d.bbox.center))
            else {
                self.stats.bad_detections += 1;
                continue;
            };
            let size = Vector3::new(d.bbox.size.x, d.bbox.size.y, d.bbox.size.z);
            if !size.iter().all(|v| v.is_finite() && *v >= 0.0) {
                self.stats.bad_detections += 1;
                continue;
            }
            // Axis-aligned extent in the map frame of the (possibly rotated) box.
            let r = (world_from_frame.rotation * pose.rotation).to_rotation_matrix();
            let extent_m = r.matrix().abs() * size;
            let position = world_from_frame * Point3::from(pose.translation.vector);
            detections.push(Detection {
                label,
                score,
                position_m: position,
                frame: DetectionFrame::World,
                extent_m,
                text: None,
                embedding: None,
            });
        }
        let depth = self.matched_depth(stamp).cloned();
        self.emit(kf, detections, depth, out);
        Ok(())
    }

    fn keyframe_2d(&mut self, m: &Detection2DArray, out: &mut Vec<Output>) -> Result<(), TfError> {
        let stamp = m.header.stamp.to_ns();
        let Some(depth) = self.matched_depth(stamp).cloned() else {
            self.stats.no_depth += 1;
            return Ok(());
        };
        let Some(kf) = self.keyframe_frame(stamp)? else {
            return Ok(());
        };
        let camera = kf.camera;
        let mut detections = Vec::with_capacity(m.detections.len());
        for d in &m.detections {
            let Some((label, score)) = best_hypothesis(&d.results) else {
                self.stats.bad_detections += 1;
                continue;
            };
            let b = &d.bbox;
            let (u, v, w, h) = (b.center.position.x, b.center.position.y, b.size_x, b.size_y);
            if ![u, v, w, h].iter().all(|x| x.is_finite()) || w <= 0.0 || h <= 0.0 {
                self.stats.bad_detections += 1;
                continue;
            }
            let Some((p, extent_m)) = back_project_box(&camera, &depth, u, v, w, h) else {
                self.stats.bad_detections += 1;
                continue;
            };
            detections.push(Detection {
                label,
                score,
                position_m: p,
                frame: DetectionFrame::Camera,
                extent_m,
                text: None,
                embedding: None,
            });
        }
        self.emit(kf, detections, Some(depth), out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::msg::{
        BoundingBox3D, Detection3D, F64Array, Header, ObjectHypothesis, Pose, Time, Transform,
        TransformStamped, Vector3 as V3,
    };

    fn header(ns: i64, frame: &str) -> Header {
        Header {
            stamp: Time::from_ns(ns),
            frame_id: frame.into(),
        }
    }

    fn tf(ns: i64, parent: &str, child: &str, x: f64) -> TfMessage {
        TfMessage {
            transforms: vec![TransformStamped {
                header: header(ns, parent),
                child_frame_id: child.into(),
                transform: Transform {
                    translation: V3 { x, y: 0.0, z: 0.0 },
                    ..Transform::default()
                },
            }],
        }
    }

    fn detections(ns: i64) -> Detection3DArray {
        Detection3DArray {
            header: header(ns, "cam"),
            detections: vec![Detection3D {
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: "mug".into(),
                        score: 0.9,
                    },
                    ..ObjectHypothesisWithPose::default()
                }],
                bbox: BoundingBox3D {
                    center: Pose {
                        position: crate::ros::msg::Point {
                            x: 0.0,
                            y: 0.0,
                            z: 2.0,
                        },
                        ..Pose::default()
                    },
                    size: V3 {
                        x: 0.1,
                        y: 0.1,
                        z: 0.1,
                    },
                },
                ..Detection3D::default()
            }],
        }
    }

    fn info() -> Box<CameraInfo> {
        Box::new(CameraInfo {
            header: header(0, "cam"),
            width: 640,
            height: 480,
            k: F64Array([525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]),
            ..CameraInfo::default()
        })
    }

    #[test]
    fn detections_wait_for_tf_then_land_in_the_map_frame() {
        let mut p = Pipeline::new(PipelineConfig::default());
        let mut out = Vec::new();
        p.push(Input::TfStatic(tf(0, "map", "odom", 1.0)), &mut out);
        p.push(Input::TfStatic(tf(0, "base_link", "cam", 0.5)), &mut out);
        p.push(Input::CameraInfo(info()), &mut out);
        p.push(Input::Tf(tf(0, "odom", "base_link", 0.0)), &mut out);
        // Detections at 1 s arrive before the transform for 1 s: they wait.
        p.push(Input::Detections3D(detections(1_000_000_000)), &mut out);
        assert!(out.is_empty());
        assert_eq!(p.waiting(), 1);
        p.push(
            Input::Tf(tf(1_000_000_000, "odom", "base_link", 2.0)),
            &mut out,
        );
        let [Output::Keyframe(k)] = out.as_slice() else {
            panic!("{out:?}")
        };
        // map -> odom 1 m, odom -> base 2 m, base -> cam 0.5 m, detection 2 m along z.
        assert!(
            (k.observation.detections[0].position_m - Point3::new(3.5, 0.0, 2.0)).norm() < 1e-9
        );
        assert!(k.color.is_none());
        assert_eq!(p.stats().tf_waited, 1);
        // The keyframe policy skips a second message 0.1 s later from the same spot...
        out.clear();
        p.push(
            Input::Tf(tf(1_100_000_000, "odom", "base_link", 2.0)),
            &mut out,
        );
        p.push(Input::Detections3D(detections(1_100_000_000)), &mut out);
        assert!(out.is_empty());
        assert_eq!(p.stats().skipped_by_policy, 1);
        // ...and data whose TF never comes is dropped after the wait, counted.
        p.push(Input::Detections3D(detections(5_000_000_000)), &mut out);
        p.push(Input::Detections3D(detections(6_000_000_000)), &mut out);
        p.finish(&mut out);
        assert!(out.is_empty());
        assert_eq!(p.stats().tf_dropped, 2);
        // A non-finite odometry pose is counted as such, not as a detection.
        let mut odom = Odometry {
            header: header(1_100_000_000, "odom"),
            child_frame_id: "base_link".into(),
            ..Odometry::default()
        };
        odom.pose.pose.position.x = f64::NAN;
        p.push(Input::Odometry(Box::new(odom)), &mut out);
        assert!(out.is_empty());
        assert_eq!((p.stats().bad_odometry, p.stats().bad_detections), (1, 0));
    }

    #[test]
    fn a_jump_back_in_time_clears_dynamic_tf_and_keeps_static() {
        let mut p = Pipeline::new(PipelineConfig::default());
        let mut out = Vec::new();
        p.push(Input::TfStatic(tf(0, "map", "odom", 1.0)), &mut out);
        p.push(Input::TfStatic(tf(0, "base_link", "cam", 0.5)), &mut out);
        p.push(Input::CameraInfo(info()), &mut out);
        let s = 1_000_000_000;
        p.push(Input::Tf(tf(100 * s, "odom", "base_link", 2.0)), &mut out);
        p.push(Input::Detections3D(detections(100 * s)), &mut out);
        assert_eq!(out.len(), 1);
        // The bag loops: time restarts at 10 s. The old odom -> base_link history (at 100 s)
        // must not serve the new timeline.
        out.clear();
        p.push(Input::Tf(tf(10 * s, "odom", "base_link", 0.0)), &mut out);
        p.push(Input::Detections3D(detections(10 * s)), &mut out);
        assert_eq!(p.stats().time_jumps, 1);
        assert_eq!(p.stats().stamps_backwards, 0);
        let [Output::Keyframe(k)] = out.as_slice() else {
            panic!("{out:?}")
        };
        // Static map -> odom (1 m) and base -> cam (0.5 m) survived; odom -> base is the new 0.
        assert!(
            (k.observation.detections[0].position_m - Point3::new(1.5, 0.0, 2.0)).norm() < 1e-9
        );
        // A message 0.5 s late is not a jump.
        out.clear();
        p.push(Input::Tf(tf(11 * s, "odom", "base_link", 0.0)), &mut out);
        p.push(Input::Detections3D(detections(11 * s)), &mut out);
        p.push(Input::Detections3D(detections(10 * s + s / 2)), &mut out);
        assert_eq!(p.stats().time_jumps, 1);
        assert_eq!(p.stats().stamps_backwards, 1);
    }

    #[test]
    fn depth_encodings_convert_to_metres() {
        let mm = Image {
            width: 2,
            height: 1,
            encoding: "16UC1".into(),
            step: 4,
            data: vec![0xe8, 0x03, 0, 0],
            ..Image::default()
        };
        let d = depth_from_image(&mm).unwrap();
        assert_eq!(d.depth_m[0], 1.0);
        assert!(d.depth_m[1].is_nan());
        let m = Image {
            width: 1,
            height: 1,
            encoding: "32FC1".into(),
            step: 4,
            data: 2.5f32.to_le_bytes().to_vec(),
            ..Image::default()
        };
        assert_eq!(depth_from_image(&m).unwrap().depth_m, vec![2.5]);
        let short = Image {
            data: vec![0; 2],
            ..mm.clone()
        };
        assert!(depth_from_image(&short).is_none());
        let rgb = Image {
            encoding: "rgb8".into(),
            ..mm
        };
        assert!(depth_from_image(&rgb).is_none());
    }

    fn color(ns: i64, encoding: &str, px: &[u8]) -> Image {
        Image {
            header: header(ns, "cam"),
            width: 1,
            height: 1,
            encoding: encoding.into(),
            step: px.len() as u32,
            data: px.to_vec(),
            ..Image::default()
        }
    }

    #[test]
    fn color_encodings_convert_to_rgb() {
        let rgb = |enc: &str, px: &[u8]| color_from_image(&color(0, enc, px)).map(|c| c.rgb);
        assert_eq!(rgb("rgb8", &[1, 2, 3]), Some(vec![1, 2, 3]));
        assert_eq!(rgb("bgr8", &[1, 2, 3]), Some(vec![3, 2, 1]));
        assert_eq!(rgb("rgba8", &[1, 2, 3, 4]), Some(vec![1, 2, 3]));
        assert_eq!(rgb("bgra8", &[1, 2, 3, 4]), Some(vec![3, 2, 1]));
        assert_eq!(rgb("mono8", &[7]), Some(vec![7, 7, 7]));
        assert_eq!(rgb("32FC1", &[0, 0, 0, 0]), None);
        // Fewer bytes than the header promises.
        assert_eq!(rgb("rgb8", &[1, 2]), None);
        // Row padding is skipped.
        let padded = Image {
            width: 1,
            height: 2,
            step: 4,
            data: vec![1, 2, 3, 99, 4, 5, 6, 99],
            ..color(0, "rgb8", &[])
        };
        assert_eq!(
            color_from_image(&padded).unwrap().rgb,
            vec![1, 2, 3, 4, 5, 6]
        );
    }

    /// A pipeline with static TF (map = odom, base_link = cam) and camera info.
    fn camera_pipeline() -> (Pipeline, Vec<Output>) {
        let mut p = Pipeline::new(PipelineConfig::default());
        let mut out = Vec::new();
        p.push(Input::TfStatic(tf(0, "map", "odom", 0.0)), &mut out);
        p.push(Input::TfStatic(tf(0, "base_link", "cam", 0.0)), &mut out);
        p.push(Input::CameraInfo(info()), &mut out);
        (p, out)
    }

    fn compressed(ns: i64, format: &str, data: Vec<u8>) -> CompressedImage {
        CompressedImage {
            header: header(ns, "cam"),
            format: format.into(),
            data,
        }
    }

    /// A 2x2 RGB picture encoded by the `image` crate's encoders.
    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let px = [
            [250u8, 10, 10],
            [10, 250, 10],
            [10, 10, 250],
            [240, 240, 240],
        ];
        let img = image::RgbImage::from_fn(2, 2, |x, y| image::Rgb(px[(y * 2 + x) as usize]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn compressed_colour_images_decode_png_exactly_and_jpeg_closely() {
        let png = color_from_compressed(&compressed(5, "png", encoded(image::ImageFormat::Png)));
        let png = png.expect("png decodes");
        assert_eq!((png.width_px, png.height_px, png.stamp_ns), (2, 2, 5));
        assert_eq!(
            png.rgb,
            vec![250, 10, 10, 10, 250, 10, 10, 10, 250, 240, 240, 240]
        );
        let jpeg = compressed(
            0,
            "rgb8; jpeg compressed bgr8",
            encoded(image::ImageFormat::Jpeg),
        );
        let jpeg = color_from_compressed(&jpeg).expect("jpeg decodes");
        assert_eq!(jpeg.rgb.len(), 12);
        // Lossy, but the bright corner stays the brightest.
        let sum = |i: usize| {
            jpeg.rgb[i * 3..i * 3 + 3]
                .iter()
                .map(|&v| u32::from(v))
                .sum::<u32>()
        };
        assert!(sum(3) > sum(0) && sum(3) > sum(2), "{:?}", jpeg.rgb);
        // Unsupported formats and corrupt bytes give nothing.
        assert!(color_from_compressed(&compressed(0, "tiff", vec![1, 2, 3])).is_none());
        assert!(color_from_compressed(&compressed(
            0,
            "16UC1; compressedDepth png",
            encoded(image::ImageFormat::Png)
        ))
        .is_none());
        assert!(color_from_compressed(&compressed(0, "jpeg", vec![0xff, 0xd8, 0, 1, 2])).is_none());
    }

    #[test]
    fn keyframes_carry_compressed_colour_images_and_bad_ones_are_counted() {
        let (mut p, mut out) = camera_pipeline();
        // Unknown format and empty data: refused at once.
        p.push(
            Input::CompressedColorImage(compressed(1_000_000_000, "bmp", vec![1])),
            &mut out,
        );
        p.push(
            Input::CompressedColorImage(compressed(1_000_000_000, "png", vec![])),
            &mut out,
        );
        assert_eq!(p.stats().bad_images, 2);
        p.push(
            Input::CompressedColorImage(compressed(
                1_000_000_000,
                "png",
                encoded(image::ImageFormat::Png),
            )),
            &mut out,
        );
        // Corrupt bytes are only found when a keyframe needs the image.
        p.push(
            Input::CompressedColorImage(compressed(3_000_000_000, "jpeg", vec![0xff, 0xd8, 7, 7])),
            &mut out,
        );
        assert_eq!(p.stats().bad_images, 2);
        for t in [1_000_000_000, 3_000_000_000] {
            p.push(Input::Tf(tf(t, "odom", "base_link", 0.0)), &mut out);
            p.push(Input::Detections3D(detections(t)), &mut out);
        }
        let [Output::Keyframe(first), Output::Keyframe(second)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            first.color.as_ref().map(|c| c.rgb[..3].to_vec()),
            Some(vec![250, 10, 10])
        );
        assert!(second.color.is_none());
        assert_eq!(p.stats().bad_images, 3);
    }

    #[test]
    fn keyframes_carry_the_colour_image_nearest_in_time_within_the_slop() {
        let (mut p, mut out) = camera_pipeline();
        // A bad colour image is counted and not kept.
        p.push(
            Input::ColorImage(color(1_000_000_000, "yuv422", &[0; 2])),
            &mut out,
        );
        assert_eq!(p.stats().bad_images, 1);
        p.push(
            Input::ColorImage(color(980_000_000, "rgb8", &[1, 1, 1])),
            &mut out,
        );
        p.push(
            Input::ColorImage(color(1_010_000_000, "bgr8", &[3, 2, 1])),
            &mut out,
        );
        for t in [1_000_000_000, 3_000_000_000] {
            p.push(Input::Tf(tf(t, "odom", "base_link", 0.0)), &mut out);
            p.push(Input::Detections3D(detections(t)), &mut out);
        }
        let [Output::Keyframe(first), Output::Keyframe(second)] = out.as_slice() else {
            panic!("{out:?}")
        };
        let c = first.color.as_ref().expect("an image 10 ms away");
        assert_eq!(
            (c.stamp_ns, c.rgb.as_slice()),
            (1_010_000_000, &[1u8, 2, 3][..])
        );
        // Nothing within 50 ms of the second keyframe.
        assert!(second.color.is_none());
    }

    #[test]
    fn keyframe_detections_get_the_colours_of_their_image_region_when_asked() {
        // A red square around the image centre (where the test mug at 2 m on the optical axis
        // projects) on a blue background.
        let (w, h) = (640u32, 480u32);
        let mut data = Vec::with_capacity((3 * w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let centre = (280..360).contains(&x) && (200..280).contains(&y);
                data.extend_from_slice(if centre {
                    &[220, 20, 20]
                } else {
                    &[20, 20, 220]
                });
            }
        }
        let picture = Image {
            header: header(1_000_000_000, "cam"),
            width: w,
            height: h,
            encoding: "rgb8".into(),
            step: 3 * w,
            data,
            ..Image::default()
        };
        let mut embeddings = Vec::new();
        for appearance in [false, true] {
            let mut p = Pipeline::new(PipelineConfig {
                appearance,
                ..PipelineConfig::default()
            });
            let mut out = Vec::new();
            p.push(Input::TfStatic(tf(0, "map", "odom", 0.0)), &mut out);
            p.push(Input::TfStatic(tf(0, "base_link", "cam", 0.0)), &mut out);
            p.push(Input::CameraInfo(info()), &mut out);
            p.push(Input::ColorImage(picture.clone()), &mut out);
            p.push(
                Input::Tf(tf(1_000_000_000, "odom", "base_link", 0.0)),
                &mut out,
            );
            p.push(Input::Detections3D(detections(1_000_000_000)), &mut out);
            let [Output::Keyframe(k)] = out.as_slice() else {
                panic!("{out:?}")
            };
            embeddings.push(k.observation.detections[0].embedding.clone());
            assert_eq!(p.stats().appearance_described, u64::from(appearance));
        }
        assert_eq!(embeddings[0], None);
        let red = crate::perception::appearance::describe(
            &[220, 20, 20].repeat(16),
            4,
            4,
            crate::perception::appearance::PixelRect {
                x0: 0,
                y0: 0,
                x1: 4,
                y1: 4,
            },
        )
        .unwrap();
        let e = embeddings[1].clone().expect("described");
        // The mug's box (0.1 m at 2 m: about 27 px) lies inside the red square.
        assert!(crate::core::embed::cosine(&e, &red) > 0.99);
    }
}
