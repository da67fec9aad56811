#!/usr/bin/env python3
"""Summarise a Rerun recording with PyPI `rerun-sdk`'s own reader (not our code), as JSON.

Prints one object:
  entities      {entity path: sorted component columns}
  timelines     sorted timeline names (besides static data)
  objects       for `/world/objects`: rows (time points), labels in the last row (by ros_time),
                distinct box colours over all rows as 0xRRGGBBAA integers, and the first
                ros_time (ns) each `label #id` appears
  moves         for `/world/changes/moved`: rows, and the labels and arrows (origin, vector) in
                the last row (by ros_time)
  text_logs     {entity: {level: count}}
  text_kinds    counts of text-log lines by their leading word ("moved", "missing", ...)

Usage: check_rrd.py RECORDING.rrd
"""
import json
import sys
from collections import Counter, defaultdict

import pyarrow as pa
import rerun.experimental as rx


def flat(v):
    """A component cell as a flat Python list."""
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def main():
    reader = rx.RrdReader(sys.argv[1])
    entities = defaultdict(set)
    timelines = set()
    object_rows = []
    move_rows = []
    text_logs = defaultdict(Counter)
    text_kinds = Counter()
    for chunk in reader.stream():
        path = chunk.entity_path
        timelines.update(chunk.timeline_names)
        rb = chunk.to_record_batch()
        cols = [c for c in rb.schema.names if ":" in c]
        entities[path].update(cols)
        if "ros_time" in rb.schema.names:
            times = rb.column("ros_time").cast(pa.int64()).to_pylist()
        else:
            times = [None] * rb.num_rows
        if path == "/world/objects" and "Boxes3D:labels" in cols:
            labels = rb.column("Boxes3D:labels").to_pylist()
            colours = (rb.column("Boxes3D:colors").to_pylist() if "Boxes3D:colors" in cols
                       else [None] * rb.num_rows)
            object_rows += [(t, flat(l), flat(c)) for t, l, c in zip(times, labels, colours)]
        if path == "/world/changes/moved" and "Arrows3D:vectors" in cols:
            cells = [rb.column(c).to_pylist() for c in ("Arrows3D:labels", "Arrows3D:origins", "Arrows3D:vectors")]
            move_rows += [(t, flat(l), flat(o), flat(v)) for t, l, o, v in zip(times, *cells)]
        if "TextLog:text" in cols:
            texts = rb.column("TextLog:text").to_pylist()
            levels = (rb.column("TextLog:level").to_pylist() if "TextLog:level" in cols
                      else [None] * rb.num_rows)
            for text, level in zip(texts, levels):
                for t in flat(text):
                    text_logs[path][(flat(level) or ["INFO"])[0]] += 1
                    text_kinds[t.split(":", 1)[0] if ":" in t else "other"] += 1
    object_rows.sort(key=lambda r: (r[0] is None, r[0] or 0))
    move_rows.sort(key=lambda r: (r[0] is None, r[0] or 0))
    last_move = move_rows[-1] if move_rows else (None, [], [], [])
    first_seen = {}
    colours = set()
    for t, labels, cs in object_rows:
        colours.update(cs)
        for label in labels:
            first_seen.setdefault(label, t)
    print(json.dumps({
        "entities": {p: sorted(c) for p, c in sorted(entities.items())},
        "timelines": sorted(timelines),
        "objects": {
            "rows": len(object_rows),
            "last_labels": object_rows[-1][1] if object_rows else [],
            "colours": sorted(colours),
            "first_seen_ns": first_seen,
        },
        "moves": {
            "rows": len(move_rows),
            "last_labels": last_move[1],
            "last_origins": last_move[2],
            "last_vectors": last_move[3],
        },
        "text_logs": {p: dict(c) for p, c in sorted(text_logs.items())},
        "text_kinds": dict(text_kinds),
    }))


if __name__ == "__main__":
    main()
