//! ROS 2 adapters shared by bag replay and the live node: message types and CDR decoding
//! ([`msg`]), Mnemo's own interfaces ([`mnemo_msgs`], mirroring `msg/`), command-line
//! arguments and parameters ([`params`]), the managed-node state machine ([`lifecycle`]),
//! `/diagnostics` statuses ([`diagnostics`]), the
//! services as pure request -> query -> response
//! translations ([`services`]), the TF buffer ([`tf`]) and the ingest pipeline ([`pipeline`])
//! that turns decoded messages into the core's inputs. Nothing here talks to
//! DDS; only [`params`] reads files (params files).

pub mod diagnostics;
pub mod lifecycle;
pub mod mnemo_msgs;
pub mod msg;
pub mod params;
pub mod pipeline;
pub mod services;
pub mod tf;
