#!/usr/bin/env python3
"""Benchmark the collector's heartbeat reader against Foundation's JSONDecoder (the anchor).

Steps (each printed with its command):
  1. release build of Shared (HELPLINE_AGENT_ONLY=1, .build-agent-rel, as bench/reader);
  2. bench/heartbeat/main.swift compiled with swiftc -O against its objects;
  3. run on a realistic agent heartbeat (fuzz/corpus/heartbeat-json/realistic.json: 5 KiB,
     10 top processes, 4 filesystems, full meminfo and PSI) and on any FILE given.
Usage: bench/heartbeat/run.py [FILE.json …] [--runs 7] [--no-build]
"""
import argparse, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from swift_harness import ROOT, build_harness, sh  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", default=[os.path.join(ROOT, "fuzz/corpus/heartbeat-json/realistic.json")])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    harness = build_harness(os.path.join(ROOT, "bench/heartbeat/main.swift"), "heartbeat", build=not a.no_build)
    for path in a.files:
        sh([harness, path, str(a.runs)])


if __name__ == "__main__":
    main()
