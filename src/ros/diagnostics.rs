//! `/diagnostics` of the node (`diagnostic_msgs/DiagnosticArray`): ingest rates and drops,
//! database state and memory size, as `rqt_runtime_monitor` and the diagnostic aggregator show
//! them.
//!
//! Owns: the message types and the pure conversion of counters into statuses and levels. Rates
//! are differences between two snapshots divided by their stamp difference; time is passed in.

use serde::{Deserialize, Serialize};

use super::msg::{Header, RosMessage, Time};
use super::pipeline::PipelineStats;
use crate::core::time::StampNs;
use crate::store::StoreStatus;

/// `diagnostic_msgs/msg/KeyValue`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value, as text.
    pub value: String,
}

/// `diagnostic_msgs/msg/DiagnosticStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticStatus {
    /// [`DiagnosticStatus::OK`], `WARN`, `ERROR` or `STALE`.
    pub level: u8,
    /// `node: part`.
    pub name: String,
    /// One line for humans.
    pub message: String,
    /// What it is about.
    pub hardware_id: String,
    /// Figures.
    pub values: Vec<KeyValue>,
}

impl DiagnosticStatus {
    /// Fine.
    pub const OK: u8 = 0;
    /// Degraded: data dropped or refused.
    pub const WARN: u8 = 1;
    /// Not working (e.g. the database cannot be written).
    pub const ERROR: u8 = 2;
    /// No recent data.
    pub const STALE: u8 = 3;
}

/// `diagnostic_msgs/msg/DiagnosticArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticArray {
    /// Stamp.
    pub header: Header,
    /// Statuses.
    pub status: Vec<DiagnosticStatus>,
}

impl RosMessage for DiagnosticArray {
    const TYPE_NAME: &'static str = "diagnostic_msgs/msg/DiagnosticArray";
}

/// What the node counted up to a moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// When, ns (the node's clock).
    pub stamp_ns: StampNs,
    /// Input messages received, all topics.
    pub messages: u64,
    /// Input messages dropped because the ingest queue was full.
    pub queue_drops: u64,
    /// Keyframes dropped from the perception queue.
    pub perception_drops: u64,
    /// Keyframes on which a model needing depth was skipped (no aligned depth image).
    pub perception_skipped: u64,
    /// Keyframe model failures (errors, captions that could not be recorded).
    pub perception_failures: u64,
    /// The pipeline's counters.
    pub pipeline: PipelineStats,
    /// Objects reported by the memory.
    pub objects: usize,
    /// Events logged.
    pub events: u64,
}

fn kv(key: &str, value: impl ToString) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.to_string(),
    }
}

/// Refused or dropped inputs counted by the pipeline.
fn refused(p: &PipelineStats) -> u64 {
    p.tf_dropped
        + p.tf_rejected
        + p.no_camera_info
        + p.bad_images
        + p.bad_detections
        + p.bad_odometry
        + p.stamps_backwards
}

