//! ROS 2 command-line arguments and parameters, parsed once into a typed, validated
//! [`NodeConfig`].
//!
//! Owns: what `ros2 run` / `ros2 launch` pass after `--ros-args` (`-p name:=value`,
//! `--params-file FILE`, `-r from:=to`, `-r __node:=`, `-r __ns:=`, `--log-level`), the
//! params-file format (top-level keys `/**`, the node name or its fully qualified name, with
//! `*` and `**` wildcards; `ros__parameters` maps flattened with `.`), parameter values as ROS
//! types ([`ParamValue`]), and the conversion to [`NodeConfig`] with units and ranges, where a
//! bad value is an error naming the parameter. It does not talk to DDS and does not serve the
//! parameter services (the node does, from the same [`ParamValue`]s).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use yaml_rust2::{Yaml, YamlLoader};

use crate::core::MemoryConfig;
use crate::ros::pipeline::{KeyframePolicy, PipelineConfig};
use crate::viz::RerunTarget;

/// A parameter value, as `rcl_interfaces/msg/ParameterValue` types them.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `bool`.
    Bool(bool),
    /// `integer` (int64).
    Integer(i64),
    /// `double`.
    Double(f64),
    /// `string`.
    String(String),
    /// `bool[]`.
    BoolArray(Vec<bool>),
    /// `integer[]`.
    IntegerArray(Vec<i64>),
    /// `double[]`.
    DoubleArray(Vec<f64>),
    /// `string[]`.
    StringArray(Vec<String>),
}

impl ParamValue {
    /// The ROS type name (`bool`, `integer`, `double`, `string`, `double[]`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Bool(_) => "bool",
            Self::Integer(_) => "integer",
            Self::Double(_) => "double",
            Self::String(_) => "string",
            Self::BoolArray(_) => "bool[]",
            Self::IntegerArray(_) => "integer[]",
            Self::DoubleArray(_) => "double[]",
            Self::StringArray(_) => "string[]",
        }
    }

    /// From a YAML value (what `-p name:=value` and params files hold); `None` for maps,
    /// nulls and mixed arrays.
    fn from_yaml(y: &Yaml) -> Option<Self> {
        Some(match y {
            Yaml::Boolean(b) => Self::Bool(*b),
            Yaml::Integer(i) => Self::Integer(*i),
            Yaml::Real(_) => Self::Double(y.as_f64()?),
            Yaml::String(s) => Self::String(s.clone()),
            Yaml::Array(items) => {
                if items.iter().all(|i| matches!(i, Yaml::Boolean(_))) && !items.is_empty() {
                    Self::BoolArray(items.iter().filter_map(Yaml::as_bool).collect())
                } else if items.iter().all(|i| matches!(i, Yaml::Integer(_))) && !items.is_empty() {
                    Self::IntegerArray(items.iter().filter_map(Yaml::as_i64).collect())
                } else if items
                    .iter()
                    .all(|i| matches!(i, Yaml::Integer(_) | Yaml::Real(_)))
                    && !items.is_empty()
                {
                    Self::DoubleArray(items.iter().filter_map(yaml_number).collect())
                } else if items.iter().all(|i| matches!(i, Yaml::String(_))) {
                    Self::StringArray(
                        items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                    )
                } else {
                    return None;
                }
            }
            _ => return None,
        })
    }
}

fn yaml_number(y: &Yaml) -> Option<f64> {
    match y {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(_) => y.as_f64(),
        _ => None,
    }
}

/// Why arguments or parameters were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A `--ros-args` argument is malformed or lacks its value.
    #[error("--ros-args: {0}")]
    Args(String),
    /// A params file cannot be read or is not a ROS 2 params file.
    #[error("params file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A parameter has a value of the wrong type or out of range.
    #[error("parameter {name}: {reason}")]
    Invalid {
        /// The parameter's name.
        name: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}

fn invalid(name: &str, reason: impl Into<String>) -> ParamError {
    ParamError::Invalid {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// What `--ros-args` said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosArgs {
    /// `-r __node:=NAME`.
    pub node_name: Option<String>,
    /// `-r __ns:=/NS`.
    pub namespace: Option<String>,
    /// `-r from:=to` topic and service remappings, in order.
    pub remaps: Vec<(String, String)>,
    /// Parameter sources in command-line order: later ones win.
    pub sources: Vec<ParamSource>,
    /// `--log-level LEVEL` (or `NAME:=LEVEL`), as given.
    pub log_levels: Vec<String>,
    /// Arguments outside `--ros-args ... [--]`, for the program itself.
    pub other: Vec<String>,
}

/// Where parameters come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    /// `-p name:=value`.
    Override(String, ParamValue),
    /// `--params-file FILE`.
    File(PathBuf),
}

fn split_assign(arg: &str, flag: &str) -> Result<(String, String), ParamError> {
    match arg.split_once(":=") {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(ParamError::Args(format!(
            "{flag} {arg:?}: expected NAME:=VALUE"
        ))),
    }
}

/// Parses a value as ROS does (YAML), e.g. `-p k:=0.5` is a double, `-p k:=true` a bool,
/// `-p k:=[1, 2]` an integer array, `-p k:=map` a string.
///
/// # Errors
/// [`ParamError::Args`] for maps, nulls and mixed arrays.
pub fn parse_value(name: &str, text: &str) -> Result<ParamValue, ParamError> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| ParamError::Args(format!("-p {name}:={text}: {e}")))?;
    match docs.first() {
        None => Ok(ParamValue::String(String::new())),
        Some(y) => ParamValue::from_yaml(y).ok_or_else(|| {
            ParamError::Args(format!(
                "-p {name}:={text}: not a bool, integer, double, string or array of one of them"
            ))
        }),
    }
}

