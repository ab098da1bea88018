#!/usr/bin/env bash
# API contract checks: validates docs/openapi.yaml, then runs schemathesis against a live
# collector (random loopback port, temp data dir) and fails on any 5xx or answer that does
# not match the spec. Usage: HELPLINE_COLLECTOR_BIN=.build/debug/helpline-collector Tests/api/run.sh
# Idempotent on a fresh Debian 12: installs python3-venv when missing, reuses its venv.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${HELPLINE_COLLECTOR_BIN:?set HELPLINE_COLLECTOR_BIN to the built helpline-collector}"
SPEC="$ROOT/docs/openapi.yaml"
VENV="${HELPLINE_API_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/helpline-api-venv}"
EXAMPLES="${HELPLINE_API_MAX_EXAMPLES:-30}"

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt-get install -y python3-venv >/dev/null
        python3 -m venv "$VENV"
    fi
fi
# Exact versions from one file; reinstalled whenever the file changes.
REQUIREMENTS="$ROOT/Tests/api/requirements.txt"
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.installed" 2>/dev/null; then
    "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.installed"
fi

echo "== validating $SPEC"
"$VENV/bin/openapi-spec-validator" "$SPEC"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --min-free-disk-mb 1 --log-level error \
    >"$WORK/out" 2>"$WORK/err" &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q '^listening: ' "$WORK/out" && break; sleep 0.1; done
PORT="$(sed -n 's/^listening: .*:\([0-9]*\)$/\1/p' "$WORK/out")"
[ -n "$PORT" ] || { echo "collector did not start"; cat "$WORK/err"; exit 1; }
URL="http://127.0.0.1:$PORT"
SECRET="$(sed -n 's/^enrollment secret: //p' "$(sed -n 's/^first-start credentials: //p' "$WORK/out")")"
API_TOKEN="$("$BIN" admin token create schemathesis --data-dir "$WORK/data")"
ENROLL="$(curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"secret\":\"$SECRET\",\"hostname\":\"api-check\",\"machineID\":\"api-check-1\"}" "$URL/api/v1/enroll")"
HOST_ID="$("$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["hostID"])' <<<"$ENROLL")"
HOST_TOKEN="$("$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["hostToken"])' <<<"$ENROLL")"

# One real bundle, so that technician endpoints have something to find.
"$VENV/bin/python" - "$WORK/bundle.tar.gz" "$HOST_ID" <<'PY'
import io, json, sys, tarfile, uuid
path, host = sys.argv[1], sys.argv[2]
manifest = {"schemaVersion": 1, "bundleID": str(uuid.uuid4()), "createdAt": "2026-11-29T08:00:00Z", "agentVersion": "api-check",
            "host": {"hostID": host, "hostname": "api-check", "machineID": "api-check-1"}, "reason": "user_request",
            "note": "api check", "probes": [], "redactions": {}}
with tarfile.open(path, "w:gz", format=tarfile.USTAR_FORMAT) as tar:
    for name, data in [("manifest.json", json.dumps(manifest).encode()),
                       ("journal.jsonl", b'{"ts":1790000000000000,"prio":3,"unit":"a.service","msg":"hello"}\n')]:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
PY
STATUS="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $HOST_TOKEN" \
    -H 'Content-Type: application/gzip' -H 'Expect:' --data-binary "@$WORK/bundle.tar.gz" "$URL/api/v1/bundles")"
[ "$STATUS" = 201 ] || { echo "sample bundle upload answered $STATUS"; exit 1; }

CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"
COMMON=(--checks "$CHECKS" --hypothesis-max-examples "$EXAMPLES" --hypothesis-deadline 5000
        --hypothesis-derandomize --hypothesis-suppress-health-check all --base-url "$URL" --no-color)
export SCHEMATHESIS_HOOKS=""

echo "== schemathesis: agent endpoints (host token)"
"$VENV/bin/st" run "$SPEC" "${COMMON[@]}" -H "Authorization: Bearer $HOST_TOKEN" \
    --include-path-regex '^/api/v1/(bundles|heartbeats|hosts/self/tickets)$'
echo "== schemathesis: everything else (API token)"
"$VENV/bin/st" run "$SPEC" "${COMMON[@]}" -H "Authorization: Bearer $API_TOKEN" \
    --exclude-path-regex '^/api/v1/(bundles|heartbeats|hosts/self/tickets)$'

kill -0 "$SERVER_PID" || { echo "the collector died during the checks"; cat "$WORK/err"; exit 1; }
echo "api checks passed"
