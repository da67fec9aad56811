#!/usr/bin/env bash
# Replay speed (issue 4 targets), printed as realtime_factor = bag duration / wall time of
# `mnemo replay` (real time is the baseline). Records two dense bags with the independent
# `rosbags` package from one simulated patrol, with camera, odometry and detections at 15 Hz:
#   no_images  tf, odom, camera_info, Detection3DArray            (--max-seconds, default 600)
#   rgbd       the same plus 640x480 rgb8 and 16UC1 depth images  (--rgbd-seconds, default 60)
# and replays each without and with the Rerun sink (save to an .rrd).
# Usage: benches/replay_speed.sh [--max-seconds S] [--rgbd-seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
max_s=600
rgbd_s=60
while [ $# -gt 0 ]; do
    case "$1" in
        --max-seconds) max_s=$2; shift 2 ;;
        --rgbd-seconds) rgbd_s=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
bash .ci/setup > /dev/null
cargo build --release --quiet
out=target/bench-replay
rm -rf "$out" && mkdir -p "$out"
./target/release/mnemo export-sim --seed 1 --days 1 --out "$out/world.jsonl"
py=.venv/bin/python
$py tests/interop/sim_to_bag.py "$out/world.jsonl" "$out/no_images" --rate-hz 15 --no-images \
    --max-seconds "$max_s" > /dev/null
$py tests/interop/sim_to_bag.py "$out/world.jsonl" "$out/rgbd" --rate-hz 15 --image-size 640x480 \
    --depth-encoding 16UC1 --max-seconds "$rgbd_s" > /dev/null
printf '%-10s %-6s %9s %9s %10s %8s %16s\n' bag rerun messages keyframes bag_s wall_s realtime_factor
for bag in no_images rgbd; do
    for viz in off save; do
        rerun_arg=off
        [ "$viz" = save ] && rerun_arg="save=$out/$bag.rrd"
        ./target/release/mnemo replay "$out/$bag" --rerun "$rerun_arg" --json > "$out/$bag.$viz.json"
        $py - "$out/$bag.$viz.json" "$bag" "$viz" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<10} {sys.argv[3]:<6} {s['messages']:>9} {s['keyframes']:>9} "
      f"{s['bag_duration_s']:>10.1f} {s['wall_s']:>8.2f} {s['realtime_factor']:>16.1f}")
PY
    done
done
du -sh "$out/no_images" "$out/rgbd" | sed 's/^/bag size: /'
