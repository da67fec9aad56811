//! Visualisation of a memory as it is built: Rerun (this module) and RViz markers
//! ([`markers`]); adapters that only read the memory.
//!
//! Owns: the choice of Rerun sink (`--rerun save=FILE.rrd | connect=ADDR | spawn`, or off), the
//! entity layout, and the conversion of poses, keyframes, objects, places, relations and events
//! into Rerun archetypes. Everything is logged on the `ros_time` timeline (message stamps), so
//! scrubbing shows objects appearing, moving and going missing. Off is a disabled stream: every
//! call returns before building anything.
//!
//! Entities (all in the map frame, z up):
//! - `world/robot` (transform per pose) with `world/robot/body` (a box),
//! - `world/trajectory/<chunk>` (line strips of the body path, chunks of
//!   [`TRAJECTORY_CHUNK`] points so each log stays small),
//! - `world/camera` (transform per keyframe), `world/camera/image` (pinhole + colour image) and
//!   `world/camera/depth` (pinhole + depth image in metres, shown as a point cloud), each pinhole
//!   scaled to its image's resolution,
//! - `world/objects` (boxes labelled `label #id`, coloured by state),
//! - `world/places` (points), `world/relations` (lines from subject to object, by kind),
//! - `world/changes/moved` (arrows from where an object was to where it was found, labelled
//!   `label #id`; the last [`MOVES_SHOWN`] moves, re-logged at each new one),
//! - `events` and `captions` (text logs; each event line starts with its kind, e.g.
//!   `moved: mug #12 from (..) to (..)`).

pub mod markers;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use nalgebra::Isometry3;
use rerun::{
    components::ViewCoordinates as ViewCoordinatesComponent, Arrows3D, Boxes3D, ChannelDatatype,
    Color, DepthImage, Image, LineStrips3D, Pinhole, Points3D, Quaternion, RecordingStream,
    RecordingStreamBuilder, TextLog, Transform3D, ViewCoordinates,
};

use crate::core::episodic::EventKind;
use crate::core::geometry::PinholeCamera;
use crate::core::observation::PoseUpdate;
use crate::core::scene_graph::{ObjectState, RelationKind};
use crate::core::Memory;
use crate::ros::pipeline::Keyframe;

/// Name of the timeline everything is logged on (ROS message time).
pub const TIMELINE: &str = "ros_time";

/// Points per trajectory entity.
pub const TRAJECTORY_CHUNK: usize = 256;

/// Moves drawn as arrows in `world/changes/moved` (the most recent).
pub const MOVES_SHOWN: usize = 32;

/// Smallest body motion that adds a trajectory point, m.
const TRAJECTORY_STEP_M: f64 = 0.05;

/// Where the visualisation goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RerunTarget {
    /// Nothing is logged (a disabled stream).
    Off,
    /// Written to an `.rrd` file.
    Save(PathBuf),
    /// Streamed to a running viewer at this gRPC URL (`rerun+http://HOST:PORT/proxy`).
    Connect(String),
    /// A viewer is started (`rerun` on `PATH`) and streamed to.
    Spawn,
}

impl RerunTarget {
    /// The recording path for a source (a bag): `rerun-recordings/<stem>.rrd`.
    pub fn default_save_path(source: &Path) -> PathBuf {
        let stem = source
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .unwrap_or("mnemo");
        Path::new("rerun-recordings").join(format!("{stem}.rrd"))
    }
}

impl std::fmt::Display for RerunTarget {
    /// The `--rerun` argument that selects this target (`off`, `save=FILE`, `connect=URL`,
    /// `spawn`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => write!(f, "off"),
            Self::Save(p) => write!(f, "save={}", p.display()),
            Self::Connect(url) => write!(f, "connect={url}"),
            Self::Spawn => write!(f, "spawn"),
        }
    }
}

impl FromStr for RerunTarget {
    type Err = VizError;

    /// Parses a target as [`RerunTarget::parse_with_default`] does, with a bare `save` writing
    /// `rerun-recordings/mnemo.rrd`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with_default(s, &Self::default_save_path(Path::new("mnemo")))
    }
}

