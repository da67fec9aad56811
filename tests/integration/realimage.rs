//! A real RGB-D check (issue 6, item 8): the Middlebury 2014 "Motorcycle" stereo pair with
//! ground-truth disparity, as scikit-image ships it (`.ci/setup` extracts it). The left image
//! and a depth image made from the ground truth go through the node's pipeline with 2D
//! detections on a grid; every back-projected point must land, when projected into the *right*
//! camera, where the ground-truth disparity says (geometry), and on the same image content
//! (photometry: the right image around the predicted pixel matches the left patch much better
//! than around a shifted pixel). Both depth encodings (32FC1 m, 16UC1 mm) are tried.

use std::path::Path;
use std::process::Command;

use mnemo::core::DetectionFrame;
use mnemo::ros::msg::{
    BoundingBox2D, CameraInfo, Detection2D, Detection2DArray, F64Array, Header, Image,
    ObjectHypothesis, ObjectHypothesisWithPose, Point2D, Pose2D, Quaternion, TfMessage, Time,
    Transform, TransformStamped, Vector3,
};
use mnemo::ros::pipeline::{Input, KeyframePolicy, Output, Pipeline, PipelineConfig};

struct Stereo {
    w: usize,
    h: usize,
    f: f64,
    cx: f64,
    cy: f64,
    doffs: f64,
    baseline_m: f64,
    disp: Vec<f32>,
    left: image::RgbImage,
    right: image::RgbImage,
}

fn load() -> Stereo {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("tests/data/skimage");
    assert!(
        data.join("motorcycle_disp.npz").exists(),
        "{} is missing (run bash .ci/setup)",
        data.display()
    );
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/interop/middlebury.py"))
        .arg(&data)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("meta.json")).unwrap()).unwrap();
    let bytes = std::fs::read(out.path().join("disp.f32")).unwrap();
    let disp: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let g = |k: &str| meta[k].as_f64().unwrap();
    let s = Stereo {
        w: meta["width"].as_u64().unwrap() as usize,
        h: meta["height"].as_u64().unwrap() as usize,
        f: g("f_px"),
        cx: g("cx_px"),
        cy: g("cy_px"),
        doffs: g("doffs_px"),
        baseline_m: g("baseline_m"),
        disp,
        left: image::open(data.join("motorcycle_left.png"))
            .unwrap()
            .to_rgb8(),
        right: image::open(data.join("motorcycle_right.png"))
            .unwrap()
            .to_rgb8(),
    };
    assert_eq!(s.disp.len(), s.w * s.h);
    assert_eq!(s.left.dimensions(), (s.w as u32, s.h as u32));
    s
}

impl Stereo {
    fn d(&self, x: usize, y: usize) -> f32 {
        self.disp[y * self.w + x]
    }

    fn depth_m(&self, d: f32) -> f64 {
        self.f * self.baseline_m / (f64::from(d) + self.doffs)
    }

    /// Ground-truth disparity at (x, y) when the 5x5 neighbourhood is known and smooth.
    fn smooth_d(&self, x: usize, y: usize) -> Option<f32> {
        let mut v = Vec::new();
        for yy in y.checked_sub(2)?..=(y + 2).min(self.h - 1) {
            for xx in x.checked_sub(2)?..=(x + 2).min(self.w - 1) {
                v.push(self.d(xx, yy));
            }
        }
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        (v.iter().all(|x| x.is_finite()) && hi - lo < 0.5).then(|| self.d(x, y))
    }

    fn gray(img: &image::RgbImage, x: i64, y: i64) -> Option<f64> {
        if x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
            return None;
        }
        let p = img.get_pixel(x as u32, y as u32);
        Some((f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2])) / 3.0)
    }

    /// Mean absolute difference between the left 7x7 patch at (u, v) and the right one at
    /// (xr, v).
    fn sad(&self, u: f64, v: f64, xr: f64) -> Option<f64> {
        let mut sum = 0.0;
        for dy in -3i64..=3 {
            for dx in -3i64..=3 {
                let l = Self::gray(&self.left, u.round() as i64 + dx, v.round() as i64 + dy)?;
                let r = Self::gray(&self.right, xr.round() as i64 + dx, v.round() as i64 + dy)?;
                sum += (l - r).abs();
            }
        }
        Some(sum / 49.0)
    }
}

fn header(ns: i64, frame: &str) -> Header {
    Header {
        stamp: Time::from_ns(ns),
        frame_id: frame.into(),
    }
}

fn identity(ns: i64, parent: &str, child: &str) -> TransformStamped {
    TransformStamped {
        header: header(ns, parent),
        child_frame_id: child.into(),
        transform: Transform {
            translation: Vector3::default(),
            rotation: Quaternion::default(),
        },
    }
}

