//! Persistence (issue 3): what is written comes back exactly, restarts continue exactly,
//! evicted events answer from disk, forgotten bytes leave the file, and faults give clear
//! errors without losing committed data.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mnemo::core::config::MemoryConfig;
use mnemo::core::memory::{Forget, Memory};
use mnemo::core::query::{Answer, Query, Target};
use mnemo::core::{LexicalEmbedder, Observation, TimeWindow};
use mnemo::sim::{memory_config, simulate, SimConfig};
use mnemo::store::{
    CommitPolicy, HotEvents, OpenMode, PersistentMemory, RetentionConfig, Store, StoreError,
};

use crate::common;

fn world(seed: u64, days: u32) -> Vec<Observation> {
    let mut out = Vec::new();
    simulate(
        &SimConfig {
            seed,
            days,
            rooms: 2,
            objects: 30,
            ..SimConfig::default()
        },
        |o| out.push(o.clone()),
    )
    .unwrap();
    out
}

fn in_ram(stream: &[Observation]) -> Memory {
    in_ram_with(stream, memory_config())
}

/// [`in_ram`] with memory configuration `config`.
fn in_ram_with(stream: &[Observation], config: MemoryConfig) -> Memory {
    let mut m = Memory::new(config, Box::new(LexicalEmbedder::default())).unwrap();
    for o in stream {
        let _ = m.ingest(o);
    }
    m
}

/// Small batches at irregular points: every change must reach the disk whatever the split.
fn small_batches() -> CommitPolicy {
    CommitPolicy {
        max_delay: Duration::from_secs(3600),
        max_changes: 37,
    }
}

fn open(path: &Path, retention: RetentionConfig) -> PersistentMemory {
    open_with(path, retention, memory_config())
}

/// [`open`] with memory configuration `config`.
fn open_with(path: &Path, retention: RetentionConfig, config: MemoryConfig) -> PersistentMemory {
    PersistentMemory::open(
        path,
        Some(config),
        Box::new(LexicalEmbedder::default()),
        small_batches(),
        retention,
    )
    .unwrap()
}

/// Feeds every keyframe (refused ones are the simulator's business, not the store's).
fn ingest_all(pm: &mut PersistentMemory, stream: &[Observation]) {
    for o in stream {
        let _ = pm.ingest(o);
    }
}

/// Retention that keeps `hot_window_s` in RAM, keeps everything on disk, and runs every time.
fn hot_only(hot_window_s: f64) -> RetentionConfig {
    RetentionConfig {
        hot_window_s,
        consolidate_after_s: None,
        max_age_s: None,
        maintain_every_s: 0.0,
        ..RetentionConfig::default()
    }
}

fn load(path: &Path) -> Memory {
    Store::open(path, OpenMode::ReadOnly)
        .unwrap()
        .load(
            None,
            Box::new(LexicalEmbedder::default()),
            HotEvents::AsSaved,
        )
        .unwrap()
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("memory.db")
}

#[test]
fn reload_equals_the_memory_it_came_from() {
    let mut absent_views = 0;
    for seed in [1, 2] {
        let stream = world(seed, 2);
        let reference = in_ram(&stream);
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let mut pm = open(&path, RetentionConfig::keep_everything());
        ingest_all(&mut pm, &stream);
        pm.close().unwrap();
        let back = load(&path);
        // Missing objects whose spot was seen empty since (kept in the object rows' tails).
        absent_views += reference.to_parts().absent_views.len();
        assert_eq!(back.to_parts(), reference.to_parts(), "seed {seed}");
        assert_eq!(back.digest(), reference.digest());
        assert_eq!(back.relations(), reference.relations());
        // The relations table holds exactly the memory's relations (its rows are rewritten only
        // for objects whose relations changed, so a missed change would show here).
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT subject, kind, object FROM relations")
            .unwrap();
        let mut rows: Vec<(u32, String, u32)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        let mut want: Vec<(u32, String, u32)> = reference
            .relations()
            .iter()
            .map(|r| (r.subject.0, r.kind.as_str().to_string(), r.object.0))
            .collect();
        want.sort();
        assert!(want.len() > 20, "seed {seed}: {}", want.len());
        assert_eq!(rows, want, "seed {seed}");
    }
    assert!(absent_views > 0);
}

#[test]
fn reload_of_random_streams_is_exact() {
    for seed in 0..4 {
        let stream = common::random_stream(seed, 25, 120);
        let mut reference = common::memory();
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let mut pm = PersistentMemory::open(
            &path,
            Some(reference.config().clone()),
            Box::new(LexicalEmbedder::default()),
            CommitPolicy {
                max_delay: Duration::from_secs(3600),
                max_changes: 1 + seed as usize * 5,
            },
            RetentionConfig::keep_everything(),
        )
        .unwrap();
        for o in &stream {
            let _ = reference.ingest(o);
            let _ = pm.ingest(o);
        }
        drop(pm);
        assert_eq!(load(&path).to_parts(), reference.to_parts(), "seed {seed}");
    }
}

#[test]
fn restart_continues_exactly() {
    let stream = world(3, 2);
    let reference = in_ram(&stream);
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let half = stream.len() / 2;
    {
        let mut pm = open(&path, RetentionConfig::keep_everything());
        ingest_all(&mut pm, &stream[..half]);
    }
    let mut pm = open(&path, RetentionConfig::keep_everything());
    assert_eq!(pm.memory().stats().keyframes as usize, half);
    ingest_all(&mut pm, &stream[half..]);
    assert_eq!(pm.memory().digest(), reference.digest());
}

