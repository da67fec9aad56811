//! Perception through ONNX Runtime (`ort`, loaded at run time): the adapters that turn models
//! into the core's inputs and seams.
//!
//! Owns: loading the ONNX Runtime library ([`Runtime`]: from `ORT_DYLIB_PATH` or a path given,
//! with a clear error when it is missing or too old), execution providers tried in order
//! ([`Provider`]: `tensorrt`, `cuda`, `cpu`; the one that opened a model is reported), thread
//! counts, and opening a model with an error that names it ([`PerceptionError`]). The models
//! themselves live in submodules: [`embedder`] (sentence embeddings for text queries);
//! [`captioner`] (encoder-decoder VLM captioning with a KV cache);
//! [`worker`] runs keyframe perception (captioning) off the ingest path; [`detector`] runs
//! YOLO-family exports whose boxes the pipeline back-projects through depth; [`ocr`] reads text
//! with PP-OCR; [`appearance`] describes each detection's colours in the keyframe's image (no
//! model) so that look-alike instances are told apart.
//!
//! Nothing here is on the ingest path: the core only sees the [`crate::core::Embedder`] trait.

pub mod appearance;
pub mod captioner;
pub mod detector;
pub mod embedder;
pub mod ocr;
pub mod worker;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use ort::ep::{self, ExecutionProvider};
use ort::session::Session;

/// Why a model or the runtime is not available.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PerceptionError {
    /// The ONNX Runtime shared library could not be loaded.
    #[error(
        "ONNX Runtime library: {0} (set ORT_DYLIB_PATH to libonnxruntime.so.* of onnxruntime >= 1.31, \
         e.g. the PyPI wheel's onnxruntime/capi/ or JetPack's onnxruntime-gpu)"
    )]
    Runtime(String),
    /// A model file is missing, unreadable or not what the runner expects.
    #[error("model {path}: {reason}")]
    Model {
        /// The model (or its directory).
        path: PathBuf,
        /// What was wrong, and what was expected.
        reason: String,
    },
    /// Running a model failed.
    #[error("running {model}: {reason}")]
    Run {
        /// Which model.
        model: String,
        /// The runtime's message.
        reason: String,
    },
}

/// An execution provider, by the names users write in parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// NVIDIA TensorRT (Jetson / JetPack's onnxruntime-gpu).
    TensorRt,
    /// NVIDIA CUDA.
    Cuda,
    /// The CPU (always available).
    Cpu,
}

impl Provider {
    /// The parameter spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::TensorRt => "tensorrt",
            Self::Cuda => "cuda",
            Self::Cpu => "cpu",
        }
    }

    /// Whether the loaded ONNX Runtime library offers it.
    fn available(self) -> bool {
        match self {
            Self::TensorRt => ep::TensorRT::is_available().unwrap_or(false),
            Self::Cuda => ep::CUDA::is_available().unwrap_or(false),
            Self::Cpu => true,
        }
    }

    fn dispatch(self) -> ep::ExecutionProviderDispatch {
        match self {
            Self::TensorRt => ep::TensorRT::default().build().error_on_failure(),
            Self::Cuda => ep::CUDA::default().build().error_on_failure(),
            Self::Cpu => ep::CPU::default().build().error_on_failure(),
        }
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "tensorrt" => Ok(Self::TensorRt),
            "cuda" => Ok(Self::Cuda),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!("{other:?}: expected tensorrt, cuda or cpu")),
        }
    }
}

/// How models run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The ONNX Runtime library; `None` reads `ORT_DYLIB_PATH`.
    pub library: Option<PathBuf>,
    /// Execution providers to try, in order (the CPU is always the last resort).
    pub providers: Vec<Provider>,
    /// Threads within one operator (0: ONNX Runtime's default).
    pub intra_threads: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            library: None,
            providers: vec![Provider::TensorRt, Provider::Cuda, Provider::Cpu],
            intra_threads: 0,
        }
    }
}

impl RuntimeConfig {
    /// Parses a provider list such as `tensorrt,cuda,cpu`.
    ///
    /// # Errors
    /// The first unknown name.
    pub fn parse_providers(list: &str) -> Result<Vec<Provider>, String> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect()
    }
}

