//! ONNX perception (issue 6): the sentence embedder against onnxruntime in Python on the same
//! model, text queries through it, and clear errors for bad model files. Needs `bash .ci/setup`
//! (the venv's onnxruntime wheel provides the library; `models/prepare.sh` the models).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mnemo::core::{
    Answer, Detection, DetectionFrame, Embedder, Memory, MemoryConfig, Observation, PinholeCamera,
    Query, Target, TimeWindow,
};
use mnemo::perception::embedder::SentenceEmbedder;
use mnemo::perception::{Provider, RuntimeConfig};
use nalgebra::{Isometry3, Point3, Vector3};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The ONNX Runtime library of the venv's onnxruntime wheel.
pub fn ort_library() -> PathBuf {
    let venv = root().join(".venv");
    mnemo::perception::onnxruntime_in_venv(&venv).unwrap_or_else(|| {
        panic!(
            "no libonnxruntime.so.* in {} (run bash .ci/setup)",
            venv.display()
        )
    })
}

pub fn runtime() -> RuntimeConfig {
    RuntimeConfig {
        library: Some(ort_library()),
        providers: vec![Provider::Cuda, Provider::Cpu],
        intra_threads: 1,
    }
}

fn models() -> PathBuf {
    let m = root().join("models");
    assert!(
        m.join("minilm.onnx").exists(),
        "models/minilm.onnx is missing (run bash .ci/setup)"
    );
    m
}

fn embedder() -> SentenceEmbedder {
    SentenceEmbedder::open_dir(&models(), &runtime()).unwrap()
}

const SENTENCES: [&str; 20] = [
    "mug",
    "coffee cup",
    "a red mug on the kitchen counter",
    "keys",
    "where did I leave my keys?",
    "bicycle",
    "the bike is in the hallway",
    "book",
    "a stack of books on the shelf",
    "remote control",
    "the TV remote is on the sofa",
    "laptop",
    "a plant near the window",
    "EXIT",
    "fire extinguisher next to the door",
    "glass of water",
    "a person walking through the living room",
    "backpack hanging on a chair",
    "the robot entered the kitchen at noon",
    "Schlüssel und Brieftasche",
];

