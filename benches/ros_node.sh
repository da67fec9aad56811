#!/usr/bin/env bash
# The node's ROS 2 figures (issue 5), from an independent Eclipse Cyclone DDS peer over
# loopback inside a private network namespace (tests/interop/cyclone_peer.py):
#   1. ~/where round trip, 1,000 calls (targets p50 <= 1 ms, p99 <= 5 ms);
#   2. 640x480 RGB + 16UC1 depth at 15 Hz with camera_info, tf, odometry and detections,
#      raw then jpeg-compressed colour, 60 s each: messages sent vs received by the node, its
#      input-queue drops and CPU (target: no backlog, <= 0.5 core without models).
# Needs `bash .ci/setup` and `unshare -n` (root or user namespaces). Usage:
#   bash benches/ros_node.sh [SECONDS_PER_RGBD_PHASE]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cargo build --release --bin mnemo_node
node=target/release/mnemo_node
echo "== ~/where round trip (Cyclone client, 1000 calls)"
unshare -n .venv/bin/python tests/interop/cyclone_peer.py bench --netns --node "$node" --calls 1000
echo "== RGB-D input at 15 Hz, ${seconds} s per phase"
unshare -n .venv/bin/python tests/interop/cyclone_peer.py rgbd --netns --node "$node" --seconds "$seconds"
