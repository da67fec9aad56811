//! Shared helpers: a random household-like stream (objects that sometimes move or vanish,
//! seen by a forward camera with misses and noise) and brute-force query references.

use std::collections::BTreeSet;

use mnemo::core::geometry::PinholeCamera;
use mnemo::core::{
    Detection, DetectionFrame, LexicalEmbedder, Memory, MemoryConfig, ObjectId, Observation,
    StampNs, TimeWindow,
};
use mnemo::sim::rng::Rng;
use mnemo::sim::scenario::body_from_camera;
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};

pub const T0: StampNs = 1_767_225_600_000_000_000;
/// One second and one hour, ns.
pub const S: StampNs = 1_000_000_000;
pub const HOUR: StampNs = 3600 * S;
pub const LABELS: &[&str] = &["mug", "cup", "book", "keys", "plate", "lamp"];

/// A memory with the defaults and the lexical embedder.
pub fn memory() -> Memory {
    let cfg = MemoryConfig {
        compatible_labels: vec![vec!["cup".into(), "mug".into()]],
        ..MemoryConfig::default()
    };
    Memory::new(cfg, Box::new(LexicalEmbedder::default())).unwrap()
}

/// A keyframe at `stamp` with the robot at `(x, y, yaw)` and the given detections.
pub fn keyframe(
    stamp: StampNs,
    x: f64,
    y: f64,
    yaw: f64,
    detections: Vec<Detection>,
) -> Observation {
    let world_from_body = Isometry3::from_parts(
        Translation3::new(x, y, 0.0),
        UnitQuaternion::from_euler_angles(0.0, 0.0, yaw),
    );
    Observation {
        stamp_ns: stamp,
        world_from_body,
        world_from_camera: world_from_body * body_from_camera(),
        camera: PinholeCamera::vga_default(),
        detections,
        caption: None,
        depth: None,
    }
}

/// `d` with an appearance embedding.
pub fn looking(mut d: Detection, embedding: impl Into<Vec<f32>>) -> Detection {
    d.embedding = Some(embedding.into());
    d
}

/// A world-frame detection.
pub fn det(label: &str, p: [f64; 3]) -> Detection {
    Detection {
        label: label.into(),
        score: 0.9,
        position_m: Point3::new(p[0], p[1], p[2]),
        frame: DetectionFrame::World,
        extent_m: Vector3::new(0.1, 0.1, 0.1),
        text: None,
        embedding: None,
    }
}

/// A random stream: `n_objects` objects on a 10 m x 10 m floor, `n_keyframes` keyframes from
/// random poses; each visible object is detected with probability 0.8 with 2 cm noise; every
/// 40 keyframes a few objects move or vanish. Captions every 7th keyframe.
pub fn random_stream(seed: u64, n_objects: usize, n_keyframes: usize) -> Vec<Observation> {
    let mut rng = Rng::new(seed);
    let mut objects: Vec<(String, Point3<f64>, bool)> = (0..n_objects)
        .map(|_| {
            (
                LABELS[rng.index(LABELS.len())].to_string(),
                Point3::new(
                    rng.range(0.0, 10.0),
                    rng.range(0.0, 10.0),
                    rng.range(0.4, 1.2),
                ),
                true,
            )
        })
        .collect();
    let camera = PinholeCamera::vga_default();
    let mut out = Vec::with_capacity(n_keyframes);
    let mut t = T0;
    for k in 0..n_keyframes {
        if k > 0 && k % 40 == 0 {
            for o in objects.iter_mut() {
                let roll = rng.uniform();
                if roll < 0.1 {
                    o.1 = Point3::new(
                        rng.range(0.0, 10.0),
                        rng.range(0.0, 10.0),
                        rng.range(0.4, 1.2),
                    );
                } else if roll < 0.13 {
                    o.2 = false;
                } else if roll < 0.15 {
                    o.2 = true;
                }
            }
            t += 3_600_000_000_000; // an hour between sweeps
        }
        let (x, y, yaw) = (
            rng.range(0.0, 10.0),
            rng.range(0.0, 10.0),
            rng.range(-std::f64::consts::PI, std::f64::consts::PI),
        );
        let mut obs = keyframe(t, x, y, yaw, Vec::new());
        let camera_from_world = obs.world_from_camera.inverse();
        for (label, p, present) in &objects {
            if !*present || !camera.sees(&(camera_from_world * p), 0.0) || !rng.chance(0.8) {
                continue;
            }
            let noisy = [
                p.x + 0.02 * rng.normal(),
                p.y + 0.02 * rng.normal(),
                p.z + 0.02 * rng.normal(),
            ];
            obs.detections.push(det(label, noisy));
        }
        if rng.chance(0.1) {
            let l = LABELS[rng.index(LABELS.len())];
            obs.detections
                .push(det(l, [rng.range(0.0, 10.0), rng.range(0.0, 10.0), 0.8]));
        }
        if k % 7 == 0 {
            let l = LABELS[rng.index(LABELS.len())];
            obs.caption = Some(format!("a {l} near the window at step {k}"));
        }
        out.push(obs);
        t += 1_000_000_000;
    }
    out
}

/// Brute-force `Near`: every reportable object with a placement within `r` of `p` whose
/// evidence interval overlaps `w` (open placements extend to infinity and use the current
/// position). Objects within `eps` of the boundary are returned separately (f32 rounding).
pub fn brute_near(
    m: &Memory,
    p: &Point3<f64>,
    r: f64,
    w: &TimeWindow,
    eps: f64,
) -> (BTreeSet<ObjectId>, BTreeSet<ObjectId>) {
    let mut inside = BTreeSet::new();
    let mut boundary = BTreeSet::new();
    for pl in m.placements() {
        let id = m.resolve(pl.object);
        let Some(o) = m.object(id) else { continue };
        if !o.is_reportable() {
            continue;
        }
        let (pos, start, end) = match pl.closed_at_ns {
            None => {
                if !o.state.is_present() || o.placements.last() != Some(&pl.id) {
                    continue;
                }
                (o.position_world, pl.start_ns, StampNs::MAX)
            }
            Some(_) => (pl.position_world, pl.start_ns, pl.last_seen_ns),
        };
        if !w.overlaps(start, end) {
            continue;
        }
        let d = (pos - p).norm();
        if (d - r).abs() <= eps {
            boundary.insert(id);
        } else if d < r {
            inside.insert(id);
        }
    }
    (inside, boundary)
}

/// The `mnemo` binary with `args`. ONNX Runtime comes from the venv (`bash .ci/setup`) when
/// there is one, for commands that open models.
pub fn mnemo_command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mnemo"));
    cmd.args(args);
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    if let Some(lib) = mnemo::perception::onnxruntime_in_venv(&venv) {
        cmd.env("ORT_DYLIB_PATH", lib);
    }
    cmd
}

/// Runs [`mnemo_command`], asserts it succeeded and parses its JSON output.
pub fn mnemo_json<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> serde_json::Value {
    let out = mnemo_command(args).output().unwrap();
    assert!(
        out.status.success(),
        "mnemo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