impl RosArgs {
    /// Parses a process's arguments (without the program name).
    ///
    /// # Errors
    /// [`ParamError::Args`] for a flag without its value, a malformed `NAME:=VALUE`, or a bad
    /// node name or namespace.
    pub fn parse(args: &[String]) -> Result<Self, ParamError> {
        let mut out = Self::default();
        let mut in_ros = false;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if !in_ros {
                if arg == "--ros-args" {
                    in_ros = true;
                } else {
                    out.other.push(arg.clone());
                }
                continue;
            }
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| ParamError::Args(format!("{flag} needs a value")))
            };
            match arg.as_str() {
                "--" => in_ros = false,
                "--ros-args" => {}
                "-p" | "--param" => {
                    let (k, v) = split_assign(&value(arg)?, arg)?;
                    let v = parse_value(&k, &v)?;
                    out.sources.push(ParamSource::Override(k, v));
                }
                "--params-file" => out.sources.push(ParamSource::File(value(arg)?.into())),
                "-r" | "--remap" => {
                    let (from, to) = split_assign(&value(arg)?, arg)?;
                    match from.as_str() {
                        "__node" | "__name" => {
                            validate_name(&to)?;
                            out.node_name = Some(to);
                        }
                        "__ns" => {
                            validate_namespace(&to)?;
                            out.namespace = Some(to);
                        }
                        _ => out.remaps.push((from, to)),
                    }
                }
                "--log-level" => out.log_levels.push(value(arg)?),
                "-e" | "--enclave" => {
                    value(arg)?;
                }
                "--disable-rosout-logs"
                | "--enable-rosout-logs"
                | "--disable-stdout-logs"
                | "--enable-stdout-logs"
                | "--disable-external-lib-logs"
                | "--enable-external-lib-logs" => {}
                _ => {
                    return Err(ParamError::Args(format!(
                        "unknown argument {arg:?} (expected -p, --params-file, -r, --log-level, \
                         -e or --)"
                    )))
                }
            }
        }
        Ok(out)
    }

    /// The node's fully qualified name (`/ns/name`).
    pub fn fully_qualified_name(&self, default_name: &str) -> String {
        let name = self.node_name.as_deref().unwrap_or(default_name);
        match self
            .namespace
            .as_deref()
            .unwrap_or("/")
            .trim_end_matches('/')
        {
            "" => format!("/{name}"),
            ns => format!("{ns}/{name}"),
        }
    }

    /// Every parameter for the node `fqn`, from params files and overrides in order (later
    /// wins), with nested keys flattened with `.`.
    ///
    /// # Errors
    /// [`ParamError::File`] when a params file cannot be read or parsed.
    pub fn parameters(&self, fqn: &str) -> Result<BTreeMap<String, ParamValue>, ParamError> {
        let mut out = BTreeMap::new();
        for source in &self.sources {
            match source {
                ParamSource::Override(k, v) => {
                    out.insert(k.clone(), v.clone());
                }
                ParamSource::File(path) => out.extend(read_params_file(path, fqn)?),
            }
        }
        Ok(out)
    }
}

fn validate_name(name: &str) -> Result<(), ParamError> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ParamError::Args(format!(
            "__node:={name}: a node name is letters, digits and _, not starting with a digit"
        )))
    }
}

fn validate_namespace(ns: &str) -> Result<(), ParamError> {
    let ok = ns.starts_with('/')
        && ns
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .all(|s| validate_name(s).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ParamError::Args(format!(
            "__ns:={ns}: a namespace is absolute (/robot1) made of valid names"
        )))
    }
}

/// Whether a params-file key selects the node `fqn` (`/ns/name`): `/**`, the bare node name
/// (in any namespace), or a fully qualified pattern where `*` matches one name and `**` any
/// number of them.
pub fn selects(pattern: &str, fqn: &str) -> bool {
    let node = fqn.rsplit('/').next().unwrap_or(fqn);
    if !pattern.starts_with('/') {
        return pattern == node || pattern == "**";
    }
    fn matches(p: &[&str], n: &[&str]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(&"**"), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some(&"*"), Some(_)) => matches(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let n: Vec<&str> = fqn.split('/').filter(|s| !s.is_empty()).collect();
    matches(&p, &n)
}

fn flatten(
    prefix: &str,
    y: &Yaml,
    out: &mut BTreeMap<String, ParamValue>,
    path: &Path,
) -> Result<(), ParamError> {
    let Yaml::Hash(map) = y else {
        return Err(ParamError::File {
            path: path.into(),
            reason: format!("{prefix}: expected a map of parameters"),
        });
    };
    for (k, v) in map {
        let key = match k {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            _ => {
                return Err(ParamError::File {
                    path: path.into(),
                    reason: format!("{prefix}: a parameter name must be a string"),
                })
            }
        };
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        if matches!(v, Yaml::Hash(_)) {
            flatten(&name, v, out, path)?;
        } else {
            let value = ParamValue::from_yaml(v).ok_or_else(|| ParamError::File {
                path: path.into(),
                reason: format!(
                    "{name}: not a bool, integer, double, string or array of one of them"
                ),
            })?;
            out.insert(name, value);
        }
    }
    Ok(())
}

/// Reads the parameters a params file gives the node `fqn` (sections in file order, later
/// ones win).
///
/// # Errors
/// [`ParamError::File`] when the file cannot be read, is not YAML, or a section lacks
/// `ros__parameters` or holds values ROS cannot type.
pub fn read_params_file(
    path: &Path,
    fqn: &str,
) -> Result<BTreeMap<String, ParamValue>, ParamError> {
    let err = |reason: String| ParamError::File {
        path: path.into(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| err(e.to_string()))?;
    let mut out = BTreeMap::new();
    let Some(Yaml::Hash(top)) = docs.first() else {
        return Err(err("expected a map of node names to ros__parameters".into()));
    };
    for (key, section) in top {
        let Yaml::String(pattern) = key else {
            return Err(err("a node key must be a string".into()));
        };
        if !selects(pattern, fqn) {
            continue;
        }
        let params = section["ros__parameters"].clone();
        if params.is_badvalue() {
            return Err(err(format!("{pattern}: no ros__parameters")));
        }
        flatten("", &params, &mut out, path)?;
    }
    Ok(out)
}

/// QoS of an input subscription, by the names of `rclcpp`'s presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosProfile {
    /// Best effort, volatile, keep last 5 (`rclcpp::SensorDataQoS`): camera drivers.
    SensorData,
    /// Reliable, volatile, keep last 10.
    Reliable,
    /// Reliable, volatile, keep last 10 (`rmw_qos_profile_default`).
    SystemDefault,
}

impl FromStr for QosProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sensor_data" => Ok(Self::SensorData),
            "reliable" => Ok(Self::Reliable),
            "system_default" => Ok(Self::SystemDefault),
            _ => Err(format!(
                "{s:?}: expected sensor_data, reliable or system_default"
            )),
        }
    }
}

