//! rosbag2 MCAP replay: reads a bag with the `mcap` crate, decodes the configured topics and
//! drives them through [`crate::ros::pipeline::Pipeline`] — the same code path the live node
//! uses — handing each output to a caller-supplied sink (usually a memory).
//!
//! Owns: topic selection and remapping, dispatch by message type, bag-level bad-input
//! handling (corrupt or truncated files, unknown schemas, wrong encodings, undecodable
//! payloads: counted and skipped, never a panic) and the replay summary. It does not own the
//! memory or the clock: message stamps drive everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ros::msg::{self, RosMessage};
use crate::ros::params::NodeConfig;
use crate::ros::pipeline::{Input, Output, Pipeline, PipelineConfig, PipelineStats};

/// Why a bag could not be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The path cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: PathBuf,
        /// OS message.
        reason: String,
    },
    /// No MCAP file at the path (or in the rosbag2 directory).
    #[error("no .mcap file at {0}")]
    NoMcap(PathBuf),
    /// Not an MCAP file.
    #[error("{path} is not an MCAP file: {reason}")]
    NotMcap {
        /// The path.
        path: PathBuf,
        /// Reader message.
        reason: String,
    },
    /// The sink refused an output (e.g. the database failed).
    #[error("{0}")]
    Sink(String),
}

/// Topics the replay reads (the node subscribes to the same names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topics {
    /// `tf2_msgs/TFMessage`.
    pub tf: String,
    /// `tf2_msgs/TFMessage`, latched.
    pub tf_static: String,
    /// `nav_msgs/Odometry`.
    pub odom: String,
    /// `sensor_msgs/CameraInfo` of the colour camera.
    pub camera_info: String,
    /// `sensor_msgs/Image` or `sensor_msgs/CompressedImage` (jpeg/png) colour (optional).
    pub color: String,
    /// `sensor_msgs/CompressedImage` colour (optional), read like `color`, as the node does.
    pub color_compressed: String,
    /// `sensor_msgs/Image` depth aligned with colour (optional).
    pub depth: String,
    /// `vision_msgs/Detection3DArray` or `Detection2DArray`.
    pub detections: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            tf: "/tf".into(),
            tf_static: "/tf_static".into(),
            odom: "/odom".into(),
            camera_info: "/camera/color/camera_info".into(),
            color: "/camera/color/image_raw".into(),
            color_compressed: "/camera/color/image_raw/compressed".into(),
            depth: "/camera/depth/image_raw".into(),
            detections: "/detections".into(),
        }
    }
}

/// Replay settings.
#[derive(Debug, Clone, Default)]
pub struct ReplayConfig {
    /// Topics to read.
    pub topics: Topics,
    /// `(from, to)`: a bag topic `from` is read as `to`.
    pub remaps: Vec<(String, String)>,
    /// The pipeline's settings.
    pub pipeline: PipelineConfig,
}

impl ReplayConfig {
    /// What a replay takes from the node's parameters (`NodeConfig`, e.g. read from the robot's
    /// params file): the input topics and the whole pipeline (frames, camera depth range,
    /// keyframe policy, TF and sync, appearance), so that a bag is ingested as the node
    /// configured the same way would ingest it live. No remaps (the node's are in its topics).
    pub fn from_node(node: &NodeConfig) -> Self {
        let t = &node.topics;
        Self {
            topics: Topics {
                odom: t.odom.topic.clone(),
                camera_info: t.camera_info.topic.clone(),
                color: t.color.topic.clone(),
                color_compressed: t.color_compressed.topic.clone(),
                depth: t.depth.topic.clone(),
                detections: t.detections.topic.clone(),
                ..Topics::default()
            },
            remaps: Vec::new(),
            pipeline: node.pipeline.clone(),
        }
    }
}

/// What a replay read and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplaySummary {
    /// The MCAP file read.
    pub bag: String,
    /// Messages in the bag (all topics).
    pub messages: u64,
    /// Messages read per topic used (after remapping).
    pub messages_by_topic: BTreeMap<String, u64>,
    /// Messages on topics the replay does not read.
    pub skipped_other_topics: u64,
    /// Messages on a read topic with an unexpected type or encoding.
    pub skipped_wrong_type: u64,
    /// Payloads that did not decode.
    pub skipped_undecodable: u64,
    /// Whether the file ended early or a record was corrupt (what came before was used).
    pub truncated: bool,
    /// The reader's message when `truncated`.
    pub read_error: Option<String>,
    /// First to last message stamp of the bag, s.
    pub bag_duration_s: f64,
    /// Pipeline counters (keyframes, poses, TF waits and drops, ...).
    pub pipeline: PipelineStats,
}

/// Finds the MCAP file: `path` itself, or the single `.mcap` inside a rosbag2 directory.
///
/// # Errors
/// [`ReplayError::NoMcap`] / [`ReplayError::Read`].
pub fn mcap_path(path: &Path) -> Result<PathBuf, ReplayError> {
    if path.is_dir() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| ReplayError::Read {
                path: path.into(),
                reason: e.to_string(),
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "mcap"))
            .collect();
        found.sort();
        found
            .into_iter()
            .next()
            .ok_or_else(|| ReplayError::NoMcap(path.into()))
    } else if path.exists() {
        Ok(path.into())
    } else {
        Err(ReplayError::Read {
            path: path.into(),
            reason: "no such file or directory".into(),
        })
    }
}

/// Which input a topic feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Tf,
    TfStatic,
    Odom,
    CameraInfo,
    Color,
    Depth,
    Detections,
}

