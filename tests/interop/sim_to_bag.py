#!/usr/bin/env python3
"""Write a rosbag2 MCAP bag from `mnemo export-sim` JSON lines, with the independent `rosbags`
package (not our code), the way a robot would record it:

  /tf_static  base_link -> camera_link -> camera_color_optical_frame (from the simulator's
              body_from_camera), and map -> odom (a fixed offset, so the chain is exercised)
  /tf         odom -> base_link at every keyframe and halfway between keyframes
  /odom       nav_msgs/Odometry (odom -> base_link)
  /camera/color/camera_info, /camera/color/image_raw (rgb8), /camera/depth/image_raw (32FC1),
  /detections vision_msgs/Detection3DArray in the camera optical frame (or map for world-frame
              detections), or with --detections-2d a Detection2DArray of projected boxes.

For replay-speed benches a bag can be made denser than the simulator's keyframes:
  --rate-hz R         camera, odometry and detections at R Hz: poses interpolated between
                      keyframes of one patrol (gaps up to 1.5 keyframe periods), each keyframe's
                      detections re-expressed in the interpolated camera frame, its rendering
                      reused
  --image-size WxH    images upscaled (nearest pixel) to W x H, e.g. 640x480
  --depth-encoding E  32FC1 (metres, default) or 16UC1 (millimetres, 0 = no reading)
  --max-seconds S     only the first S seconds after the first keyframe

  --compressed-png    the colour image as sensor_msgs/CompressedImage (lossless png, format
                      "rgb8; png compressed rgb8") on image_transport's topic
                      /camera/color/image_raw/compressed instead of a raw Image

For appearance from the colour image (the node's `appearance.enabled`, replay's --appearance):
  --paint-objects     every true detection's box (its map-aligned box projected into the
                      image) is painted in its object's colour, made from the object's mean
                      appearance embedding (identical twins share a colour, one class's
                      instances look alike), under a per-sighting brightness of 0.8-1.2,
                      shaded top to bottom with some pixel noise:
                      furniture first, then small objects far to near, so nearer objects cover
                      farther ones. False positives paint nothing (nothing is there).

Usage: sim_to_bag.py EXPORT.jsonl OUT_BAG_DIR [--distro jazzy|humble] [--detections-2d]
       [--no-images] [--rate-hz R] [--image-size WxH] [--depth-encoding E] [--max-seconds S]
       [--paint-objects]
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

# vision_msgs 4.x (Humble / Jazzy); rosbags' stores do not ship them.
VISION_MSGS = {
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/BoundingBox3D": "geometry_msgs/Pose center\ngeometry_msgs/Vector3 size\n",
    "vision_msgs/msg/Detection3D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox3D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection3DArray": "std_msgs/Header header\nvision_msgs/Detection3D[] detections\n",
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}

MAP_FROM_ODOM = [1.5, -0.5, 0.0, 0.0, 0.0, math.sin(0.1), math.cos(0.1)]  # x y z qx qy qz qw


def qmul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return [
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ]


def qrot(q, v):
    x, y, z, w = q
    p = qmul(qmul(q, [v[0], v[1], v[2], 0.0]), [-x, -y, -z, w])
    return p[:3]


def compose(a, b):
    """a * b for poses [x y z qx qy qz qw]."""
    t = qrot(a[3:], b[:3])
    return [a[0] + t[0], a[1] + t[1], a[2] + t[2]] + qmul(a[3:], b[3:])


def inverse(a):
    qi = [-a[3], -a[4], -a[5], a[6]]
    t = qrot(qi, a[:3])
    return [-t[0], -t[1], -t[2]] + qi


def slerp_pose(a, b, s):
    t = [a[i] + (b[i] - a[i]) * s for i in range(3)]
    qa, qb = np.array(a[3:]), np.array(b[3:])
    if qa @ qb < 0:
        qb = -qb
    q = qa * (1 - s) + qb * s
    q = q / np.linalg.norm(q)
    return t + list(q)


def camera_detections_in(f, world_from_camera):
    """`f`'s camera-frame detections re-expressed in another camera pose (world ones as they are)."""
    camera_from_world = inverse(world_from_camera)
    out = []
    for det in f["detections"]:
        if det["frame"] == "camera":
            p_world = compose(f["world_from_camera"], list(det["position"]) + [0.0, 0.0, 0.0, 1.0])
            det = dict(det, position=compose(camera_from_world, p_world)[:3])
        out.append(det)
    return out