/// The loaded ONNX Runtime (one per process, as ONNX Runtime wants).
#[derive(Debug)]
pub struct Runtime {
    environment: ort::environment::Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// Loads ONNX Runtime once per process (later calls return the same runtime, whatever
    /// `config` they pass).
    ///
    /// # Errors
    /// [`PerceptionError::Runtime`] when `ORT_DYLIB_PATH` is unset and no library was given,
    /// the file cannot be loaded, or its version is older than 1.31.
    pub fn get(config: &RuntimeConfig) -> Result<&'static Runtime, PerceptionError> {
        RUNTIME
            .get_or_init(|| {
                let library = match &config.library {
                    Some(p) => p.clone(),
                    None => std::env::var_os("ORT_DYLIB_PATH")
                        .map(PathBuf::from)
                        .ok_or_else(|| "ORT_DYLIB_PATH is not set".to_string())?,
                };
                if !library.is_file() {
                    return Err(format!("{} does not exist", library.display()));
                }
                let environment = ort::init_from(&library)
                    .map_err(|e| e.to_string())?
                    .with_name("mnemo")
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(Runtime {
                    environment,
                    library,
                })
            })
            .as_ref()
            .map_err(|e| PerceptionError::Runtime(e.clone()))
    }

    /// The library in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Opens `model` with the first provider of `config` that the library offers and that
    /// accepts the model (falling back to the CPU). Returns the session and the provider.
    ///
    /// # Errors
    /// [`PerceptionError::Model`] naming the file when it is missing or no provider can load
    /// it.
    pub fn open(
        &self,
        model: &Path,
        config: &RuntimeConfig,
    ) -> Result<(Session, Provider), PerceptionError> {
        let err = |reason: String| PerceptionError::Model {
            path: model.to_path_buf(),
            reason,
        };
        if !model.is_file() {
            return Err(err(
                "file not found (run models/prepare.sh, or set the model path)".into(),
            ));
        }
        let mut tried = Vec::new();
        let mut providers = config.providers.clone();
        if !providers.contains(&Provider::Cpu) {
            providers.push(Provider::Cpu);
        }
        for p in providers {
            if !p.available() {
                tried.push(format!("{}: not in this ONNX Runtime build", p.name()));
                continue;
            }
            let built = Session::builder(&self.environment)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    b.with_execution_providers([p.dispatch()])
                        .map_err(|e| e.to_string())
                })
                .and_then(|b| {
                    if config.intra_threads > 0 {
                        b.with_intra_threads(config.intra_threads)
                            .map_err(|e| e.to_string())
                    } else {
                        Ok(b)
                    }
                })
                .and_then(|mut b| b.commit_from_file(model).map_err(|e| e.to_string()));
            match built {
                Ok(s) => return Ok((s, p)),
                Err(e) => tried.push(format!("{}: {e}", p.name())),
            }
        }
        Err(err(format!(
            "no execution provider loaded it ({})",
            tried.join("; ")
        )))
    }
}

/// Which embedder text queries use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderChoice {
    /// The core's lexical matcher (word overlap; no model).
    Lexical,
    /// all-MiniLM-L6-v2 sentence embeddings: `minilm.onnx` + `tokenizer.json` in this
    /// directory (what `models/prepare.sh` writes).
    MiniLm(PathBuf),
}

impl FromStr for EmbedderChoice {
    type Err = String;

    /// `lexical`, `minilm` (the `models/` directory) or `minilm=DIR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "lexical" => Ok(Self::Lexical),
            "minilm" => Ok(Self::MiniLm(PathBuf::from("models"))),
            other => match other.strip_prefix("minilm=") {
                Some(dir) if !dir.is_empty() => Ok(Self::MiniLm(PathBuf::from(dir))),
                _ => Err(format!("{other:?}: expected lexical, minilm or minilm=DIR")),
            },
        }
    }
}

impl std::fmt::Display for EmbedderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Lexical => write!(f, "lexical"),
            Self::MiniLm(dir) => write!(f, "minilm={}", dir.display()),
        }
    }
}

impl EmbedderChoice {
    /// Opens the embedder.
    ///
    /// # Errors
    /// [`PerceptionError`] naming the model or the runtime when a model cannot be opened.
    pub fn open(
        &self,
        config: &RuntimeConfig,
    ) -> Result<Box<dyn crate::core::Embedder>, PerceptionError> {
        Ok(match self {
            Self::Lexical => Box::new(crate::core::LexicalEmbedder::default()),
            Self::MiniLm(dir) => Box::new(embedder::SentenceEmbedder::open_dir(dir, config)?),
        })
    }
}

