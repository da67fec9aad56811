#!/usr/bin/env python3
"""The Middlebury 2014 "Motorcycle" pair as scikit-image ships it (quarter resolution, 741x500),
for the real-image test: writes the ground-truth disparity as raw little-endian float32
(inf = unknown -> NaN) and the calibration scaled to that resolution.

Calibration (Middlebury calib.txt for Motorcycle at full size: f = 3979.911, cx0 = 1244.772,
cx1 = 1369.115, cy = 1019.507, baseline = 193.001 mm), divided by 4: f = 994.978,
cx = 311.193, cy = 254.877, doffs = (cx1 - cx0) / 4 = 31.086. Depth = f * baseline / (d + doffs).

Usage: middlebury.py DATA_DIR OUT_DIR   (writes OUT_DIR/disp.f32 and OUT_DIR/meta.json)
"""
import json
import sys
from pathlib import Path

import numpy as np


def main():
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    disp = np.load(data / "motorcycle_disp.npz")["arr_0"].astype(np.float32)
    disp[~np.isfinite(disp)] = np.nan
    out.mkdir(parents=True, exist_ok=True)
    disp.astype("<f4").tofile(out / "disp.f32")
    meta = {
        "width": int(disp.shape[1]),
        "height": int(disp.shape[0]),
        "f_px": 3979.911 / 4,
        "cx_px": 1244.772 / 4,
        "cy_px": 1019.507 / 4,
        "doffs_px": (1369.115 - 1244.772) / 4,
        "baseline_m": 0.193001,
        "valid_fraction": float(np.isfinite(disp).mean()),
    }
    (out / "meta.json").write_text(json.dumps(meta))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
