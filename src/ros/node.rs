//! The node's logic without DDS: what `mnemo_node` does with each input, service request,
//! lifecycle transition and timer tick. The DDS adapter ([`super::dds`]) only converts and
//! enqueues; everything it publishes comes from here, so this is what the tests drive.
//!
//! Owns: the lifecycle state and what each transition does (configure opens the memory and
//! its database, activate starts ingesting, deactivate stops, cleanup closes, shutdown
//! closes), the ingest pipeline, the cursor of events already published on `~/events`, the
//! counters behind `/diagnostics`, and when markers are due. Time is passed in (ROS time of the
//! node's clock, ns).

use std::collections::VecDeque;

use super::diagnostics::{diagnostics, DiagnosticArray, Snapshot};
use super::lifecycle::{CallbackResult, Lifecycle, LifecycleState, Transition, TransitionEvent};
use super::mnemo_msgs::{
    ChangesRequest, ChangesResponse, ForgetRequest, ForgetResponse, GetSceneGraphRequest,
    GetSceneGraphResponse, MemoryEvent, NearRequest, NearResponse, RecallRequest, RecallResponse,
    WhenRequest, WhenResponse, WhereRequest, WhereResponse,
};
use super::msg::MarkerArray;
use super::params::NodeConfig;
use super::pipeline::{Input, Output, Pipeline};
use super::services;
use crate::core::time::StampNs;
use crate::core::{Embedder, LexicalEmbedder, Memory};
use crate::perception::worker::{
    CaptionModel, Captioner, KeyframeJob, KeyframeModel, PerceptionResult, PerceptionWorker,
};
use crate::store::PersistentMemory;
use crate::viz::markers::markers;
use crate::viz::{RerunTarget, RerunViz};

/// Severity of a log line (rosout levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something was refused or dropped; the node goes on.
    Warn,
    /// Something failed (e.g. the database could not be opened).
    Error,
}

/// One line for rosout and stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// Text.
    pub text: String,
}

/// Makes the embedder a configured memory uses, or says why it cannot (the node then falls
/// back to the lexical one).
pub type EmbedderFactory = Box<dyn Fn() -> Result<Box<dyn Embedder>, String> + Send>;

/// The node's state.
pub struct NodeCore {
    config: NodeConfig,
    fqn: String,
    lifecycle: Lifecycle,
    pipeline: Pipeline,
    memory: Option<PersistentMemory>,
    /// Rerun sink (parameter `rerun`), open while configured.
    viz: RerunViz,
    /// Captioning off the ingest path, when a captioner is set.
    perception: Option<PerceptionWorker>,
    perception_failures: u64,
    perception_skipped: u64,
    embedder: EmbedderFactory,
    /// The next event id not yet published on `~/events`.
    next_event_id: u64,
    events_out: VecDeque<MemoryEvent>,
    /// Memory changed since the last markers.
    markers_dirty: bool,
    logs: Vec<LogLine>,
    snapshot_before: Option<Snapshot>,
    messages: u64,
    ignored_inactive: u64,
    queue_drops: u64,
    refused_by_core: u64,
    future_stamps: u64,
    future_stamps_reported: u64,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("fqn", &self.fqn)
            .field("state", &self.lifecycle.state())
            .finish_non_exhaustive()
    }
}

/// Inputs stamped further ahead of the node's clock than this are refused, s.
pub const MAX_FUTURE_S: f64 = 10.0;

/// Most events kept for `~/events` between two drains (the oldest go first beyond it).
pub const MAX_EVENTS_OUT: usize = 10_000;

impl NodeCore {
    /// A node in state `unconfigured`, named `fqn` (e.g. `/robot1/mnemo`).
    pub fn new(config: NodeConfig, fqn: &str) -> Self {
        let (choice, runtime) = (config.embedder.clone(), config.runtime.clone());
        Self::with_embedder(
            config,
            fqn,
            Box::new(move || choice.open(&runtime).map_err(|e| e.to_string())),
        )
    }

    /// As [`NodeCore::new`] with the embedder a configured memory gets.
    pub fn with_embedder(config: NodeConfig, fqn: &str, embedder: EmbedderFactory) -> Self {
        let pipeline = Pipeline::new(config.pipeline.clone());
        Self {
            config,
            fqn: fqn.to_string(),
            lifecycle: Lifecycle::default(),
            pipeline,
            memory: None,
            viz: RerunViz::disabled(),
            perception: None,
            perception_failures: 0,
            perception_skipped: 0,
            embedder,
            next_event_id: 0,
            events_out: VecDeque::new(),
            markers_dirty: false,
            logs: Vec::new(),
            snapshot_before: None,
            messages: 0,
            ignored_inactive: 0,
            queue_drops: 0,
            refused_by_core: 0,
            future_stamps: 0,
            future_stamps_reported: 0,
        }
    }

    /// Captions keyframes with `captioner` on a worker thread (see [`NodeCore::set_models`]).
    pub fn set_captioner(&mut self, captioner: Box<dyn Captioner>) {
        self.set_models(vec![Box::new(CaptionModel(captioner))]);
    }

    /// Runs `models` (captioner, detector, OCR) on keyframes with a colour image, on a worker
    /// thread (queue size `perception.queue_size`, the oldest dropped beyond it). Captions
    /// attach to the keyframe's time and pose; detections enter the memory as sightings of
    /// that keyframe's view ([`crate::core::Memory::ingest_sightings`]) when they come back.
    pub fn set_models(&mut self, models: Vec<Box<dyn KeyframeModel>>) {
        if models.is_empty() {
            self.perception = None;
            return;
        }
        let w = PerceptionWorker::spawn_models(models, self.config.perception_queue);
        self.log(
            Level::Info,
            format!("keyframe perception with {}", w.name()),
        );
        self.perception = Some(w);
    }

