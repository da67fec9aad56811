//! The DDS side of `mnemo_node`, over `ros2-client` (RustDDS): the composition root.
//!
//! Owns: the ROS 2 node (discovery info, rosout, parameter services, `/clock` with
//! `use_sim_time`), the input subscriptions, the service servers, the publishers, and the one
//! task that owns the [`NodeCore`]. Callbacks only decode (ros2-client's CDR into our
//! [`super::msg`] types), convert to a `Cmd` and enqueue it on a bounded channel; a full
//! input queue drops the message and counts it. Everything the node decides is in
//! [`super::node`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ros2_client::ros2::LogLevel;
use ros2_client::{
    qos::{Durability, History, WhenFull},
    Context, ContextOptions, Message, MessageTypeName, Name, Node, NodeName, NodeOptions,
    ParameterValue, QosProfile, ServiceMapping as RosMapping, ServiceTypeName,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::diagnostics::DiagnosticArray;
use super::lifecycle::{Lifecycle, State, Transition, TransitionDescription, TransitionEvent};
use super::mnemo_msgs::{
    ChangesRequest, ChangesResponse, ForgetRequest, ForgetResponse, GetSceneGraphRequest,
    GetSceneGraphResponse, MemoryEvent, NearRequest, NearResponse, RecallRequest, RecallResponse,
    WhenRequest, WhenResponse, WhereRequest, WhereResponse,
};
use super::msg::{
    CameraInfo, Clock, CompressedImage, Detection2DArray, Detection3DArray, Image, MarkerArray,
    Odometry, TfMessage,
};
use super::node::{Level, NodeCore};
use super::params::{NodeConfig, ParamValue, QosProfile as InputQos, RosArgs, ServiceMapping};
use super::pipeline::Input;

macro_rules! ros2_messages {
    ($($t:ty),* $(,)?) => { $(impl Message for $t {})* };
}

ros2_messages!(
    Clock,
    TfMessage,
    Odometry,
    CameraInfo,
    Image,
    CompressedImage,
    Detection3DArray,
    Detection2DArray,
    MarkerArray,
    DiagnosticArray,
    MemoryEvent,
    TransitionEvent,
    WhereRequest,
    WhereResponse,
    WhenRequest,
    WhenResponse,
    NearRequest,
    NearResponse,
    RecallRequest,
    RecallResponse,
    GetSceneGraphRequest,
    GetSceneGraphResponse,
    ForgetRequest,
    ForgetResponse,
    ChangesRequest,
    ChangesResponse,
    EmptyRequest,
    GetStateResponse,
    ChangeStateRequest,
    ChangeStateResponse,
    GetAvailableStatesResponse,
    GetAvailableTransitionsResponse,
);

/// A request with no fields (`GetState`, `GetAvailableStates`, ...): ROS 2 IDL gives it one
/// byte.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct EmptyRequest {
    /// Always 0.
    pub structure_needs_at_least_one_member: u8,
}

/// `lifecycle_msgs/srv/GetState` response.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GetStateResponse {
    /// The primary state.
    pub current_state: State,
}

/// `lifecycle_msgs/srv/ChangeState` request.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ChangeStateRequest {
    /// By label when not empty, else by id.
    pub transition: Transition,
}

/// `lifecycle_msgs/srv/ChangeState` response.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ChangeStateResponse {
    /// Whether the transition ran and succeeded.
    pub success: bool,
}

/// `lifecycle_msgs/srv/GetAvailableStates` response.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GetAvailableStatesResponse {
    /// Every state.
    pub available_states: Vec<State>,
}

/// `lifecycle_msgs/srv/GetAvailableTransitions` response.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GetAvailableTransitionsResponse {
    /// The transitions from the current state.
    pub available_transitions: Vec<TransitionDescription>,
}

