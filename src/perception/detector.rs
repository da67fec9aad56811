//! Object detection with YOLO-family ONNX exports (ultralytics YOLOv8 / YOLO11 layout), whose
//! 2D boxes the pipeline back-projects through the aligned depth image.
//!
//! Owns: letterboxing (aspect-preserving resize into the model's square input, grey 114
//! padding, RGB, 0..1, CHW), decoding `[1, 4 + classes, N]` (or the transposed `[1, N, 4 +
//! classes]`) outputs of centre/size boxes and per-class scores, the score threshold,
//! class-aware non-maximum suppression, mapping boxes back to image pixels, and class names
//! from the model's `names` metadata (as ultralytics writes it) or a labels file (one per line).

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::worker::{Findings, KeyframeJob, KeyframeModel};
use super::{signature, PerceptionError, Provider, Runtime, RuntimeConfig};
use crate::core::{Detection, DetectionFrame};
use crate::ros::msg::{
    BoundingBox2D, Detection2D, Detection2DArray, Header, ObjectHypothesis,
    ObjectHypothesisWithPose, Point2D, Pose2D,
};
use crate::ros::pipeline::back_project_box;
use crate::ros::pipeline::ColorImage;

/// A detected box in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Box2D {
    /// Class name.
    pub label: String,
    /// Class score, 0..1.
    pub score: f32,
    /// Centre x, px.
    pub cx_px: f64,
    /// Centre y, px.
    pub cy_px: f64,
    /// Width, px.
    pub w_px: f64,
    /// Height, px.
    pub h_px: f64,
}

/// Detector settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Boxes scoring below this are dropped.
    pub score_threshold: f32,
    /// Boxes of one class overlapping a better one by more than this IoU are dropped.
    pub iou_threshold: f32,
    /// At most this many boxes per image.
    pub max_detections: usize,
    /// Give each box the colour descriptor of its pixels ([`super::appearance`]), so that
    /// look-alike instances are told apart by appearance.
    pub appearance: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.25,
            iou_threshold: 0.45,
            max_detections: 300,
            appearance: false,
        }
    }
}

/// How an image was fitted into the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Resize factor, input px per image px.
    pub scale: f64,
    /// Left padding, input px.
    pub pad_x: f64,
    /// Top padding, input px.
    pub pad_y: f64,
}

/// Letterboxes `image` into a `size` x `size` CHW float tensor (RGB, 0..1, grey 114 padding,
/// bilinear resize), as ultralytics does.
pub fn letterbox(image: &ColorImage, size: usize) -> (Vec<f32>, Letterbox) {
    let (w, h) = (image.width_px as f64, image.height_px as f64);
    let scale = (size as f64 / w).min(size as f64 / h);
    let (nw, nh) = ((w * scale).round() as usize, (h * scale).round() as usize);
    let pad_x = ((size - nw.min(size)) / 2) as f64;
    let pad_y = ((size - nh.min(size)) / 2) as f64;
    let mut out = vec![114.0f32 / 255.0; 3 * size * size];
    let plane = size * size;
    let (iw, ih) = (image.width_px as usize, image.height_px as usize);
    for y in 0..nh.min(size) {
        // Pixel-centre mapping back into the source.
        let sy = ((y as f64 + 0.5) / scale - 0.5).clamp(0.0, (ih - 1) as f64);
        let (y0, fy) = (sy.floor() as usize, (sy - sy.floor()) as f32);
        let y1 = (y0 + 1).min(ih - 1);
        for x in 0..nw.min(size) {
            let sx = ((x as f64 + 0.5) / scale - 0.5).clamp(0.0, (iw - 1) as f64);
            let (x0, fx) = (sx.floor() as usize, (sx - sx.floor()) as f32);
            let x1 = (x0 + 1).min(iw - 1);
            let px = |xx: usize, yy: usize, c: usize| f32::from(image.rgb[(yy * iw + xx) * 3 + c]);
            let o = (y + pad_y as usize) * size + x + pad_x as usize;
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - fx) + px(x1, y0, c) * fx;
                let bottom = px(x0, y1, c) * (1.0 - fx) + px(x1, y1, c) * fx;
                out[c * plane + o] = (top * (1.0 - fy) + bottom * fy) / 255.0;
            }
        }
    }
    (
        out,
        Letterbox {
            scale,
            pad_x,
            pad_y,
        },
    )
}

