//! The standard ROS 2 messages Mnemo reads, as serde types in the field order of their `.msg`
//! definitions (ROS 2 Humble/Jazzy; vision_msgs 4.x), and their CDR encoding.
//!
//! Owns: the message layouts and `decode` / `encode` of serialized payloads (the 4-byte CDR
//! encapsulation header followed by plain CDR, through the `cdr-encoding` crate that RustDDS
//! uses). It does not interpret messages (frames, units, time sync): that is
//! [`super::pipeline`]. Field names follow the `.msg` files so a reader can check them side by
//! side.

use byteorder::{BigEndian, LittleEndian};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MsgError {
    /// Shorter than the encapsulation header.
    #[error("payload of {len} bytes has no CDR encapsulation header")]
    TooShort {
        /// Payload length, bytes.
        len: usize,
    },
    /// An encapsulation this decoder does not read (e.g. parameter-list CDR).
    #[error("unsupported CDR encapsulation {0:#06x}")]
    Encapsulation(u16),
    /// The bytes do not hold the message (truncated, wrong type, bad lengths).
    #[error("CDR decoding of {type_name} failed: {reason}")]
    Cdr {
        /// ROS type name expected.
        type_name: &'static str,
        /// Decoder message.
        reason: String,
    },
}

/// A message type with its ROS 2 name.
pub trait RosMessage: Serialize + DeserializeOwned {
    /// Full type name as rosbag2 and DDS discovery spell it, e.g. `sensor_msgs/msg/Image`.
    const TYPE_NAME: &'static str;
}

/// Decodes a serialized ROS 2 message (CDR, little or big endian).
///
/// # Errors
/// [`MsgError`] for a short payload, an unsupported encapsulation or bytes that do not decode.
pub fn decode<T: RosMessage>(payload: &[u8]) -> Result<T, MsgError> {
    if payload.len() < 4 {
        return Err(MsgError::TooShort { len: payload.len() });
    }
    let kind = u16::from_be_bytes([payload[0], payload[1]]);
    let body = &payload[4..];
    let out = match kind {
        0x0001 => cdr_encoding::from_bytes::<T, LittleEndian>(body),
        0x0000 => cdr_encoding::from_bytes::<T, BigEndian>(body),
        other => return Err(MsgError::Encapsulation(other)),
    };
    out.map(|(m, _)| m).map_err(|e| MsgError::Cdr {
        type_name: T::TYPE_NAME,
        reason: e.to_string(),
    })
}

/// Serializes a message as little-endian CDR with its encapsulation header.
///
/// # Errors
/// [`MsgError::Cdr`] if the encoder refuses a value (it does not for these types).
pub fn encode<T: RosMessage>(msg: &T) -> Result<Vec<u8>, MsgError> {
    let mut out = vec![0x00, 0x01, 0x00, 0x00];
    let body = cdr_encoding::to_vec::<T, LittleEndian>(msg).map_err(|e| MsgError::Cdr {
        type_name: T::TYPE_NAME,
        reason: e.to_string(),
    })?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// A fixed-size `float64[N]` field (serde's own arrays stop at 32 elements).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct F64Array<const N: usize>(pub [f64; N]);

impl<const N: usize> Default for F64Array<N> {
    fn default() -> Self {
        Self([0.0; N])
    }
}

impl<const N: usize> Serialize for F64Array<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(N)?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl<'de, const N: usize> Deserialize<'de> for F64Array<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<const N: usize>;
        impl<'de, const N: usize> serde::de::Visitor<'de> for Visit<N> {
            type Value = F64Array<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{N} float64 values")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = [0.0; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(F64Array(out))
            }
        }
        d.deserialize_tuple(N, Visit::<N>)
    }
}

/// `builtin_interfaces/msg/Time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds.
    pub sec: i32,
    /// Nanoseconds within the second.
    pub nanosec: u32,
}

impl Time {
    /// Nanoseconds since the epoch of the clock.
    pub fn to_ns(self) -> i64 {
        i64::from(self.sec) * 1_000_000_000 + i64::from(self.nanosec)
    }

