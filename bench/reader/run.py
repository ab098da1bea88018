#!/usr/bin/env python3
"""Benchmark BundleReader stage by stage against `gzip -dc | wc -l` on the same bundle.

Steps (each printed with its command):
  1. release build of Shared (HELPLINE_AGENT_ONLY=1, .build-agent-rel);
  2. the bundle: BUNDLE if given, else the one bench/diagnosis/run.py makes
     (.bench-data/diagnosis/bundle-200000.tar.gz; run that first to create it);
  3. the baseline: `gzip -dc BUNDLE | wc -l`, timed (median of --runs);
  4. bench/reader/main.swift compiled with swiftc -O against the release objects of Shared,
     then run: inflate alone, inflate + tar, the whole reader, and line parsing alone.
Usage: bench/reader/run.py [BUNDLE] [--runs 7] [--no-build]
"""
import argparse, json, os, shlex, statistics, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRATCH = os.path.join(ROOT, ".build-agent-rel")
DATA = os.path.join(ROOT, ".bench-data", "reader")

def sh(cmd, env=None, **kw):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    r = subprocess.run(cmd, env=dict(os.environ, **(env or {})), **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd[0]}")
    return r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", nargs="?", default=os.path.join(ROOT, ".bench-data", "diagnosis", "bundle-200000.tar.gz"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(a.bundle):
        sys.exit(f"no bundle at {a.bundle}: run bench/diagnosis/run.py first, or pass one")
    if not a.no_build:
        sh(["swift", "build", "--scratch-path", SCRATCH, "-c", "release", "--target", "Shared"],
           env={"HELPLINE_AGENT_ONLY": "1"}, cwd=ROOT)
    rel = os.path.join(SCRATCH, "release")

    baseline = f"gzip -dc {shlex.quote(a.bundle)} | wc -l"
    print(f"$ {baseline}   (x{a.runs})", flush=True)
    times, out = [], ""
    for _ in range(a.runs):
        t0 = time.perf_counter()
        out = subprocess.run(["sh", "-c", baseline], capture_output=True, text=True, check=True).stdout.strip()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{'baseline gzip -dc | wc -l:':52} median {statistics.median(times):7.1f} ms wall (min {min(times):7.1f}); {out} lines")

    os.makedirs(DATA, exist_ok=True)
    harness = os.path.join(DATA, "reader-bench")
    with open(os.path.join(rel, "Shared.build", "output-file-map.json")) as f:
        fmap = json.load(f)
    objects = sorted(v["object"] for k, v in fmap.items() if k and os.path.exists(k))
    sh(["swiftc", "-O", "-swift-version", "6", os.path.join(ROOT, "bench/reader/main.swift"), "-o", harness,
        "-I", os.path.join(rel, "Modules"), "-Xcc", "-fmodule-map-file=" + os.path.join(ROOT, "Sources/CZlib/module.modulemap")]
       + objects + ["-lz"])
    sh([harness, a.bundle, str(a.runs)])

if __name__ == "__main__":
    main()
