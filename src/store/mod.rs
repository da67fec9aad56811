//! Crash-safe persistence of a [`Memory`] in SQLite (rusqlite, bundled).
//!
//! Owns the database file: schema and migrations ([`schema`]), writing changed rows in one
//! transaction per batch ([`Store::write`]), loading a memory back ([`Store::load`]), reading
//! events evicted from RAM ([`ColdEvents`]), retention on disk ([`Store::apply_retention`]) and
//! erasure ([`Store::erase`]). Group commit, eviction and degraded mode live in
//! [`persistent::PersistentMemory`]. Decides nothing about the memory's content: that is the
//! core's.
//!
//! Guarantees: WAL journal, `synchronous=FULL` by default, so a batch is *acknowledged* once
//! [`Store::write`] returned and survives a process kill or power loss; `secure_delete` so
//! erased bytes are zeroed; one writer per file (an advisory lock), any number of read-only
//! readers alongside it.

pub mod crashtest;
pub mod persistent;
pub mod schema;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use nalgebra::Point3;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::core::config::MemoryConfig;
use crate::core::embed::Embedder;
use crate::core::episodic::{CaptionRecord, Event, EventKind, EventLogParts};
use crate::core::error::CoreError;
use crate::core::ids::{EventId, ObjectId, PlaceId, PlacementId};
use crate::core::memory::{
    joined, ColdEvents, Forget, ForgetReport, IngestStats, Memory, MemoryParts, TwinDeficit,
};
use crate::core::scene_graph::{MemoryObject, Place, Placement};
use crate::core::time::{StampNs, TimeWindow};

pub use persistent::{CommitPolicy, PersistentMemory, RetentionConfig, StoreStatus};
use schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};

/// Why the store failed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its directory cannot be created or opened.
    #[error("cannot open memory database {path}: {reason}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// Another process is writing this database.
    #[error("memory database {path} is already open for writing by another process")]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file was written by a newer Mnemo.
    #[error(
        "memory database {path} has schema version {found}, newer than this build's {supported}; \
         upgrade mnemo"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// A read-only open of a file that needs migrating first.
    #[error(
        "memory database {path} has schema version {found}; open it once for writing to migrate \
         it to {supported} (`mnemo migrate --db {path}`, or start the node on it)"
    )]
    NeedsMigration {
        /// The database file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build writes.
        supported: u32,
    },
    /// The file is not a Mnemo database (another SQLite file, or not SQLite at all).
    #[error("{path} is not a mnemo memory database: {reason}")]
    NotMnemo {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The file is damaged (truncated, overwritten) or its rows do not fit together.
    #[error("memory database {path} is corrupted: {reason}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The disk (or the file's size limit) is full; the batch was not written.
    #[error("memory database {path}: disk full, batch not written ({reason})")]
    DiskFull {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        reason: String,
    },
    /// The store was opened read-only.
    #[error("memory database {path} is open read-only")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// Any other SQLite failure.
    #[error("memory database {path}: {reason}")]
    Sql {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        reason: String,
    },
    /// The configuration saved in the file, or given, is invalid.
    #[error("memory database {path}: {source}")]
    Core {
        /// The database file.
        path: PathBuf,
        /// The core's error.
        source: CoreError,
    },
}

/// How to open a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create if needed, migrate, take the writer lock.
    ReadWrite,
    /// Read only, no lock: works while a writer is running.
    ReadOnly,
}

/// How hard a commit is pushed to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `synchronous=FULL`: a committed batch survives a power loss (default).
    #[default]
    PowerLoss,
    /// `synchronous=NORMAL`: a committed batch survives a process crash; faster.
    ProcessCrash,
}

/// Which events a load puts in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotEvents {
    /// Those the writer kept in RAM (a restart continues exactly).
    AsSaved,
    /// None: every event is read from disk when a query needs it (fast one-shot queries).
    None,
}

/// Small state saved beside the rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SavedState {
    pending_reid: Vec<(ObjectId, StampNs)>,
    max_extent_seen_m: f64,
    latest_stamp_ns: Option<StampNs>,
    current_place: Option<PlaceId>,
    stats: IngestStats,
    next_event_id: u64,
    next_caption: u32,
    last_event_stamp_ns: Option<StampNs>,
    evicted_before_ns: Option<StampNs>,
    /// Visits recorded before this stamp are consolidated on disk.
    consolidated_before_ns: Option<StampNs>,
    /// Events and captions recorded before this stamp were deleted by retention.
    expired_before_ns: Option<StampNs>,
    /// Incremented by every committed write transaction: two connections that read the same
    /// state blob read the same snapshot.
    #[serde(default)]
    commit_seq: u64,
    /// The memory's newest keyframe stamp and fingerprints (`MemoryParts::recent_keyframes`).
    #[serde(default)]
    recent_keyframes: (StampNs, Vec<u64>),
    /// The memory's evidence on look-alike pairs (`MemoryParts::twin_deficits`).
    #[serde(default)]
    twin_deficits: Vec<(ObjectId, ObjectId, TwinDeficit)>,
}

/// What one [`Store::write`] stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WriteReport {
    /// Object rows written.
    pub objects: usize,
    /// Placement rows written.
    pub placements: usize,
    /// Place rows written.
    pub places: usize,
    /// Events appended.
    pub events: u64,
    /// Captions appended.
    pub captions: usize,
    /// Every event with a smaller id is acknowledged (on disk, or erased on purpose).
    pub acknowledged_events: u64,
}

/// What [`Store::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetentionReport {
    /// Visit rows folded into summaries.
    pub visits_consolidated: u64,
    /// Events deleted for age.
    pub events_expired: u64,
    /// Captions deleted for age.
    pub captions_expired: u64,
}

/// Figures about a database, for `mnemo inspect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// Schema version in the file.
    pub schema_version: u32,
    /// Object rows (tombstones included).
    pub objects: u64,
    /// Objects a query may report (confirmed, not retired).
    pub reportable_objects: u64,
    /// Placements.
    pub placements: u64,
    /// Places.
    pub places: u64,
    /// Relations.
    pub relations: u64,
    /// Events on disk.
    pub events: u64,
    /// Captions on disk.
    pub captions: u64,
    /// Earliest event stamp on disk, ns.
    pub first_stamp_ns: Option<StampNs>,
    /// Latest event stamp on disk, ns.
    pub last_stamp_ns: Option<StampNs>,
    /// Main file size, bytes.
    pub file_bytes: u64,
    /// Write-ahead log size, bytes.
    pub wal_bytes: u64,
}

/// The default database path, as ROS tools place their files: `$ROS_HOME/mnemo/memory.db`,
/// else `~/.ros/mnemo/memory.db`.
pub fn default_db_path() -> PathBuf {
    let base = match std::env::var_os("ROS_HOME").filter(|v| !v.is_empty()) {
        Some(ros_home) => PathBuf::from(ros_home),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".ros"),
    };
    base.join("mnemo").join("memory.db")
}

/// Stable on-disk code of an event kind.
fn kind_code(kind: EventKind) -> i64 {
    match kind {
        EventKind::FirstSeen => 0,
        EventKind::Visit => 1,
        EventKind::Moved => 2,
        EventKind::Missing => 3,
        EventKind::Reappeared => 4,
        EventKind::Caption => 5,
        EventKind::PlaceEntered => 6,
    }
}

fn kind_from_code(code: i64) -> Option<EventKind> {
    Some(match code {
        0 => EventKind::FirstSeen,
        1 => EventKind::Visit,
        2 => EventKind::Moved,
        3 => EventKind::Missing,
        4 => EventKind::Reappeared,
        5 => EventKind::Caption,
        6 => EventKind::PlaceEntered,
        _ => return None,
    })
}