    /// From nanoseconds (floor division, so `nanosec` stays in `0..1e9`).
    pub fn from_ns(ns: i64) -> Self {
        let sec = ns.div_euclid(1_000_000_000);
        Self {
            sec: sec.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            nanosec: ns.rem_euclid(1_000_000_000) as u32,
        }
    }
}

/// `std_msgs/msg/Header`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Acquisition time.
    pub stamp: Time,
    /// Frame the data is expressed in.
    pub frame_id: String,
}

/// `geometry_msgs/msg/Vector3`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Vector3 {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// z.
    pub z: f64,
}

/// `geometry_msgs/msg/Point` (the same layout as `Vector3`, a different ROS type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// z.
    pub z: f64,
}

/// `geometry_msgs/msg/Quaternion`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// z.
    pub z: f64,
    /// w.
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Self {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 1.0,
        }
    }
}

/// `geometry_msgs/msg/Pose`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Position.
    pub position: Point,
    /// Orientation.
    pub orientation: Quaternion,
}

/// `geometry_msgs/msg/PoseWithCovariance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoseWithCovariance {
    /// Pose.
    pub pose: Pose,
    /// Row-major 6x6 covariance.
    pub covariance: F64Array<36>,
}

/// `geometry_msgs/msg/Twist`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Twist {
    /// Linear velocity.
    pub linear: Vector3,
    /// Angular velocity.
    pub angular: Vector3,
}

/// `geometry_msgs/msg/TwistWithCovariance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwistWithCovariance {
    /// Twist.
    pub twist: Twist,
    /// Row-major 6x6 covariance.
    pub covariance: F64Array<36>,
}

/// `geometry_msgs/msg/Transform`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// Translation.
    pub translation: Vector3,
    /// Rotation.
    pub rotation: Quaternion,
}

/// `geometry_msgs/msg/TransformStamped`: `header.frame_id` is the parent, `child_frame_id`
/// the child; the transform maps child coordinates into the parent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransformStamped {
    /// Stamp and parent frame.
    pub header: Header,
    /// Child frame.
    pub child_frame_id: String,
    /// parent_from_child.
    pub transform: Transform,
}

impl RosMessage for TransformStamped {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/TransformStamped";
}

/// `tf2_msgs/msg/TFMessage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TfMessage {
    /// Transforms.
    pub transforms: Vec<TransformStamped>,
}

impl RosMessage for TfMessage {
    const TYPE_NAME: &'static str = "tf2_msgs/msg/TFMessage";
}

/// `geometry_msgs/msg/PoseStamped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoseStamped {
    /// Stamp and frame.
    pub header: Header,
    /// Pose in `header.frame_id`.
    pub pose: Pose,
}

impl RosMessage for PoseStamped {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/PoseStamped";
}

/// `nav_msgs/msg/Odometry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Odometry {
    /// Stamp and the frame of `pose` (usually `odom`).
    pub header: Header,
    /// The body frame (usually `base_link`).
    pub child_frame_id: String,
    /// Pose of the child in `header.frame_id`.
    pub pose: PoseWithCovariance,
    /// Velocity in the child frame.
    pub twist: TwistWithCovariance,
}

impl RosMessage for Odometry {
    const TYPE_NAME: &'static str = "nav_msgs/msg/Odometry";
}

/// `sensor_msgs/msg/Image`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Stamp and optical frame.
    pub header: Header,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Pixel encoding (`rgb8`, `bgr8`, `mono8`, `16UC1`, `32FC1`, ...).
    pub encoding: String,
    /// Whether multi-byte pixels are big endian.
    pub is_bigendian: u8,
    /// Bytes per row.
    pub step: u32,
    /// Pixels.
    pub data: Vec<u8>,
}

impl RosMessage for Image {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";
}

/// `sensor_msgs/msg/CompressedImage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompressedImage {
    /// Stamp and optical frame.
    pub header: Header,
    /// `jpeg` or `png` (possibly with a prefix such as `rgb8; jpeg compressed bgr8`).
    pub format: String,
    /// Compressed bytes.
    pub data: Vec<u8>,
}

impl RosMessage for CompressedImage {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/CompressedImage";
}

