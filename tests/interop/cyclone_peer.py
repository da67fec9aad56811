#!/usr/bin/env python3
"""An Eclipse Cyclone DDS peer that plays a robot and a planner against a running `mnemo_node`.

Independent of Mnemo's code: types come from ROS definitions (ros_dds_types.py), the transport
is Cyclone DDS (the `cyclonedds` PyPI package with its bundled libddsc), names follow the ROS 2
conventions (`rt/`, `rq/<service>Request`, `rr/<service>Reply`, `pkg::msg::dds_::Name_`), and
service requests carry rmw_cyclonedds's `{guid, seq}` header (the node runs with
`service_mapping: cyclone`).

Modes:
  scenario  start the node (--node BIN), publish a short scene with two known objects (tf,
            tf_static, odometry, camera_info, Detection3DArray), call every service and check
            the answers, read ~/markers, ~/events, /diagnostics, ~/transition_event and
            ros_discovery_info, drive the lifecycle, query the parameter services, send bad
            inputs and check the node keeps serving; prints a JSON report, exits 1 on a failed
            check.
  simtime   start the node with use_sim_time, publish /clock, check that response headers
            and /diagnostics carry that time.
  bench     start the node, fill it, then time N `~/where` round trips (p50/p99/max, ms).
  rgbd      640x480 RGB + depth at 15 Hz, raw then jpeg-compressed colour, --seconds each:
            messages sent vs received by the node, its queue drops and CPU (cores).
  perception start the node with keyframe models (--captioner DIR --detector MODEL: the tiny
            ones tests/interop/ builds), show it a bright RGB-D view at 2 m, check the captions
            through ~/recall and the detector's mug through ~/where.

With --netns the script first brings `lo` up (run it under `unshare -n`, so nothing leaves
a private network namespace); Cyclone is configured for loopback only either way.
"""
import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CYCLONE_LOOPBACK = """<CycloneDDS><Domain Id="any"><General><Interfaces>
<NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast></General>
<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>60</MaxAutoParticipantIndex>
<Peers><Peer address="127.0.0.1"/></Peers></Discovery></Domain></CycloneDDS>"""


def setup_env(netns):
    if netns:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ["CYCLONEDDS_URI"] = CYCLONE_LOOPBACK


class Failed(Exception):
    pass


def check(cond, what, report):
    report["checks"].append({"check": what, "ok": bool(cond)})
    if not cond:
        raise Failed(what)


# --- geometry (plain Python, independent of the node) ---------------------------------------

def qmul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def qrot(q, v):
    x, y, z, _ = qmul(qmul(q, (v[0], v[1], v[2], 0.0)), (-q[0], -q[1], -q[2], q[3]))
    return (x, y, z)


def compose(a, b):
    """(t, q) poses: a * b."""
    ta, qa = a
    tb, qb = b
    r = qrot(qa, tb)
    return ((ta[0] + r[0], ta[1] + r[1], ta[2] + r[2]), qmul(qa, qb))


def inverse(a):
    t, q = a
    qi = (-q[0], -q[1], -q[2], q[3])
    r = qrot(qi, t)
    return ((-r[0], -r[1], -r[2]), qi)


def yaw_q(yaw):
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


MAP_FROM_ODOM = ((0.5, 0.0, 0.0), yaw_q(0.0))
BASE_FROM_CAMERA = ((0.1, 0.0, 1.0), (-0.5, 0.5, -0.5, 0.5))  # optical frame: z forward
OBJECTS = {  # label -> (map position, extent)
    "mug": ((3.0, 0.4, 0.8), (0.09, 0.09, 0.1)),
    "keys": ((3.0, -0.6, 0.75), (0.08, 0.05, 0.02)),
}


# --- the peer -------------------------------------------------------------------------------

class Peer:
    def __init__(self, node_fqn, domain):
        from cyclonedds.core import WaitSet, ReadCondition, ViewState, InstanceState, SampleState
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.util import duration

        import ros_dds_types as R

        self.R = R
        self.Policy, self.Qos, self.duration = Policy, Qos, duration
        self.WaitSet, self.ReadCondition = WaitSet, ReadCondition
        self.any_state = ViewState.Any | InstanceState.Any | SampleState.NotRead
        self.dp = DomainParticipant(domain)
        self.node = node_fqn.rstrip("/")
        self.guid = random.getrandbits(63)
        self.seq = 0
        self.clients = {}
        self.writers = {}

    def qos(self, reliable=True, transient=False, depth=10):
        P = self.Policy
        pol = [
            P.Reliability.Reliable(max_blocking_time=self.duration(seconds=1)) if reliable else P.Reliability.BestEffort,
            P.Durability.TransientLocal if transient else P.Durability.Volatile,
            P.History.KeepLast(depth),
            P.DataRepresentation(use_cdrv0_representation=True),
        ]
        return self.Qos(*pol)

    def topic(self, name, ros_type, request_header=False):
        from cyclonedds.topic import Topic

        return Topic(self.dp, name, self.R.idl(ros_type, request_header), qos=self.qos())

    def writer(self, topic, ros_type, **qos):
        from cyclonedds.pub import DataWriter

        key = (topic, ros_type)
        if key not in self.writers:
            self.writers[key] = DataWriter(self.dp, self.topic("rt" + topic, ros_type), qos=self.qos(**qos))
        return self.writers[key]

    def reader(self, topic, ros_type, **qos):
        from cyclonedds.sub import DataReader

        return DataReader(self.dp, self.topic("rt" + topic, ros_type), qos=self.qos(**qos))

    def client(self, service, srv_type, header=True):
        """(writer, reader, waitset) for `service` (resolved name) of `srv_type` (pkg/srv/Name)."""
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader

        key = (service, srv_type, header)
        if key not in self.clients:
            w = DataWriter(self.dp, self.topic(f"rq{service}Request", srv_type + "_Request", header), qos=self.qos())
            r = DataReader(self.dp, self.topic(f"rr{service}Reply", srv_type + "_Response", header), qos=self.qos(depth=100))
            ws = self.WaitSet(self.dp)
            cond = self.ReadCondition(r, self.any_state)
            ws.attach(cond)
            self.clients[key] = (w, r, ws, cond)
            # A request written before the node's reader matched would be lost (volatile).
            end = time.monotonic() + 10.0
            while time.monotonic() < end and not (w.get_matched_subscriptions() and r.get_matched_publications()):
                time.sleep(0.02)
        return self.clients[key]

    def wait_matched(self, service, srv_type, header=True, timeout_s=20.0):
        w, r, _, _ = self.client(service, srv_type, header)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if w.get_matched_subscriptions() and r.get_matched_publications():
                return True
            time.sleep(0.05)
        return False

    def call(self, service, srv_type, timeout_s=5.0, header=True, **fields):
        """Calls `service`; returns the response or None on timeout."""
        w, r, ws, cond = self.client(service, srv_type, header)
        if header:
            self.seq += 1
            fields.update(client_guid=self.guid, sequence_number=self.seq)
        w.write(self.R.make(srv_type + "_Request", header, **fields))
        end = time.monotonic() + timeout_s
        while True:
            for s in r.take(N=16, condition=cond):
                if not header:
                    return s
                if s.client_guid == self.guid and s.sequence_number == self.seq:
                    return s
            left = end - time.monotonic()
            if left <= 0:
                return None
            ws.wait(self.duration(seconds=min(left, 0.5)))

    def warm(self, service, srv_type, header=True, timeout_s=20.0, **harmless):
        """Calls `service` with a harmless request until it answers: DDS discovery is not
        symmetric, so the first request after matching can be lost (rclpy's wait_for_service
        has the same race). Returns the number of attempts."""
        end = time.monotonic() + timeout_s
        attempts = 0
        while time.monotonic() < end:
            attempts += 1
            if self.call(service, srv_type, timeout_s=1.0, header=header, **harmless) is not None:
                return attempts
        raise Failed(f"{service} never answered")

    def svc(self, name):
        return f"{self.node}/{name}"


