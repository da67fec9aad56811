//! # Mnemo
//!
//! A spatio-temporal memory for robots: a persistent, time-aware 3D scene graph (objects,
//! places, `on` / `in` / `near` relations) and an episodic event log (first seen, visits, moved,
//! missing, reappeared, captions, place entries), answering where / when / near / recall /
//! scene-graph-at-time queries.
//!
//! # Layout
//! - [`core`]: pure memory model, ingest and queries (no I/O).
//! - [`sim`]: synthetic household world with ground truth and a QA set; evaluation metrics.
//! - [`bench`]: the `mnemo bench` harness with linear-scan and SQLite R*Tree baselines.
//!
//! Later issues add `store` (SQLite persistence), `replay` (rosbag2 MCAP), `ros` (the ROS 2
//! node), `perception` (ONNX) and `viz` (Rerun) as adapters around [`core`].

#![warn(missing_docs)]

pub mod bench;
pub mod core;
pub mod sim;