fn decode_input(slot: Slot, schema: &str, data: &[u8]) -> Result<Option<Input>, ()> {
    fn d<T: RosMessage>(data: &[u8]) -> Result<T, ()> {
        msg::decode::<T>(data).map_err(|_| ())
    }
    let wrong = Ok(None);
    Ok(Some(match (slot, schema) {
        (Slot::Tf, msg::TfMessage::TYPE_NAME) => Input::Tf(d(data)?),
        (Slot::TfStatic, msg::TfMessage::TYPE_NAME) => Input::TfStatic(d(data)?),
        (Slot::Odom, msg::Odometry::TYPE_NAME) => Input::Odometry(Box::new(d(data)?)),
        (Slot::CameraInfo, msg::CameraInfo::TYPE_NAME) => Input::CameraInfo(Box::new(d(data)?)),
        (Slot::Color, msg::Image::TYPE_NAME) => Input::ColorImage(d(data)?),
        (Slot::Color, msg::CompressedImage::TYPE_NAME) => Input::CompressedColorImage(d(data)?),
        (Slot::Depth, msg::Image::TYPE_NAME) => Input::DepthImage(d(data)?),
        (Slot::Detections, msg::Detection3DArray::TYPE_NAME) => Input::Detections3D(d(data)?),
        (Slot::Detections, msg::Detection2DArray::TYPE_NAME) => Input::Detections2D(d(data)?),
        _ => return wrong,
    }))
}

/// Replays the bag at `path` (an `.mcap` file or a rosbag2 directory), calling `sink` for every
/// pipeline output in order and `progress(messages_read, messages_total)` now and then
/// (`messages_total` is 0 when the bag has no summary section).
///
/// # Errors
/// [`ReplayError`] when the file cannot be read or is not MCAP at all, or the sink fails.
/// Damage inside a readable file is reported in the summary instead.
pub fn replay(
    path: &Path,
    config: &ReplayConfig,
    mut sink: impl FnMut(&Output) -> Result<(), String>,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplaySummary, ReplayError> {
    let file = mcap_path(path)?;
    let read_err = |e: std::io::Error| ReplayError::Read {
        path: file.clone(),
        reason: e.to_string(),
    };
    let opened = std::fs::File::open(&file).map_err(read_err)?;
    // SAFETY: the map is only read, and only while this function runs. A bag is a finished
    // recording; if another process truncated it meanwhile, reads past the new end would fault
    // (the documented hazard of memory maps), which is why this is kept to bag files. Mapping
    // instead of reading keeps multi-GB RGB-D bags out of the heap.
    let bytes = unsafe { memmap2::Mmap::map(&opened) }.map_err(read_err)?;
    let bytes: &[u8] = &bytes;
    if !bytes.starts_with(mcap::MAGIC) {
        return Err(ReplayError::NotMcap {
            path: file,
            reason: "missing MCAP magic".into(),
        });
    }
    let stream =
        mcap::MessageStream::new_with_options(bytes, mcap::read::Options::IgnoreEndMagic.into())
            .map_err(|e| ReplayError::NotMcap {
                path: file.clone(),
                reason: e.to_string(),
            })?;
    let t = &config.topics;
    let slots = [
        (t.tf.as_str(), Slot::Tf),
        (t.tf_static.as_str(), Slot::TfStatic),
        (t.odom.as_str(), Slot::Odom),
        (t.camera_info.as_str(), Slot::CameraInfo),
        (t.color.as_str(), Slot::Color),
        (t.color_compressed.as_str(), Slot::Color),
        (t.depth.as_str(), Slot::Depth),
        (t.detections.as_str(), Slot::Detections),
    ];
    let mut summary = ReplaySummary {
        bag: file.display().to_string(),
        ..ReplaySummary::default()
    };
    let mut pipeline = Pipeline::new(config.pipeline.clone());
    let mut out = Vec::new();
    let (mut first, mut last) = (u64::MAX, 0u64);
    // Progress counts messages; the total comes from the summary section (0 when the file has
    // none, e.g. a truncated bag).
    let total = mcap::Summary::read(bytes)
        .ok()
        .flatten()
        .and_then(|s| s.stats.map(|st| st.message_count))
        .unwrap_or(0);
    for (i, m) in stream.enumerate() {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                summary.truncated = true;
                summary.read_error = Some(e.to_string());
                break;
            }
        };
        summary.messages += 1;
        first = first.min(m.log_time);
        last = last.max(m.log_time);
        if i % 256 == 0 {
            progress(i as u64, total);
        }
        let topic = config
            .remaps
            .iter()
            .find(|(from, _)| *from == m.channel.topic)
            .map_or(m.channel.topic.as_str(), |(_, to)| to.as_str());
        let Some(slot) = slots
            .iter()
            .find(|(name, _)| *name == topic)
            .map(|(_, s)| *s)
        else {
            summary.skipped_other_topics += 1;
            continue;
        };
        let schema = m.channel.schema.as_ref().map_or("", |s| s.name.as_str());
        if m.channel.message_encoding != "cdr" {
            summary.skipped_wrong_type += 1;
            continue;
        }
        match decode_input(slot, schema, &m.data) {
            Ok(Some(input)) => {
                *summary
                    .messages_by_topic
                    .entry(topic.to_string())
                    .or_default() += 1;
                pipeline.push(input, &mut out);
            }
            Ok(None) => summary.skipped_wrong_type += 1,
            Err(()) => summary.skipped_undecodable += 1,
        }
        for o in out.drain(..) {
            sink(&o).map_err(ReplayError::Sink)?;
        }
    }
    pipeline.finish(&mut out);
    for o in out.drain(..) {
        sink(&o).map_err(ReplayError::Sink)?;
    }
    progress(summary.messages, total.max(summary.messages));
    if last >= first && first != u64::MAX {
        summary.bag_duration_s = (last - first) as f64 * 1e-9;
    }
    summary.pipeline = pipeline.stats().clone();
    Ok(summary)
}