    /// Opens the keyframe models the parameters name (`captioning.*`, `detector.*`,
    /// `ocr.model_dir`) and runs them ([`NodeCore::set_models`]). A model that cannot be opened
    /// is logged as an error naming it and what was expected; the node runs without it.
    pub fn open_models(&mut self) {
        let mut models: Vec<Box<dyn KeyframeModel>> = Vec::new();
        let mut failed = Vec::new();
        let mut opened = Vec::new();
        let (runtime, appearance) = (&self.config.runtime, self.config.pipeline.appearance);
        for r in self.config.models.open(runtime, appearance) {
            match r {
                Ok(m) => {
                    opened.push(m.description);
                    models.push(m.model);
                }
                Err(f) => failed.push(format!("{f}; running without {}", f.loses)),
            }
        }
        for o in opened {
            self.log(Level::Info, o);
        }
        for f in failed {
            self.log(Level::Error, f);
        }
        self.set_models(models);
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The lifecycle state.
    pub fn state(&self) -> LifecycleState {
        self.lifecycle.state()
    }

    /// The lifecycle machine (available states and transitions).
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The memory, once configured.
    pub fn memory(&self) -> Option<&PersistentMemory> {
        self.memory.as_ref()
    }

    /// Log lines since the last call.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.logs)
    }

    fn log(&mut self, level: Level, text: impl Into<String>) {
        self.logs.push(LogLine {
            level,
            text: text.into(),
        });
    }

    /// Counts input messages the adapter dropped because the ingest queue was full.
    pub fn note_queue_drops(&mut self, n: u64) {
        self.queue_drops += n;
    }

    /// Counts an input message that arrived but could not be decoded (malformed CDR).
    pub fn note_undecodable(&mut self, topic: &str, reason: &str) {
        self.messages += 1;
        self.refused_by_core += 1;
        self.log(
            Level::Warn,
            format!("dropped an undecodable message on {topic}: {reason}"),
        );
    }

    /// Requests a lifecycle transition; returns the transition events to publish, or why it
    /// is not available. `now_ns` stamps the events.
    ///
    /// # Errors
    /// The lifecycle's message when the transition is unknown or not available now.
    pub fn change_state(
        &mut self,
        requested: &Transition,
        now_ns: StampNs,
    ) -> Result<Vec<TransitionEvent>, String> {
        let mut lifecycle = self.lifecycle.clone();
        let events = lifecycle.change(requested, now_ns.max(0) as u64, |via| {
            self.on_transition(via)
        })?;
        self.lifecycle = lifecycle;
        if let Some(last) = events.last() {
            self.log(
                Level::Info,
                format!(
                    "lifecycle: {} -> {}",
                    events[0].start_state.label, last.goal_state.label
                ),
            );
        }
        Ok(events)
    }

    /// `autostart`: configure, then activate. Returns every transition event.
    ///
    /// # Errors
    /// Why a step failed (the node stays where that step left it).
    pub fn autostart(&mut self, now_ns: StampNs) -> Result<Vec<TransitionEvent>, String> {
        let mut out = Vec::new();
        for label in ["configure", "activate"] {
            let ev = self.change_state(
                &Transition {
                    id: 0,
                    label: label.into(),
                },
                now_ns,
            )?;
            out.extend(ev);
            if self.state() != LifecycleState::Inactive && label == "configure" {
                return Err(format!(
                    "configure failed; the node is {}",
                    self.state().label()
                ));
            }
        }
        Ok(out)
    }

    fn on_transition(&mut self, via: LifecycleState) -> CallbackResult {
        match via {
            LifecycleState::Configuring => self.on_configure(),
            LifecycleState::Activating
            | LifecycleState::Deactivating
            | LifecycleState::ErrorProcessing => CallbackResult::Success,
            LifecycleState::CleaningUp | LifecycleState::ShuttingDown => {
                self.close();
                CallbackResult::Success
            }
            _ => CallbackResult::Success,
        }
    }

    fn embedder(&mut self) -> Box<dyn Embedder> {
        match (self.embedder)() {
            Ok(e) => e,
            Err(e) => {
                self.log(
                    Level::Error,
                    format!(
                        "embedder {}: {e}; using the lexical matcher",
                        self.config.embedder
                    ),
                );
                Box::new(LexicalEmbedder::default())
            }
        }
    }