fn all_labels(m: &Memory) -> Vec<String> {
    let mut labels: Vec<String> = m
        .objects()
        .iter()
        .filter(|o| o.is_reportable())
        .map(|o| o.label.to_string())
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

#[test]
fn evicted_events_are_answered_from_disk() {
    let stream = world(4, 3);
    let reference = in_ram(&stream);
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut pm = open(&path, hot_only(3600.0));
    ingest_all(&mut pm, &stream);
    pm.commit().unwrap();
    // Most events left RAM, none left the disk.
    assert!(pm.memory().log().len() * 3 < reference.log().len());
    assert!(pm.memory().log().evicted_before_ns().is_some());
    let t0 = stream[0].stamp_ns;
    let t1 = stream.last().unwrap().stamp_ns;
    let mut queries = Vec::new();
    for label in all_labels(&reference) {
        queries.push(Query::When {
            target: Target::Label(label.clone()),
            window: TimeWindow::all(),
        });
        queries.push(Query::When {
            target: Target::Text(label),
            window: TimeWindow::new(t0 + (t1 - t0) / 3, t1).unwrap(),
        });
    }
    let step = (t1 - t0) / 6;
    for i in 0..6 {
        let w = TimeWindow::new(t0 + i * step, t0 + (i + 1) * step).unwrap();
        queries.push(Query::Changes {
            window: w,
            label: None,
        });
        queries.push(Query::Recall {
            window: w,
            text: Some("mug on the table".into()),
            k: 20,
        });
        queries.push(Query::Recall {
            window: w,
            text: None,
            k: 1000,
        });
    }
    let mut nonempty = 0;
    for q in &queries {
        let want = reference.query(q).unwrap();
        let got = pm.query(q).unwrap();
        assert_eq!(got, want, "{q:?}");
        nonempty += usize::from(match &want {
            Answer::Timeline(v) => !v.is_empty(),
            Answer::Changes(v) => !v.is_empty(),
            Answer::Episodes(v) => !v.is_empty(),
            _ => false,
        });
        // Without the disk the old part is missing: the comparison above means something.
    }
    assert!(nonempty > queries.len() / 2);
    let without_disk = pm.memory().query(&queries[0]).unwrap();
    assert_ne!(without_disk, reference.query(&queries[0]).unwrap());
}

#[test]
fn retention_consolidates_and_expires_on_disk_only() {
    let stream = world(5, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let retention = RetentionConfig {
        hot_window_s: 3600.0,
        consolidate_after_s: Some(86_400.0),
        max_age_s: Some(2.0 * 86_400.0),
        maintain_every_s: 0.0,
        ..RetentionConfig::default()
    };
    let mut pm = open(&path, retention);
    ingest_all(&mut pm, &stream);
    pm.commit().unwrap();
    let now = pm.memory().latest_stamp_ns().unwrap();
    let info = pm.store().unwrap().inspect().unwrap();
    // Nothing older than the max age remains.
    assert!(info.first_stamp_ns.unwrap() >= now - 2 * 86_400_000_000_000 - 600_000_000_000);
    // Reloading gives the same RAM state (hot events), and queries still answer.
    let back = load(&path);
    assert_eq!(back.log().events(), pm.memory().log().events());
    assert_eq!(back.objects(), pm.memory().objects());
    let keep_all = in_ram(&stream);
    assert!((info.events as usize) < keep_all.log().len());
}

fn file_contains(path: &Path, needle: &str) -> bool {
    let mut hit = false;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(PathBuf::from(p)) {
            hit |= bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        }
    }
    hit
}

#[test]
fn forget_removes_objects_captions_and_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut pm = PersistentMemory::open(
        &path,
        Some(common::memory().config().clone()),
        Box::new(LexicalEmbedder::default()),
        small_batches(),
        RetentionConfig::keep_everything(),
    )
    .unwrap();
    let secret_caption = "zebra7731 passport lies on the desk";
    let mut t = common::T0;
    for i in 0..8 {
        let mut kf = common::keyframe(
            t,
            0.0,
            0.0,
            0.0,
            vec![
                common::det("passportx9", [1.0 + 0.01 * f64::from(i % 2), 2.0, 0.1]),
                common::det("mug", [3.0, 0.0, 0.2]),
            ],
        );
        if i == 3 {
            kf.caption = Some(secret_caption.into());
        }
        pm.ingest(&kf).unwrap();
        t += 500_000_000;
    }
    pm.commit().unwrap();
    assert!(file_contains(&path, "zebra7731"));
    assert!(file_contains(&path, "passportx9"));
    let passport = pm
        .memory()
        .objects()
        .iter()
        .find(|o| o.label.as_str() == "passportx9")
        .map(|o| o.id)
        .unwrap();
    assert!(pm.memory().sighting_scatter_m(passport).unwrap() > 0.0);
    let report = pm.forget(&Forget::Label("passportx9".into())).unwrap();
    assert_eq!(report.objects, vec![passport]);
    // Nothing measured of it is kept, not even how its sightings scattered.
    assert_eq!(pm.memory().sighting_scatter_m(passport), Some(0.0));
    let window = TimeWindow::new(common::T0, t).unwrap();
    pm.forget(&Forget::Window(
        TimeWindow::new(common::T0 + 1_400_000_000, common::T0 + 1_600_000_000).unwrap(),
    ))
    .unwrap();
    assert!(pm.status().degraded.is_none());
    pm.close().unwrap();
    assert!(
        !file_contains(&path, "zebra7731"),
        "caption bytes left in the file"
    );
    assert!(
        !file_contains(&path, "passportx9"),
        "label bytes left in the file"
    );
    let back = load(&path);
    let where_ = back
        .query(&Query::Where {
            target: Target::Label("passportx9".into()),
            k: 5,
            at_ns: None,
        })
        .unwrap();
    assert_eq!(where_, Answer::Objects(vec![]));
    let recall = back
        .query(&Query::Recall {
            window,
            text: None,
            k: 10,
        })
        .unwrap();
    assert_eq!(recall, Answer::Episodes(vec![]));
    // The mug is still remembered.
    let mug = back
        .query(&Query::Where {
            target: Target::Label("mug".into()),
            k: 5,
            at_ns: None,
        })
        .unwrap();
    assert!(matches!(mug, Answer::Objects(v) if v.len() == 1));
}

