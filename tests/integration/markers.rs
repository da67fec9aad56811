//! Standard messages the node publishes, decoded by the independent `rosbags` package (Humble
//! and Jazzy layouts): RViz markers (`~/markers`) built from a simulated memory, one box and
//! one label per object coloured by state, `/diagnostics`, and lifecycle transition events
//! (issue 5; needs `bash .ci/setup`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use mnemo::core::{LexicalEmbedder, Memory};
use mnemo::ros::diagnostics::{diagnostics, DiagnosticArray, Snapshot};
use mnemo::ros::lifecycle::{CallbackResult, Lifecycle, Transition, TransitionEvent};
use mnemo::ros::msg::{encode, Marker, MarkerArray, RosMessage};
use mnemo::sim::{memory_config, simulate, SimConfig};
use mnemo::store::StoreStatus;
use mnemo::viz::markers::markers;
use mnemo::viz::state_rgb;

use crate::replay::python;

fn decode_with_rosbags<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    type_name: &str,
    distro: &str,
) -> T {
    let mut child = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/rosbags_decode.py"))
        .args([type_name, "--distro", distro])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(hex.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rosbags_decode.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn markers_decode_with_rosbags_and_show_every_object() {
    let mut m = Memory::new(memory_config(), Box::new(LexicalEmbedder::default())).unwrap();
    let cfg = SimConfig {
        days: 1,
        seed: 2,
        ..SimConfig::default()
    };
    simulate(&cfg, |o| {
        let _ = m.ingest(o);
    })
    .unwrap();
    let array = markers(&m, 1_767_276_000_123_456_789, "map");
    let objects: Vec<_> = m.objects().iter().filter(|o| o.is_reportable()).collect();
    assert!(!objects.is_empty() && !m.relations().is_empty());
    // DELETEALL first, then a box and a label per object, the relations, the places.
    assert_eq!(array.markers[0].action, Marker::DELETEALL);
    assert_eq!(array.markers.len(), 1 + 2 * objects.len() + 2);
    let of_ns =
        |ns: &str| -> Vec<&Marker> { array.markers.iter().filter(|k| k.ns == ns).collect() };
    let boxes = of_ns("objects");
    assert_eq!(boxes.len(), objects.len());
    for (b, o) in boxes.iter().zip(&objects) {
        assert_eq!(b.id, o.id.0 as i32);
        assert_eq!(b.kind, Marker::CUBE);
        assert_eq!(b.pose.position.x, o.position_world.x);
        let [r, g, _] = state_rgb(o.state);
        assert_eq!(
            (b.color.r, b.color.g),
            (f32::from(r) / 255.0, f32::from(g) / 255.0)
        );
    }
    let labels = of_ns("labels");
    assert!(labels
        .iter()
        .zip(&objects)
        .all(|(l, o)| l.text == format!("{} #{}", o.label, o.id.0)));
    let relations = of_ns("relations");
    assert_eq!(relations[0].points.len(), 2 * m.relations().len());
    assert_eq!(of_ns("places")[0].points.len(), m.places().len());
    assert!(array
        .markers
        .iter()
        .all(|k| k.header.frame_id == "map" && k.header.stamp.nanosec == 123_456_789));
    // The bytes mean the same to rosbags, in both distributions' layouts.
    let bytes = encode(&array).unwrap();
    for distro in ["humble", "jazzy"] {
        let back: MarkerArray = decode_with_rosbags(&bytes, MarkerArray::TYPE_NAME, distro);
        assert_eq!(back, array, "{distro}");
    }
}

#[test]
fn diagnostics_decode_with_rosbags() {
    let before = Snapshot::default();
    let now = Snapshot {
        stamp_ns: 2_000_000_000,
        messages: 30,
        objects: 4,
        events: 9,
        ..Snapshot::default()
    };
    let store = StoreStatus {
        path: Some("/tmp/m.db".into()),
        ..StoreStatus::default()
    };
    let d = diagnostics("/mnemo", &before, &now, Some(&store), 5.0);
    let bytes = encode(&d).unwrap();
    for distro in ["humble", "jazzy"] {
        let back: DiagnosticArray = decode_with_rosbags(&bytes, DiagnosticArray::TYPE_NAME, distro);
        assert_eq!(back, d, "{distro}");
    }
}

#[test]
fn lifecycle_transition_events_decode_with_rosbags() {
    let mut lc = Lifecycle::default();
    let configure = Transition {
        id: 1,
        label: String::new(),
    };
    let events = lc
        .change(&configure, 1_767_276_000_000_000_001, |_| {
            CallbackResult::Success
        })
        .unwrap();
    for e in &events {
        let bytes = encode(e).unwrap();
        for distro in ["humble", "jazzy"] {
            let back: TransitionEvent =
                decode_with_rosbags(&bytes, TransitionEvent::TYPE_NAME, distro);
            assert_eq!(&back, e, "{distro}");
        }
    }
}
