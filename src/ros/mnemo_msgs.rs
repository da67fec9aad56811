//! `mnemo_msgs`: the messages and services of `msg/` as serde types for CDR, so planners in
//! C++ and Python (which build `msg/` with rosidl) and Mnemo speak the same bytes.
//!
//! Owns: the Rust mirror of `msg/msg/*.msg` and `msg/srv/*.srv` (request and response of each
//! service) and their schema ([`MsgSchema`]: field types as the `.msg` files spell them, in
//! order, and constants), which a test compares with the files themselves so the two can never
//! drift, and another with CDR bytes written by the independent `rosbags` package. It does not
//! answer queries: converting core answers is the node's business.

use serde::{Deserialize, Serialize};

use super::msg::{Header, Point, RosMessage, Time, Vector3};

/// A type that can be a field of a ROS message, named as a `.msg` file names it
/// (`uint32`, `string`, `geometry_msgs/Point`, `mnemo_msgs/MemoryObject[]`).
pub trait RosField {
    /// The ROS type name; nested types as `package/Name`, arrays with `[]`.
    fn ros_type() -> String;
}

macro_rules! primitive {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl RosField for $t {
            fn ros_type() -> String {
                $name.to_string()
            }
        })*
    };
}

primitive!(
    bool => "bool",
    u8 => "uint8",
    u32 => "uint32",
    u64 => "uint64",
    i32 => "int32",
    i64 => "int64",
    f32 => "float32",
    f64 => "float64",
    String => "string",
    Time => "builtin_interfaces/Time",
    Header => "std_msgs/Header",
    Point => "geometry_msgs/Point",
    Vector3 => "geometry_msgs/Vector3",
);

impl<T: RosField> RosField for Vec<T> {
    fn ros_type() -> String {
        format!("{}[]", T::ros_type())
    }
}

