//! A memory backed by a store: group commit, retention and degraded mode.
//!
//! Owns the policy of *when* to write (every `max_delay` or `max_changes`, whichever first),
//! what to keep in RAM (events of the last `hot_window_s`, at most `max_hot_events`), what to
//! consolidate or expire on disk, and what to do when the disk fails: keep answering from RAM,
//! report itself degraded, retry the same batch on the next commit. Decides nothing about the
//! memory's content.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{HotEvents, OpenMode, Store, StoreError, WriteReport};
use crate::core::config::MemoryConfig;
use crate::core::embed::Embedder;
use crate::core::error::CoreError;
use crate::core::memory::{ColdEvents, Forget, ForgetReport, IngestReport, Memory};
use crate::core::observation::{Observation, PoseUpdate};
use crate::core::query::{Answer, Query};
use crate::core::time::{secs_to_ns, StampNs};

/// When batches are committed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitPolicy {
    /// Commit when the oldest uncommitted change is this old (checked on every input and tick).
    pub max_delay: Duration,
    /// Commit when this many changes (inputs + events) are waiting.
    pub max_changes: usize,
}

impl Default for CommitPolicy {
    fn default() -> Self {
        Self {
            max_delay: Duration::from_millis(100),
            max_changes: 10_000,
        }
    }
}

/// What the memory keeps, where, and for how long. Stamps are ROS time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetentionConfig {
    /// Events recorded in the last `hot_window_s` stay in RAM; older ones only on disk.
    pub hot_window_s: f64,
    /// At most this many events in RAM (the oldest leave first).
    pub max_hot_events: usize,
    /// Visits older than this are folded into one summary per object and day; `None` keeps
    /// every visit.
    pub consolidate_after_s: Option<f64>,
    /// Events and captions older than this are deleted; `None` keeps them forever.
    pub max_age_s: Option<f64>,
    /// Retention runs at most once per this much ROS time.
    pub maintain_every_s: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            hot_window_s: 86_400.0,
            max_hot_events: 2_000_000,
            consolidate_after_s: Some(86_400.0),
            max_age_s: Some(14.0 * 86_400.0),
            maintain_every_s: 600.0,
        }
    }
}

impl RetentionConfig {
    /// Keeps everything, in RAM and on disk.
    pub fn keep_everything() -> Self {
        Self {
            hot_window_s: f64::MAX,
            max_hot_events: usize::MAX,
            consolidate_after_s: None,
            max_age_s: None,
            maintain_every_s: 600.0,
        }
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |name: &'static str, value: String, reason: &'static str| {
            Err(CoreError::InvalidConfig {
                name,
                value,
                reason,
            })
        };
        if self.hot_window_s.is_nan() || self.hot_window_s <= 0.0 {
            return bad("hot_window_s", self.hot_window_s.to_string(), "must be > 0");
        }
        if self.max_hot_events == 0 {
            return bad("max_hot_events", "0".to_string(), "must be > 0");
        }
        if let Some(s) = self
            .consolidate_after_s
            .filter(|s| !(*s > 0.0 && s.is_finite()))
        {
            return bad(
                "consolidate_after_s",
                s.to_string(),
                "must be finite and > 0",
            );
        }
        if let Some(age) = self.max_age_s {
            if !(age > 0.0 && age.is_finite()) {
                return bad("max_age_s", age.to_string(), "must be finite and > 0");
            }
            if age < self.hot_window_s {
                return bad("max_age_s", age.to_string(), "must be >= hot_window_s");
            }
        }
        if !(self.maintain_every_s >= 0.0 && self.maintain_every_s.is_finite()) {
            return bad(
                "maintain_every_s",
                self.maintain_every_s.to_string(),
                "must be finite and >= 0",
            );
        }
        Ok(())
    }
}

/// Where a [`PersistentMemory`] stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreStatus {
    /// The database, if any.
    pub path: Option<String>,
    /// Why the last write failed, while it keeps failing (the memory answers from RAM).
    pub degraded: Option<String>,
    /// Every event with a smaller id is on disk.
    pub acknowledged_events: u64,
    /// Changes waiting for the next commit.
    pub pending_changes: usize,
    /// Successful commits this session.
    pub commits: u64,
    /// Failed commits this session.
    pub failed_commits: u64,
    /// The schema version the file had when this session's open migrated it, if it did.
    pub migrated_from: Option<u32>,
}

/// A memory with optional persistence.
pub struct PersistentMemory {
    memory: Memory,
    store: Option<Store>,
    policy: CommitPolicy,
    retention: RetentionConfig,
    pending: usize,
    oldest_pending: Option<Instant>,
    last_maintenance_ns: Option<StampNs>,
    /// Erasures done in RAM that the disk has not seen yet (retried on every commit).
    pending_erasures: Vec<(Forget, ForgetReport)>,
    degraded: Option<String>,
    commits: u64,
    failed_commits: u64,
}

