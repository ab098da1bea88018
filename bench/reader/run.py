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
import argparse, os, shlex, statistics, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from swift_harness import ROOT, build_harness, sh  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", nargs="?", default=os.path.join(ROOT, ".bench-data", "diagnosis", "bundle-200000.tar.gz"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(a.bundle):
        sys.exit(f"no bundle at {a.bundle}: run bench/diagnosis/run.py first, or pass one")
    harness = build_harness(os.path.join(ROOT, "bench/reader/main.swift"), "reader", build=not a.no_build)

    baseline = f"gzip -dc {shlex.quote(a.bundle)} | wc -l"
    print(f"$ {baseline}   (x{a.runs})", flush=True)
    times, out = [], ""
    for _ in range(a.runs):
        t0 = time.perf_counter()
        out = subprocess.run(["sh", "-c", baseline], capture_output=True, text=True, check=True).stdout.strip()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{'baseline gzip -dc | wc -l:':52} median {statistics.median(times):7.1f} ms wall (min {min(times):7.1f}); {out} lines")
    sh([harness, a.bundle, str(a.runs)])


if __name__ == "__main__":
    main()