def stamp(ns):
    from ros_dds_types import make

    return make("builtin_interfaces/msg/Time", sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def header(ns, frame):
    from ros_dds_types import make

    return make("std_msgs/msg/Header", stamp=stamp(ns), frame_id=frame)


def tf_stamped(ns, parent, child, pose):
    from ros_dds_types import make

    (x, y, z), (qx, qy, qz, qw) = pose
    return make(
        "geometry_msgs/msg/TransformStamped",
        header=header(ns, parent),
        child_frame_id=child,
        transform=make(
            "geometry_msgs/msg/Transform",
            translation=make("geometry_msgs/msg/Vector3", x=x, y=y, z=z),
            rotation=make("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        ),
    )


def pose_msg(pose):
    from ros_dds_types import make

    (x, y, z), (qx, qy, qz, qw) = pose
    return make(
        "geometry_msgs/msg/Pose",
        position=make("geometry_msgs/msg/Point", x=x, y=y, z=z),
        orientation=make("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
    )


def camera_info(ns):
    from ros_dds_types import make

    fx = fy = 525.0
    cx, cy = 319.5, 239.5
    return make(
        "sensor_msgs/msg/CameraInfo",
        header=header(ns, "camera_color_optical_frame"),
        height=480,
        width=640,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def detections(ns, map_from_camera, objects):
    from ros_dds_types import make

    camera_from_map = inverse(map_from_camera)
    dets = []
    for label, (p_map, extent) in objects.items():
        p = qrot(camera_from_map[1], p_map)
        p = tuple(p[i] + camera_from_map[0][i] for i in range(3))
        dets.append(
            make(
                "vision_msgs/msg/Detection3D",
                header=header(ns, "camera_color_optical_frame"),
                results=[
                    make(
                        "vision_msgs/msg/ObjectHypothesisWithPose",
                        hypothesis=make("vision_msgs/msg/ObjectHypothesis", class_id=label, score=0.9),
                        pose=make("geometry_msgs/msg/PoseWithCovariance", pose=pose_msg((p, (0.0, 0.0, 0.0, 1.0)))),
                    )
                ],
                bbox=make(
                    "vision_msgs/msg/BoundingBox3D",
                    center=pose_msg((p, (0.0, 0.0, 0.0, 1.0))),
                    size=make("geometry_msgs/msg/Vector3", x=extent[0], y=extent[1], z=extent[2]),
                ),
                id="",
            )
        )
    return make("vision_msgs/msg/Detection3DArray", header=header(ns, "camera_color_optical_frame"), detections=dets)


def publish_scene(peer, steps, rate_hz, objects, t_offset_s=0.0):
    """Drives the robot along +x in odom for `steps` steps; returns (first, last) stamp ns."""
    from ros_dds_types import make

    tf = peer.writer("/tf", "tf2_msgs/msg/TFMessage")
    odom = peer.writer("/odom", "nav_msgs/msg/Odometry")
    info = peer.writer("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo")
    det = peer.writer("/detections", "vision_msgs/msg/Detection3DArray")
    first = last = None
    for i in range(steps):
        ns = time.time_ns()
        odom_from_base = ((0.05 * i + t_offset_s, 0.0, 0.0), yaw_q(0.0))
        tf.write(make("tf2_msgs/msg/TFMessage", transforms=[tf_stamped(ns, "odom", "base_link", odom_from_base)]))
        odom.write(
            make(
                "nav_msgs/msg/Odometry",
                header=header(ns, "odom"),
                child_frame_id="base_link",
                pose=make("geometry_msgs/msg/PoseWithCovariance", pose=pose_msg(odom_from_base)),
            )
        )
        info.write(camera_info(ns))
        map_from_camera = compose(compose(MAP_FROM_ODOM, odom_from_base), BASE_FROM_CAMERA)
        det.write(detections(ns, map_from_camera, objects))
        first = first or ns
        last = ns
        time.sleep(1.0 / rate_hz)
    return first, last


def publish_static(peer):
    from ros_dds_types import make

    w = peer.writer("/tf_static", "tf2_msgs/msg/TFMessage", transient=True, depth=1)
    ns = time.time_ns()
    w.write(
        make(
            "tf2_msgs/msg/TFMessage",
            transforms=[
                tf_stamped(ns, "map", "odom", MAP_FROM_ODOM),
                tf_stamped(ns, "base_link", "camera_color_optical_frame", BASE_FROM_CAMERA),
            ],
        )
    )


def start_node(binary, args, log_path):
    log = open(log_path, "wb")
    proc = subprocess.Popen([binary, "--ros-args", *args], stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def stop_node(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


def dist(a, b):
    return math.sqrt(sum((a[i] - b[i]) ** 2 for i in range(3)))


def pt(p):
    return (p.x, p.y, p.z)


def ns_of(t):
    return t.sec * 1_000_000_000 + t.nanosec


def scenario(args, report):
    import ros_dds_types as R

    work = Path(args.workdir or tempfile.mkdtemp(prefix="mnemo-interop-"))
    db = work / "memory.db"
    node_log = work / "node.log"
    report["node_log"] = str(node_log)
    node_args = [
        "-p", "service_mapping:=cyclone",
        "-p", f"db_path:={db}",
        "-p", "keyframe.max_interval_s:=0.0",
        "-p", "diagnostics.period_s:=0.5",
        # The keys below are carried off seconds after they were seen (a move watched as it
        # happens); with the default `min_move_gap_s` (300 s) a look-alike that soon after the
        # last sighting is taken for a second set of keys.
        "-p", "changes.min_move_gap_s:=0.0",
        "-p", "an_unknown_key:=1",
    ]
    proc, log = start_node(args.node, node_args, node_log)
    streamer = None
    try:
        peer = Peer("/mnemo", args.domain)
        # Readers first, so volatile topics are not missed.
        events_r = peer.reader("/mnemo/events", "mnemo_msgs/msg/MemoryEvent", depth=1000)
        diag_r = peer.reader("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", depth=100)
        transitions_r = peer.reader("/mnemo/transition_event", "lifecycle_msgs/msg/TransitionEvent", depth=100)
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        discovery_r = DataReader(
            peer.dp,
            Topic(peer.dp, "ros_discovery_info", R.idl("rmw_dds_common/msg/ParticipantEntitiesInfo"), qos=peer.qos(transient=True, depth=1)),
            qos=peer.qos(transient=True, depth=1),
        )

        t0 = time.monotonic()
        ok = peer.wait_matched(peer.svc("get_state"), "lifecycle_msgs/srv/GetState", timeout_s=30)
        check(ok, "the node's ~/get_state service is discovered", report)
        report["discovery_s"] = round(time.monotonic() - t0, 2)
        # Warm every client with a harmless request (see Peer.warm).
        M = R.make
        attempts = {
            "get_state": peer.warm(peer.svc("get_state"), "lifecycle_msgs/srv/GetState"),
            "where": peer.warm(peer.svc("where"), "mnemo_msgs/srv/Where", target="warm-up", k=1),
            "when": peer.warm(peer.svc("when"), "mnemo_msgs/srv/When", target="warm-up"),
            "near": peer.warm(peer.svc("near"), "mnemo_msgs/srv/Near", radius=1.0, k=1),
            "recall": peer.warm(peer.svc("recall"), "mnemo_msgs/srv/Recall", k=1),
            "scene_graph": peer.warm(peer.svc("scene_graph"), "mnemo_msgs/srv/GetSceneGraph"),
            "forget": peer.warm(peer.svc("forget"), "mnemo_msgs/srv/Forget", mode=200),
            "changes": peer.warm(peer.svc("changes"), "mnemo_msgs/srv/Changes"),
            "change_state": peer.warm(peer.svc("change_state"), "lifecycle_msgs/srv/ChangeState",
                                      transition=M("lifecycle_msgs/msg/Transition", id=99, label="")),
            "get_available_states": peer.warm(peer.svc("get_available_states"), "lifecycle_msgs/srv/GetAvailableStates"),
            "get_available_transitions": peer.warm(peer.svc("get_available_transitions"), "lifecycle_msgs/srv/GetAvailableTransitions"),
            "get_parameters": peer.warm(peer.svc("get_parameters"), "rcl_interfaces/srv/GetParameters", header=False, names=[]),
            "list_parameters": peer.warm(peer.svc("list_parameters"), "rcl_interfaces/srv/ListParameters", header=False, depth=1),
        }
        report["warm_up_attempts"] = attempts
        st = peer.call(peer.svc("get_state"), "lifecycle_msgs/srv/GetState")
        check(st is not None and st.current_state.id == 3 and st.current_state.label == "active",
              f"autostart: get_state is active (got {st and st.current_state})", report)

        # ros_discovery_info: `ros2 node list` would show /mnemo.
        names = set()
        end = time.monotonic() + 10
        while time.monotonic() < end and ("/", "mnemo") not in names:
            for s in discovery_r.take(N=64):
                for n in s.node_entities_info_seq:
                    names.add((n.node_namespace, n.node_name))
            time.sleep(0.1)
        check(("/", "mnemo") in names, f"ros_discovery_info lists node /mnemo (saw {sorted(names)})", report)

        # Inputs: wait until the node's subscriptions match our writers.
        publish_static(peer)
        for topic, typ in [
            ("/tf", "tf2_msgs/msg/TFMessage"),
            ("/odom", "nav_msgs/msg/Odometry"),
            ("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
            ("/detections", "vision_msgs/msg/Detection3DArray"),
        ]:
            w = peer.writer(topic, typ)
            end = time.monotonic() + 20
            while time.monotonic() < end and not w.get_matched_subscriptions():
                time.sleep(0.05)
            check(bool(w.get_matched_subscriptions()), f"the node subscribes to {topic} ({typ})", report)
        first_ns, last_ns = publish_scene(peer, steps=30, rate_hz=10.0, objects=OBJECTS)
        time.sleep(1.0)

        # where
        where = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=True, k=5)
        check(where is not None and where.success, f"where mug answers (message {where and where.message!r})", report)
        mugs = [o for o in where.objects if o.label == "mug"]
        check(len(mugs) == 1, f"where mug: one mug (got {[(o.label, pt(o.position)) for o in where.objects]})", report)
        mug = mugs[0]
        err = dist(pt(mug.position), OBJECTS["mug"][0])
        report["where_mug_error_m"] = round(err, 4)
        check(err <= 0.1, f"where finds the mug within 0.1 m (error {err:.3f} m)", report)
        check(where.header.frame_id == "map", "where answers in the map frame", report)
        check(first_ns - 10**9 <= ns_of(mug.first_seen) <= last_ns and first_ns <= ns_of(mug.last_seen) <= last_ns + 10**9,
              "the mug's first/last seen lie in the publication window", report)
        # text match (lexical): "the mug" finds it too
        where_text = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=False, k=1)
        check(where_text.success and where_text.objects and where_text.objects[0].id == mug.id, "where by text finds the mug", report)

        # when
        when = peer.call(peer.svc("when"), "mnemo_msgs/srv/When", target="mug", exact_label=True)
        check(when is not None and when.success and len(when.events) > 0, f"when mug answers with events ({when and len(when.events)})", report)
        kinds = {e.kind for e in when.events}
        consts = R.constants_of("mnemo_msgs/msg/MemoryEvent")
        check(consts["KIND_VISIT"] in kinds or consts["KIND_FIRST_SEEN"] in kinds, f"when returns the mug's visit (kinds {sorted(kinds)})", report)
        for e in when.events:
            check(first_ns - 10**9 <= ns_of(e.start) <= ns_of(e.end) <= last_ns + 10**9, "when: visit within the publication window", report)

        # near, with a window covering the scene, and one before it
        P = R.make
        near = peer.call(peer.svc("near"), "mnemo_msgs/srv/Near",
                         point=P("geometry_msgs/msg/Point", x=3.0, y=0.4, z=0.8), radius=0.5, k=10,
                         window_start=stamp(first_ns), window_end=stamp(last_ns))
        labels = sorted(o.label for o in near.objects)
        check(near.success and labels == ["mug"], f"near (3,0.4,0.8) r=0.5 in the window: only the mug (got {labels})", report)
        check(near.objects[0].has_distance and near.objects[0].distance <= 0.1, "near reports the distance", report)
        near_wide = peer.call(peer.svc("near"), "mnemo_msgs/srv/Near",
                              point=P("geometry_msgs/msg/Point", x=3.0, y=0.0, z=0.8), radius=1.5, k=10)
        check(sorted(o.label for o in near_wide.objects) == ["keys", "mug"], "near r=1.5: mug and keys", report)
        near_before = peer.call(peer.svc("near"), "mnemo_msgs/srv/Near",
                                point=P("geometry_msgs/msg/Point", x=3.0, y=0.4, z=0.8), radius=0.5, k=10,
                                window_start=stamp(first_ns - 100 * 10**9), window_end=stamp(first_ns - 50 * 10**9))
        check(near_before.success and not near_before.objects, "near in a window before the scene: nothing", report)

        # recall (no captions without a captioner): answers, empty
        recall = peer.call(peer.svc("recall"), "mnemo_msgs/srv/Recall", text="", k=10)
        check(recall is not None and recall.success, "recall answers", report)

        # scene graph
        sg = peer.call(peer.svc("scene_graph"), "mnemo_msgs/srv/GetSceneGraph")
        check(sg.success and sorted(o.label for o in sg.graph.objects) == ["keys", "mug"],
              f"scene_graph holds mug and keys (got {[o.label for o in sg.graph.objects]})", report)

        # changes: nothing yet; then a second pass with the keys carried 1 m further along x
        # (their old spot in view and empty; closer than twice the association gate would be
        # one object's two tracks).
        ch0 = peer.call(peer.svc("changes"), "mnemo_msgs/srv/Changes")
        check(ch0 is not None and ch0.success and not ch0.changes, f"changes before anything moved: none (got {ch0})", report)
        moved_keys = (4.0, -0.6, 0.75)
        moved_event_id = None
        second = {"mug": OBJECTS["mug"], "keys": (moved_keys, OBJECTS["keys"][1])}
        first2_ns, last2_ns = publish_scene(peer, steps=30, rate_hz=10.0, objects=second)
        time.sleep(1.0)
        ch = peer.call(peer.svc("changes"), "mnemo_msgs/srv/Changes", window_start=stamp(first2_ns))
        got = ch and [(c.kind, c.label, pt(c.from_position), pt(c.position)) for c in ch.changes]
        report["changes"] = got
        check(ch is not None and ch.success and len(ch.changes) == 1 and ch.changes[0].kind == consts["KIND_MOVED"]
              and ch.changes[0].label == "keys" and ch.changes[0].has_from,
              f"changes in the second pass: the keys moved (got {got})", report)
        if ch and ch.changes:
            c = ch.changes[0]
            check(dist(pt(c.from_position), OBJECTS["keys"][0]) <= 0.1 and dist(pt(c.position), moved_keys) <= 0.1,
                  f"the move goes from the old spot to the new one ({pt(c.from_position)} -> {pt(c.position)})", report)
            check(first2_ns <= ns_of(c.header.stamp) <= last2_ns + 10**9 and c.header.frame_id == "map",
                  "the move is stamped in the second pass, in the map frame", report)
            moved_event_id = c.event_id
        only_mug = peer.call(peer.svc("changes"), "mnemo_msgs/srv/Changes", label="mug")
        check(only_mug is not None and only_mug.success and not only_mug.changes, "changes of the mug only: none", report)
        first_pass = peer.call(peer.svc("changes"), "mnemo_msgs/srv/Changes", window_start=stamp(first_ns), window_end=stamp(last_ns))
        check(first_pass is not None and first_pass.success and not first_pass.changes, "changes in the first pass: none", report)
        inverted = peer.call(peer.svc("changes"), "mnemo_msgs/srv/Changes", window_start=stamp(last_ns), window_end=stamp(first_ns))
        check(inverted is not None and not inverted.success and inverted.message, "changes with an inverted window is refused", report)

        # bad requests: clear refusals, node serving
        big = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="x" * 5000, k=1)
        check(big is not None and not big.success and big.message, f"an oversized where is refused with a message ({big and big.message[:80]!r})", report)
        empty = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="", k=1)
        check(empty is not None and not empty.success, "an empty where is refused", report)
        badnear = peer.call(peer.svc("near"), "mnemo_msgs/srv/Near", radius=-1.0, k=1)
        check(badnear is not None and not badnear.success, "near with a negative radius is refused", report)
        badforget = peer.call(peer.svc("forget"), "mnemo_msgs/srv/Forget", mode=9)
        check(badforget is not None and not badforget.success, "forget with an unknown mode is refused", report)

        # bad inputs from the peer: NaN odometry, a detection without a label, a wrong-typed
        # payload on /odom's type name (undecodable CDR), an image with a wrong step.
        bad = report.setdefault("bad_inputs", [])
        ns = time.time_ns()
        peer.writer("/odom", "nav_msgs/msg/Odometry").write(
            P("nav_msgs/msg/Odometry", header=header(ns, "odom"), child_frame_id="base_link",
              pose=P("geometry_msgs/msg/PoseWithCovariance", pose=pose_msg(((float("nan"), 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))))))
        bad.append("odometry with NaN position")
        peer.writer("/odom", "nav_msgs/msg/Odometry").write(
            P("nav_msgs/msg/Odometry", header=header(ns, "odom"), child_frame_id="base_link",
              pose=P("geometry_msgs/msg/PoseWithCovariance", pose=pose_msg(((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0))))))
        bad.append("odometry with a zero quaternion")
        peer.writer("/tf", "tf2_msgs/msg/TFMessage").write(
            P("tf2_msgs/msg/TFMessage", transforms=[tf_stamped(ns, "odom", "base_link", ((0.0, 0.0, 0.0), yaw_q(0.0)))]))
        peer.writer("/detections", "vision_msgs/msg/Detection3DArray").write(
            detections(ns, compose(compose(MAP_FROM_ODOM, ((0.0, 0.0, 0.0), yaw_q(0))), BASE_FROM_CAMERA), {"": OBJECTS["mug"]}))
        bad.append("a detection with an empty label")
        img = peer.writer("/camera/depth/image_raw", "sensor_msgs/msg/Image", reliable=False, depth=5)
        end = time.monotonic() + 10
        while time.monotonic() < end and not img.get_matched_subscriptions():
            time.sleep(0.05)
        time.sleep(0.3)
        img.write(P("sensor_msgs/msg/Image", header=header(ns, "camera_color_optical_frame"), height=480, width=640,
                    encoding="16UC1", step=7, data=[0] * 100))
        bad.append("a depth image whose step and size disagree")
        img.write(P("sensor_msgs/msg/Image", header=header(ns, "camera_color_optical_frame"), height=2, width=2,
                    encoding="yuv422_weird", step=4, data=[0] * 8))
        bad.append("an image with an unknown encoding")
        # Malformed CDR: a writer of another shape under the Odometry type name.
        from cyclonedds.idl import IdlStruct
        from cyclonedds.idl.types import uint8
        from dataclasses import dataclass
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic as CTopic

        @dataclass
        class Garbage(IdlStruct, typename="nav_msgs::msg::dds_::Odometry_"):
            junk: uint8

        # A second participant, since one participant cannot have two types on one topic name.
        from cyclonedds.domain import DomainParticipant

        dp2 = DomainParticipant(args.domain)
        gw = DataWriter(dp2, CTopic(dp2, "rt/odom", Garbage, qos=peer.qos()), qos=peer.qos())
        end = time.monotonic() + 10
        while time.monotonic() < end and not gw.get_matched_subscriptions():
            time.sleep(0.05)
        for _ in range(3):
            gw.write(Garbage(junk=7))
        bad.append("3 undecodable /odom payloads (1 byte of CDR)")
        time.sleep(1.0)
        alive = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=True, k=5)
        check(alive is not None and alive.success and len(alive.objects) == 1, "after bad inputs the node still answers where", report)
        check(proc.poll() is None, "the node process is still running after bad inputs", report)

        # diagnostics show refusals
        diag_msgs = list(diag_r.take(N=1000))
        check(len(diag_msgs) > 0, f"/diagnostics published ({len(diag_msgs)} arrays)", report)
        kv = {}
        for d in diag_msgs:
            for s in d.status:
                for k in s.values:
                    kv[(s.name, k.key)] = k.value
        report["diagnostics_keys"] = sorted({k for (_, k) in kv})
        levels = {s.level for d in diag_msgs for s in d.status}
        check(1 in levels, f"/diagnostics went to WARN after the bad inputs (levels {sorted(levels)})", report)

        # ~/markers: transient-local, a late reader gets the latest array
        markers_r = peer.reader("/mnemo/markers", "visualization_msgs/msg/MarkerArray", transient=True, depth=1)
        arrays = []
        end = time.monotonic() + 10
        while time.monotonic() < end and not arrays:
            arrays = markers_r.take(N=10)
            time.sleep(0.1)
        check(bool(arrays), "a late ~/markers reader receives the latest MarkerArray (transient local)", report)
        texts = [m.text for a in arrays for m in a.markers]
        check(any("mug" in t for t in texts), f"markers label the mug (texts {texts[:6]})", report)
        check(all(m.header.frame_id == "map" for a in arrays for m in a.markers), "markers are in the map frame", report)

        # ~/events: first_seen / visit events for both objects, labelled
        evs = list(events_r.take(N=1000))
        ev_labels = {(e.kind, e.label) for e in evs}
        report["events"] = len(evs)
        check((consts["KIND_FIRST_SEEN"], "mug") in ev_labels and (consts["KIND_FIRST_SEEN"], "keys") in ev_labels,
              f"~/events carried first_seen for mug and keys (got {sorted(ev_labels)[:10]})", report)
        check(all(e.header.frame_id == "map" for e in evs), "events are in the map frame", report)
        check(any(e.event_id == moved_event_id and e.kind == consts["KIND_MOVED"] and e.label == "keys" for e in evs),
              "~/events carried the keys' move with the event id ~/changes named", report)

        # lifecycle: deactivate -> inputs ignored, services still answer; activate again
        ch = peer.call(peer.svc("change_state"), "lifecycle_msgs/srv/ChangeState",
                       transition=P("lifecycle_msgs/msg/Transition", id=4, label=""))
        check(ch is not None and ch.success, f"change_state deactivate (id 4) succeeds (got {ch})", report)
        st = peer.call(peer.svc("get_state"), "lifecycle_msgs/srv/GetState")
        check(st.current_state.id == 2, f"the node is inactive (got {st.current_state})", report)
        avail = peer.call(peer.svc("get_available_transitions"), "lifecycle_msgs/srv/GetAvailableTransitions")
        check(sorted(t.transition.label for t in avail.available_transitions) == ["activate", "cleanup", "shutdown"],
              f"inactive offers activate/cleanup/shutdown (got {[t.transition.label for t in avail.available_transitions]})", report)
        states = peer.call(peer.svc("get_available_states"), "lifecycle_msgs/srv/GetAvailableStates")
        want = {(1, "unconfigured"), (2, "inactive"), (3, "active"), (4, "finalized"), (10, "configuring"),
                (11, "cleaningup"), (12, "shuttingdown"), (13, "activating"), (14, "deactivating"),
                (15, "errorprocessing")}
        got = {(s.id, s.label) for s in states.available_states}
        check(got == want, f"the 10 rcl_lifecycle states (got {sorted(got)})", report)
        ghost = {"cup": ((2.5, 1.0, 0.8), (0.08, 0.08, 0.1))}
        publish_scene(peer, steps=5, rate_hz=10.0, objects=ghost)
        time.sleep(0.5)
        w_cup = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="cup", exact_label=True, k=5)
        check(w_cup.success and not w_cup.objects, "inputs while inactive are ignored (no cup), services still answer", report)
        bad_tr = peer.call(peer.svc("change_state"), "lifecycle_msgs/srv/ChangeState",
                           transition=P("lifecycle_msgs/msg/Transition", id=0, label="deactivate"))
        check(bad_tr is not None and not bad_tr.success, "an unavailable transition is refused", report)
        ch = peer.call(peer.svc("change_state"), "lifecycle_msgs/srv/ChangeState",
                       transition=P("lifecycle_msgs/msg/Transition", id=0, label="activate"))
        check(ch.success, "change_state activate (by label) succeeds", report)
        tr = [(e.start_state.label, e.goal_state.label) for e in transitions_r.take(N=100)]
        check(("active", "deactivating") in tr and ("deactivating", "inactive") in tr and ("activating", "active") in tr,
              f"~/transition_event published the transitions (got {tr})", report)

        # parameter services (ros2-client serves them with the enhanced mapping: plain payloads)
        gp = peer.call(peer.svc("get_parameters"), "rcl_interfaces/srv/GetParameters", header=False,
                       names=["map_frame", "service_mapping", "use_sim_time", "keyframe.max_interval_s",
                              "association.compatible_labels"])
        check(gp is not None and len(gp.values) == 5, f"get_parameters answers 5 values (got {gp and len(gp.values)})", report)
        vals = [(v.type, v.string_value, v.bool_value, v.double_value) for v in gp.values]
        check(vals[0][1] == "map" and vals[1][1] == "cyclone" and vals[2][0] == 1 and vals[3][0] == 3 and vals[3][3] == 0.0,
              f"get_parameters values are the ones in effect (got {vals})", report)
        groups = gp.values[4]
        check(groups.type == 9 and list(groups.string_array_value) == ["cup,mug", "book,notebook"],
              f"a string[] parameter (look-alike groups) arrives typed (got {groups.type} {list(groups.string_array_value)})",
              report)
        lp = peer.call(peer.svc("list_parameters"), "rcl_interfaces/srv/ListParameters", header=False, prefixes=[], depth=0)
        check(lp is not None and "db_path" in lp.result.names and "topics.odom" in lp.result.names,
              f"list_parameters lists the node's parameters ({lp and len(lp.result.names)} names)", report)
        report["parameters_listed"] = len(lp.result.names)

        # forget the mug, then where finds nothing
        fg = peer.call(peer.svc("forget"), "mnemo_msgs/srv/Forget", mode=1, label="mug")
        check(fg is not None and fg.success and mug.id in fg.forgotten_object_ids,
              f"forget label mug removes the mug (got {fg and list(fg.forgotten_object_ids)})", report)
        after = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=True, k=5)
        check(after.success and not after.objects, "after forget, where finds no mug", report)
        keys = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="keys", exact_label=True, k=5)
        check(len(keys.objects) == 1, "the keys are still remembered", report)
        # Last: SIGINT must stop the node while inputs stream in, i.e. while it is busy between
        # waits (a regression: a per-iteration ctrl_c() future lost signals arriving then).
        # Only the keys: the forgotten mug must stay forgotten (checked in the database below).
        keys_only = {"keys": OBJECTS["keys"]}
        streamer = threading.Thread(target=publish_scene, args=(peer, 400, 200.0, keys_only), daemon=True)
        streamer.start()
        time.sleep(0.5)
    finally:
        rc = stop_node(proc)
        log.close()
        if streamer is not None:
            streamer.join()
    report["node_exit"] = rc
    text = node_log.read_text(errors="replace")
    report["node_log_tail"] = text[-3000:]
    check(rc == 0, f"SIGINT stops the node cleanly while inputs stream in (exit {rc})", report)
    check("unknown parameter an_unknown_key" in text, "the node warns about an unknown parameter", report)
    check("undecodable" in text, "the node logs undecodable messages", report)
    refused = [l for l in text.splitlines() if "inputs refused since the last report" in l]
    import re

    def total(kind):
        return sum(int(n) for l in refused for n in re.findall(r"(\d+) " + kind, l))

    # Reports are per diagnostics period, so one kind may be split across lines.
    # Images go best effort (sensor_data QoS): at least one of the two.
    check(total("bad odometry") == 2 and total("bad images") >= 1 and total("bad detections") == 1,
          f"the node logs the refused inputs by kind (got {refused})", report)
    # Persistence: the database holds the keys, not the mug (secure delete).
    import sqlite3

    con = sqlite3.connect(db)
    labels = [r[0] for r in con.execute("select label from objects")] if con else []
    con.close()
    report["db_labels"] = labels
    check("keys" in labels and "mug" not in labels, f"the database holds the keys and no mug (labels {labels})", report)