impl RerunTarget {
    /// Parses `off`, `save` (to `default_save`), `save=FILE.rrd`, `connect` (the default viewer
    /// address), `connect=HOST:PORT` or `connect=rerun+http://...`, and `spawn`.
    ///
    /// # Errors
    /// [`VizError::BadTarget`] naming what was expected.
    pub fn parse_with_default(s: &str, default_save: &Path) -> Result<Self, VizError> {
        let (verb, arg) = match s.split_once('=') {
            Some((v, a)) => (v, Some(a)),
            None => (s, None),
        };
        let bad = || {
            VizError::BadTarget(format!(
                "{s:?}: expected save[=FILE.rrd], connect[=HOST:PORT|URL], spawn or off"
            ))
        };
        match (verb, arg) {
            ("off", None) => Ok(Self::Off),
            ("spawn", None) => Ok(Self::Spawn),
            ("save", None) => Ok(Self::Save(default_save.to_path_buf())),
            ("save", Some(f)) if !f.is_empty() => Ok(Self::Save(PathBuf::from(f))),
            ("connect", None) => Ok(Self::Connect(
                "rerun+http://127.0.0.1:9876/proxy".to_string(),
            )),
            ("connect", Some(a)) if !a.is_empty() => Ok(Self::Connect(if a.contains("://") {
                a.to_string()
            } else {
                format!("rerun+http://{a}/proxy")
            })),
            _ => Err(bad()),
        }
    }
}

/// Visualisation errors.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// The `--rerun` argument could not be parsed.
    #[error("--rerun {0}")]
    BadTarget(String),
    /// The sink could not be opened (file not writable, viewer not startable).
    #[error("rerun: {0}")]
    Sink(String),
}

/// Logs a memory into Rerun as it is built.
pub struct RerunViz {
    rec: RecordingStream,
    target: RerunTarget,
    /// Trajectory points of the current chunk.
    trajectory: Vec<[f32; 3]>,
    /// Index of the current trajectory chunk.
    chunk: usize,
    /// Next event id to log.
    next_event: u64,
    /// The most recent moves (from, to, `label #id`), oldest first, at most [`MOVES_SHOWN`].
    moves: std::collections::VecDeque<([f32; 3], [f32; 3], String)>,
}

impl std::fmt::Debug for RerunViz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RerunViz")
            .field("target", &self.target)
            .field("enabled", &self.rec.is_enabled())
            .finish()
    }
}

fn f32x3(v: impl IntoIterator<Item = f64>) -> [f32; 3] {
    let mut out = [0.0f32; 3];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x as f32;
    }
    out
}

fn transform(iso: &Isometry3<f64>) -> Transform3D {
    let t = iso.translation.vector;
    let q = iso.rotation.coords; // x, y, z, w
    Transform3D::from_translation_rotation(
        f32x3(t.iter().copied()),
        Quaternion::from_xyzw([q.x as f32, q.y as f32, q.z as f32, q.w as f32]),
    )
}

/// The camera's pinhole scaled to an image of `width_px` x `height_px` taken with it (a
/// downsampled depth image, a smaller colour image), in the optical frame (x right, y down,
/// z forward).
fn pinhole(cam: &PinholeCamera, width_px: u32, height_px: u32) -> Pinhole {
    let sx = f64::from(width_px) / f64::from(cam.width_px.max(1));
    let sy = f64::from(height_px) / f64::from(cam.height_px.max(1));
    Pinhole::from_focal_length_and_resolution(
        [(cam.fx_px * sx) as f32, (cam.fy_px * sy) as f32],
        [width_px as f32, height_px as f32],
    )
    .with_principal_point([(cam.cx_px * sx) as f32, (cam.cy_px * sy) as f32])
    .with_camera_xyz(ViewCoordinatesComponent::RDF)
    .with_image_plane_distance(0.4)
}

/// Colour of an object state in every view (Rerun, RViz): present green, moved orange,
/// missing red.
pub fn state_rgb(state: ObjectState) -> [u8; 3] {
    match state {
        ObjectState::Present => [60, 200, 90],
        ObjectState::Moved => [255, 160, 30],
        ObjectState::Missing => [230, 50, 50],
    }
}

/// Box colour of an object state in Rerun (see [`state_rgb`]).
pub fn state_color(state: ObjectState) -> Color {
    let [r, g, b] = state_rgb(state);
    Color::from_rgb(r, g, b)
}

