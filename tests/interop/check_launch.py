#!/usr/bin/env python3
"""Read the package's launch files without a ROS install and print what they declare, as JSON:
  {"py": {"args": [...], "executable": ..., "package": ...},
   "xml": {"args": [...], "exec": ..., "pkg": ...}}
launch.py is parsed with `ast` (not run: launch_ros is not installable here); launch.xml with
xml.etree. Usage: check_launch.py LAUNCH_DIR
"""
import ast
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def from_py(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    args, node = [], {}
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "id", getattr(call.func, "attr", ""))
        if name == "DeclareLaunchArgument" and call.args and isinstance(call.args[0], ast.Constant):
            args.append(call.args[0].value)
        if name == "Node":
            for kw in call.keywords:
                if isinstance(kw.value, ast.Constant):
                    node[kw.arg] = kw.value.value
    return {"args": args, "executable": node.get("executable"), "package": node.get("package"),
            "name": node.get("name")}


def from_xml(path):
    root = ET.parse(path).getroot()
    node = root.find("node")
    return {"args": [a.get("name") for a in root.findall("arg")], "exec": node.get("exec"),
            "pkg": node.get("pkg"), "name": node.get("name"),
            "params": [p.get("name") or "from:" + p.get("from") for p in node.findall("param")]}


def main():
    d = Path(sys.argv[1])
    print(json.dumps({"py": from_py(d / "mnemo.launch.py"), "xml": from_xml(d / "mnemo.launch.xml")}))


if __name__ == "__main__":
    main()
