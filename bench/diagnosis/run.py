#!/usr/bin/env python3
"""Benchmark the diagnosis engine on a bundle with 200,000 journal entries (target: <= 200 ms).

Steps (each printed with its command):
  1. release build of the agent and the Diagnosis library (HELPLINE_AGENT_ONLY=1, .build-agent-rel);
  2. a realistic journal of N entries from bench/journal/generate.py, plus planted faults (I/O errors,
     Wi-Fi drops, a crash loop, a core dump) appended with systemd-journal-remote; cached in .bench-data/;
  3. `helpline collect` of all of it into a bundle (the laptop sysroot fixture, --since 30d);
  4. bench/diagnosis/main.swift compiled with swiftc -O against the release-built modules, then run:
     it prints engine load time, bundle read time alone, diagnose(bundleAt:) with both regex engines,
     the rules alone over in-memory entries, and a regex-vs-literal micro-benchmark.
Harness environment: BENCH_REPORT=1 prints the report, BENCH_FINDINGS_JSON=1 every finding as JSON (to
  compare binaries), BENCH_DIAGNOSE_ONLY=1 times diagnose(bundleAt:) alone (for perf and callgrind).
--compare OLD: instead of the full run, time diagnose(bundleAt:) alone with the harness OLD (a copy of
  .bench-data/diagnosis/diagnosis-bench built earlier) and the new one, alternated for --rounds rounds.
Usage: bench/diagnosis/run.py [--entries 200000] [--runs 7] [--no-build] [--compare OLD [--rounds 3]]
"""
import argparse, glob, json, os, shlex, struct, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRATCH = os.path.join(ROOT, ".build-agent-rel")
DATA = os.path.join(ROOT, ".bench-data", "diagnosis")

def sh(cmd, env=None, **kw):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    e = dict(os.environ, **(env or {}))
    r = subprocess.run(cmd, env=e, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd[0]}")
    return r

def export_entry(t, boot, fields):
    out = [f"__REALTIME_TIMESTAMP={t}\n__MONOTONIC_TIMESTAMP={t % 10**10}\n_BOOT_ID={boot}\n".encode()]
    for k, v in fields:
        b = v.encode()
        if b"\n" in b:
            out.append(k.encode() + b"\n" + struct.pack("<Q", len(b)) + b + b"\n")
        else:
            out.append(k.encode() + b"=" + b + b"\n")
    out.append(b"\n")
    return b"".join(out)