/// Colour of a relation line in every view: blue `on`, purple `in`, grey `near`.
pub fn relation_rgb(kind: RelationKind) -> [u8; 3] {
    match kind {
        RelationKind::On => [90, 160, 255],
        RelationKind::In => [200, 110, 255],
        RelationKind::Near => [180, 180, 180],
    }
}

fn relation_color(kind: RelationKind) -> Color {
    let [r, g, b] = relation_rgb(kind);
    // Near relations are many: fainter.
    let a = if kind == RelationKind::Near { 120 } else { 255 };
    Color::from_unmultiplied_rgba(r, g, b, a)
}

impl RerunViz {
    /// Opens the sink. `recording` names the recording in the viewer (e.g. the bag's name).
    ///
    /// # Errors
    /// [`VizError::Sink`] when the file cannot be created or the viewer cannot be started.
    pub fn new(target: RerunTarget, recording: &str) -> Result<Self, VizError> {
        let builder = || {
            // Asked for explicitly, so the `RERUN` environment variable does not turn it off.
            RecordingStreamBuilder::new("mnemo")
                .enabled(true)
                .recording_name(recording)
                .send_properties(true)
        };
        let sink = |e: rerun::RecordingStreamError| VizError::Sink(e.to_string());
        let rec = match &target {
            RerunTarget::Off => RecordingStream::disabled(),
            RerunTarget::Save(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        VizError::Sink(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                builder().save(path).map_err(sink)?
            }
            RerunTarget::Connect(url) => builder().connect_grpc_opts(url.clone()).map_err(sink)?,
            RerunTarget::Spawn => builder().spawn().map_err(sink)?,
        };
        let viz = Self {
            rec,
            target,
            trajectory: Vec::new(),
            chunk: 0,
            next_event: 0,
            moves: std::collections::VecDeque::new(),
        };
        if viz.is_enabled() {
            viz.log_static();
        }
        Ok(viz)
    }

    /// A visualiser that logs nothing.
    pub fn disabled() -> Self {
        Self {
            rec: RecordingStream::disabled(),
            target: RerunTarget::Off,
            trajectory: Vec::new(),
            chunk: 0,
            next_event: 0,
            moves: std::collections::VecDeque::new(),
        }
    }

    /// Whether anything is logged.
    pub fn is_enabled(&self) -> bool {
        self.rec.is_enabled()
    }

    /// Where the visualisation goes.
    pub fn target(&self) -> &RerunTarget {
        &self.target
    }

    /// Logging errors are reported by the Rerun SDK's own log and never stop ingest: a viewer
    /// that goes away must not stop the memory.
    fn log<AS: ?Sized + rerun::AsComponents>(&self, path: &str, what: &AS) {
        let _ = self.rec.log(path, what);
    }

    fn log_static(&self) {
        let _ = self
            .rec
            .log_static("world", &ViewCoordinates::RIGHT_HAND_Z_UP());
        let _ = self.rec.log_static(
            "world/robot/body",
            &Boxes3D::from_centers_and_half_sizes([[0.0, 0.0, 0.15]], [[0.25, 0.2, 0.15]])
                .with_colors([Color::from_rgb(120, 120, 140)]),
        );
    }

    fn set_time(&self, stamp_ns: i64) {
        self.rec.set_timestamp_nanos_since_epoch(TIMELINE, stamp_ns);
    }

    /// Logs a body pose: the robot transform and, every `TRAJECTORY_STEP_M`, a trajectory
    /// point.
    pub fn pose(&mut self, pose: &PoseUpdate) {
        if !self.is_enabled() {
            return;
        }
        self.set_time(pose.stamp_ns);
        self.log("world/robot", &transform(&pose.world_from_body));
        let p = f32x3(pose.world_from_body.translation.vector.iter().copied());
        let far_enough = self.trajectory.last().is_none_or(|q| {
            let d: f32 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            f64::from(d).sqrt() >= TRAJECTORY_STEP_M
        });
        if !far_enough {
            return;
        }
        self.trajectory.push(p);
        self.log(
            &format!("world/trajectory/{}", self.chunk),
            &LineStrips3D::new([self.trajectory.clone()])
                .with_colors([Color::from_rgb(255, 220, 0)])
                .with_radii([0.015]),
        );
        if self.trajectory.len() >= TRAJECTORY_CHUNK {
            // The next chunk starts where this one ends, so the line stays connected.
            self.trajectory = vec![p];
            self.chunk += 1;
        }
    }

    /// Logs a keyframe (camera pose, intrinsics, colour image) and then the memory as it stands
    /// after ingesting it (objects, places, relations, new events and captions).
    pub fn keyframe(&mut self, keyframe: &Keyframe, memory: &Memory) {
        if !self.is_enabled() {
            return;
        }
        let obs = &keyframe.observation;
        self.set_time(obs.stamp_ns);
        self.log("world/camera", &transform(&obs.world_from_camera));
        let cam = &obs.camera;
        match &keyframe.color {
            Some(c) => {
                self.log("world/camera/image", &pinhole(cam, c.width_px, c.height_px));
                self.log(
                    "world/camera/image",
                    &Image::from_rgb24(c.rgb.clone(), [c.width_px, c.height_px]),
                );
            }
            None => self.log(
                "world/camera/image",
                &pinhole(cam, cam.width_px, cam.height_px),
            ),
        }
        if let Some(d) = obs
            .depth
            .as_ref()
            .filter(|d| d.depth_m.len() == d.width_px as usize * d.height_px as usize)
        {
            let bytes: Vec<u8> = d.depth_m.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.log("world/camera/depth", &pinhole(cam, d.width_px, d.height_px));
            self.log(
                "world/camera/depth",
                &DepthImage::from_data_type_and_bytes(
                    bytes,
                    [d.width_px, d.height_px],
                    ChannelDatatype::F32,
                )
                .with_meter(1.0),
            );
        }
        self.memory(memory);
    }

    /// Logs the memory's objects, places and relations, and the events appended since the last
    /// call, at the current time.
    pub fn memory(&mut self, memory: &Memory) {
        if !self.is_enabled() {
            return;
        }
        let objects: Vec<_> = memory
            .objects()
            .iter()
            .filter(|o| o.is_reportable())
            .collect();
        self.log(
            "world/objects",
            &Boxes3D::from_centers_and_half_sizes(
                objects
                    .iter()
                    .map(|o| f32x3(o.position_world.coords.iter().copied())),
                objects
                    .iter()
                    .map(|o| f32x3(o.extent_m.iter().map(|e| (e / 2.0).max(0.005)))),
            )
            .with_colors(objects.iter().map(|o| state_color(o.state)))
            .with_labels(objects.iter().map(|o| format!("{} #{}", o.label, o.id.0))),
        );
        let places = memory.places();
        self.log(
            "world/places",
            &Points3D::new(
                places
                    .iter()
                    .map(|p| f32x3(p.center_world.coords.iter().copied())),
            )
            .with_radii([0.12])
            .with_colors([Color::from_rgb(80, 140, 255)])
            .with_labels(places.iter().map(|p| format!("place {}", p.id.0))),
        );
        let mut strips = Vec::new();
        let mut colors = Vec::new();
        let mut labels = Vec::new();
        for r in memory.relations() {
            let (Some(a), Some(b)) = (memory.object(r.subject), memory.object(r.object)) else {
                continue;
            };
            strips.push([
                f32x3(a.position_world.coords.iter().copied()),
                f32x3(b.position_world.coords.iter().copied()),
            ]);
            colors.push(relation_color(r.kind));
            labels.push(format!("{} {} {}", a.label, r.kind.as_str(), b.label));
        }
        self.log(
            "world/relations",
            &LineStrips3D::new(strips)
                .with_colors(colors)
                .with_labels(labels)
                .with_show_labels(false)
                .with_radii([0.004]),
        );
        self.events(memory);
    }

    fn events(&mut self, memory: &Memory) {
        let log = memory.log();
        let events = log.events();
        let start = events.partition_point(|e| e.id.0 < self.next_event);
        let mut moved = false;
        for e in &events[start..] {
            let label = e
                .object
                .and_then(|id| memory.object(id))
                .map(|o| format!("{} #{}", o.label, o.id.0))
                .unwrap_or_default();
            let at = |p: &[f32; 3]| format!("({:.2}, {:.2}, {:.2})", p[0], p[1], p[2]);
            let (path, level, text) = match e.kind {
                EventKind::Caption => {
                    let text = e
                        .caption
                        .and_then(|c| log.caption(c))
                        .map(|c| c.text.clone())
                        .unwrap_or_default();
                    ("captions", "INFO", text)
                }
                EventKind::Moved => {
                    if let Some(from) = e.from_world {
                        if self.moves.len() == MOVES_SHOWN {
                            self.moves.pop_front();
                        }
                        self.moves
                            .push_back((from, e.position_world, label.clone()));
                        moved = true;
                    }
                    (
                        "events",
                        "WARN",
                        format!(
                            "moved: {label} from {} to {}",
                            e.from_world.as_ref().map(at).unwrap_or_default(),
                            at(&e.position_world)
                        ),
                    )
                }
                EventKind::Missing => (
                    "events",
                    "WARN",
                    format!("missing: {label} last seen at {}", at(&e.position_world)),
                ),
                EventKind::PlaceEntered => (
                    "events",
                    "DEBUG",
                    format!(
                        "place_entered: place {}",
                        e.place.map(|p| p.0.to_string()).unwrap_or_default()
                    ),
                ),
                kind => (
                    "events",
                    "INFO",
                    format!("{}: {label} at {}", kind.as_str(), at(&e.position_world)),
                ),
            };
            self.log(path, &TextLog::new(text).with_level(level));
        }
        self.next_event = log.next_id();
        if moved {
            self.log(
                "world/changes/moved",
                &Arrows3D::from_vectors(
                    self.moves
                        .iter()
                        .map(|(f, t, _)| [t[0] - f[0], t[1] - f[1], t[2] - f[2]]),
                )
                .with_origins(self.moves.iter().map(|(f, _, _)| *f))
                .with_labels(self.moves.iter().map(|(_, _, l)| l.clone()))
                .with_colors([state_color(ObjectState::Moved)]),
            );
        }
    }

    /// Flushes everything logged so far to the sink (waits at most `timeout`).
    ///
    /// # Errors
    /// [`VizError::Sink`] when the sink could not take the data (viewer gone, disk full).
    pub fn flush(&self, timeout: std::time::Duration) -> Result<(), VizError> {
        if !self.is_enabled() {
            return Ok(());
        }
        self.rec
            .flush_with_timeout(timeout)
            .map_err(|e| VizError::Sink(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!("off".parse::<RerunTarget>().unwrap(), RerunTarget::Off);
        assert_eq!("spawn".parse::<RerunTarget>().unwrap(), RerunTarget::Spawn);
        assert_eq!(
            "save=a/b.rrd".parse::<RerunTarget>().unwrap(),
            RerunTarget::Save("a/b.rrd".into())
        );
        assert_eq!(
            "save".parse::<RerunTarget>().unwrap(),
            RerunTarget::Save("rerun-recordings/mnemo.rrd".into())
        );
        assert_eq!(
            RerunTarget::parse_with_default("save", Path::new("x/y.rrd")).unwrap(),
            RerunTarget::Save("x/y.rrd".into())
        );
        assert_eq!(
            "connect=10.0.0.2:9876".parse::<RerunTarget>().unwrap(),
            RerunTarget::Connect("rerun+http://10.0.0.2:9876/proxy".into())
        );
        assert_eq!(
            "connect=rerun+https://viewer:443/proxy"
                .parse::<RerunTarget>()
                .unwrap(),
            RerunTarget::Connect("rerun+https://viewer:443/proxy".into())
        );
        for bad in ["", "save=", "connect=", "spawn=x", "rrd", "off=1"] {
            let e = bad.parse::<RerunTarget>().unwrap_err().to_string();
            assert!(e.contains("expected save"), "{bad}: {e}");
        }
        // Display gives back an argument that parses to the same target.
        for t in [
            "off",
            "spawn",
            "save=a/b.rrd",
            "connect=rerun+http://h:1/proxy",
        ] {
            let target = t.parse::<RerunTarget>().unwrap();
            assert_eq!(target.to_string(), t);
            assert_eq!(target.to_string().parse::<RerunTarget>().unwrap(), target);
        }
        assert_eq!(
            RerunTarget::default_save_path(Path::new("/bags/kitchen_run.mcap")),
            Path::new("rerun-recordings/kitchen_run.rrd")
        );
    }

    #[test]
    fn off_is_a_disabled_stream() {
        let v = RerunViz::new(RerunTarget::Off, "t").unwrap();
        assert!(!v.is_enabled());
        assert!(v.flush(std::time::Duration::from_millis(10)).is_ok());
    }
}
