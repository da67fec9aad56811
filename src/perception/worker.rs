//! Keyframe perception off the ingest path: keyframes go to a worker thread through a bounded
//! queue that drops the oldest (counted), and captions come back to attach to the keyframe's
//! time and pose ([`crate::core::Memory::add_caption`]).
//!
//! Owns: the queue, the worker thread, the drop counter and the result channel. The model is a
//! [`Captioner`]; ingest never waits for it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nalgebra::Isometry3;

use super::PerceptionError;
use crate::core::time::StampNs;
use crate::ros::pipeline::ColorImage;

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

/// A keyframe for perception.
#[derive(Debug, Clone)]
pub struct KeyframeJob {
    /// The keyframe's stamp, ns.
    pub stamp_ns: StampNs,
    /// Where the robot was.
    pub world_from_body: Isometry3<f64>,
    /// The colour image taken with it.
    pub image: ColorImage,
}

/// A caption for a keyframe.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionResult {
    /// The keyframe's stamp, ns.
    pub stamp_ns: StampNs,
    /// Where the robot was.
    pub world_from_body: Isometry3<f64>,
    /// The caption, or why there is none.
    pub text: Result<String, String>,
    /// How long the model took.
    pub latency: Duration,
}

struct Shared {
    queue: Mutex<VecDeque<KeyframeJob>>,
    ready: Condvar,
    stop: AtomicBool,
    dropped: AtomicU64,
    busy: AtomicBool,
}

/// The worker: a thread running a [`Captioner`] over a drop-oldest queue.
pub struct PerceptionWorker {
    shared: Arc<Shared>,
    capacity: usize,
    results: mpsc::Receiver<CaptionResult>,
    handle: Option<JoinHandle<()>>,
    name: String,
}

impl std::fmt::Debug for PerceptionWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerceptionWorker")
            .field("captioner", &self.name)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl PerceptionWorker {
    /// Starts a worker holding at most `capacity` waiting keyframes (at least 1).
    pub fn spawn(mut captioner: Box<dyn Captioner>, capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            busy: AtomicBool::new(false),
        });
        let (tx, results) = mpsc::channel();
        let name = captioner.name();
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
                let text = captioner.caption(&job.image).map_err(|e| e.to_string());
                let r = CaptionResult {
                    stamp_ns: job.stamp_ns,
                    world_from_body: job.world_from_body,
                    text,
                    latency: t.elapsed(),
                };
                s.busy.store(false, Ordering::SeqCst);
                if tx.send(r).is_err() {
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

    /// Captions finished since the last call (never blocks).
    pub fn drain(&self) -> Vec<CaptionResult> {
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

    /// The captioner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits (up to `timeout`) until the queue is empty and the worker idle, then returns the
    /// remaining captions (end of a bag, node cleanup).
    pub fn finish(&self, timeout: Duration) -> Vec<CaptionResult> {
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
            done.last().unwrap().text.as_deref(),
            Ok("an image of mean colour 9 9 9")
        );
        assert!(done[0].latency >= Duration::from_millis(50));
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
