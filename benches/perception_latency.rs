//! `cargo bench --bench perception_latency`: per-call latency of the ONNX models on this
//! machine's CPU (needs `bash .ci/setup`: the venv's onnxruntime library, `models/`, the
//! scikit-image photos): the MiniLM embedder (one label; a batch of 16), PP-OCR on a 384x192
//! page (detection + recognition of every line), and the YOLO decoder path on a 640x480 image
//! with the tiny handcrafted model (letterbox + run + NMS: the runner's overhead, not a real
//! detector's cost), and the captioner runner with the tiny handcrafted encoder-decoder model
//! (preprocess + encoder + greedy decoding with the KV cache, 6 tokens: the runner's overhead
//! per token, not a real VLM's cost). Median of repeated runs, printed; nothing is asserted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mnemo::core::Embedder;
use mnemo::perception::captioner::OnnxCaptioner;
use mnemo::perception::detector::{DetectorConfig, YoloDetector};
use mnemo::perception::embedder::SentenceEmbedder;
use mnemo::perception::ocr::Ocr;
use mnemo::perception::worker::Captioner;
use mnemo::perception::{Provider, RuntimeConfig};
use mnemo::ros::pipeline::ColorImage;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e} (run bash .ci/setup)");
    std::process::exit(1)
}

fn ort_library() -> PathBuf {
    mnemo::perception::onnxruntime_in_venv(&root().join(".venv"))
        .unwrap_or_else(|| fail("ONNX Runtime", "no libonnxruntime.so.* in .venv"))
}

/// Median milliseconds of `n` calls of `f` (after one warm-up call).
fn median_ms(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

fn main() {
    let rt = RuntimeConfig {
        library: Some(ort_library()),
        providers: vec![Provider::Cpu],
        intra_threads: 0,
    };
    let models = root().join("models");
    let emb = SentenceEmbedder::open_dir(&models, &rt).unwrap_or_else(|e| fail("embedder", e));
    let texts: Vec<String> = (0..16)
        .map(|i| format!("a red mug number {i} on the kitchen counter"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let one = median_ms(50, || {
        let _ = emb.embed_batch(&["coffee mug"]);
    });
    let batch = median_ms(20, || {
        let _ = emb.embed_batch(&refs);
    });
    let cached = median_ms(1000, || {
        let _ = emb.embed("coffee mug");
    });
    println!("embedder (MiniLM-L6, CPU): one label {one:.2} ms; batch of 16 {batch:.2} ms ({:.2} ms each); cached {:.4} ms", batch / 16.0, cached);

    let page = image::open(root().join("tests/data/skimage/page.png"))
        .unwrap_or_else(|e| fail("page.png", e))
        .to_rgb8();
    let page = ColorImage {
        stamp_ns: 0,
        width_px: page.width(),
        height_px: page.height(),
        rgb: page.into_raw(),
    };
    let mut ocr = Ocr::open_dir(&models, &rt).unwrap_or_else(|e| fail("ocr", e));
    let lines = ocr.read(&page).map(|l| l.len()).unwrap_or(0);
    let ocr_ms = median_ms(10, || {
        let _ = ocr.read(&page);
    });
    println!(
        "OCR (PP-OCRv4 det + rec, CPU): {}x{} page, {lines} lines: {ocr_ms:.1} ms per image",
        page.width_px, page.height_px
    );

    let dir = std::env::temp_dir().join(format!("mnemo-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let model = dir.join("tiny_yolo.onnx");
    let ok = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/interop/tiny_yolo.py"))
        .arg(&model)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        fail("tiny_yolo.py", "failed");
    }
    let mut det = YoloDetector::open(&model, None, &rt, DetectorConfig::default())
        .unwrap_or_else(|e| fail("detector", e));
    let img = ColorImage {
        stamp_ns: 0,
        width_px: 640,
        height_px: 480,
        rgb: [200u8, 30, 30].repeat(640 * 480),
    };
    let det_ms = median_ms(20, || {
        let _ = det.detect(&img);
    });
    println!("detector runner (tiny YOLO-layout model, CPU): 640x480 image: {det_ms:.2} ms (letterbox + run + decode + NMS)");
    let cap_dir = dir.join("tiny_captioner");
    let ok = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/interop/tiny_captioner.py"))
        .arg(&cap_dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        fail("tiny_captioner.py", "failed");
    }
    let mut cap = OnnxCaptioner::open_dir(&cap_dir, &rt).unwrap_or_else(|e| fail("captioner", e));
    let bright = ColorImage {
        rgb: [230u8, 230, 230].repeat(640 * 480),
        ..img.clone()
    };
    let text = cap
        .caption(&bright)
        .unwrap_or_else(|e| fail("captioner", e));
    let words = text.split_whitespace().count();
    let cap_ms = median_ms(20, || {
        let _ = cap.caption(&bright);
    });
    println!(
        "captioner runner (tiny encoder-decoder, CPU): 640x480 image -> {text:?}: {cap_ms:.2} ms ({:.2} ms per decoder step incl. EOS)",
        cap_ms / (words + 1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
