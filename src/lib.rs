//! # Mnemo
//!
//! A spatio-temporal memory for robots: a persistent, time-aware 3D scene graph (objects,
//! places, `on` / `in` / `near` relations) and an episodic event log (first seen, visits, moved,
//! missing, reappeared, captions, place entries), answering where / when / near / recall /
//! scene-graph-at-time queries.
//!
//! # Example
//!
//! ```
//! use mnemo::core::{
//!     Detection, DetectionFrame, LexicalEmbedder, Memory, MemoryConfig, Observation,
//!     PinholeCamera, Query, Answer, Target,
//! };
//! use nalgebra::{Isometry3, Point3, Vector3};
//!
//! let mut memory = Memory::new(MemoryConfig::default(), Box::new(LexicalEmbedder::default()))?;
//! // Two keyframes in which the camera (at the origin, looking along +z) sees a mug 2 m ahead.
//! for stamp_ns in [1_000_000_000, 2_000_000_000] {
//!     memory.ingest(&Observation {
//!         stamp_ns,
//!         world_from_body: Isometry3::identity(),
//!         world_from_camera: Isometry3::identity(),
//!         camera: PinholeCamera::vga_default(),
//!         detections: vec![Detection {
//!             label: "mug".into(),
//!             score: 0.9,
//!             position_m: Point3::new(0.1, 0.0, 2.0),
//!             frame: DetectionFrame::Camera,
//!             extent_m: Vector3::new(0.09, 0.09, 0.1),
//!             text: None,
//!             embedding: None,
//!         }],
//!         caption: Some("a mug on the kitchen table".into()),
//!         depth: None,
//!     })?;
//! }
//! let answer = memory.query(&Query::Where { target: Target::Label("mug".into()), k: 1, at_ns: None })?;
//! let Answer::Objects(hits) = answer else { unreachable!() };
//! assert_eq!(hits.len(), 1);
//! assert!((hits[0].position_world[2] - 2.0).abs() < 1e-9);
//! assert_eq!(hits[0].last_seen_ns, 2_000_000_000);
//! # Ok::<(), mnemo::core::CoreError>(())
//! ```
//!
//! # Layout
//! - [`core`]: pure memory model, ingest and queries (no I/O).
//! - [`sim`]: synthetic household world with ground truth and a QA set; evaluation metrics.
//! - [`store`]: crash-safe SQLite persistence, group commit, retention, forget, crash test.
//! - [`ros`]: standard ROS 2 messages (CDR), the TF buffer and the ingest pipeline shared by
//!   replay and the node.
//! - [`replay`]: rosbag2 MCAP replay through that pipeline.
//! - [`viz`]: Rerun visualisation (live or `.rrd`) of a memory as it is built.
//! - [`bench`](mod@bench): the `mnemo bench` harness with linear-scan and SQLite R*Tree baselines.
//! - [`perception`]: ONNX Runtime adapters (sentence embeddings so far).
//! - the ROS 2 node lives under [`ros`] (`ros::node`, `ros::dds`, binary `mnemo_node`).

#![warn(missing_docs)]
// No unwrap()/expect() outside tests: input never reaches a panic (bad input is a typed error).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod core;
pub mod perception;
pub mod replay;
pub mod ros;
pub mod sim;
pub mod store;
pub mod viz;