/// A passport seen once and then missed three times in view is dropped as a false positive,
/// but its label, place and look are still in the file: forgetting the label, or a region
/// around it, erases that track too, down to its bytes.
#[test]
fn forget_erases_a_sighting_dropped_as_a_false_positive() {
    for by_region in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let mut pm = open(&path, RetentionConfig::keep_everything());
        let mug = common::det("mug", [3.0, 0.0, 0.8]);
        let mut t = common::T0;
        let mut passport = common::det("passportx9", [2.0, 0.5, 0.8]);
        passport.embedding = Some(vec![1.0, 0.0, 0.0, 0.0]);
        pm.ingest(&common::keyframe(
            t,
            0.0,
            0.0,
            0.0,
            vec![passport, mug.clone()],
        ))
        .unwrap();
        for _ in 0..4 {
            t += 1_000_000_000;
            pm.ingest(&common::keyframe(t, 0.0, 0.0, 0.0, vec![mug.clone()]))
                .unwrap();
        }
        let dropped: Vec<_> = pm
            .memory()
            .objects()
            .iter()
            .filter(|o| o.is_dropped_tentative())
            .map(|o| o.id)
            .collect();
        assert_eq!(dropped.len(), 1, "{:#?}", pm.memory().objects());
        pm.commit().unwrap();
        assert!(file_contains(&path, "passportx9"));
        let what = if by_region {
            Forget::Region {
                center_world: nalgebra::Point3::new(2.0, 0.5, 0.8),
                radius_m: 0.3,
            }
        } else {
            Forget::Label("passportx9".into())
        };
        let report = pm.forget(&what).unwrap();
        assert_eq!(report.objects, dropped);
        pm.close().unwrap();
        assert!(!file_contains(&path, "passportx9"), "label bytes left");
        let back = load(&path);
        assert!(back.objects().iter().all(|o| !o.is_dropped_tentative()));
        assert_eq!(
            back.objects().iter().filter(|o| o.is_reportable()).count(),
            1
        );
    }
}

#[test]
fn forget_reaches_events_evicted_to_disk() {
    let stream = world(6, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut pm = open(&path, hot_only(600.0));
    ingest_all(&mut pm, &stream);
    pm.commit().unwrap();
    let label = all_labels(pm.memory())[0].clone();
    let when = Query::When {
        target: Target::Label(label.clone()),
        window: TimeWindow::all(),
    };
    assert!(matches!(pm.query(&when).unwrap(), Answer::Timeline(v) if !v.is_empty()));
    let report = pm.forget(&Forget::Label(label.clone())).unwrap();
    assert!(!report.objects.is_empty());
    pm.close().unwrap();
    let store = Store::open(&path, OpenMode::ReadOnly).unwrap();
    let back = store
        .load(None, Box::new(LexicalEmbedder::default()), HotEvents::None)
        .unwrap();
    let cold = &store as &dyn mnemo::core::memory::ColdEvents;
    for id in &report.objects {
        let left = cold.recorded_in(&TimeWindow::all(), Some(&[*id])).unwrap();
        assert!(left.is_empty(), "events of {id} left on disk");
    }
    assert_eq!(
        back.query_with(&when, Some(cold)).unwrap(),
        Answer::Timeline(vec![])
    );
}

#[test]
fn newer_schema_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(open(&path, RetentionConfig::keep_everything()));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    for mode in [OpenMode::ReadWrite, OpenMode::ReadOnly] {
        let err = Store::open(&path, mode).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}

#[test]
fn an_older_schema_is_migrated_by_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    Store::create_at_version(&path, 1).unwrap();
    let err = Store::open(&path, OpenMode::ReadOnly).unwrap_err();
    assert!(
        matches!(err, StoreError::NeedsMigration { found: 1, .. }),
        "{err}"
    );
    let stream = world(7, 1);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    ingest_all(&mut pm, &stream);
    pm.close().unwrap();
    let store = Store::open(&path, OpenMode::ReadOnly).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        mnemo::store::schema::SCHEMA_VERSION
    );
    assert_eq!(load(&path).digest(), in_ram(&stream).digest());
}

/// A copy of `tests/fixtures/memory_v2.db` at `path` (tests never open the committed file).
fn copy_v2_fixture(path: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/memory_v2.db");
    std::fs::copy(&fixture, path).unwrap();
}

/// `tests/fixtures/memory_v2.db` was written by schema version 2 (commit 652694f: `mnemo eval
/// --seed 3 --days 1 --rooms 2 --objects 40 --db ...`); its memory's digest was this.
const V2_FIXTURE_DIGEST: u64 = 0x3034_d746_5a37_0d29;

