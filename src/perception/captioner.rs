//! Image captioning with encoder-decoder vision-language models in the ONNX layout Hugging Face
//! `optimum` exports (ViT-GPT2 style `VisionEncoderDecoderModel`s and similar).
//!
//! Owns: reading a model directory (`encoder_model.onnx`, `decoder_model_merged.onnx`,
//! `tokenizer.json`, `config.json`,
//! `generation_config.json`, `preprocessor_config.json`), image preprocessing as the
//! preprocessor config says (resize to `size` — `{height, width}`, an integer, or
//! `{shortest_edge}` with an optional centre crop — bilinear, rescale, mean/std normalisation,
//! CHW float32), and greedy decoding with the key/value cache: the first step feeds the decoder
//! start token with empty past tensors (`use_cache_branch = false`), every later step feeds
//! only the newest token and the previous step's `present.*` outputs as `past_key_values.*`
//! (`use_cache_branch = true`), until EOS or the token budget. Optional decoder inputs
//! `attention_mask`, `encoder_attention_mask` and `position_ids` are fed when the export has
//! them. Float32 models only.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{DynValue, Tensor, ValueType};
use serde_json::Value;

use super::worker::Captioner;
use super::{signature, PerceptionError, Provider, Runtime, RuntimeConfig};
use crate::ros::pipeline::ColorImage;

/// How the image is prepared (from `preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Resize target before any crop: exact `(width, height)`, or `None` with
    /// `shortest_edge` set.
    pub resize_px: Option<(u32, u32)>,
    /// Resize so the shorter side is this long (aspect kept), when `resize_px` is `None`.
    pub shortest_edge_px: Option<u32>,
    /// Centre crop `(width, height)` after the resize.
    pub crop_px: Option<(u32, u32)>,
    /// Multiplies 0..255 pixel values (usually 1/255).
    pub rescale: f32,
    /// Per-channel mean subtracted after rescaling (RGB).
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by (RGB).
    pub std: [f32; 3],
}

