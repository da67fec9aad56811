//! The pure core of Mnemo: observations in, scene-graph changes and events out, queries answered.
//!
//! Depends on std, nalgebra, kiddo, serde, serde_json (digest only) and thiserror — never on ROS,
//! ONNX, Rerun, SQLite, tokio or files. Time is always passed in as ROS-time nanoseconds.
//!
//! - [`time`]: stamps and windows.
//! - [`ids`]: typed arena ids.
//! - [`label`]: object labels, inline when short.
//! - [`geometry`]: pinhole camera, frustum, depth lookups.
//! - [`observation`]: the inputs.
//! - [`config`]: typed, validated knobs.
//! - [`embed`]: the `Embedder` seam and the lexical matcher.
//! - [`spatial_index`]: dynamic k-d tree index over ids (kiddo).
//! - [`scene_graph`]: objects, places, placements, relations.
//! - [`episodic`]: the append-only event log.
//! - [`memory`]: ingest (association, change detection, merging, places, relations).
//! - [`query`]: typed queries and answers.

pub mod config;
pub mod embed;
pub mod episodic;
pub mod error;
mod fast_hash;
pub mod geometry;
pub mod ids;
pub mod label;
mod label_index;
pub mod memory;
pub mod observation;
pub mod prefetch;
pub mod query;
pub mod scene_graph;
pub mod spatial_index;
mod stack_buf;
pub mod time;

pub use config::MemoryConfig;
pub use embed::{Embedder, LexicalEmbedder};
pub use episodic::{Event, EventKind};
pub use error::CoreError;
pub use geometry::{DepthImage, PinholeCamera};
pub use ids::{EventId, ObjectId, PlaceId, PlacementId};
pub use label::Label;
pub use memory::{IngestReport, Memory, MemoryParts};
pub use observation::{Detection, DetectionFrame, Observation, PoseUpdate};
pub use query::{Answer, ObjectHit, Query, Target};
pub use scene_graph::{ObjectState, Relation, RelationKind};
pub use time::{StampNs, TimeWindow};
