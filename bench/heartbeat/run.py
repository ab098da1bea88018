#!/usr/bin/env python3
"""Benchmark the collector's heartbeat reader against Foundation's JSONDecoder (the anchor).

Steps (each printed with its command):
  1. release build of Shared (HELPLINE_AGENT_ONLY=1, .build-agent-rel, as bench/reader);
  2. bench/heartbeat/main.swift compiled with swiftc -O against its objects;
  3. run on a realistic agent heartbeat (fuzz/corpus/heartbeat-json/realistic.json: 5 KiB,
     10 top processes, 4 filesystems, full meminfo and PSI) and on any FILE given.
Usage: bench/heartbeat/run.py [FILE.json …] [--runs 7] [--no-build]
"""
import argparse, json, os, shlex, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRATCH = os.path.join(ROOT, ".build-agent-rel")
DATA = os.path.join(ROOT, ".bench-data", "heartbeat")

def sh(cmd, env=None, **kw):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    r = subprocess.run(cmd, env=dict(os.environ, **(env or {})), **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd[0]}")
    return r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", default=[os.path.join(ROOT, "fuzz/corpus/heartbeat-json/realistic.json")])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        sh(["swift", "build", "--scratch-path", SCRATCH, "-c", "release", "--target", "Shared"],
           env={"HELPLINE_AGENT_ONLY": "1"}, cwd=ROOT)
    rel = os.path.join(SCRATCH, "release")
    os.makedirs(DATA, exist_ok=True)
    harness = os.path.join(DATA, "heartbeat-bench")
    with open(os.path.join(rel, "Shared.build", "output-file-map.json")) as f:
        fmap = json.load(f)
    objects = sorted(v["object"] for k, v in fmap.items() if k and os.path.exists(k))
    sh(["swiftc", "-O", "-swift-version", "6", os.path.join(ROOT, "bench/heartbeat/main.swift"), "-o", harness,
        "-I", os.path.join(rel, "Modules"), "-Xcc", "-fmodule-map-file=" + os.path.join(ROOT, "Sources/CZlib/module.modulemap")]
       + objects + ["-lz"])
    for path in a.files:
        sh([harness, path, str(a.runs)])

if __name__ == "__main__":
    main()
