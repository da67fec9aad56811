//! Time as the core sees it: ROS time stamps in integer nanoseconds, passed in by the caller.
//!
//! Owns [`StampNs`] helpers and [`TimeWindow`]. Must not read any clock: live nodes, sim time and
//! bag replay all hand their stamps in, so the core behaves the same under each.

use serde::{Deserialize, Serialize};

use super::error::CoreError;

/// A ROS time stamp in nanoseconds since the epoch (or since sim start under `use_sim_time`).
pub type StampNs = i64;

/// Nanoseconds per second.
pub const NS_PER_S: i64 = 1_000_000_000;

/// Converts seconds to nanoseconds, saturating at the `i64` range. NaN maps to 0.
pub fn secs_to_ns(seconds: f64) -> StampNs {
    let ns = seconds * NS_PER_S as f64;
    if ns.is_nan() {
        0
    } else {
        // `as` saturates for floats out of range.
        ns as i64
    }
}

/// Converts nanoseconds to seconds.
pub fn ns_to_secs(ns: StampNs) -> f64 {
    ns as f64 / NS_PER_S as f64
}

/// A closed time interval `[start_ns, end_ns]`. Constructed through [`TimeWindow::new`], which
/// rejects inverted windows, so every value in circulation has `start_ns <= end_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    start_ns: StampNs,
    end_ns: StampNs,
}

impl TimeWindow {
    /// A window from `start_ns` to `end_ns`, both inclusive.
    ///
    /// # Errors
    /// [`CoreError::InvertedWindow`] when `end_ns < start_ns`.
    pub fn new(start_ns: StampNs, end_ns: StampNs) -> Result<Self, CoreError> {
        if end_ns < start_ns {
            return Err(CoreError::InvertedWindow { start_ns, end_ns });
        }
        Ok(Self { start_ns, end_ns })
    }

    /// The window covering all representable time.
    pub fn all() -> Self {
        Self {
            start_ns: StampNs::MIN,
            end_ns: StampNs::MAX,
        }
    }

    /// First stamp inside the window.
    pub fn start_ns(&self) -> StampNs {
        self.start_ns
    }

    /// Last stamp inside the window.
    pub fn end_ns(&self) -> StampNs {
        self.end_ns
    }

    /// Whether `stamp_ns` lies inside the window.
    pub fn contains(&self, stamp_ns: StampNs) -> bool {
        self.start_ns <= stamp_ns && stamp_ns <= self.end_ns
    }

    /// Whether the closed interval `[start_ns, end_ns]` overlaps the window. An open interval is
    /// passed as `end_ns = StampNs::MAX`.
    pub fn overlaps(&self, start_ns: StampNs, end_ns: StampNs) -> bool {
        start_ns <= self.end_ns && end_ns >= self.start_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_window_is_an_error() {
        assert!(matches!(
            TimeWindow::new(5, 4),
            Err(CoreError::InvertedWindow { .. })
        ));
        let w = TimeWindow::new(4, 4).unwrap();
        assert!(w.contains(4) && !w.contains(5));
    }

    #[test]
    fn overlap_is_closed_on_both_ends() {
        let w = TimeWindow::new(10, 20).unwrap();
        assert!(w.overlaps(20, 30));
        assert!(w.overlaps(0, 10));
        assert!(!w.overlaps(21, 30));
        assert!(!w.overlaps(0, 9));
        assert!(w.overlaps(0, StampNs::MAX));
    }

    #[test]
    fn seconds_conversion_saturates() {
        assert_eq!(secs_to_ns(1.5), 1_500_000_000);
        assert_eq!(secs_to_ns(f64::INFINITY), i64::MAX);
        assert_eq!(secs_to_ns(f64::NAN), 0);
    }
}