/// The condition of the change events' partial index (`events_changes`, schema 4): queries
/// must repeat it word for word for SQLite to use the index. A range, not `IN (2, 3, 4)`: every
/// event insert evaluates it, and an `IN` list made inserts 30 % slower (1M rows, Python's
/// sqlite3), a range not measurably.
const CHANGE_KINDS_SQL: &str = "kind BETWEEN 2 AND 4";

const EVENT_COLUMNS: &str =
    "id, stamp_ns, kind, object, place, start_ns, end_ns, x, y, z, fx, fy, fz, caption";

/// A `u32` id column.
fn id32(v: i64) -> rusqlite::Result<u32> {
    u32::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, v))
}

fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let code: i64 = row.get(2)?;
    let kind = kind_from_code(code).ok_or(rusqlite::Error::IntegralValueOutOfRange(2, code))?;
    let from = match (
        row.get::<_, Option<f64>>(10)?,
        row.get::<_, Option<f64>>(11)?,
        row.get::<_, Option<f64>>(12)?,
    ) {
        (Some(x), Some(y), Some(z)) => Some([x as f32, y as f32, z as f32]),
        _ => None,
    };
    Ok(Event {
        id: EventId(u64::try_from(row.get::<_, i64>(0)?).unwrap_or(u64::MAX)),
        stamp_ns: row.get(1)?,
        kind,
        object: row
            .get::<_, Option<i64>>(3)?
            .map(id32)
            .transpose()?
            .map(ObjectId),
        place: row
            .get::<_, Option<i64>>(4)?
            .map(id32)
            .transpose()?
            .map(PlaceId),
        start_ns: row.get(5)?,
        end_ns: row.get(6)?,
        position_world: [
            row.get::<_, f64>(7)? as f32,
            row.get::<_, f64>(8)? as f32,
            row.get::<_, f64>(9)? as f32,
        ],
        from_world: from,
        caption: row.get::<_, Option<i64>>(13)?.map(id32).transpose()?,
    })
}

fn embedding_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn embedding_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// An object row's blob: the object and its relation anchor, then [`ObjectBlobTail`] (absent
/// in blobs written before schema 4).
#[derive(Serialize, Deserialize)]
struct ObjectBlob {
    object: MemoryObject,
    anchor: [f64; 3],
}

/// [`ObjectBlob`] as written: borrows the object.
#[derive(Serialize)]
struct ObjectBlobOut<'a> {
    object: &'a MemoryObject,
    anchor: [f64; 3],
    tail: ObjectBlobTail,
}

/// Object state outside [`MemoryObject`]'s serde form, appended to the blob (postcard reads a
/// prefix and leaves the rest, so blobs without it still read). Fields are only ever added at
/// the end, and [`ObjectBlobTail::read`] takes a tail cut after any field (one written before
/// the later fields existed), the rest defaulting.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct ObjectBlobTail {
    missed_since_ns: Option<StampNs>,
    /// `Memory::sighting_scatter_m2` (absent from tails written before it was kept: 0).
    sighting_scatter_m2: f32,
    /// `Memory::absent_views` (absent from tails written before they were kept: none).
    absent_views: Option<(u32, StampNs)>,
}

impl ObjectBlobTail {
    /// Reads a tail field by field; bytes after the last known field are left alone.
    fn read(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let mut tail = Self::default();
        if bytes.is_empty() {
            return Ok(tail);
        }
        let (missed, rest) = postcard::take_from_bytes::<Option<StampNs>>(bytes)?;
        tail.missed_since_ns = missed;
        if rest.is_empty() {
            return Ok(tail);
        }
        let (scatter, rest) = postcard::take_from_bytes::<f32>(rest)?;
        tail.sighting_scatter_m2 = scatter;
        if rest.is_empty() {
            return Ok(tail);
        }
        let (absent, _) = postcard::take_from_bytes::<Option<(u32, StampNs)>>(rest)?;
        tail.absent_views = absent;
        Ok(tail)
    }
}