impl Preprocess {
    /// Reads a `preprocessor_config.json` object.
    ///
    /// # Errors
    /// A message naming the key that is missing or malformed.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let flag = |k: &str, default: bool| v.get(k).and_then(Value::as_bool).unwrap_or(default);
        let triple = |k: &str, default: [f32; 3]| -> Result<[f32; 3], String> {
            match v.get(k) {
                None => Ok(default),
                Some(Value::Number(n)) => {
                    let x = n.as_f64().unwrap_or(0.0) as f32;
                    Ok([x; 3])
                }
                Some(Value::Array(a)) if a.len() == 3 => {
                    let mut out = [0.0f32; 3];
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x.as_f64().ok_or(format!("{k}: expected numbers"))? as f32;
                    }
                    Ok(out)
                }
                Some(other) => Err(format!("{k}: expected 3 numbers, got {other}")),
            }
        };
        // (exact (w, h), shortest edge)
        type Dims = (Option<(u32, u32)>, Option<u32>);
        let dims = |k: &str, x: &Value| -> Result<Dims, String> {
            let px = |x: &Value| {
                x.as_u64()
                    .filter(|n| (1..=8192).contains(n))
                    .map(|n| n as u32)
            };
            match x {
                Value::Number(_) => {
                    let n = px(x).ok_or(format!("{k}: expected 1..8192"))?;
                    Ok((Some((n, n)), None))
                }
                Value::Object(o) => {
                    if let (Some(h), Some(w)) = (o.get("height"), o.get("width")) {
                        let (h, w) = (px(h), px(w));
                        match (w, h) {
                            (Some(w), Some(h)) => Ok((Some((w, h)), None)),
                            _ => Err(format!("{k}: height/width must be 1..8192")),
                        }
                    } else if let Some(s) = o.get("shortest_edge") {
                        Ok((
                            None,
                            Some(px(s).ok_or(format!("{k}.shortest_edge: 1..8192"))?),
                        ))
                    } else {
                        Err(format!("{k}: expected height/width or shortest_edge"))
                    }
                }
                other => Err(format!("{k}: expected a size, got {other}")),
            }
        };
        let (mut resize_px, mut shortest_edge_px) = (None, None);
        if flag("do_resize", true) {
            let size = v
                .get("size")
                .ok_or("do_resize without `size`".to_string())?;
            (resize_px, shortest_edge_px) = dims("size", size)?;
        }
        let crop_px = if flag("do_center_crop", false) {
            match v.get("crop_size") {
                Some(c) => dims("crop_size", c)?.0,
                None => return Err("do_center_crop without `crop_size`".into()),
            }
        } else {
            None
        };
        let rescale = if flag("do_rescale", true) {
            v.get("rescale_factor")
                .and_then(Value::as_f64)
                .unwrap_or(1.0 / 255.0) as f32
        } else {
            1.0
        };
        let (mean, std) = if flag("do_normalize", true) {
            (
                triple("image_mean", [0.5; 3])?,
                triple("image_std", [0.5; 3])?,
            )
        } else {
            ([0.0; 3], [1.0; 3])
        };
        if std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err("image_std: must be non-zero".into());
        }
        Ok(Self {
            resize_px,
            shortest_edge_px,
            crop_px,
            rescale,
            mean,
            std,
        })
    }

    /// The image as a `[1, 3, H, W]` float tensor's data, with `(W, H)`.
    pub fn apply(&self, image: &ColorImage) -> (Vec<f32>, (u32, u32)) {
        let (w, h) = (image.width_px.max(1), image.height_px.max(1));
        let (rw, rh) = match (self.resize_px, self.shortest_edge_px) {
            (Some(s), _) => s,
            (None, Some(e)) => {
                let scale = f64::from(e) / f64::from(w.min(h));
                (
                    ((f64::from(w) * scale).round() as u32).max(1),
                    ((f64::from(h) * scale).round() as u32).max(1),
                )
            }
            (None, None) => (w, h),
        };
        let (cw, ch) = self.crop_px.unwrap_or((rw, rh));
        // Centre-crop offsets inside the resized image (a crop larger than it pads with 0).
        let ox = (i64::from(rw) - i64::from(cw)) / 2;
        let oy = (i64::from(rh) - i64::from(ch)) / 2;
        let plane = (cw * ch) as usize;
        let mut out = vec![0.0f32; 3 * plane];
        let (sx, sy) = (f64::from(w) / f64::from(rw), f64::from(h) / f64::from(rh));
        let (iw, ih) = (image.width_px as usize, image.height_px as usize);
        for y in 0..ch {
            let ry = i64::from(y) + oy;
            if ry < 0 || ry >= i64::from(rh) {
                continue;
            }
            let fy = ((ry as f64 + 0.5) * sy - 0.5).clamp(0.0, (ih.max(1) - 1) as f64);
            let (y0, ty) = (fy.floor() as usize, (fy - fy.floor()) as f32);
            let y1 = (y0 + 1).min(ih.max(1) - 1);
            for x in 0..cw {
                let rx = i64::from(x) + ox;
                if rx < 0 || rx >= i64::from(rw) {
                    continue;
                }
                let fx = ((rx as f64 + 0.5) * sx - 0.5).clamp(0.0, (iw.max(1) - 1) as f64);
                let (x0, tx) = (fx.floor() as usize, (fx - fx.floor()) as f32);
                let x1 = (x0 + 1).min(iw.max(1) - 1);
                let px = |xx: usize, yy: usize, c: usize| {
                    image
                        .rgb
                        .get((yy * iw + xx) * 3 + c)
                        .copied()
                        .map_or(0.0, f32::from)
                };
                let o = (y * cw + x) as usize;
                for c in 0..3 {
                    let top = px(x0, y0, c) * (1.0 - tx) + px(x1, y0, c) * tx;
                    let bottom = px(x0, y1, c) * (1.0 - tx) + px(x1, y1, c) * tx;
                    let v = (top * (1.0 - ty) + bottom * ty) * self.rescale;
                    out[c * plane + o] = (v - self.mean[c]) / self.std[c];
                }
            }
        }
        (out, (cw, ch))
    }
}

/// Decoding settings (from `generation_config.json`, else `config.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The first decoder input.
    pub decoder_start_token_id: i64,
    /// Tokens that end the caption.
    pub eos_token_ids: Vec<i64>,
    /// At most this many generated tokens.
    pub max_new_tokens: usize,
}