#[test]
fn a_version_2_file_with_objects_is_migrated_and_loads_the_same_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    copy_v2_fixture(&path);
    let err = Store::open(&path, OpenMode::ReadOnly).unwrap_err();
    assert!(
        matches!(err, StoreError::NeedsMigration { found: 2, .. }),
        "{err}"
    );
    // Not under a writer (one holding the lock, as a running node does): the file is left be.
    let writer = std::fs::File::open(&path).unwrap();
    writer.lock().unwrap();
    let err = Store::migrate_file(&path).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(writer);
    assert!(matches!(
        Store::open(&path, OpenMode::ReadOnly),
        Err(StoreError::NeedsMigration { found: 2, .. })
    ));
    let now = mnemo::store::schema::SCHEMA_VERSION;
    assert_eq!(Store::migrate_file(&path).unwrap(), (2, now));
    assert_eq!(Store::migrate_file(&path).unwrap(), (now, now));
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        Store::migrate_file(&missing),
        Err(StoreError::Open { .. })
    ));
    assert!(!missing.exists());
    let store = Store::open(&path, OpenMode::ReadOnly).unwrap();
    assert_eq!(store.schema_version().unwrap(), now);
    let memory = store
        .load(
            None,
            Box::new(LexicalEmbedder::default()),
            HotEvents::AsSaved,
        )
        .unwrap();
    assert_eq!(memory.digest(), V2_FIXTURE_DIGEST);
    // Reportable objects are counted from the flag the migration read from each blob: 46, the
    // objects `mnemo eval` reported for this world; the version 2 count (not retired, with a
    // label) also took in its 7 tentative objects (53).
    let reportable = memory
        .objects()
        .iter()
        .filter(|o| o.is_reportable())
        .count();
    let inspection = store.inspect().unwrap();
    assert_eq!(inspection.objects, 65);
    assert_eq!(inspection.reportable_objects, reportable as u64);
    assert_eq!(reportable, 46);
}

/// A writer's open migrates by itself and says so (the node logs it): once, and never for a
/// file it creates.
#[test]
fn a_writer_reports_the_migration_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    copy_v2_fixture(&path);
    let pm = open(&path, RetentionConfig::keep_everything());
    assert_eq!(pm.status().migrated_from, Some(2));
    assert_eq!(pm.memory().digest(), V2_FIXTURE_DIGEST);
    pm.close().unwrap();
    let pm = open(&path, RetentionConfig::keep_everything());
    assert_eq!(pm.status().migrated_from, None);
    drop(pm);
    let fresh = dir.path().join("new.db");
    assert_eq!(
        open(&fresh, RetentionConfig::keep_everything())
            .status()
            .migrated_from,
        None
    );
}

/// The last keyframe delivered again after a restart (a bag replayed into the memory that
/// recorded it) is recognised: the fingerprints of the newest stamp are saved with the state.
#[test]
fn a_keyframe_repeated_after_a_restart_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let stream = world(11, 1);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    ingest_all(&mut pm, &stream);
    pm.close().unwrap();
    let mut pm = open(&path, RetentionConfig::keep_everything());
    let before = pm.memory().digest();
    let last = stream.last().unwrap();
    assert!(matches!(
        pm.ingest(last),
        Err(mnemo::core::CoreError::DuplicateKeyframe { .. })
    ));
    assert_eq!(pm.memory().digest(), before);
    assert_eq!(pm.memory().digest(), in_ram(&stream).digest());
}

/// `mnemo inspect` counts as reportable exactly the objects a query may report: confirmed and
/// not retired (a tentative object has a label, so no other column tells them apart).
#[test]
fn inspect_counts_reportable_objects_as_queries_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let stream = world(9, 1);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    ingest_all(&mut pm, &stream);
    pm.close().unwrap();
    let memory = load(&path);
    let objects = memory.objects();
    let reportable = objects.iter().filter(|o| o.is_reportable()).count();
    let tentative = objects
        .iter()
        .filter(|o| !o.confirmed && !o.retired)
        .count();
    assert!(tentative > 0, "the world should leave tentative objects");
    let store = Store::open(&path, OpenMode::ReadOnly).unwrap();
    assert_eq!(
        store.inspect().unwrap().reportable_objects,
        reportable as u64
    );
}

#[test]
fn garbage_and_truncated_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    for mode in [OpenMode::ReadWrite, OpenMode::ReadOnly] {
        let err = Store::open(&garbage, mode).unwrap_err();
        assert!(err.to_string().contains("garbage.db"), "{err}");
    }
    // The garbage is left as it was.
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5a; 8192]);

    let path = db(&dir);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    ingest_all(&mut pm, &world(8, 1));
    pm.close().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 64 * 1024);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let result = Store::open(&path, OpenMode::ReadOnly).and_then(|s| {
        s.integrity_check()?;
        s.load(
            None,
            Box::new(LexicalEmbedder::default()),
            HotEvents::AsSaved,
        )
    });
    let err = result.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. }),
        "truncation must read as corruption: {err}"
    );
    assert!(err.to_string().contains("memory.db"));
}

#[test]
fn one_writer_at_a_time_and_readers_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut writer = open(&path, RetentionConfig::keep_everything());
    let stream = world(9, 1);
    ingest_all(&mut writer, &stream[..stream.len() / 2]);
    writer.commit().unwrap();
    let err = Store::open(&path, OpenMode::ReadWrite).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("memory.db"));
    // A reader sees what was committed, while the writer goes on.
    let reader = Store::open(&path, OpenMode::ReadOnly).unwrap();
    let seen = reader
        .load(
            None,
            Box::new(LexicalEmbedder::default()),
            HotEvents::AsSaved,
        )
        .unwrap();
    assert_eq!(seen.digest(), writer.memory().digest());
    ingest_all(&mut writer, &stream[stream.len() / 2..]);
    writer.commit().unwrap();
    drop(writer);
    // The lock goes with the writer.
    drop(Store::open(&path, OpenMode::ReadWrite).unwrap());
}