/// An open memory database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    mode: OpenMode,
    /// Held while open for writing (advisory lock: one writer per file).
    _lock: Option<File>,
    /// Every event with a smaller id is on disk (or erased).
    written_events: u64,
    state: SavedState,
    /// Whether this session wrote the configuration yet.
    config_written: bool,
    /// The schema version the file had when this open migrated it (not for a new file).
    migrated_from: Option<u32>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Store {
    /// Opens (and for [`OpenMode::ReadWrite`] creates and migrates) a database.
    ///
    /// # Errors
    /// [`StoreError::Open`] (missing file, read-only directory), [`StoreError::Locked`] (another
    /// writer), [`StoreError::NotMnemo`], [`StoreError::NewerSchema`],
    /// [`StoreError::NeedsMigration`], [`StoreError::Corrupt`].
    pub fn open(path: &Path, mode: OpenMode) -> Result<Self, StoreError> {
        Self::open_with(path, mode, Durability::default())
    }

    /// [`Store::open`] with a chosen durability.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(
        path: &Path,
        mode: OpenMode,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let p = path.to_path_buf();
        let open_err = |reason: String| StoreError::Open {
            path: p.clone(),
            reason,
        };
        let (conn, lock) = match mode {
            OpenMode::ReadWrite => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| open_err(format!("creating {}: {e}", dir.display())))?;
                }
                let lock = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| open_err(e.to_string()))?;
                match lock.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => {
                        return Err(StoreError::Locked { path: p });
                    }
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(open_err(format!("locking: {e}")))
                    }
                }
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| open_err(e.to_string()))?;
                (conn, Some(lock))
            }
            OpenMode::ReadOnly => {
                if !path.exists() {
                    return Err(open_err("no such file".to_string()));
                }
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| open_err(e.to_string()))?;
                (conn, None)
            }
        };
        let mut store = Self {
            conn,
            path: p,
            mode,
            _lock: lock,
            written_events: 0,
            state: SavedState::default(),
            config_written: false,
            migrated_from: None,
        };
        store.setup(durability)?;
        Ok(store)
    }

    /// Maps a SQLite error to a store error naming the file.
    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql_error(&self.path, e)
    }

    fn setup(&mut self, durability: Durability) -> Result<(), StoreError> {
        let c = &self.conn;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| sql_error(&self.path, e))?;
        // Reading the header tells a non-database file apart before anything is written.
        let app_id: i32 = c
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        let version: u32 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| sql_error(&self.path, e))?;
        if app_id != APPLICATION_ID && (tables > 0 || app_id != 0) {
            return Err(StoreError::NotMnemo {
                path: self.path.clone(),
                reason: format!("application id {app_id:#x}, {tables} tables"),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if self.mode == OpenMode::ReadOnly {
            if version < SCHEMA_VERSION {
                return Err(StoreError::NeedsMigration {
                    path: self.path.clone(),
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
        } else {
            let sync = match durability {
                Durability::PowerLoss => "FULL",
                Durability::ProcessCrash => "NORMAL",
            };
            let mode: String = c
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(|e| sql_error(&self.path, e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Open {
                    path: self.path.clone(),
                    reason: format!("write-ahead logging unavailable (journal mode {mode})"),
                });
            }
            c.execute_batch(&format!(
                "PRAGMA synchronous = {sync}; PRAGMA secure_delete = ON;"
            ))
            .map_err(|e| sql_error(&self.path, e))?;
            self.migrate(version)?;
        }
        self.state = self.read_state()?;
        self.written_events = self.state.next_event_id;
        Ok(())
    }

    /// Runs the migrations from `from` to the current version in one transaction.
    fn migrate(&mut self, from: u32) -> Result<(), StoreError> {
        if from == SCHEMA_VERSION {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, e))?;
        for step in &MIGRATIONS[from as usize..] {
            tx.execute_batch(step).map_err(|e| sql_error(&path, e))?;
        }
        if from < 3 {
            set_reportable_from_blobs(&tx, &path)?;
        }
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
        .map_err(|e| sql_error(&path, e))?;
        tx.commit().map_err(|e| sql_error(&path, e))?;
        // Version 0 is a file this open created.
        self.migrated_from = (from > 0).then_some(from);
        Ok(())
    }

    /// Brings the existing database at `path` to this build's schema, as a writer's open does
    /// (one transaction, under the writer lock), and returns the versions before and after.
    ///
    /// # Errors
    /// [`StoreError::Open`] when there is no file (none is created), [`StoreError::Locked`]
    /// while a writer holds it, [`StoreError::NewerSchema`], [`StoreError::NotMnemo`],
    /// [`StoreError::Corrupt`] or [`StoreError::Sql`] (the file is then left as it was).
    pub fn migrate_file(path: &Path) -> Result<(u32, u32), StoreError> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: "no such file".to_string(),
            });
        }
        let from = match Self::open(path, OpenMode::ReadOnly) {
            Ok(store) => store.schema_version()?,
            Err(StoreError::NeedsMigration { found, .. }) => {
                drop(Self::open(path, OpenMode::ReadWrite)?);
                found
            }
            Err(e) => return Err(e),
        };
        let to = Self::open(path, OpenMode::ReadOnly)?.schema_version()?;
        Ok((from, to))
    }

    /// Applies only the first `version` migrations to a new file (for migration tests).
    #[doc(hidden)]
    pub fn create_at_version(path: &Path, version: u32) -> Result<(), StoreError> {
        let conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
        for step in &MIGRATIONS[..version.min(SCHEMA_VERSION) as usize] {
            conn.execute_batch(step).map_err(|e| sql_error(path, e))?;
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {version};"
        ))
        .map_err(|e| sql_error(path, e))
    }

    fn read_state(&self) -> Result<SavedState, StoreError> {
        decode_state(
            &self.path,
            read_state_raw(&self.conn, &self.path)?.as_deref(),
        )
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version in the file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Whether nothing was ever written.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM meta WHERE key = 'state'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        Ok(n == 0)
    }

    /// The memory configuration saved in the file, if any.
    pub fn saved_config(&self) -> Result<Option<MemoryConfig>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'config'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        raw.map(|b| {
            serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("saved config: {e}"),
            })
        })
        .transpose()
    }

    /// The schema version the file had when this open migrated it to [`SCHEMA_VERSION`]
    /// (`None` when it was current or new).
    pub fn migrated_from(&self) -> Option<u32> {
        self.migrated_from
    }

    /// Every event with a smaller id is on disk.
    pub fn written_events(&self) -> u64 {
        self.written_events
    }

    /// Events recorded before this stamp were deleted by retention.
    pub fn expired_before_ns(&self) -> Option<StampNs> {
        self.state.expired_before_ns
    }

    /// Loads the memory: every object, placement and place, the events `hot` selects, and
    /// rebuilds every index (k-d trees included). `config` overrides the saved configuration.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when rows cannot be decoded or do not fit together;
    /// [`StoreError::Core`] for an invalid configuration.
    pub fn load(
        &self,
        config: Option<MemoryConfig>,
        embedder: Box<dyn Embedder>,
        hot: HotEvents,
    ) -> Result<Memory, StoreError> {
        let config = match config {
            Some(c) => c,
            None => self.saved_config()?.unwrap_or_default(),
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        // One read transaction: objects, placements, places, events and the state all come
        // from one snapshot even while another process writes.
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let state_raw = read_state_raw(&tx, &self.path)?;
        let st = decode_state(&self.path, state_raw.as_deref())?;
        let evicted_before_ns = match hot {
            HotEvents::AsSaved => st.evicted_before_ns,
            HotEvents::None => st
                .latest_stamp_ns
                .max(st.last_event_stamp_ns)
                .map(|t| t.saturating_add(1)),
        };
        let from = evicted_before_ns.unwrap_or(StampNs::MIN);
        let events_from = (hot == HotEvents::AsSaved).then_some(from);
        let (object_rows, indexes, hot, placed) = std::thread::scope(|scope| {
            // The hot events and the placements (with the places) decode on other cores, each
            // on its own connection, when it sees this transaction's snapshot (otherwise they
            // are read below); the objects are read here meanwhile, and their indexes (k-d
            // tree, labels, relations) are built while the events are still coming in (on a
            // cold cache reading them waits on the disk most).
            let path = &self.path;
            let raw = state_raw.as_deref();
            let hot = events_from.map(|from| {
                scope.spawn(move || read_beside(path, raw, |c| read_hot_events(c, path, from)))
            });
            let placed = scope
                .spawn(move || read_beside(path, raw, |c| read_placements_and_places(c, path)));
            let here = read_objects(&tx, &self.path).map(|rows| {
                let indexes = Memory::index_objects(
                    &config,
                    &rows.objects,
                    &rows.anchors,
                    st.max_extent_seen_m,
                );
                (rows, indexes)
            });
            let hot = hot.map(joined);
            let placed = joined(placed);
            here.map(|(rows, indexes)| (rows, indexes, hot, placed))
        })?;
        let (events, captions) = match (events_from, hot) {
            (None, _) => (Vec::new(), BTreeMap::new()),
            (Some(_), Some(Ok(Some(rows)))) => rows,
            (Some(from), _) => read_hot_events(&tx, &self.path, from)?,
        };
        let (placements, places) = match placed {
            Ok(Some(rows)) => rows,
            _ => read_placements_and_places(&tx, &self.path)?,
        };
        drop(tx);
        let parts = MemoryParts {
            objects: object_rows.objects,
            placements,
            places,
            log: EventLogParts {
                events,
                next_id: st.next_event_id,
                captions,
                next_caption: st.next_caption,
                last_stamp_ns: st.last_event_stamp_ns,
                evicted_before_ns,
            },
            relation_anchors: object_rows.anchors,
            pending_reid: st.pending_reid.clone(),
            max_extent_seen_m: st.max_extent_seen_m,
            latest_stamp_ns: st.latest_stamp_ns,
            current_place: st.current_place,
            stats: st.stats.clone(),
            recent_keyframes: st.recent_keyframes.clone(),
            twin_deficits: st.twin_deficits.clone(),
            missed_since: object_rows.missed_since,
            absent_views: object_rows.absent_views,
            sighting_scatter_m2: object_rows.sighting_scatter_m2,
        };
        Memory::from_parts_indexed(config, embedder, parts, indexes).map_err(|e| match e {
            CoreError::InvalidConfig { .. } => StoreError::Core {
                path: self.path.clone(),
                source: e,
            },
            other => corrupt(other.to_string()),
        })
    }

    fn events_where(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Event>, StoreError> {
        events_where(&self.conn, &self.path, condition, args)
    }

    fn read_caption(&self, index: u32) -> Result<Option<CaptionRecord>, StoreError> {
        read_caption(&self.conn, &self.path, index)
    }

    fn writable(&self) -> Result<(), StoreError> {
        match self.mode {
            OpenMode::ReadWrite => Ok(()),
            OpenMode::ReadOnly => Err(StoreError::ReadOnly {
                path: self.path.clone(),
            }),
        }
    }

    /// Writes everything the memory changed since the last write in one transaction: changed
    /// objects (with their relations), placements and places, new events and captions, the
    /// small state and the configuration. On success every event so far is acknowledged; on
    /// failure nothing is written and the memory keeps its changes for the next attempt.
    ///
    /// # Errors
    /// [`StoreError::DiskFull`], [`StoreError::ReadOnly`], [`StoreError::Sql`].
    pub fn write(&mut self, memory: &mut Memory) -> Result<WriteReport, StoreError> {
        self.writable()?;
        let changes = memory.take_changes();
        match self.write_batch(memory, &changes, None) {
            Ok(r) => Ok(r),
            Err(e) => {
                memory.restore_changes(&changes);
                Err(e)
            }
        }
    }

    /// Erases on disk what [`Memory::forget`] erased in RAM (`report`), plus the events and
    /// captions `what` selects among those evicted from RAM, then writes the memory's changes,
    /// all in one transaction, and checkpoints the write-ahead log so the erased bytes are gone
    /// from every file.
    ///
    /// # Errors
    /// As [`Store::write`].
    pub fn erase(
        &mut self,
        memory: &mut Memory,
        what: &Forget,
        report: &ForgetReport,
    ) -> Result<WriteReport, StoreError> {
        self.writable()?;
        let changes = memory.take_changes();
        let r = match self.write_batch(memory, &changes, Some((what, report))) {
            Ok(r) => r,
            Err(e) => {
                memory.restore_changes(&changes);
                return Err(e);
            }
        };
        self.checkpoint()?;
        Ok(r)
    }

    /// Copies the write-ahead log into the main file and truncates it.
    ///
    /// # Errors
    /// [`StoreError::Sql`], or busy while a reader holds an old snapshot.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let (busy, _, _): (i64, i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.err(e))?;
        if busy != 0 {
            return Err(StoreError::Sql {
                path: self.path.clone(),
                reason: "checkpoint blocked by a reader; retry when it is done".to_string(),
            });
        }
        Ok(())
    }

    fn write_batch(
        &mut self,
        memory: &Memory,
        changes: &crate::core::memory::ChangeSet,
        erase: Option<(&Forget, &ForgetReport)>,
    ) -> Result<WriteReport, StoreError> {
        let path = self.path.clone();
        let e = |err: rusqlite::Error| sql_error(&path, err);
        let mut report = WriteReport::default();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        if let Some((what, erased)) = erase {
            erase_rows(&tx, what, erased).map_err(e)?;
        }
        {
            let mut put_object = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO objects \
                     (id, label, state, retired, reportable, x, y, z, first_seen_ns, \
                     last_seen_ns, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(e)?;
            let mut drop_relations = tx
                .prepare_cached("DELETE FROM relations WHERE subject = ?1")
                .map_err(e)?;
            let mut put_relation = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO relations (subject, kind, object) VALUES (?1, ?2, ?3)",
                )
                .map_err(e)?;
            for id in &changes.objects {
                let Some(o) = memory.object(*id) else {
                    continue;
                };
                let anchor = memory
                    .relation_anchor(*id)
                    .copied()
                    .unwrap_or(o.position_world);
                let blob = postcard::to_allocvec(&ObjectBlobOut {
                    object: o,
                    anchor: [anchor.x, anchor.y, anchor.z],
                    tail: ObjectBlobTail {
                        missed_since_ns: memory.missed_since(*id),
                        sighting_scatter_m2: memory.sighting_scatter_m2(*id).unwrap_or(0.0),
                        absent_views: memory.absent_views(*id),
                    },
                })
                .map_err(|err| StoreError::Sql {
                    path: path.clone(),
                    reason: format!("encoding object {id}: {err}"),
                })?;
                put_object
                    .execute(params![
                        id.0,
                        o.label.as_str(),
                        o.state.as_str(),
                        o.retired,
                        o.is_reportable(),
                        o.position_world.x,
                        o.position_world.y,
                        o.position_world.z,
                        o.first_seen_ns,
                        o.last_seen_ns,
                        blob
                    ])
                    .map_err(e)?;
                report.objects += 1;
            }
            // Relation rows only where they may have changed (most sightings leave them be).
            for id in &changes.relations {
                drop_relations.execute([id.0]).map_err(e)?;
                for r in memory.relations_of(*id) {
                    put_relation
                        .execute(params![r.subject.0, r.kind.as_str(), r.object.0])
                        .map_err(e)?;
                }
            }
            let mut put_placement = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO placements \
                     (id, object, x, y, z, start_ns, last_seen_ns, closed_at_ns) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e)?;
            for id in &changes.placements {
                let Some(p) = memory.placements().get(id.index()) else {
                    continue;
                };
                put_placement
                    .execute(params![
                        p.id.0,
                        p.object.0,
                        p.position_world.x,
                        p.position_world.y,
                        p.position_world.z,
                        p.start_ns,
                        p.last_seen_ns,
                        p.closed_at_ns
                    ])
                    .map_err(e)?;
                report.placements += 1;
            }
            let mut put_place = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO places \
                     (id, x, y, z, first_visit_ns, last_visit_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(e)?;
            for id in &changes.places {
                let Some(p) = memory.places().get(id.index()) else {
                    continue;
                };
                put_place
                    .execute(params![
                        p.id.0,
                        p.center_world.x,
                        p.center_world.y,
                        p.center_world.z,
                        p.first_visit_ns,
                        p.last_visit_ns
                    ])
                    .map_err(e)?;
                report.places += 1;
            }
            let mut put_event = tx
                .prepare_cached(&format!(
                    "INSERT INTO events ({EVENT_COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                ))
                .map_err(e)?;
            let mut put_caption = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO captions (id, stamp_ns, text, embedding, x, y, z, yaw) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e)?;
            let events = memory.log().events();
            let first_new = events.partition_point(|ev| ev.id.0 < self.written_events);
            for ev in &events[first_new..] {
                let from = ev.from_world.map(|f| f.map(f64::from));
                put_event
                    .execute(params![
                        ev.id.0 as i64,
                        ev.stamp_ns,
                        kind_code(ev.kind),
                        ev.object.map(|o| o.0),
                        ev.place.map(|p| p.0),
                        ev.start_ns,
                        ev.end_ns,
                        f64::from(ev.position_world[0]),
                        f64::from(ev.position_world[1]),
                        f64::from(ev.position_world[2]),
                        from.map(|f| f[0]),
                        from.map(|f| f[1]),
                        from.map(|f| f[2]),
                        ev.caption
                    ])
                    .map_err(e)?;
                report.events += 1;
                if let Some(c) = ev
                    .caption
                    .and_then(|c| memory.log().caption(c).map(|r| (c, r)))
                {
                    put_caption
                        .execute(params![
                            c.0,
                            ev.stamp_ns,
                            c.1.text,
                            embedding_bytes(&c.1.embedding),
                            c.1.robot_position_world[0],
                            c.1.robot_position_world[1],
                            c.1.robot_position_world[2],
                            c.1.robot_yaw_rad
                        ])
                        .map_err(e)?;
                    report.captions += 1;
                }
            }
        }
        let log = memory.log();
        let mut state = self.state.clone();
        state.pending_reid = memory.pending_reid();
        state.max_extent_seen_m = memory.max_extent_seen_m();
        state.latest_stamp_ns = memory.latest_stamp_ns();
        state.current_place = memory.current_place();
        state.stats = memory.stats().clone();
        state.recent_keyframes.clone_from(memory.recent_keyframes());
        state.twin_deficits = memory.twin_deficits();
        state.next_event_id = log.next_id();
        state.next_caption = log.next_caption();
        state.last_event_stamp_ns = log.last_stamp_ns();
        state.evicted_before_ns = log.evicted_before_ns();
        put_state(&tx, &path, &mut state)?;
        if !self.config_written {
            let config = serde_json::to_vec(memory.config()).map_err(|err| StoreError::Sql {
                path: path.clone(),
                reason: format!("encoding config: {err}"),
            })?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('config', ?1)",
                [config],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        self.state = state;
        self.config_written = true;
        self.written_events = log.next_id();
        report.acknowledged_events = self.written_events;
        Ok(report)
    }

    /// Retention on disk, for events already evicted from RAM: visits recorded before
    /// `consolidate_before_ns` are folded into one summary per object and day (keeping the
    /// earliest start, the latest end and the number of sightings), and events and captions
    /// recorded before `expire_before_ns` are deleted. Both are clamped to the memory's eviction
    /// stamp, so RAM and disk never disagree.
    ///
    /// # Errors
    /// As [`Store::write`].
    pub fn apply_retention(
        &mut self,
        evicted_before_ns: Option<StampNs>,
        consolidate_before_ns: Option<StampNs>,
        expire_before_ns: Option<StampNs>,
    ) -> Result<RetentionReport, StoreError> {
        self.writable()?;
        let Some(evicted) = evicted_before_ns else {
            return Ok(RetentionReport::default());
        };
        const DAY_NS: i64 = 86_400_000_000_000;
        let path = self.path.clone();
        let e = |err: rusqlite::Error| sql_error(&path, err);
        let mut report = RetentionReport::default();
        let mut state = self.state.clone();
        state.evicted_before_ns = Some(evicted);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        // Whole days only, so a day is consolidated once.
        if let Some(c) = consolidate_before_ns.map(|c| c.min(evicted)) {
            let until = c.div_euclid(DAY_NS) * DAY_NS;
            let from = state.consolidated_before_ns.unwrap_or(StampNs::MIN);
            if until > from {
                let mut rows: Vec<(i64, i64, i64, i64, i64)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, object, start_ns, end_ns, sightings FROM events \
                             WHERE kind = ?1 AND stamp_ns >= ?2 AND stamp_ns < ?3 \
                             AND object IS NOT NULL",
                        )
                        .map_err(e)?;
                    let it = stmt
                        .query_map(params![kind_code(EventKind::Visit), from, until], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .map_err(e)?;
                    it.collect::<Result<_, _>>().map_err(e)?
                };
                rows.sort_by_key(|r| (r.1, r.2.div_euclid(DAY_NS), r.0));
                let mut update = tx
                    .prepare_cached(
                        "UPDATE events SET start_ns = ?2, end_ns = ?3, sightings = ?4 WHERE id = ?1",
                    )
                    .map_err(e)?;
                let mut delete = tx
                    .prepare_cached("DELETE FROM events WHERE id = ?1")
                    .map_err(e)?;
                let mut i = 0;
                while i < rows.len() {
                    let key = (rows[i].1, rows[i].2.div_euclid(DAY_NS));
                    let mut j = i + 1;
                    while j < rows.len() && (rows[j].1, rows[j].2.div_euclid(DAY_NS)) == key {
                        j += 1;
                    }
                    if j - i > 1 {
                        let group = &rows[i..j];
                        let start = group.iter().map(|r| r.2).min().unwrap_or(rows[i].2);
                        let end = group.iter().map(|r| r.3).max().unwrap_or(rows[i].3);
                        let n: i64 = group.iter().map(|r| r.4).sum();
                        update
                            .execute(params![group[0].0, start, end, n])
                            .map_err(e)?;
                        for r in &group[1..] {
                            delete.execute([r.0]).map_err(e)?;
                            report.visits_consolidated += 1;
                        }
                    }
                    i = j;
                }
                state.consolidated_before_ns = Some(until);
            }
        }
        if let Some(x) = expire_before_ns.map(|x| x.min(evicted)) {
            report.events_expired = tx
                .execute("DELETE FROM events WHERE stamp_ns < ?1", [x])
                .map_err(e)? as u64;
            report.captions_expired = tx
                .execute("DELETE FROM captions WHERE stamp_ns < ?1", [x])
                .map_err(e)? as u64;
            state.expired_before_ns = Some(state.expired_before_ns.unwrap_or(x).max(x));
        }
        put_state(&tx, &path, &mut state)?;
        tx.commit().map_err(e)?;
        self.state = state;
        Ok(report)
    }

    /// Counts, time span and file sizes.
    ///
    /// # Errors
    /// [`StoreError::Sql`] / [`StoreError::Corrupt`].
    pub fn inspect(&self) -> Result<Inspection, StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| self.err(e))
        };
        let (first, last): (Option<i64>, Option<i64>) = self
            .conn
            .query_row("SELECT min(stamp_ns), max(stamp_ns) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?;
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let wal = companion(&self.path, "-wal");
        Ok(Inspection {
            path: self.path.clone(),
            schema_version: self.schema_version()?,
            objects: count("SELECT count(*) FROM objects")?,
            reportable_objects: count("SELECT count(*) FROM objects WHERE reportable = 1")?,
            placements: count("SELECT count(*) FROM placements")?,
            places: count("SELECT count(*) FROM places")?,
            relations: count("SELECT count(*) FROM relations")?,
            events: count("SELECT count(*) FROM events")?,
            captions: count("SELECT count(*) FROM captions")?,
            first_stamp_ns: first,
            last_stamp_ns: last,
            file_bytes: size(&self.path),
            wal_bytes: size(Path::new(&wal)),
        })
    }

    /// `PRAGMA integrity_check`: `Ok(())` when the file is sound, else the problems found.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] listing the problems, or [`StoreError::Sql`].
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err(e))?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        if lines.len() == 1 && lines[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: lines.join("; "),
            })
        }
    }

    /// Limits the file to `pages` pages (tests simulate a full disk with it).
    #[doc(hidden)]
    pub fn set_max_pages(&self, pages: u64) -> Result<(), StoreError> {
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

/// The raw state blob (None in a new file).
fn read_state_raw(conn: &Connection, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = 'state'", [], |r| {
        r.get(0)
    })
    .optional()
    .map_err(|e| sql_error(path, e))
}

