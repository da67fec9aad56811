//! Reading text on keyframes with PP-OCR ONNX models (detection + recognition), so text
//! becomes a landmark ("where did I see EXIT?").
//!
//! Owns: the DB text detector's pre-processing (longest side capped, sides multiples of 32,
//! BGR, ImageNet mean/std) and post-processing (probability map thresholded, connected
//! components, boxes scored and expanded by the DB "unclip" distance), the CRNN/SVTR
//! recogniser's pre-processing (crops resized to height 48, normalised to -1..1) and greedy CTC
//! decoding with the character list from the model's `character` metadata (index 0 is the CTC
//! blank, a space is the last class). Boxes are axis-aligned: enough for text facing the
//! camera; rotated text is not rectified.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::worker::{Findings, KeyframeJob, KeyframeModel};
use super::{signature, PerceptionError, Provider, Runtime, RuntimeConfig};
use crate::core::{DepthImage, Detection, DetectionFrame, PinholeCamera};
use crate::ros::pipeline::{back_project_box, ColorImage};

/// The label of objects made from text read on keyframes.
pub const TEXT_LABEL: &str = "text";

/// Text lines read on a keyframe as `text` detections (label [`TEXT_LABEL`], the text in
/// `Detection::text`), each line's box back-projected through the keyframe's aligned depth
/// (see [`back_project_box`]) in the camera frame. Lines without valid depth are left out.
pub fn text_detections(
    lines: &[TextLine],
    camera: &PinholeCamera,
    depth: &DepthImage,
) -> Vec<Detection> {
    lines
        .iter()
        .filter_map(|l| {
            let (p, extent_m) = back_project_box(camera, depth, l.cx_px, l.cy_px, l.w_px, l.h_px)?;
            Some(Detection {
                label: TEXT_LABEL.into(),
                score: l.score,
                position_m: p,
                frame: DetectionFrame::Camera,
                extent_m,
                text: Some(l.text.clone()),
                embedding: None,
            })
        })
        .collect()
}

/// OCR settings (PaddleOCR's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct OcrConfig {
    /// The detector's input is scaled so its longest side is at most this, px.
    pub max_side_px: usize,
    /// Probability above which a pixel is text.
    pub pixel_threshold: f32,
    /// Mean probability a box needs.
    pub box_threshold: f32,
    /// DB unclip ratio: boxes grow by area * ratio / perimeter.
    pub unclip_ratio: f64,
    /// Mean character confidence a reading needs.
    pub min_text_score: f32,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            max_side_px: 960,
            pixel_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
            min_text_score: 0.5,
        }
    }
}

/// A line of text read in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// The text.
    pub text: String,
    /// Mean confidence of its characters.
    pub score: f32,
    /// Box centre x, px.
    pub cx_px: f64,
    /// Box centre y, px.
    pub cy_px: f64,
    /// Box width, px.
    pub w_px: f64,
    /// Box height, px.
    pub h_px: f64,
}

/// PP-OCR detection + recognition.
pub struct Ocr {
    det: Session,
    rec: Session,
    det_path: PathBuf,
    rec_path: PathBuf,
    chars: Vec<String>,
    provider: Provider,
    config: OcrConfig,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("det", &self.det_path)
            .field("rec", &self.rec_path)
            .field("characters", &self.chars.len())
            .finish_non_exhaustive()
    }
}

/// Connected components of `mask` (w x h, 8-connected): per component, its pixel indices.
fn components(mask: &[bool], w: usize, h: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut comp = Vec::new();
        while let Some(i) = stack.pop() {
            comp.push(i);
            let (x, y) = ((i % w) as i64, (i / w) as i64);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(comp);
    }
    out
}