/// What callbacks hand to the core task.
enum Cmd {
    Input(Input),
    Undecodable(String, String),
    Where(WhereRequest, oneshot::Sender<WhereResponse>),
    When(WhenRequest, oneshot::Sender<WhenResponse>),
    Near(NearRequest, oneshot::Sender<NearResponse>),
    Recall(RecallRequest, oneshot::Sender<RecallResponse>),
    SceneGraph(GetSceneGraphRequest, oneshot::Sender<GetSceneGraphResponse>),
    Forget(ForgetRequest, oneshot::Sender<ForgetResponse>),
    Changes(ChangesRequest, oneshot::Sender<ChangesResponse>),
    GetState(oneshot::Sender<GetStateResponse>),
    ChangeState(ChangeStateRequest, oneshot::Sender<ChangeStateResponse>),
    AvailableStates(oneshot::Sender<GetAvailableStatesResponse>),
    AvailableTransitions(oneshot::Sender<GetAvailableTransitionsResponse>),
}

/// Input messages waiting for the core at most (a full queue drops and counts).
pub const INPUT_QUEUE: usize = 256;

/// Resolves a ROS name against the node: `~/x` is private (`/ns/node/x`), `/x` absolute,
/// `x` relative to the namespace; then the first matching `-r from:=to` remap applies (`from`
/// resolved the same way).
pub fn resolve_name(
    name: &str,
    namespace: &str,
    node: &str,
    remaps: &[(String, String)],
) -> String {
    let resolve = |n: &str| -> String {
        let ns = namespace.trim_end_matches('/');
        if let Some(rest) = n.strip_prefix("~/") {
            format!("{ns}/{node}/{rest}")
        } else if n.starts_with('/') {
            n.to_string()
        } else {
            format!("{ns}/{n}")
        }
    };
    let full = resolve(name);
    remaps
        .iter()
        .filter(|(from, _)| !from.starts_with("__"))
        .find(|(from, _)| resolve(from) == full)
        .map_or(full, |(_, to)| resolve(to))
}

fn input_qos(q: InputQos) -> QosProfile {
    match q {
        InputQos::SensorData => QosProfile::subscription_default()
            .reliability_best_effort()
            .durability(Durability::Volatile)
            .history(History::KeepLast { depth: 5 }),
        InputQos::Reliable | InputQos::SystemDefault => QosProfile::subscription_default()
            .reliability_reliable(WhenFull::DEFAULT)
            .durability(Durability::Volatile)
            .history(History::KeepLast { depth: 10 }),
    }
}

fn reliable(depth: usize, durability: Durability) -> QosProfile {
    QosProfile::publisher_default()
        .reliability_reliable(WhenFull::DEFAULT)
        .durability(durability)
        .history(History::KeepLast { depth })
}

fn param_value(v: &ParamValue) -> ParameterValue {
    match v {
        ParamValue::Bool(b) => ParameterValue::Boolean(*b),
        ParamValue::Integer(i) => ParameterValue::Integer(*i),
        ParamValue::Double(d) => ParameterValue::Double(*d),
        ParamValue::String(s) => ParameterValue::String(s.clone()),
        ParamValue::BoolArray(a) => ParameterValue::BooleanArray(a.clone()),
        ParamValue::IntegerArray(a) => ParameterValue::IntegerArray(a.clone()),
        ParamValue::DoubleArray(a) => ParameterValue::DoubleArray(a.clone()),
        ParamValue::StringArray(a) => ParameterValue::StringArray(a.clone()),
    }
}

/// Where a failure to start came from.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct StartError {
    what: String,
    reason: String,
}

fn start_err(what: impl Into<String>, reason: impl std::fmt::Debug) -> StartError {
    StartError {
        what: what.into(),
        reason: format!("{reason:?}"),
    }
}

fn name(resolved: &str) -> Result<Name, StartError> {
    Name::parse(resolved).map_err(|e| start_err(format!("name {resolved}"), e))
}

struct Ctx<'a> {
    node: &'a mut Node,
    config: &'a NodeConfig,
    remaps: &'a [(String, String)],
    tx: mpsc::Sender<Cmd>,
    drops: Arc<AtomicU64>,
}