impl std::fmt::Debug for PersistentMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentMemory")
            .field("memory", &self.memory)
            .field("store", &self.store)
            .finish()
    }
}

impl PersistentMemory {
    /// A memory without a database (everything in RAM, retention off).
    pub fn in_ram(memory: Memory) -> Self {
        Self::with_store(
            memory,
            None,
            CommitPolicy::default(),
            RetentionConfig::keep_everything(),
        )
    }

    fn with_store(
        memory: Memory,
        store: Option<Store>,
        policy: CommitPolicy,
        retention: RetentionConfig,
    ) -> Self {
        Self {
            memory,
            store,
            policy,
            retention,
            pending: 0,
            oldest_pending: None,
            last_maintenance_ns: None,
            pending_erasures: Vec::new(),
            degraded: None,
            commits: 0,
            failed_commits: 0,
        }
    }

    /// Opens (or creates) the database at `path` for writing and loads the memory in it.
    /// `config` is used for a new database and overrides a saved one.
    ///
    /// # Errors
    /// Any [`StoreError`] of opening or loading; [`StoreError::Core`] for a bad config or
    /// retention.
    pub fn open(
        path: &Path,
        config: Option<MemoryConfig>,
        embedder: Box<dyn Embedder>,
        policy: CommitPolicy,
        retention: RetentionConfig,
    ) -> Result<Self, StoreError> {
        retention.validate().map_err(|source| StoreError::Core {
            path: path.to_path_buf(),
            source,
        })?;
        let store = Store::open(path, OpenMode::ReadWrite)?;
        let memory = if store.is_empty()? {
            Memory::new(config.unwrap_or_default(), embedder).map_err(|source| {
                StoreError::Core {
                    path: path.to_path_buf(),
                    source,
                }
            })?
        } else {
            store.load(config, embedder, HotEvents::AsSaved)?
        };
        let mut me = Self::with_store(memory, Some(store), policy, retention);
        // The configuration (and, for a new file, an empty state) is written at once.
        me.commit()?;
        Ok(me)
    }

    /// The memory.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// The store, if any.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Ingests a keyframe, then commits if the policy says so.
    ///
    /// # Errors
    /// The core's error for a refused input (nothing changed). Store failures do not fail the
    /// call: they show in [`PersistentMemory::status`].
    pub fn ingest(&mut self, obs: &Observation) -> Result<IngestReport, CoreError> {
        let r = self.memory.ingest(obs)?;
        self.note_changes(1 + (r.end_event - r.first_event) as usize);
        Ok(r)
    }

    /// Ingests a model's late sightings of an earlier keyframe ([`Memory::ingest_sightings`]),
    /// then commits if the policy says so.
    ///
    /// # Errors
    /// As [`PersistentMemory::ingest`].
    pub fn ingest_sightings(&mut self, obs: &Observation) -> Result<IngestReport, CoreError> {
        let r = self.memory.ingest_sightings(obs)?;
        self.note_changes(1 + (r.end_event - r.first_event) as usize);
        Ok(r)
    }

    /// Ingests a pose, then commits if the policy says so.
    ///
    /// # Errors
    /// As [`PersistentMemory::ingest`].
    pub fn ingest_pose(&mut self, pose: &PoseUpdate) -> Result<(), CoreError> {
        self.memory.ingest_pose(pose)?;
        self.note_changes(1);
        Ok(())
    }

    /// Records a late caption of an earlier keyframe ([`Memory::add_caption`]), then commits
    /// if the policy says so.
    ///
    /// # Errors
    /// As [`Memory::add_caption`].
    pub fn add_caption(
        &mut self,
        stamp_ns: StampNs,
        world_from_body: &nalgebra::Isometry3<f64>,
        text: &str,
    ) -> Result<(), CoreError> {
        self.memory.add_caption(stamp_ns, world_from_body, text)?;
        self.note_changes(1);
        Ok(())
    }

    fn note_changes(&mut self, n: usize) {
        self.pending += n;
        self.oldest_pending.get_or_insert_with(Instant::now);
        let _ = self.tick();
    }

    /// Commits if changes are waiting longer than `max_delay` or more than `max_changes`; call
    /// it periodically when inputs may stop. `None` when nothing was due.
    pub fn tick(&mut self) -> Option<Result<WriteReport, StoreError>> {
        let due = self.pending > 0
            && (self.pending >= self.policy.max_changes
                || self
                    .oldest_pending
                    .is_some_and(|t| t.elapsed() >= self.policy.max_delay));
        (due && self.store.is_some()).then(|| self.commit())
    }