fn decode_state(path: &Path, raw: Option<&[u8]>) -> Result<SavedState, StoreError> {
    match raw {
        None => Ok(SavedState::default()),
        Some(b) => serde_json::from_slice(b).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("saved state: {e}"),
        }),
    }
}

fn events_where(
    conn: &Connection,
    path: &Path,
    condition: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Event>, StoreError> {
    let e = |err| sql_error(path, err);
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE {condition} ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql).map_err(e)?;
    let rows = stmt.query_map(args, event_from_row).map_err(e)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(e)
}

fn read_caption(
    conn: &Connection,
    path: &Path,
    index: u32,
) -> Result<Option<CaptionRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT text, embedding, x, y, z, yaw FROM captions WHERE id = ?1")
        .map_err(|e| sql_error(path, e))?;
    stmt.query_row([index], |r| {
        Ok(CaptionRecord {
            text: r.get(0)?,
            embedding: embedding_from_bytes(&r.get::<_, Vec<u8>>(1)?),
            robot_position_world: [r.get(2)?, r.get(3)?, r.get(4)?],
            robot_yaw_rad: r.get(5)?,
        })
    })
    .optional()
    .map_err(|e| sql_error(path, e))
}

/// Hot events and the captions they point to.
type HotRows = (Vec<Event>, BTreeMap<u32, CaptionRecord>);

