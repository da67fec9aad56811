//! Errors of the pure core: bad input to ingest and bad queries.
//!
//! Owns [`CoreError`]. Every variant carries the offending values so an adapter can log one
//! clear line without knowing core internals.

use thiserror::Error;

use super::time::StampNs;

/// What the core refuses, and why. The memory is unchanged when one of these is returned.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    /// A time window whose end lies before its start.
    #[error("inverted time window: end {end_ns} ns is before start {start_ns} ns")]
    InvertedWindow {
        /// Requested start.
        start_ns: StampNs,
        /// Requested end.
        end_ns: StampNs,
    },
    /// An input stamp earlier than one already ingested (bag loop, sim reset).
    #[error("stamp {stamp_ns} ns goes backwards: the memory is already at {latest_ns} ns")]
    StampBackwards {
        /// Offending stamp.
        stamp_ns: StampNs,
        /// Latest stamp already ingested.
        latest_ns: StampNs,
    },
    /// A keyframe equal to one already ingested at the same stamp (a message delivered twice,
    /// a bag replayed into the memory that recorded it): counted once, not twice.
    #[error("keyframe at {stamp_ns} ns was already ingested (same content)")]
    DuplicateKeyframe {
        /// Its stamp.
        stamp_ns: StampNs,
    },
    /// A pose with a NaN or infinite component, a translation beyond 1e6 m, or a rotation that
    /// is not a unit quaternion.
    #[error("invalid pose in {field}: non-finite, beyond 1e6 m, or not a unit rotation")]
    NonFinitePose {
        /// Which pose: `world_from_body` or `world_from_camera`.
        field: &'static str,
    },
    /// A camera model that cannot project (zero size, non-positive focal length, bad depth range).
    #[error("invalid camera model: {reason}")]
    InvalidCamera {
        /// What is wrong with it.
        reason: String,
    },
    /// A query point with a NaN or infinite coordinate (or beyond 1e6 m).
    #[error("query point is non-finite or beyond 1e6 m")]
    NonFinitePoint,
    /// A radius that is negative, NaN or infinite.
    #[error("invalid radius {radius_m} m: must be finite and >= 0")]
    InvalidRadius {
        /// Requested radius.
        radius_m: f64,
    },
    /// A text query that is empty after trimming.
    #[error("empty query text")]
    EmptyText,
    /// A configuration value out of its range.
    #[error("invalid config value {name} = {value}: {reason}")]
    InvalidConfig {
        /// Parameter name.
        name: &'static str,
        /// Offending value, printed.
        value: String,
        /// Expected range.
        reason: &'static str,
    },
    /// Saved memory parts that do not fit together (ids out of order, dangling references).
    #[error("inconsistent memory parts: {reason}")]
    InvalidParts {
        /// What does not fit.
        reason: String,
    },
    /// Evicted events could not be read back from their store.
    #[error("reading evicted events failed: {reason}")]
    Cold {
        /// The store's error.
        reason: String,
    },
    /// The embedder failed (a model that did not run).
    #[error("embedder: {0}")]
    Embedder(String),
    /// An embedding whose dimension does not match the embedder's.
    #[error("embedding has {got} dimensions, the embedder makes {expected}")]
    EmbeddingDimension {
        /// Dimension of the embedder.
        expected: usize,
        /// Dimension received.
        got: usize,
    },
}
