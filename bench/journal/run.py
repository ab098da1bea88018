#!/usr/bin/env python3
"""Benchmark `helpline collect` against `journalctl -o json | gzip` on the same journal.

Generates (once, cached in .bench-data/) a realistic journal of 500,000 entries over 7 days,
builds the agent in release mode, then runs each command several times, printing wall time
(median), peak RssAnon (the process's own heap, not the mapped journal files), output size
and entry count. Usage: bench/journal/run.py [--entries N] [--runs N] [--level N]
"""
import argparse, gzip as gz, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

def sample_rss(pids_fn, stop, peak):
    """Samples RssAnon (kB) of every live pid every 5 ms; keeps the peak per pid."""
    while not stop.is_set():
        for pid in pids_fn():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            kb = int(line.split()[1])
                            peak[pid] = max(peak.get(pid, 0), kb)
            except OSError:
                pass
        time.sleep(0.005)

def measure(cmd, shell=False):
    """Runs cmd; returns (seconds, peak RssAnon MB of the main process, summed over a pipeline's processes)."""
    peak = {}
    stop = threading.Event()
    start = time.perf_counter()
    p = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def pids():
        out = [p.pid]
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out
    t = threading.Thread(target=sample_rss, args=(pids, stop, peak))
    t.start()
    _, err = p.communicate()
    elapsed = time.perf_counter() - start
    stop.set(); t.join()
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {cmd}\n{err.decode()}")
    return elapsed, max(peak.values(), default=0) / 1024, sum(peak.values()) / 1024

def count_jsonl_in_bundle(path):
    import tarfile
    with tarfile.open(path, "r:gz") as tf:
        m = tf.extractfile("journal.jsonl")
        return sum(1 for _ in m) if m else 0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--level", type=int, default=6)
    args = ap.parse_args()

    data = os.path.join(ROOT, ".bench-data", f"journal-{args.entries}")
    if not os.path.exists(os.path.join(data, "current-boot-id")):
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating {args.entries} entries into {data} ...", file=sys.stderr)
        subprocess.check_call([sys.executable, os.path.join(ROOT, "bench/journal/generate.py"), data, "--entries", str(args.entries)])
    # The journal was generated relative to the time it was made; shift "now" by asking for
    # windows relative to its newest entry would need a flag, so regenerate when stale (> 20 min).
    age = time.time() - os.path.getmtime(os.path.join(data, "current-boot-id"))
    if age > 20 * 60:
        print(f"journal is {age/60:.0f} min old; regenerating so the windows are realistic", file=sys.stderr)
        shutil.rmtree(data)
        subprocess.check_call([sys.executable, os.path.join(ROOT, "bench/journal/generate.py"), data, "--entries", str(args.entries)])

    env = dict(os.environ, HELPLINE_AGENT_ONLY="1")
    subprocess.check_call(["swift", "build", "-c", "release", "--scratch-path", os.path.join(ROOT, ".build-agent-rel"),
                           "--product", "helpline"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    helpline = os.path.join(ROOT, ".build-agent-rel", "release", "helpline")
    out = tempfile.mkdtemp(prefix="helpline-bench-")
    bundle = os.path.join(out, "b.tar.gz")
    jgz = os.path.join(out, "j.json.gz")

    cases = [
        ("default window (1 h all + 72 h warnings + kernel of this boot)",
         [helpline, "collect", "--journal-directory", data, "--output", bundle, "--compression-level", str(args.level)], None),
        ("same window, journal only: everything of the last 72 h",
         [helpline, "collect", "--journal-directory", data, "--output", bundle, "--since", "72h", "--cpu-sample", "10ms",
          "--max-journal-entries", "10000000", "--max-journal-bytes", str(8 << 30),
          "--compression-level", str(args.level)],
         f"journalctl --directory {data} --since -72h -o json | gzip -{args.level} > {jgz}"),
        ("everything (7 days, 500k entries)",
         [helpline, "collect", "--journal-directory", data, "--output", bundle, "--since", "8d", "--cpu-sample", "10ms",
          "--max-journal-entries", "10000000", "--max-journal-bytes", str(8 << 30),
          "--compression-level", str(args.level)],
         f"journalctl --directory {data} -o json | gzip -{args.level} > {jgz}"),
    ]
    print(f"\n{args.entries} entries over 7 days, {args.runs} runs each, median; deflate level {args.level}; {os.cpu_count()} cores\n")
    print(f"{'case':<66} {'wall s':>7} {'RssAnon MB':>10} {'output MB':>9} {'entries':>8}")
    for name, cmd, baseline in cases:
        times, rss = [], []
        for _ in range(args.runs):
            if os.path.exists(bundle): os.remove(bundle)
            t, main_rss, _ = measure(cmd)
            times.append(t); rss.append(main_rss)
        size = os.path.getsize(bundle) / 1e6
        n = count_jsonl_in_bundle(bundle)
        print(f"{'helpline collect: ' + name:<66} {statistics.median(times):>7.2f} {max(rss):>10.1f} {size:>9.1f} {n:>8}")
        if baseline:
            times, rss = [], []
            for _ in range(max(1, args.runs // 2)):
                t, _, total = measure(baseline, shell=True)
                times.append(t); rss.append(total)
            with gz.open(jgz, "rb") as f:
                n = sum(1 for _ in f)
            size = os.path.getsize(jgz) / 1e6
            print(f"{'  journalctl -o json | gzip (same window)':<66} {statistics.median(times):>7.2f} {max(rss):>10.1f} {size:>9.1f} {n:>8}")
    shutil.rmtree(out)

if __name__ == "__main__":
    main()