/// The layout of a message as its `.msg` file declares it.
pub trait MsgSchema {
    /// `(type, name)` of every field, in order.
    fn fields() -> Vec<(String, &'static str)>;
    /// `(type, name, value)` of every constant, in order.
    fn constants() -> Vec<(String, &'static str, String)>;
}

/// Defines a message struct, its constants, its ROS names and its schema from one list, so
/// the Rust field types are what the schema reports.
macro_rules! ros_message {
    (
        $(#[$meta:meta])*
        $name:ident = $ros:literal, $full:literal;
        consts { $($(#[$cmeta:meta])* $cname:ident: $ctype:ty = $cval:expr;)* }
        fields { $($(#[$fmeta:meta])* $field:ident: $ftype:ty,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ftype,)*
        }

        impl $name {
            $($(#[$cmeta])* pub const $cname: $ctype = $cval;)*
        }

        impl RosField for $name {
            fn ros_type() -> String {
                $ros.to_string()
            }
        }

        impl RosMessage for $name {
            const TYPE_NAME: &'static str = $full;
        }

        impl MsgSchema for $name {
            fn fields() -> Vec<(String, &'static str)> {
                vec![$((<$ftype as RosField>::ros_type(), stringify!($field)),)*]
            }
            fn constants() -> Vec<(String, &'static str, String)> {
                vec![$((<$ctype as RosField>::ros_type(), stringify!($cname), $cval.to_string()),)*]
            }
        }
    };
}

ros_message! {
    /// `mnemo_msgs/msg/MemoryObject`: an object as a query answers it (map frame, m).
    MemoryObject = "mnemo_msgs/MemoryObject", "mnemo_msgs/msg/MemoryObject";
    consts {
        /// Seen where the memory believes it is.
        STATE_PRESENT: u8 = 0;
        /// Re-identified elsewhere.
        STATE_MOVED: u8 = 1;
        /// Expected in view and not seen.
        STATE_MISSING: u8 = 2;
    }
    fields {
        /// Stable object id.
        id: u32,
        /// Label.
        label: String,
        /// Box centre, m.
        position: Point,
        /// Map-aligned box size, m.
        extent: Vector3,
        /// First sighting.
        first_seen: Time,
        /// Last sighting.
        last_seen: Time,
        /// `STATE_*`.
        state: u8,
        /// The place it stands in.
        place_id: u32,
        /// Match score of the query.
        score: f32,
        /// Whether `distance` is set (near queries).
        has_distance: bool,
        /// Distance from the query point, m.
        distance: f64,
        /// Text read on it (OCR), empty if none.
        text: String,
    }
}

ros_message! {
    /// `mnemo_msgs/msg/MemoryEvent`: one entry of the episodic log (map frame, m).
    MemoryEvent = "mnemo_msgs/MemoryEvent", "mnemo_msgs/msg/MemoryEvent";
    consts {
        /// An object was confirmed.
        KIND_FIRST_SEEN: u8 = 0;
        /// An object was seen continuously over `[start, end]`.
        KIND_VISIT: u8 = 1;
        /// Re-identified elsewhere.
        KIND_MOVED: u8 = 2;
        /// Expected in view and not seen.
        KIND_MISSING: u8 = 3;
        /// A missing object seen again in place.
        KIND_REAPPEARED: u8 = 4;
        /// A keyframe caption.
        KIND_CAPTION: u8 = 5;
        /// The robot entered a place.
        KIND_PLACE_ENTERED: u8 = 6;
    }
    fields {
        /// Stamp: when the memory recorded it; frame: map.
        header: Header,
        /// Id in the log.
        event_id: u64,
        /// `KIND_*`.
        kind: u8,
        /// Start of what it describes.
        start: Time,
        /// End of what it describes.
        end: Time,
        /// Whether it is about an object.
        has_object: bool,
        /// The object, when `has_object`.
        object_id: u32,
        /// The object's label, when `has_object`.
        label: String,
        /// Where, m.
        position: Point,
        /// Whether `from_position` is set.
        has_from: bool,
        /// Moved: where it was, m.
        from_position: Point,
        /// Whether `place_id` is set.
        has_place: bool,
        /// The place.
        place_id: u32,
        /// The caption text (`KIND_CAPTION`).
        caption: String,
    }
}

ros_message! {
    /// `mnemo_msgs/msg/Relation`: subject `kind` object.
    Relation = "mnemo_msgs/Relation", "mnemo_msgs/msg/Relation";
    consts {
        /// Subject rests on object.
        KIND_ON: u8 = 0;
        /// Subject is inside object.
        KIND_IN: u8 = 1;
        /// Subject is near object.
        KIND_NEAR: u8 = 2;
    }
    fields {
        /// The object the relation is about.
        subject_id: u32,
        /// `KIND_*`.
        kind: u8,
        /// The other object.
        object_id: u32,
    }
}

ros_message! {
    /// `mnemo_msgs/msg/Episode`: a captioned keyframe (map frame, m).
    Episode = "mnemo_msgs/Episode", "mnemo_msgs/msg/Episode";
    consts {}
    fields {
        /// When.
        stamp: Time,
        /// What the captioner said.
        caption: String,
        /// Where the robot stood, m.
        robot_position: Point,
        /// Robot heading about z, rad.
        robot_yaw: f64,
        /// Whether `place_id` is set.
        has_place: bool,
        /// The place.
        place_id: u32,
        /// Match score of the recall text.
        score: f32,
    }
}

ros_message! {
    /// `mnemo_msgs/msg/SceneGraph`: objects and relations at `header.stamp`.
    SceneGraph = "mnemo_msgs/SceneGraph", "mnemo_msgs/msg/SceneGraph";
    consts {}
    fields {
        /// Stamp of the snapshot; frame: map.
        header: Header,
        /// Objects.
        objects: Vec<MemoryObject>,
        /// Relations between them.
        relations: Vec<Relation>,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Where` request.
    WhereRequest = "mnemo_msgs/Where_Request", "mnemo_msgs/srv/Where_Request";
    consts {}
    fields {
        /// Matched against labels and read text.
        target: String,
        /// Match the label exactly.
        exact_label: bool,
        /// Most objects to return.
        k: u32,
        /// Answer as the memory knew it then; zero: now.
        at: Time,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Where` response.
    WhereResponse = "mnemo_msgs/Where_Response", "mnemo_msgs/srv/Where_Response";
    consts {}
    fields {
        /// Whether the query was answered.
        success: bool,
        /// Why not, when not.
        message: String,
        /// Frame: map.
        header: Header,
        /// Best first.
        objects: Vec<MemoryObject>,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/When` request.
    WhenRequest = "mnemo_msgs/When_Request", "mnemo_msgs/srv/When_Request";
    consts {}
    fields {
        /// Matched against labels and read text.
        target: String,
        /// Match the label exactly.
        exact_label: bool,
        /// Zero: from the beginning.
        window_start: Time,
        /// Zero: until now.
        window_end: Time,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/When` response.
    WhenResponse = "mnemo_msgs/When_Response", "mnemo_msgs/srv/When_Response";
    consts {}
    fields {
        /// Whether the query was answered.
        success: bool,
        /// Why not, when not.
        message: String,
        /// Visits and changes by start time.
        events: Vec<MemoryEvent>,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Near` request.
    NearRequest = "mnemo_msgs/Near_Request", "mnemo_msgs/srv/Near_Request";
    consts {}
    fields {
        /// Map frame, m.
        point: Point,
        /// m, > 0.
        radius: f64,
        /// Only this label; empty: any.
        label: String,
        /// Most objects to return.
        k: u32,
        /// Zero: from the beginning.
        window_start: Time,
        /// Zero: until now.
        window_end: Time,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Near` response.
    NearResponse = "mnemo_msgs/Near_Response", "mnemo_msgs/srv/Near_Response";
    consts {}
    fields {
        /// Whether the query was answered.
        success: bool,
        /// Why not, when not.
        message: String,
        /// Frame: map.
        header: Header,
        /// Nearest first.
        objects: Vec<MemoryObject>,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Recall` request.
    RecallRequest = "mnemo_msgs/Recall_Request", "mnemo_msgs/srv/Recall_Request";
    consts {}
    fields {
        /// Empty: chronological.
        text: String,
        /// Most episodes to return.
        k: u32,
        /// Zero: from the beginning.
        window_start: Time,
        /// Zero: until now.
        window_end: Time,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Recall` response.
    RecallResponse = "mnemo_msgs/Recall_Response", "mnemo_msgs/srv/Recall_Response";
    consts {}
    fields {
        /// Whether the query was answered.
        success: bool,
        /// Why not, when not.
        message: String,
        /// Ranked episodes.
        episodes: Vec<Episode>,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/GetSceneGraph` request.
    GetSceneGraphRequest = "mnemo_msgs/GetSceneGraph_Request", "mnemo_msgs/srv/GetSceneGraph_Request";
    consts {}
    fields {
        /// Zero: now.
        stamp: Time,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/GetSceneGraph` response.
    GetSceneGraphResponse = "mnemo_msgs/GetSceneGraph_Response", "mnemo_msgs/srv/GetSceneGraph_Response";
    consts {}
    fields {
        /// Whether the query was answered.
        success: bool,
        /// Why not, when not.
        message: String,
        /// The graph.
        graph: SceneGraph,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Forget` request.
    ForgetRequest = "mnemo_msgs/Forget_Request", "mnemo_msgs/srv/Forget_Request";
    consts {
        /// `object_ids` and their merged duplicates.
        MODE_OBJECTS: u8 = 0;
        /// Every object with `label`.
        MODE_LABEL: u8 = 1;
        /// Everything seen within `radius` of `center`.
        MODE_REGION: u8 = 2;
        /// Every event and caption recorded in the window.
        MODE_WINDOW: u8 = 3;
    }
    fields {
        /// `MODE_*`.
        mode: u8,
        /// For `MODE_OBJECTS`.
        object_ids: Vec<u32>,
        /// For `MODE_LABEL`.
        label: String,
        /// For `MODE_REGION`, map frame, m.
        center: Point,
        /// For `MODE_REGION`, m.
        radius: f64,
        /// For `MODE_WINDOW`.
        window_start: Time,
        /// For `MODE_WINDOW`.
        window_end: Time,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Forget` response.
    ForgetResponse = "mnemo_msgs/Forget_Response", "mnemo_msgs/srv/Forget_Response";
    consts {}
    fields {
        /// Whether anything was done.
        success: bool,
        /// Why not, when not.
        message: String,
        /// Objects erased (merged duplicates included), sorted.
        forgotten_object_ids: Vec<u32>,
        /// Events erased.
        forgotten_events: u64,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Changes` request.
    ChangesRequest = "mnemo_msgs/Changes_Request", "mnemo_msgs/srv/Changes_Request";
    consts {}
    fields {
        /// Zero: from the beginning.
        window_start: Time,
        /// Zero: until now.
        window_end: Time,
        /// Only this label; empty: any.
        label: String,
    }
}

ros_message! {
    /// `mnemo_msgs/srv/Changes` response.
    ChangesResponse = "mnemo_msgs/Changes_Response", "mnemo_msgs/srv/Changes_Response";
    consts {}
    fields {
        /// Whether the query was answered.
        success: bool,
        /// Why not, when not.
        message: String,
        /// One net change per object, by time.
        changes: Vec<MemoryEvent>,
    }
}

/// Every message and service part with its schema, by the name its file gives it
/// (`MemoryObject`, `Where_Request`, ...), for the drift test and tools.
pub fn schemas() -> Vec<(&'static str, SchemaFns)> {
    fn s<T: MsgSchema>() -> SchemaFns {
        SchemaFns {
            fields: T::fields,
            constants: T::constants,
        }
    }
    vec![
        ("MemoryObject", s::<MemoryObject>()),
        ("MemoryEvent", s::<MemoryEvent>()),
        ("Relation", s::<Relation>()),
        ("Episode", s::<Episode>()),
        ("SceneGraph", s::<SceneGraph>()),
        ("Where_Request", s::<WhereRequest>()),
        ("Where_Response", s::<WhereResponse>()),
        ("When_Request", s::<WhenRequest>()),
        ("When_Response", s::<WhenResponse>()),
        ("Near_Request", s::<NearRequest>()),
        ("Near_Response", s::<NearResponse>()),
        ("Recall_Request", s::<RecallRequest>()),
        ("Recall_Response", s::<RecallResponse>()),
        ("GetSceneGraph_Request", s::<GetSceneGraphRequest>()),
        ("GetSceneGraph_Response", s::<GetSceneGraphResponse>()),
        ("Forget_Request", s::<ForgetRequest>()),
        ("Forget_Response", s::<ForgetResponse>()),
        ("Changes_Request", s::<ChangesRequest>()),
        ("Changes_Response", s::<ChangesResponse>()),
    ]
}

/// The schema functions of one type (see [`schemas`]).
#[derive(Debug, Clone, Copy)]
pub struct SchemaFns {
    /// [`MsgSchema::fields`].
    pub fields: fn() -> Vec<(String, &'static str)>,
    /// [`MsgSchema::constants`].
    pub constants: fn() -> Vec<(String, &'static str, String)>,
}
