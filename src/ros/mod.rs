//! ROS 2 adapters shared by bag replay and the live node: message types and CDR decoding
//! ([`msg`]), Mnemo's own interfaces ([`mnemo_msgs`], mirroring `msg/`), command-line
//! arguments and parameters ([`params`]), the managed-node state machine ([`lifecycle`]),
//! `/diagnostics` statuses ([`diagnostics`]), the
//! services as pure request -> query -> response
//! translations ([`services`]), the TF buffer ([`tf`]) and the ingest pipeline ([`pipeline`])
//! that turns decoded messages into the core's inputs, and the node's logic ([`node`]). Only
//! [`dds`] talks to DDS (the `mnemo_node` composition root over ros2-client); only [`params`]
//! and the store behind [`node`] touch files.

pub mod dds;
pub mod diagnostics;
pub mod lifecycle;
pub mod mnemo_msgs;
pub mod msg;
pub mod node;
pub mod params;
pub mod pipeline;
pub mod services;
pub mod tf;