/// `sensor_msgs/msg/RegionOfInterest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionOfInterest {
    /// Left column.
    pub x_offset: u32,
    /// Top row.
    pub y_offset: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Whether to rectify.
    pub do_rectify: bool,
}

/// `sensor_msgs/msg/CameraInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraInfo {
    /// Stamp and optical frame.
    pub header: Header,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// `plumb_bob`, `rational_polynomial`, ...
    pub distortion_model: String,
    /// Distortion coefficients.
    pub d: Vec<f64>,
    /// Intrinsics, row-major 3x3.
    pub k: F64Array<9>,
    /// Rectification, row-major 3x3.
    pub r: F64Array<9>,
    /// Projection, row-major 3x4.
    pub p: F64Array<12>,
    /// Horizontal binning.
    pub binning_x: u32,
    /// Vertical binning.
    pub binning_y: u32,
    /// Region of interest.
    pub roi: RegionOfInterest,
}

impl RosMessage for CameraInfo {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/CameraInfo";
}

/// `vision_msgs/msg/ObjectHypothesis`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectHypothesis {
    /// Class (Mnemo reads it as the label).
    pub class_id: String,
    /// Confidence.
    pub score: f64,
}

/// `vision_msgs/msg/ObjectHypothesisWithPose`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectHypothesisWithPose {
    /// Class and score.
    pub hypothesis: ObjectHypothesis,
    /// Pose of this hypothesis.
    pub pose: PoseWithCovariance,
}

/// `vision_msgs/msg/BoundingBox3D`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox3D {
    /// Centre and orientation in the header frame.
    pub center: Pose,
    /// Full size along the box axes, m.
    pub size: Vector3,
}

/// `vision_msgs/msg/Detection3D`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection3D {
    /// Stamp and frame.
    pub header: Header,
    /// Class hypotheses.
    pub results: Vec<ObjectHypothesisWithPose>,
    /// Box in the header frame.
    pub bbox: BoundingBox3D,
    /// Tracking id (unused).
    pub id: String,
}

/// `vision_msgs/msg/Detection3DArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection3DArray {
    /// Stamp and frame of the detections.
    pub header: Header,
    /// Detections.
    pub detections: Vec<Detection3D>,
}

impl RosMessage for Detection3DArray {
    const TYPE_NAME: &'static str = "vision_msgs/msg/Detection3DArray";
}

/// `vision_msgs/msg/Point2D`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Point2D {
    /// Column, px.
    pub x: f64,
    /// Row, px.
    pub y: f64,
}

/// `vision_msgs/msg/Pose2D`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose2D {
    /// Centre, px.
    pub position: Point2D,
    /// Rotation, rad.
    pub theta: f64,
}

/// `vision_msgs/msg/BoundingBox2D`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox2D {
    /// Centre.
    pub center: Pose2D,
    /// Width, px.
    pub size_x: f64,
    /// Height, px.
    pub size_y: f64,
}

/// `vision_msgs/msg/Detection2D`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection2D {
    /// Stamp and frame.
    pub header: Header,
    /// Class hypotheses.
    pub results: Vec<ObjectHypothesisWithPose>,
    /// Box in image pixels.
    pub bbox: BoundingBox2D,
    /// Tracking id (unused).
    pub id: String,
}

/// `vision_msgs/msg/Detection2DArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection2DArray {
    /// Stamp and frame of the detections.
    pub header: Header,
    /// Detections.
    pub detections: Vec<Detection2D>,
}

impl RosMessage for Detection2DArray {
    const TYPE_NAME: &'static str = "vision_msgs/msg/Detection2DArray";
}

/// `rosgraph_msgs/msg/Clock`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    /// Current time.
    pub clock: Time,
}

impl RosMessage for Clock {
    const TYPE_NAME: &'static str = "rosgraph_msgs/msg/Clock";
}

/// `std_msgs/msg/ColorRGBA`, components in `[0, 1]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ColorRgba {
    /// Red.
    pub r: f32,
    /// Green.
    pub g: f32,
    /// Blue.
    pub b: f32,
    /// Alpha (0 is invisible).
    pub a: f32,
}

/// `builtin_interfaces/msg/Duration`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    /// Seconds.
    pub sec: i32,
    /// Nanoseconds within the second.
    pub nanosec: u32,
}