    /// Writes every waiting change now (one transaction), then applies retention. On failure
    /// the memory keeps the batch and reports itself degraded; the next commit retries.
    ///
    /// # Errors
    /// The store's error.
    pub fn commit(&mut self) -> Result<WriteReport, StoreError> {
        let Some(store) = self.store.as_mut() else {
            self.pending = 0;
            self.oldest_pending = None;
            return Ok(WriteReport::default());
        };
        let mut result = Ok(WriteReport::default());
        while let Some((what, report)) = self.pending_erasures.first().cloned() {
            match store.erase(&mut self.memory, &what, &report) {
                Ok(r) => {
                    self.pending_erasures.remove(0);
                    result = Ok(r);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = store.write(&mut self.memory);
        }
        match &result {
            Ok(_) => {
                self.pending = 0;
                self.oldest_pending = None;
                self.degraded = None;
                self.commits += 1;
                if let Err(e) = self.maintain() {
                    self.degraded = Some(e.to_string());
                }
            }
            Err(e) => {
                self.degraded = Some(e.to_string());
                self.failed_commits += 1;
                // Retry after another delay, not on every input.
                self.oldest_pending = Some(Instant::now());
            }
        }
        result
    }

    /// Evicts old events from RAM (they are on disk) and applies retention on disk.
    fn maintain(&mut self) -> Result<(), StoreError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let Some(now) = self.memory.latest_stamp_ns() else {
            return Ok(());
        };
        let every = secs_to_ns(self.retention.maintain_every_s);
        if self
            .last_maintenance_ns
            .is_some_and(|t| now < t.saturating_add(every))
        {
            return Ok(());
        }
        self.last_maintenance_ns = Some(now);
        let r = &self.retention;
        let mut cutoff = now.saturating_sub(secs_to_ns(r.hot_window_s));
        let events = self.memory.log().events();
        if events.len() > r.max_hot_events {
            cutoff = cutoff.max(events[events.len() - r.max_hot_events].stamp_ns);
        }
        // Only what the store already holds may leave RAM.
        if let Some(first_unwritten) = events.iter().find(|e| e.id.0 >= store.written_events()) {
            cutoff = cutoff.min(first_unwritten.stamp_ns);
        }
        if events.first().is_some_and(|e| e.stamp_ns < cutoff) {
            self.memory.evict_events_before(cutoff);
        }
        let evicted = self.memory.log().evicted_before_ns();
        store.apply_retention(
            evicted,
            r.consolidate_after_s
                .map(|s| now.saturating_sub(secs_to_ns(s))),
            r.max_age_s.map(|s| now.saturating_sub(secs_to_ns(s))),
        )?;
        Ok(())
    }

    /// Answers a query, reading evicted events from disk when its window needs them.
    ///
    /// # Errors
    /// As [`Memory::query_with`].
    pub fn query(&self, query: &Query) -> Result<Answer, CoreError> {
        let cold = self.store.as_ref().map(|s| s as &dyn ColdEvents);
        self.memory.query_with(query, cold)
    }

    /// Forgets what `what` selects, in RAM at once and on disk in the same call (retried on
    /// later commits if the disk fails, see [`PersistentMemory::status`]).
    ///
    /// # Errors
    /// The core's error for a bad selector (nothing changed).
    pub fn forget(&mut self, what: &Forget) -> Result<ForgetReport, CoreError> {
        let report = self.memory.forget(what)?;
        self.pending_erasures.push((what.clone(), report.clone()));
        self.pending += 1;
        if self.store.is_some() {
            let _ = self.commit();
        } else {
            self.pending_erasures.clear();
        }
        Ok(report)
    }

    /// Where persistence stands.
    pub fn status(&self) -> StoreStatus {
        StoreStatus {
            path: self.store.as_ref().map(|s| s.path().display().to_string()),
            degraded: self.degraded.clone(),
            acknowledged_events: self.store.as_ref().map_or(0, Store::written_events),
            pending_changes: self.pending,
            commits: self.commits,
            failed_commits: self.failed_commits,
            migrated_from: self.store.as_ref().and_then(Store::migrated_from),
        }
    }

    /// Changes waiting for the next commit.
    pub fn pending_changes(&self) -> usize {
        self.pending
    }

    /// Commits what is waiting and closes the database.
    ///
    /// # Errors
    /// The store's error of the last commit.
    pub fn close(mut self) -> Result<(), StoreError> {
        if self.pending > 0 || !self.pending_erasures.is_empty() {
            self.commit()?;
        }
        Ok(())
    }
}

impl Drop for PersistentMemory {
    /// Best effort: what is waiting is committed.
    fn drop(&mut self) {
        if self.store.is_some() && (self.pending > 0 || !self.pending_erasures.is_empty()) {
            let _ = self.commit();
        }
    }
}