#[test]
fn a_full_disk_degrades_keeps_answering_and_recovers_without_loss() {
    let stream = world(10, 2);
    let reference = in_ram(&stream);
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    let third = stream.len() / 3;
    ingest_all(&mut pm, &stream[..third]);
    pm.commit().unwrap();
    let acked = pm.status().acknowledged_events;
    // Freeze the file at its current size: the next batches do not fit.
    let pages: u64 = {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    };
    pm.store().unwrap().set_max_pages(pages).unwrap();
    ingest_all(&mut pm, &stream[third..2 * third]);
    let err = pm.commit().unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("memory.db"));
    let status = pm.status();
    assert!(status
        .degraded
        .as_deref()
        .is_some_and(|d| d.contains("disk full")));
    assert_eq!(status.acknowledged_events, acked);
    // Still answers from RAM, with what came after the disk filled.
    let latest = pm.memory().latest_stamp_ns().unwrap();
    let any_label = all_labels(pm.memory())[0].clone();
    let ans = pm
        .query(&Query::Where {
            target: Target::Label(any_label),
            k: 5,
            at_ns: None,
        })
        .unwrap();
    assert!(matches!(ans, Answer::Objects(v) if !v.is_empty()));
    assert!(latest > stream[third].stamp_ns);
    // What was committed is intact.
    let committed = load(&path);
    assert_eq!(committed.log().next_id(), acked);
    // Space comes back: the held batch is written, nothing lost.
    pm.store().unwrap().set_max_pages(1 << 30).unwrap();
    ingest_all(&mut pm, &stream[2 * third..]);
    pm.commit().unwrap();
    assert!(pm.status().degraded.is_none());
    drop(pm);
    assert_eq!(load(&path).to_parts(), reference.to_parts());
}

#[test]
fn a_read_only_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms).unwrap();
    // Root ignores permissions: then use a file system nobody may create files in.
    let path = if std::fs::write(ro.join("probe"), b"x").is_ok() {
        PathBuf::from("/proc/mnemo-test/sub/memory.db")
    } else {
        ro.join("sub").join("memory.db")
    };
    let err = PersistentMemory::open(
        &path,
        None,
        Box::new(LexicalEmbedder::default()),
        CommitPolicy::default(),
        RetentionConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn bad_retention_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = RetentionConfig {
        max_age_s: Some(60.0),
        hot_window_s: 3600.0,
        ..RetentionConfig::default()
    };
    let err = PersistentMemory::open(
        &db(&dir),
        None,
        Box::new(LexicalEmbedder::default()),
        CommitPolicy::default(),
        bad,
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_age_s"), "{err}");
}

#[test]
fn default_path_follows_ros_home() {
    // Only reads the environment; both branches are checked through the function's contract.
    let p = mnemo::store::default_db_path();
    assert!(p.ends_with("mnemo/memory.db"));
    match std::env::var_os("ROS_HOME").filter(|v| !v.is_empty()) {
        Some(h) => assert!(p.starts_with(h)),
        None => assert!(p.to_string_lossy().contains(".ros")),
    }
}

/// A memory large enough that reloading splits relation building over threads (more than
/// 4,096 related objects), with objects nudged after their relations were computed so saved
/// anchors and positions differ: the rebuilt relations must be exactly the ones the memory held.
#[test]
fn reload_of_a_large_dense_memory_rebuilds_exact_relations() {
    use nalgebra::Vector3;
    let cluster = |i: usize, nudge: f64| -> Vec<mnemo::core::Detection> {
        let (cx, cy) = ((i % 40) as f64 * 20.0, (i / 40) as f64 * 20.0);
        let mut table = common::det("table", [cx + 1.0, cy, 0.375]);
        table.extent_m = Vector3::new(1.2, 0.8, 0.75);
        let mut out = vec![table];
        for (k, label) in ["mug", "plate", "book", "keys", "lamp"].iter().enumerate() {
            let x = cx + 0.6 + 0.2 * k as f64 + nudge;
            out.push(common::det(label, [x, cy + 0.1 * (k % 2) as f64, 0.8]));
        }
        out
    };
    let clusters = 1000;
    let mut stream = Vec::new();
    for pass in 0..2 {
        for i in 0..clusters {
            let (cx, cy) = ((i % 40) as f64 * 20.0, (i / 40) as f64 * 20.0);
            let stamp = common::T0 + ((pass * clusters + i) as i64 + 1) * 1_000_000_000;
            // The second pass moves every object by 1 cm: below the relation update step on
            // purpose, so positions and relation anchors part.
            let nudge = if pass == 0 { 0.0 } else { 0.01 };
            stream.push(common::keyframe(
                stamp,
                cx - 1.0,
                cy,
                0.0,
                cluster(i, nudge),
            ));
        }
    }
    let reference = in_ram(&stream);
    assert!(
        reference.objects().len() >= 5000,
        "{}",
        reference.objects().len()
    );
    assert!(reference.relations().len() >= 5000);
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut pm = PersistentMemory::open(
        &path,
        Some(memory_config()),
        Box::new(LexicalEmbedder::default()),
        CommitPolicy::default(),
        RetentionConfig::keep_everything(),
    )
    .unwrap();
    ingest_all(&mut pm, &stream);
    pm.close().unwrap();
    let mut back = load(&path);
    let mut reference = reference;
    assert_eq!(back.relations(), reference.relations());
    assert_eq!(back.relations(), &back.relations_from_scratch());
    assert_eq!(back.digest(), reference.digest());
    // Moving objects afterwards must drop their old relations (the reverse index is rebuilt
    // too) exactly as in the memory that never stopped.
    for i in 0..clusters / 4 {
        let (cx, cy) = ((i % 40) as f64 * 20.0, (i / 40) as f64 * 20.0);
        let stamp = common::T0 + ((2 * clusters + i) as i64 + 1) * 1_000_000_000;
        let kf = common::keyframe(stamp, cx - 1.0, cy, 0.0, cluster(i, 0.5));
        let _ = back.ingest(&kf);
        let _ = reference.ingest(&kf);
    }
    assert_eq!(back.relations(), reference.relations());
    assert_eq!(back.relations(), &back.relations_from_scratch());
    assert_eq!(back.digest(), reference.digest());
}

/// Label votes moved from a map to a sorted vector; files written before must still decode and
/// new files must encode exactly as before (postcard rows, JSON digests).
#[test]
fn label_votes_encode_like_the_map_they_replaced() {
    use mnemo::core::scene_graph::LabelVotes;
    use std::collections::BTreeMap;
    let map = BTreeMap::from([("cup".to_string(), 0.5_f32), ("mug".to_string(), 1.25)]);
    let mut votes = LabelVotes::single("mug", 1.25);
    votes.add("cup", 0.5);
    let bytes = postcard::to_allocvec(&map).unwrap();
    assert_eq!(postcard::to_allocvec(&votes).unwrap(), bytes);
    assert_eq!(postcard::from_bytes::<LabelVotes>(&bytes).unwrap(), votes);
    assert_eq!(
        serde_json::to_string(&votes).unwrap(),
        serde_json::to_string(&map).unwrap()
    );
    // Out of order or repeated labels (never written, but possible in a damaged row) fold in.
    let odd =
        serde_json::from_str::<LabelVotes>(r#"{"mug": 1.0, "cup": 0.5, "mug": 0.25}"#).unwrap();
    assert_eq!(odd, votes);
}

/// The relation rows on disk follow the memory when an object moves away from its partner:
/// both directions of `near` leave the table, also the one whose subject did not move.
#[test]
fn relation_rows_follow_a_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    let mut t = common::T0;
    let mut kf = |pm: &mut PersistentMemory, pause_ns: i64, mug_y: f64| {
        t += pause_ns;
        pm.ingest(&common::keyframe(
            t,
            0.0,
            0.0,
            0.0,
            vec![
                common::det("book", [3.0, 0.5, 0.8]),
                common::det("mug", [3.0, mug_y, 0.8]),
            ],
        ))
        .unwrap();
        t += 1_000_000_000;
    };
    let rows = |path: &Path| -> Vec<(String, String, String)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT s.label, r.kind, o.label FROM relations r \
                 JOIN objects s ON s.id = r.subject JOIN objects o ON o.id = r.object \
                 ORDER BY 1, 2, 3",
            )
            .unwrap();
        let out = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out
    };
    for _ in 0..5 {
        kf(&mut pm, 0, 0.8);
    }
    pm.commit().unwrap();
    let near = |a: &str, b: &str| (a.to_string(), "near".to_string(), b.to_string());
    let before = rows(&path);
    assert!(before.contains(&near("book", "mug")), "{before:?}");
    assert!(before.contains(&near("mug", "book")), "{before:?}");
    // An hour later the mug stands 1.4 m from the book (near is 1 m).
    for k in 0..5 {
        kf(&mut pm, if k == 0 { 3_600_000_000_000 } else { 0 }, -0.9);
    }
    pm.commit().unwrap();
    assert_eq!(
        pm.memory()
            .objects()
            .iter()
            .filter(|o| o.is_reportable() && o.label == "mug")
            .count(),
        1,
        "the mug moved (one object): {:#?}",
        pm.memory().objects()
    );
    assert!(
        pm.memory().relations().is_empty(),
        "{:?}",
        pm.memory().relations()
    );
    assert_eq!(rows(&path), vec![]);
}