/// How service request ids are carried (fixed per server; see `STACK.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceMapping {
    /// What rclcpp/rclpy on Fast DDS use (the ROS 2 default RMW).
    Enhanced,
    /// Cyclone DDS's `{guid, seq}` header before the payload.
    Cyclone,
    /// The plain DDS-RPC basic mapping.
    Basic,
}

impl FromStr for ServiceMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enhanced" => Ok(Self::Enhanced),
            "cyclone" => Ok(Self::Cyclone),
            "basic" => Ok(Self::Basic),
            _ => Err(format!("{s:?}: expected enhanced, cyclone or basic")),
        }
    }
}

/// Input topics and their QoS.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTopic {
    /// Topic name (relative names resolve in the node's namespace).
    pub topic: String,
    /// Subscription QoS.
    pub qos: QosProfile,
}

/// Input topics of the node.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTopics {
    /// `nav_msgs/Odometry`.
    pub odom: InputTopic,
    /// `sensor_msgs/CameraInfo`.
    pub camera_info: InputTopic,
    /// `sensor_msgs/Image` colour.
    pub color: InputTopic,
    /// `sensor_msgs/CompressedImage` colour (jpeg/png).
    pub color_compressed: InputTopic,
    /// `sensor_msgs/Image` depth (16UC1 mm / 32FC1 m) aligned with colour.
    pub depth: InputTopic,
    /// `vision_msgs/Detection3DArray` or `Detection2DArray`.
    pub detections: InputTopic,
    /// Whether `detections` carries `Detection2DArray` (back-projected through depth) instead
    /// of `Detection3DArray` (parameter `detections_type`: `3d` or `2d`).
    pub detections_2d: bool,
}

/// Persistence settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreParams {
    /// The database file; `None` keeps the memory in RAM only (`db_path: ""`).
    pub db_path: Option<PathBuf>,
    /// Commit when the oldest change is this old, s.
    pub commit_interval_s: f64,
    /// Commit when this many changes wait.
    pub commit_max_changes: usize,
    /// Events recorded this recently stay in RAM, s.
    pub hot_window_s: f64,
    /// Visits older than this become one summary per object and day, s; `None`: never.
    pub consolidate_after_s: Option<f64>,
    /// Events and captions older than this are deleted, s; `None`: never.
    pub max_age_s: Option<f64>,
}

impl StoreParams {
    /// What stays in RAM and what is consolidated or deleted, as the store takes it.
    pub fn retention(&self) -> crate::store::RetentionConfig {
        crate::store::RetentionConfig {
            hot_window_s: self.hot_window_s,
            consolidate_after_s: self.consolidate_after_s,
            max_age_s: self.max_age_s,
            ..crate::store::RetentionConfig::default()
        }
    }

    /// When the store commits (group commit).
    pub fn commit_policy(&self) -> crate::store::CommitPolicy {
        crate::store::CommitPolicy {
            max_delay: std::time::Duration::from_secs_f64(self.commit_interval_s),
            max_changes: self.commit_max_changes,
        }
    }
}

/// Everything the node is configured with, typed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Node name (`-r __node:=` or the default `mnemo`).
    pub node_name: String,
    /// Namespace (`-r __ns:=`, default `/`).
    pub namespace: String,
    /// Use `/clock` instead of the system clock.
    pub use_sim_time: bool,
    /// Start active without a lifecycle manager.
    pub autostart: bool,
    /// Frames, keyframe policy, time sync and TF waiting of the ingest pipeline.
    pub pipeline: PipelineConfig,
    /// Association gates and change detection of the memory.
    pub memory: MemoryConfig,
    /// `appearance.association_min_cosine`: the association bound that colour descriptors
    /// bring (`memory.association_min_appearance_cosine` holds it while `appearance.enabled`).
    pub appearance_association_min_cosine: f32,
    /// Input topics and QoS.
    pub topics: InputTopics,
    /// Persistence.
    pub store: StoreParams,
    /// Keyframes waiting for perception; the oldest is dropped beyond it.
    pub perception_queue: usize,
    /// Keyframe models: the captioner (`captioning.model_dir` while `captioning.enabled`,
    /// `captioning.max_new_tokens`), the detector (`detector.model`, `detector.labels`,
    /// `detector.score_threshold`; off when unset) and OCR (`ocr.model_dir`: `ppocr_det.onnx`,
    /// `ppocr_rec.onnx`; off when unset).
    pub models: crate::perception::KeyframeModelsConfig,
    /// Rerun visualisation.
    pub rerun: RerunTarget,
    /// Text matching for queries and captions (parameter `embedder`).
    pub embedder: crate::perception::EmbedderChoice,
    /// ONNX Runtime: execution providers in order and threads (`perception.providers`,
    /// `perception.intra_threads`); the library comes from `ORT_DYLIB_PATH`.
    pub runtime: crate::perception::RuntimeConfig,
    /// How service request ids are carried.
    pub service_mapping: ServiceMapping,
    /// `/diagnostics` period, s.
    pub diagnostics_period_s: f64,
    /// Parameters given that the node does not know (warned about at startup, e.g. another
    /// node's keys in a shared `/**` section).
    pub unknown: Vec<String>,
    /// Every parameter the node knows with the value in effect (given or default), typed as
    /// the node reads it: what it declares, so `ros2 param list/get` show them.
    pub effective: BTreeMap<String, ParamValue>,
}