impl Generation {
    /// Reads the generation settings; `generation_config.json` wins over `config.json`, whose
    /// `decoder` section is the last resort (GPT-2 style: start = BOS).
    ///
    /// # Errors
    /// A message when no start or EOS token id is given anywhere.
    pub fn from_json(generation: Option<&Value>, config: &Value) -> Result<Self, String> {
        let sources: Vec<&Value> = generation
            .into_iter()
            .chain([config])
            .chain(config.get("decoder"))
            .collect();
        let find = |keys: &[&str]| {
            sources
                .iter()
                .find_map(|s| keys.iter().find_map(|k| s.get(*k).filter(|v| !v.is_null())))
        };
        let start = find(&["decoder_start_token_id", "bos_token_id"])
            .and_then(Value::as_i64)
            .ok_or(
                "no decoder_start_token_id or bos_token_id in generation_config.json/config.json",
            )?;
        let eos = match find(&["eos_token_id"]) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            Some(v) => v.as_i64().into_iter().collect(),
            None => Vec::new(),
        };
        if eos.is_empty() {
            return Err("no eos_token_id in generation_config.json/config.json".into());
        }
        let max_new_tokens = match find(&["max_new_tokens"]).and_then(Value::as_u64) {
            Some(n) => n as usize,
            // max_length counts the start token.
            None => find(&["max_length"])
                .and_then(Value::as_u64)
                .map_or(20, |n| (n as usize).saturating_sub(1)),
        };
        Ok(Self {
            decoder_start_token_id: start,
            eos_token_ids: eos,
            max_new_tokens: max_new_tokens.max(1),
        })
    }
}

/// One past key/value input of the decoder and the output that feeds it next step.
#[derive(Debug, Clone)]
struct PastSlot {
    input: String,
    output: String,
    /// Heads and head size (the second and fourth dimension), from the model or config.
    heads: usize,
    head_dim: usize,
}

/// A captioning model: vision encoder + autoregressive text decoder with a KV cache.
pub struct OnnxCaptioner {
    dir: PathBuf,
    encoder: Session,
    decoder: Session,
    encoder_input: String,
    encoder_output: String,
    decoder_inputs: Vec<String>,
    past: Vec<PastSlot>,
    tokenizer: tokenizers::Tokenizer,
    preprocess: Preprocess,
    generation: Generation,
    provider: Provider,
}

impl std::fmt::Debug for OnnxCaptioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxCaptioner")
            .field("dir", &self.dir)
            .field("provider", &self.provider)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

fn read_json(path: &Path) -> Result<Value, PerceptionError> {
    let text = std::fs::read_to_string(path).map_err(|e| PerceptionError::Model {
        path: path.to_path_buf(),
        reason: format!("{e} (a captioning model directory needs it)"),
    })?;
    serde_json::from_str(&text).map_err(|e| PerceptionError::Model {
        path: path.to_path_buf(),
        reason: format!("not valid JSON: {e}"),
    })
}

