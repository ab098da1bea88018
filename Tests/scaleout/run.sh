#!/usr/bin/env bash
# Scale-out suite: two real collectors on one real PostgreSQL (Tests/scaleout/scaleout.py says
# what each scenario checks). Uses the server in HELPLINE_TEST_POSTGRES_URL (scripts/test.sh
# starts one), or starts its own with scripts/postgres.sh and stops it at the end.
#
# Usage:
#   HELPLINE_BIN_DIR=.build/debug Tests/scaleout/run.sh
#   SCALEOUT_ONLY=1,3 runs only those scenarios; SCALEOUT_SEED=N repeats a run's data;
#   SCALEOUT_KEEP=1 keeps the work folder (logs of every collector are in logs/).
# One line per check, `N passed, M failed` alone on the last line, exit 1 on any failure.
# Finishes in under 5 minutes or fails; every process it started is killed at the end.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
fail() { echo "$1" >&2; echo "0 passed, 1 failed"; exit 1; }

BIN_DIR="${HELPLINE_BIN_DIR:-}"
[ -n "$BIN_DIR" ] || fail "set HELPLINE_BIN_DIR to the folder holding helpline and helpline-collector (e.g. .build/debug)"
BIN_DIR="$(cd "$BIN_DIR" 2>/dev/null && pwd)" || fail "HELPLINE_BIN_DIR=${HELPLINE_BIN_DIR} is not a folder"
for b in helpline helpline-collector; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b is not an executable file"
done
command -v python3 >/dev/null || fail "python3 is needed"
command -v psql >/dev/null || fail "psql is needed (apt-get install postgresql; scripts/setup.sh installs it)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/helpline-scaleout.XXXXXX")"
chmod 755 "$WORK"
GROUP=""
OWN_PG=""
cleanup() {
    if [ -n "$GROUP" ]; then kill -KILL -- "-$GROUP" 2>/dev/null || true; fi
    if [ -n "$OWN_PG" ]; then "$REPO/scripts/postgres.sh" stop "$OWN_PG"; fi
    if [ -z "${SCALEOUT_KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_URL="${HELPLINE_TEST_POSTGRES_URL:-}"
if [ -z "$PG_URL" ]; then
    OWN_PG="$WORK/postgres"
    PG_URL="$(timeout -k 5 120 "$REPO/scripts/postgres.sh" start "$OWN_PG")" || fail "could not start PostgreSQL (scripts/postgres.sh)"
fi

rc=0
timeout -k 5 290 python3 "$HERE/scaleout.py" --bin-dir "$BIN_DIR" --work "$WORK" --postgres "$PG_URL" --results "$WORK/results.txt" &
GROUP=$!
wait "$GROUP" || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
    passed=$(grep -c '^ok ' "$WORK/results.txt" 2>/dev/null || true)
    failed=$(grep -c '^FAIL' "$WORK/results.txt" 2>/dev/null || true)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "FAIL the scale-out suite finished within 5 minutes (it was stopped at 290 s)"
    else
        echo "FAIL the scale-out suite ran to its end (python3 exited $rc)"
    fi
    echo "${passed:-0} passed, $(( ${failed:-0} + 1 )) failed"
    exit 1
fi
exit "$rc"