/// Reads typed parameters, remembering which were used.
struct Reader<'a> {
    params: &'a BTreeMap<String, ParamValue>,
    used: std::collections::BTreeSet<&'a str>,
    /// The value in effect of every parameter read (given or default), typed.
    effective: BTreeMap<String, ParamValue>,
}

impl<'a> Reader<'a> {
    fn get(&mut self, name: &str) -> Option<&'a ParamValue> {
        let (k, v) = self.params.get_key_value(name)?;
        self.used.insert(k.as_str());
        Some(v)
    }

    fn bool(&mut self, name: &str, default: bool) -> Result<bool, ParamError> {
        let b = match self.get(name) {
            None => default,
            Some(ParamValue::Bool(b)) => *b,
            Some(v) => {
                return Err(invalid(
                    name,
                    format!("expected a bool, got {}", v.type_name()),
                ))
            }
        };
        self.effective.insert(name.into(), ParamValue::Bool(b));
        Ok(b)
    }

    fn string(&mut self, name: &str, default: &str) -> Result<String, ParamError> {
        let s = match self.get(name) {
            None => default.to_string(),
            Some(ParamValue::String(s)) => s.clone(),
            Some(v) => {
                return Err(invalid(
                    name,
                    format!("expected a string, got {}", v.type_name()),
                ))
            }
        };
        self.effective
            .insert(name.into(), ParamValue::String(s.clone()));
        Ok(s)
    }

    /// A `string[]` (a plain string is taken as a one-element array, as `-p name:=text` gives).
    fn strings(&mut self, name: &str, default: &[&str]) -> Result<Vec<String>, ParamError> {
        let v: Vec<String> = match self.get(name) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(ParamValue::StringArray(a)) => a.clone(),
            Some(ParamValue::String(s)) => vec![s.clone()],
            Some(v) => {
                return Err(invalid(
                    name,
                    format!("expected a string array, got {}", v.type_name()),
                ))
            }
        };
        self.effective
            .insert(name.into(), ParamValue::StringArray(v.clone()));
        Ok(v)
    }

    fn parsed<T: FromStr<Err = String>>(
        &mut self,
        name: &str,
        default: &str,
    ) -> Result<T, ParamError> {
        self.string(name, default)?
            .parse()
            .map_err(|e: String| invalid(name, e))
    }

    /// A number in `[min, max]` (integers are accepted for doubles, as ROS users write `1`).
    fn f64(&mut self, name: &str, default: f64, min: f64, max: f64) -> Result<f64, ParamError> {
        let v = match self.get(name) {
            None => default,
            Some(ParamValue::Double(d)) => *d,
            Some(ParamValue::Integer(i)) => *i as f64,
            Some(v) => {
                return Err(invalid(
                    name,
                    format!("expected a double, got {}", v.type_name()),
                ))
            }
        };
        if v.is_finite() && v >= min && v <= max {
            self.effective.insert(name.into(), ParamValue::Double(v));
            Ok(v)
        } else {
            Err(invalid(name, format!("{v} is outside [{min}, {max}]")))
        }
    }

    /// [`Self::f64`] for an `f32` field: the default is offered as written (0.8, not
    /// 0.800000011920929), so `ros2 param get` and the documented file show the same value.
    fn f32(&mut self, name: &str, default: f32, min: f64, max: f64) -> Result<f32, ParamError> {
        let as_written = default.to_string().parse().unwrap_or(f64::from(default));
        Ok(self.f64(name, as_written, min, max)? as f32)
    }

    fn usize(
        &mut self,
        name: &str,
        default: usize,
        min: i64,
        max: i64,
    ) -> Result<usize, ParamError> {
        let n = match self.get(name) {
            None => default,
            Some(ParamValue::Integer(i)) if (min..=max).contains(i) => *i as usize,
            Some(ParamValue::Integer(i)) => {
                return Err(invalid(name, format!("{i} is outside [{min}, {max}]")))
            }
            Some(v) => {
                return Err(invalid(
                    name,
                    format!("expected an integer, got {}", v.type_name()),
                ))
            }
        };
        self.effective
            .insert(name.into(), ParamValue::Integer(n as i64));
        Ok(n)
    }

    fn frame(&mut self, name: &str, default: &str) -> Result<String, ParamError> {
        let f = self.string(name, default)?;
        if f.is_empty() || f.starts_with('/') || f.contains(char::is_whitespace) {
            Err(invalid(
                name,
                format!("{f:?}: a tf2 frame id is non-empty, without a leading / or spaces"),
            ))
        } else {
            Ok(f)
        }
    }

    fn topic(&mut self, key: &str, default: &str, qos: &str) -> Result<InputTopic, ParamError> {
        let name = format!("topics.{key}");
        let topic = self.string(&name, default)?;
        if topic.is_empty() || topic.contains(char::is_whitespace) || topic.contains("//") {
            return Err(invalid(&name, format!("{topic:?} is not a topic name")));
        }
        Ok(InputTopic {
            topic,
            qos: self.parsed(&format!("qos.{key}"), qos)?,
        })
    }
}