/// The hot events from `from` on and their captions.
///
/// The hot events are the newest, so they are read as a range of ids starting at the smallest
/// id the stamp index lists from `from` on (a covering-index lookup), not by filtering a scan of
/// the whole table; the stamp condition stays, so the result does not depend on ids and stamps
/// growing together.
fn read_hot_events(conn: &Connection, path: &Path, from: StampNs) -> Result<HotRows, StoreError> {
    let e = |err| sql_error(path, err);
    let first_id: Option<i64> = conn
        .prepare_cached(
            "SELECT min(id) FROM events INDEXED BY events_by_stamp WHERE stamp_ns >= ?1",
        )
        .and_then(|mut s| s.query_row(params![from], |r| r.get(0)))
        .map_err(e)?;
    let events = match first_id {
        None => Vec::new(),
        Some(first) => {
            let last = max_id(conn, path, "events")?.unwrap_or(first);
            let mut events = with_room_for(last.saturating_sub(first).saturating_add(1));
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE id >= ?1 AND +stamp_ns >= ?2 \
                     ORDER BY id"
                ))
                .map_err(e)?;
            let rows = stmt
                .query_map(params![first, from], event_from_row)
                .map_err(e)?;
            for row in rows {
                events.push(row.map_err(e)?);
            }
            events
        }
    };
    let mut captions = BTreeMap::new();
    for e in &events {
        if let Some(c) = e.caption {
            if let Some(rec) = read_caption(conn, path, c)? {
                captions.insert(c, rec);
            }
        }
    }
    Ok((events, captions))
}