def plant(journal_dir):
    """Appends a few real faults so rules have work to do (a second journal-remote run appends)."""
    boot = open(os.path.join(journal_dir, "current-boot-id")).read().strip().replace("-", "")
    now = int(time.time() * 1e6)
    entries = []
    for i in range(30):
        entries.append((now - (3000 - i) * 10**6, [("MESSAGE", f"I/O error, dev sda, sector {123456 + 8 * i} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"),
                                                   ("PRIORITY", "3"), ("_TRANSPORT", "kernel"), ("SYSLOG_IDENTIFIER", "kernel")]))
    for i in range(6):
        entries.append((now - (2500 - 120 * i) * 10**6, [("MESSAGE", "wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=4"),
                                                          ("PRIORITY", "6"), ("_TRANSPORT", "syslog"), ("SYSLOG_IDENTIFIER", "wpa_supplicant")]))
    for i in range(5):
        entries.append((now - (2000 - 30 * i) * 10**6, [("MESSAGE", f"cups.service: Scheduled restart job, restart counter is at {i + 1}."),
                                                         ("PRIORITY", "6"), ("_TRANSPORT", "journal"), ("SYSLOG_IDENTIFIER", "systemd")]))
    entries.append((now - 1500 * 10**6, [("MESSAGE", "Process 4242 (evince) of user 1000 dumped core.\n\nStack trace of thread 4242:\n#0  0x00007f n/a"),
                                          ("PRIORITY", "2"), ("_TRANSPORT", "journal"), ("SYSLOG_IDENTIFIER", "systemd-coredump"),
                                          ("MESSAGE_ID", "fc2e22bc6ee647b6b90729ab34a250b1"), ("COREDUMP_EXE", "/usr/bin/evince")]))
    entries.sort()
    data = b"".join(export_entry(t, boot, f) for t, f in entries)
    p = subprocess.run(["/lib/systemd/systemd-journal-remote", "-o", os.path.join(journal_dir, "system.journal"), "-"],
                       input=data, capture_output=True)
    if p.returncode != 0 or f"writing {len(entries)} entries" not in p.stderr.decode():
        sys.exit("planting failed: " + p.stderr.decode())

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--compare", metavar="OLD", help="an older harness binary to alternate with this one")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    env = {"HELPLINE_AGENT_ONLY": "1"}
    if not a.no_build:
        sh(["swift", "build", "--scratch-path", SCRATCH, "-c", "release", "--product", "helpline"], env=env, cwd=ROOT)
        sh(["swift", "build", "--scratch-path", SCRATCH, "-c", "release", "--target", "Diagnosis"], env=env, cwd=ROOT)
    rel = os.path.join(SCRATCH, "release")

    journal = os.path.join(DATA, f"journal-{a.entries}")
    if not os.path.exists(os.path.join(journal, "current-boot-id")):
        sh([sys.executable, os.path.join(ROOT, "bench/journal/generate.py"), journal, "--entries", str(a.entries), "--days", "3"])
        plant(journal)
    bundle = os.path.join(DATA, f"bundle-{a.entries}.tar.gz")
    if not os.path.exists(bundle):
        sh([os.path.join(rel, "helpline"), "collect", "--sysroot", os.path.join(ROOT, "Tests/DiagnosisTests/Fixtures/sysroot-laptop"),
            "--journal-directory", journal, "--since", "30d", "--important-since", "30d",
            "--max-journal-entries", str(a.entries + 1000), "--output", bundle], stdout=subprocess.DEVNULL)

    # The harness, linked against the release objects of Shared, Diagnosis, Yams and CYaml.
    harness = os.path.join(DATA, "diagnosis-bench")
    objects = []
    for target in ["Shared", "Diagnosis", "Yams"]:
        # The objects of the target's current sources (the folder may hold stale ones).
        with open(os.path.join(rel, f"{target}.build", "output-file-map.json")) as f:
            fmap = json.load(f)
        objects += sorted(v["object"] for k, v in fmap.items() if k and os.path.exists(k))
    objects += sorted(glob.glob(os.path.join(rel, "CYaml.build", "**", "*.o"), recursive=True))
    cyaml = glob.glob(os.path.join(SCRATCH, "checkouts", "Yams", "Sources", "CYaml", "include"))
    cmd = ["swiftc", "-O", "-swift-version", "6", os.path.join(ROOT, "bench/diagnosis/main.swift"), "-o", harness,
           "-I", os.path.join(rel, "Modules"), "-Xcc", "-fmodule-map-file=" + os.path.join(ROOT, "Sources/CZlib/module.modulemap")]
    if cyaml:
        cmd += ["-Xcc", "-I" + cyaml[0]]
    cmd += objects + ["-lz"]
    sh(cmd)
    rules = os.path.join(ROOT, "Sources", "Diagnosis", "Rules")
    print(f"HELPLINE_BUILTIN_RULES={rules}")
    if a.compare:
        # Alternated, so both binaries meet the same load; the load average is printed with each round.
        for r in range(a.rounds):
            print(f"round {r + 1}, load average {os.getloadavg()[0]:.1f}", flush=True)
            for name, binary in (("old", a.compare), ("new", harness)):
                print(f"{name}: ", end="", flush=True)
                subprocess.run([binary, bundle, str(a.runs)], env=dict(os.environ, HELPLINE_BUILTIN_RULES=rules, BENCH_DIAGNOSE_ONLY="1"),
                               check=True)
        return
    sh([harness, bundle, str(a.runs)], env={"HELPLINE_BUILTIN_RULES": rules})

if __name__ == "__main__":
    main()
