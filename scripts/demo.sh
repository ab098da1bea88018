#!/usr/bin/env bash
# The main job on a fresh machine: build Helpline and ask it for help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --product helpline 2>&1 | tail -1
bin="$(swift build --show-bin-path)"
mkdir -p demo
echo "== what would be collected (nothing leaves the machine)"
"$bin/helpline" preview
echo
echo "== collect a bundle"
"$bin/helpline" collect --note "demo: my computer is slow" --output demo/bundle.tar.gz
echo
echo "== the bundle opens with plain tar"
tar tzvf demo/bundle.tar.gz