/// A move link retracted (keys seen where they were a second after being taken for a newcomer
/// elsewhere: the newcomer's retired object comes back as an object of its own) reaches the
/// disk: a restart cut before, between or after the steps continues to the memory kept in RAM.
#[test]
fn a_retracted_move_link_survives_restarts() {
    use common::{det, keyframe, HOUR, S, T0};
    let view = |t, ys: &[f64]| {
        let dets = ys.iter().map(|y| det("keys", [2.0, *y, 0.8])).collect();
        keyframe(t, 0.0, 0.0, 0.0, dets)
    };
    let mut stream = Vec::new();
    let mut t = T0;
    for _ in 0..5 {
        stream.push(view(t, &[0.5]));
        t += S;
    }
    t += HOUR;
    // The spot in view without its keys twice (the link), then keys at both spots twice.
    for ys in [&[-0.6][..], &[-0.6], &[0.5, -0.6], &[0.5, -0.6]] {
        stream.push(view(t, ys));
        t += S;
    }
    let reference = in_ram(&stream);
    assert_eq!(reference.stats().links_retracted, 1);
    continues_exactly_across_restarts(&stream, &reference, &[6, 7, 8]);
}

/// Ingests `stream` with a restart before each keyframe index of `cuts` (one run per cut) and
/// checks the memory ends as `reference`, in RAM and as reloaded from the file.
fn continues_exactly_across_restarts(stream: &[Observation], reference: &Memory, cuts: &[usize]) {
    for &cut in cuts {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let config = reference.config().clone();
        {
            let mut pm = open_with(&path, RetentionConfig::keep_everything(), config.clone());
            ingest_all(&mut pm, &stream[..cut]);
        }
        {
            let mut pm = open_with(&path, RetentionConfig::keep_everything(), config);
            ingest_all(&mut pm, &stream[cut..]);
            assert_eq!(pm.memory().digest(), reference.digest(), "cut at {cut}");
        }
        assert_eq!(load(&path).to_parts(), reference.to_parts(), "cut at {cut}");
    }
}

#[test]
fn a_second_track_gone_missing_is_taken_back_across_restarts() {
    // The kettle of `evidence::a_second_track_charged_the_misses_is_folded_back_when_the_
    // object_is_seen`: a second track, charged the misses of shared sightings, goes missing;
    // the kettle seen again takes it back. A restart anywhere, also between the missing and
    // the sighting, continues exactly (what the rule reads is rebuilt on load).
    use common::{det, keyframe, looking, HOUR, S, T0};
    let kettle = |y: f64, e: [f32; 4]| looking(det("kettle", [2.0, y, 0.8]), e);
    const SEEN: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const OFF: [f32; 4] = [0.8, 0.6, 0.0, 0.0];
    const BETWEEN: [f32; 4] = [0.95, 0.312, 0.0, 0.0];
    let mut stream = Vec::new();
    let mut t = T0;
    for _ in 0..5 {
        stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![kettle(0.0, SEEN)]));
        t += S;
    }
    for e in [OFF, BETWEEN] {
        stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![kettle(0.10, e)]));
        t += S;
    }
    t += HOUR;
    for _ in 0..4 {
        stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![kettle(0.04, BETWEEN)]));
        t += S;
    }
    stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![kettle(0.0, SEEN)]));
    let reference = in_ram(&stream);
    let reportable = |m: &Memory| m.objects().iter().filter(|o| o.is_reportable()).count();
    assert_eq!(reportable(&reference), 1, "{:#?}", reference.objects());
    assert_eq!(reference.stats().duplicates_merged, 1);
    continues_exactly_across_restarts(&stream, &reference, &[8, 10, 11]);
}