impl Ctx<'_> {
    fn resolve(&self, n: &str) -> String {
        resolve_name(
            n,
            &self.config.namespace,
            &self.config.node_name,
            self.remaps,
        )
    }

    fn subscribe<M>(
        &mut self,
        topic: &str,
        (pkg, ty): (&str, &str),
        qos: QosProfile,
        convert: fn(M) -> Input,
    ) -> Result<String, StartError>
    where
        M: DeserializeOwned + Send + Sync + 'static,
    {
        let resolved = self.resolve(topic);
        let t = self
            .node
            .create_topic(&name(&resolved)?, MessageTypeName::new(pkg, ty), &qos)
            .map_err(|e| start_err(format!("topic {resolved}"), e))?;
        let sub = self
            .node
            .create_subscription::<M>(&t, Some(qos))
            .map_err(|e| start_err(format!("subscription {resolved}"), e))?;
        let tx = self.tx.clone();
        let drops = self.drops.clone();
        let label = resolved.clone();
        tokio::spawn(async move {
            let mut stream = Box::pin(sub.async_stream());
            while let Some(r) = stream.next().await {
                let cmd = match r {
                    Ok((m, _info)) => Cmd::Input(convert(m)),
                    Err(e) => Cmd::Undecodable(label.clone(), format!("{e:?}")),
                };
                match tx.try_send(cmd) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        drops.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        });
        Ok(resolved)
    }

    fn serve<Req, Resp>(
        &mut self,
        service: &str,
        mapping: RosMapping,
        (pkg, ty): (&str, &str),
        make: fn(Req, oneshot::Sender<Resp>) -> Cmd,
    ) -> Result<String, StartError>
    where
        Req: Message + Clone + Send + Sync + 'static,
        Resp: Message + Send + Sync + 'static,
    {
        let resolved = self.resolve(service);
        let qos = reliable(10, Durability::Volatile);
        let server = self
            .node
            .create_server::<Req, Resp>(
                mapping,
                &name(&resolved)?,
                &ServiceTypeName::new(pkg, ty),
                qos.clone(),
                qos,
            )
            .map_err(|e| start_err(format!("service {resolved}"), e))?;
        let tx = self.tx.clone();
        let label = resolved.clone();
        tokio::spawn(async move {
            let mut stream = server.receive_request_stream();
            while let Some(r) = stream.next().await {
                let (id, req) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        // A request that does not decode gets no answer (there is no id to
                        // answer); it is logged and counted.
                        let _ = tx.try_send(Cmd::Undecodable(label.clone(), format!("{e:?}")));
                        continue;
                    }
                };
                let (otx, orx) = oneshot::channel();
                if tx.send(make(req, otx)).await.is_err() {
                    break;
                }
                if let Ok(resp) = orx.await {
                    let _ = server.async_send_response(id, resp).await;
                }
            }
        });
        Ok(resolved)
    }
}

/// The DDS domain from `ROS_DOMAIN_ID` (unset or empty: 0), as rcl reads it.
///
/// # Errors
/// A message for a value that is not an integer in 0..=232 (the range DDS port numbering
/// allows).
pub fn ros_domain_id(value: Option<&str>) -> Result<u16, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => match v.parse::<u16>() {
            Ok(d) if d <= 232 => Ok(d),
            _ => Err(format!("{v:?} is not a domain id in 0..=232")),
        },
    }
}

/// The node's clock: ROS time from `/clock` with `use_sim_time` (0 until the first message,
/// as in rclcpp), else the system clock.
#[derive(Clone)]
struct RosClock {
    sim: Option<Arc<std::sync::atomic::AtomicI64>>,
}

impl RosClock {
    fn now_ns(&self) -> i64 {
        match &self.sim {
            Some(t) => t.load(Ordering::Relaxed),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
        }
    }
}

fn log(node: &Node, fqn: &str, level: Level, text: &str) {
    let (l, tag) = match level {
        Level::Debug => (LogLevel::Debug, "DEBUG"),
        Level::Info => (LogLevel::Info, "INFO"),
        Level::Warn => (LogLevel::Warn, "WARN"),
        Level::Error => (LogLevel::Error, "ERROR"),
    };
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "[{tag}] [{}.{:09}] [{}]: {text}",
        t.as_secs(),
        t.subsec_nanos(),
        fqn.trim_start_matches('/').replace('/', ".")
    );
    ros2_client::rosout!(*node, l, "{}", text);
}