# Fixed projection of a 16-d appearance embedding to a colour.
PAINT_PROJECTION = np.random.default_rng(20261206).normal(size=(3, 16))


def source_colours(frames):
    """One colour per ground-truth object: its sightings' mean appearance embedding (the
    detector's noise averages out; identical twins share one), projected to RGB."""
    sums = {}
    for f in frames:
        for det in f["detections"]:
            if det.get("source") is not None and det.get("embedding") is not None:
                e = np.array(det["embedding"], dtype=np.float64)
                sums[det["source"]] = sums.get(det["source"], 0.0) + e
    return {src: 128.0 + 100.0 * np.tanh(PAINT_PROJECTION @ (v / np.linalg.norm(v)))
            for src, v in sums.items()}


def object_boxes(f, cam, w, h, colours, rng):
    """Each true detection's projected box in a W x H image, in painting order (furniture
    first, then small objects far to near): (x0, y0, x1, y1, depth of its centre, colour
    under a per-sighting brightness of 0.8-1.2, whether it is furniture)."""
    sx, sy = w / cam["width"], h / cam["height"]
    wc = f["world_from_camera"]
    cw = inverse(wc)
    boxes = []
    for det in f["detections"]:
        if det.get("source") not in colours:
            continue
        p = np.array(det["position"], dtype=np.float64)
        pw = p if det["frame"] == "world" else np.array(compose(wc, list(p) + [0, 0, 0, 1])[:3])
        half = np.array(det["extent"]) / 2.0
        us, vs = [], []
        for c in range(8):
            corner = pw + half * np.array([1 if c & 1 else -1, 1 if c & 2 else -1, 1 if c & 4 else -1])
            pc = compose(cw, list(corner) + [0, 0, 0, 1])[:3]
            if pc[2] < 0.05:
                break
            us.append(cam["fx"] * pc[0] / pc[2] + cam["cx"])
            vs.append(cam["fy"] * pc[1] / pc[2] + cam["cy"])
        else:
            z = compose(cw, list(pw) + [0, 0, 0, 1])[2]
            colour = np.clip(colours[det["source"]] * rng.uniform(0.8, 1.2), 0, 255)
            furniture = max(det["extent"]) > 0.45
            x0, y0 = max(0, int(round(min(us) * sx))), max(0, int(round(min(vs) * sy)))
            x1, y1 = min(w, int(round(max(us) * sx))), min(h, int(round(max(vs) * sy)))
            if x1 > x0 and y1 > y0:
                boxes.append((not furniture, -z, x0, y0, x1, y1, z, colour, furniture))
    boxes.sort(key=lambda b: (b[0], b[1]))
    return [b[2:] for b in boxes]


