//! Keyframe perception off the ingest path: keyframes go to a worker thread through a bounded
//! queue that drops the oldest (counted), the worker runs every [`KeyframeModel`] on each
//! (captioner, detector, OCR), and the results come back to be attached to the keyframe's time
//! and pose: captions through [`crate::core::Memory::add_caption`], detector and OCR sightings
//! through [`crate::core::Memory::ingest_sightings`].
//!
//! Owns: the queue, the worker thread, the drop counter and the result channel. Ingest never
//! waits for a model; an offline caller (`mnemo replay`) may [`PerceptionWorker::finish`]
//! after each keyframe to get every result, in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nalgebra::Isometry3;

use super::PerceptionError;
use crate::core::time::StampNs;
use crate::core::{CoreError, DepthImage, Detection, Observation, PinholeCamera};
use crate::ros::pipeline::{ColorImage, Keyframe};

/// Describes an image in words.
pub trait Captioner: Send {
    /// A short name for logs (e.g. the model directory).
    fn name(&self) -> String;
    /// The caption of `image`.
    ///
    /// # Errors
    /// [`PerceptionError`] when the model fails on this image.
    fn caption(&mut self, image: &ColorImage) -> Result<String, PerceptionError>;
}

/// What the models found on one keyframe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// A caption.
    pub caption: Option<String>,
    /// Detections in the camera frame of the keyframe (boxes and text back-projected through
    /// its depth).
    pub detections: Vec<Detection>,
}

/// A model run on keyframes by the worker.
pub trait KeyframeModel: Send {
    /// A short name for logs.
    fn name(&self) -> String;
    /// Whether the model needs the keyframe's aligned depth to place what it finds (a
    /// detector, OCR). Keyframes without one skip it (counted in
    /// [`PerceptionResult::skipped`], not an error: depth may simply come later than the
    /// keyframe).
    fn needs_depth(&self) -> bool {
        false
    }
    /// Adds what the model finds on `job` to `found`.
    ///
    /// # Errors
    /// [`PerceptionError`] when the model fails on this keyframe (or the keyframe lacks what it
    /// needs, e.g. depth to place boxes).
    fn run(&mut self, job: &KeyframeJob, found: &mut Findings) -> Result<(), PerceptionError>;
}

/// Runs a [`Captioner`] as a [`KeyframeModel`].
pub struct CaptionModel(pub Box<dyn Captioner>);

impl KeyframeModel for CaptionModel {
    fn name(&self) -> String {
        self.0.name()
    }

    fn run(&mut self, job: &KeyframeJob, found: &mut Findings) -> Result<(), PerceptionError> {
        found.caption = Some(self.0.caption(&job.image)?);
        Ok(())
    }
}

/// A keyframe for perception.
#[derive(Debug, Clone)]
pub struct KeyframeJob {
    /// The keyframe's stamp, ns.
    pub stamp_ns: StampNs,
    /// Where the robot was.
    pub world_from_body: Isometry3<f64>,
    /// The colour image taken with it.
    pub image: ColorImage,
    /// The keyframe's camera pose, camera model and aligned depth, its own detections left
    /// out: what detectors need to place their boxes. `None`: only captions can be made.
    pub view: Option<Observation>,
}

impl KeyframeJob {
    /// A job for a keyframe with a colour image (the image moves; the depth is copied).
    pub fn from_keyframe(keyframe: Keyframe) -> Option<Self> {
        let image = keyframe.color?;
        let mut view = keyframe.observation;
        view.detections.clear();
        view.caption = None;
        Some(Self {
            stamp_ns: view.stamp_ns,
            world_from_body: view.world_from_body,
            image,
            view: Some(view),
        })
    }
}

impl KeyframeJob {
    /// The keyframe's camera and aligned depth, and the scale from the colour image's pixels
    /// to the camera's `(x, y)`: what a model needs to place what it finds in 3D.
    ///
    /// # Errors
    /// [`PerceptionError::Run`] naming `model` when the keyframe has no view or no depth.
    pub fn depth_view(
        &self,
        model: &str,
    ) -> Result<(&PinholeCamera, &DepthImage, (f64, f64)), PerceptionError> {
        let no = |what: &str| PerceptionError::Run {
            model: model.to_string(),
            reason: format!("the keyframe has no {what}, so what the model finds cannot be placed"),
        };
        let view = self.view.as_ref().ok_or_else(|| no("camera model"))?;
        let depth = view
            .depth
            .as_ref()
            .ok_or_else(|| no("aligned depth image"))?;
        let scale = (
            f64::from(view.camera.width_px) / f64::from(self.image.width_px.max(1)),
            f64::from(view.camera.height_px) / f64::from(self.image.height_px.max(1)),
        );
        Ok((&view.camera, depth, scale))
    }
}