/// Runs the node until SIGINT/SIGTERM or a `shutdown` transition.
///
/// # Errors
/// [`StartError`] when DDS entities cannot be created, or autostart fails.
pub async fn run(config: NodeConfig, args: &RosArgs) -> Result<(), StartError> {
    // One stream per signal for the node's life, made first: a `ctrl_c()` future made per loop
    // iteration only sees signals that arrive while it exists (a SIGINT during a command was
    // lost); a signal during start-up is kept and ends the loop at once.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| start_err("SIGINT handler", e))?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| start_err("SIGTERM handler", e))?;
    let domain = ros_domain_id(std::env::var("ROS_DOMAIN_ID").ok().as_deref())
        .map_err(|e| start_err("ROS_DOMAIN_ID", e))?;
    let context = Context::with_options(ContextOptions::new().domain_id(domain))
        .map_err(|e| start_err(format!("DDS participant in domain {domain}"), e))?;
    let node_name = NodeName::new(&config.namespace, &config.node_name)
        .map_err(|e| start_err("node name", e))?;
    // ros2-client validates declarations too: refuse changes only once the node is up.
    let declared = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let declared_v = declared.clone();
    let mut options = NodeOptions::new()
        .enable_rosout(true)
        .start_parameter_services(true)
        .declare_parameter("use_sim_time", ParameterValue::Boolean(config.use_sim_time))
        .parameter_validator(Box::new(move |name, _| {
            if !declared_v.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(format!(
                    "{name} is read-only at runtime: restart the node with -p {name}:=VALUE"
                ))
            }
        }));
    for (k, v) in &config.effective {
        if k != "use_sim_time" {
            options = options.declare_parameter(k, param_value(v));
        }
    }
    let mut node = context
        .new_node(node_name, options)
        .map_err(|e| start_err("node", e))?;
    declared.store(true, Ordering::SeqCst);
    let fqn = node.fully_qualified_name();
    let (tx, mut rx) = mpsc::channel::<Cmd>(INPUT_QUEUE);
    let drops = Arc::new(AtomicU64::new(0));
    let mapping = match config.service_mapping {
        ServiceMapping::Enhanced => RosMapping::Enhanced,
        ServiceMapping::Cyclone => RosMapping::Cyclone,
        ServiceMapping::Basic => RosMapping::Basic,
    };
    let mut lines = Vec::new();
    let (markers_pub, events_pub, diag_pub, transition_pub);
    {
        let mut cx = Ctx {
            node: &mut node,
            config: &config,
            remaps: &args.remaps,
            tx: tx.clone(),
            drops: drops.clone(),
        };
        let t = &config.topics;
        let tf_static_qos = reliable(100, Durability::TransientLocal);
        let mut subs = vec![
            cx.subscribe::<TfMessage>(
                "/tf",
                ("tf2_msgs", "TFMessage"),
                input_qos(InputQos::Reliable),
                Input::Tf,
            )?,
            cx.subscribe::<TfMessage>(
                "/tf_static",
                ("tf2_msgs", "TFMessage"),
                tf_static_qos,
                Input::TfStatic,
            )?,
            cx.subscribe::<Odometry>(
                &t.odom.topic,
                ("nav_msgs", "Odometry"),
                input_qos(t.odom.qos),
                |m| Input::Odometry(Box::new(m)),
            )?,
            cx.subscribe::<CameraInfo>(
                &t.camera_info.topic,
                ("sensor_msgs", "CameraInfo"),
                input_qos(t.camera_info.qos),
                |m| Input::CameraInfo(Box::new(m)),
            )?,
            cx.subscribe::<Image>(
                &t.color.topic,
                ("sensor_msgs", "Image"),
                input_qos(t.color.qos),
                Input::ColorImage,
            )?,
            cx.subscribe::<CompressedImage>(
                &t.color_compressed.topic,
                ("sensor_msgs", "CompressedImage"),
                input_qos(t.color_compressed.qos),
                Input::CompressedColorImage,
            )?,
            cx.subscribe::<Image>(
                &t.depth.topic,
                ("sensor_msgs", "Image"),
                input_qos(t.depth.qos),
                Input::DepthImage,
            )?,
        ];
        subs.push(if t.detections_2d {
            cx.subscribe::<Detection2DArray>(
                &t.detections.topic,
                ("vision_msgs", "Detection2DArray"),
                input_qos(t.detections.qos),
                Input::Detections2D,
            )?
        } else {
            cx.subscribe::<Detection3DArray>(
                &t.detections.topic,
                ("vision_msgs", "Detection3DArray"),
                input_qos(t.detections.qos),
                Input::Detections3D,
            )?
        });
        let m = mapping;
        let pkg = "mnemo_msgs";
        let lc = "lifecycle_msgs";
        let services = [
            cx.serve("~/where", m, (pkg, "Where"), Cmd::Where as fn(_, _) -> Cmd)?,
            cx.serve("~/when", m, (pkg, "When"), Cmd::When as fn(_, _) -> Cmd)?,
            cx.serve("~/near", m, (pkg, "Near"), Cmd::Near as fn(_, _) -> Cmd)?,
            cx.serve(
                "~/recall",
                m,
                (pkg, "Recall"),
                Cmd::Recall as fn(_, _) -> Cmd,
            )?,
            cx.serve(
                "~/scene_graph",
                m,
                (pkg, "GetSceneGraph"),
                Cmd::SceneGraph as fn(_, _) -> Cmd,
            )?,
            cx.serve(
                "~/forget",
                m,
                (pkg, "Forget"),
                Cmd::Forget as fn(_, _) -> Cmd,
            )?,
            cx.serve(
                "~/changes",
                m,
                (pkg, "Changes"),
                Cmd::Changes as fn(_, _) -> Cmd,
            )?,
            cx.serve("~/get_state", m, (lc, "GetState"), |_: EmptyRequest, tx| {
                Cmd::GetState(tx)
            })?,
            cx.serve(
                "~/change_state",
                m,
                (lc, "ChangeState"),
                Cmd::ChangeState as fn(_, _) -> Cmd,
            )?,
            cx.serve(
                "~/get_available_states",
                m,
                (lc, "GetAvailableStates"),
                |_: EmptyRequest, tx| Cmd::AvailableStates(tx),
            )?,
            cx.serve(
                "~/get_available_transitions",
                m,
                (lc, "GetAvailableTransitions"),
                |_: EmptyRequest, tx| Cmd::AvailableTransitions(tx),
            )?,
            cx.serve(
                "~/get_transition_graph",
                m,
                (lc, "GetAvailableTransitions"),
                |_: EmptyRequest, tx| Cmd::AvailableTransitions(tx),
            )?,
        ];
        let publisher = |topic: &str, (pkg, ty): (&str, &str), qos: QosProfile| {
            let resolved = cx.resolve(topic);
            let t = cx
                .node
                .create_topic(&name(&resolved)?, MessageTypeName::new(pkg, ty), &qos)
                .map_err(|e| start_err(format!("topic {resolved}"), e))?;
            Ok::<_, StartError>((t, resolved))
        };
        let (t_markers, r_markers) = publisher(
            "~/markers",
            ("visualization_msgs", "MarkerArray"),
            reliable(1, Durability::TransientLocal),
        )?;
        let (t_events, r_events) = publisher(
            "~/events",
            ("mnemo_msgs", "MemoryEvent"),
            reliable(100, Durability::Volatile),
        )?;
        let (t_diag, r_diag) = publisher(
            "/diagnostics",
            ("diagnostic_msgs", "DiagnosticArray"),
            reliable(10, Durability::Volatile),
        )?;
        let (t_tr, r_tr) = publisher(
            "~/transition_event",
            ("lifecycle_msgs", "TransitionEvent"),
            reliable(10, Durability::Volatile),
        )?;
        let create = |e| start_err("publisher", e);
        markers_pub = node
            .create_publisher::<MarkerArray>(&t_markers, None)
            .map_err(create)?;
        events_pub = node
            .create_publisher::<MemoryEvent>(&t_events, None)
            .map_err(create)?;
        diag_pub = node
            .create_publisher::<DiagnosticArray>(&t_diag, None)
            .map_err(create)?;
        transition_pub = node
            .create_publisher::<TransitionEvent>(&t_tr, None)
            .map_err(create)?;
        lines.push(format!("subscribed: {}", subs.join(", ")));
        lines.push(format!(
            "services ({:?} request ids): {}",
            config.service_mapping,
            services.join(", ")
        ));
        lines.push(format!(
            "publishing: {r_markers}, {r_events}, {r_diag}, {r_tr}"
        ));
    }
    // ros2-client's own /clock reader expects builtin_interfaces/Time as the type, which no
    // ROS 2 clock publisher uses; read rosgraph_msgs/Clock ourselves (best effort, as
    // rclcpp's ClockQoS, so reliable and best-effort publishers both match).
    let clock = RosClock {
        sim: config
            .use_sim_time
            .then(|| Arc::new(std::sync::atomic::AtomicI64::new(0))),
    };
    if let Some(sim) = clock.sim.clone() {
        let qos = QosProfile::subscription_default()
            .reliability_best_effort()
            .durability(Durability::Volatile)
            .history(History::KeepLast { depth: 1 });
        let resolved = resolve_name("/clock", &config.namespace, &config.node_name, &args.remaps);
        let t = node
            .create_topic(
                &name(&resolved)?,
                MessageTypeName::new("rosgraph_msgs", "Clock"),
                &qos,
            )
            .map_err(|e| start_err(format!("topic {resolved}"), e))?;
        let sub = node
            .create_subscription::<Clock>(&t, Some(qos))
            .map_err(|e| start_err(format!("subscription {resolved}"), e))?;
        tokio::spawn(async move {
            let mut stream = Box::pin(sub.async_stream());
            while let Some(r) = stream.next().await {
                if let Ok((c, _)) = r {
                    sim.store(c.clock.to_ns(), Ordering::Relaxed);
                }
            }
        });
        lines.push(format!("use_sim_time: ROS time from {resolved}"));
    }
    drop(tx);
    let spinner = node.spinner().map_err(|e| start_err("spinner", e))?;
    tokio::spawn(spinner.spin());

    for l in &lines {
        log(&node, &fqn, Level::Info, l);
    }
    for k in &config.unknown {
        log(
            &node,
            &fqn,
            Level::Warn,
            &format!("unknown parameter {k} (ignored)"),
        );
    }
    let mut core = NodeCore::new(config.clone(), &fqn);
    core.open_models();
    if config.autostart {
        match core.autostart(clock.now_ns()) {
            Ok(events) => {
                for e in events {
                    let _ = transition_pub.publish(e);
                }
            }
            Err(e) => log(&node, &fqn, Level::Error, &format!("autostart: {e}")),
        }
    }

    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut diag = tokio::time::interval(Duration::from_secs_f64(config.diagnostics_period_s));
    diag.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut markers_every = tokio::time::interval(Duration::from_millis(500));
    markers_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seen_drops = 0;
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                let finished = handle(&mut core, cmd, clock.now_ns(), &transition_pub);
                for e in core.take_events() {
                    let _ = events_pub.publish(e);
                }
                if finished {
                    log(&node, &fqn, Level::Info, "finalized: shutting down");
                    break;
                }
            }
            _ = tick.tick() => {
                core.tick();
                let d = drops.load(Ordering::Relaxed);
                if d > seen_drops {
                    core.note_queue_drops(d - seen_drops);
                    seen_drops = d;
                }
            }
            _ = markers_every.tick() => {
                if let Some(m) = core.markers_if_changed(clock.now_ns()) {
                    let _ = markers_pub.publish(m);
                }
            }
            _ = diag.tick() => {
                let _ = diag_pub.publish(core.diagnostics(clock.now_ns()));
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
        for l in core.take_logs() {
            log(&node, &fqn, l.level, &l.text);
        }
    }
    if core.state() != super::lifecycle::LifecycleState::Finalized {
        let _ = core.change_state(
            &Transition {
                id: 0,
                label: "shutdown".into(),
            },
            clock.now_ns(),
        );
    }
    for l in core.take_logs() {
        log(&node, &fqn, l.level, &l.text);
    }
    Ok(())
}