fn iou(a: &Box2D, b: &Box2D) -> f64 {
    let ix = ((a.cx_px + a.w_px / 2.0).min(b.cx_px + b.w_px / 2.0)
        - (a.cx_px - a.w_px / 2.0).max(b.cx_px - b.w_px / 2.0))
    .max(0.0);
    let iy = ((a.cy_px + a.h_px / 2.0).min(b.cy_px + b.h_px / 2.0)
        - (a.cy_px - a.h_px / 2.0).max(b.cy_px - b.h_px / 2.0))
    .max(0.0);
    let inter = ix * iy;
    let union = a.w_px * a.h_px + b.w_px * b.h_px - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Decodes a YOLOv8/11 output (`values` of shape `[1, 4 + classes, n]`, or `[1, n, 4 +
/// classes]` when `transposed`) into boxes in image pixels: threshold, class-aware NMS,
/// best first.
pub fn decode(
    values: &[f32],
    n: usize,
    names: &[String],
    transposed: bool,
    lb: Letterbox,
    config: &DetectorConfig,
) -> Vec<Box2D> {
    let rows = 4 + names.len();
    let at = |r: usize, i: usize| {
        if transposed {
            values[i * rows + r]
        } else {
            values[r * n + i]
        }
    };
    let mut candidates: Vec<(usize, Box2D)> = Vec::new();
    for i in 0..n {
        let (class, score) = (0..names.len())
            .map(|c| (c, at(4 + c, i)))
            .fold((0, f32::MIN), |b, x| if x.1 > b.1 { x } else { b });
        if score.is_nan() || score < config.score_threshold {
            continue;
        }
        let (cx, cy, w, h) = (at(0, i), at(1, i), at(2, i), at(3, i));
        if ![cx, cy, w, h].iter().all(|v| v.is_finite()) || w <= 0.0 || h <= 0.0 {
            continue;
        }
        candidates.push((
            class,
            Box2D {
                label: names[class].clone(),
                score,
                cx_px: (f64::from(cx) - lb.pad_x) / lb.scale,
                cy_px: (f64::from(cy) - lb.pad_y) / lb.scale,
                w_px: f64::from(w) / lb.scale,
                h_px: f64::from(h) / lb.scale,
            },
        ));
    }
    candidates.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut kept: Vec<(usize, Box2D)> = Vec::new();
    for (class, b) in candidates {
        if kept.len() >= config.max_detections {
            break;
        }
        if kept
            .iter()
            .all(|(c, k)| *c != class || iou(k, &b) <= f64::from(config.iou_threshold))
        {
            kept.push((class, b));
        }
    }
    kept.into_iter().map(|(_, b)| b).collect()
}

/// Parses ultralytics' `names` metadata, a Python dict literal such as
/// `{0: 'person', 1: 'bicycle'}`, into names by class index.
pub fn parse_names(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut pairs: Vec<(usize, String)> = Vec::new();
    let mut rest = inner;
    while !rest.trim().is_empty() {
        let (key, after) = rest.split_once(':')?;
        let key: usize = key.trim().trim_start_matches(',').trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let body = &after[1..];
        let end = body.find(quote)?;
        pairs.push((key, body[..end].to_string()));
        rest = body[end + 1..].trim_start().trim_start_matches(',');
    }
    pairs.sort();
    pairs
        .iter()
        .enumerate()
        .all(|(i, (k, _))| *k == i)
        .then(|| pairs.into_iter().map(|(_, v)| v).collect())
}

/// A YOLO-family detector.
pub struct YoloDetector {
    session: Session,
    model: PathBuf,
    provider: Provider,
    names: Vec<String>,
    input: String,
    size: usize,
    config: DetectorConfig,
}

impl std::fmt::Debug for YoloDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YoloDetector")
            .field("model", &self.model)
            .field("classes", &self.names.len())
            .field("input", &self.size)
            .finish_non_exhaustive()
    }
}