/// What the models made of one keyframe.
#[derive(Debug, Clone, PartialEq)]
pub struct PerceptionResult {
    /// The keyframe's stamp, ns.
    pub stamp_ns: StampNs,
    /// Where the robot was.
    pub world_from_body: Isometry3<f64>,
    /// The caption, if a captioner made one.
    pub caption: Option<String>,
    /// Detector and OCR detections as an observation of the keyframe's view (no depth), for
    /// [`crate::core::Memory::ingest_sightings`]; `None` when nothing was found.
    pub sightings: Option<Observation>,
    /// Models that failed on this keyframe: `model: error`.
    pub errors: Vec<String>,
    /// Models that needed an aligned depth image this keyframe did not have (not run).
    pub skipped: Vec<String>,
    /// How long the models took together.
    pub latency: Duration,
}

/// A memory that perception results go into (in RAM or persistent).
pub trait ResultSink {
    /// The newest stamp the memory holds.
    fn latest_stamp_ns(&self) -> Option<StampNs>;
    /// [`crate::core::Memory::add_caption`].
    ///
    /// # Errors
    /// The core's error.
    fn add_caption(
        &mut self,
        stamp_ns: StampNs,
        world_from_body: &Isometry3<f64>,
        text: &str,
    ) -> Result<(), CoreError>;
    /// [`crate::core::Memory::ingest_sightings`].
    ///
    /// # Errors
    /// The core's error.
    fn ingest_sightings(&mut self, obs: &Observation) -> Result<(), CoreError>;
}

impl ResultSink for crate::core::Memory {
    fn latest_stamp_ns(&self) -> Option<StampNs> {
        crate::core::Memory::latest_stamp_ns(self)
    }
    fn add_caption(
        &mut self,
        stamp_ns: StampNs,
        world_from_body: &Isometry3<f64>,
        text: &str,
    ) -> Result<(), CoreError> {
        crate::core::Memory::add_caption(self, stamp_ns, world_from_body, text)
    }
    fn ingest_sightings(&mut self, obs: &Observation) -> Result<(), CoreError> {
        crate::core::Memory::ingest_sightings(self, obs).map(|_| ())
    }
}

impl ResultSink for crate::store::PersistentMemory {
    fn latest_stamp_ns(&self) -> Option<StampNs> {
        self.memory().latest_stamp_ns()
    }
    fn add_caption(
        &mut self,
        stamp_ns: StampNs,
        world_from_body: &Isometry3<f64>,
        text: &str,
    ) -> Result<(), CoreError> {
        crate::store::PersistentMemory::add_caption(self, stamp_ns, world_from_body, text)
    }
    fn ingest_sightings(&mut self, obs: &Observation) -> Result<(), CoreError> {
        crate::store::PersistentMemory::ingest_sightings(self, obs).map(|_| ())
    }
}

