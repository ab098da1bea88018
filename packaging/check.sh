#!/usr/bin/env bash
# Fast checks of packaging/ on the debug build, for scripts/test.sh (under a minute):
#  - shellcheck of every packaging script and maintainer script;
#  - desktop-file-validate of the "Get Help" launcher;
#  - systemd-analyze verify of both units (any warning fails) and `security --offline`
#    with an exposure ceiling, so hardening cannot silently go;
#  - agent.conf and collector.conf document exactly the settings the code reads, and the
#    real binaries accept every documented default, uncommented (`serve --check-config` too);
#  - binaries copied to another folder collect, diagnose with the built-in rules and serve,
#    and the agent's regex, date and redaction output matches packaging/tests/icu/
#    (packaging/smoke.sh, packaging/tests/icu.sh; build.sh repeats it on the static release
#    binaries with the toolchain hidden, the agent's with its subset of ICU's data, and checks
#    their ldd);
#  - the launcher's dialog path under Xvfb, screenshots in test-artifacts/packaging/.
# The .deb files, lintian and the install into a fresh Debian root are the slow suite:
# packaging/build.sh, then packaging/test-install.sh.
#
#   HELPLINE_BIN_DIR=$(swift build --show-bin-path) packaging/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HELPLINE_BIN_DIR:?set HELPLINE_BIN_DIR to the folder holding helpline and helpline-collector}
fail() { echo "check.sh: $*" >&2; exit 1; }
for tool in shellcheck desktop-file-validate systemd-analyze xvfb-run zenity xdotool import jq curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing (see scripts/setup.sh)"
done
for b in helpline helpline-collector; do [ -x "$bin/$b" ] || fail "$bin/$b is not built"; done
work=$(mktemp -d /tmp/helpline-pkgcheck.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "-- shellcheck" >&2
shellcheck packaging/*.sh packaging/tests/*.sh
shellcheck -s sh packaging/agent/helpline-get-help packaging/agent/debian/{postinst,prerm,postrm} \
  packaging/collector/debian/{postinst,prerm,postrm}

echo "-- desktop-file-validate" >&2
desktop-file-validate packaging/agent/helpline-get-help.desktop

echo "-- systemd-analyze verify / security" >&2
# The units as installed, except that ExecStart names the binaries built here.
mkdir -p "$work/units"
# The agent reports the machine's hostname as it is now: no UTS namespace of its own.
grep -q '^ProtectHostname=' packaging/agent/helpline-agent.service &&
  fail "helpline-agent.service sets ProtectHostname=, which freezes the hostname the agent reports"
for unit in packaging/agent/helpline-agent.service packaging/collector/helpline-collector.service; do
  sed "s|^ExecStart=/usr/bin/|ExecStart=$bin/|" "$unit" >"$work/units/$(basename "$unit")"
done
verify=$(cd "$work/units" && timeout 60 systemd-analyze verify --man=no helpline-agent.service helpline-collector.service 2>&1) ||
  fail "systemd-analyze verify failed: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warned: $verify"
# Exposure 0-100 (shown as 0.0-10.0): today 1.6 for the collector, 4.5 for the root agent.
(cd "$work/units" && timeout 60 systemd-analyze security --offline=true --threshold=25 helpline-collector.service >/dev/null) ||
  fail "helpline-collector.service is less hardened than before (systemd-analyze security --offline=true)"
(cd "$work/units" && timeout 60 systemd-analyze security --offline=true --threshold=50 helpline-agent.service >/dev/null) ||
  fail "helpline-agent.service is less hardened than before (systemd-analyze security --offline=true)"

echo "-- agent.conf: the settings AgentConfig reads, every default accepted" >&2
code_keys=$(sed -n 's/^ *case "\([a-z_]*\)":.*/\1/p' Sources/Agent/Delivery/AgentConfig.swift | sort)
conf_keys=$(sed -n 's/^#\([a-z_]*\) = .*/\1/p' packaging/agent/agent.conf | sort)
{ [ -n "$code_keys" ] && [ "$code_keys" = "$conf_keys" ]; } ||
  fail "agent.conf documents [$(echo "$conf_keys" | tr '\n' ' ')] but AgentConfig reads [$(echo "$code_keys" | tr '\n' ' ')]"
# Every default, uncommented (example URLs and files left out: they must point somewhere real).
grep -E '^#[a-z_]+ = ' packaging/agent/agent.conf | sed 's/^#//' |
  grep -vE '^(server|ca_file|pinned_public_key|proxy) ' >"$work/agent.conf"
# `status` reads the config first, then finds this empty state folder not enrolled (exit 5).
out=$(HELPLINE_STATE_DIR=$work/agent-state timeout 60 "$bin/helpline" status --config "$work/agent.conf" 2>&1) || true
echo "$out" | grep -q "this computer is not enrolled" || fail "helpline refused agent.conf's defaults: $out"

echo "-- collector.conf: the limits CollectorLimits knows, every one accepted" >&2
code_limits=$(sed -n 's/^ *"\([a-z_]*\)": Entry(path:.*/\1/p' Sources/Collector/Configuration/CollectorLimits.swift | sort)
conf_limits=$(sed -n 's/^#  \([a-z_]*\): [0-9]*$/\1/p' packaging/collector/collector.conf | sort)
{ [ -n "$code_limits" ] && [ "$code_limits" = "$conf_limits" ]; } || fail "collector.conf's limits differ from CollectorLimits.names"
# The file as shipped with the limits block uncommented, data_dir moved here.
awk '/^#limits:/{on=1} on{sub(/^#  /,"  "); sub(/^#limits:/,"limits:")} {print}' packaging/collector/collector.conf |
  sed "s|^data_dir: .*|data_dir: $work/collector-data|" >"$work/collector.conf"
mkdir -m 0700 "$work/collector-data"
out=$(timeout 60 "$bin/helpline-collector" serve --check-config --config "$work/collector.conf" 2>&1) ||
  fail "serve --check-config refused collector.conf: $out"
echo "$out" | grep -q "^configuration OK" || fail "serve --check-config did not say OK: $out"
out=$(timeout 60 "$bin/helpline-collector" admin secret list --config "$work/collector.conf" 2>&1) ||
  fail "helpline-collector refused collector.conf: $out"

echo "-- copied binaries: collect, diagnose with the built-in rules, serve; ICU's output" >&2
packaging/smoke.sh "$bin"

echo "-- the Get Help dialog under Xvfb" >&2
packaging/tests/dialog.sh

echo "packaging checks passed" >&2
