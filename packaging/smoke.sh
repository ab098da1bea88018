#!/usr/bin/env bash
# Copies helpline and helpline-collector from BIN_DIR into an empty folder elsewhere and
# checks they carry what they need: `helpline collect` writes a bundle there,
# `helpline-collector diagnose` runs the built-in rules on it (no resource folder beside
# the binary), and `helpline-collector serve` starts and answers /healthz; then
# packaging/tests/icu.sh checks the agent's output that needs ICU's data.
#
#   packaging/smoke.sh BIN_DIR
# Used by packaging/build.sh (release binaries, toolchain hidden) and packaging/check.sh.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: packaging/smoke.sh BIN_DIR" >&2; exit 2; }
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for tool in curl timeout; do
  command -v "$tool" >/dev/null || { echo "smoke.sh: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d /tmp/helpline-smoke.XXXXXX)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "smoke.sh: $*" >&2; exit 1; }

mkdir -p "$work/bin" "$work/run"
cp "$src/helpline" "$src/helpline-collector" "$work/bin/"
cd "$work/run"

timeout -k 5 120 "$work/bin/helpline" collect --since 10m -o bundle.tar.gz >collect.log 2>&1 ||
  fail "helpline collect failed: $(tail -5 collect.log)"
timeout -k 5 60 "$work/bin/helpline-collector" diagnose --json bundle.tar.gz >diagnose.json 2>diagnose.log ||
  fail "helpline-collector diagnose failed: $(tail -5 diagnose.log)"
grep -q '"count"' diagnose.json || fail "diagnose printed no finding count: $(head -c 300 diagnose.json)"
echo "smoke: collect + diagnose from $work/run: $(tr -d '\n ' <diagnose.json | grep -o '"count":[0-9]*')" >&2

"$work/bin/helpline-collector" serve --listen 127.0.0.1:0 --data-dir "$work/data" >serve.out 2>serve.log &
server=$!
port=""
for _ in $(seq 1 300); do  # 30 s deadline
  port=$(sed -n 's/^listening: .*:\([0-9][0-9]*\)$/\1/p' serve.out)
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || fail "serve exited: $(tail -5 serve.log)"
  sleep 0.1
done
[ -n "$port" ] || fail "serve did not print 'listening:' within 30 s: $(tail -5 serve.log)"
curl -fsS --max-time 10 "http://127.0.0.1:$port/healthz" >/dev/null || fail "GET /healthz failed"
grep -q '^first-start credentials: ' serve.out || fail "serve did not name the first-start credentials file"
[ "$(stat -c %a "$work/data/first-start-credentials")" = 600 ] || fail "first-start-credentials is not mode 0600"
if grep -q 'hle_' serve.out serve.log; then fail "the enrollment secret reached the output"; fi
echo "smoke: serve started on 127.0.0.1:$port, /healthz answered, credentials only in a 0600 file" >&2

"$here/tests/icu.sh" "$work/bin/helpline"
