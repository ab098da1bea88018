#!/usr/bin/env bash
# Browser tests of the technician UI: Debian's chromium and chromium-driver driven by
# selenium (pinned in Tests/web/requirements.txt) against a real collector on a loopback port,
# fed real bundles by the real agent. Screenshots of every page go to test-artifacts/web/.
# Usage: HELPLINE_BIN_DIR=.build/debug Tests/web/run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
: "${HELPLINE_BIN_DIR:?set HELPLINE_BIN_DIR to the folder with helpline and helpline-collector}"
VENV="${HELPLINE_WEB_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/helpline-web-venv}"

for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "web tests: $tool is missing; scripts/setup.sh installs chromium and chromium-driver" >&2; exit 1; }
done
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
REQUIREMENTS="$ROOT/Tests/web/requirements.txt"
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.installed" 2>/dev/null; then
    "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.installed"
fi
exec timeout 600 "$VENV/bin/python" "$ROOT/Tests/web/web.py" "$@"
