#!/usr/bin/env python3
"""Tallies what the change-detection targets miss, from `mnemo eval --explain` printouts.

    mkdir -p /tmp/x && for s in $(seq 320 959); do
        mnemo eval --seed $s --explain > /tmp/x/$s.txt; done
    python3 benches/explain_classes.py /tmp/x

Per patrol gap ("window"), each true change marked [MISSED] and each report marked [WRONG] is
put in a class by what stands within 0.6 m of it (horizontally) in the same window: a missed
removal with a wrong report near it or with nothing; a missed move reported as missing, moved
to the wrong place, or with nothing; a wrong `missing` of a true move of its label, near another
change, or with no change; a wrong `moved` with a same-label true change near it, another change
near it, or none. "Late" counts a change missed in one window and reported (wrongly, so) in the
next at the same spot (within 0.3 m). Prints the totals of true changes and of each class.
"""
import collections
import glob
import math
import re
import sys

PT = r"\(([-\d.]+), ([-\d.]+), ([-\d.]+)\)"


def parse(path):
    wins, cur = [], None
    for line in open(path):
        if line.startswith("window"):
            cur = {"truth": [], "rep": [], "unobs": []}
            wins.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"  truth\s+(moved|removed) (.+?) " + PT + r"(?: -> " + PT + r")? \[(\w+)\]", line)
        if m:
            g = m.groups()
            cur["truth"].append((g[0], g[1], tuple(map(float, g[2:5])), g[8]))
            continue
        m = re.match(r"  unobserved\s+(moved|removed) (.+?) " + PT, line)
        if m:
            g = m.groups()
            cur["unobs"].append((g[0], g[1], tuple(map(float, g[2:5])), "u"))
            continue
        m = re.match(r"  reported\s+(\w+) (.+?) #(\d+) " + PT + r"(?: -> " + PT + r")? \[([\w ]+)\]", line)
        if m:
            g = m.groups()
            cur["rep"].append((g[0], g[1], tuple(map(float, g[3:6])), g[9]))
    return wins


def main(folder):
    classes, examples = collections.Counter(), collections.defaultdict(list)
    truths = late = 0
    near = lambda a, b, r: math.dist(a[:2], b[:2]) < r
    for path in sorted(glob.glob(folder + "/*.txt")):
        seed = path.split("/")[-1][:-4]
        wins = parse(path)
        for i, w in enumerate(wins):
            truths += len(w["truth"])
            for kind, label, p, mark in w["truth"]:
                if mark != "MISSED":
                    continue
                around = [r for r in w["rep"] if near(r[2], p, 0.6) and r[3] in ("WRONG", "not scored", "unobservable")]
                if kind == "removed":
                    k = "missed removal: " + ("wrong report near" if around else "nothing")
                else:
                    k = "missed move: " + (
                        "as missing" if any(r[0] == "missing" for r in around)
                        else "to the wrong place" if any(r[0] == "moved" for r in around)
                        else "nothing")
                classes[k] += 1
                examples[k].append((seed, i, label))
                if i + 1 < len(wins) and any(
                        r[0] == "missing" and r[1] == label and r[3] == "WRONG" and near(r[2], p, 0.3)
                        for r in wins[i + 1]["rep"]):
                    late += 1
            for kind, label, p, mark in w["rep"]:
                if mark != "WRONG":
                    continue
                around = [t for t in w["truth"] + w["unobs"] if near(t[2], p, 0.6)]
                if kind == "missing":
                    k = "wrong missing: " + (
                        "of a true move" if any(t[0] == "moved" and t[1] == label for t in around)
                        else "near another change" if around else "no change")
                elif kind == "moved":
                    k = "wrong moved: " + (
                        "same-label change near" if any(t[1] == label for t in around)
                        else "another change near" if around else "no change")
                else:
                    k = "wrong " + kind
                classes[k] += 1
                examples[k].append((seed, i, label))
    print(f"{truths} true changes; {late} missed in one window and reported late in the next")
    for k, v in sorted(classes.items()):
        print(f"{v:6d} {k}   e.g. {examples[k][:4]}")


if __name__ == "__main__":
    main(sys.argv[1])