/// `visualization_msgs/msg/UVCoordinate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UvCoordinate {
    /// u.
    pub u: f32,
    /// v.
    pub v: f32,
}

/// `visualization_msgs/msg/MeshFile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeshFile {
    /// File name (for its extension).
    pub filename: String,
    /// File contents.
    pub data: Vec<u8>,
}

/// `visualization_msgs/msg/Marker` (the same layout in Humble and Jazzy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Stamp and frame.
    pub header: Header,
    /// Namespace (with `id`, the marker's identity).
    pub ns: String,
    /// Id within the namespace.
    pub id: i32,
    /// `Marker::CUBE`, ...
    #[serde(rename = "type")]
    pub kind: i32,
    /// `Marker::ADD`, `DELETE`, `DELETEALL`.
    pub action: i32,
    /// Pose in the header frame.
    pub pose: Pose,
    /// Size, m (meaning depends on the type).
    pub scale: Vector3,
    /// Colour of the whole marker.
    pub color: ColorRgba,
    /// How long it stays (zero: forever).
    pub lifetime: Duration,
    /// Re-transform every frame.
    pub frame_locked: bool,
    /// Points of lists and strips.
    pub points: Vec<Point>,
    /// Per-point colours.
    pub colors: Vec<ColorRgba>,
    /// Texture URI.
    pub texture_resource: String,
    /// Texture image.
    pub texture: CompressedImage,
    /// Texture coordinates.
    pub uv_coordinates: Vec<UvCoordinate>,
    /// Text of `TEXT_VIEW_FACING`.
    pub text: String,
    /// Mesh URI.
    pub mesh_resource: String,
    /// Embedded mesh.
    pub mesh_file: MeshFile,
    /// Use the mesh's own materials.
    pub mesh_use_embedded_materials: bool,
}

impl Marker {
    /// A box.
    pub const CUBE: i32 = 1;
    /// A sphere.
    pub const SPHERE: i32 = 2;
    /// Pairs of points, each a segment.
    pub const LINE_LIST: i32 = 5;
    /// Spheres at `points`.
    pub const SPHERE_LIST: i32 = 7;
    /// Text facing the viewer.
    pub const TEXT_VIEW_FACING: i32 = 9;
    /// Add or replace.
    pub const ADD: i32 = 0;
    /// Delete this marker.
    pub const DELETE: i32 = 2;
    /// Delete every marker of the publisher.
    pub const DELETEALL: i32 = 3;
}

impl RosMessage for Marker {
    const TYPE_NAME: &'static str = "visualization_msgs/msg/Marker";
}

/// `visualization_msgs/msg/MarkerArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkerArray {
    /// The markers.
    pub markers: Vec<Marker>,
}

impl RosMessage for MarkerArray {
    const TYPE_NAME: &'static str = "visualization_msgs/msg/MarkerArray";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bad_payloads() {
        let msg = CameraInfo {
            header: Header {
                stamp: Time::from_ns(1_500_000_123),
                frame_id: "camera_color_optical_frame".into(),
            },
            height: 480,
            width: 640,
            distortion_model: "plumb_bob".into(),
            d: vec![0.1, 0.0, 0.0, 0.0, 0.0],
            k: F64Array([525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]),
            ..CameraInfo::default()
        };
        let bytes = encode(&msg).unwrap();
        assert_eq!(decode::<CameraInfo>(&bytes).unwrap(), msg);
        assert_eq!(msg.header.stamp.to_ns(), 1_500_000_123);
        assert!(matches!(
            decode::<CameraInfo>(&bytes[..2]),
            Err(MsgError::TooShort { .. })
        ));
        assert!(matches!(
            decode::<CameraInfo>(&bytes[..bytes.len() / 2]),
            Err(MsgError::Cdr { .. })
        ));
        let mut pl = bytes.clone();
        pl[1] = 0x03;
        assert!(matches!(
            decode::<CameraInfo>(&pl),
            Err(MsgError::Encapsulation(3))
        ));
        assert_eq!(
            Time::from_ns(-1),
            Time {
                sec: -1,
                nanosec: 999_999_999
            }
        );
    }
}
