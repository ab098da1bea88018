#!/usr/bin/env bash
# The main job on a fresh machine: build Helpline, start a collector on SQLite in a scratch
# folder, enroll this machine, ask for help with a note, and show the ticket and findings.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== build (debug; the first build takes several minutes)" >&2
swift build --product helpline-collector >/tmp/helpline-demo-build.log 2>&1 || { tail -30 /tmp/helpline-demo-build.log; exit 1; }
swift build --product helpline >>/tmp/helpline-demo-build.log 2>&1 || { tail -30 /tmp/helpline-demo-build.log; exit 1; }
bin="$(swift build --show-bin-path)"

demo="$PWD/demo"
rm -rf "$demo"
mkdir -p "$demo"

echo "== start a collector (SQLite in $demo/collector)" >&2
"$bin/helpline-collector" serve --listen 127.0.0.1:0 --data-dir "$demo/collector" --min-free-disk-mb 64 \
  >"$demo/collector.out" 2>"$demo/collector.log" &
collector=$!
trap 'kill $collector 2>/dev/null; wait $collector 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^listening: ' "$demo/collector.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening: .*:\([0-9]*\)$/\1/p' "$demo/collector.out")
# The first start writes the enrollment secret and admin login to a 0600 file, never to stdout.
creds=$(sed -n 's/^first-start credentials: //p' "$demo/collector.out")
[ -n "$port" ] && [ -n "$creds" ] || { cat "$demo/collector.log"; echo "collector did not start" >&2; exit 1; }
sed -n 's/^enrollment secret: //p' "$creds" > "$demo/enrollment-secret"
login=$(sed -n 's/^admin login: //p' "$creds")
echo "collector on http://127.0.0.1:$port (technician login: $login, from $creds)"

printf "# demo agent settings\nretries = 2\n" > "$demo/agent.conf"
export HELPLINE_STATE_DIR="$demo/agent" HELPLINE_CONFIG="$demo/agent.conf"
echo
echo "== enroll this machine"
"$bin/helpline" enroll --server "http://127.0.0.1:$port" --secret-file "$demo/enrollment-secret"

echo
echo "== helpline --note \"my laptop is slow and the printer does not work\""
# The demo machine is a container: use the laptop fixture so there is something to find,
# and this machine's own journal when it has one.
journal_args=()
[ -d /var/log/journal ] || [ -d /run/log/journal ] || journal_args=(--journal-directory "$demo/empty-journal")
mkdir -p "$demo/empty-journal"
"$bin/helpline" request --note "my laptop is slow and the printer does not work" \
  --sysroot Tests/AgentTests/Fixtures/sysroot-laptop "${journal_args[@]}" || true

echo
echo "== helpline status"
"$bin/helpline" status || true

echo
echo "== the same bundle, as the technician sees it (GET /api/v1/tickets)"
token=$("$bin/helpline-collector" admin token create demo --data-dir "$demo/collector")
curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/tickets" | python3 -m json.tool | head -40

echo
echo "== the technician's view in a browser"
echo "The collector keeps running until you press Ctrl-C. Open http://127.0.0.1:$port/tickets"
echo "and sign in as $login (from $creds); you will be asked to choose your own password."
echo "Fleet questions: http://127.0.0.1:$port/fleet, or: $bin/helpline-collector query --data-dir $demo/collector \"SELECT hostname, mount_point, used_percent FROM disks\""
if [ -t 0 ]; then
  wait "$collector" || true
fi