/// Runs one command; `true` when the node reached `finalized`.
fn handle(
    core: &mut NodeCore,
    cmd: Cmd,
    now: i64,
    transitions: &ros2_client::Publisher<TransitionEvent>,
) -> bool {
    match cmd {
        Cmd::Input(i) => core.on_input_at(i, now),
        Cmd::Undecodable(topic, reason) => core.note_undecodable(&topic, &reason),
        Cmd::Where(r, tx) => {
            let _ = tx.send(core.where_(&r, now));
        }
        Cmd::When(r, tx) => {
            let _ = tx.send(core.when(&r));
        }
        Cmd::Near(r, tx) => {
            let _ = tx.send(core.near(&r, now));
        }
        Cmd::Recall(r, tx) => {
            let _ = tx.send(core.recall(&r));
        }
        Cmd::SceneGraph(r, tx) => {
            let _ = tx.send(core.scene_graph(&r, now));
        }
        Cmd::Forget(r, tx) => {
            let _ = tx.send(core.forget(&r));
        }
        Cmd::Changes(r, tx) => {
            let _ = tx.send(core.changes(&r));
        }
        Cmd::GetState(tx) => {
            let _ = tx.send(GetStateResponse {
                current_state: core.state().msg(),
            });
        }
        Cmd::ChangeState(r, tx) => {
            let success = match core.change_state(&r.transition, now) {
                Ok(events) => {
                    // events[1] is the step's result (`on_X_success` ids end in 0).
                    let ok = events.get(1).is_some_and(|e| e.transition.id % 10 == 0);
                    for e in events {
                        let _ = transitions.publish(e);
                    }
                    ok
                }
                Err(_) => false,
            };
            let _ = tx.send(ChangeStateResponse { success });
        }
        Cmd::AvailableStates(tx) => {
            let _ = tx.send(GetAvailableStatesResponse {
                available_states: Lifecycle::available_states(),
            });
        }
        Cmd::AvailableTransitions(tx) => {
            let _ = tx.send(GetAvailableTransitionsResponse {
                available_transitions: core.lifecycle().available_transitions(),
            });
        }
    }
    core.state() == super::lifecycle::LifecycleState::Finalized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_id_from_the_environment() {
        assert_eq!(ros_domain_id(None), Ok(0));
        assert_eq!(ros_domain_id(Some("")), Ok(0));
        assert_eq!(ros_domain_id(Some("42")), Ok(42));
        assert!(ros_domain_id(Some("233")).is_err());
        assert!(ros_domain_id(Some("x")).is_err());
    }

    #[test]
    fn names_resolve_like_rcl() {
        let r = |n: &str, ns: &str, remaps: &[(&str, &str)]| {
            let remaps: Vec<(String, String)> = remaps
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            resolve_name(n, ns, "mnemo", &remaps)
        };
        assert_eq!(r("~/where", "/", &[]), "/mnemo/where");
        assert_eq!(r("~/where", "/robot1", &[]), "/robot1/mnemo/where");
        assert_eq!(r("odom", "/robot1", &[]), "/robot1/odom");
        assert_eq!(r("odom", "/", &[]), "/odom");
        assert_eq!(r("/tf", "/robot1", &[]), "/tf");
        assert_eq!(r("/odom", "/", &[("/odom", "/wheel/odom")]), "/wheel/odom");
        assert_eq!(
            r("odom", "/r", &[("odom", "odometry/filtered")]),
            "/r/odometry/filtered"
        );
        assert_eq!(r("~/markers", "/", &[("~/markers", "/viz")]), "/viz");
        // __node / __ns are not topic remaps.
        assert_eq!(r("/odom", "/", &[("__node", "x")]), "/odom");
    }
}