/// The largest id in `table` (an `INTEGER PRIMARY KEY`, so a lookup, not a scan).
fn max_id(conn: &Connection, path: &Path, table: &str) -> Result<Option<i64>, StoreError> {
    conn.query_row(&format!("SELECT max(id) FROM {table}"), [], |r| r.get(0))
        .map_err(|e| sql_error(path, e))
}

/// An empty vector with room for `rows` items when the allocator grants it (so a large read
/// does not copy its rows at every doubling); a count from a damaged file that cannot be
/// granted only costs that saving.
fn with_room_for<T>(rows: i64) -> Vec<T> {
    let mut v = Vec::new();
    let rows = usize::try_from(rows).unwrap_or(0).min(u32::MAX as usize);
    // Allocation failure is not an error here: the vector then grows as it fills.
    let _ = v.try_reserve_exact(rows);
    v
}

/// Objects read from their rows: the objects and relation anchors in id order, the objects in
/// a run of missed views (`MemoryParts::missed_since`), the missing ones whose spot was seen
/// empty since (`MemoryParts::absent_views`) and each object's sighting scatter
/// (`MemoryParts::sighting_scatter_m2`).
struct ObjectRows {
    objects: Vec<MemoryObject>,
    anchors: Vec<Point3<f64>>,
    missed_since: Vec<(ObjectId, StampNs)>,
    absent_views: Vec<(ObjectId, u32, StampNs)>,
    sighting_scatter_m2: Vec<f32>,
}

fn read_objects(conn: &Connection, path: &Path) -> Result<ObjectRows, StoreError> {
    let e = |err| sql_error(path, err);
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let rows = max_id(conn, path, "objects")?.map_or(0, |m| m.saturating_add(1));
    let mut objects = with_room_for(rows);
    let mut anchors = with_room_for(rows);
    let mut missed_since = Vec::new();
    let mut absent_views = Vec::new();
    let mut sighting_scatter_m2 = with_room_for(rows);
    let mut stmt = conn
        .prepare("SELECT id, data FROM objects ORDER BY id")
        .map_err(e)?;
    let mut rows = stmt.query([]).map_err(e)?;
    while let Some(row) = rows.next().map_err(e)? {
        let id: i64 = row.get(0).map_err(e)?;
        let (blob, tail) = object_blob(row, 1, id, path)?;
        if i64::from(blob.object.id.0) != id {
            return Err(corrupt(format!(
                "object row {id} holds object {}",
                blob.object.id
            )));
        }
        if let Some(t) = tail.missed_since_ns {
            missed_since.push((blob.object.id, t));
        }
        if let Some((n, t)) = tail.absent_views {
            absent_views.push((blob.object.id, n, t));
        }
        sighting_scatter_m2.push(tail.sighting_scatter_m2);
        objects.push(blob.object);
        anchors.push(Point3::from(blob.anchor));
    }
    Ok(ObjectRows {
        objects,
        anchors,
        missed_since,
        absent_views,
        sighting_scatter_m2,
    })
}

/// The object blob in column `col` of an object row, with its tail (`id` names it in errors).
fn object_blob(
    row: &rusqlite::Row<'_>,
    col: usize,
    id: i64,
    path: &Path,
) -> Result<(ObjectBlob, ObjectBlobTail), StoreError> {
    let data = row
        .get_ref(col)
        .and_then(|v| v.as_blob().map_err(rusqlite::Error::from))
        .map_err(|err| sql_error(path, err))?;
    let corrupt = |err: postcard::Error| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("object {id}: {err}"),
    };
    let (blob, rest) = postcard::take_from_bytes::<ObjectBlob>(data).map_err(corrupt)?;
    let tail = ObjectBlobTail::read(rest).map_err(corrupt)?;
    Ok((blob, tail))
}

/// Sets each object row's `reportable` column from its blob (the migration to schema 3 adds
/// the column; no other column tells a confirmed object from a tentative one).
fn set_reportable_from_blobs(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let e = |err| sql_error(path, err);
    let mut reportable = Vec::new();
    {
        let mut stmt = conn
            .prepare("SELECT id, reportable, data FROM objects")
            .map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            let id: i64 = row.get(0).map_err(e)?;
            let flag: bool = row.get(1).map_err(e)?;
            let (blob, _) = object_blob(row, 2, id, path)?;
            if blob.object.is_reportable() != flag {
                reportable.push((id, !flag));
            }
        }
    }
    let mut set = conn
        .prepare("UPDATE objects SET reportable = ?2 WHERE id = ?1")
        .map_err(e)?;
    for (id, flag) in reportable {
        set.execute(params![id, flag]).map_err(e)?;
    }
    Ok(())
}

/// Every placement and place, in id order.
fn read_placements_and_places(
    conn: &Connection,
    path: &Path,
) -> Result<(Vec<Placement>, Vec<Place>), StoreError> {
    let e = |err| sql_error(path, err);
    let placements = {
        let mut stmt = conn
            .prepare(
                "SELECT id, object, x, y, z, start_ns, last_seen_ns, closed_at_ns \
                 FROM placements ORDER BY id",
            )
            .map_err(e)?;
        let mut placements =
            with_room_for(max_id(conn, path, "placements")?.map_or(0, |m| m.saturating_add(1)));
        let rows = stmt
            .query_map([], |r| {
                Ok(Placement {
                    id: PlacementId(id32(r.get(0)?)?),
                    object: ObjectId(id32(r.get(1)?)?),
                    position_world: Point3::new(r.get(2)?, r.get(3)?, r.get(4)?),
                    start_ns: r.get(5)?,
                    last_seen_ns: r.get(6)?,
                    closed_at_ns: r.get(7)?,
                })
            })
            .map_err(e)?;
        for row in rows {
            placements.push(row.map_err(e)?);
        }
        placements
    };
    let places = {
        let mut stmt = conn
            .prepare("SELECT id, x, y, z, first_visit_ns, last_visit_ns FROM places ORDER BY id")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Place {
                    id: PlaceId(id32(r.get(0)?)?),
                    center_world: Point3::new(r.get(1)?, r.get(2)?, r.get(3)?),
                    first_visit_ns: r.get(4)?,
                    last_visit_ns: r.get(5)?,
                })
            })
            .map_err(e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(e)?
    };
    Ok((placements, places))
}

