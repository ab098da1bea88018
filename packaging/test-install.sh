#!/usr/bin/env bash
# The slow packaging suite (a few minutes; needs root, network to a Debian mirror, and the
# .deb files from packaging/build.sh):
#  1. lintian on both packages: no errors (warnings are printed; README lists them);
#  2. a fresh Debian 12 root made by mmdebstrap from Essential packages plus both .debs,
#     so apt installs only what they declare;
#  3. inside it (chroot, no Swift toolchain there): helpline --version; the collector
#     started as its `helpline` user from the packaged config; the first-start credentials
#     read from the 0600 file; enrollment through the package's postinst and a preseeded
#     /etc/helpline/enroll.conf; the daemon started; a request with a note as root and one
#     as an ordinary user through the daemon's socket; the tickets seen with helpline status;
#  4. the "Get Help" dialog under Xvfb running that real agent against that collector
#     (screenshot in test-artifacts/packaging/get-help-answer.png).
#
#   sudo packaging/test-install.sh [--keep ROOT]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
fail() { echo "test-install.sh: $*" >&2; exit 1; }

if [ "${1:-}" != "--inside" ]; then
  [ "$(id -u)" -eq 0 ] || fail "run as root (mmdebstrap, chroot and mounts)"
  for tool in lintian mmdebstrap unshare chroot timeout jq; do
    command -v "$tool" >/dev/null || fail "$tool is missing (see scripts/setup.sh)"
  done
  arch=$(dpkg --print-architecture)
  # build.sh leaves exactly one of each.
  debs=(packaging/out/helpline-agent_*_"$arch".deb packaging/out/helpline-collector_*_"$arch".deb)
  for d in "${debs[@]}"; do [ -f "$d" ] || fail "no $d; run packaging/build.sh"; done
  agent_deb=${debs[0]} collector_deb=${debs[1]}

  echo "== lintian" >&2
  mkdir -p test-artifacts/packaging
  set +e
  timeout -k 10 900 lintian --fail-on error --display-info --tag-display-limit 0 "$agent_deb" "$collector_deb" \
    | tee test-artifacts/packaging/lintian.txt
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || fail "lintian found errors (exit $status; test-artifacts/packaging/lintian.txt)"

  keep=""
  [ "${1:-}" = "--keep" ] && keep=${2:?--keep needs a folder}
  target=${keep:-$(mktemp -d /tmp/helpline-root.XXXXXX)}
  [ -n "$keep" ] || trap 'rm -rf "$target"' EXIT
  rm -rf "$target"

  echo "== fresh Debian 12 root: Essential packages + the two .debs and what they declare ($target)" >&2
  # apt (outside) hands dpkg (inside) the .deb paths verbatim: the hook copies the files to
  # the same paths inside, and no recursive install through a temporary folder of links.
  timeout -k 10 1800 mmdebstrap --mode=root --variant=essential --verbose \
    --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
    --aptopt='DPkg::Install::Recursive "false"' \
    --include="$repo/$collector_deb" --include="$repo/$agent_deb" \
    bookworm "$target" http://deb.debian.org/debian >test-artifacts/packaging/mmdebstrap.log 2>&1 ||
    fail "mmdebstrap failed (test-artifacts/packaging/mmdebstrap.log)"
  # What the maintainer scripts told the administrator (--verbose shows dpkg's output).
  grep -q "^helpline-agent: this computer is not connected to a help desk yet" test-artifacts/packaging/mmdebstrap.log ||
    fail "the agent's postinst did not say how to enroll (test-artifacts/packaging/mmdebstrap.log)"
  grep -q "/var/lib/helpline-collector/first-start-credentials" test-artifacts/packaging/mmdebstrap.log ||
    fail "the collector's postinst did not name the first-start credentials file"
  for unit in helpline-agent helpline-collector; do
    [ -L "$target/etc/systemd/system/multi-user.target.wants/$unit.service" ] || fail "$unit.service was not enabled"
  done
  [ ! -e "$target/opt/swift" ] || fail "the root has /opt/swift"
  # Everything else runs in a private mount namespace: the mounts go when it ends, before
  # the trap removes the root.
  unshare -m --propagation private "$0" --inside "$target"
  exit 0
fi

# --- inside the mount namespace --------------------------------------------------------------
R=$2
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do timeout 20 tail --pid="$p" -f /dev/null || kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
in_root() { timeout -k 5 "$1" chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "${@:2}"; }
artifacts=$repo/test-artifacts/packaging

echo "== inside: versions, files, users" >&2
v=$(in_root 30 helpline --version); cv=$(in_root 30 helpline-collector --version)
[ "$v" = "$cv" ] || fail "helpline $v, helpline-collector $cv"
echo "helpline --version: $v (no Swift toolchain in this root)" >&2
in_root 10 getent passwd helpline >/dev/null || fail "no helpline user"
# Owners as the root's own users see them (uids differ from this host's).
owner() { in_root 10 stat -c "$1" "$2"; }
[ "$(owner '%a %U' /var/lib/helpline-collector)" = "700 helpline" ] || fail "/var/lib/helpline-collector is $(owner '%a %U' /var/lib/helpline-collector)"
[ "$(owner '%a %U:%G' /etc/helpline/collector.conf)" = "640 root:helpline" ] || fail "collector.conf is $(owner '%a %U:%G' /etc/helpline/collector.conf)"
for f in /usr/share/man/man1/helpline.1.gz /usr/share/man/man1/helpline-collector.1.gz \
  /usr/share/bash-completion/completions/helpline /usr/share/zsh/vendor-completions/_helpline-collector \
  /lib/systemd/system/helpline-agent.service /lib/systemd/system/helpline-collector.service \
  /usr/share/applications/helpline-get-help.desktop /usr/bin/helpline-get-help; do
  [ -s "$R$f" ] || fail "$f is not installed"
