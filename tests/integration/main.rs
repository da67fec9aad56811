//! Integration tests of Mnemo (one test binary). Modules:
//! - `common`: random observation streams and brute-force references.
//! - `oracle`: every spatial and time-window query against brute force.
//! - `properties`: scene-graph invariants on random streams (proptest).
//! - `determinism`: same seed, same memory digest.
//! - `eval_floors`: accuracy floors on small simulated worlds.
//! - `evidence`: how change detection weighs evidence (twins, look-alikes, misses in a row).
//! - `bad_input`: typed errors, never panics, nothing lost.
//! - `cli`: the binary's JSON keys and error messages.
//! - `fuzz`: arbitrary values through every entry point, never a panic.
//! - `house`: house rules (the core stays pure).
//! - `store`: persistence, retention, forget and faults (issue 3).
//! - `replay`: rosbags-written MCAP bags through the pipeline, ground truth, damaged bags
//!   (issue 4; needs `bash .ci/setup`).
//! - `markers`: what the node publishes (RViz markers of a memory, `/diagnostics`, lifecycle
//!   transition events), decoded by `rosbags` (issue 5; needs `bash .ci/setup`).
//! - `mnemo_msgs`: the `msg/` interface files vs the Rust types (no drift), and their CDR bytes
//!   vs the independent `rosbags` package (issue 5; needs `bash .ci/setup`).
//! - `packaging`: shipped params files into `NodeConfig`, launch files, package manifests
//!   (issue 5).
//! - `node`: the `mnemo_node` binary: startup errors naming the parameter, and an Eclipse
//!   Cyclone DDS peer (tests/interop/cyclone_peer.py) driving it over loopback in a private
//!   network namespace: inputs, every service, markers, events, diagnostics, discovery,
//!   lifecycle, parameter services, bad inputs (issue 5; needs `bash .ci/setup` and
//!   `unshare -n`, i.e. root or user namespaces).
//! - `perception`: the ONNX sentence embedder vs onnxruntime in Python on the same model, text
//!   queries through it, bad model files (issue 6; needs `bash .ci/setup`).
//! - `realimage`: the Middlebury motorcycle stereo pair (real images, ground-truth disparity)
//!   through the pipeline's depth back-projection, checked against the right image (issue 6;
//!   needs `bash .ci/setup`).
//! - `viz`: Rerun recordings read back by PyPI `rerun-sdk`, a live stream, the web viewer in
//!   headless Chromium (issue 4; needs `bash .ci/setup`).

mod bad_input;
mod cli;
mod common;
mod determinism;
mod eval_floors;
mod evidence;
mod fuzz;
mod house;
mod markers;
mod mnemo_msgs;
mod node;
mod oracle;
mod packaging;
mod perception;
mod properties;
mod realimage;
mod replay;
mod store;
mod viz;