fn depth_image(s: &Stereo, ns: i64, encoding: &str) -> Image {
    let mut data = Vec::with_capacity(s.w * s.h * 4);
    for &d in &s.disp {
        let z = if d.is_finite() { s.depth_m(d) } else { 0.0 };
        match encoding {
            "32FC1" => {
                let v = if d.is_finite() { z as f32 } else { f32::NAN };
                data.extend_from_slice(&v.to_le_bytes());
            }
            _ => data.extend_from_slice(&((z * 1000.0).round() as u16).to_le_bytes()),
        }
    }
    let bytes_per_px = if encoding == "32FC1" { 4 } else { 2 };
    Image {
        header: header(ns, "cam"),
        height: s.h as u32,
        width: s.w as u32,
        encoding: encoding.into(),
        is_bigendian: 0,
        step: (s.w * bytes_per_px) as u32,
        data,
    }
}

/// Runs the pipeline on the left image + depth + a grid of 9x9 px boxes; returns
/// (u, v, camera-frame point) per detection.
fn back_project(s: &Stereo, encoding: &str) -> Vec<(f64, f64, nalgebra::Point3<f64>)> {
    let ns = 1_000_000_000;
    let mut p = Pipeline::new(PipelineConfig {
        min_depth_m: 0.3,
        max_depth_m: 20.0,
        keyframe: KeyframePolicy {
            max_interval_s: 0.0,
            ..KeyframePolicy::default()
        },
        ..PipelineConfig::default()
    });
    let mut out = Vec::new();
    p.push(
        Input::TfStatic(TfMessage {
            transforms: vec![identity(0, "map", "odom"), identity(0, "base_link", "cam")],
        }),
        &mut out,
    );
    p.push(
        Input::Tf(TfMessage {
            transforms: vec![identity(ns, "odom", "base_link")],
        }),
        &mut out,
    );
    p.push(
        Input::CameraInfo(Box::new(CameraInfo {
            header: header(ns, "cam"),
            height: s.h as u32,
            width: s.w as u32,
            k: F64Array([s.f, 0.0, s.cx, 0.0, s.f, s.cy, 0.0, 0.0, 1.0]),
            ..CameraInfo::default()
        })),
        &mut out,
    );
    p.push(Input::DepthImage(depth_image(s, ns, encoding)), &mut out);
    p.push(
        Input::ColorImage(Image {
            header: header(ns, "cam"),
            height: s.h as u32,
            width: s.w as u32,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: (s.w * 3) as u32,
            data: s.left.as_raw().clone(),
        }),
        &mut out,
    );
    let mut detections = Vec::new();
    for gy in 0..14 {
        for gx in 0..21 {
            let (u, v) = (30.0 + 34.0 * f64::from(gx), 30.0 + 34.0 * f64::from(gy));
            detections.push(Detection2D {
                header: header(ns, "cam"),
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: format!("{u} {v}"),
                        score: 0.9,
                    },
                    ..ObjectHypothesisWithPose::default()
                }],
                bbox: BoundingBox2D {
                    center: Pose2D {
                        position: Point2D { x: u, y: v },
                        theta: 0.0,
                    },
                    size_x: 9.0,
                    size_y: 9.0,
                },
                id: String::new(),
            });
        }
    }
    p.push(
        Input::Detections2D(Detection2DArray {
            header: header(ns, "cam"),
            detections,
        }),
        &mut out,
    );
    let [Output::Keyframe(k)] = out.as_slice() else {
        panic!("expected one keyframe, got {out:?}")
    };
    let color = k
        .color
        .as_ref()
        .expect("the keyframe carries the left image");
    assert_eq!((color.width_px, color.height_px), (s.w as u32, s.h as u32));
    assert_eq!(color.rgb, *s.left.as_raw());
    k.observation
        .detections
        .iter()
        .map(|d| {
            assert_eq!(d.frame, DetectionFrame::Camera);
            let (u, v) = d.label.split_once(' ').unwrap();
            (u.parse().unwrap(), v.parse().unwrap(), d.position_m)
        })
        .collect()
}