impl YoloDetector {
    /// Opens a YOLOv8/11 ONNX export. Class names come from `labels` (one per line) when
    /// given, else from the model's `names` metadata.
    ///
    /// # Errors
    /// [`PerceptionError::Model`] naming the file: missing, no class names, an input that is
    /// not `[1, 3, S, S]` (S fixed, or dynamic: 640), or an output without `4 + classes` rows.
    pub fn open(
        model: &Path,
        labels: Option<&Path>,
        runtime: &RuntimeConfig,
        config: DetectorConfig,
    ) -> Result<Self, PerceptionError> {
        let rt = Runtime::get(runtime)?;
        let (session, provider) = rt.open(model, runtime)?;
        let bad = |reason: String| PerceptionError::Model {
            path: model.to_path_buf(),
            reason,
        };
        let names = match labels {
            Some(l) => std::fs::read_to_string(l)
                .map_err(|e| PerceptionError::Model {
                    path: l.to_path_buf(),
                    reason: e.to_string(),
                })?
                .lines()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => session
                .metadata()
                .ok()
                .and_then(|m| m.custom("names"))
                .and_then(|t| parse_names(&t))
                .ok_or_else(|| {
                    bad(
                        "no class names: the model has no `names` metadata; pass a labels file"
                            .into(),
                    )
                })?,
        };
        if names.is_empty() {
            return Err(bad("no class names".into()));
        }
        let [input] = session.inputs() else {
            return Err(bad(format!(
                "expected one image input; it has {}",
                signature(&session)
            )));
        };
        let shape: Vec<i64> = match input.dtype() {
            ort::value::ValueType::Tensor { shape, .. } => shape.iter().copied().collect(),
            other => return Err(bad(format!("input is {other:?}, expected a float tensor"))),
        };
        let size = match shape.as_slice() {
            [_, 3, h, w] if h == w && *h > 0 => *h as usize,
            [_, 3, h, w] if *h <= 0 && *w <= 0 => 640,
            _ => return Err(bad(format!("input shape {shape:?}, expected [1, 3, S, S]"))),
        };
        Ok(Self {
            input: input.name().to_string(),
            session,
            model: model.to_path_buf(),
            provider,
            names,
            size,
            config,
        })
    }

    /// Class names by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The execution provider in use.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Detects objects in `image`.
    ///
    /// # Errors
    /// [`PerceptionError::Run`] when the model fails or its output has an unexpected shape.
    pub fn detect(&mut self, image: &ColorImage) -> Result<Vec<Box2D>, PerceptionError> {
        let run_err = |reason: String| PerceptionError::Run {
            model: self.model.display().to_string(),
            reason,
        };
        image.check_rgb8().map_err(run_err)?;
        let (data, lb) = letterbox(image, self.size);
        let tensor =
            Tensor::from_array(([1usize, 3, self.size, self.size], data.into_boxed_slice()))
                .map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .session
            .run(vec![(self.input.as_str(), tensor.into_dyn())])
            .map_err(|e| run_err(e.to_string()))?;
        let (shape, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        let rows = (4 + self.names.len()) as i64;
        let (n, transposed) = match **shape {
            [1, r, n] if r == rows => (n as usize, false),
            [1, n, r] if r == rows => (n as usize, true),
            _ => {
                return Err(run_err(format!(
                    "output shape {shape:?}, expected [1, {rows}, N] (4 box values + {} classes)",
                    self.names.len()
                )))
            }
        };
        Ok(decode(values, n, &self.names, transposed, lb, &self.config))
    }
}

/// On keyframes: each box back-projected through the keyframe's aligned depth (boxes without
/// valid depth are left out).
impl KeyframeModel for YoloDetector {
    fn needs_depth(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.model.display().to_string()
    }

