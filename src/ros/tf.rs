//! A TF buffer: the frame tree from `/tf` and `/tf_static`, with time interpolation.
//!
//! Owns: storing transforms per (parent, child) edge, looking up `target_from_source` at a
//! stamp through the tree (REP-105 frames `map` -> `odom` -> `base_link` -> camera optical
//! frames), linear/spherical interpolation between stamps, and bounded history. It does not
//! read ROS messages (see [`super::pipeline`]) and never reads a clock: stamps are passed in.

use std::collections::{BTreeMap, HashMap};

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

use crate::core::time::StampNs;

/// Why a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TfError {
    /// A frame the buffer has never heard of.
    #[error("unknown frame {0:?}")]
    UnknownFrame(String),
    /// Both frames are known but not connected.
    #[error("no transform path between {target:?} and {source_frame:?}")]
    NotConnected {
        /// Target frame.
        target: String,
        /// Source frame.
        source_frame: String,
    },
    /// The stamp is after the newest transform of an edge: may resolve when more TF arrives.
    #[error("{child:?} in {parent:?} is known only until {latest_ns} ns, asked for {stamp_ns} ns")]
    Future {
        /// Edge parent.
        parent: String,
        /// Edge child.
        child: String,
        /// Newest stamp on that edge.
        latest_ns: StampNs,
        /// Stamp asked for.
        stamp_ns: StampNs,
    },
    /// The stamp is before the oldest transform kept for an edge.
    #[error("{child:?} in {parent:?} is known only from {oldest_ns} ns, asked for {stamp_ns} ns")]
    Past {
        /// Edge parent.
        parent: String,
        /// Edge child.
        child: String,
        /// Oldest stamp kept.
        oldest_ns: StampNs,
        /// Stamp asked for.
        stamp_ns: StampNs,
    },
    /// The two transforms around the stamp are further apart than the allowed gap.
    #[error("gap of {gap_ns} ns in {child:?} in {parent:?} around {stamp_ns} ns")]
    Gap {
        /// Edge parent.
        parent: String,
        /// Edge child.
        child: String,
        /// Distance between the neighbours.
        gap_ns: i64,
        /// Stamp asked for.
        stamp_ns: StampNs,
    },
}

/// Why a transform was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TfInsertError {
    /// Empty frame ids or a frame that is its own parent.
    #[error("bad frames {parent:?} -> {child:?}")]
    BadFrames {
        /// Parent.
        parent: String,
        /// Child.
        child: String,
    },
    /// NaN or infinite numbers, or a zero quaternion.
    #[error("non-finite transform {parent:?} -> {child:?}")]
    NotFinite {
        /// Parent.
        parent: String,
        /// Child.
        child: String,
    },
}

/// Buffer settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TfConfig {
    /// History kept per dynamic edge, s (tf2's default cache is 10 s).
    pub cache_s: f64,
    /// Neighbouring transforms further apart than this are not interpolated, s.
    pub max_gap_s: f64,
    /// A stamp this close after an edge's newest transform still uses it, s.
    pub extrapolation_s: f64,
}

impl Default for TfConfig {
    fn default() -> Self {
        Self {
            cache_s: 10.0,
            max_gap_s: 1.5,
            extrapolation_s: 0.0,
        }
    }
}

/// One edge: the parent and its history (a single entry for static edges).
#[derive(Debug, Clone)]
struct Edge {
    parent: String,
    is_static: bool,
    history: BTreeMap<StampNs, Isometry3<f64>>,
}

/// The frame tree over time.
#[derive(Debug, Clone, Default)]
pub struct TfBuffer {
    config: TfConfig,
    /// child -> edge to its parent.
    edges: HashMap<String, Edge>,
}

impl TfBuffer {
    /// Forgets every dynamic transform and keeps the static ones (what tf2's listener does
    /// when ROS time jumps backwards: a bag loop or a simulator reset).
    pub fn clear_dynamic(&mut self) {
        self.edges.retain(|_, e| e.is_static);
    }
}

fn ns(s: f64) -> i64 {
    (s * 1e9).round() as i64
}

impl TfBuffer {
    /// An empty buffer.
    pub fn new(config: TfConfig) -> Self {
        Self {
            config,
            edges: HashMap::new(),
        }
    }

