#!/usr/bin/env bash
# Release binaries as they are meant to ship: `helpline` (agent) and `helpline-collector`.
#
#   scripts/build-release.sh [--agent-only] [--scratch-path DIR] [--out DIR]
#
# Flags (their effect on the agent: BENCHMARKS.md, "Agent daemon at rest, small"):
#   --static-swift-stdlib   the Swift runtime and Foundation (with ICU's data) linked into the
#                           binary: no relocation of six large shared libraries at start, and
#                           only the pages used become resident. System C libraries (libc,
#                           libsystemd, zlib; libcurl, opened on first use) stay shared.
#   -no-pie                 a fixed load address: no 1.9 MB table of relative relocations read
#                           at every start, no copy-on-write pages from applying it.
#   --gc-sections           sections nothing refers to are left out.
#   -z now                  every symbol bound at start, so the GOT is read-only after it
#                           (full RELRO, as Debian's hardening flags ask).
#   strip                   the shipped copy without debug info; the unstripped binary stays
#                           in the scratch folder for symbolicating crash reports.
#   icu-subset.o            agent only: ICU's data without the parts the agent never opens
#                           (scripts/icu-subset.py, from the toolchain's own archive; the
#                           stripped agent 60.5 -> 37.8 MB). The collector keeps all of it.
#                           packaging/tests/icu.sh then checks the agent's regex, date and
#                           redaction output against expected output.
# They are command-line flags, not Package.swift settings, so debug builds and tests keep the
# ordinary dynamic link.
#
# Prints one line per binary built, the path of the stripped copy; the agent's comes last.
set -euo pipefail
cd "$(dirname "$0")/.."

agent_only=0
scratch=.build-release
out=.build-release/bin
while [ $# -gt 0 ]; do
    case "$1" in
        --agent-only) agent_only=1 ;;
        --scratch-path) scratch="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
        *) echo "build-release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

flags=(-c release --scratch-path "$scratch" --static-swift-stdlib
       -Xlinker --gc-sections -Xlinker -no-pie -Xlinker -z -Xlinker now)
mkdir -p "$out"
# SwiftPM does not relink when only -Xlinker flags changed: remove the products so a scratch
# folder last used for a plain build cannot hand back a binary linked the other way.
rm -f "$scratch/release/helpline" "$scratch/release/helpline-collector"

if [ "$agent_only" = 0 ]; then
    # Not measured with these flags yet (issue 12 measured the agent only).
    swift build "${flags[@]}" --product helpline-collector >&2
    strip -o "$out/helpline-collector" "$scratch/release/helpline-collector"
    echo "$out/helpline-collector"
fi
icu_link=$(scripts/icu-subset.py --out "$scratch/icu-subset")
agent_flags=("${flags[@]}")
while read -r arg; do agent_flags+=(-Xlinker "$arg"); done <<<"$icu_link"
HELPLINE_AGENT_ONLY=$agent_only swift build "${agent_flags[@]}" --product helpline >&2
scripts/icu-subset.py --check-binary "$scratch/release/helpline"
strip -o "$out/helpline" "$scratch/release/helpline"
packaging/tests/icu.sh "$out/helpline"
echo "$out/helpline"