/// The diagnostics for `now` (rates over the period since `before`); `store` is `None` when the
/// memory lives in RAM only. `stale_after_s`: no input message for this long is `STALE`.
pub fn diagnostics(
    node: &str,
    before: &Snapshot,
    now: &Snapshot,
    store: Option<&StoreStatus>,
    stale_after_s: f64,
) -> DiagnosticArray {
    let dt_s = ((now.stamp_ns - before.stamp_ns) as f64 * 1e-9).max(1e-9);
    let rate = |a: u64, b: u64| format!("{:.2}", b.saturating_sub(a) as f64 / dt_s);
    let new_refused = refused(&now.pipeline).saturating_sub(refused(&before.pipeline));
    let new_drops = now.queue_drops.saturating_sub(before.queue_drops)
        + now.perception_drops.saturating_sub(before.perception_drops);
    let idle = now.messages == before.messages && dt_s >= stale_after_s;
    let (level, message) = if idle {
        (DiagnosticStatus::STALE, format!("no input for {dt_s:.1} s"))
    } else if new_drops > 0 || new_refused > 0 {
        (
            DiagnosticStatus::WARN,
            format!("{new_drops} dropped, {new_refused} refused in the last {dt_s:.1} s"),
        )
    } else {
        (DiagnosticStatus::OK, "ingesting".to_string())
    };
    let p = &now.pipeline;
    let ingest = DiagnosticStatus {
        level,
        name: format!("{node}: ingest"),
        message,
        hardware_id: node.into(),
        values: vec![
            kv("messages_per_s", rate(before.messages, now.messages)),
            kv(
                "keyframes_per_s",
                rate(before.pipeline.keyframes, now.pipeline.keyframes),
            ),
            kv(
                "poses_per_s",
                rate(before.pipeline.poses, now.pipeline.poses),
            ),
            kv("messages", now.messages),
            kv("keyframes", p.keyframes),
            kv("queue_drops", now.queue_drops),
            kv("perception_drops", now.perception_drops),
            kv("perception_skipped", now.perception_skipped),
            kv("perception_failures", now.perception_failures),
            kv("tf_waited", p.tf_waited),
            kv("tf_dropped", p.tf_dropped),
            kv("tf_rejected", p.tf_rejected),
            kv("no_camera_info", p.no_camera_info),
            kv("no_depth", p.no_depth),
            kv("bad_images", p.bad_images),
            kv("bad_detections", p.bad_detections),
            kv("bad_odometry", p.bad_odometry),
            kv("stamps_backwards", p.stamps_backwards),
            kv("time_jumps", p.time_jumps),
            kv("appearance_described", p.appearance_described),
        ],
    };
    let database = match store {
        None => DiagnosticStatus {
            level: DiagnosticStatus::OK,
            name: format!("{node}: database"),
            message: "in RAM only (db_path is empty)".into(),
            hardware_id: node.into(),
            values: vec![],
        },
        Some(s) => DiagnosticStatus {
            level: if s.degraded.is_some() {
                DiagnosticStatus::ERROR
            } else {
                DiagnosticStatus::OK
            },
            name: format!("{node}: database"),
            message: s
                .degraded
                .clone()
                .unwrap_or_else(|| "committing".to_string()),
            hardware_id: s.path.clone().unwrap_or_default(),
            values: vec![
                kv("acknowledged_events", s.acknowledged_events),
                kv("pending_changes", s.pending_changes),
                kv("commits", s.commits),
                kv("failed_commits", s.failed_commits),
            ],
        },
    };
    let memory = DiagnosticStatus {
        level: DiagnosticStatus::OK,
        name: format!("{node}: memory"),
        message: format!("{} objects, {} events", now.objects, now.events),
        hardware_id: node.into(),
        values: vec![kv("objects", now.objects), kv("events", now.events)],
    };
    DiagnosticArray {
        header: Header {
            stamp: Time::from_ns(now.stamp_ns),
            frame_id: String::new(),
        },
        status: vec![ingest, database, memory],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(s: i64, messages: u64) -> Snapshot {
        Snapshot {
            stamp_ns: s * 1_000_000_000,
            messages,
            ..Snapshot::default()
        }
    }

    #[test]
    fn levels_follow_drops_refusals_staleness_and_the_database() {
        let a = snap(10, 100);
        let mut b = snap(12, 160);
        b.pipeline.keyframes = 4;
        let d = diagnostics("/mnemo", &a, &b, None, 5.0);
        assert_eq!(d.status.len(), 3);
        assert_eq!(d.status[0].level, DiagnosticStatus::OK);
        let value = |d: &DiagnosticArray, k: &str| {
            d.status[0]
                .values
                .iter()
                .find(|v| v.key == k)
                .map(|v| v.value.clone())
        };
        assert_eq!(value(&d, "messages_per_s").as_deref(), Some("30.00"));
        assert_eq!(value(&d, "keyframes_per_s").as_deref(), Some("2.00"));
        // A queue drop or a refused input in the period: WARN.
        let mut c = b.clone();
        c.stamp_ns += 1_000_000_000;
        c.queue_drops = 1;
        assert_eq!(
            diagnostics("/mnemo", &b, &c, None, 5.0).status[0].level,
            DiagnosticStatus::WARN
        );
        let mut c2 = b.clone();
        c2.stamp_ns += 1_000_000_000;
        c2.pipeline.bad_images = 2;
        assert!(diagnostics("/mnemo", &b, &c2, None, 5.0).status[0]
            .message
            .contains("2 refused"));
        // No input for longer than stale_after_s: STALE.
        let mut idle = b.clone();
        idle.stamp_ns += 6_000_000_000;
        assert_eq!(
            diagnostics("/mnemo", &b, &idle, None, 5.0).status[0].level,
            DiagnosticStatus::STALE
        );
        // A degraded database is an ERROR naming the cause.
        let store = StoreStatus {
            degraded: Some("disk full".into()),
            ..StoreStatus::default()
        };
        let d = diagnostics("/mnemo", &a, &b, Some(&store), 5.0);
        assert_eq!(
            (d.status[1].level, d.status[1].message.as_str()),
            (DiagnosticStatus::ERROR, "disk full")
        );
    }
}