/// Puts one result into `memory`: the caption at the keyframe's time and pose, the sightings
/// with the keyframe's view, recorded no earlier than the newest input (newer keyframes may
/// have gone in meanwhile). Returns what went wrong (model failures included), one line each;
/// `true` in the pair when the memory changed.
pub fn apply_result(memory: &mut impl ResultSink, r: PerceptionResult) -> (bool, Vec<String>) {
    let mut errors = r.errors;
    let mut changed = false;
    if let Some(text) = &r.caption {
        match memory.add_caption(r.stamp_ns, &r.world_from_body, text) {
            Ok(()) => changed = true,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if let Some(mut obs) = r.sightings {
        if let Some(latest) = memory.latest_stamp_ns() {
            obs.stamp_ns = obs.stamp_ns.max(latest);
        }
        match memory.ingest_sightings(&obs) {
            Ok(()) => changed = true,
            Err(e) => errors.push(e.to_string()),
        }
    }
    (changed, errors)
}

struct Shared {
    queue: Mutex<VecDeque<KeyframeJob>>,
    ready: Condvar,
    stop: AtomicBool,
    dropped: AtomicU64,
    busy: AtomicBool,
}

/// The worker: a thread running [`KeyframeModel`]s over a drop-oldest queue.
pub struct PerceptionWorker {
    shared: Arc<Shared>,
    capacity: usize,
    results: mpsc::Receiver<PerceptionResult>,
    handle: Option<JoinHandle<()>>,
    name: String,
}

impl std::fmt::Debug for PerceptionWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerceptionWorker")
            .field("models", &self.name)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl PerceptionWorker {
    /// Starts a worker running one captioner (see [`PerceptionWorker::spawn_models`]).
    pub fn spawn(captioner: Box<dyn Captioner>, capacity: usize) -> Self {
        Self::spawn_models(vec![Box::new(CaptionModel(captioner))], capacity)
    }

    /// Starts a worker running `models`, in order, on each keyframe, holding at most
    /// `capacity` waiting keyframes (at least 1).
    pub fn spawn_models(mut models: Vec<Box<dyn KeyframeModel>>, capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            busy: AtomicBool::new(false),
        });
        let (tx, results) = mpsc::channel();
        let name = models
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ");
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("mnemo-perception".into())
            .spawn(move || loop {
                let job = {
                    let Ok(mut q) = s.queue.lock() else { return };
                    loop {
                        if let Some(j) = q.pop_front() {
                            s.busy.store(true, Ordering::SeqCst);
                            break j;
                        }
                        if s.stop.load(Ordering::SeqCst) {
                            return;
                        }
                        q = match s.ready.wait(q) {
                            Ok(q) => q,
                            Err(_) => return,
                        };
                    }
                };
                let t = Instant::now();
                let mut found = Findings::default();
                let mut errors = Vec::new();
                let mut skipped = Vec::new();
                let has_depth = job.view.as_ref().is_some_and(|v| v.depth.is_some());
                for m in &mut models {
                    if m.needs_depth() && !has_depth {
                        skipped.push(m.name());
                        continue;
                    }
                    if let Err(e) = m.run(&job, &mut found) {
                        errors.push(format!("{}: {e}", m.name()));
                    }
                }
                let sightings = match (job.view, found.detections.is_empty()) {
                    (Some(mut view), false) => {
                        view.detections = found.detections;
                        view.depth = None;
                        Some(view)
                    }
                    _ => None,
                };
                let r = PerceptionResult {
                    stamp_ns: job.stamp_ns,
                    world_from_body: job.world_from_body,
                    caption: found.caption,
                    sightings,
                    errors,
                    skipped,
                    latency: t.elapsed(),
                };
                // Sent before the worker reads as idle, so `finish` never misses a result.
                let sent = tx.send(r).is_ok();
                s.busy.store(false, Ordering::SeqCst);
                if !sent {
                    return;
                }
                s.ready.notify_all();
            })
            .ok();
        Self {
            shared,
            capacity: capacity.max(1),
            results,
            handle,
            name,
        }
    }

    /// Queues a keyframe; never blocks. When the queue is full the oldest waiting keyframe is
    /// dropped (and counted): the newest view of the world is worth more than a stale one.
    pub fn submit(&self, job: KeyframeJob) {
        let Ok(mut q) = self.shared.queue.lock() else {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        q.push_back(job);
        while q.len() > self.capacity {
            q.pop_front();
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(q);
        self.shared.ready.notify_all();
    }

    /// Results finished since the last call (never blocks).
    pub fn drain(&self) -> Vec<PerceptionResult> {
        self.results.try_iter().collect()
    }

    /// Keyframes dropped from the full queue so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Keyframes waiting.
    pub fn waiting(&self) -> usize {
        self.shared.queue.lock().map_or(0, |q| q.len())
    }

    /// The models' names.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits (up to `timeout`) until the queue is empty and the worker idle, then returns the
    /// remaining results (end of a bag, node cleanup, or after each keyframe offline).
    pub fn finish(&self, timeout: Duration) -> Vec<PerceptionResult> {
        let end = Instant::now() + timeout;
        let mut out = Vec::new();
        while Instant::now() < end {
            out.extend(self.drain());
            let idle = self.waiting() == 0 && !self.shared.busy.load(Ordering::SeqCst);
            if idle {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        out.extend(self.drain());
        out
    }
}

impl Drop for PerceptionWorker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Ok(mut q) = self.shared.queue.lock() {
            q.clear();
        }
        self.shared.ready.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A captioner that takes a fixed time and describes the image by its mean colour: a stand-in
/// for a slow model in benches and tests of the queue (not a model).
#[derive(Debug, Clone)]
pub struct FixedDelayCaptioner {
    /// Time per image.
    pub delay: Duration,
}

impl Captioner for FixedDelayCaptioner {
    fn name(&self) -> String {
        format!("fixed-delay {} ms", self.delay.as_millis())
    }

    fn caption(&mut self, image: &ColorImage) -> Result<String, PerceptionError> {
        std::thread::sleep(self.delay);
        let n = (image.rgb.len() / 3).max(1) as u64;
        let mut sum = [0u64; 3];
        for px in image.rgb.chunks_exact(3) {
            for c in 0..3 {
                sum[c] += u64::from(px[c]);
            }
        }
        let [r, g, b] = sum.map(|s| s / n);
        Ok(format!("an image of mean colour {r} {g} {b}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(stamp_ns: StampNs, shade: u8) -> KeyframeJob {
        KeyframeJob {
            stamp_ns,
            world_from_body: Isometry3::identity(),
            image: ColorImage {
                stamp_ns,
                width_px: 2,
                height_px: 1,
                rgb: vec![shade; 6],
            },
            view: None,
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let w = PerceptionWorker::spawn(
            Box::new(FixedDelayCaptioner {
                delay: Duration::from_millis(50),
            }),
            2,
        );
        for i in 0..10 {
            w.submit(job(i, i as u8));
        }
        let done = w.finish(Duration::from_secs(5));
        // The first job may already be running; of the rest only the newest two survive.
        assert!(w.dropped() >= 7, "dropped {}", w.dropped());
        let stamps: Vec<i64> = done.iter().map(|r| r.stamp_ns).collect();
        assert!(stamps.ends_with(&[8, 9]), "{stamps:?}");
        assert_eq!(
            done.last().unwrap().caption.as_deref(),
            Some("an image of mean colour 9 9 9")
        );
        assert!(done[0].latency >= Duration::from_millis(50));
    }

    /// Finds one mug 1 m ahead, or fails on dark images.
    struct MugFinder;

    impl KeyframeModel for MugFinder {
        fn name(&self) -> String {
            "mug-finder".into()
        }
        fn needs_depth(&self) -> bool {
            true
        }
        fn run(&mut self, job: &KeyframeJob, found: &mut Findings) -> Result<(), PerceptionError> {
            if job.image.rgb.iter().all(|v| *v < 10) {
                return Err(PerceptionError::Run {
                    model: "mug-finder".into(),
                    reason: "too dark".into(),
                });
            }
            found.detections.push(Detection {
                label: "mug".into(),
                score: 0.9,
                position_m: nalgebra::Point3::new(0.0, 0.0, 1.0),
                frame: crate::core::DetectionFrame::Camera,
                extent_m: nalgebra::Vector3::new(0.1, 0.1, 0.1),
                text: None,
                embedding: None,
            });
            Ok(())
        }
    }

    #[test]
    fn models_run_in_order_and_their_findings_come_back_as_sightings() {
        let w = PerceptionWorker::spawn_models(
            vec![
                Box::new(CaptionModel(Box::new(FixedDelayCaptioner {
                    delay: Duration::ZERO,
                }))),
                Box::new(MugFinder),
            ],
            8,
        );
        assert_eq!(w.name(), "fixed-delay 0 ms, mug-finder");
        let camera = crate::core::PinholeCamera::vga_default();
        let view = Observation {
            stamp_ns: 7,
            world_from_body: Isometry3::translation(1.0, 0.0, 0.0),
            world_from_camera: Isometry3::translation(1.0, 0.0, 1.0),
            camera,
            detections: Vec::new(),
            caption: None,
            depth: Some(crate::core::DepthImage {
                width_px: 1,
                height_px: 1,
                depth_m: vec![1.0],
            }),
        };
        let mut bright = job(7, 200);
        bright.view = Some(view.clone());
        w.submit(bright);
        // No view (no camera, no depth): the caption still comes, the finder is skipped.
        w.submit(job(8, 200));
        let mut dark = job(9, 0);
        dark.view = Some(view);
        w.submit(dark);
        let done = w.finish(Duration::from_secs(5));
        assert_eq!(done.len(), 3);
        let s = done[0].sightings.as_ref().unwrap();
        assert_eq!(s.detections.len(), 1);
        assert_eq!(s.world_from_camera, Isometry3::translation(1.0, 0.0, 1.0));
        assert!(s.depth.is_none(), "depth is not carried back");
        assert_eq!(
            done[0].caption.as_deref(),
            Some("an image of mean colour 200 200 200")
        );
        assert!(done[1].sightings.is_none() && done[1].errors.is_empty());
        assert_eq!(done[1].skipped, ["mug-finder"]);
        assert!(done[0].skipped.is_empty() && done[2].skipped.is_empty());
        assert_eq!(done[2].errors, ["mug-finder: running mug-finder: too dark"]);
        assert!(
            done[2].caption.is_some(),
            "one model failing does not stop the others"
        );
    }

    /// Blocks until released: a model that never finishes while the test submits.
    struct Blocked(mpsc::Receiver<()>);

    impl Captioner for Blocked {
        fn name(&self) -> String {
            "blocked".into()
        }
        fn caption(&mut self, _: &ColorImage) -> Result<String, PerceptionError> {
            let _ = self.0.recv();
            Ok("released".into())
        }
    }

    #[test]
    fn submit_never_waits_for_the_model() {
        let (release, rx) = mpsc::channel();
        let w = PerceptionWorker::spawn(Box::new(Blocked(rx)), 4);
        // The model is stuck on the first job; 100 submissions still return at once.
        for i in 0..100 {
            w.submit(job(i, 0));
        }
        assert!((3..=4).contains(&w.waiting()), "{}", w.waiting());
        assert!(w.dropped() >= 95);
        release.send(()).unwrap();
        drop(release); // later jobs return at once (recv fails)
        let done = w.finish(Duration::from_secs(5));
        assert_eq!(done.len() as u64 + w.dropped(), 100);
    }
}