#[test]
fn embeddings_match_onnxruntime_in_python() {
    let e = embedder();
    assert_eq!(e.dim(), 384);
    assert_eq!(
        e.provider(),
        Provider::Cpu,
        "this machine has no GPU build of ONNX Runtime"
    );
    let ours = e.embed_batch(&SENTENCES).unwrap();
    let mut child = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/interop/embed_reference.py"))
        .arg(models().join("minilm.onnx"))
        .arg(models().join("tokenizer.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &SENTENCES).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let reference: Vec<Vec<f32>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reference.len(), SENTENCES.len());
    let mut worst = 1.0f32;
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        let c = mnemo::core::embed::cosine(a, b);
        assert!(c >= 0.999, "{:?}: cosine {c}", SENTENCES[i]);
        worst = worst.min(c);
        // One at a time (padding-free) gives the same vector as the padded batch.
        let single = e.embed(SENTENCES[i]).unwrap();
        assert!(mnemo::core::embed::cosine(&single, a) >= 0.9999);
    }
    eprintln!("worst cosine vs onnxruntime-in-Python: {worst}");
}

fn detection(label: &str, x: f64) -> Detection {
    Detection {
        label: label.into(),
        score: 0.9,
        position_m: Point3::new(x, 0.0, 2.0),
        frame: DetectionFrame::Camera,
        extent_m: Vector3::new(0.1, 0.1, 0.1),
        text: None,
        embedding: None,
    }
}

#[test]
fn text_queries_find_meaning_not_words() {
    let mut m = Memory::new(MemoryConfig::default(), Box::new(embedder())).unwrap();
    let captions = [
        "a red mug on the kitchen counter next to the kettle",
        "a bicycle leaning against the wall in the hallway",
        "books stacked on a shelf in the living room",
    ];
    for (i, caption) in captions.iter().enumerate() {
        for k in 0..2 {
            m.ingest(&Observation {
                stamp_ns: 1_000_000_000 * (10 * i as i64 + k + 1),
                world_from_body: Isometry3::identity(),
                world_from_camera: Isometry3::identity(),
                camera: PinholeCamera::vga_default(),
                detections: vec![
                    detection("mug", -0.6),
                    detection("bicycle", 0.0),
                    detection("book", 0.6),
                ],
                caption: (k == 0).then(|| caption.to_string()),
                depth: None,
            })
            .unwrap();
        }
    }
    let top = |q: &str| {
        let Answer::Objects(hits) = m
            .query(&Query::Where {
                target: Target::Text(q.into()),
                k: 3,
                at_ns: None,
            })
            .unwrap()
        else {
            panic!()
        };
        hits.first().map(|h| h.label.clone()).unwrap_or_default()
    };
    assert_eq!(top("coffee cup"), "mug");
    assert_eq!(top("bike"), "bicycle");
    assert_eq!(top("something to read"), "book");
    let Answer::Episodes(ep) = m
        .query(&Query::Recall {
            window: TimeWindow::all(),
            text: Some("kitchen counter".into()),
            k: 3,
        })
        .unwrap()
    else {
        panic!()
    };
    assert!(ep[0].caption.contains("kitchen"), "{ep:?}");
    let Answer::Episodes(ep) = m
        .query(&Query::Recall {
            window: TimeWindow::all(),
            text: Some("where is my bike".into()),
            k: 3,
        })
        .unwrap()
    else {
        panic!()
    };
    assert!(ep[0].caption.contains("bicycle"), "{ep:?}");
}

#[test]
fn bad_model_files_give_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.onnx");
    let e = SentenceEmbedder::open(&missing, &models().join("tokenizer.json"), &runtime())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.onnx") && e.contains("not found"), "{e}");
    let corrupt = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not a protobuf").unwrap();
    let e = SentenceEmbedder::open(&corrupt, &models().join("tokenizer.json"), &runtime())
        .unwrap_err()
        .to_string();
    assert!(e.contains("corrupt.onnx"), "{e}");
    let bad_tok = dir.path().join("tokenizer.json");
    std::fs::write(&bad_tok, b"{}").unwrap();
    let e = SentenceEmbedder::open(&models().join("minilm.onnx"), &bad_tok, &runtime())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tokenizer.json") && e.contains("not a tokenizer"),
        "{e}"
    );
    // A model with other inputs (the OCR detector) is refused, naming what was expected.
    let e = SentenceEmbedder::open(
        &models().join("ppocr_det.onnx"),
        &models().join("tokenizer.json"),
        &runtime(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("ppocr_det.onnx") && e.contains("input_ids"),
        "{e}"
    );
}