def simtime(args, report):
    """With use_sim_time the node's clock is /clock (rosgraph_msgs/Clock): response headers and
    diagnostics carry the simulated time."""
    import ros_dds_types as R

    work = Path(args.workdir or tempfile.mkdtemp(prefix="mnemo-simtime-"))
    node_log = work / "node.log"
    proc, log = start_node(args.node, ["-p", "service_mapping:=cyclone", "-p", "use_sim_time:=true",
                                       "-p", "diagnostics.period_s:=0.2"], node_log)
    try:
        peer = Peer("/mnemo", args.domain)
        diag_r = peer.reader("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", depth=100)
        clock_w = peer.writer("/clock", "rosgraph_msgs/msg/Clock", reliable=False, depth=1)
        end = time.monotonic() + 20
        while time.monotonic() < end and not clock_w.get_matched_subscriptions():
            time.sleep(0.05)
        check(bool(clock_w.get_matched_subscriptions()), "the node subscribes to /clock (rosgraph_msgs/Clock)", report)
        sim_s = 1000
        for _ in range(5):
            clock_w.write(R.make("rosgraph_msgs/msg/Clock", clock=stamp(sim_s * 10**9)))
            time.sleep(0.1)
        peer.warm(peer.svc("where"), "mnemo_msgs/srv/Where", target="warm-up", k=1)
        w = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", k=1)
        report["where_header_stamp_s"] = w.header.stamp.sec
        check(w.header.stamp.sec == sim_s, f"where's header carries /clock time ({w.header.stamp.sec} s)", report)
        clock_w.write(R.make("rosgraph_msgs/msg/Clock", clock=stamp((sim_s + 50) * 10**9)))
        time.sleep(0.6)
        stamps = sorted({d.header.stamp.sec for d in diag_r.take(N=100)})
        report["diagnostics_stamps_s"] = stamps
        check(stamps and set(stamps) <= {0, sim_s, sim_s + 50} and sim_s + 50 in stamps,
              f"/diagnostics are stamped with /clock time (got {stamps})", report)
    finally:
        rc = stop_node(proc)
        log.close()
    report["node_log_tail"] = node_log.read_text(errors="replace")[-2000:]
    check(rc == 0, f"the node exits cleanly (exit {rc})", report)