    fn run(&mut self, job: &KeyframeJob, found: &mut Findings) -> Result<(), PerceptionError> {
        let (camera, depth, (sx, sy)) = job.depth_view(&self.name())?;
        for b in self.detect(&job.image)? {
            let placed = back_project_box(
                camera,
                depth,
                b.cx_px * sx,
                b.cy_px * sy,
                b.w_px * sx,
                b.h_px * sy,
            );
            if let Some((position_m, extent_m)) = placed {
                let embedding = if self.config.appearance {
                    box_appearance(&b, &job.image)
                } else {
                    None
                };
                found.detections.push(Detection {
                    label: b.label,
                    score: b.score,
                    position_m,
                    frame: DetectionFrame::Camera,
                    extent_m,
                    text: None,
                    embedding,
                });
            }
        }
        Ok(())
    }
}

/// The colour descriptor of a box's pixels in the image it was found in (clipped to the
/// image); `None` when too little of it is inside.
fn box_appearance(b: &Box2D, image: &ColorImage) -> Option<Vec<f32>> {
    let clip = |x: f64, max: u32| x.round().clamp(0.0, f64::from(max)) as u32;
    let rect = super::appearance::PixelRect {
        x0: clip(b.cx_px - b.w_px / 2.0, image.width_px),
        y0: clip(b.cy_px - b.h_px / 2.0, image.height_px),
        x1: clip(b.cx_px + b.w_px / 2.0, image.width_px),
        y1: clip(b.cy_px + b.h_px / 2.0, image.height_px),
    };
    super::appearance::describe(&image.rgb, image.width_px, image.height_px, rect)
}

/// Boxes as a `vision_msgs/Detection2DArray`, for the pipeline's back-projection through the
/// aligned depth image.
pub fn to_detection2d_array(boxes: &[Box2D], header: &Header) -> Detection2DArray {
    Detection2DArray {
        header: header.clone(),
        detections: boxes
            .iter()
            .map(|b| Detection2D {
                header: header.clone(),
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: b.label.clone(),
                        score: f64::from(b.score),
                    },
                    ..ObjectHypothesisWithPose::default()
                }],
                bbox: BoundingBox2D {
                    center: Pose2D {
                        position: Point2D {
                            x: b.cx_px,
                            y: b.cy_px,
                        },
                        theta: 0.0,
                    },
                    size_x: b.w_px,
                    size_y: b.h_px,
                },
                id: String::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_is_described_by_its_own_pixels_clipped_to_the_image() {
        // Left half red, right half blue.
        let (w, h) = (200u32, 100u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                if i % w < 100 {
                    [200, 30, 30]
                } else {
                    [30, 30, 200]
                }
            })
            .collect();
        let image = ColorImage {
            stamp_ns: 0,
            width_px: w,
            height_px: h,
            rgb,
        };
        let b = |cx_px: f64, w_px: f64| Box2D {
            label: "mug".into(),
            score: 0.9,
            cx_px,
            cy_px: 50.0,
            w_px,
            h_px: 40.0,
        };
        let red = super::super::appearance::describe(
            &image.rgb,
            w,
            h,
            super::super::appearance::PixelRect {
                x0: 0,
                y0: 0,
                x1: 50,
                y1: 50,
            },
        )
        .unwrap();
        let cos = |e: &[f32]| crate::core::embed::cosine(e, &red);
        assert!(cos(&box_appearance(&b(50.0, 40.0), &image).unwrap()) > 0.999);
        assert!(cos(&box_appearance(&b(150.0, 40.0), &image).unwrap()) < 0.01);
        // Half outside on the left: the part inside is still red.
        assert!(cos(&box_appearance(&b(0.0, 40.0), &image).unwrap()) > 0.999);
        // Wholly outside.
        assert!(box_appearance(&b(-100.0, 40.0), &image).is_none());
    }

    #[test]
    fn names_parse_like_ultralytics_writes_them() {
        assert_eq!(
            parse_names("{0: 'person', 1: \"traffic light\", 2: 'cup'}").unwrap(),
            vec!["person", "traffic light", "cup"]
        );
        assert!(
            parse_names("{0: 'a', 2: 'b'}").is_none(),
            "a gap in the ids"
        );
        assert!(parse_names("person, cup").is_none());
    }

    #[test]
    fn letterbox_pads_and_scales() {
        let img = ColorImage {
            stamp_ns: 0,
            width_px: 4,
            height_px: 2,
            rgb: vec![255; 24],
        };
        let (t, lb) = letterbox(&img, 8);
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (2.0, 0.0, 2.0));
        // Rows 2..6 are the image (1.0), the rest grey 114.
        assert_eq!(t[0], 114.0 / 255.0);
        assert_eq!(t[2 * 8], 1.0);
        assert_eq!(t[6 * 8], 114.0 / 255.0);
    }
}
