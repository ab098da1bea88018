#!/usr/bin/env bash
# Fault-injection suite: the real agent and collector under SIGKILL and a full disk.
#   1. the collector SIGKILLed and restarted ~10 times while `helpline daemon` runs and 50
#      `helpline request`s upload: every bundle stored exactly once, the spool empties, the
#      database passes integrity_check, no temp file, no orphan or missing blob;
#   2. the collector's data on a 64 MiB tmpfs filled below the floor, then truly full: 503
#      with Retry-After (never 500), the agent spools (exit 4), nothing half-written stays,
#      and `helpline spool flush` delivers each bundle once when there is room again;
#   3. `helpline request` SIGKILLed during collection and during an upload throttled (and cut
#      at the kill) by a slow TCP proxy, and `helpline spool flush` SIGKILLed mid-upload: the
#      spool stays readable, a flush delivers, the cut bundles reach the collector, no bundle
#      id is stored twice and every stored bundle is valid;
#   4. heartbeats logged while the store is locked, the collector SIGKILLed: the next start
#      stores each exactly once;
#   5. a heartbeat the store refuses on its own is set aside after heartbeat_store_tries while
#      the others are stored, and never replayed.
# Tests/faults/faults.py holds the scenarios (standard-library Python).
#
# Usage (as root: it mounts a tmpfs):
#   HELPLINE_BIN_DIR=.build/debug Tests/faults/run.sh
#   FAULTS_ONLY=1,3 runs only those scenarios; FAULTS_SEED=N repeats a run's timings;
#   FAULTS_KEEP=1 keeps the work folder (logs of every collector and daemon are in logs/).
# One line per check, `N passed, M failed` alone on the last line, exit 1 on any failure.
# Finishes in under 4 minutes or fails; every process it started is killed at the end.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "$1" >&2; echo "0 passed, 1 failed"; exit 1; }

BIN_DIR="${HELPLINE_BIN_DIR:-}"
[ -n "$BIN_DIR" ] || fail "set HELPLINE_BIN_DIR to the folder holding helpline and helpline-collector (e.g. .build/debug)"
BIN_DIR="$(cd "$BIN_DIR" 2>/dev/null && pwd)" || fail "HELPLINE_BIN_DIR=${HELPLINE_BIN_DIR} is not a folder"
for b in helpline helpline-collector; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b is not an executable file"
done
command -v python3 >/dev/null || fail "python3 is needed"
[ "$(id -u)" = 0 ] || fail "run as root: scenario 2 mounts a tmpfs as the collector's data directory"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/helpline-faults.XXXXXX")"
chmod 700 "$WORK"
GROUP=""
cleanup() {
    # `timeout` leads its own process group: python3, collectors, daemons and agents are in it.
    if [ -n "$GROUP" ]; then kill -KILL -- "-$GROUP" 2>/dev/null || true; fi
    # Whatever tmpfs the suite mounted under WORK and did not unmount (it was killed).
    awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "could not unmount $m" >&2
    done
    if [ -z "${FAULTS_KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
timeout -k 5 230 python3 "$HERE/faults.py" --bin-dir "$BIN_DIR" --work "$WORK" --results "$WORK/results.txt" &
GROUP=$!
wait "$GROUP" || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
    # Stopped by `timeout` (124, or 137 after -k) or crashed: it printed no summary.
    passed=$(grep -c '^ok ' "$WORK/results.txt" 2>/dev/null || true)
    failed=$(grep -c '^FAIL' "$WORK/results.txt" 2>/dev/null || true)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "FAIL the fault suite finished within 4 minutes (it was stopped at 230 s)"
    else
        echo "FAIL the fault suite ran to its end (python3 exited $rc)"
    fi
    echo "${passed:-0} passed, $(( ${failed:-0} + 1 )) failed"
    exit 1
fi
exit "$rc"
