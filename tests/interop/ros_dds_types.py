"""ROS 2 message types as Eclipse Cyclone DDS (Python) IDL structs, built from ROS definitions.

Field lists come from the ROS 2 Jazzy message definitions as the independent `rosbags` package
ships them (std_msgs, geometry_msgs, sensor_msgs, nav_msgs, tf2_msgs, visualization_msgs,
diagnostic_msgs, lifecycle_msgs, rcl_interfaces, rmw_dds_common), vision_msgs 4.x text
(rosbags does not ship it), the standard service definitions written out below, and our own
msg/ files. Nothing here comes from Mnemo's Rust code.

Each type becomes a Cyclone `IdlStruct` named as ROS 2 RMWs name DDS types
(`pkg::msg::dds_::Name_`), so a Cyclone peer talks to a ROS 2 node exactly as rmw_cyclonedds
would. Service types can be built with Cyclone's request header (`{uint64 guid; int64 seq}`
before the fields, as rmw_cyclonedds sends them) or without (the plain payload).
"""
import dataclasses
import sys
import types
from pathlib import Path

from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# vision_msgs 4.x text, shared with the bag writer (rosbags does not ship it).
sys.path.insert(0, str(HERE))
from sim_to_bag import VISION_MSGS  # noqa: E402

# Standard services (rcl_interfaces, lifecycle_msgs) as request/response message text.
STANDARD_SRVS = {
    "rcl_interfaces/srv/GetParameters": ("string[] names\n", "rcl_interfaces/ParameterValue[] values\n"),
    "rcl_interfaces/srv/ListParameters": (
        "string[] prefixes\nuint64 depth\n",
        "rcl_interfaces/ListParametersResult result\n",
    ),
    "rcl_interfaces/srv/SetParameters": (
        "rcl_interfaces/Parameter[] parameters\n",
        "rcl_interfaces/SetParametersResult[] results\n",
    ),
    "lifecycle_msgs/srv/GetState": (
        "uint8 structure_needs_at_least_one_member\n",
        "lifecycle_msgs/State current_state\n",
    ),
    "lifecycle_msgs/srv/ChangeState": ("lifecycle_msgs/Transition transition\n", "bool success\n"),
    "lifecycle_msgs/srv/GetAvailableStates": (
        "uint8 structure_needs_at_least_one_member\n",
        "lifecycle_msgs/State[] available_states\n",
    ),
    "lifecycle_msgs/srv/GetAvailableTransitions": (
        "uint8 structure_needs_at_least_one_member\n",
        "lifecycle_msgs/TransitionDescription[] available_transitions\n",
    ),
}


def _strip_comments(text):
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())


def _load_store():
    store = get_typestore(Stores.ROS2_JAZZY)
    defs = {}
    for name, text in VISION_MSGS.items():
        defs.update(get_types_from_msg(text, name))
    for name, (req, resp) in STANDARD_SRVS.items():
        defs.update(get_types_from_msg(req, name + "_Request"))
        defs.update(get_types_from_msg(resp, name + "_Response"))
    for path in sorted((REPO / "msg" / "msg").glob("*.msg")):
        defs.update(get_types_from_msg(_strip_comments(path.read_text()), f"mnemo_msgs/msg/{path.stem}"))
    ours = {p.stem for p in (REPO / "msg" / "msg").glob("*.msg")}

    def qualify(text):
        # A bare `MemoryObject[] objects` in a .srv means this package's message.
        out = []
        for line in text.splitlines():
            parts = line.split(None, 1)
            if parts and parts[0].split("[")[0] in ours:
                line = "mnemo_msgs/" + line.lstrip()
            out.append(line)
        return "\n".join(out)

    for path in sorted((REPO / "msg" / "srv").glob("*.srv")):
        req, resp = qualify(_strip_comments(path.read_text())).split("---")
        defs.update(get_types_from_msg(req, f"mnemo_msgs/srv/{path.stem}_Request"))
        defs.update(get_types_from_msg(resp, f"mnemo_msgs/srv/{path.stem}_Response"))
    store.register(defs)
    return store


STORE = _load_store()

_BASE = {
    "bool": bool,
    "byte": t.uint8,
    "char": t.uint8,
    "int8": t.int8,
    "uint8": t.uint8,
    "int16": t.int16,
    "uint16": t.uint16,
    "int32": t.int32,
    "uint32": t.uint32,
    "int64": t.int64,
    "uint64": t.uint64,
    "float32": t.float32,
    "float64": t.float64,
    "string": str,
}

_CACHE = {}


def dds_name(ros_name, suffix=""):
    """`pkg/msg/Name` -> `pkg::msg::dds_::Name_`."""
    pkg, kind, name = ros_name.split("/")
    return f"{pkg}::{kind}::dds_::{name}{suffix}_"


def _field_type(desc):
    kind, detail = desc
    if kind == Nodetype.BASE:
        return _BASE[detail[0]]
    if kind == Nodetype.NAME:
        return idl(detail)
    if kind == Nodetype.ARRAY:
        sub, length = detail
        return t.array[_field_type(sub), length]
    if kind == Nodetype.SEQUENCE:
        sub, _bound = detail
        return t.sequence[_field_type(sub)]
    raise ValueError(f"unsupported field {desc}")


def _default(desc):
    kind, detail = desc
    if kind == Nodetype.BASE:
        return {"bool": False, "string": ""}.get(detail[0], 0.0 if detail[0].startswith("float") else 0)
    if kind == Nodetype.NAME:
        return make(detail)
    if kind == Nodetype.ARRAY:
        sub, length = detail
        return [_default(sub) for _ in range(length)]
    return []


def _key(ros_name):
    # rosbags files `pkg/srv/Name_Request` as `pkg/srv/msg/Name_Request`.
    return ros_name.replace("/srv/", "/srv/msg/") if "/srv/" in ros_name else ros_name


def fields_of(ros_name):
    """[(field name, rosbags descriptor)] of a ROS type."""
    return STORE.fielddefs[_key(ros_name)][1]


def constants_of(ros_name):
    """{name: value} of a ROS type's constants."""
    return {c[0]: c[2] for c in STORE.fielddefs[_key(ros_name)][0]}


def idl(ros_name, request_header=False):
    """The Cyclone IDL struct of a ROS type; with `request_header`, the Cyclone RMW's service
    header fields (`client_guid`, `sequence_number`) come first."""
    key = (ros_name, request_header)
    if key in _CACHE:
        return _CACHE[key]
    annotations = {}
    if request_header:
        annotations["client_guid"] = t.uint64
        annotations["sequence_number"] = t.int64
    for fname, desc in fields_of(ros_name):
        annotations[fname] = _field_type(desc)
    pyname = ros_name.replace("/", "_") + ("_hdr" if request_header else "")

    def body(ns):
        ns["__annotations__"] = annotations

    cls = types.new_class(pyname, (IdlStruct,), {"typename": dds_name(ros_name)}, body)
    cls = dataclasses.dataclass(cls)
    _CACHE[key] = cls
    return cls


def make(ros_name, request_header=False, **values):
    """An instance with every field not given at its ROS default (0, "", False, [], nested
    defaults)."""
    cls = idl(ros_name, request_header)
    kwargs = {}
    if request_header:
        kwargs["client_guid"] = values.pop("client_guid", 0)
        kwargs["sequence_number"] = values.pop("sequence_number", 0)
    for fname, desc in fields_of(ros_name):
        kwargs[fname] = values.pop(fname) if fname in values else _default(desc)
    if values:
        raise TypeError(f"{ros_name} has no fields {sorted(values)}")
    return cls(**kwargs)
