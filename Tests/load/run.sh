#!/usr/bin/env bash
# Bounded loopback load test of helpline-collector: N simulated agents (heartbeats and real
# bundles, Retry-After honoured) against one collector on 127.0.0.1, then checks that
# nothing was lost. Usage: Tests/load/run.sh [--agents N] [--seconds S] [load.py options]
# The collector binary comes from HELPLINE_COLLECTOR_BIN (default .build/debug/helpline-collector).
# Defaults (CI): 500 agents, 30 s. The long run: Tests/load/run.sh --seconds 300. See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export HELPLINE_COLLECTOR_BIN="${HELPLINE_COLLECTOR_BIN:-$ROOT/.build/debug/helpline-collector}"

# load.py bounds itself (--budget, default --seconds + 80: setup, sending, retries, checks).
# This is the backstop over it: whatever happens, nothing outlives it, and the collector dies
# with load.py (a watchdog process kills it if load.py dies).
LIMIT="$(python3 - "$@" <<'PY'
import sys
args, seconds, budget = sys.argv[1:], 30.0, 0.0
for i, a in enumerate(args):
    value = a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else "")
    try:
        if a.startswith("--seconds"): seconds = float(value)
        if a.startswith("--budget"): budget = float(value)
    except ValueError:
        pass
print(int((budget or seconds + 80) + 8))
PY
)"
exec timeout --kill-after=10 "$LIMIT" python3 "$HERE/load.py" "$@"