/// Which keyframe models to run and how: the node's `captioning.*`, `detector.*` and
/// `ocr.model_dir` parameters, or `mnemo replay`'s (which may come from the same file).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyframeModelsConfig {
    /// An exported captioning model's directory (`None`: no captions).
    pub captioner_dir: Option<PathBuf>,
    /// Caption length cap in tokens (0: the model's generation config).
    pub caption_max_tokens: usize,
    /// A YOLO-family ONNX export (`None`: no detector).
    pub detector_model: Option<PathBuf>,
    /// Its class names, one per line (`None`: the model's `names` metadata).
    pub detector_labels: Option<PathBuf>,
    /// Its score threshold.
    pub detector_score_threshold: f32,
    /// PP-OCR models directory (`None`: no text landmarks).
    pub ocr_dir: Option<PathBuf>,
}

/// A keyframe model that opened, with a line for the log saying what runs where.
pub struct OpenedModel {
    /// The model.
    pub model: Box<dyn worker::KeyframeModel>,
    /// E.g. `detector yolo11n.onnx on cuda (80 classes)`.
    pub description: String,
}

/// A keyframe model that did not open.
#[derive(Debug)]
pub struct ModelFailure {
    /// Which, e.g. `detector (yolo11n.onnx)`.
    pub what: String,
    /// Why.
    pub error: PerceptionError,
    /// What is lost without it, e.g. `captions`.
    pub loses: &'static str,
}

impl std::fmt::Display for ModelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

impl KeyframeModelsConfig {
    /// Opens each model asked for, in order captioner, detector, OCR; each one opened or why
    /// not (the node runs without a failed one, `mnemo replay` stops). `appearance`: the
    /// detector describes its boxes' colours (the pipeline's `appearance`).
    pub fn open(
        &self,
        runtime: &RuntimeConfig,
        appearance: bool,
    ) -> Vec<Result<OpenedModel, ModelFailure>> {
        let mut out = Vec::new();
        if let Some(dir) = &self.captioner_dir {
            out.push(
                captioner::OnnxCaptioner::open_dir(dir, runtime)
                    .map(|mut c| {
                        if self.caption_max_tokens > 0 {
                            c.set_max_new_tokens(self.caption_max_tokens);
                        }
                        let description = format!(
                            "captioner {} on {} (at most {} tokens)",
                            dir.display(),
                            c.provider().name(),
                            c.generation().max_new_tokens
                        );
                        OpenedModel {
                            model: Box::new(worker::CaptionModel(Box::new(c))),
                            description,
                        }
                    })
                    .map_err(|error| ModelFailure {
                        what: format!("captioning ({})", dir.display()),
                        error,
                        loses: "captions",
                    }),
            );
        }
        if let Some(model) = &self.detector_model {
            let config = detector::DetectorConfig {
                score_threshold: self.detector_score_threshold,
                appearance,
                ..detector::DetectorConfig::default()
            };
            out.push(
                detector::YoloDetector::open(
                    model,
                    self.detector_labels.as_deref(),
                    runtime,
                    config,
                )
                .map(|d| OpenedModel {
                    description: format!(
                        "detector {} on {} ({} classes)",
                        model.display(),
                        d.provider().name(),
                        d.names().len()
                    ),
                    model: Box::new(d),
                })
                .map_err(|error| ModelFailure {
                    what: format!("detector ({})", model.display()),
                    error,
                    loses: "it",
                }),
            );
        }
        if let Some(dir) = &self.ocr_dir {
            out.push(
                ocr::Ocr::open_dir(dir, runtime)
                    .map(|o| OpenedModel {
                        description: format!("ocr {} on {}", dir.display(), o.provider().name()),
                        model: Box::new(o),
                    })
                    .map_err(|error| ModelFailure {
                        what: format!("ocr ({})", dir.display()),
                        error,
                        loses: "text landmarks",
                    }),
            );
        }
        out
    }
}

/// The ONNX Runtime library inside a Python venv's `onnxruntime` wheel
/// (`VENV/lib/python*/site-packages/onnxruntime/capi/libonnxruntime.so.*`), what `.ci/setup`
/// installs; `None` when there is none.
pub fn onnxruntime_in_venv(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .filter_map(|py| std::fs::read_dir(py.path().join("site-packages/onnxruntime/capi")).ok())
        .flatten()
        .flatten()
        .map(|f| f.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so."))
        })
}

/// The names of a session's inputs and outputs, for error messages.
pub fn signature(session: &Session) -> String {
    let names = |o: &[ort::value::Outlet]| {
        o.iter()
            .map(|x| x.name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "inputs [{}], outputs [{}]",
        names(session.inputs()),
        names(session.outputs())
    )
}