/// `read` on a read-only connection of its own (so it decodes on another core while the
/// caller reads something else), provided that connection sees the snapshot whose state blob
/// is `state_raw`; `Ok(None)` when it does not (a writer committed in between).
fn read_beside<T>(
    path: &Path,
    state_raw: Option<&[u8]>,
    read: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| sql_error(path, e))?;
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| sql_error(path, e))?;
    if read_state_raw(&tx, path)?.as_deref() != state_raw {
        return Ok(None);
    }
    read(&tx).map(Some)
}

/// Writes the state blob inside a transaction.
fn put_state(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    state: &mut SavedState,
) -> Result<(), StoreError> {
    state.commit_seq = state.commit_seq.wrapping_add(1);
    let json = serde_json::to_vec(state).map_err(|err| StoreError::Sql {
        path: path.to_path_buf(),
        reason: format!("encoding state: {err}"),
    })?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('state', ?1)",
        [json],
    )
    .map(|_| ())
    .map_err(|e| sql_error(path, e))
}

/// A database's companion file (`-wal`, `-shm`).
fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Removes a database and its write-ahead log and shared-memory files, if they exist.
pub fn remove_db_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(companion(path, suffix));
    }
}

/// Asks the operating system to drop a database's main file and write-ahead log from its page
/// cache (after writing back what is dirty), so the next read comes from the disk, as after a
/// reboot. Pages another process has mapped or locked may stay. Linux only (`posix_fadvise`);
/// elsewhere an [`StoreError::Open`] saying so.
///
/// # Errors
/// [`StoreError::Open`] naming the file when it cannot be opened or the advice is refused.
pub fn drop_cached_pages(path: &Path) -> Result<(), StoreError> {
    let fail = |p: &Path, reason: String| StoreError::Open {
        path: p.to_path_buf(),
        reason,
    };
    for suffix in ["", "-wal"] {
        let file_path = companion(path, suffix);
        let file = match std::fs::File::open(&file_path) {
            Ok(f) => f,
            // A database without a write-ahead log is fine; a missing main file is not.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => continue,
            Err(e) => return Err(fail(&file_path, e.to_string())),
        };
        // Dirty pages are not dropped: write them back first (best effort on a read-only handle).
        let _ = file.sync_data();
        drop_file_pages(&file).map_err(|reason| fail(&file_path, reason))?;
    }
    Ok(())
}

/// Drops one file's clean pages from the page cache.
#[cfg(target_os = "linux")]
fn drop_file_pages(file: &std::fs::File) -> Result<(), String> {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed)
        .map_err(|e| format!("cannot drop it from the page cache: {e}"))
}

/// Not available: `posix_fadvise` is used on Linux only.
#[cfg(not(target_os = "linux"))]
fn drop_file_pages(_file: &std::fs::File) -> Result<(), String> {
    Err("dropping a file from the page cache is only supported on Linux".to_string())
}

/// Bytes of a database's main file plus its write-ahead log.
pub fn db_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| std::fs::metadata(companion(path, s)).map_or(0, |m| m.len()))
        .sum()
}

/// Deletes the rows a forget selects: events and relations of erased objects, and events and
/// captions recorded in the window or region.
fn erase_rows(
    tx: &rusqlite::Transaction<'_>,
    what: &Forget,
    report: &ForgetReport,
) -> rusqlite::Result<()> {
    {
        let mut by_object = tx.prepare_cached("DELETE FROM events WHERE object = ?1")?;
        let mut rel =
            tx.prepare_cached("DELETE FROM relations WHERE subject = ?1 OR object = ?1")?;
        for id in &report.objects {
            by_object.execute([id.0])?;
            rel.execute([id.0])?;
        }
    }
    match what {
        Forget::Window(w) => {
            tx.execute(
                "DELETE FROM events WHERE stamp_ns >= ?1 AND stamp_ns <= ?2",
                [w.start_ns(), w.end_ns()],
            )?;
            tx.execute(
                "DELETE FROM captions WHERE stamp_ns >= ?1 AND stamp_ns <= ?2",
                [w.start_ns(), w.end_ns()],
            )?;
        }
        Forget::Region {
            center_world: c,
            radius_m: r,
        } => {
            let r2 = r * r;
            tx.execute(
                "DELETE FROM events WHERE \
                 (x - ?1) * (x - ?1) + (y - ?2) * (y - ?2) + (z - ?3) * (z - ?3) <= ?4 \
                 OR (fx IS NOT NULL AND \
                 (fx - ?1) * (fx - ?1) + (fy - ?2) * (fy - ?2) + (fz - ?3) * (fz - ?3) <= ?4)",
                params![c.x, c.y, c.z, r2],
            )?;
            tx.execute(
                "DELETE FROM captions WHERE \
                 (x - ?1) * (x - ?1) + (y - ?2) * (y - ?2) + (z - ?3) * (z - ?3) <= ?4",
                params![c.x, c.y, c.z, r2],
            )?;
        }
        Forget::Objects(_) | Forget::Label(_) => {}
    }
    // Captions whose event is gone go with it.
    tx.execute(
        "DELETE FROM captions WHERE id NOT IN \
         (SELECT caption FROM events WHERE caption IS NOT NULL)",
        [],
    )?;
    let mut del = tx.prepare_cached("DELETE FROM captions WHERE id = ?1")?;
    for c in &report.captions_erased {
        del.execute([c])?;
    }
    Ok(())
}

/// Maps a SQLite error to a store error naming the file.
fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let path = path.to_path_buf();
    let reason = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path, reason },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path, reason },
        Some(ErrorCode::NotADatabase) => StoreError::NotMnemo { path, reason },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::CannotOpen) => StoreError::Open { path, reason },
        _ => StoreError::Sql { path, reason },
    }
}

