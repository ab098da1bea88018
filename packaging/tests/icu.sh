#!/usr/bin/env bash
# What the agent does with ICU, against expected output: the shipped agent carries only part
# of ICU's data (scripts/icu-subset.py), so a cut too deep shows here, not on a workstation.
#  - `helpline request --json`, not enrolled, on a journal holding the built-in rules'
#    example lines (journal.jsonl: the `match` lines of Sources/Diagnosis/Rules/*.examples.yaml
#    as of 2026-12-01, each written 6 times) and the sysroot-laptop fixture: the local
#    diagnosis (NSRegularExpression, ISO 8601 dates) must find exactly expected-findings.tsv;
#  - the same bundle redacted by an organisation's rules (org.rules: \b, \d, \p{..}, \N{..},
#    (?i) with full case folding): its journal lines must read exactly expected-redacted.txt;
#  - `helpline status` lists a waiting bundle's time in two time zones (Date.formatted through
#    ICU's locale, calendar and time zone data): expected-status.txt.
# Against packages cut too deep it failed as it should: no data at all, or without zone/ and
# curr/ (the request crashes); without unames.icu (org.rules no longer compiles); without the
# en* locales (status prints "2026 M11 30 1:35 PM"); without zoneinfo64.res (status prints UTC).
# Writes systemd journal files with systemd-journal-remote.
#
#   packaging/tests/icu.sh [--update] HELPLINE
# --update writes what HELPLINE printed into the expected files instead of comparing: only
# with an agent that has all of ICU's data (the debug build), after a rule change that
# explains the difference; review the diff before committing it.
# Run by packaging/smoke.sh: on the debug build (packaging/check.sh) and on the stripped
# release agent with the toolchain hidden (packaging/build.sh), and by scripts/build-release.sh.
set -euo pipefail
update=0
if [ "${1:-}" = --update ]; then update=1; shift; fi
[ $# -eq 1 ] || { echo "usage: packaging/tests/icu.sh [--update] HELPLINE" >&2; exit 2; }
helpline=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/icu
sysroot=$(cd "$here/../../Tests/AgentTests/Fixtures/sysroot-laptop" && pwd)
remote=/lib/systemd/systemd-journal-remote
fail() { echo "icu.sh: $*" >&2; exit 1; }
for tool in jq python3 tar timeout diff; do
  command -v "$tool" >/dev/null || fail "$tool is missing (see scripts/setup.sh)"
done
[ -x "$remote" ] || fail "$remote is missing (apt-get install systemd-journal-remote)"
[ -x "$helpline" ] || fail "$1 is not an executable"

# expect NAME FOUND WHAT: FOUND must equal the fixture NAME (or, with --update, replaces it).
expect() {
  if [ "$update" = 1 ]; then cp "$2" "$fixtures/$1"; return; fi
  diff -u "$fixtures/$1" "$2" >&2 || fail "$3 differs from $1 (above: - expected, + found)"
}

work=$(mktemp -d /tmp/helpline-icu.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$work/agent.conf"  # every setting at its default

# --- the journal: each fixture line 6 times, 2 s apart, from 2026-11-30 08:00:00 UTC ------
boot=$(tr -d '-' <"$sysroot/proc/sys/kernel/random/boot_id")
python3 - "$fixtures/journal.jsonl" "$boot" >"$work/journal.export" <<'EOF'
import json, sys
fields = {"identifier": "SYSLOG_IDENTIFIER", "transport": "_TRANSPORT", "priority": "PRIORITY",
          "unit": "_SYSTEMD_UNIT", "message_id": "MESSAGE_ID", "message": "MESSAGE"}
out, at = sys.stdout.buffer, 1796025600 * 1_000_000
for line in open(sys.argv[1], encoding="utf-8"):
    entry = json.loads(line)
    for _ in range(6):
        at += 2_000_000
        out.write(f"__REALTIME_TIMESTAMP={at}\n__MONOTONIC_TIMESTAMP={at - 1796000000 * 1_000_000}\n_BOOT_ID={sys.argv[2]}\n".encode())
        for key, value in entry.items():
            data = str(value).encode("utf-8")
            if any(b < 0x20 or b >= 0x80 for b in data):  # export format's binary field form
                out.write(fields[key].encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n")
            else:
                out.write(fields[key].encode() + b"=" + data + b"\n")
        out.write(b"\n")
EOF
mkdir "$work/journal"
timeout -k 5 60 "$remote" -o "$work/journal/system.journal" "$work/journal.export" >/dev/null 2>"$work/remote.log" ||
  fail "systemd-journal-remote failed: $(tail -3 "$work/remote.log")"

# --- request: local diagnosis with every built-in rule, organisation redaction ------------
mkdir "$work/rules" && cp "$fixtures/org.rules" "$work/rules/"
status=0
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)  # metric findings are seen "now", at collection time
HELPLINE_STATE_DIR=$work/state HELPLINE_CONFIG=$work/agent.conf timeout -k 5 120 "$helpline" request --json --note "icu check" \
  --sysroot "$sysroot" --journal-directory "$work/journal" --since 3650d --important-since 3650d \
  --rules-dir "$work/rules" >"$work/answer.json" 2>"$work/request.log" || status=$?
[ "$status" = 4 ] || [ "$status" = 5 ] ||
  fail "helpline request exited $status (expected 4 or 5: kept until enrolled): $(tail -5 "$work/request.log") $(jq -r '.message // empty' "$work/answer.json" 2>/dev/null)"
jq -r --arg started "$started" '.localFindings[]
    | [.ruleID, (.subject // "-"), .severity, (if (.lastSeen // "") >= $started then "now" else (.lastSeen // "-") end)]
    | @tsv' "$work/answer.json" |
  LC_ALL=C sort >"$work/findings.tsv" || fail "the answer has no localFindings: $(head -c 300 "$work/answer.json")"
expect expected-findings.tsv "$work/findings.tsv" "the local diagnosis"

bundle=$(jq -r '.keptAt // empty' "$work/answer.json")
[ -f "$bundle" ] || fail "the answer names no kept bundle: $(head -c 300 "$work/answer.json")"
mkdir "$work/bundle" && tar -xzf "$bundle" -C "$work/bundle"
[ -f "$work/bundle/journal.jsonl" ] || fail "the bundle has no journal.jsonl: $(ls "$work/bundle")"
jq -r 'select(.ident == "backup-helper") | .msg' "$work/bundle/journal.jsonl" | awk '!seen[$0]++' >"$work/redacted.txt"
expect expected-redacted.txt "$work/redacted.txt" "what the organisation's rules redacted"

# --- status: a waiting bundle's time, in the reader's locale and time zone -----------------
mkdir -p "$work/status/spool"
: >"$work/status/spool/0b8f3c2e-5d41-4e0a-9a57-2c6b1f0e7d93.tar.gz"
printf '%s\n' '{"bundleID":"0b8f3c2e-5d41-4e0a-9a57-2c6b1f0e7d93","reason":"user_request","createdAt":"2026-11-30T08:05:00Z","bytes":48213,"attempts":0}' \
  >"$work/status/spool/0b8f3c2e-5d41-4e0a-9a57-2c6b1f0e7d93.json"
: >"$work/status.txt"
for env in "LANG=en_US.UTF-8 TZ=Asia/Kolkata" "LANG=de_DE.UTF-8 TZ=America/New_York"; do
  echo "$env" >>"$work/status.txt"
  # shellcheck disable=SC2086 # $env is two assignments
  env -u LC_ALL $env HELPLINE_STATE_DIR="$work/status" HELPLINE_CONFIG=$work/agent.conf timeout -k 5 60 "$helpline" status \
    >>"$work/status.txt" 2>&1 || true
done
expect expected-status.txt "$work/status.txt" "what helpline status printed"
echo "icu: $(wc -l <"$work/findings.tsv") local findings, $(wc -l <"$work/redacted.txt") redacted lines and status in 2 time zones as expected" >&2