const DAY_S: f64 = 86_400.0;

/// Default of `association.compatible_labels`: the household look-alikes detectors confuse
/// (the simulator's too), one group per element, labels separated by commas.
pub const DEFAULT_COMPATIBLE_LABELS: &[&str] = &["cup,mug", "book,notebook"];

/// Groups of labels that may associate, from `association.compatible_labels` (each element
/// `"cup,mug"`: two or more labels separated by commas; `[]`: none).
fn compatible_label_groups(name: &str, groups: &[String]) -> Result<Vec<Vec<String>>, ParamError> {
    let mut out: Vec<Vec<String>> = Vec::with_capacity(groups.len());
    for g in groups {
        let labels: Vec<String> = g.split(',').map(|l| l.trim().to_string()).collect();
        if labels.len() < 2 || labels.iter().any(String::is_empty) {
            return Err(invalid(
                name,
                format!(
                    "{g:?}: a group is two or more labels separated by commas, e.g. \"cup,mug\""
                ),
            ));
        }
        out.push(labels);
    }
    // The core's rules for groups (a label in one group only), named as the parameter.
    MemoryConfig {
        compatible_labels: out.clone(),
        ..MemoryConfig::default()
    }
    .validate()
    .map_err(|e| invalid(name, e.to_string()))?;
    Ok(out)
}

impl NodeConfig {
    /// The node's default name.
    pub const DEFAULT_NAME: &'static str = "mnemo";

    /// Builds the configuration from the command line: `--ros-args` names, remaps, params
    /// files and overrides.
    ///
    /// # Errors
    /// [`ParamError`] naming the argument, file or parameter at fault.
    pub fn from_args(args: &RosArgs) -> Result<Self, ParamError> {
        let fqn = args.fully_qualified_name(Self::DEFAULT_NAME);
        let params = args.parameters(&fqn)?;
        let mut c = Self::from_params(&params)?;
        c.node_name = args
            .node_name
            .clone()
            .unwrap_or_else(|| Self::DEFAULT_NAME.into());
        c.namespace = args.namespace.clone().unwrap_or_else(|| "/".into());
        Ok(c)
    }