/// Bilinear sample of channel `c` at (x, y) in an RGB8 image.
fn sample(img: &ColorImage, x: f64, y: f64, c: usize) -> f32 {
    let (w, h) = (img.width_px as usize, img.height_px as usize);
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let p = |xx: usize, yy: usize| f32::from(img.rgb[(yy * w + xx) * 3 + c]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

impl Ocr {
    /// Opens the detection and recognition models (`ppocr_det.onnx`, `ppocr_rec.onnx` from
    /// `models/prepare.sh`).
    ///
    /// # Errors
    /// [`PerceptionError::Model`] naming the file: missing, a recogniser without `character`
    /// metadata, or one whose class count is not characters + blank + space.
    pub fn open(
        det: &Path,
        rec: &Path,
        runtime: &RuntimeConfig,
        config: OcrConfig,
    ) -> Result<Self, PerceptionError> {
        let rt = Runtime::get(runtime)?;
        let (det_s, provider) = rt.open(det, runtime)?;
        let (rec_s, _) = rt.open(rec, runtime)?;
        let bad = |p: &Path, reason: String| PerceptionError::Model {
            path: p.to_path_buf(),
            reason,
        };
        let chars: Vec<String> = rec_s
            .metadata()
            .ok()
            .and_then(|m| m.custom("character"))
            .ok_or_else(|| {
                bad(
                    rec,
                    format!(
                        "no `character` metadata (a PP-OCR recognition model has it); {}",
                        signature(&rec_s)
                    ),
                )
            })?
            .lines()
            .map(String::from)
            .collect();
        let mut all = Vec::with_capacity(chars.len() + 2);
        all.push(String::new()); // CTC blank
        all.extend(chars);
        all.push(" ".into());
        Ok(Self {
            det: det_s,
            rec: rec_s,
            det_path: det.to_path_buf(),
            rec_path: rec.to_path_buf(),
            chars: all,
            provider,
            config,
        })
    }

    /// Opens `ppocr_det.onnx` and `ppocr_rec.onnx` in `dir`.
    ///
    /// # Errors
    /// As [`Ocr::open`].
    pub fn open_dir(dir: &Path, runtime: &RuntimeConfig) -> Result<Self, PerceptionError> {
        Self::open(
            &dir.join("ppocr_det.onnx"),
            &dir.join("ppocr_rec.onnx"),
            runtime,
            OcrConfig::default(),
        )
    }

    /// The execution provider in use.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Text boxes in `image` (image pixels), best first by detector score.
    ///
    /// # Errors
    /// [`PerceptionError::Run`] when the detector fails.
    pub fn detect_boxes(&mut self, image: &ColorImage) -> Result<Vec<[f64; 4]>, PerceptionError> {
        let run_err = |reason: String| PerceptionError::Run {
            model: self.det_path.display().to_string(),
            reason,
        };
        let (w, h) = (image.width_px as usize, image.height_px as usize);
        if w == 0 || h == 0 || image.rgb.len() != 3 * w * h {
            return Err(run_err(format!(
                "image {w}x{h} with {} bytes is not RGB8",
                image.rgb.len()
            )));
        }
        let scale = (self.config.max_side_px as f64 / w.max(h) as f64).min(1.0);
        let round32 = |v: f64| ((v / 32.0).round() as usize).max(1) * 32;
        let (dw, dh) = (round32(w as f64 * scale), round32(h as f64 * scale));
        let (sx, sy) = (w as f64 / dw as f64, h as f64 / dh as f64);
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let mut input = vec![0.0f32; 3 * dw * dh];
        for y in 0..dh {
            for x in 0..dw {
                let (fx, fy) = ((x as f64 + 0.5) * sx - 0.5, (y as f64 + 0.5) * sy - 0.5);
                for c in 0..3 {
                    // BGR order, as PaddleOCR reads images with OpenCV.
                    let v = sample(image, fx, fy, 2 - c) / 255.0;
                    input[c * dw * dh + y * dw + x] = (v - MEAN[c]) / STD[c];
                }
            }
        }
        let t = Tensor::from_array(([1usize, 3, dh, dw], input.into_boxed_slice()))
            .map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .det
            .run(ort::inputs![t])
            .map_err(|e| run_err(e.to_string()))?;
        let (shape, prob) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        if **shape != [1, 1, dh as i64, dw as i64] {
            return Err(run_err(format!(
                "output shape {shape:?}, expected [1, 1, {dh}, {dw}]"
            )));
        }
        let mask: Vec<bool> = prob
            .iter()
            .map(|p| *p > self.config.pixel_threshold)
            .collect();
        let mut boxes = Vec::new();
        for comp in components(&mask, dw, dh) {
            if comp.len() < 10 {
                continue;
            }
            let score = comp.iter().map(|&i| prob[i]).sum::<f32>() / comp.len() as f32;
            if score < self.config.box_threshold {
                continue;
            }
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            for &i in &comp {
                let (x, y) = (i % dw, i / dw);
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
            let (bw, bh) = ((x1 - x0 + 1) as f64, (y1 - y0 + 1) as f64);
            if bw.min(bh) < 3.0 {
                continue;
            }
            // DB's unclip: the shrunk text kernel grows back by area * ratio / perimeter.
            let d = bw * bh * self.config.unclip_ratio / (2.0 * (bw + bh));
            let (cx, cy) = (x0 as f64 + bw / 2.0, y0 as f64 + bh / 2.0);
            boxes.push((
                score,
                [cx * sx, cy * sy, (bw + 2.0 * d) * sx, (bh + 2.0 * d) * sy],
            ));
        }
        boxes.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(boxes.into_iter().map(|(_, b)| b).collect())
    }

    /// Reads the text in one box (centre x, centre y, width, height in image pixels).
    ///
    /// # Errors
    /// [`PerceptionError::Run`] when the recogniser fails or its output does not match the
    /// character list.
    pub fn read_box(
        &mut self,
        image: &ColorImage,
        b: [f64; 4],
    ) -> Result<(String, f32), PerceptionError> {
        let run_err = |reason: String| PerceptionError::Run {
            model: self.rec_path.display().to_string(),
            reason,
        };
        let (cx, cy, bw, bh) = (b[0], b[1], b[2].max(1.0), b[3].max(1.0));
        let height = 48usize;
        let width = ((height as f64 * bw / bh).round() as usize).clamp(16, 2048);
        let mut input = vec![0.0f32; 3 * height * width];
        for y in 0..height {
            for x in 0..width {
                let fx = cx - bw / 2.0 + (x as f64 + 0.5) * bw / width as f64 - 0.5;
                let fy = cy - bh / 2.0 + (y as f64 + 0.5) * bh / height as f64 - 0.5;
                for c in 0..3 {
                    let v = sample(image, fx, fy, 2 - c) / 255.0;
                    input[c * height * width + y * width + x] = (v - 0.5) / 0.5;
                }
            }
        }
        let t = Tensor::from_array(([1usize, 3, height, width], input.into_boxed_slice()))
            .map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .rec
            .run(ort::inputs![t])
            .map_err(|e| run_err(e.to_string()))?;
        let (shape, probs) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        let classes = self.chars.len();
        let [1, steps, k] = **shape else {
            return Err(run_err(format!(
                "output shape {shape:?}, expected [1, T, {classes}]"
            )));
        };
        if k as usize != classes {
            return Err(run_err(format!(
                "{k} classes, but the character list gives {classes} (with blank and space)"
            )));
        }
        // Greedy CTC: best class per step, repeats collapsed, blanks dropped.
        let (mut text, mut conf, mut n, mut prev) = (String::new(), 0.0f32, 0usize, 0usize);
        for t in 0..steps as usize {
            let row = &probs[t * classes..(t + 1) * classes];
            let (best, p) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            if best != 0 && best != prev {
                text.push_str(&self.chars[best]);
                conf += p;
                n += 1;
            }
            prev = best;
        }
        Ok((
            text.trim().to_string(),
            if n > 0 { conf / n as f32 } else { 0.0 },
        ))
    }

    /// Reads every text line in `image`.
    ///
    /// # Errors
    /// [`PerceptionError::Run`] when a model fails.
    pub fn read(&mut self, image: &ColorImage) -> Result<Vec<TextLine>, PerceptionError> {
        let boxes = self.detect_boxes(image)?;
        let mut out = Vec::new();
        for b in boxes {
            let (text, score) = self.read_box(image, b)?;
            if !text.is_empty() && score >= self.config.min_text_score {
                out.push(TextLine {
                    text,
                    score,
                    cx_px: b[0],
                    cy_px: b[1],
                    w_px: b[2],
                    h_px: b[3],
                });
            }
        }
        Ok(out)
    }
}

/// On keyframes: text lines read and back-projected into `text` detections
/// ([`text_detections`]).
impl KeyframeModel for Ocr {
    fn needs_depth(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.rec_path.display().to_string()
    }

    fn run(&mut self, job: &KeyframeJob, found: &mut Findings) -> Result<(), PerceptionError> {
        let (camera, depth, (sx, sy)) = job.depth_view(&self.name())?;
        let lines: Vec<TextLine> = self
            .read(&job.image)?
            .into_iter()
            .map(|l| TextLine {
                cx_px: l.cx_px * sx,
                cy_px: l.cy_px * sy,
                w_px: l.w_px * sx,
                h_px: l.h_px * sy,
                ..l
            })
            .collect();
        found
            .detections
            .extend(text_detections(&lines, camera, depth));
        Ok(())
    }
}