/// A move handed on from a look-alike newcomer to one that looks much more like the object
/// (`evidence::a_newcomer_that_looks_much_more_like_a_moved_object_takes_over_its_move`, and
/// `evidence::a_better_newcomer_takes_over_a_move_made_after_the_object_went_missing`, where
/// the first newcomer, taken at its first sighting, is confirmed at the hand-over) reaches
/// the disk: the first newcomer back as an object of its own, the object at the second. A
/// restart cut before, between or after the steps continues to the memory kept in RAM.
#[test]
fn a_move_handed_on_to_a_better_newcomer_survives_restarts() {
    use common::{det, keyframe, looking, HOUR, S, T0};
    let keys = |y: f64, e: [f32; 4]| looking(det("keys", [2.0, y, 0.8]), e);
    const SEEN: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const FIRST_NEWCOMER: [f32; 4] = [0.87, 0.493, 0.0, 0.0];
    const BETTER: [f32; 4] = [0.98, 0.0, 0.199, 0.0];
    for missing_first in [false, true] {
        let mut stream = Vec::new();
        let mut t = T0;
        for _ in 0..20 {
            stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![keys(0.5, SEEN)]));
            t += S;
        }
        t += HOUR;
        if missing_first {
            for _ in 0..3 {
                stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![]));
                t += S;
            }
        }
        let better_y = if missing_first { 0.0 } else { 1.1 };
        for _ in 0..2 {
            stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![keys(-0.6, FIRST_NEWCOMER)]));
            t += S;
        }
        for _ in 0..2 {
            let both = vec![keys(-0.6, FIRST_NEWCOMER), keys(better_y, BETTER)];
            stream.push(keyframe(t, 0.0, 0.0, 0.0, both));
            t += S;
        }
        let reference = in_ram(&stream);
        assert_eq!(reference.stats().links_handed_on, 1);
        let reportable = |m: &Memory| m.objects().iter().filter(|o| o.is_reportable()).count();
        assert_eq!(reportable(&reference), 2, "{:#?}", reference.objects());
        let n = stream.len();
        continues_exactly_across_restarts(&stream, &reference, &[n - 4, n - 3, n - 2, n - 1]);
    }
}

/// A newcomer that looks more like an object found gone later than like the one found gone
/// first (`evidence::an_object_found_gone_that_looks_more_like_a_taken_newcomer_takes_it_over`)
/// reaches the disk as the second object's: the first missing from its spot, the second at
/// the newcomer's. With `wait_for_likelier_source` the newcomer waits for the second object's
/// spot to be checked; without, it is taken for the first object and handed over, and the log
/// has the first one's move there and back. A restart cut anywhere from the first object found
/// gone on (the newcomer waiting, or linked) continues to the memory kept in RAM.
#[test]
fn a_newcomer_handed_over_to_an_object_found_gone_later_survives_restarts() {
    for wait in [true, false] {
        use common::{det, keyframe, looking, HOUR, S, T0};
        let keys = |x: f64, y: f64, e: [f32; 4]| looking(det("keys", [x, y, 0.8]), e);
        const SEEN: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
        const NEWCOMER: [f32; 4] = [0.87, 0.493, 0.0, 0.0];
        // 0.91 like the newcomer.
        const OTHER: [f32; 4] = [0.7917, 0.4486, 0.4146, 0.0];
        let behind = std::f64::consts::PI;
        let mut stream = Vec::new();
        let mut t = T0;
        for _ in 0..5 {
            stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![keys(2.0, 0.5, SEEN)]));
            stream.push(keyframe(t, 0.0, 0.0, behind, vec![keys(-2.0, 0.5, OTHER)]));
            t += S;
        }
        t += HOUR;
        for _ in 0..3 {
            stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![keys(2.0, -0.6, NEWCOMER)]));
            t += S;
        }
        for _ in 0..4 {
            stream.push(keyframe(t, 0.0, 0.0, behind, vec![]));
            t += S;
        }
        let config = MemoryConfig {
            wait_for_likelier_source: wait,
            ..memory_config()
        };
        let reference = in_ram_with(&stream, config);
        assert_eq!(reference.stats().links_handed_on, u64::from(!wait));
        let states: Vec<_> = reference
            .objects()
            .iter()
            .filter(|o| o.is_reportable())
            .map(|o| o.state)
            .collect();
        assert_eq!(
            states,
            vec![
                mnemo::core::ObjectState::Missing,
                mnemo::core::ObjectState::Moved
            ]
        );
        let n = stream.len();
        let cuts: Vec<usize> = (n - 7..n).collect();
        continues_exactly_across_restarts(&stream, &reference, &cuts);
    }
}

