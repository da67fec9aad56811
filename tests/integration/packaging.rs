//! Packaging (issue 5): every shipped params file parses into `NodeConfig` (and the documented
//! one states exactly the defaults), the launch files declare the documented arguments and
//! start the node the package installs, and the package manifests agree with Cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

use mnemo::ros::params::{NodeConfig, RosArgs};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_yaml() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("launch/params"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

fn config_from_file(file: &Path, ns: &str) -> NodeConfig {
    let args: Vec<String> = [
        "--ros-args",
        "--params-file",
        file.to_str().unwrap(),
        "-r",
        &format!("__ns:={ns}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args = RosArgs::parse(&args).unwrap();
    NodeConfig::from_args(&args).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn every_shipped_params_file_parses_into_node_config() {
    let files = shipped_yaml();
    assert!(!files.is_empty());
    for f in &files {
        for ns in ["/", "/robot1"] {
            let c = config_from_file(f, ns);
            assert!(
                c.unknown.is_empty(),
                "{}: unknown keys {:?}",
                f.display(),
                c.unknown
            );
        }
    }
    // The documented file states every default: loading it changes nothing.
    let documented = config_from_file(&root().join("launch/params/mnemo.yaml"), "/");
    let defaults = NodeConfig::from_params(&Default::default()).unwrap();
    assert_eq!(documented, defaults);
    // ...and names exactly the parameters the node declares (what `ros2 param list` shows).
    let file = root().join("launch/params/mnemo.yaml");
    let args = RosArgs::parse(&[
        "--ros-args".to_string(),
        "--params-file".to_string(),
        file.display().to_string(),
    ])
    .unwrap();
    let in_file: Vec<String> = args.parameters("/mnemo").unwrap().into_keys().collect();
    let declared: Vec<String> = defaults.effective.keys().cloned().collect();
    assert_eq!(in_file, declared);
}

#[test]
fn launch_files_declare_the_documented_arguments() {
    let out = Command::new("python3")
        .arg(root().join("tests/interop/check_launch.py"))
        .arg(root().join("launch"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = [
        "namespace",
        "params_file",
        "use_sim_time",
        "db_path",
        "rerun",
    ];
    for kind in ["py", "xml"] {
        let args: Vec<&str> = v[kind]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args, want, "{kind}");
        assert_eq!(v[kind]["name"], NodeConfig::DEFAULT_NAME, "{kind}");
    }
    assert_eq!(v["py"]["executable"], "mnemo_node");
    assert_eq!(v["xml"]["exec"], "mnemo_node");
    assert_eq!(v["py"]["package"], "mnemo");
    assert_eq!(v["xml"]["pkg"], "mnemo");
}

/// The text of the first `<tag>` element in an XML file.
fn xml_tag(text: &str, tag: &str) -> String {
    let start = text.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>")).unwrap() + start;
    text[start..end].trim().to_string()
}

#[test]
fn package_manifests_agree_with_cargo() {
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let pkg = std::fs::read_to_string(root().join("package.xml")).unwrap();
    let msgs = std::fs::read_to_string(root().join("msg/package.xml")).unwrap();
    assert_eq!(xml_tag(&pkg, "name"), env!("CARGO_PKG_NAME"));
    assert_eq!(xml_tag(&pkg, "version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(xml_tag(&pkg, "build_type"), "ament_cargo");
    assert!(pkg.contains("<package format=\"3\">"));
    assert!(pkg.contains("<exec_depend>mnemo_msgs</exec_depend>"));
    assert_eq!(xml_tag(&msgs, "name"), "mnemo_msgs");
    assert_eq!(xml_tag(&msgs, "version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(xml_tag(&msgs, "build_type"), "ament_cmake");
    // cargo-ament-build installs the launch files (and params) into share/mnemo.
    assert!(
        cargo.contains("[package.metadata.ros]")
            && cargo.contains("install_to_share = [\"launch\"]"),
        "Cargo.toml lacks [package.metadata.ros] install_to_share"
    );
}

/// Top-level keys of a flow mapping (`{a: 1, b: {c: 2}}` -> a, b).
fn flow_keys(yaml: &str) -> Vec<String> {
    let inner = yaml.trim().trim_start_matches('{').trim_end_matches('}');
    let (mut depth, mut keys, mut current) = (0, Vec::new(), String::new());
    for ch in inner.chars().chain([',']) {
        match ch {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                if let Some((k, _)) = current.split_once(':') {
                    keys.push(k.trim().to_string());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        if depth == 0 || ch != ',' {
            current.push(ch);
        }
    }
    keys
}

/// Field names of a service's request part (`msg/srv/NAME.srv`).
fn request_fields(service: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(format!("msg/srv/{service}.srv")))
        .unwrap_or_else(|e| panic!("msg/srv/{service}.srv: {e}"));
    let request = text.split("\n---\n").next().unwrap();
    request
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty() && !l.contains('='))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn readme_service_examples_name_real_request_fields() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut checked = 0;
    for line in readme.lines() {
        // `ros2 service call NAME mnemo_msgs/srv/SRV "{...}"`
        if let Some(rest) = line.trim().strip_prefix("ros2 service call ") {
            let mut parts = rest.splitn(3, ' ');
            let (_, ty, yaml) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
            let service = ty.strip_prefix("mnemo_msgs/srv/").unwrap();
            let fields = request_fields(service);
            for key in flow_keys(yaml.trim_matches('"')) {
                assert!(fields.contains(&key), "{line}: {key} is not in {fields:?}");
            }
            checked += 1;
        }
        // rclpy: `SRV.Request(a=..., b=...)`
        if let Some(at) = line.find(".Request(") {
            let service = line[..at].rsplit(['(', ' ']).next().unwrap();
            let args = &line[at + ".Request(".len()..line[at..].find(')').unwrap() + at];
            let fields = request_fields(service);
            for key in args
                .split(',')
                .filter_map(|a| a.split_once('='))
                .map(|(k, _)| k.trim())
            {
                assert!(
                    fields.iter().any(|f| f == key),
                    "{line}: {key} is not in {fields:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "{checked} examples found");
    // The checker itself: a misspelt field is caught.
    assert_eq!(
        flow_keys("{point: {x: 1, y: 2}, radius: 1.0}"),
        ["point", "radius"]
    );
    assert!(!request_fields("Changes").contains(&"window".to_string()));
    assert!(request_fields("Changes").contains(&"window_start".to_string()));
}
