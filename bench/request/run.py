#!/usr/bin/env python3
"""End to end: `helpline request --note x` from start to printed ticket, against a collector
on this machine, on the 500k-entry benchmark journal; `sos report --batch` side by side as
the reference for "collect a diagnostic bundle".

Builds release binaries (scratch path .build-rel), starts `helpline-collector serve` on
127.0.0.1 with a temporary SQLite data dir, enrolls a temporary agent state dir, then runs
the request N times and prints p50/p90/max. Usage: bench/request/run.py [--runs 9] [--sos-runs 2]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--sos-runs", type=int, default=2)
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()

    scratch = os.path.join(ROOT, ".build-rel")
    if not args.no_build:
        subprocess.check_call(["swift", "build", "-c", "release", "--scratch-path", scratch], cwd=ROOT, stdout=subprocess.DEVNULL)
    bindir = os.path.join(scratch, "release")
    data = os.path.join(ROOT, ".bench-data", f"journal-{args.entries}")
    stale = not os.path.exists(os.path.join(data, "current-boot-id")) or \
        time.time() - os.path.getmtime(os.path.join(data, "current-boot-id")) > 20 * 60
    if stale:
        shutil.rmtree(data, ignore_errors=True)
        subprocess.check_call([sys.executable, os.path.join(ROOT, "bench/journal/generate.py"), data, "--entries", str(args.entries)])

    work = tempfile.mkdtemp(prefix="helpline-bench-request-")
    server = subprocess.Popen([os.path.join(bindir, "helpline-collector"), "serve", "--listen", "127.0.0.1:0",
                               "--data-dir", os.path.join(work, "collector"), "--min-free-disk-mb", "64", "--log-level", "warning",
                               "--limit", "host_bundles_per_hour=1000000000"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        secret = port = None
        for line in server.stdout:
            if line.startswith("first-start credentials: "):
                with open(line.split(": ", 1)[1].strip()) as f:
                    secret = next(l.split(": ", 1)[1].strip() for l in f if l.startswith("enrollment secret: "))
            if line.startswith("listening: "):
                port = line.rsplit(":", 1)[1].strip()
                break
        env = dict(os.environ, HELPLINE_STATE_DIR=os.path.join(work, "agent"), HELPLINE_CONFIG=os.path.join(work, "agent.conf"))
        open(env["HELPLINE_CONFIG"], "w").write("retries = 2\n")
        helpline = os.path.join(bindir, "helpline")
        subprocess.check_call([helpline, "enroll", "--server", f"http://127.0.0.1:{port}", "--secret", secret], env=env,
                              stdout=subprocess.DEVNULL)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = subprocess.run([helpline, "request", "--note", "x", "--journal-directory", data], env=env,
                                 capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            if out.returncode != 0 or "icket #" not in out.stdout + out.stderr:
                sys.exit(f"request failed ({out.returncode}): {out.stdout}{out.stderr}")
        times.sort()
        print(f"\nhelpline request --note x, {args.entries} entries over 7 days, collector (release, SQLite) on 127.0.0.1, {args.runs} runs")
        print(f"  p50 {statistics.median(times):.2f} s   p90 {times[int(0.9 * (len(times) - 1))]:.2f} s   max {times[-1]:.2f} s")
        print("  last answer:", out.stdout.strip().splitlines()[0])
    finally:
        server.terminate()
        server.wait()

    sos = shutil.which("sos") or shutil.which("sosreport")
    if sos and args.sos_runs > 0:
        stimes = []
        for _ in range(args.sos_runs):
            tmp = tempfile.mkdtemp(prefix="helpline-bench-sos-")
            t = time.perf_counter()
            cmd = [sos, "report", "--batch", "--tmp-dir", tmp] if sos.endswith("/sos") else [sos, "--batch", "--tmp-dir", tmp]
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stimes.append(time.perf_counter() - t)
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"sos report --batch (Debian's sosreport, same machine), {args.sos_runs} runs: median {statistics.median(stimes):.1f} s (collection only, nothing sent)")
    else:
        print("sos report: not installed (apt-get install sosreport)")
    shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