    /// Builds the configuration from parameter values (defaults for those missing).
    ///
    /// # Errors
    /// [`ParamError::Invalid`] naming the first parameter with a wrong type or range.
    pub fn from_params(params: &BTreeMap<String, ParamValue>) -> Result<Self, ParamError> {
        let mut r = Reader {
            params,
            used: Default::default(),
            effective: BTreeMap::new(),
        };
        let d = PipelineConfig::default();
        let k = KeyframePolicy::default();
        let m = MemoryConfig::default();
        let pipeline = PipelineConfig {
            map_frame: r.frame("map_frame", &d.map_frame)?,
            base_frame: r.frame("base_frame", &d.base_frame)?,
            min_depth_m: r.f64("camera.min_depth_m", d.min_depth_m, 0.0, 100.0)?,
            max_depth_m: r.f64("camera.max_depth_m", d.max_depth_m, 0.01, 1000.0)?,
            keyframe: KeyframePolicy {
                min_translation_m: r.f64(
                    "keyframe.min_translation_m",
                    k.min_translation_m,
                    0.0,
                    100.0,
                )?,
                min_rotation_rad: r.f64(
                    "keyframe.min_rotation_rad",
                    k.min_rotation_rad,
                    0.0,
                    std::f64::consts::TAU,
                )?,
                max_interval_s: r.f64("keyframe.max_interval_s", k.max_interval_s, 0.0, 3600.0)?,
            },
            tf: d.tf,
            tf_wait_s: r.f64("tf.wait_s", d.tf_wait_s, 0.0, 60.0)?,
            max_waiting: r.usize("tf.max_waiting", d.max_waiting, 1, 100_000)?,
            depth_slop_s: r.f64("sync.slop_s", d.depth_slop_s, 0.0, 10.0)?,
            appearance: r.bool("appearance.enabled", d.appearance)?,
        };
        if pipeline.max_depth_m <= pipeline.min_depth_m {
            return Err(invalid(
                "camera.max_depth_m",
                format!(
                    "{} must exceed camera.min_depth_m {}",
                    pipeline.max_depth_m, pipeline.min_depth_m
                ),
            ));
        }
        // Colour descriptors match a sighting to its track at a looser cosine than the core's
        // default (see `perception::appearance`).
        let association_min_cosine = r.f32(
            "appearance.association_min_cosine",
            crate::perception::appearance::ASSOCIATION_MIN_COSINE,
            -1.0,
            1.0,
        )?;
        let compatible_labels = compatible_label_groups(
            "association.compatible_labels",
            &r.strings("association.compatible_labels", DEFAULT_COMPATIBLE_LABELS)?,
        )?;
        let memory = MemoryConfig {
            association_min_appearance_cosine: pipeline
                .appearance
                .then_some(association_min_cosine),
            compatible_labels,
            gate_base_m: r.f64("association.gate_base_m", m.gate_base_m, 0.0, 10.0)?,
            gate_per_depth: r.f64("association.gate_per_depth", m.gate_per_depth, 0.0, 1.0)?,
            gate_extent_fraction: r.f64(
                "association.gate_extent_fraction",
                m.gate_extent_fraction,
                0.0,
                10.0,
            )?,
            min_appearance_cosine: r.f32(
                "association.min_appearance_cosine",
                m.min_appearance_cosine,
                -1.0,
                1.0,
            )?,
            min_appearance_cosine_single: r.f32(
                "association.min_appearance_cosine_single",
                m.min_appearance_cosine_single,
                -1.0,
                1.0,
            )?,
            move_gate_scatter_factor: r.f64(
                "association.move_gate_scatter_factor",
                m.move_gate_scatter_factor,
                0.0,
                100.0,
            )?,
            min_sightings_to_confirm: r.usize(
                "association.min_sightings_to_confirm",
                m.min_sightings_to_confirm as usize,
                1,
                1000,
            )? as u32,
            missing_after_views: r.usize(
                "changes.missing_after_views",
                m.missing_after_views as usize,
                1,
                1000,
            )? as u32,
            missing_after_views_with_candidate: r.usize(
                "changes.missing_after_views_with_candidate",
                m.missing_after_views_with_candidate as usize,
                1,
                1000,
            )? as u32,
            missing_min_absence_s: r.f64(
                "changes.missing_min_absence_s",
                m.missing_min_absence_s,
                0.0,
                DAY_S,
            )?,
            reid_window_s: r.f64("changes.reid_window_s", m.reid_window_s, 0.0, 30.0 * DAY_S)?,
            min_appearance_cosine_long_missing: r.f32(
                "changes.min_appearance_cosine_long_missing",
                m.min_appearance_cosine_long_missing,
                -1.0,
                1.0,
            )?,
            min_move_gap_s: r.f64("changes.min_move_gap_s", m.min_move_gap_s, 0.0, DAY_S)?,
            detection_noise_m: r.f64("changes.detection_noise_m", m.detection_noise_m, 0.0, 1.0)?,
            occlusion_lift_std_errors: r.f64(
                "changes.occlusion_lift_std_errors",
                m.occlusion_lift_std_errors,
                0.0,
                10.0,
            )?,
            twin_evidence_llr: r.f64(
                "changes.twin_evidence_llr",
                m.twin_evidence_llr,
                0.0,
                1000.0,
            )?,
            twin_detection_recall: r.f64(
                "changes.twin_detection_recall",
                m.twin_detection_recall,
                0.01,
                0.99,
            )?,
            wait_for_likelier_source: r.bool(
                "changes.wait_for_likelier_source",
                m.wait_for_likelier_source,
            )?,
            refuse_swapped_sightings: r.bool(
                "changes.refuse_swapped_sightings",
                m.refuse_swapped_sightings,
            )?,
            ..m
        };
        memory
            .validate()
            .map_err(|e| invalid("association", e.to_string()))?;
        let topics = InputTopics {
            odom: r.topic("odom", "/odom", "reliable")?,
            camera_info: r.topic("camera_info", "/camera/color/camera_info", "reliable")?,
            color: r.topic("color", "/camera/color/image_raw", "sensor_data")?,
            color_compressed: r.topic(
                "color_compressed",
                "/camera/color/image_raw/compressed",
                "sensor_data",
            )?,
            depth: r.topic("depth", "/camera/depth/image_raw", "sensor_data")?,
            detections: r.topic("detections", "/detections", "reliable")?,
            detections_2d: match r.string("detections_type", "3d")?.as_str() {
                "3d" => false,
                "2d" => true,
                other => {
                    return Err(invalid(
                        "detections_type",
                        format!(
                            "{other:?}: expected 3d (Detection3DArray) or 2d (Detection2DArray)"
                        ),
                    ))
                }
            },
        };
        let db = r.string("db_path", "")?;
        let store = StoreParams {
            db_path: (!db.is_empty()).then(|| PathBuf::from(db)),
            commit_interval_s: r.f64("store.commit_interval_s", 0.1, 0.001, 60.0)?,
            commit_max_changes: r.usize("store.commit_max_changes", 10_000, 1, 10_000_000)?,
            hot_window_s: r.f64("store.hot_window_s", DAY_S, 0.0, 365.0 * DAY_S)?,
            consolidate_after_s: if r.bool("store.consolidate_visits", true)? {
                Some(r.f64("store.consolidate_after_s", DAY_S, 0.0, 3650.0 * DAY_S)?)
            } else {
                None
            },
            max_age_s: if r.bool("store.expire", true)? {
                Some(r.f64("store.max_age_s", 14.0 * DAY_S, 0.0, 3650.0 * DAY_S)?)
            } else {
                None
            },
        };
        // rcl's YAML reads a plain `off` as the bool false: take it as "off".
        let rerun = match r.get("rerun") {
            Some(ParamValue::Bool(false)) => {
                r.effective
                    .insert("rerun".into(), ParamValue::String("off".into()));
                RerunTarget::Off
            }
            _ => r
                .string("rerun", "off")?
                .parse()
                .map_err(|e: crate::viz::VizError| invalid("rerun", e.to_string()))?,
        };
        let path = |s: String| (!s.is_empty()).then(|| PathBuf::from(s));
        let model_dir = r.string("captioning.model_dir", "")?;
        let captioning = r.bool("captioning.enabled", false)?;
        if captioning && model_dir.is_empty() {
            return Err(invalid(
                "captioning.enabled",
                "true needs captioning.model_dir (an exported captioning model)",
            ));
        }
        let c = Self {
            node_name: Self::DEFAULT_NAME.into(),
            namespace: "/".into(),
            use_sim_time: r.bool("use_sim_time", false)?,
            autostart: r.bool("autostart", true)?,
            pipeline,
            memory,
            appearance_association_min_cosine: association_min_cosine,
            topics,
            store,
            perception_queue: r.usize("perception.queue_size", 4, 1, 1000)?,
            models: crate::perception::KeyframeModelsConfig {
                captioner_dir: captioning.then(|| PathBuf::from(model_dir)),
                caption_max_tokens: r.usize("captioning.max_new_tokens", 0, 0, 512)?,
                detector_model: path(r.string("detector.model", "")?),
                detector_labels: path(r.string("detector.labels", "")?),
                detector_score_threshold: r.f64("detector.score_threshold", 0.25, 0.0, 1.0)? as f32,
                ocr_dir: path(r.string("ocr.model_dir", "")?),
            },
            rerun,
            embedder: r.parsed("embedder", "lexical")?,
            runtime: crate::perception::RuntimeConfig {
                library: None,
                providers: crate::perception::RuntimeConfig::parse_providers(
                    &r.string("perception.providers", "tensorrt,cuda,cpu")?,
                )
                .map_err(|e| invalid("perception.providers", e))?,
                intra_threads: r.usize("perception.intra_threads", 0, 0, 256)?,
            },
            service_mapping: r.parsed("service_mapping", "enhanced")?,
            diagnostics_period_s: r.f64("diagnostics.period_s", 1.0, 0.1, 3600.0)?,
            unknown: params
                .keys()
                .filter(|k| !r.used.contains(k.as_str()))
                .cloned()
                .collect(),
            effective: BTreeMap::new(),
        };
        let c = Self {
            effective: r.effective,
            ..c
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn ros_args_parse_like_rcl() {
        let a = RosArgs::parse(&args(
            "--verbose --ros-args -p map_frame:=world -p keyframe.min_translation_m:=1 \
             -p qos.odom:=sensor_data -r __node:=memory -r __ns:=/robot1 -r /odom:=/wheel/odom \
             --log-level debug -- tail",
        ))
        .unwrap();
        assert_eq!(a.other, ["--verbose", "tail"]);
        assert_eq!(a.node_name.as_deref(), Some("memory"));
        assert_eq!(a.fully_qualified_name("mnemo"), "/robot1/memory");
        assert_eq!(a.remaps, [("/odom".to_string(), "/wheel/odom".to_string())]);
        assert_eq!(a.log_levels, ["debug"]);
        let c = NodeConfig::from_args(&a).unwrap();
        assert_eq!(c.pipeline.map_frame, "world");
        assert_eq!(c.pipeline.keyframe.min_translation_m, 1.0);
        assert_eq!(c.topics.odom.qos, QosProfile::SensorData);
        assert_eq!(
            (c.node_name.as_str(), c.namespace.as_str()),
            ("memory", "/robot1")
        );
        for bad in [
            "-p",
            "-p x",
            "-p :=1",
            "-r __ns:=robot",
            "-r __node:=9x",
            "--bogus",
        ] {
            let e = RosArgs::parse(&args(&format!("--ros-args {bad}"))).unwrap_err();
            assert!(matches!(e, ParamError::Args(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn values_are_typed_as_yaml() {
        let v = |s| parse_value("x", s).unwrap();
        assert_eq!(v("true"), ParamValue::Bool(true));
        assert_eq!(v("3"), ParamValue::Integer(3));
        assert_eq!(v("0.5"), ParamValue::Double(0.5));
        assert_eq!(v("map"), ParamValue::String("map".into()));
        assert_eq!(v("[1, 2]"), ParamValue::IntegerArray(vec![1, 2]));
        assert_eq!(v("[1, 2.5]"), ParamValue::DoubleArray(vec![1.0, 2.5]));
        assert_eq!(
            v("[a, b]"),
            ParamValue::StringArray(vec!["a".into(), "b".into()])
        );
        assert!(parse_value("x", "{a: 1}").is_err());
        assert!(parse_value("x", "[1, a]").is_err());
    }

    #[test]
    fn params_file_sections_select_the_node_and_flatten() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.yaml");
        std::fs::write(
            &f,
            "/**:\n  ros__parameters:\n    use_sim_time: true\n    keyframe: {min_translation_m: 0.5}\n\
             other_node:\n  ros__parameters:\n    map_frame: nope\n\
             /robot1/mnemo:\n  ros__parameters:\n    keyframe:\n      max_interval_s: 2.0\n\
             /robot2/*:\n  ros__parameters:\n    map_frame: r2\n",
        )
        .unwrap();
        let p = read_params_file(&f, "/robot1/mnemo").unwrap();
        assert_eq!(p["use_sim_time"], ParamValue::Bool(true));
        assert_eq!(p["keyframe.min_translation_m"], ParamValue::Double(0.5));
        assert_eq!(p["keyframe.max_interval_s"], ParamValue::Double(2.0));
        assert!(!p.contains_key("map_frame"));
        let p2 = read_params_file(&f, "/robot2/mnemo").unwrap();
        assert_eq!(p2["map_frame"], ParamValue::String("r2".into()));
        // An override after the file wins; one before it loses.
        let a = RosArgs::parse(&args(&format!(
            "--ros-args -p use_sim_time:=false --params-file {} -p keyframe.max_interval_s:=3.0 -r __ns:=/robot1",
            f.display()
        )))
        .unwrap();
        let p = a.parameters("/robot1/mnemo").unwrap();
        assert_eq!(p["use_sim_time"], ParamValue::Bool(true));
        assert_eq!(p["keyframe.max_interval_s"], ParamValue::Double(3.0));
        // Files that are not params files are clear errors naming the file.
        std::fs::write(&f, "mnemo:\n  parameters: {}\n").unwrap();
        let e = read_params_file(&f, "/mnemo").unwrap_err().to_string();
        assert!(e.contains("p.yaml") && e.contains("ros__parameters"), "{e}");
        let e = read_params_file(&dir.path().join("none.yaml"), "/mnemo").unwrap_err();
        assert!(e.to_string().contains("none.yaml"), "{e}");
    }

    #[test]
    fn selectors_match_like_rcl() {
        assert!(selects("/**", "/a/b/mnemo"));
        assert!(selects("mnemo", "/a/mnemo"));
        assert!(selects("/a/mnemo", "/a/mnemo"));
        assert!(!selects("/b/mnemo", "/a/mnemo"));
        assert!(selects("/*/mnemo", "/a/mnemo"));
        assert!(!selects("/*/mnemo", "/a/b/mnemo"));
        assert!(selects("/**/mnemo", "/a/b/mnemo"));
        assert!(selects("/**/mnemo", "/mnemo"));
        assert!(!selects("other", "/mnemo"));
    }

    #[test]
    fn colour_descriptors_bring_their_own_association_bound() {
        let config = |pairs: &[(&str, &str)]| {
            let mut p = BTreeMap::new();
            for (k, v) in pairs {
                p.insert(k.to_string(), parse_value(k, v).unwrap());
            }
            NodeConfig::from_params(&p).unwrap()
        };
        // Off (the default): the core's own bounds.
        assert_eq!(config(&[]).memory.association_min_appearance_cosine, None);
        let on = config(&[("appearance.enabled", "true")]);
        assert!(on.pipeline.appearance);
        assert_eq!(
            on.memory.association_min_appearance_cosine,
            Some(crate::perception::appearance::ASSOCIATION_MIN_COSINE)
        );
        let tuned = config(&[
            ("appearance.enabled", "true"),
            ("appearance.association_min_cosine", "0.7"),
        ]);
        assert_eq!(tuned.memory.association_min_appearance_cosine, Some(0.7));
    }

    #[test]
    fn look_alike_groups_are_a_parameter() {
        let groups = |v: &str| {
            let k = "association.compatible_labels";
            let mut p = BTreeMap::new();
            p.insert(k.to_string(), parse_value(k, v).unwrap());
            NodeConfig::from_params(&p).map(|c| c.memory.compatible_labels)
        };
        // The default: the household look-alikes, the simulator's groups (so `mnemo replay`
        // without a params file builds the memory `mnemo eval` scores).
        let default = NodeConfig::from_params(&BTreeMap::new()).unwrap();
        assert_eq!(
            default.memory,
            MemoryConfig {
                association_min_appearance_cosine: None,
                ..crate::sim::memory_config()
            }
        );
        assert_eq!(
            default.effective["association.compatible_labels"],
            ParamValue::StringArray(vec!["cup,mug".into(), "book,notebook".into()])
        );
        assert_eq!(
            groups("['cup, mug', 'book,notebook,journal']").unwrap(),
            [vec!["cup", "mug"], vec!["book", "notebook", "journal"]]
        );
        assert!(groups("[]").unwrap().is_empty());
        // One group given as a plain string (`-p association.compatible_labels:=cup,mug`).
        assert_eq!(groups("cup,mug").unwrap(), [vec!["cup", "mug"]]);
        for bad in [
            "['cup']",
            "['cup,']",
            "[',']",
            "['cup,mug', 'Mug,glass']",
            "[1, 2]",
        ] {
            let e = groups(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("parameter association.compatible_labels"),
                "{bad}: {e}"
            );
        }
    }

    /// The bool memory parameter `k` is on by default, reaches the field `get` reads either way,
    /// and a value that is not a bool is refused, naming `k`.
    fn assert_memory_switch(k: &str, get: fn(&MemoryConfig) -> bool) {
        let read = |v: &str| {
            let mut p = BTreeMap::new();
            p.insert(k.to_string(), parse_value(k, v).unwrap());
            NodeConfig::from_params(&p).map(|c| get(&c.memory))
        };
        let default = NodeConfig::from_params(&BTreeMap::new()).unwrap();
        assert!(get(&default.memory));
        assert_eq!(default.effective[k], ParamValue::Bool(true));
        assert!(!read("false").unwrap());
        assert!(read("true").unwrap());
        for bad in ["0.5", "2"] {
            let e = read(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("parameter {k}")), "{e}");
        }
    }

    #[test]
    fn the_wait_for_a_likelier_source_is_a_parameter() {
        assert_memory_switch("changes.wait_for_likelier_source", |m| {
            m.wait_for_likelier_source
        });
    }

    #[test]
    fn the_refusal_of_swapped_sightings_is_a_parameter() {
        assert_memory_switch("changes.refuse_swapped_sightings", |m| {
            m.refuse_swapped_sightings
        });
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let bad = |k: &str, v: &str| {
            let mut p = BTreeMap::new();
            p.insert(k.to_string(), parse_value(k, v).unwrap());
            NodeConfig::from_params(&p).unwrap_err().to_string()
        };
        for (k, v) in [
            ("keyframe.min_translation_m", "-1.0"),
            ("keyframe.min_translation_m", "fast"),
            ("map_frame", "/map"),
            ("map_frame", "3"),
            ("qos.depth", "best_effort"),
            ("rerun", "save="),
            ("service_mapping", "fastdds"),
            ("store.commit_max_changes", "0"),
            ("camera.max_depth_m", "0.1"),
            ("captioning.enabled", "true"),
            ("topics.odom", "''"),
            ("appearance.association_min_cosine", "1.5"),
        ] {
            let e = bad(k, v);
            assert!(e.starts_with(&format!("parameter {k}")), "{k}:={v}: {e}");
        }
        // Unknown keys are kept for a warning, not refused (shared /** sections).
        let mut p = BTreeMap::new();
        p.insert("other_node_key".to_string(), ParamValue::Bool(true));
        assert_eq!(
            NodeConfig::from_params(&p).unwrap().unknown,
            ["other_node_key"]
        );
        // A bare `save` writes where the params file says it does.
        let mut p = BTreeMap::new();
        p.insert("rerun".to_string(), ParamValue::String("save".into()));
        assert_eq!(
            NodeConfig::from_params(&p).unwrap().rerun,
            RerunTarget::Save("rerun-recordings/mnemo.rrd".into())
        );
        // `-p rerun:=off` read as YAML 1.1 by rcl is the bool false.
        let mut p = BTreeMap::new();
        p.insert("rerun".to_string(), ParamValue::Bool(false));
        assert_eq!(NodeConfig::from_params(&p).unwrap().rerun, RerunTarget::Off);
    }
}