#[test]
fn captions_stored_by_another_embedder_are_matched_again() {
    use mnemo::core::LexicalEmbedder;
    let mut m = Memory::new(MemoryConfig::default(), Box::new(LexicalEmbedder::new(256))).unwrap();
    m.ingest(&Observation {
        stamp_ns: 1_000_000_000,
        world_from_body: Isometry3::identity(),
        world_from_camera: Isometry3::identity(),
        camera: PinholeCamera::vga_default(),
        detections: vec![],
        caption: Some("a red mug on the kitchen counter".into()),
        depth: None,
    })
    .unwrap();
    // Reopened with an embedder of another dimension (e.g. lexical -> MiniLM).
    let m =
        Memory::from_parts(MemoryConfig::default(), Box::new(embedder()), m.to_parts()).unwrap();
    let Answer::Episodes(ep) = m
        .query(&Query::Recall {
            window: TimeWindow::all(),
            text: Some("coffee cup in the kitchen".into()),
            k: 1,
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(ep.len(), 1, "the old caption still matches");
    assert!(ep[0].score > 0.3);
}

pub(crate) mod yolo {
    use super::*;
    use mnemo::perception::detector::{to_detection2d_array, DetectorConfig, YoloDetector};
    use mnemo::ros::pipeline::ColorImage;

    pub fn tiny_model(dir: &Path) -> PathBuf {
        let out = dir.join("tiny_yolo.onnx");
        let st = Command::new(root().join(".venv/bin/python"))
            .arg(root().join("tests/interop/tiny_yolo.py"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        out
    }

    fn image(w: u32, h: u32, rgb: [u8; 3]) -> ColorImage {
        ColorImage {
            stamp_ns: 0,
            width_px: w,
            height_px: h,
            rgb: rgb.repeat((w * h) as usize),
        }
    }

    #[test]
    fn decodes_letterboxes_and_suppresses_like_ultralytics() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_model(dir.path());
        let mut d =
            YoloDetector::open(&model, None, &runtime(), DetectorConfig::default()).unwrap();
        assert_eq!(d.names(), ["mug", "keys", "book"]);
        // 1280x480 red: scale 0.5, 200 px of grey (114) above and below in the 640x640 input.
        // The model multiplies its scores by the mean red of its input.
        let gain = (240.0 + 400.0 * 114.0 / 255.0) / 640.0;
        let boxes = d.detect(&image(1280, 480, [255, 0, 0])).unwrap();
        let got: Vec<(String, f32, [f64; 4])> = boxes
            .iter()
            .map(|b| (b.label.clone(), b.score, [b.cx_px, b.cy_px, b.w_px, b.h_px]))
            .collect();
        let want = [
            ("mug", 0.9, [400.0, 240.0, 200.0, 160.0]),
            ("keys", 0.7, [800.0, 200.0, 100.0, 80.0]),
            ("keys", 0.6, [420.0, 240.0, 200.0, 160.0]),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((label, score, b), (wl, ws, wb)) in got.iter().zip(want) {
            assert_eq!(label, wl);
            assert!(
                (f64::from(*score) - ws * gain).abs() < 1e-4,
                "{label} {score}"
            );
            for (x, y) in b.iter().zip(wb) {
                assert!((x - y).abs() < 1e-6, "{got:?}");
            }
        }
        // A black square image: no padding, zero red, nothing above threshold.
        assert!(d.detect(&image(640, 640, [0, 0, 0])).unwrap().is_empty());
        // A broken image is an error, not a panic.
        let mut broken = image(4, 4, [1, 2, 3]);
        broken.rgb.pop();
        assert!(d.detect(&broken).is_err());
    }

    #[test]
    fn labels_file_and_bad_exports() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_model(dir.path());
        let labels = dir.path().join("labels.txt");
        std::fs::write(&labels, "cup\nkey ring\nnotebook\n").unwrap();
        let d = YoloDetector::open(&model, Some(&labels), &runtime(), DetectorConfig::default())
            .unwrap();
        assert_eq!(d.names(), ["cup", "key ring", "notebook"]);
        // Two names for a three-class output: the run says what it expected.
        std::fs::write(&labels, "cup\nkeys\n").unwrap();
        let mut d =
            YoloDetector::open(&model, Some(&labels), &runtime(), DetectorConfig::default())
                .unwrap();
        let e = d
            .detect(&image(64, 64, [255, 0, 0]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tiny_yolo.onnx") && e.contains("[1, 6, N]"),
            "{e}"
        );
        // Not a detector: the sentence model's inputs are named in the error.
        let e = YoloDetector::open(
            &models().join("minilm.onnx"),
            None,
            &runtime(),
            DetectorConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("minilm.onnx"), "{e}");
    }

    #[test]
    fn boxes_become_3d_detections_through_depth() {
        use mnemo::ros::msg::{
            CameraInfo, F64Array, Header, Image, TfMessage, Time, TransformStamped,
        };
        use mnemo::ros::pipeline::{Input, KeyframePolicy, Output, Pipeline, PipelineConfig};
        let dir = tempfile::tempdir().unwrap();
        let mut d = YoloDetector::open(
            &tiny_model(dir.path()),
            None,
            &runtime(),
            DetectorConfig::default(),
        )
        .unwrap();
        let boxes = d.detect(&image(1280, 480, [255, 0, 0])).unwrap();
        let ns = 1_000_000_000;
        let header = |frame: &str| Header {
            stamp: Time::from_ns(ns),
            frame_id: frame.into(),
        };
        let tf = |parent: &str, child: &str| TransformStamped {
            header: header(parent),
            child_frame_id: child.into(),
            ..TransformStamped::default()
        };
        let mut p = Pipeline::new(PipelineConfig {
            keyframe: KeyframePolicy {
                max_interval_s: 0.0,
                ..KeyframePolicy::default()
            },
            ..PipelineConfig::default()
        });
        let mut out = Vec::new();
        p.push(
            Input::TfStatic(TfMessage {
                transforms: vec![tf("map", "odom"), tf("base_link", "cam")],
            }),
            &mut out,
        );
        p.push(
            Input::Tf(TfMessage {
                transforms: vec![tf("odom", "base_link")],
            }),
            &mut out,
        );
        p.push(
            Input::CameraInfo(Box::new(CameraInfo {
                header: header("cam"),
                width: 1280,
                height: 480,
                k: F64Array([600.0, 0.0, 640.0, 0.0, 600.0, 240.0, 0.0, 0.0, 1.0]),
                ..CameraInfo::default()
            })),
            &mut out,
        );
        p.push(
            Input::DepthImage(Image {
                header: header("cam"),
                width: 1280,
                height: 480,
                encoding: "32FC1".into(),
                step: 1280 * 4,
                data: 2.0f32.to_le_bytes().repeat(1280 * 480),
                ..Image::default()
            }),
            &mut out,
        );
        p.push(
            Input::Detections2D(to_detection2d_array(&boxes, &header("cam"))),
            &mut out,
        );
        let [Output::Keyframe(k)] = out.as_slice() else {
            panic!("{out:?}")
        };
        let mug = k
            .observation
            .detections
            .iter()
            .find(|d| d.label == "mug")
            .unwrap();
        // (400 - 640) / 600 * 2 m = -0.8 m; (240 - 240) / 600 * 2 = 0; z = 2 m.
        assert!((mug.position_m - nalgebra::Point3::new(-0.8, 0.0, 2.0)).norm() < 1e-9);
        assert_eq!(k.observation.detections.len(), 3);
    }
}

mod ocr {
    use super::*;
    use mnemo::perception::ocr::Ocr;
    use mnemo::ros::pipeline::ColorImage;

    fn photo(name: &str) -> ColorImage {
        let p = root().join("tests/data/skimage").join(name);
        let img = image::open(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (run bash .ci/setup)", p.display()))
            .to_rgb8();
        ColorImage {
            stamp_ns: 0,
            width_px: img.width(),
            height_px: img.height(),
            rgb: img.into_raw(),
        }
    }

    #[test]
    fn reads_the_words_on_a_real_page() {
        let mut ocr = Ocr::open_dir(&models(), &runtime()).unwrap();
        let lines = ocr.read(&photo("page.png")).unwrap();
        let all: String = lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join(" | ");
        eprintln!("page.png: {all}");
        for word in [
            "Region-based",
            "segmentation",
            "markers",
            "coins",
            "background",
            "histogram",
        ] {
            assert!(all.contains(word), "{word:?} not read in {all:?}");
        }
        // The title is read as one line, at the top of the page.
        let title = lines
            .iter()
            .find(|l| l.text.contains("segmentation"))
            .unwrap();
        assert!(title.cy_px < 40.0, "{title:?}");
    }

    #[test]
    fn text_read_on_keyframes_becomes_objects_you_can_ask_for() {
        use mnemo::core::{DepthImage, LexicalEmbedder};
        use mnemo::perception::ocr::{text_detections, TEXT_LABEL};
        use mnemo::perception::worker::{apply_result, KeyframeJob, PerceptionWorker};
        let mut ocr = Ocr::open_dir(&models(), &runtime()).unwrap();
        let page = photo("page.png");
        let lines = ocr.read(&page).unwrap();
        // The page 1.5 m in front of a camera that sees it whole.
        let camera = PinholeCamera {
            width_px: page.width_px,
            height_px: page.height_px,
            fx_px: 400.0,
            fy_px: 400.0,
            cx_px: f64::from(page.width_px) / 2.0,
            cy_px: f64::from(page.height_px) / 2.0,
            min_depth_m: 0.3,
            max_depth_m: 5.0,
        };
        let depth = DepthImage {
            width_px: page.width_px,
            height_px: page.height_px,
            depth_m: vec![1.5; (page.width_px * page.height_px) as usize],
        };
        let dets = text_detections(&lines, &camera, &depth);
        assert_eq!(dets.len(), lines.len());
        let title = dets
            .iter()
            .find(|d| {
                d.text
                    .as_deref()
                    .is_some_and(|t| t.contains("segmentation"))
            })
            .unwrap();
        // The title sits near the top: above the optical axis (negative y), 1.5 m away.
        assert!((title.position_m.z - 1.5).abs() < 1e-9 && title.position_m.y < -0.1);
        // Through the keyframe path: OCR as a keyframe model on the worker, its text entering
        // the memory as sightings of each keyframe's view (plain keyframes go in first).
        let mut m = Memory::new(
            MemoryConfig::default(),
            Box::new(LexicalEmbedder::default()),
        )
        .unwrap();
        let worker = PerceptionWorker::spawn_models(vec![Box::new(ocr)], 4);
        for k in 0..3 {
            let view = Observation {
                stamp_ns: 1_000_000_000 * (k + 1),
                world_from_body: Isometry3::identity(),
                world_from_camera: Isometry3::identity(),
                camera,
                detections: Vec::new(),
                caption: None,
                depth: Some(depth.clone()),
            };
            m.ingest(&view).unwrap();
            worker.submit(KeyframeJob {
                stamp_ns: view.stamp_ns,
                world_from_body: view.world_from_body,
                image: page.clone(),
                view: Some(view),
            });
        }
        let done = worker.finish(std::time::Duration::from_secs(120));
        assert_eq!(done.len(), 3);
        for r in done {
            assert_eq!(
                r.sightings.as_ref().map(|s| s.detections.len()),
                Some(lines.len())
            );
            let (changed, errors) = apply_result(&mut m, r);
            assert!(changed && errors.is_empty(), "{errors:?}");
        }
        let Answer::Objects(hits) = m
            .query(&Query::Where {
                target: Target::Text("segmentation".into()),
                k: 3,
                at_ns: None,
            })
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(hits[0].label, TEXT_LABEL, "{hits:?}");
        assert!(
            hits[0]
                .text
                .as_deref()
                .is_some_and(|t| t.contains("segmentation")),
            "{hits:?}"
        );
        assert!((hits[0].position_world[2] - 1.5).abs() < 0.05);
    }
}

pub(crate) mod captioner {
    use super::*;
    use mnemo::perception::captioner::OnnxCaptioner;
    use mnemo::perception::worker::Captioner;
    use mnemo::ros::pipeline::ColorImage;

    /// The tiny handcrafted model (tests/interop/tiny_captioner.py) in the optimum layout.
    pub fn tiny_model(dir: &Path) -> PathBuf {
        let out = dir.join("tiny_captioner");
        let st = Command::new(root().join(".venv/bin/python"))
            .arg(root().join("tests/interop/tiny_captioner.py"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        out
    }

    /// A `w`x`h` image: a uniform colour with a contrasting border strip (so the resize
    /// actually averages).
    pub fn image(w: u32, h: u32, fill: u8) -> ColorImage {
        let mut rgb = vec![fill; (3 * w * h) as usize];
        for y in 0..h {
            for c in 0..3 {
                rgb[((y * w) * 3 + c) as usize] = 255 - fill;
            }
        }
        ColorImage {
            stamp_ns: 0,
            width_px: w,
            height_px: h,
            rgb,
        }
    }

    #[test]
    fn greedy_decoding_with_the_kv_cache_gives_the_known_captions() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = OnnxCaptioner::open_dir(&tiny_model(dir.path()), &runtime()).unwrap();
        assert_eq!(c.provider(), Provider::Cpu);
        assert_eq!(
            c.generation().max_new_tokens,
            15,
            "max_length 16 less the start"
        );
        // The model picks its sentence from the normalised image's mean and each next word
        // from the running count in both layers' value caches.
        assert_eq!(
            c.caption(&image(640, 480, 230)).unwrap(),
            "a bright kitchen with white cupboards"
        );
        assert_eq!(
            c.caption(&image(33, 17, 20)).unwrap(),
            "a dark hallway at night"
        );
        // The token budget cuts the caption.
        c.set_max_new_tokens(3);
        assert_eq!(c.caption(&image(64, 64, 230)).unwrap(), "a bright kitchen");
        // A broken image is an error naming the model, not a panic.
        let mut broken = image(4, 4, 1);
        broken.rgb.pop();
        let e = c.caption(&broken).unwrap_err().to_string();
        assert!(
            e.contains("tiny_captioner") && e.contains("not RGB8"),
            "{e}"
        );
    }

    #[test]
    fn bad_model_directories_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_model(dir.path());
        let err = |d: &Path| {
            OnnxCaptioner::open_dir(d, &runtime())
                .unwrap_err()
                .to_string()
        };
        // Not a directory.
        let e = err(&dir.path().join("nothing"));
        assert!(
            e.contains("nothing") && e.contains("not a directory"),
            "{e}"
        );
        // A missing decoder is named.
        let copy = |name: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            for f in std::fs::read_dir(&model).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
            }
            d
        };
        let d = copy("no_decoder");
        std::fs::remove_file(d.join("decoder_model_merged.onnx")).unwrap();
        let e = err(&d);
        assert!(
            e.contains("decoder_model_merged.onnx") && e.contains("not found"),
            "{e}"
        );
        // A corrupt tokenizer.json is named.
        let d = copy("bad_tokenizer");
        std::fs::write(d.join("tokenizer.json"), "{ not json").unwrap();
        let e = err(&d);
        assert!(e.contains("tokenizer.json"), "{e}");
        // No EOS anywhere.
        let d = copy("no_eos");
        std::fs::write(
            d.join("generation_config.json"),
            r#"{"decoder_start_token_id": 0}"#,
        )
        .unwrap();
        std::fs::write(d.join("config.json"), r#"{"decoder": {"n_head": 1}}"#).unwrap();
        let e = err(&d);
        assert!(e.contains("eos_token_id"), "{e}");
        // A decoder that is not a decoder (the sentence model): its signature is in the error.
        let d = copy("not_a_decoder");
        std::fs::copy(
            models().join("minilm.onnx"),
            d.join("decoder_model_merged.onnx"),
        )
        .unwrap();
        let e = err(&d);
        assert!(
            e.contains("decoder_model_merged.onnx") && e.contains("encoder_hidden_states"),
            "{e}"
        );
        // The encoder in the decoder's place: no logits, no past.
        let d = copy("encoder_twice");
        std::fs::copy(
            d.join("encoder_model.onnx"),
            d.join("decoder_model_merged.onnx"),
        )
        .unwrap();
        let e = err(&d);
        assert!(e.contains("input_ids"), "{e}");
    }
}

mod replay_models {
    use crate::common::mnemo_json as mnemo;

    /// `mnemo replay --captioner --detector`: every keyframe goes through both models (offline
    /// nothing is dropped), captions become episodes at their keyframes, the run is
    /// deterministic.
    #[test]
    fn replay_runs_the_captioner_and_detector_on_every_keyframe() {
        let dir = tempfile::tempdir().unwrap();
        let (bag, _) =
            crate::replay::bag(dir.path(), &crate::replay::sim(3), &["--max-seconds", "60"]);
        let cap = super::captioner::tiny_model(dir.path());
        let yolo = super::yolo::tiny_model(dir.path());
        let run = |db: &str| {
            let db = dir.path().join(db);
            let v = mnemo(&[
                "replay".as_ref(),
                bag.as_os_str(),
                "--db".as_ref(),
                db.as_os_str(),
                "--captioner".as_ref(),
                cap.as_os_str(),
                "--detector".as_ref(),
                yolo.as_os_str(),
                "--json".as_ref(),
            ]);
            (v, db)
        };
        let (v, db) = run("a.db");
        let p = &v["perception"];
        let keyframes = v["keyframes"].as_u64().unwrap();
        assert!(keyframes >= 5, "{v}");
        assert_eq!(p["keyframes"].as_u64(), Some(keyframes), "{p}");
        assert_eq!(p["captions"].as_u64(), Some(keyframes), "{p}");
        assert_eq!(p["errors"].as_u64(), Some(0), "{p}");
        assert!(
            p["models"].as_str().unwrap().contains("tiny_yolo.onnx"),
            "{p}"
        );
        // The captions are the tiny model's sentences, recalled at keyframe times.
        let recall = mnemo(&[
            "query".as_ref(),
            "recall".as_ref(),
            "--db".as_ref(),
            db.as_os_str(),
            "--k".as_ref(),
            "1000".as_ref(),
            "--json".as_ref(),
        ]);
        let episodes = recall.as_array().unwrap();
        assert_eq!(episodes.len() as u64, keyframes, "{recall}");
        for e in episodes {
            let c = e["caption"].as_str().unwrap();
            assert!(
                c == "a bright kitchen with white cupboards" || c == "a dark hallway at night",
                "{e}"
            );
        }
        // Same bag, same models: the same memory.
        let (again, _) = run("b.db");
        assert_eq!(v["digest"], again["digest"]);
    }
}

mod node_models {
    use super::*;
    use mnemo::ros::node::NodeCore;
    use mnemo::ros::params::{NodeConfig, ParamValue};
    use std::collections::BTreeMap;

    /// The node opens the models its parameters name and says which provider runs each.
    #[test]
    fn the_node_opens_its_keyframe_models_and_names_the_provider() {
        let dir = tempfile::tempdir().unwrap();
        let cap = super::captioner::tiny_model(dir.path());
        let yolo = super::yolo::tiny_model(dir.path());
        let s = |p: &Path| ParamValue::String(p.display().to_string());
        let mut p = BTreeMap::new();
        p.insert("captioning.enabled".to_string(), ParamValue::Bool(true));
        p.insert("captioning.model_dir".to_string(), s(&cap));
        p.insert(
            "captioning.max_new_tokens".to_string(),
            ParamValue::Integer(3),
        );
        p.insert("detector.model".to_string(), s(&yolo));
        p.insert("ocr.model_dir".to_string(), s(&models()));
        let mut config = NodeConfig::from_params(&p).unwrap();
        config.runtime.library = Some(ort_library());
        config.runtime.providers = vec![Provider::Cuda, Provider::Cpu];
        let mut core = NodeCore::new(config, "/mnemo");
        core.open_models();
        let logs: Vec<String> = core.take_logs().into_iter().map(|l| l.text).collect();
        let has = |want: &str| logs.iter().any(|l| l.contains(want));
        assert!(has("tiny_captioner on cpu (at most 3 tokens)"), "{logs:?}");
        assert!(has("tiny_yolo.onnx on cpu (3 classes)"), "{logs:?}");
        assert!(
            has(&format!("ocr {} on cpu", models().display())),
            "{logs:?}"
        );
        assert!(
            !logs.iter().any(|l| l.contains("running without")),
            "{logs:?}"
        );
        assert!(has("keyframe perception with"), "{logs:?}");
    }
}
