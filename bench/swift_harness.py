"""Shared by the benchmarks that compile a Swift harness against the release-built Shared
module (bench/reader, bench/heartbeat): print-and-run, the release build, and the swiftc link."""
import json, os, shlex, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCRATCH = os.path.join(ROOT, ".build-agent-rel")


def sh(cmd, env=None, **kw):
    """Runs `cmd`, printing it first; exits the benchmark when it fails."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    r = subprocess.run(cmd, env=dict(os.environ, **(env or {})), **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd[0]}")
    return r


def build_harness(main_swift, name, build=True):
    """Builds Shared in release (HELPLINE_AGENT_ONLY=1, .build-agent-rel) unless `build` is
    False, then compiles `main_swift` with swiftc -O against its objects into
    .bench-data/NAME/NAME-bench; answers the harness's path."""
    if build:
        sh(["swift", "build", "--scratch-path", SCRATCH, "-c", "release", "--target", "Shared"],
           env={"HELPLINE_AGENT_ONLY": "1"}, cwd=ROOT)
    rel = os.path.join(SCRATCH, "release")
    data = os.path.join(ROOT, ".bench-data", name)
    os.makedirs(data, exist_ok=True)
    harness = os.path.join(data, f"{name}-bench")
    with open(os.path.join(rel, "Shared.build", "output-file-map.json")) as f:
        fmap = json.load(f)
    objects = sorted(v["object"] for k, v in fmap.items() if k and os.path.exists(k))
    sh(["swiftc", "-O", "-swift-version", "6", main_swift, "-o", harness,
        "-I", os.path.join(rel, "Modules"), "-Xcc", "-fmodule-map-file=" + os.path.join(ROOT, "Sources/CZlib/module.modulemap")]
       + objects + ["-lz"])
    return harness