/// Keys (at (2, 0.5), with an appearance) and a second set behind the robot (none) seen
/// five times; an hour later the keys' spot is empty on four views; three hours after that,
/// keys 0.96 like the first turn up 1.1 m to the right on three keyframes and wait for the
/// other set to be checked. Returns the stream, the keyframe that sees the other set in its
/// place (the end of the wait) and that keyframe's stamp.
fn a_newcomer_waits_for_the_other_set() -> (Vec<Observation>, Observation, mnemo::core::StampNs) {
    use common::{det, keyframe, looking, HOUR, S, T0};
    let keys = |x: f64, y: f64, e: Option<[f32; 4]>| {
        let d = det("keys", [x, y, 0.8]);
        match e {
            Some(e) => looking(d, e),
            None => d,
        }
    };
    const SEEN: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    // 0.96 like the keys.
    const NEWCOMER: [f32; 4] = [0.96, 0.28, 0.0, 0.0];
    let behind = std::f64::consts::PI;
    let mut stream = Vec::new();
    let mut t = T0;
    for _ in 0..5 {
        stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![keys(2.0, 0.5, Some(SEEN))]));
        stream.push(keyframe(t, 0.0, 0.0, behind, vec![keys(-2.0, 0.5, None)]));
        t += S;
    }
    t += HOUR;
    for _ in 0..4 {
        stream.push(keyframe(t, 0.0, 0.0, 0.0, vec![]));
        t += S;
    }
    t += 3 * HOUR;
    for _ in 0..3 {
        stream.push(keyframe(
            t,
            0.0,
            0.0,
            0.0,
            vec![keys(2.0, -0.6, Some(NEWCOMER))],
        ));
        t += S;
    }
    let other_set_seen = keyframe(t, 0.0, 0.0, behind, vec![keys(-2.0, 0.5, None)]);
    (stream, other_set_seen, t)
}

fn moved_objects(m: &Memory) -> usize {
    m.objects()
        .iter()
        .filter(|o| o.is_reportable() && o.state == mnemo::core::ObjectState::Moved)
        .count()
}

/// A newcomer that waits for the last look-alike that may have been carried there, and is
/// taken for keys gone for hours the moment that look-alike is seen in its place
/// (`evidence::a_newcomer_like_an_object_gone_for_hours_is_it_once_every_look_alike_is_checked`):
/// the wait and its end reach the disk, and a restart cut anywhere from the newcomer on
/// continues to the memory kept in RAM.
#[test]
fn a_newcomer_waiting_for_its_last_unchecked_look_alike_survives_restarts() {
    let (mut stream, other_set_seen, _) = a_newcomer_waits_for_the_other_set();
    let waiting = in_ram(&stream);
    assert_eq!(waiting.pending_reid().len(), 1);
    stream.push(other_set_seen);
    let reference = in_ram(&stream);
    assert!(reference.pending_reid().is_empty());
    assert_eq!(moved_objects(&reference), 1);
    let n = stream.len();
    let cuts: Vec<usize> = (n - 4..n).collect();
    continues_exactly_across_restarts(&stream, &reference, &cuts);
}

/// The same wait on a robot that parks instead and sends only odometry: reopened after a
/// restart, the memory still waits, and the pose at the deadline that ends the wait
/// (`evidence::a_parked_robots_odometry_ends_the_wait_for_a_long_missing_object_at_its_deadline`)
/// commits the move to disk.
#[test]
fn a_wait_ended_by_odometry_alone_reaches_the_disk() {
    let (stream, _, t) = a_newcomer_waits_for_the_other_set();
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    {
        let mut pm = open(&path, RetentionConfig::keep_everything());
        ingest_all(&mut pm, &stream);
    }
    let mut pm = open(&path, RetentionConfig::keep_everything());
    let deadline = pm.memory().pending_reid()[0].1;
    assert!(deadline > t);
    let parked = |stamp_ns| mnemo::core::PoseUpdate {
        stamp_ns,
        world_from_body: nalgebra::Isometry3::identity(),
    };
    pm.ingest_pose(&parked(t)).unwrap();
    assert_eq!(moved_objects(pm.memory()), 0);
    pm.ingest_pose(&parked(deadline)).unwrap();
    assert_eq!(moved_objects(pm.memory()), 1);
    assert!(pm.memory().pending_reid().is_empty());
    pm.commit().unwrap();
    let expected = pm.memory().to_parts();
    drop(pm);
    assert_eq!(load(&path).to_parts(), expected);
}

/// The evidence on look-alike twins seen as one (`Memory::twin_deficits`) is saved with the
/// state: a restart in the middle of a pass decides as an uninterrupted memory does.
#[test]
fn twin_evidence_survives_a_restart_mid_pass() {
    use common::{det, keyframe, HOUR, S, T0};
    let mut stream = Vec::new();
    for i in 0..5 {
        stream.push(keyframe(
            T0 + i * S,
            0.0,
            0.0,
            0.0,
            vec![det("mug", [2.0, 0.0, 0.8]), det("mug", [2.0, 0.15, 0.8])],
        ));
    }
    // An hour later only the right mug, its sightings on both spots.
    for (i, y) in [0.22, 0.20, 0.03, 0.21].into_iter().enumerate() {
        stream.push(keyframe(
            T0 + HOUR + i as i64 * S,
            0.0,
            0.0,
            0.0,
            vec![det("mug", [2.0, y, 0.8])],
        ));
    }
    let reference = in_ram(&stream);
    let missing = |m: &Memory| {
        m.objects()
            .iter()
            .filter(|o| o.is_reportable() && !o.state.is_present())
            .count()
    };
    assert_eq!(
        missing(&reference),
        1,
        "the rule should decide in this pass"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let split = 7;
    let saved = {
        let mut pm = open(&path, RetentionConfig::keep_everything());
        ingest_all(&mut pm, &stream[..split]);
        let saved = pm.memory().twin_deficits();
        pm.close().unwrap();
        saved
    };
    assert_eq!(saved.len(), 1, "two keyframes of evidence so far");
    assert_eq!(load(&path).twin_deficits(), saved);
    let mut pm = open(&path, RetentionConfig::keep_everything());
    ingest_all(&mut pm, &stream[split..]);
    assert_eq!(pm.memory().digest(), reference.digest());
    assert_eq!(pm.memory().to_parts(), reference.to_parts());
}