def node_cpu_s(pid):
    """utime + stime of a process, s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rgbd(args, report):
    """640x480 RGB + 16UC1 depth at 15 Hz (plus camera_info, tf, odometry, detections), raw and
    compressed, for --seconds each: what the node received, dropped, and its CPU."""
    import numpy as np
    from io import BytesIO
    from PIL import Image as PilImage
    from cyclonedds._clayer import ddspy_write
    import ros_dds_types as R

    w_px, h_px, rate = 640, 480, 15.0
    yy, xx = np.mgrid[0:h_px, 0:w_px]
    rgb = np.stack([(xx * 255 // w_px), (yy * 255 // h_px), ((xx + yy) % 256)], axis=-1).astype(np.uint8)
    depth = np.full((h_px, w_px), 2000, dtype=np.uint16)
    buf = BytesIO()
    PilImage.fromarray(rgb).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    report["frame_bytes"] = {"rgb8": rgb.nbytes, "16UC1": depth.nbytes, "jpeg": len(jpeg)}
    phases = []
    for phase in ["raw", "compressed"]:
        work = Path(args.workdir or tempfile.mkdtemp(prefix="mnemo-rgbd-")) / phase
        work.mkdir(parents=True, exist_ok=True)
        proc, log = start_node(args.node, ["-p", "service_mapping:=cyclone", "-p", "diagnostics.period_s:=1.0"],
                               work / "node.log")
        try:
            peer = Peer("/mnemo", args.domain)
            diag_r = peer.reader("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", depth=200)
            publish_static(peer)
            cam = "camera_color_optical_frame"
            if phase == "raw":
                color_w = peer.writer("/camera/color/image_raw", "sensor_msgs/msg/Image", reliable=False, depth=5)
                color = R.make("sensor_msgs/msg/Image", header=header(0, cam), height=h_px, width=w_px,
                               encoding="rgb8", step=w_px * 3, data=rgb.tobytes())
            else:
                color_w = peer.writer("/camera/color/image_raw/compressed", "sensor_msgs/msg/CompressedImage",
                                      reliable=False, depth=5)
                color = R.make("sensor_msgs/msg/CompressedImage", header=header(0, cam), format="jpeg", data=jpeg)
            depth_w = peer.writer("/camera/depth/image_raw", "sensor_msgs/msg/Image", reliable=False, depth=5)
            depth_msg = R.make("sensor_msgs/msg/Image", header=header(0, cam), height=h_px, width=w_px,
                               encoding="16UC1", step=w_px * 2, data=depth.tobytes())
            # Serialised once; each frame only patches the stamp (header.stamp follows the
            # 4-byte encapsulation), so Python's serialiser does not limit the rate.
            color_cdr = bytearray(color.serialize(use_version_2=False))
            depth_cdr = bytearray(depth_msg.serialize(use_version_2=False))
            for w in [color_w, depth_w, peer.writer("/detections", "vision_msgs/msg/Detection3DArray")]:
                end = time.monotonic() + 20
                while time.monotonic() < end and not w.get_matched_subscriptions():
                    time.sleep(0.05)
            time.sleep(0.5)
            tf = peer.writer("/tf", "tf2_msgs/msg/TFMessage")
            odom = peer.writer("/odom", "nav_msgs/msg/Odometry")
            info = peer.writer("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo")
            det = peer.writer("/detections", "vision_msgs/msg/Detection3DArray")
            list(diag_r.take(N=200))
            cpu0, wall0 = node_cpu_s(proc.pid), time.monotonic()
            frames = 0
            period = 1.0 / rate
            next_t = time.monotonic()
            late = 0
            while time.monotonic() - wall0 < args.seconds:
                ns = time.time_ns()
                sec, nsec = ns // 10**9, ns % 10**9
                for cdr in (color_cdr, depth_cdr):
                    cdr[4:8] = int(sec).to_bytes(4, "little", signed=True)
                    cdr[8:12] = int(nsec).to_bytes(4, "little")
                odom_from_base = ((0.02 * frames % 3.0, 0.0, 0.0), yaw_q(0.0))
                tf.write(R.make("tf2_msgs/msg/TFMessage", transforms=[tf_stamped(ns, "odom", "base_link", odom_from_base)]))
                odom.write(R.make("nav_msgs/msg/Odometry", header=header(ns, "odom"), child_frame_id="base_link",
                                  pose=R.make("geometry_msgs/msg/PoseWithCovariance", pose=pose_msg(odom_from_base))))
                info.write(camera_info(ns))
                ddspy_write(color_w._ref, bytes(color_cdr))
                ddspy_write(depth_w._ref, bytes(depth_cdr))
                det.write(detections(ns, compose(compose(MAP_FROM_ODOM, odom_from_base), BASE_FROM_CAMERA), OBJECTS))
                frames += 1
                next_t += period
                pause = next_t - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    late += 1
            wall = time.monotonic() - wall0
            cpu = node_cpu_s(proc.pid) - cpu0
            time.sleep(1.5)
            last = {}
            for d in diag_r.take(N=200):
                for st in d.status:
                    if st.name.endswith(": ingest"):
                        last = {k.key: k.value for k in st.values}
            sent = frames * 6 + 1  # tf, odom, camera_info, colour, depth, detections; tf_static
            received = int(last.get("messages", 0))
            phases.append({
                "phase": phase,
                "seconds": round(wall, 1),
                "frames_published": frames,
                "publish_rate_hz": round(frames / wall, 2),
                "publisher_late_frames": late,
                "messages_sent": sent,
                "messages_received_by_node": received,
                "received_fraction": round(received / sent, 4) if sent else 0.0,
                "node_queue_drops": int(last.get("queue_drops", -1)),
                "node_keyframes": int(last.get("keyframes", -1)),
                "bad_images": int(last.get("bad_images", -1)),
                "node_cpu_cores": round(cpu / wall, 3),
            })
        finally:
            stop_node(proc)
            log.close()
    report["phases"] = phases
    report["target"] = "no growing backlog (queue drops 0, received ~ sent), node CPU <= 0.5 core without models"


def bench(args, report):
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mnemo-bench-"))
    node_log = work / "node.log"
    proc, log = start_node(args.node, ["-p", "service_mapping:=cyclone"], node_log)
    try:
        peer = Peer("/mnemo", args.domain)
        if not peer.wait_matched(peer.svc("where"), "mnemo_msgs/srv/Where", timeout_s=30):
            raise Failed("~/where not discovered")
        publish_static(peer)
        w = peer.writer("/detections", "vision_msgs/msg/Detection3DArray")
        end = time.monotonic() + 20
        while time.monotonic() < end and not w.get_matched_subscriptions():
            time.sleep(0.05)
        publish_scene(peer, steps=20, rate_hz=20.0, objects=OBJECTS)
        time.sleep(0.5)
        peer.warm(peer.svc("where"), "mnemo_msgs/srv/Where", target="warm-up", k=1)
        for _ in range(50):  # warm-up
            peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=True, k=5)
        lat = []
        timeouts = 0
        for _ in range(args.calls):
            t = time.perf_counter()
            r = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=True, k=5)
            dt = (time.perf_counter() - t) * 1e3
            if r is None:
                timeouts += 1
            else:
                lat.append(dt)
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        report.update(
            calls=args.calls,
            timeouts=timeouts,
            p50_ms=round(q(0.50), 3),
            p99_ms=round(q(0.99), 3),
            max_ms=round(lat[-1], 3),
            target="p50 <= 1 ms, p99 <= 5 ms",
        )
    finally:
        stop_node(proc)
        log.close()


def perception(args, report):
    """The node with keyframe models (the tiny captioner and detector our scripts build): a
    static robot sees a bright 640x480 RGB-D view (depth 2 m) for a few seconds, with empty
    detection arrays (keyframes, but no objects from the topic). Captions must come back through
    ~/recall at keyframe times, and the detector's mug through ~/where, placed through the depth."""
    import numpy as np
    import ros_dds_types as R

    work = Path(args.workdir or tempfile.mkdtemp(prefix="mnemo-perception-"))
    node_log = work / "node.log"
    proc, log = start_node(args.node, ["-p", "service_mapping:=cyclone", "-p", "keyframe.max_interval_s:=0.4",
                                       "-p", "captioning.enabled:=true", "-p", f"captioning.model_dir:={args.captioner}",
                                       "-p", f"detector.model:={args.detector}"], node_log)
    w_px, h_px = 640, 480
    rgb = np.full((h_px, w_px, 3), 230, dtype=np.uint8)
    depth = np.full((h_px, w_px), 2000, dtype=np.uint16)
    cam = "camera_color_optical_frame"
    try:
        peer = Peer("/mnemo", args.domain)
        ok = peer.wait_matched(peer.svc("recall"), "mnemo_msgs/srv/Recall", timeout_s=30)
        check(ok, "the node's ~/recall service is discovered", report)
        peer.warm(peer.svc("recall"), "mnemo_msgs/srv/Recall", k=1)
        peer.warm(peer.svc("where"), "mnemo_msgs/srv/Where", target="warm-up", k=1)
        publish_static(peer)
        color_w = peer.writer("/camera/color/image_raw", "sensor_msgs/msg/Image")
        depth_w = peer.writer("/camera/depth/image_raw", "sensor_msgs/msg/Image")
        tf = peer.writer("/tf", "tf2_msgs/msg/TFMessage")
        odom = peer.writer("/odom", "nav_msgs/msg/Odometry")
        info = peer.writer("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo")
        det = peer.writer("/detections", "vision_msgs/msg/Detection3DArray")
        for w in [color_w, depth_w, det]:
            end = time.monotonic() + 20
            while time.monotonic() < end and not w.get_matched_subscriptions():
                time.sleep(0.05)
        time.sleep(0.5)
        odom_from_base = ((0.0, 0.0, 0.0), yaw_q(0.0))
        first = last = None
        for _ in range(25):
            ns = time.time_ns()
            tf.write(R.make("tf2_msgs/msg/TFMessage", transforms=[tf_stamped(ns, "odom", "base_link", odom_from_base)]))
            odom.write(R.make("nav_msgs/msg/Odometry", header=header(ns, "odom"), child_frame_id="base_link",
                              pose=R.make("geometry_msgs/msg/PoseWithCovariance", pose=pose_msg(odom_from_base))))
            info.write(camera_info(ns))
            color_w.write(R.make("sensor_msgs/msg/Image", header=header(ns, cam), height=h_px, width=w_px,
                                 encoding="rgb8", step=w_px * 3, data=rgb.tobytes()))
            depth_w.write(R.make("sensor_msgs/msg/Image", header=header(ns, cam), height=h_px, width=w_px,
                                 encoding="16UC1", step=w_px * 2, data=depth.tobytes()))
            # A detector's output lags its camera frame: the images (600 kB each) are in before
            # the detections (same stamp) make the keyframe, also on a loaded machine.
            time.sleep(0.08)
            det.write(detections(ns, compose(compose(MAP_FROM_ODOM, odom_from_base), BASE_FROM_CAMERA), {}))
            first = first or ns
            last = ns
            time.sleep(0.12)
        episodes, mugs = [], []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            r = peer.call(peer.svc("recall"), "mnemo_msgs/srv/Recall", text="", k=100)
            episodes = list(r.episodes) if r is not None and r.success else []
            wh = peer.call(peer.svc("where"), "mnemo_msgs/srv/Where", target="mug", exact_label=True, k=5)
            mugs = list(wh.objects) if wh is not None and wh.success else []
            if len(episodes) >= 3 and mugs:
                break
            time.sleep(0.5)
        captions = sorted({e.caption for e in episodes})
        check(len(episodes) >= 3 and captions == ["a bright kitchen with white cupboards"],
              f"~/recall returns the captioner's captions ({len(episodes)} episodes, {captions})", report)
        stamps = [e.stamp.sec * 10**9 + e.stamp.nanosec for e in episodes]
        check(all(first - 10**9 <= t <= last + 10**9 for t in stamps),
              "captions carry their keyframes' stamps", report)
        check(len(mugs) == 1, f"~/where finds the detector's mug ({len(mugs)} objects)", report)
        if mugs:
            # The box centre (200, 240) px at 2 m: 0.45 m left of the optical axis, 2 m ahead.
            p = mugs[0].position
            cam_map = compose(compose(MAP_FROM_ODOM, odom_from_base), BASE_FROM_CAMERA)
            expect_cam = ((200 - 319.5) / 525.0 * 2.0, (240 - 239.5) / 525.0 * 2.0, 2.0)
            e = qrot(cam_map[1], expect_cam)
            e = tuple(e[i] + cam_map[0][i] for i in range(3))
            err = dist((p.x, p.y, p.z), e)
            report["mug_error_m"] = round(err, 3)
            check(err <= 0.15, f"the mug is where its box and the depth put it (error {err:.3f} m)", report)
    finally:
        rc = stop_node(proc)
        log.close()
    text = node_log.read_text(errors="replace")
    report["node_log_tail"] = text[-2000:]
    check(rc == 0, f"the node stops cleanly (exit {rc})", report)
    check("captioner" in text and " on cpu" in text, "the node logs the models and their provider", report)
    check("keyframe perception failed" not in text, "no model failed on a keyframe", report)
    skips = text.count("skipped on keyframes without an aligned depth image")
    check(skips <= 1, f"keyframes without depth yet are skipped, logged at most once ({skips})", report)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["scenario", "simtime", "bench", "rgbd", "perception"])
    ap.add_argument("--node", required=True, help="the mnemo_node binary")
    ap.add_argument("--netns", action="store_true", help="bring lo up first (under unshare -n)")
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    ap.add_argument("--workdir")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0, help="rgbd: seconds per phase")
    ap.add_argument("--captioner", help="perception: a captioning model directory")
    ap.add_argument("--detector", help="perception: a YOLO-layout ONNX model")
    args = ap.parse_args()
    setup_env(args.netns)
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    report = {"mode": args.mode, "checks": []}
    ok = True
    try:
        modes = {"scenario": scenario, "simtime": simtime, "bench": bench, "rgbd": rgbd, "perception": perception}
        modes[args.mode](args, report)
    except Failed as e:
        report["failed"] = str(e)
        ok = False
    print(json.dumps(report, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