done

echo "== inside: the collector, as the packaged unit runs it (user helpline, packaged config)" >&2
port=$((20000 + RANDOM % 20000))
sed -i "s|^listen: .*|listen: 127.0.0.1:$port|" "$R/etc/helpline/collector.conf"
# min_free_disk_mb stays at its default: this disk has room.
# The unit's CapabilityBoundingSet= (none) and NoNewPrivileges=, as setpriv can apply them.
in_root 3600 setpriv --reuid helpline --regid helpline --init-groups --bounding-set -all --no-new-privs \
  helpline-collector serve --config /etc/helpline/collector.conf >"$R/tmp/serve.out" 2>"$R/tmp/serve.log" &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q '^listening: ' "$R/tmp/serve.out" && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "the collector exited: $(tail -5 "$R/tmp/serve.log")"
  sleep 0.1
done
grep -q '^listening: ' "$R/tmp/serve.out" || fail "the collector did not listen within 30 s"
creds=/var/lib/helpline-collector/first-start-credentials
grep -qx "first-start credentials: /var/lib/helpline-collector/first-start-credentials" "$R/tmp/serve.out" ||
  fail "serve printed: $(cat "$R/tmp/serve.out")"
[ "$(owner '%a %U' "$creds")" = "600 helpline" ] || fail "first-start-credentials is $(owner '%a %U' "$creds")"
if grep -q 'hle_' "$R/tmp/serve.out" "$R/tmp/serve.log"; then fail "the secret reached the collector's output"; fi
secret=$(sed -n 's/^enrollment secret: //p' "$R$creds")
[ -n "$secret" ] || fail "no enrollment secret in $creds"

echo "== inside: enrollment from a preseeded /etc/helpline/enroll.conf (the package's postinst)" >&2
umask 077
printf '%s\n' "$secret" >"$R/etc/helpline/enroll.secret"
printf 'server = http://127.0.0.1:%s\nsecret_file = /etc/helpline/enroll.secret\n' "$port" >"$R/etc/helpline/enroll.conf"
umask 022
# The agent identifies the computer by /etc/machine-id, which systemd writes on a real
# system; this root has no systemd.
tr -d '-' </proc/sys/kernel/random/uuid >"$R/etc/machine-id"
# Run as dpkg runs it (deb-systemd-helper insists on dpkg's variables).
in_root 240 env DPKG_MAINTSCRIPT_PACKAGE=helpline-agent DPKG_MAINTSCRIPT_NAME=postinst \
  /var/lib/dpkg/info/helpline-agent.postinst configure "" 2>&1 | tee "$artifacts/postinst-enroll.txt"
[ -s "$R/var/lib/helpline/enrollment.json" ] || fail "the postinst did not enroll"

echo "== inside: the daemon, then requests as root and as an ordinary user" >&2
# With the unit's capability bounding set and NoNewPrivileges= (root keeps only these four).
in_root 3600 setpriv --bounding-set -all,+dac_read_search,+setuid,+setgid,+kill --no-new-privs \
  helpline daemon >"$R/tmp/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -S "$R/run/helpline/agent.sock" ] && break; sleep 0.1; done
[ -S "$R/run/helpline/agent.sock" ] || fail "the daemon made no socket: $(tail -5 "$R/tmp/daemon.log")"
in_root 300 helpline request --note "packaging test: printer is slow" --json >"$artifacts/request-root.json" ||
  fail "helpline request (root) failed: $(cat "$artifacts/request-root.json")"
in_root 60 adduser --quiet --disabled-password --gecos "" alice >/dev/null
in_root 300 setpriv --reuid alice --regid alice --init-groups env HOME=/home/alice \
  helpline request --note "packaging test: Wi-Fi drops" --json >"$artifacts/request-user.json" ||
  fail "helpline request (alice, through the daemon) failed: $(cat "$artifacts/request-user.json")"
for who in root user; do
  ticket=$(jq -r '.receipt.ticketID // empty' "$artifacts/request-$who.json")
  [ -n "$ticket" ] || fail "no ticket in the $who request's answer: $(head -c 600 "$artifacts/request-$who.json")"
  echo "request as $who: ticket #$ticket; could not read: $(jq -c '.unreadable // []' "$artifacts/request-$who.json")" >&2
done
in_root 60 helpline status >"$artifacts/status.txt" 2>&1 || fail "helpline status failed: $(cat "$artifacts/status.txt")"
grep -q "#$ticket" "$artifacts/status.txt" || fail "helpline status does not show ticket #$ticket: $(cat "$artifacts/status.txt")"
echo "helpline status lists the tickets (test-artifacts/packaging/status.txt)" >&2

echo "== the Get Help dialog with this agent (as alice, through the daemon)" >&2
wrapper=$(mktemp /tmp/helpline-in-root.XXXXXX)
cat >"$wrapper" <<EOF
#!/bin/sh
exec timeout -k 5 300 chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/home/alice setpriv --reuid alice --regid alice --init-groups helpline "\$@"
EOF
chmod +x "$wrapper"
EXPECT_TICKET="Ticket #" packaging/tests/dialog.sh "$wrapper"
rm -f "$wrapper"
echo "== install test passed" >&2