    fn on_configure(&mut self) -> CallbackResult {
        let embedder = self.embedder();
        let s = &self.config.store;
        let opened = match &s.db_path {
            None => Memory::new(self.config.memory.clone(), embedder)
                .map(PersistentMemory::in_ram)
                .map_err(|e| e.to_string()),
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    if let Err(e) = std::fs::create_dir_all(dir) {
                        self.log(
                            Level::Error,
                            format!("cannot create {}: {e}", dir.display()),
                        );
                        return CallbackResult::Failure;
                    }
                }
                PersistentMemory::open(
                    path,
                    Some(self.config.memory.clone()),
                    embedder,
                    s.commit_policy(),
                    s.retention(),
                )
                .map_err(|e| e.to_string())
            }
        };
        match opened {
            Ok(m) => {
                if let (Some(from), Some(path)) = (m.status().migrated_from, m.status().path) {
                    self.log(
                        Level::Info,
                        format!(
                            "{path}: migrated from schema version {from} to {}",
                            crate::store::schema::SCHEMA_VERSION
                        ),
                    );
                }
                let where_ = m.status().path.unwrap_or_else(|| "RAM only".into());
                self.log(
                    Level::Info,
                    format!(
                        "memory open ({where_}): {} objects, {} events",
                        m.memory().objects().len(),
                        m.memory().log().len()
                    ),
                );
                // Events already in a reopened database are not re-published.
                self.next_event_id = m.memory().log().next_id();
                self.memory = Some(m);
                self.pipeline = Pipeline::new(self.config.pipeline.clone());
                if self.config.rerun != RerunTarget::Off {
                    // A viewer that cannot be reached must not keep the memory down.
                    match RerunViz::new(self.config.rerun.clone(), &self.fqn) {
                        Ok(v) => {
                            self.log(Level::Info, format!("rerun: {}", self.config.rerun));
                            self.viz = v;
                        }
                        Err(e) => self.log(
                            Level::Error,
                            format!("rerun {} failed, running without: {e}", self.config.rerun),
                        ),
                    }
                }
                self.markers_dirty = true;
                CallbackResult::Success
            }
            Err(e) => {
                self.log(Level::Error, format!("configure failed: {e}"));
                CallbackResult::Failure
            }
        }
    }

    fn attach_results(&mut self, done: Vec<PerceptionResult>) {
        let Some(memory) = self.memory.as_mut() else {
            return;
        };
        let mut errors = Vec::new();
        let mut first_skip = None;
        for r in done {
            if !r.skipped.is_empty() {
                self.perception_skipped += 1;
                if self.perception_skipped == 1 {
                    first_skip = Some(r.skipped.join(", "));
                }
            }
            let (changed, e) = crate::perception::worker::apply_result(memory, r);
            self.markers_dirty |= changed;
            errors.extend(e);
        }
        if let Some(models) = first_skip {
            self.log(
                Level::Warn,
                format!(
                    "{models}: skipped on keyframes without an aligned depth image (depth later \
                     than the keyframe's detections, or no depth topic); counted in \
                     /diagnostics perception_skipped, logged once"
                ),
            );
        }
        self.perception_failures += errors.len() as u64;
        for e in errors {
            self.log(Level::Warn, format!("keyframe perception failed: {e}"));
        }
        self.collect_events();
    }

    fn close(&mut self) {
        if let Some(w) = self.perception.as_ref() {
            let done = w.finish(std::time::Duration::from_secs(5));
            self.attach_results(done);
        }
        let viz = std::mem::replace(&mut self.viz, RerunViz::disabled());
        if let Err(e) = viz.flush(std::time::Duration::from_secs(5)) {
            self.log(Level::Warn, format!("rerun: {e}"));
        }
        if let Some(m) = self.memory.take() {
            if let Err(e) = m.close() {
                self.log(Level::Error, format!("closing the database: {e}"));
            }
        }
        self.pipeline = Pipeline::new(self.config.pipeline.clone());
    }

    /// Takes one decoded input received at `now_ns` (the node's clock): an input stamped more
    /// than [`MAX_FUTURE_S`] ahead of the clock is refused and counted (a wrong clock on the
    /// sender; taking it would make every later message look like a jump back in time). A clock
    /// at 0 (`use_sim_time` before the first `/clock`) checks nothing.
    pub fn on_input_at(&mut self, input: Input, now_ns: StampNs) {
        let stamp = match &input {
            Input::Tf(m) => m.transforms.iter().map(|t| t.header.stamp.to_ns()).max(),
            Input::TfStatic(_) | Input::CameraInfo(_) => None,
            Input::Odometry(m) => Some(m.header.stamp.to_ns()),
            Input::ColorImage(m) | Input::DepthImage(m) => Some(m.header.stamp.to_ns()),
            Input::CompressedColorImage(m) => Some(m.header.stamp.to_ns()),
            Input::Detections3D(m) => Some(m.header.stamp.to_ns()),
            Input::Detections2D(m) => Some(m.header.stamp.to_ns()),
        };
        if now_ns > 0 && stamp.is_some_and(|t| t.saturating_sub(now_ns) as f64 > MAX_FUTURE_S * 1e9)
        {
            self.messages += 1;
            self.future_stamps += 1;
            return;
        }
        self.on_input(input);
    }

    /// Takes one decoded input. Ingested only while active; otherwise counted and ignored.
    pub fn on_input(&mut self, input: Input) {
        self.messages += 1;
        if self.state() != LifecycleState::Active {
            self.ignored_inactive += 1;
            return;
        }
        let jumps = self.pipeline.stats().time_jumps;
        let mut out = Vec::new();
        self.pipeline.push(input, &mut out);
        if self.pipeline.stats().time_jumps > jumps {
            self.log(
                Level::Warn,
                "time jumped backwards (bag loop or simulator reset): cleared dynamic TF, \
                 waiting messages and image buffers; static TF and the memory are kept",
            );
        }
        self.apply(out);
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        let Some(memory) = self.memory.as_mut() else {
            return;
        };
        let mut refused = Vec::new();
        for o in outputs {
            let r = match &o {
                Output::Pose(p) => memory.ingest_pose(p).map(|_| ()),
                Output::Keyframe(k) => memory.ingest(&k.observation).map(|_| ()),
            };
            match r {
                Ok(()) => self.markers_dirty = true,
                Err(e) => refused.push(e.to_string()),
            }
            if self.viz.is_enabled() {
                match &o {
                    Output::Pose(p) => self.viz.pose(p),
                    Output::Keyframe(k) => self.viz.keyframe(k, memory.memory()),
                }
            }
            if let (Some(w), Output::Keyframe(k)) = (&self.perception, o) {
                // The keyframe moves to the queue (no copy on the ingest path).
                if let Some(job) = KeyframeJob::from_keyframe(*k) {
                    w.submit(job);
                }
            }
        }
        self.refused_by_core += refused.len() as u64;
        for e in refused {
            self.log(Level::Warn, format!("memory refused an input: {e}"));
        }
        self.collect_events();
    }

    fn collect_events(&mut self) {
        let Some(memory) = self.memory.as_ref() else {
            return;
        };
        let mem = memory.memory();
        let log = mem.log();
        let events = log.events();
        let from = events.partition_point(|e| e.id.0 < self.next_event_id);
        for e in &events[from..] {
            let label = e
                .object
                .and_then(|o| mem.object(mem.resolve(o)))
                .map(|o| o.label.as_str());
            self.events_out.push_back(services::log_event(
                e,
                log,
                label,
                &self.config.pipeline.map_frame,
            ));
            self.next_event_id = e.id.0 + 1;
        }
        while self.events_out.len() > MAX_EVENTS_OUT {
            self.events_out.pop_front();
        }
    }

    /// Events to publish on `~/events` since the last call, in order.
    pub fn take_events(&mut self) -> Vec<MemoryEvent> {
        self.events_out.drain(..).collect()
    }

    /// Periodic work: attaches finished perception results, commits what is due.
    pub fn tick(&mut self) {
        let done = self
            .perception
            .as_ref()
            .map(|w| w.drain())
            .unwrap_or_default();
        self.attach_results(done);
        if let Some(m) = self.memory.as_mut() {
            if let Some(Err(e)) = m.tick() {
                self.log(Level::Error, format!("commit failed (degraded): {e}"));
            }
        }
    }

    /// The markers, when the memory changed since the last call (and the node is configured).
    pub fn markers_if_changed(&mut self, now_ns: StampNs) -> Option<MarkerArray> {
        if !self.markers_dirty {
            return None;
        }
        let m = self.memory.as_ref()?;
        self.markers_dirty = false;
        Some(markers(m.memory(), now_ns, &self.config.pipeline.map_frame))
    }

    /// `/diagnostics` for the period since the last call.
    pub fn diagnostics(&mut self, now_ns: StampNs) -> DiagnosticArray {
        let now = Snapshot {
            stamp_ns: now_ns,
            messages: self.messages,
            queue_drops: self.queue_drops,
            perception_drops: self
                .perception
                .as_ref()
                .map_or(0, PerceptionWorker::dropped),
            perception_skipped: self.perception_skipped,
            perception_failures: self.perception_failures,
            pipeline: self.pipeline.stats().clone(),
            objects: self
                .memory
                .as_ref()
                .map_or(0, |m| m.memory().present_object_count()),
            events: self
                .memory
                .as_ref()
                .map_or(0, |m| m.memory().log().next_id()),
        };
        let before = self
            .snapshot_before
            .replace(now.clone())
            .unwrap_or(Snapshot {
                stamp_ns: now_ns.saturating_sub(1),
                ..Snapshot::default()
            });
        // One warning per period naming what was refused (the throttled log a ROS user
        // expects instead of one line per bad message).
        let (a, b) = (&before.pipeline, &now.pipeline);
        let refused: Vec<String> = [
            ("bad odometry", a.bad_odometry, b.bad_odometry),
            ("bad images", a.bad_images, b.bad_images),
            ("bad detections", a.bad_detections, b.bad_detections),
            ("dropped waiting for TF", a.tf_dropped, b.tf_dropped),
            ("bad transforms", a.tf_rejected, b.tf_rejected),
            ("no camera_info", a.no_camera_info, b.no_camera_info),
            ("no depth within the slop", a.no_depth, b.no_depth),
            (
                "dropped on a full input queue",
                before.queue_drops,
                now.queue_drops,
            ),
        ]
        .iter()
        .chain(std::iter::once(&(
            "stamped more than 10 s ahead of the clock",
            self.future_stamps_reported,
            self.future_stamps,
        )))
        .filter(|(_, x, y)| y > x)
        .map(|(what, x, y)| format!("{} {what}", y - x))
        .collect();
        self.future_stamps_reported = self.future_stamps;
        if !refused.is_empty() {
            self.log(
                Level::Warn,
                format!(
                    "inputs refused since the last report: {}",
                    refused.join(", ")
                ),
            );
        }
        let status = self.memory.as_ref().map(|m| m.status());
        diagnostics(
            &self.fqn,
            &before,
            &now,
            status.as_ref().filter(|s| s.path.is_some()),
            self.config.diagnostics_period_s * 5.0,
        )
    }

    /// Keyframes dropped from the perception queue so far.
    pub fn diagnostics_drops(&self) -> u64 {
        self.perception
            .as_ref()
            .map_or(0, PerceptionWorker::dropped)
    }

    /// Counters (for logs and tests).
    pub fn counters(&self) -> NodeCounters {
        NodeCounters {
            messages: self.messages,
            ignored_inactive: self.ignored_inactive,
            queue_drops: self.queue_drops,
            refused: self.refused_by_core + self.future_stamps,
            keyframes: self.pipeline.stats().keyframes,
            poses: self.pipeline.stats().poses,
        }
    }

    fn not_configured(&self) -> String {
        format!(
            "the node is {} (configure it first)",
            self.lifecycle.state().label()
        )
    }

    /// `~/where`.
    pub fn where_(&self, req: &WhereRequest, now_ns: StampNs) -> WhereResponse {
        let Some(m) = self.memory.as_ref() else {
            return WhereResponse {
                message: self.not_configured(),
                ..WhereResponse::default()
            };
        };
        services::handle_where(req, now_ns, &self.config.pipeline.map_frame, |q| m.query(q))
    }

    /// `~/when`.
    pub fn when(&self, req: &WhenRequest) -> WhenResponse {
        let Some(m) = self.memory.as_ref() else {
            return WhenResponse {
                message: self.not_configured(),
                ..WhenResponse::default()
            };
        };
        services::handle_when(req, &self.config.pipeline.map_frame, |q| m.query(q))
    }

    /// `~/changes`.
    pub fn changes(&self, req: &ChangesRequest) -> ChangesResponse {
        let Some(m) = self.memory.as_ref() else {
            return ChangesResponse {
                message: self.not_configured(),
                ..ChangesResponse::default()
            };
        };
        services::handle_changes(req, &self.config.pipeline.map_frame, |q| m.query(q))
    }

    /// `~/near`.
    pub fn near(&self, req: &NearRequest, now_ns: StampNs) -> NearResponse {
        let Some(m) = self.memory.as_ref() else {
            return NearResponse {
                message: self.not_configured(),
                ..NearResponse::default()
            };
        };
        services::handle_near(req, now_ns, &self.config.pipeline.map_frame, |q| m.query(q))
    }

    /// `~/recall`.
    pub fn recall(&self, req: &RecallRequest) -> RecallResponse {
        let Some(m) = self.memory.as_ref() else {
            return RecallResponse {
                message: self.not_configured(),
                ..RecallResponse::default()
            };
        };
        services::handle_recall(req, |q| m.query(q))
    }

    /// `~/scene_graph`.
    pub fn scene_graph(
        &self,
        req: &GetSceneGraphRequest,
        now_ns: StampNs,
    ) -> GetSceneGraphResponse {
        let Some(m) = self.memory.as_ref() else {
            return GetSceneGraphResponse {
                message: self.not_configured(),
                ..GetSceneGraphResponse::default()
            };
        };
        // "Now" is the newest data the memory holds when the clock is behind it (bag replays).
        let now = m
            .memory()
            .latest_stamp_ns()
            .map_or(now_ns, |t| t.max(now_ns));
        services::handle_scene_graph(req, now, &self.config.pipeline.map_frame, |q| m.query(q))
    }

    /// `~/forget`.
    pub fn forget(&mut self, req: &ForgetRequest) -> ForgetResponse {
        let Some(m) = self.memory.as_mut() else {
            return ForgetResponse {
                message: self.not_configured(),
                ..ForgetResponse::default()
            };
        };
        let resp = services::handle_forget(req, |f| {
            m.forget(f)
                .map(|r| (r.objects.clone(), r.events_erased as u64))
        });
        if resp.success {
            self.markers_dirty = true;
            let text = format!(
                "forgot {} objects and {} events",
                resp.forgotten_object_ids.len(),
                resp.forgotten_events
            );
            self.log(Level::Info, text);
        }
        resp
    }
}

