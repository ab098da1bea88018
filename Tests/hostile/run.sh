#!/usr/bin/env bash
# Hostile-input suite: starts one collector (random loopback port, temp data dir, short
# timeouts, small bundle limits), enrolls hosts, and sends it broken, oversized, slow and
# malicious requests through the real HTTP endpoints (Tests/hostile/hostile.py lists the
# cases: `python3 Tests/hostile/hostile.py --list`). Each case checks the documented status
# and error code, that the collector survived (/healthz 200), and that no row, temp file or
# blob was left behind; the run ends with the collector's peak RSS and `N passed, M failed`.
#
# Usage: HELPLINE_COLLECTOR_BIN=.build/debug/helpline-collector Tests/hostile/run.sh
#        HOSTILE_ONLY=REGEX runs only matching cases; HOSTILE_KEEP=1 keeps the data dir.
# Needs python3 (standard library only). Finishes in under 3 minutes or fails.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${HELPLINE_COLLECTOR_BIN:?set HELPLINE_COLLECTOR_BIN to the built helpline-collector}"
[ -x "$BIN" ] || { echo "HELPLINE_COLLECTOR_BIN=$BIN is not an executable file" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 2; }


WORK="$(mktemp -d "${TMPDIR:-/tmp}/helpline-hostile.XXXXXX")"
PY_PID=""
cleanup() {
    # hostile.py stops the collector itself (and the collector dies with it through
    # PR_SET_PDEATHSIG); this is the last resort when this script or python3 was killed.
    if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
        kill "$PY_PID" 2>/dev/null || true
        sleep 1
        kill -9 "$PY_PID" 2>/dev/null || true
    fi
    if [ -f "$WORK/collector.pid" ]; then
        pid="$(cat "$WORK/collector.pid")"
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    if [ -z "${HOSTILE_KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
timeout -k 5 180 python3 "$HERE/hostile.py" --bin "$BIN" --work "$WORK" &
PY_PID=$!
wait "$PY_PID" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "the hostile suite did not finish within 3 minutes"
    echo "0 passed, 1 failed"
fi
exit "$rc"