    /// Stores `parent_from_child` at `stamp_ns` (static edges hold for all time). A child that
    /// changes parent drops its old edge, as tf2 does.
    ///
    /// # Errors
    /// [`TfInsertError`] for bad frame ids or non-finite numbers.
    pub fn insert(
        &mut self,
        parent: &str,
        child: &str,
        stamp_ns: StampNs,
        parent_from_child: Isometry3<f64>,
        is_static: bool,
    ) -> Result<(), TfInsertError> {
        let parent = parent.trim_start_matches('/');
        let child = child.trim_start_matches('/');
        if parent.is_empty() || child.is_empty() || parent == child {
            return Err(TfInsertError::BadFrames {
                parent: parent.into(),
                child: child.into(),
            });
        }
        let t = parent_from_child.translation.vector;
        let q = parent_from_child.rotation.coords;
        if !(t.iter().all(|v| v.is_finite()) && q.iter().all(|v| v.is_finite())) {
            return Err(TfInsertError::NotFinite {
                parent: parent.into(),
                child: child.into(),
            });
        }
        let cache = ns(self.config.cache_s);
        let edge = self.edges.entry(child.to_string()).or_insert_with(|| Edge {
            parent: parent.to_string(),
            is_static,
            history: BTreeMap::new(),
        });
        if edge.parent != parent || edge.is_static != is_static {
            edge.parent = parent.to_string();
            edge.is_static = is_static;
            edge.history.clear();
        }
        if is_static {
            edge.history.clear();
            edge.history.insert(0, parent_from_child);
        } else {
            edge.history.insert(stamp_ns, parent_from_child);
            if let Some((&newest, _)) = edge.history.iter().next_back() {
                let keep_from = newest.saturating_sub(cache);
                edge.history = edge.history.split_off(&keep_from);
            }
        }
        Ok(())
    }

    /// Stores a `geometry_msgs/TransformStamped`.
    ///
    /// # Errors
    /// As [`TfBuffer::insert`].
    pub fn insert_msg(
        &mut self,
        t: &super::msg::TransformStamped,
        is_static: bool,
    ) -> Result<(), TfInsertError> {
        let tr = &t.transform;
        let q = Quaternion::new(tr.rotation.w, tr.rotation.x, tr.rotation.y, tr.rotation.z);
        if q.norm().is_nan() || q.norm() <= 1e-9 {
            return Err(TfInsertError::NotFinite {
                parent: t.header.frame_id.clone(),
                child: t.child_frame_id.clone(),
            });
        }
        let iso = Isometry3::from_parts(
            Translation3::new(tr.translation.x, tr.translation.y, tr.translation.z),
            UnitQuaternion::from_quaternion(q),
        );
        self.insert(
            &t.header.frame_id,
            &t.child_frame_id,
            t.header.stamp.to_ns(),
            iso,
            is_static,
        )
    }

    /// Whether `frame` appears in the buffer (as a child or a parent).
    pub fn knows(&self, frame: &str) -> bool {
        let frame = frame.trim_start_matches('/');
        self.edges.contains_key(frame) || self.edges.values().any(|e| e.parent == frame)
    }

    /// `parent_from_child` of one edge at `stamp_ns`.
    fn edge_at(
        &self,
        child: &str,
        edge: &Edge,
        stamp_ns: StampNs,
    ) -> Result<Isometry3<f64>, TfError> {
        if edge.is_static {
            if let Some(t) = edge.history.values().next() {
                return Ok(*t);
            }
        }
        let err_names = || (edge.parent.clone(), child.to_string());
        let before = edge.history.range(..=stamp_ns).next_back();
        let after = edge.history.range(stamp_ns..).next();
        match (before, after) {
            (Some((&a, ta)), Some((&b, tb))) => {
                if a == b {
                    return Ok(*ta);
                }
                let gap = b - a;
                if gap > ns(self.config.max_gap_s) {
                    let (parent, child) = err_names();
                    return Err(TfError::Gap {
                        parent,
                        child,
                        gap_ns: gap,
                        stamp_ns,
                    });
                }
                let s = (stamp_ns - a) as f64 / gap as f64;
                let t = ta.translation.vector.lerp(&tb.translation.vector, s);
                let r = ta
                    .rotation
                    .try_slerp(&tb.rotation, s, 1e-12)
                    .unwrap_or(ta.rotation);
                Ok(Isometry3::from_parts(Translation3::from(t), r))
            }
            (Some((&a, ta)), None) => {
                if stamp_ns - a <= ns(self.config.extrapolation_s) {
                    Ok(*ta)
                } else {
                    let (parent, child) = err_names();
                    Err(TfError::Future {
                        parent,
                        child,
                        latest_ns: a,
                        stamp_ns,
                    })
                }
            }
            (None, Some((&b, _))) => {
                let (parent, child) = err_names();
                Err(TfError::Past {
                    parent,
                    child,
                    oldest_ns: b,
                    stamp_ns,
                })
            }
            (None, None) => Err(TfError::UnknownFrame(child.to_string())),
        }
    }

    /// The chain of frames from `frame` up to its root.
    fn ancestors(&self, frame: &str) -> Vec<String> {
        let mut out = vec![frame.to_string()];
        let mut cur = frame.to_string();
        // A cycle cannot form through `insert` (a child has one parent) except by a loop in
        // the data; the bound stops it.
        for _ in 0..256 {
            match self.edges.get(&cur) {
                Some(e) => {
                    cur = e.parent.clone();
                    if out.contains(&cur) {
                        break;
                    }
                    out.push(cur.clone());
                }
                None => break,
            }
        }
        out
    }