#[test]
fn back_projected_points_agree_with_the_real_stereo_pair() {
    let s = load();
    for encoding in ["32FC1", "16UC1"] {
        let points = back_project(&s, encoding);
        let (mut checked, mut within, mut sad_true, mut sad_shifted) = (0, 0, 0.0, 0.0);
        for (u, v, p) in &points {
            let Some(d_gt) = s.smooth_d(*u as usize, *v as usize) else {
                continue;
            };
            // The right camera sits `baseline` along +x; its principal point is doffs further.
            let x_right = s.f * (p.x - s.baseline_m) / p.z + s.cx + s.doffs;
            let d_pred = u - x_right;
            checked += 1;
            if (d_pred - f64::from(d_gt)).abs() <= 0.5 {
                within += 1;
            }
            if let (Some(a), Some(b)) = (s.sad(*u, *v, x_right), s.sad(*u, *v, x_right + 12.0)) {
                sad_true += a;
                sad_shifted += b;
            }
            // The depth itself: what the ground truth says at the box centre.
            assert!(
                (p.z - s.depth_m(d_gt)).abs() / s.depth_m(d_gt) < 0.01,
                "{encoding} ({u}, {v}): z {} vs {}",
                p.z,
                s.depth_m(d_gt)
            );
        }
        eprintln!(
            "{encoding}: {} points, {checked} on smooth known disparity, {within} reproject within 0.5 px; \
             photometric error {:.1} vs {:.1} shifted by 12 px",
            points.len(),
            sad_true / checked as f64,
            sad_shifted / checked as f64
        );
        assert!(checked >= 80, "{encoding}: only {checked} points to check");
        assert!(
            within * 100 >= checked * 95,
            "{encoding}: {within}/{checked}"
        );
        assert!(
            sad_true < 0.5 * sad_shifted,
            "{encoding}: the right image does not match where the points project ({sad_true} vs {sad_shifted})"
        );
    }
}

/// Colour descriptors (`perception::appearance`) of the same scene region seen by the two
/// cameras of the real pair (the right region found through the ground-truth disparity) must
/// pass the core's appearance test, and those of different regions mostly fail it: 400 boxes
/// of 32-128 px a side, placed by a fixed pseudo-random sequence where at least 80 % of the
/// disparity is known.
#[test]
fn colour_descriptors_match_across_the_real_stereo_pair_and_tell_regions_apart() {
    use mnemo::core::embed::cosine;
    use mnemo::perception::appearance::{describe, PixelRect};
    let s = load();
    let threshold = mnemo::core::MemoryConfig::default().min_appearance_cosine;
    let (w, h) = (s.w as u32, s.h as u32);
    let (left, right) = (s.left.as_raw(), s.right.as_raw());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u32| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % u64::from(n)) as u32
    };
    // (left box, the right image's box at the median disparity)
    let mut boxes: Vec<(PixelRect, PixelRect)> = Vec::new();
    while boxes.len() < 400 {
        let (bw, bh) = (32 + next(97), 32 + next(97));
        let (x, y) = (next(w - bw), next(h - bh));
        let mut d: Vec<f32> = (y..y + bh)
            .flat_map(|yy| (x..x + bw).map(move |xx| (xx, yy)))
            .map(|(xx, yy)| s.d(xx as usize, yy as usize))
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        if d.len() * 5 < (bw * bh) as usize * 4 {
            continue;
        }
        d.sort_by(f32::total_cmp);
        let xr = x as f32 - d[d.len() / 2];
        if xr < 0.0 {
            continue;
        }
        let xr = xr.round() as u32;
        boxes.push((
            PixelRect {
                x0: x,
                y0: y,
                x1: x + bw,
                y1: y + bh,
            },
            PixelRect {
                x0: xr,
                y0: y,
                x1: xr + bw,
                y1: y + bh,
            },
        ));
    }
    let overlap =
        |a: &PixelRect, b: &PixelRect| a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for (i, (l, r)) in boxes.iter().enumerate() {
        let a = describe(left, w, h, *l).unwrap();
        same.push(cosine(&a, &describe(right, w, h, *r).unwrap()));
        let (l2, r2) = boxes[(i * 7 + 13) % boxes.len()];
        if !overlap(l, &l2) {
            different.push(cosine(&a, &describe(right, w, h, r2).unwrap()));
        }
    }
    let share = |v: &[f32], f: &dyn Fn(f32) -> bool| {
        v.iter().filter(|c| f(**c)).count() as f64 / v.len() as f64
    };
    let kept = share(&same, &|c| c >= threshold);
    let told_apart = share(&different, &|c| c < threshold);
    same.sort_by(f32::total_cmp);
    different.sort_by(f32::total_cmp);
    eprintln!(
        "same region: {} pairs, {:.1} % at or above {threshold} (lowest {:.3}, median {:.3}); \
         different regions: {} pairs, {:.1} % below it (median {:.3})",
        same.len(),
        100.0 * kept,
        same[0],
        same[same.len() / 2],
        different.len(),
        100.0 * told_apart,
        different[different.len() / 2]
    );
    assert!(kept >= 0.99, "same regions kept: {kept}");
    assert!(
        different.len() >= 200,
        "{} different pairs",
        different.len()
    );
    assert!(
        told_apart >= 0.6,
        "different regions told apart: {told_apart}"
    );
}
