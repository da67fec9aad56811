//! Sentence embeddings (all-MiniLM-L6-v2 class, BERT-style ONNX exports) behind the core's
//! [`Embedder`] trait, so `where "coffee cup"` finds objects labelled `mug`.
//!
//! Owns: tokenisation (`tokenizers`, the model's `tokenizer.json`), batching with padding,
//! running the model, pooling (the graph's `sentence_embedding` output when it has one, else
//! attention-masked mean pooling of `last_hidden_state` / the first output), L2 normalisation,
//! and a cache per text (labels repeat; the memory asks for each label once but queries repeat).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{Tokenizer, TruncationParams};

use super::{signature, PerceptionError, Provider, Runtime, RuntimeConfig};
use crate::core::{CoreError, Embedder};

/// Longest input in tokens (MiniLM was trained on 256).
pub const MAX_TOKENS: usize = 256;

/// Most texts kept in the cache (the oldest half is dropped beyond it).
pub const CACHE_SIZE: usize = 4096;

/// A sentence embedder over an ONNX model.
pub struct SentenceEmbedder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    model: PathBuf,
    provider: Provider,
    dim: usize,
    has_token_type_ids: bool,
    pooled_output: Option<String>,
    token_output: String,
    cache: Mutex<HashMap<String, Vec<f32>>>,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl SentenceEmbedder {
    /// Opens `model` (an `.onnx` file with inputs `input_ids`, `attention_mask` and optionally
    /// `token_type_ids`) and `tokenizer` (a `tokenizer.json`).
    ///
    /// # Errors
    /// [`PerceptionError`] naming the file: the runtime or file missing, a tokenizer that does
    /// not parse, a model without the expected inputs or outputs, or one that fails on a probe
    /// sentence.
    pub fn open(
        model: &Path,
        tokenizer: &Path,
        config: &RuntimeConfig,
    ) -> Result<Self, PerceptionError> {
        let runtime = Runtime::get(config)?;
        for f in [model, tokenizer] {
            if !f.is_file() {
                return Err(PerceptionError::Model {
                    path: f.to_path_buf(),
                    reason: "file not found (run models/prepare.sh, or set the model path)".into(),
                });
            }
        }
        let mut tok = Tokenizer::from_file(tokenizer).map_err(|e| PerceptionError::Model {
            path: tokenizer.to_path_buf(),
            reason: format!("not a tokenizer.json: {e}"),
        })?;
        tok.with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..TruncationParams::default()
        }))
        .map_err(|e| PerceptionError::Model {
            path: tokenizer.to_path_buf(),
            reason: e.to_string(),
        })?;
        tok.with_padding(None);
        let (session, provider) = runtime.open(model, config)?;
        let bad = |reason: String| PerceptionError::Model {
            path: model.to_path_buf(),
            reason,
        };
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for needed in ["input_ids", "attention_mask"] {
            if !inputs.contains(&needed) {
                return Err(bad(format!(
                    "expected inputs input_ids, attention_mask [, token_type_ids]; it has {}",
                    signature(&session)
                )));
            }
        }
        let outputs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let pooled_output = outputs.iter().find(|o| *o == "sentence_embedding").cloned();
        let token_output = outputs
            .iter()
            .find(|o| *o == "last_hidden_state")
            .or(outputs.first())
            .cloned()
            .ok_or_else(|| bad("the model has no outputs".into()))?;
        let mut me = Self {
            has_token_type_ids: inputs.contains(&"token_type_ids"),
            session: Mutex::new(session),
            tokenizer: tok,
            model: model.to_path_buf(),
            provider,
            dim: 0,
            pooled_output,
            token_output,
            cache: Mutex::new(HashMap::new()),
        };
        let probe = me.run(&["a probe sentence"])?;
        me.dim = probe.first().map_or(0, Vec::len);
        if me.dim == 0 {
            return Err(bad("the model returned an empty embedding".into()));
        }
        Ok(me)
    }

    /// Opens `minilm.onnx` and `tokenizer.json` in `dir` (what `models/prepare.sh` writes).
    ///
    /// # Errors
    /// As [`SentenceEmbedder::open`].
    pub fn open_dir(dir: &Path, config: &RuntimeConfig) -> Result<Self, PerceptionError> {
        Self::open(
            &dir.join("minilm.onnx"),
            &dir.join("tokenizer.json"),
            config,
        )
    }

    /// The execution provider the model runs on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The model file.
    pub fn model(&self) -> &Path {
        &self.model
    }

    /// Embeds a batch of texts in one model run (no cache): L2-normalised vectors, all zeros
    /// for a text without tokens.
    ///
    /// # Errors
    /// [`PerceptionError::Run`] when tokenising or the model fails.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, PerceptionError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.run(texts)
    }

    fn run(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, PerceptionError> {
        let run_err = |reason: String| PerceptionError::Run {
            model: self.model.display().to_string(),
            reason,
        };
        let encodings = texts
            .iter()
            .map(|t| self.tokenizer.encode(*t, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| run_err(format!("tokenizer: {e}")))?;
        let batch = encodings.len();
        let seq = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        let mut types = vec![0i64; batch * seq];
        for (b, e) in encodings.iter().enumerate() {
            for (j, ((&id, &m), &t)) in e
                .get_ids()
                .iter()
                .zip(e.get_attention_mask())
                .zip(e.get_type_ids())
                .enumerate()
            {
                ids[b * seq + j] = i64::from(id);
                mask[b * seq + j] = i64::from(m);
                types[b * seq + j] = i64::from(t);
            }
        }
        let tensor = |v: Vec<i64>| {
            Tensor::from_array(([batch, seq], v.into_boxed_slice()))
                .map_err(|e| run_err(e.to_string()))
        };
        let mut inputs = vec![
            ("input_ids", tensor(ids)?.into_dyn()),
            ("attention_mask", tensor(mask.clone())?.into_dyn()),
        ];
        if self.has_token_type_ids {
            inputs.push(("token_type_ids", tensor(types)?.into_dyn()));
        }
        let mut session = self
            .session
            .lock()
            .map_err(|_| run_err("a previous run panicked".into()))?;
        let outputs = session.run(inputs).map_err(|e| run_err(e.to_string()))?;
        let mut out = Vec::with_capacity(batch);
        if let Some(name) = &self.pooled_output {
            let (shape, data) = outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| run_err(format!("{name}: {e}")))?;
            let dim = *shape.last().unwrap_or(&0) as usize;
            if shape.len() != 2 || shape[0] as usize != batch || dim == 0 {
                return Err(run_err(format!(
                    "{name} has shape {shape:?}, expected [{batch}, D]"
                )));
            }
            for b in 0..batch {
                out.push(normalised(data[b * dim..(b + 1) * dim].to_vec()));
            }
        } else {
            let name = self.token_output.as_str();
            let (shape, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(|e| run_err(format!("{name}: {e}")))?;
            if shape.len() != 3 || shape[0] as usize != batch || shape[1] as usize != seq {
                return Err(run_err(format!(
                    "{name} has shape {shape:?}, expected [{batch}, {seq}, D]"
                )));
            }
            let dim = shape[2] as usize;
            for b in 0..batch {
                let mut v = vec![0.0f32; dim];
                let mut n = 0.0f32;
                for j in 0..seq {
                    if mask[b * seq + j] == 0 {
                        continue;
                    }
                    n += 1.0;
                    let row = &data[(b * seq + j) * dim..(b * seq + j + 1) * dim];
                    v.iter_mut().zip(row).for_each(|(a, x)| *a += x);
                }
                if n > 0.0 {
                    v.iter_mut().for_each(|a| *a /= n);
                }
                out.push(normalised(v));
            }
        }
        Ok(out)
    }
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

impl Embedder for SentenceEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, CoreError> {
        if text.trim().is_empty() {
            return Ok(vec![0.0; self.dim]);
        }
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(text).cloned()) {
            return Ok(v);
        }
        let v = self
            .run(&[text])
            .map_err(|e| CoreError::Embedder(e.to_string()))?
            .pop()
            .unwrap_or_default();
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_SIZE {
                let drop: Vec<String> = c.keys().take(CACHE_SIZE / 2).cloned().collect();
                drop.iter().for_each(|k| {
                    c.remove(k);
                });
            }
            c.insert(text.to_string(), v.clone());
        }
        Ok(v)
    }
}