fn tensor_shape(session: &Session, name: &str) -> Vec<i64> {
    session
        .inputs()
        .iter()
        .find(|i| i.name() == name)
        .and_then(|i| match i.dtype() {
            ValueType::Tensor { shape, .. } => Some(shape.iter().copied().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

impl OnnxCaptioner {
    /// Opens a model directory as `optimum-cli export onnx --task image-to-text-with-past`
    /// writes it (see the module docs for the files).
    ///
    /// # Errors
    /// [`PerceptionError`] naming the file that is missing or not what the runner expects
    /// (e.g. a decoder without `logits` or past key/value inputs).
    pub fn open_dir(dir: &Path, runtime: &RuntimeConfig) -> Result<Self, PerceptionError> {
        let bad = |path: PathBuf, reason: String| PerceptionError::Model { path, reason };
        if !dir.is_dir() {
            return Err(bad(
                dir.to_path_buf(),
                "not a directory (expected encoder_model.onnx, decoder_model_merged.onnx, \
                 tokenizer.json and the config files)"
                    .into(),
            ));
        }
        let config = read_json(&dir.join("config.json"))?;
        let generation_path = dir.join("generation_config.json");
        let generation_json = if generation_path.is_file() {
            Some(read_json(&generation_path)?)
        } else {
            None
        };
        let generation = Generation::from_json(generation_json.as_ref(), &config)
            .map_err(|e| bad(dir.join("generation_config.json"), e))?;
        let pre_path = dir.join("preprocessor_config.json");
        let preprocess =
            Preprocess::from_json(&read_json(&pre_path)?).map_err(|e| bad(pre_path.clone(), e))?;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(bad(tok_path, "file not found".into()));
        }
        let tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| bad(tok_path.clone(), e.to_string()))?;

        let rt = Runtime::get(runtime)?;
        let enc_path = dir.join("encoder_model.onnx");
        let (encoder, provider) = rt.open(&enc_path, runtime)?;
        let (encoder_input, encoder_output) = {
            let input = encoder
                .inputs()
                .iter()
                .find(|i| i.name() == "pixel_values")
                .or_else(|| encoder.inputs().first())
                .map(|i| i.name().to_string());
            let output = encoder
                .outputs()
                .iter()
                .find(|o| o.name() == "last_hidden_state")
                .or_else(|| encoder.outputs().first())
                .map(|o| o.name().to_string());
            match (input, output) {
                (Some(i), Some(o)) if encoder.inputs().len() == 1 => (i, o),
                _ => {
                    return Err(bad(
                        enc_path,
                        format!(
                        "expected one image input (pixel_values) and last_hidden_state; it has {}",
                        signature(&encoder)
                    ),
                    ))
                }
            }
        };
        // The merged decoder runs the first step without a cache and the rest with one; the
        // separate decoder_model/decoder_with_past_model pair of older exports is not read.
        let dec_path = dir.join("decoder_model_merged.onnx");
        if !dec_path.is_file() {
            return Err(bad(
                dec_path,
                "file not found (export with `optimum-cli export onnx --task                  image-to-text-with-past`, which writes the merged decoder)"
                    .into(),
            ));
        }
        let (decoder, _) = rt.open(&dec_path, runtime)?;
        let decoder_inputs: Vec<String> = decoder
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        let outputs: Vec<String> = decoder
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        for need in ["input_ids", "encoder_hidden_states"] {
            if !decoder_inputs.iter().any(|n| n == need) {
                return Err(bad(
                    dec_path,
                    format!("no `{need}` input; it has {}", signature(&decoder)),
                ));
            }
        }
        if !outputs.iter().any(|n| n == "logits") {
            return Err(bad(
                dec_path,
                format!("no `logits` output; it has {}", signature(&decoder)),
            ));
        }
        let dec_cfg = config.get("decoder").unwrap_or(&config);
        let cfg_usize = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| dec_cfg.get(*k).and_then(Value::as_u64))
                .map(|n| n as usize)
        };
        let cfg_heads = cfg_usize(&["n_head", "num_attention_heads", "decoder_attention_heads"]);
        let cfg_hidden = cfg_usize(&["n_embd", "hidden_size", "d_model"]);
        let mut past = Vec::new();
        for name in decoder_inputs
            .iter()
            .filter(|n| n.starts_with("past_key_values."))
        {
            let output = name.replacen("past_key_values.", "present.", 1);
            if !outputs.contains(&output) {
                return Err(bad(
                    dec_path,
                    format!("input {name} has no matching output {output}"),
                ));
            }
            let shape = tensor_shape(&decoder, name);
            let dim = |i: usize| shape.get(i).copied().filter(|d| *d > 0).map(|d| d as usize);
            let heads = dim(1).or(cfg_heads);
            let head_dim = dim(3).or(match (cfg_hidden, cfg_heads) {
                (Some(h), Some(n)) if n > 0 => Some(h / n),
                _ => None,
            });
            let (Some(heads), Some(head_dim)) = (heads, head_dim) else {
                return Err(bad(
                    dec_path,
                    format!("{name} has shape {shape:?} and config.json gives no head count/size"),
                ));
            };
            past.push(PastSlot {
                input: name.clone(),
                output,
                heads,
                head_dim,
            });
        }
        if past.is_empty() {
            return Err(bad(
                dec_path,
                format!(
                    "no past_key_values.* inputs (export with --task image-to-text-with-past); it has {}",
                    signature(&decoder)
                ),
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            encoder,
            decoder,
            encoder_input,
            encoder_output,
            decoder_inputs,
            past,
            tokenizer,
            preprocess,
            generation,
            provider,
        })
    }

    /// The execution provider in use.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The decoding settings.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Caps the number of generated tokens.
    pub fn set_max_new_tokens(&mut self, n: usize) {
        self.generation.max_new_tokens = n.max(1);
    }

    /// Greedy decoding: the generated token ids (without the start token and EOS).
    ///
    /// # Errors
    /// [`PerceptionError::Run`] when a model fails or an output has an unexpected shape.
    pub fn generate(&mut self, image: &ColorImage) -> Result<Vec<i64>, PerceptionError> {
        let model = self.dir.display().to_string();
        let run_err = |reason: String| PerceptionError::Run {
            model: model.clone(),
            reason,
        };
        image.check_rgb8().map_err(run_err)?;
        let (pixels, (w, h)) = self.preprocess.apply(image);
        let pixel_values = Tensor::from_array(([1usize, 3, h as usize, w as usize], pixels))
            .map_err(|e| run_err(e.to_string()))?;
        let mut enc_out = self
            .encoder
            .run(vec![(self.encoder_input.as_str(), pixel_values.into_dyn())])
            .map_err(|e| run_err(format!("encoder: {e}")))?;
        let hidden: DynValue = enc_out
            .remove(self.encoder_output.as_str())
            .ok_or_else(|| run_err(format!("encoder gave no {}", self.encoder_output)))?;
        drop(enc_out);
        let enc_len = match hidden.dtype() {
            ValueType::Tensor { shape, .. } if shape.len() == 3 && shape[0] == 1 => {
                shape[1].max(0) as usize
            }
            other => {
                return Err(run_err(format!(
                    "encoder output {} is {other:?}, expected [1, S, D]",
                    self.encoder_output
                )))
            }
        };
        let zeros = |heads: usize, len: usize, head_dim: usize| {
            Tensor::from_array((
                [1usize, heads, len, head_dim],
                vec![0.0f32; heads * len * head_dim],
            ))
            .map(Tensor::into_dyn)
        };
        let mut past: Vec<DynValue> = Vec::with_capacity(self.past.len());
        for s in &self.past {
            past.push(zeros(s.heads, 0, s.head_dim).map_err(|e| run_err(e.to_string()))?);
        }
        let mut tokens: Vec<i64> = Vec::new();
        let mut next = self.generation.decoder_start_token_id;
        for step in 0..self.generation.max_new_tokens {
            let seen = step + 1; // tokens fed so far, this one included
            let mut inputs: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::new();
            for name in &self.decoder_inputs {
                let v: ort::session::SessionInputValue<'_> = match name.as_str() {
                    "input_ids" => Tensor::from_array(([1usize, 1], vec![next]))
                        .map_err(|e| run_err(e.to_string()))?
                        .into_dyn()
                        .into(),
                    "encoder_hidden_states" => (&hidden).into(),
                    "use_cache_branch" => Tensor::from_array(([1usize], vec![step > 0]))
                        .map_err(|e| run_err(e.to_string()))?
                        .into_dyn()
                        .into(),
                    "attention_mask" | "decoder_attention_mask" => {
                        Tensor::from_array(([1usize, seen], vec![1i64; seen]))
                            .map_err(|e| run_err(e.to_string()))?
                            .into_dyn()
                            .into()
                    }
                    "encoder_attention_mask" => {
                        Tensor::from_array(([1usize, enc_len], vec![1i64; enc_len]))
                            .map_err(|e| run_err(e.to_string()))?
                            .into_dyn()
                            .into()
                    }
                    "position_ids" => Tensor::from_array(([1usize, 1], vec![step as i64]))
                        .map_err(|e| run_err(e.to_string()))?
                        .into_dyn()
                        .into(),
                    other => match self.past.iter().position(|s| s.input == other) {
                        Some(i) => (&past[i]).into(),
                        None => {
                            return Err(run_err(format!(
                                "decoder input {other} is not one the runner knows how to feed"
                            )))
                        }
                    },
                };
                inputs.push((name.clone(), v));
            }
            let mut out = self
                .decoder
                .run(inputs)
                .map_err(|e| run_err(format!("decoder step {step}: {e}")))?;
            let best = {
                let (shape, logits) = out["logits"]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| run_err(format!("logits: {e}")))?;
                let vocab = match **shape {
                    [1, t, v] if t >= 1 && v >= 1 => v as usize,
                    _ => {
                        return Err(run_err(format!(
                            "logits have shape {shape:?}, expected [1, T, V]"
                        )))
                    }
                };
                let last = &logits[logits.len() - vocab..];
                let mut best = 0usize;
                for (i, v) in last.iter().enumerate() {
                    if *v > last[best] {
                        best = i;
                    }
                }
                best as i64
            };
            // Every present.* feeds the next step's past_key_values.* (merged seq2seq exports
            // compute the cross-attention cache at the first step and pass it through after).
            let mut new_past = Vec::with_capacity(self.past.len());
            for s in &self.past {
                new_past.push(
                    out.remove(s.output.as_str())
                        .ok_or_else(|| run_err(format!("decoder gave no {}", s.output)))?,
                );
            }
            drop(out);
            past = new_past;
            if self.generation.eos_token_ids.contains(&best) {
                break;
            }
            tokens.push(best);
            next = best;
        }
        Ok(tokens)
    }
}

impl Captioner for OnnxCaptioner {
    fn name(&self) -> String {
        self.dir.display().to_string()
    }

    fn caption(&mut self, image: &ColorImage) -> Result<String, PerceptionError> {
        let ids = self.generate(image)?;
        let ids: Vec<u32> = ids.iter().map(|i| *i as u32).collect();
        let text = self
            .tokenizer
            .decode(&ids, true)
            .map_err(|e| PerceptionError::Run {
                model: self.dir.display().to_string(),
                reason: format!("tokenizer: {e}"),
            })?;
        Ok(text.trim().to_string())
    }
}