impl ColdEvents for Store {
    fn recorded_in(
        &self,
        window: &TimeWindow,
        objects: Option<&[ObjectId]>,
    ) -> Result<Vec<Event>, CoreError> {
        let cold = |e: StoreError| CoreError::Cold {
            reason: e.to_string(),
        };
        match objects {
            None => self
                .events_where(
                    "stamp_ns >= ?1 AND stamp_ns <= ?2",
                    params![window.start_ns(), window.end_ns()],
                )
                .map_err(cold),
            Some(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    out.extend(
                        self.events_where(
                            "object = ?1 AND stamp_ns >= ?2 AND stamp_ns <= ?3",
                            params![id.0, window.start_ns(), window.end_ns()],
                        )
                        .map_err(cold)?,
                    );
                }
                out.sort_by_key(|e| e.id);
                Ok(out)
            }
        }
    }

    fn changes_recorded_in(&self, window: &TimeWindow) -> Result<Vec<Event>, CoreError> {
        self.events_where(
            &format!("stamp_ns >= ?1 AND stamp_ns <= ?2 AND {CHANGE_KINDS_SQL}"),
            params![window.start_ns(), window.end_ns()],
        )
        .map_err(|e| CoreError::Cold {
            reason: e.to_string(),
        })
    }

    fn caption(&self, index: u32) -> Result<Option<CaptionRecord>, CoreError> {
        self.read_caption(index).map_err(|e| CoreError::Cold {
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::LexicalEmbedder;

    #[test]
    fn the_change_kinds_index_matches_the_kind_codes_and_is_used() {
        let change_codes: Vec<i64> = [
            EventKind::FirstSeen,
            EventKind::Visit,
            EventKind::Moved,
            EventKind::Missing,
            EventKind::Reappeared,
            EventKind::Caption,
            EventKind::PlaceEntered,
        ]
        .into_iter()
        .filter(|k| k.is_change())
        .map(kind_code)
        .collect();
        assert_eq!(change_codes, vec![2, 3, 4]);
        assert_eq!(CHANGE_KINDS_SQL, "kind BETWEEN 2 AND 4");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let store = Store::open(&path, OpenMode::ReadWrite).unwrap();
        let plan: Vec<String> = store
            .conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT {EVENT_COLUMNS} FROM events \
                 WHERE stamp_ns >= ?1 AND stamp_ns <= ?2 AND {CHANGE_KINDS_SQL} ORDER BY id"
            ))
            .unwrap()
            .query_map(params![0, 1], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().any(|p| p.contains("events_changes")),
            "{plan:?}"
        );
    }

    #[test]
    fn an_object_blob_without_its_tail_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut memory = Memory::new(
            crate::sim::memory_config(),
            Box::new(LexicalEmbedder::default()),
        )
        .unwrap();
        let world = crate::sim::SimConfig {
            days: 1,
            rooms: 1,
            objects: 5,
            ..crate::sim::SimConfig::default()
        };
        crate::sim::simulate(&world, |o| {
            let _ = memory.ingest(o);
        })
        .unwrap();
        let object = memory.objects()[0].clone();
        let full = postcard::to_allocvec(&ObjectBlobOut {
            object: &object,
            anchor: [1.0, 2.0, 3.0],
            tail: ObjectBlobTail {
                missed_since_ns: Some(42),
                sighting_scatter_m2: 0.0025,
                absent_views: Some((3, 77)),
            },
        })
        .unwrap();
        // As written before empty views of a missing object's spot were kept: the tail ends
        // after the scatter.
        let mut with_scatter = postcard::to_allocvec(&ObjectBlob {
            object: object.clone(),
            anchor: [1.0, 2.0, 3.0],
        })
        .unwrap();
        with_scatter.extend(postcard::to_allocvec(&Some(42i64)).unwrap());
        with_scatter.extend(postcard::to_allocvec(&0.0025f32).unwrap());
        // As written before the scatter was kept: the tail ends after its first field.
        let mut schema4 = postcard::to_allocvec(&ObjectBlob {
            object: object.clone(),
            anchor: [1.0, 2.0, 3.0],
        })
        .unwrap();
        schema4.extend(postcard::to_allocvec(&Some(42i64)).unwrap());
        let old = postcard::to_allocvec(&ObjectBlob {
            object: object.clone(),
            anchor: [1.0, 2.0, 3.0],
        })
        .unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let read = |data: &[u8]| {
            conn.query_row("SELECT ?1", params![data], |row| {
                Ok(object_blob(row, 0, 7, &path))
            })
            .unwrap()
        };
        let (back, tail) = read(&full).unwrap();
        assert_eq!(back.object, object);
        assert_eq!(back.anchor, [1.0, 2.0, 3.0]);
        assert_eq!(tail.missed_since_ns, Some(42));
        assert_eq!(tail.sighting_scatter_m2, 0.0025);
        assert_eq!(tail.absent_views, Some((3, 77)));
        let (back, tail) = read(&with_scatter).unwrap();
        assert_eq!(back.object, object);
        assert_eq!(tail.sighting_scatter_m2, 0.0025);
        assert_eq!(tail.absent_views, None);
        let (back, tail) = read(&schema4).unwrap();
        assert_eq!(back.object, object);
        assert_eq!(tail.missed_since_ns, Some(42));
        assert_eq!(tail.sighting_scatter_m2, 0.0);
        let (back, tail) = read(&old).unwrap();
        assert_eq!(back.object, object);
        assert_eq!(tail, ObjectBlobTail::default());
        // A damaged tail is an error, not a silent default.
        let mut bad = old.clone();
        bad.push(2);
        assert!(matches!(read(&bad), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn rows_are_read_beside_only_from_the_same_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut store = Store::open(&path, OpenMode::ReadWrite).unwrap();
        let mut memory = Memory::new(
            MemoryConfig::default(),
            Box::new(LexicalEmbedder::default()),
        )
        .unwrap();
        store.write(&mut memory).unwrap();
        let hot_from_start = |c: &Connection| read_hot_events(c, &path, StampNs::MIN);
        let before = read_state_raw(&store.conn, &path).unwrap();
        assert!(read_beside(&path, before.as_deref(), hot_from_start)
            .unwrap()
            .is_some());
        // Every commit changes the state blob, so a reader that lands after it is refused.
        store.write(&mut memory).unwrap();
        let after = read_state_raw(&store.conn, &path).unwrap();
        assert_ne!(before, after);
        assert!(read_beside(&path, before.as_deref(), hot_from_start)
            .unwrap()
            .is_none());
        assert!(read_beside(&path, after.as_deref(), hot_from_start)
            .unwrap()
            .is_some());
    }

    #[test]
    fn hot_events_are_every_event_from_the_stamp_on_whatever_the_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let store = Store::open(&path, OpenMode::ReadWrite).unwrap();
        // (id, stamp): ids and stamps deliberately do not grow together.
        for (id, stamp) in [(7, 50), (8, 10), (9, 60), (10, 5), (11, 20), (12, 19)] {
            store
                .conn
                .execute(
                    "INSERT INTO events (id, stamp_ns, kind, start_ns, end_ns, x, y, z) \
                     VALUES (?1, ?2, 0, ?2, ?2, 0, 0, 0)",
                    [id, stamp],
                )
                .unwrap();
        }
        let ids = |from: StampNs| -> Vec<u64> {
            let (events, _) = read_hot_events(&store.conn, &path, from).unwrap();
            events.iter().map(|e| e.id.0).collect()
        };
        assert_eq!(ids(20), [7, 9, 11]);
        assert_eq!(ids(11), [7, 9, 11, 12]);
        assert_eq!(ids(5), [7, 8, 9, 10, 11, 12]);
        assert_eq!(ids(61), Vec::<u64>::new());
    }

    /// Bytes this process has had fetched from storage (`/proc/self/io`), if the kernel says.
    #[cfg(target_os = "linux")]
    fn storage_read_bytes() -> Option<u64> {
        let io = std::fs::read_to_string("/proc/self/io").ok()?;
        let line = io.lines().find(|l| l.starts_with("read_bytes:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dropped_pages_are_read_from_storage_again() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        // tmpfs keeps files in memory: nothing to drop, nothing read from storage.
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        let on_tmpfs = rustix::fs::statfs(dir.path())
            // `f_type`'s width differs between architectures.
            .map(|s| {
                #[allow(clippy::unnecessary_cast)]
                let f_type = s.f_type as i64;
                f_type == TMPFS_MAGIC
            })
            .unwrap_or(true);
        if on_tmpfs || storage_read_bytes().is_none() {
            eprintln!("skipped: the temporary directory is not on a disk whose reads are counted");
            return;
        }
        let size = 8 << 20;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![7u8; size]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        drop_cached_pages(&path).unwrap();
        let before = storage_read_bytes().unwrap();
        let mut back = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        let read = storage_read_bytes().unwrap() - before;
        assert_eq!(back.len(), size);
        assert!(
            read >= size as u64 / 2,
            "only {read} of {size} bytes came from storage: the pages were not dropped"
        );
    }

    #[test]
    fn dropping_pages_of_a_missing_database_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.db");
        let err = drop_cached_pages(&path).unwrap_err();
        assert!(err.to_string().contains("absent.db"), "{err}");
    }
}