/// What the node counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Input messages received (decoded or not).
    pub messages: u64,
    /// Inputs received while not active (ignored).
    pub ignored_inactive: u64,
    /// Inputs the adapter dropped on a full queue.
    pub queue_drops: u64,
    /// Undecodable inputs, inputs the memory refused, inputs stamped in the future.
    pub refused: u64,
    /// Keyframes made.
    pub keyframes: u64,
    /// Pose updates made.
    pub poses: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::msg::{
        BoundingBox3D, CameraInfo, Detection3D, Detection3DArray, F64Array, Header,
        ObjectHypothesis, ObjectHypothesisWithPose, Odometry, Point, Pose, PoseWithCovariance,
        Quaternion, TfMessage, Time, Transform, TransformStamped, Vector3,
    };
    use crate::ros::params::ParamValue;
    use std::collections::BTreeMap;

    const T0: i64 = 1_767_225_600_000_000_000;

    fn config(db: Option<&std::path::Path>) -> NodeConfig {
        let mut p = BTreeMap::new();
        p.insert("keyframe.max_interval_s".into(), ParamValue::Double(0.0));
        if let Some(db) = db {
            p.insert(
                "db_path".into(),
                ParamValue::String(db.display().to_string()),
            );
        }
        NodeConfig::from_params(&p).unwrap()
    }

    fn header(ns: i64, frame: &str) -> Header {
        Header {
            stamp: Time::from_ns(ns),
            frame_id: frame.into(),
        }
    }

    fn tf(ns: i64, parent: &str, child: &str, t: [f64; 3], q: [f64; 4]) -> TransformStamped {
        TransformStamped {
            header: header(ns, parent),
            child_frame_id: child.into(),
            transform: Transform {
                translation: Vector3 {
                    x: t[0],
                    y: t[1],
                    z: t[2],
                },
                rotation: Quaternion {
                    x: q[0],
                    y: q[1],
                    z: q[2],
                    w: q[3],
                },
            },
        }
    }

    /// `n` small grey colour images every 100 ms from T0, so keyframes carry one.
    fn colour_frames(core: &mut NodeCore, n: i64) {
        for i in 0..n {
            core.on_input(Input::ColorImage(crate::ros::msg::Image {
                header: header(T0 + i * 100_000_000, "camera_color_optical_frame"),
                height: 2,
                width: 2,
                encoding: "rgb8".into(),
                step: 6,
                data: vec![200; 12],
                ..Default::default()
            }));
        }
    }

    /// The robot at x in odom; a mug 2 m ahead of the camera (optical frame: z forward).
    fn scene(core: &mut NodeCore, steps: i64, label: &str) {
        scene_at(core, T0, steps, label, 0.0);
    }

    /// As [`scene`], from `t0`, with the object `right_m` to the right of the camera's axis.
    fn scene_at(core: &mut NodeCore, t0: i64, steps: i64, label: &str, right_m: f64) {
        core.on_input(Input::TfStatic(TfMessage {
            transforms: vec![
                tf(t0, "map", "odom", [0.0; 3], [0.0, 0.0, 0.0, 1.0]),
                tf(
                    t0,
                    "base_link",
                    "camera_color_optical_frame",
                    [0.0, 0.0, 1.0],
                    [-0.5, 0.5, -0.5, 0.5],
                ),
            ],
        }));
        for i in 0..steps {
            let ns = t0 + i * 100_000_000;
            let pose = Pose {
                position: Point {
                    x: 0.01 * i as f64,
                    y: 0.0,
                    z: 0.0,
                },
                orientation: Quaternion::default(),
            };
            core.on_input(Input::Tf(TfMessage {
                transforms: vec![tf(
                    ns,
                    "odom",
                    "base_link",
                    [pose.position.x, 0.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0],
                )],
            }));
            core.on_input(Input::Odometry(Box::new(Odometry {
                header: header(ns, "odom"),
                child_frame_id: "base_link".into(),
                pose: PoseWithCovariance {
                    pose,
                    ..Default::default()
                },
                ..Default::default()
            })));
            core.on_input(Input::CameraInfo(Box::new(CameraInfo {
                header: header(ns, "camera_color_optical_frame"),
                height: 480,
                width: 640,
                k: F64Array([525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]),
                ..Default::default()
            })));
            let center = Pose {
                position: Point {
                    x: right_m,
                    y: 0.2,
                    z: 2.0 - 0.01 * i as f64,
                },
                orientation: Quaternion::default(),
            };
            core.on_input(Input::Detections3D(Detection3DArray {
                header: header(ns, "camera_color_optical_frame"),
                detections: vec![Detection3D {
                    header: header(ns, "camera_color_optical_frame"),
                    results: vec![ObjectHypothesisWithPose {
                        hypothesis: ObjectHypothesis {
                            class_id: label.into(),
                            score: 0.9,
                        },
                        pose: PoseWithCovariance {
                            pose: center,
                            ..Default::default()
                        },
                    }],
                    bbox: BoundingBox3D {
                        center,
                        size: Vector3 {
                            x: 0.1,
                            y: 0.1,
                            z: 0.1,
                        },
                    },
                    id: String::new(),
                }],
            }));
        }
    }

    fn where_(core: &NodeCore, label: &str) -> WhereResponse {
        core.where_(
            &WhereRequest {
                target: label.into(),
                exact_label: true,
                k: 5,
                ..Default::default()
            },
            T0 + 10_000_000_000,
        )
    }

    fn transition(label: &str) -> Transition {
        Transition {
            id: 0,
            label: label.into(),
        }
    }

    #[test]
    fn unconfigured_node_refuses_queries_and_ignores_inputs() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        assert_eq!(core.state(), LifecycleState::Unconfigured);
        scene(&mut core, 5, "mug");
        assert_eq!(core.counters().ignored_inactive, core.counters().messages);
        let r = where_(&core, "mug");
        assert!(!r.success);
        assert!(r.message.contains("unconfigured"), "{}", r.message);
    }

    #[test]
    fn active_node_ingests_answers_and_publishes_events_and_markers() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        let events = core.autostart(T0).unwrap();
        assert_eq!(core.state(), LifecycleState::Active);
        // configure: 2 events, activate: 2 events.
        assert_eq!(events.len(), 4);
        assert_eq!(events[3].goal_state.label, "active");
        scene(&mut core, 10, "mug");
        let r = where_(&core, "mug");
        assert!(r.success, "{}", r.message);
        assert_eq!(r.objects.len(), 1);
        let p = &r.objects[0].position;
        // camera at (0.01 i, 0, 1): optical (0, 0.2, 2 - 0.01 i) -> map (2, 0, 0.8).
        assert!((p.x - 2.0).abs() < 0.05 && p.y.abs() < 0.05 && (p.z - 0.8).abs() < 0.05);
        let ev = core.take_events();
        assert!(ev.iter().any(|e| e.label == "mug" && e.kind == 0), "{ev:?}");
        assert!(core.take_events().is_empty(), "events are published once");
        let m = core.markers_if_changed(T0).unwrap();
        assert!(!m.markers.is_empty());
        assert!(
            core.markers_if_changed(T0).is_none(),
            "no change, no markers"
        );
        let d = core.diagnostics(T0 + 1_000_000_000);
        assert!(!d.status.is_empty());
    }

    #[test]
    fn changes_report_a_move_between_passes() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        let changes = |core: &NodeCore, label: &str| {
            core.changes(&ChangesRequest {
                label: label.into(),
                ..ChangesRequest::default()
            })
        };
        assert!(!changes(&core, "").success, "unconfigured");
        core.autostart(T0).unwrap();
        scene(&mut core, 10, "mug");
        let none = changes(&core, "");
        assert!(none.success && none.changes.is_empty(), "{none:?}");
        // An hour later the mug stands 0.9 m to the left in the map (right of the camera's axis
        // is -y; closer than twice the association gate would be one object's two tracks), and
        // its old spot is in view and empty.
        let t1 = T0 + 3_600_000_000_000;
        scene_at(&mut core, t1, 10, "mug", -0.9);
        let r = changes(&core, "mug");
        assert!(r.success, "{}", r.message);
        assert_eq!(r.changes.len(), 1, "{r:?}");
        let c = &r.changes[0];
        assert_eq!((c.kind, c.label.as_str()), (MemoryEvent::KIND_MOVED, "mug"));
        assert!(c.has_from && c.from_position.y.abs() < 0.05, "{c:?}");
        assert!((c.position.y - 0.9).abs() < 0.05, "{c:?}");
        assert!(c.header.stamp.to_ns() >= t1 && c.header.frame_id == "map");
        // The same event went out on ~/events.
        assert!(core
            .take_events()
            .iter()
            .any(|e| e.event_id == c.event_id && e.kind == MemoryEvent::KIND_MOVED));
        assert!(changes(&core, "keys").changes.is_empty());
        let before = core.changes(&ChangesRequest {
            window_end: Time::from_ns(t1 - 1),
            ..ChangesRequest::default()
        });
        assert!(before.success && before.changes.is_empty(), "{before:?}");
    }

    #[test]
    fn deactivated_node_ignores_inputs_but_answers() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        core.autostart(T0).unwrap();
        scene(&mut core, 10, "mug");
        core.change_state(&transition("deactivate"), T0).unwrap();
        assert_eq!(core.state(), LifecycleState::Inactive);
        let before = core.counters().keyframes;
        scene(&mut core, 10, "keys");
        assert_eq!(core.counters().keyframes, before);
        assert!(where_(&core, "keys").objects.is_empty());
        assert_eq!(where_(&core, "mug").objects.len(), 1);
        assert!(core.change_state(&transition("deactivate"), T0).is_err());
    }

    #[test]
    fn cleanup_and_reconfigure_reload_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub/dir/memory.db");
        let mut core = NodeCore::new(config(Some(&db)), "/mnemo");
        core.autostart(T0).unwrap();
        scene(&mut core, 10, "mug");
        let id = where_(&core, "mug").objects[0].id;
        core.take_events();
        core.change_state(&transition("deactivate"), T0).unwrap();
        core.change_state(&transition("cleanup"), T0).unwrap();
        assert_eq!(core.state(), LifecycleState::Unconfigured);
        assert!(core.memory().is_none());
        core.autostart(T0).unwrap();
        let r = where_(&core, "mug");
        assert_eq!(r.objects.len(), 1);
        assert_eq!(r.objects[0].id, id);
        assert!(
            core.take_events().is_empty(),
            "a reloaded memory does not re-publish old events"
        );
        let f = core.forget(&ForgetRequest {
            mode: ForgetRequest::MODE_LABEL,
            label: "mug".into(),
            ..Default::default()
        });
        assert!(f.success, "{}", f.message);
        assert_eq!(f.forgotten_object_ids, vec![id]);
        assert!(where_(&core, "mug").objects.is_empty());
    }

    #[test]
    fn configure_fails_cleanly_on_an_unusable_database() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let mut core = NodeCore::new(config(Some(&file.join("memory.db"))), "/mnemo");
        assert!(core.autostart(T0).is_err());
        assert_eq!(core.state(), LifecycleState::Unconfigured);
        let logs = core.take_logs();
        assert!(
            logs.iter()
                .any(|l| l.level == Level::Error && l.text.contains("not-a-dir")),
            "{logs:?}"
        );
    }

    #[test]
    fn rerun_save_records_while_configured() {
        let dir = tempfile::tempdir().unwrap();
        let rrd = dir.path().join("node.rrd");
        let mut p = BTreeMap::new();
        p.insert("keyframe.max_interval_s".into(), ParamValue::Double(0.0));
        p.insert(
            "rerun".into(),
            ParamValue::String(format!("save={}", rrd.display())),
        );
        let mut core = NodeCore::new(NodeConfig::from_params(&p).unwrap(), "/mnemo");
        core.autostart(T0).unwrap();
        scene(&mut core, 10, "mug");
        core.change_state(&transition("shutdown"), T0).unwrap();
        let bytes = std::fs::read(&rrd).unwrap();
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
    }

    #[test]
    fn an_embedder_that_cannot_open_falls_back_to_lexical() {
        let mut p = BTreeMap::new();
        p.insert(
            "embedder".into(),
            ParamValue::String("minilm=/nonexistent/models".into()),
        );
        let mut core = NodeCore::new(NodeConfig::from_params(&p).unwrap(), "/mnemo");
        core.autostart(T0).unwrap();
        assert_eq!(core.state(), LifecycleState::Active);
        let logs = core.take_logs();
        assert!(
            logs.iter().any(|l| l.level == Level::Error
                && l.text.contains("/nonexistent/models")
                && l.text.contains("lexical")),
            "{logs:?}"
        );
        scene(&mut core, 10, "mug");
        assert_eq!(where_(&core, "mug").objects.len(), 1);
    }

    #[test]
    fn captions_come_back_off_the_ingest_path_at_the_keyframe_time() {
        use crate::perception::worker::FixedDelayCaptioner;
        let mut core = NodeCore::new(config(None), "/mnemo");
        core.set_captioner(Box::new(FixedDelayCaptioner {
            delay: std::time::Duration::from_millis(1),
        }));
        core.autostart(T0).unwrap();
        // Colour images with the detections, so keyframes carry them.
        colour_frames(&mut core, 10);
        scene(&mut core, 10, "mug");
        let keyframes = core.counters().keyframes;
        assert!(keyframes >= 5);
        let mut episodes = Vec::new();
        for _ in 0..500 {
            core.tick();
            let r = core.recall(&RecallRequest {
                k: 100,
                ..Default::default()
            });
            episodes = r.episodes;
            if episodes.len() as u64 + core.diagnostics_drops() >= keyframes {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!episodes.is_empty());
        for e in &episodes {
            assert_eq!(e.caption, "an image of mean colour 200 200 200");
            // Stamped at its keyframe (every 100 ms from T0), not when it came back.
            let t = e.stamp.to_ns() - T0;
            assert!(t >= 0 && t % 100_000_000 == 0 && t < 1_000_000_000, "{t}");
        }
        let ev = core.take_events();
        assert!(ev
            .iter()
            .any(|e| e.kind == 5 && e.caption.contains("mean colour")));
    }

    /// Reads an exit sign 1.5 m ahead on every keyframe (a stand-in for OCR).
    struct SignReader;

    impl KeyframeModel for SignReader {
        fn name(&self) -> String {
            "sign-reader".into()
        }
        fn run(
            &mut self,
            _: &KeyframeJob,
            found: &mut crate::perception::worker::Findings,
        ) -> Result<(), crate::perception::PerceptionError> {
            found.detections.push(crate::core::Detection {
                label: "text".into(),
                score: 0.9,
                position_m: nalgebra::Point3::new(0.3, 0.0, 1.5),
                frame: crate::core::DetectionFrame::Camera,
                extent_m: nalgebra::Vector3::new(0.3, 0.1, 0.01),
                text: Some("EXIT".into()),
                embedding: None,
            });
            Ok(())
        }
    }

    #[test]
    fn model_sightings_come_back_as_objects_without_making_others_missing() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        core.set_models(vec![Box::new(SignReader)]);
        core.autostart(T0).unwrap();
        colour_frames(&mut core, 10);
        scene(&mut core, 10, "mug");
        let mut found = Vec::new();
        for _ in 0..500 {
            core.tick();
            found = core
                .where_(
                    &WhereRequest {
                        target: "EXIT".into(),
                        k: 5,
                        ..Default::default()
                    },
                    T0 + 10_000_000_000,
                )
                .objects;
            if !found.is_empty() && core.memory().unwrap().memory().stats().keyframes >= 5 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].label.as_str(), found[0].text.as_str()),
            ("text", "EXIT")
        );
        // The sign is where the model put it: 1.5 m ahead of the camera, 0.3 m to its right.
        let p = &found[0].position;
        assert!((p.x - 1.5).abs() < 0.1 && (p.y + 0.3).abs() < 0.05, "{p:?}");
        // The mug, in view and not reported by the sign reader, is still present.
        let mug = where_(&core, "mug").objects;
        assert_eq!(mug.len(), 1);
        assert_eq!(mug[0].state, 0, "STATE_PRESENT");
    }

    #[test]
    fn models_that_cannot_be_opened_are_named_and_skipped() {
        let mut p = BTreeMap::new();
        p.insert("captioning.enabled".into(), ParamValue::Bool(true));
        p.insert(
            "captioning.model_dir".into(),
            ParamValue::String("/nonexistent/captioner".into()),
        );
        p.insert(
            "detector.model".into(),
            ParamValue::String("/nonexistent/yolo.onnx".into()),
        );
        p.insert(
            "ocr.model_dir".into(),
            ParamValue::String("/nonexistent/ocr".into()),
        );
        let mut core = NodeCore::new(NodeConfig::from_params(&p).unwrap(), "/mnemo");
        core.open_models();
        let logs = core.take_logs();
        for (what, path) in [
            ("captioning", "/nonexistent/captioner"),
            ("detector", "/nonexistent/yolo.onnx"),
            ("ocr", "/nonexistent/ocr"),
        ] {
            assert!(
                logs.iter().any(|l| l.level == Level::Error
                    && l.text.starts_with(what)
                    && l.text.contains(path)),
                "{what}: {logs:?}"
            );
        }
        assert!(core.perception.is_none());
        // The node still works.
        core.autostart(T0).unwrap();
        scene(&mut core, 10, "mug");
        assert_eq!(where_(&core, "mug").objects.len(), 1);
    }

    #[test]
    fn inputs_stamped_far_ahead_of_the_clock_are_refused_and_reported() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        core.autostart(T0).unwrap();
        let odom = |ns: i64| {
            Input::Odometry(Box::new(Odometry {
                header: header(ns, "odom"),
                child_frame_id: "base_link".into(),
                ..Default::default()
            }))
        };
        core.on_input_at(odom(T0 + 3_600_000_000_000), T0);
        assert_eq!(core.counters().refused, 1);
        assert_eq!(core.counters().poses, 0);
        // The clock unknown (sim time before /clock): nothing is checked.
        core.on_input_at(odom(T0 + 3_600_000_000_000), 0);
        assert_eq!(core.counters().refused, 1);
        core.diagnostics(T0 + 1_000_000_000);
        let logs = core.take_logs();
        assert!(
            logs.iter()
                .any(|l| l.text.contains("1 stamped more than 10 s ahead")),
            "{logs:?}"
        );
    }

    #[test]
    fn shutdown_finalizes() {
        let mut core = NodeCore::new(config(None), "/mnemo");
        core.autostart(T0).unwrap();
        core.change_state(&transition("shutdown"), T0).unwrap();
        assert_eq!(core.state(), LifecycleState::Finalized);
        assert!(core.memory().is_none());
    }
}
