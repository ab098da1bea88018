#!/usr/bin/env bash
# Installs what Helpline builds and tests with, on Debian 12 with Swift already present.
# Idempotent: safe to run again. Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

packages=(
  # C libraries the product is built on
  libsystemd-dev libcurl4-openssl-dev zlib1g-dev libsqlite3-dev pkg-config
  # journal fixtures (export format → journal files), TLS test certificates, HTTP checks
  systemd-journal-remote openssl curl ca-certificates
  # agent tests that fail (not skip) without them: a real D-Bus daemon standing in for the
  # system bus (units probe) and for users' session buses (reply notifications); throwaway
  # unprivileged users for the daemon socket and notification tests (useradd/userdel from
  # passwd, setpriv from util-linux, which the daemon also uses to notify as the user)
  dbus-daemon passwd util-linux
  # API contract checks (schemathesis, openapi-spec-validator run in a venv)
  python3 python3-venv python3-pip
  # the technician UI's browser tests (selenium from PyPI drives Debian's chromium)
  chromium chromium-driver
  # packaging checks (packaging/check.sh) and the slow install test (packaging/test-install.sh)
  shellcheck desktop-file-utils xvfb xauth zenity xdotool imagemagick jq lintian mmdebstrap dpkg-dev binutils
  # tar/gzip interop tests
  tar gzip
  # the PostgreSQL store's tests: scripts/postgres.sh runs a throwaway server (pg_trgm is in
  # postgresql-15 itself)
  postgresql
  # bench/run (its --quick run is a step of scripts/test.sh): wrk sends the heartbeat load;
  # sosreport is the anchor for collection (`sos report`, left out by --quick) and binary size
  wrk sosreport
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH; install Swift 6.3 first" >&2; exit 1; }
