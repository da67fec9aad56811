//! The database schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version and `PRAGMA application_id` marks the file as
//! a Mnemo memory. Migration `i` takes a file from version `i` to `i + 1`; they run in one
//! transaction when a writer opens an older file.

/// `PRAGMA application_id` of a Mnemo database ("MNEM").
pub const APPLICATION_ID: i32 = 0x4D4E_454D;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 4;

/// Migration `i` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 0 -> 1: the scene graph, the event log and captions.
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE objects (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL,
        state TEXT NOT NULL,
        retired INTEGER NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
        first_seen_ns INTEGER NOT NULL,
        last_seen_ns INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE placements (
        id INTEGER PRIMARY KEY,
        object INTEGER NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
        start_ns INTEGER NOT NULL,
        last_seen_ns INTEGER NOT NULL,
        closed_at_ns INTEGER
    );
    CREATE TABLE places (
        id INTEGER PRIMARY KEY,
        x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
        first_visit_ns INTEGER NOT NULL,
        last_visit_ns INTEGER NOT NULL
    );
    CREATE TABLE relations (
        subject INTEGER NOT NULL,
        kind TEXT NOT NULL,
        object INTEGER NOT NULL,
        PRIMARY KEY (subject, kind, object)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        stamp_ns INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        object INTEGER,
        place INTEGER,
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
        fx REAL, fy REAL, fz REAL,
        caption INTEGER
    );
    CREATE INDEX events_by_stamp ON events (stamp_ns);
    CREATE INDEX events_by_object ON events (object, stamp_ns) WHERE object IS NOT NULL;
    CREATE TABLE captions (
        id INTEGER PRIMARY KEY,
        stamp_ns INTEGER NOT NULL,
        text TEXT NOT NULL,
        embedding BLOB NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
        yaw REAL NOT NULL
    );
    CREATE INDEX captions_by_stamp ON captions (stamp_ns);
    ",
    // 1 -> 2: retention. Old visits are consolidated into summaries that count the sightings
    // they stand for.
    "
    ALTER TABLE events ADD COLUMN sightings INTEGER NOT NULL DEFAULT 1;
    ",
    // 2 -> 3: whether queries report an object (confirmed and not retired), which the other
    // columns cannot tell: `mnemo inspect` counted tentative objects. The store fills it in
    // from each row's blob (`Store::migrate`).
    "
    ALTER TABLE objects ADD COLUMN reportable INTEGER NOT NULL DEFAULT 0;
    ",
    // 3 -> 4: an index of the change events (moved 2, missing 3, reappeared 4; a range is
    // cheaper than an `IN` list to evaluate on every insert), which a changes query reads from
    // its window's start on (a move is reported in the window where the object was first seen
    // at its new place, which may come before the memory recorded the move).
    "
    CREATE INDEX events_changes ON events (stamp_ns) WHERE kind BETWEEN 2 AND 4;
    ",
];