    /// `target_from_source` at `stamp_ns`: maps coordinates in `source` into `target`.
    ///
    /// # Errors
    /// [`TfError`]: unknown or unconnected frames, a stamp outside an edge's history
    /// (`Future` may resolve once newer TF arrives), or a gap.
    pub fn lookup(
        &self,
        target: &str,
        source: &str,
        stamp_ns: StampNs,
    ) -> Result<Isometry3<f64>, TfError> {
        let target = target.trim_start_matches('/');
        let source = source.trim_start_matches('/');
        if target == source {
            return Ok(Isometry3::identity());
        }
        for f in [target, source] {
            if !self.knows(f) {
                return Err(TfError::UnknownFrame(f.to_string()));
            }
        }
        let up_source = self.ancestors(source);
        let up_target = self.ancestors(target);
        let Some(common) = up_source.iter().find(|f| up_target.contains(f)).cloned() else {
            return Err(TfError::NotConnected {
                target: target.into(),
                source_frame: source.into(),
            });
        };
        // common_from_source
        let mut common_from_source = Isometry3::identity();
        for f in up_source.iter().take_while(|f| **f != common) {
            let e = &self.edges[f];
            common_from_source = self.edge_at(f, e, stamp_ns)? * common_from_source;
        }
        let mut common_from_target = Isometry3::identity();
        for f in up_target.iter().take_while(|f| **f != common) {
            let e = &self.edges[f];
            common_from_target = self.edge_at(f, e, stamp_ns)? * common_from_target;
        }
        Ok(common_from_target.inverse() * common_from_source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3};

    fn iso(x: f64, y: f64, yaw: f64) -> Isometry3<f64> {
        Isometry3::new(Vector3::new(x, y, 0.0), Vector3::new(0.0, 0.0, yaw))
    }

    #[test]
    fn chains_interpolates_and_reports_gaps_and_future() {
        let mut tf = TfBuffer::new(TfConfig::default());
        tf.insert("map", "odom", 0, iso(10.0, 0.0, 0.0), true)
            .unwrap();
        tf.insert(
            "odom",
            "base_link",
            1_000_000_000,
            iso(0.0, 0.0, 0.0),
            false,
        )
        .unwrap();
        tf.insert(
            "odom",
            "base_link",
            2_000_000_000,
            iso(2.0, 0.0, 1.0),
            false,
        )
        .unwrap();
        tf.insert("base_link", "camera", 0, iso(0.5, 0.0, 0.0), true)
            .unwrap();
        // Halfway: x = 1, yaw = 0.5; the camera 0.5 m ahead along the rotated x axis.
        let t = tf.lookup("map", "camera", 1_500_000_000).unwrap();
        let p = t * Point3::origin();
        assert!((p.x - (11.0 + 0.5 * 0.5f64.cos())).abs() < 1e-9, "{p}");
        assert!((p.y - 0.5 * 0.5f64.sin()).abs() < 1e-9);
        // Inverse direction and siblings.
        let back = tf.lookup("camera", "map", 1_500_000_000).unwrap();
        assert!(((back * t) * Point3::origin()).coords.norm() < 1e-9);
        assert!(matches!(
            tf.lookup("map", "camera", 2_500_000_000),
            Err(TfError::Future { .. })
        ));
        assert!(matches!(
            tf.lookup("map", "camera", 500_000_000),
            Err(TfError::Past { .. })
        ));
        tf.insert(
            "odom",
            "base_link",
            5_000_000_000,
            iso(3.0, 0.0, 0.0),
            false,
        )
        .unwrap();
        assert!(matches!(
            tf.lookup("map", "base_link", 4_000_000_000),
            Err(TfError::Gap { .. })
        ));
        assert!(matches!(
            tf.lookup("map", "nowhere", 0),
            Err(TfError::UnknownFrame(_))
        ));
        tf.insert("world", "island", 0, iso(0.0, 0.0, 0.0), true)
            .unwrap();
        assert!(matches!(
            tf.lookup("map", "island", 0),
            Err(TfError::NotConnected { .. })
        ));
        assert!(tf.insert("a", "a", 0, iso(0.0, 0.0, 0.0), false).is_err());
        let mut nan = iso(0.0, 0.0, 0.0);
        nan.translation.x = f64::NAN;
        assert!(tf.insert("a", "b", 0, nan, false).is_err());
    }

    #[test]
    fn history_is_bounded() {
        let mut tf = TfBuffer::new(TfConfig::default());
        for i in 0..1000 {
            tf.insert(
                "odom",
                "base_link",
                i * 100_000_000,
                iso(i as f64, 0.0, 0.0),
                false,
            )
            .unwrap();
        }
        // 10 s of history at 10 Hz.
        assert!(tf.edges["base_link"].history.len() <= 101);
        assert!(matches!(
            tf.lookup("odom", "base_link", 0),
            Err(TfError::Past { .. })
        ));
    }
}
