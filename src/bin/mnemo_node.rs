//! `mnemo_node`: Mnemo as a ROS 2 node (what `ros2 launch mnemo mnemo.launch.py` starts).
//!
//! Reads `--ros-args` (parameters, params files, remaps, node name and namespace), validates
//! them into a `NodeConfig` (a bad value stops it here, naming the parameter), then runs the
//! DDS node until SIGINT/SIGTERM or a lifecycle `shutdown`.

// No unwrap()/expect() outside tests: input never reaches a panic (bad input is a typed error).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use mnemo::ros::dds;
use mnemo::ros::params::{NodeConfig, RosArgs};

const USAGE: &str = "usage: mnemo_node [--ros-args [-p NAME:=VALUE] [--params-file FILE] \
[-r FROM:=TO] [-r __node:=NAME] [-r __ns:=/NS] [--log-level LEVEL] [--]]\n\
Parameters are listed, with defaults, in launch/params/mnemo.yaml.";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match RosArgs::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("[FATAL] mnemo_node: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.other.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if let Some(extra) = args.other.first() {
        eprintln!("[FATAL] mnemo_node: unexpected argument {extra:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    let config = match NodeConfig::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[FATAL] mnemo_node: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("[FATAL] mnemo_node: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dds::run(config, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[FATAL] mnemo_node: {e}");
            ExitCode::FAILURE
        }
    }
}