def png_rgb8(rgb):
    """A PNG file (8-bit RGB, no filtering) of an HxWx3 uint8 array, with zlib alone."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    h, w, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def densify(frames, rate_hz):
    """Frames at `rate_hz` between keyframes of one patrol (see the module docs)."""
    if rate_hz <= 0 or len(frames) < 2:
        return frames
    period = min(b["stamp_ns"] - a["stamp_ns"] for a, b in zip(frames, frames[1:]) if b["stamp_ns"] > a["stamp_ns"])
    step = int(round(1e9 / rate_hz))
    out = []
    for a, b in zip(frames, frames[1:]):
        out.append(a)
        gap = b["stamp_ns"] - a["stamp_ns"]
        if gap > 1.5 * period:
            continue
        t = a["stamp_ns"] + step
        while t < b["stamp_ns"] - step // 2:
            wb = slerp_pose(a["world_from_body"], b["world_from_body"], (t - a["stamp_ns"]) / gap)
            wc = compose(wb, a["body_from_camera"])
            out.append(dict(a, stamp_ns=t, world_from_body=wb, world_from_camera=wc,
                            detections=camera_detections_in(a, wc)))
            t += step
    out.append(frames[-1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("out")
    ap.add_argument("--distro", default="jazzy", choices=["jazzy", "humble"])
    ap.add_argument("--detections-2d", action="store_true")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--rate-hz", type=float, default=0.0)
    ap.add_argument("--image-size", default=None, help="WxH")
    ap.add_argument("--depth-encoding", default="32FC1", choices=["32FC1", "16UC1"])
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--paint-objects", action="store_true")
    ap.add_argument("--compressed-png", action="store_true")
    args = ap.parse_args()
    size = None
    if args.image_size:
        try:
            size = tuple(int(v) for v in args.image_size.lower().split("x"))
            assert len(size) == 2 and min(size) > 0
        except (ValueError, AssertionError):
            sys.exit(f"--image-size {args.image_size!r}: expected WxH, e.g. 640x480")

    store = get_typestore(Stores.ROS2_JAZZY if args.distro == "jazzy" else Stores.ROS2_HUMBLE)
    types = {}
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    T = store.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    Vec3, Quat = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    Point, Pose = T["geometry_msgs/msg/Point"], T["geometry_msgs/msg/Pose"]
    PoseCov, Twist = T["geometry_msgs/msg/PoseWithCovariance"], T["geometry_msgs/msg/Twist"]
    TwistCov = T["geometry_msgs/msg/TwistWithCovariance"]
    Transform, TfStamped = T["geometry_msgs/msg/Transform"], T["geometry_msgs/msg/TransformStamped"]
    TFMessage, Odometry = T["tf2_msgs/msg/TFMessage"], T["nav_msgs/msg/Odometry"]
    CameraInfo, Image = T["sensor_msgs/msg/CameraInfo"], T["sensor_msgs/msg/Image"]
    CompressedImage = T["sensor_msgs/msg/CompressedImage"]
    Roi = T["sensor_msgs/msg/RegionOfInterest"]
    Hyp, HypPose = T["vision_msgs/msg/ObjectHypothesis"], T["vision_msgs/msg/ObjectHypothesisWithPose"]
    Box3, Det3, Det3Arr = (T["vision_msgs/msg/BoundingBox3D"], T["vision_msgs/msg/Detection3D"],
                           T["vision_msgs/msg/Detection3DArray"])
    P2, Pose2, Box2 = T["vision_msgs/msg/Point2D"], T["vision_msgs/msg/Pose2D"], T["vision_msgs/msg/BoundingBox2D"]
    Det2, Det2Arr = T["vision_msgs/msg/Detection2D"], T["vision_msgs/msg/Detection2DArray"]

    def stamp(ns):
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def header(ns, frame):
        return Header(stamp=stamp(ns), frame_id=frame)

    def transform(p):
        return Transform(translation=Vec3(x=p[0], y=p[1], z=p[2]),
                         rotation=Quat(x=p[3], y=p[4], z=p[5], w=p[6]))

    def pose_msg(p):
        return Pose(position=Point(x=p[0], y=p[1], z=p[2]),
                    orientation=Quat(x=p[3], y=p[4], z=p[5], w=p[6]))

    def tfs(ns, parent, child, p):
        return TfStamped(header=header(ns, parent), child_frame_id=child, transform=transform(p))

    cov = np.zeros(36, dtype=np.float64)
    frames = [json.loads(l) for l in Path(args.export).read_text().splitlines() if l.strip()]
    if not frames:
        sys.exit("no keyframes in the export")
    frames = densify(frames, args.rate_hz)
    colours = source_colours(frames) if args.paint_objects else {}
    paint_rng = np.random.default_rng(7)
    if args.max_seconds is not None:
        end = frames[0]["stamp_ns"] + int(args.max_seconds * 1e9)
        frames = [f for f in frames if f["stamp_ns"] <= end]
    odom_from_map = inverse(MAP_FROM_ODOM)
    out = Path(args.out)
    with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        def conn(topic, typ):
            return w.add_connection(topic, typ, typestore=store)
        c_tf_static = conn("/tf_static", "tf2_msgs/msg/TFMessage")
        c_tf = conn("/tf", "tf2_msgs/msg/TFMessage")
        c_odom = conn("/odom", "nav_msgs/msg/Odometry")
        c_info = conn("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo")
        if args.no_images:
            c_rgb = None
        elif args.compressed_png:
            c_rgb = conn("/camera/color/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
        else:
            c_rgb = conn("/camera/color/image_raw", "sensor_msgs/msg/Image")
        c_depth = None if args.no_images and not args.detections_2d else conn("/camera/depth/image_raw", "sensor_msgs/msg/Image")
        det_type = "vision_msgs/msg/Detection2DArray" if args.detections_2d else "vision_msgs/msg/Detection3DArray"
        c_det = conn("/detections", det_type)

        def write(c, ns, msg, typ):
            w.write(c, ns, store.serialize_cdr(msg, typ))

        f0 = frames[0]
        body_from_camera = f0["body_from_camera"]
        # base_link -> camera_link (translation) -> optical frame (rotation).
        body_from_link = body_from_camera[:3] + [0.0, 0.0, 0.0, 1.0]
        link_from_optical = [0.0, 0.0, 0.0] + body_from_camera[3:]
        t0 = f0["stamp_ns"] - 100_000_000
        write(c_tf_static, t0, TFMessage(transforms=[
            tfs(t0, "base_link", "camera_link", body_from_link),
            tfs(t0, "camera_link", "camera_color_optical_frame", link_from_optical),
            tfs(t0, "map", "odom", MAP_FROM_ODOM),
        ]), "tf2_msgs/msg/TFMessage")
        prev = None
        for f in frames:
            ns = f["stamp_ns"]
            wb = f["world_from_body"]
            odom_from_body = compose(odom_from_map, wb)
            # TF halfway to this keyframe from the last one, then at the keyframe itself.
            if prev is not None:
                mid = (prev[0] + ns) // 2
                write(c_tf, mid, TFMessage(transforms=[
                    tfs(mid, "odom", "base_link", slerp_pose(prev[1], odom_from_body, 0.5))]),
                    "tf2_msgs/msg/TFMessage")
            write(c_tf, ns, TFMessage(transforms=[tfs(ns, "odom", "base_link", odom_from_body)]),
                  "tf2_msgs/msg/TFMessage")
            write(c_odom, ns, Odometry(
                header=header(ns, "odom"), child_frame_id="base_link",
                pose=PoseCov(pose=pose_msg(odom_from_body), covariance=cov),
                twist=TwistCov(twist=Twist(linear=Vec3(x=0.0, y=0.0, z=0.0),
                                           angular=Vec3(x=0.0, y=0.0, z=0.0)), covariance=cov)),
                "nav_msgs/msg/Odometry")
            cam = f["camera"]
            k = np.array([cam["fx"], 0, cam["cx"], 0, cam["fy"], cam["cy"], 0, 0, 1], dtype=np.float64)
            p = np.array([cam["fx"], 0, cam["cx"], 0, 0, cam["fy"], cam["cy"], 0, 0, 0, 1, 0], dtype=np.float64)
            write(c_info, ns, CameraInfo(
                header=header(ns, "camera_color_optical_frame"), height=cam["height"], width=cam["width"],
                distortion_model="plumb_bob", d=np.zeros(5, dtype=np.float64), k=k,
                r=np.eye(3, dtype=np.float64).reshape(9), p=p, binning_x=0, binning_y=0,
                roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)),
                "sensor_msgs/msg/CameraInfo")
            depth = f.get("depth")
            if depth is not None and c_depth is not None:
                dw, dh = depth["width"], depth["height"]
                d = np.array([np.nan if v is None else v for v in depth["depth_m"]], dtype=np.float32)
                d = d.reshape(dh, dw)
                if size is not None:
                    rows = np.arange(size[1]) * dh // size[1]
                    cols = np.arange(size[0]) * dw // size[0]
                    d = d[rows][:, cols]
                    dh, dw = d.shape
                boxes = object_boxes(f, cam, dw, dh, colours, paint_rng) if args.paint_objects else []
                # An RGB-D camera sees the painted objects' surfaces too (small objects are not
                # in the simulator's depth rendering): nearer ones cover farther ones.
                for x0, y0, x1, y1, z, _, furniture in boxes:
                    if not furniture:
                        d[y0:y1, x0:x1] = np.fmin(d[y0:y1, x0:x1], z)
                if args.depth_encoding == "16UC1":
                    mm = np.where(np.isfinite(d), np.clip(np.round(d * 1000.0), 0, 65535), 0)
                    data, step = mm.astype("<u2").tobytes(), dw * 2
                else:
                    data, step = d.astype("<f4").tobytes(), dw * 4
                write(c_depth, ns, Image(
                    header=header(ns, "camera_color_optical_frame"), height=dh, width=dw,
                    encoding=args.depth_encoding, is_bigendian=0, step=step,
                    data=np.frombuffer(data, dtype=np.uint8)),
                    "sensor_msgs/msg/Image")
                if c_rgb is not None:
                    # A small rendering: nearer is brighter, no reading is dark blue.
                    shade = np.where(np.isfinite(d), np.clip(255 * (1.0 - d / 6.0), 0, 255), 0)
                    rgb = np.stack([shade, shade * 0.9, np.where(np.isfinite(d), shade * 0.8, 80)], -1)
                    for x0, y0, x1, y1, _, colour, _ in boxes:
                        # Shading: lit from above (brighter at the top, 25 % darker at the
                        # bottom) and 4 % pixel noise, so that a region is not one flat colour.
                        ramp = np.linspace(1.1, 0.85, y1 - y0)[:, None, None]
                        grain = paint_rng.normal(1.0, 0.04, size=(y1 - y0, x1 - x0, 1))
                        rgb[y0:y1, x0:x1] = np.clip(colour * ramp * grain, 0, 255)
                    if args.compressed_png:
                        write(c_rgb, ns, CompressedImage(
                            header=header(ns, "camera_color_optical_frame"),
                            format="rgb8; png compressed rgb8",
                            data=np.frombuffer(png_rgb8(rgb.astype(np.uint8)), dtype=np.uint8)),
                            "sensor_msgs/msg/CompressedImage")
                    else:
                        write(c_rgb, ns, Image(
                            header=header(ns, "camera_color_optical_frame"), height=dh, width=dw,
                            encoding="rgb8", is_bigendian=0, step=dw * 3,
                            data=rgb.astype(np.uint8).reshape(-1)), "sensor_msgs/msg/Image")
            hyps = lambda det: [HypPose(hypothesis=Hyp(class_id=det["label"], score=float(det["score"])),
                                        pose=PoseCov(pose=pose_msg([0, 0, 0, 0, 0, 0, 1]), covariance=cov))]
            if args.detections_2d:
                dets = []
                for det in f["detections"]:
                    if det["frame"] != "camera":
                        continue
                    x, y, z = det["position"]
                    ex, ey, _ = det["extent"]
                    u = cam["fx"] * x / z + cam["cx"]
                    v = cam["fy"] * y / z + cam["cy"]
                    dets.append(Det2(header=header(ns, "camera_color_optical_frame"), results=hyps(det),
                                     bbox=Box2(center=Pose2(position=P2(x=u, y=v), theta=0.0),
                                               size_x=cam["fx"] * ex / z, size_y=cam["fy"] * ey / z), id=""))
                write(c_det, ns, Det2Arr(header=header(ns, "camera_color_optical_frame"), detections=dets),
                      det_type)
            else:
                dets = []
                for det in f["detections"]:
                    frame = "camera_color_optical_frame" if det["frame"] == "camera" else "map"
                    x, y, z = det["position"]
                    ex, ey, ez = det["extent"]
                    if frame == "camera_color_optical_frame":
                        # The simulator's extents are map-aligned; express the same box in the
                        # optical frame as a rotated box so TF maps it back exactly.
                        world_from_camera = f["world_from_camera"]
                        q = inverse(world_from_camera)[3:]
                    else:
                        q = [0.0, 0.0, 0.0, 1.0]
                    dets.append(Det3(header=header(ns, frame), results=hyps(det),
                                     bbox=Box3(center=pose_msg([x, y, z] + q), size=Vec3(x=ex, y=ey, z=ez)), id=""))
                write(c_det, ns, Det3Arr(header=header(ns, "camera_color_optical_frame"), detections=dets), det_type)
            prev = (ns, odom_from_body)
    print(f"wrote {len(frames)} camera frames to {out}")


if __name__ == "__main__":
    main()
