#!/usr/bin/env bash
# Builds helpline-agent and helpline-collector .deb files into packaging/out/ from a clean
# checkout: release binaries with the Swift standard library and Foundation linked
# statically (the agent with only the part of ICU's data it opens: scripts/icu-subset.py),
# checked to run without the Swift toolchain and for full RELRO, stripped; man pages and shell
# completions generated from the argument parser; `dpkg-deb --build --root-owner-group`.
#
# The version is HelplineVersion.current (Sources/Shared/Model/HelplineVersion.swift), read
# back from the built binaries: nothing else in the repository spells it.
#
#   packaging/build.sh [--scratch-path DIR]   (default .build-pkg; 36 min from clean on 2 busy cores)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scratch=.build-pkg
while (($#)); do
  case "$1" in
    --scratch-path) scratch=$2; shift 2 ;;
    *) echo "usage: packaging/build.sh [--scratch-path DIR]" >&2; exit 2 ;;
  esac
done

maintainer="Helpline maintainers <maintainers@users.noreply.r-seed-8ed5fd96.example>"
out=$root/packaging/out
stage=$out/stage

fail() { echo "build.sh: $*" >&2; exit 1; }
umask 022
mkdir -p "$out"
for tool in swift dpkg-deb dpkg-shlibdeps dpkg-architecture strip readelf ldd gzip unshare timeout \
  ar as nm objcopy python3 jq; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install dpkg-dev binutils util-linux coreutils python3 jq)"
done
[ -x /lib/systemd/systemd-journal-remote ] ||
  fail "systemd-journal-remote is missing (apt-get install systemd-journal-remote; packaging/tests/icu.sh writes journals with it)"

# --- binaries ---------------------------------------------------------------------------
echo "== release build (static Swift standard library and Foundation; $scratch)" >&2
# -z now: every symbol bound at start, so the GOT is read-only afterwards (full RELRO).
build=(swift build -c release --static-swift-stdlib --disable-local-rpath -Xlinker -z -Xlinker now --scratch-path "$scratch")
# SwiftPM does not relink when only -Xlinker flags changed: a scratch folder last used without
# them must not hand back binaries linked the other way.
rm -f "$scratch/release/helpline" "$scratch/release/helpline-collector"
timeout -k 30 5400 "${build[@]}" >"$out/build.log" 2>&1 || {
  grep -E 'error:' "$out/build.log" | head -40 >&2 || tail -40 "$out/build.log" >&2
  fail "release build failed; full log: $out/build.log"
}
bin=$("${build[@]}" --show-bin-path)
# The agent again, with the subset of ICU's data (the collector keeps all of it). SwiftPM does
# not relink when only -Xlinker flags changed, hence the rm.
icu_link=$(scripts/icu-subset.py --out "$scratch/icu-subset") || fail "scripts/icu-subset.py failed (above)"
agent_build=("${build[@]}")
while read -r arg; do agent_build+=(-Xlinker "$arg"); done <<<"$icu_link"
rm -f "$bin/helpline"
timeout -k 30 1800 "${agent_build[@]}" --product helpline >>"$out/build.log" 2>&1 || {
  grep -E 'error:' "$out/build.log" | head -40 >&2 || tail -40 "$out/build.log" >&2
  fail "linking the agent with the subset of ICU's data failed; full log: $out/build.log"
}
scripts/icu-subset.py --check-binary "$bin/helpline" || fail "the agent does not use the subset of ICU's data (above)"

echo "== generate-manual (swift-argument-parser's tool, built from the resolved checkout)" >&2
tools_scratch="$scratch-tools"
timeout -k 30 1800 swift build --package-path "$scratch/checkouts/swift-argument-parser" \
  --scratch-path "$tools_scratch" --product generate-manual >"$out/tools.log" 2>&1 ||
  fail "building generate-manual failed; full log: $out/tools.log"
generate_manual="$(swift build --package-path "$scratch/checkouts/swift-argument-parser" --scratch-path "$tools_scratch" --show-bin-path)/generate-manual"

version=$(timeout 30 "$bin/helpline" --version)
collector_version=$(timeout 30 "$bin/helpline-collector" --version)
[ "$version" = "$collector_version" ] || fail "helpline says $version, helpline-collector $collector_version"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([~+.][0-9A-Za-z.~+]+)?$ ]] || fail "version '$version' is not a Debian version"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
# Reproducible dates (man pages, changelog): the commit's time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
echo "version $version, architecture $arch" >&2

rm -rf "$stage"
mkdir -p "$stage/bin"
for b in helpline helpline-collector; do
  cp "$bin/$b" "$stage/bin/$b"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/bin/$b"
done

echo "== the binaries need no Swift toolchain" >&2
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
for b in helpline helpline-collector; do
  f=$stage/bin/$b
  if readelf -d "$f" | grep -E 'NEEDED.*(libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|libicu)'; then
    fail "$b still needs a Swift runtime library (above)"
  fi
  if readelf -d "$f" | grep -E 'R(UN)?PATH'; then fail "$b carries a library search path (above)"; fi
  if ldd "$f" | grep -E "not found|$toolchain|swift"; then fail "$b resolves libraries from the toolchain (above)"; fi
done
echo "== ELF hardening: full RELRO, no executable stack, no text relocations" >&2
# Not checked: .rodata is writable in both. The toolchain's static libraries (libswiftCore.a,
# libFoundation*.a …) carry .rodata input sections flagged writable, and the linker merges
# every .rodata into one output section with their flags.
for b in helpline helpline-collector; do
  dynamic=$(readelf -d "$stage/bin/$b") segments=$(readelf -lW "$stage/bin/$b")
  grep -qE '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' <<<"$dynamic" || fail "$b is not linked with -z now (partial RELRO)"
  grep -q GNU_RELRO <<<"$segments" || fail "$b has no RELRO segment"
  if grep GNU_STACK <<<"$segments" | grep -q RWE; then fail "$b asks for an executable stack"; fi
  if grep -q TEXTREL <<<"$dynamic"; then fail "$b has text relocations"; fi
done
# Run them with the toolchain hidden (an empty tmpfs over it) and an empty environment.
hidden_check=$(
  unshare -m sh -c "mount -t tmpfs none '$toolchain' && cd / &&
    env -i '$stage/bin/helpline' --version && env -i '$stage/bin/helpline-collector' --version" 2>&1
) || fail "a binary does not run with $toolchain hidden: $hidden_check"
[ "$hidden_check" = "$version"$'\n'"$version" ] || fail "unexpected output with the toolchain hidden: $hidden_check"
# Copied elsewhere, with the toolchain hidden: collect, diagnose with the built-in rules, serve,
# and the agent's output that needs ICU's data (packaging/tests/icu.sh).
unshare -m sh -c "mount -t tmpfs none '$toolchain' && env -i PATH=/usr/bin:/bin '$root/packaging/smoke.sh' '$stage/bin'" ||
  fail "the smoke test of the stripped binaries failed with $toolchain hidden (above)"

# --- what both packages carry -------------------------------------------------------------
rm -rf "$stage/gen" && mkdir -p "$stage/gen"
for b in helpline helpline-collector; do
  d=$stage/gen/$b
  mkdir -p "$d"
  timeout 120 "$generate_manual" "$stage/bin/$b" --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)" \
    --authors "$maintainer" -o "$d" >/dev/null || fail "generate-manual failed for $b"
  [ -s "$d/$b.1" ] || fail "generate-manual wrote no $b.1"
  for shell in bash zsh fish; do
    timeout 30 "$stage/bin/$b" --generate-completion-script "$shell" >"$d/completion.$shell"
    [ -s "$d/completion.$shell" ] || fail "no $shell completion for $b"
  done
done

# changelog.gz for a native package, made from the one version.
changelog() {
  printf 'helpline (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
    "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$maintainer" \
    "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
}

# Installs the common parts of package $1 (binary $2) into its root $3.
common_files() {
  local pkg=$1 b=$2 r=$3
  install -D -m 0755 "$stage/bin/$b" "$r/usr/bin/$b"
  install -d -m 0755 "$r/usr/share/man/man1" "$r/usr/share/doc/$pkg"
  gzip -9n <"$stage/gen/$b/$b.1" >"$r/usr/share/man/man1/$b.1.gz"
  # Sourced, not run: no #! line (lintian bash-completion-with-hashbang).
  install -d -m 0755 "$r/usr/share/bash-completion/completions"
  sed '1{/^#!/d}' "$stage/gen/$b/completion.bash" >"$r/usr/share/bash-completion/completions/$b"
  chmod 0644 "$r/usr/share/bash-completion/completions/$b"
  install -D -m 0644 "$stage/gen/$b/completion.zsh" "$r/usr/share/zsh/vendor-completions/_$b"
  install -D -m 0644 "$stage/gen/$b/completion.fish" "$r/usr/share/fish/vendor_completions.d/$b.fish"
  install -m 0644 packaging/copyright "$r/usr/share/doc/$pkg/copyright"
  install -D -m 0644 "packaging/${pkg#helpline-}/lintian-overrides" "$r/usr/share/lintian/overrides/$pkg"
  changelog | gzip -9n >"$r/usr/share/doc/$pkg/changelog.gz"
  chmod 0644 "$r/usr/share/doc/$pkg/changelog.gz" "$r/usr/share/man/man1/$b.1.gz"
}

# The shared-library dependencies of binary $1, as dpkg-shlibdeps computes them.
shlibs() {
  local work=$stage/shlibs
  mkdir -p "$work/debian"
  printf 'Source: helpline\n\nPackage: helpline\nArchitecture: any\n' >"$work/debian/control"
  (cd "$work" && dpkg-shlibdeps -O -e"$1" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

# Writes DEBIAN/control, md5sums and the maintainer scripts of package $1 into root $2,
# then builds the .deb. $3: binary; $4: extra Depends; $5: Recommends; $6: description.
finish() {
  local pkg=$1 r=$2 b=$3 extra=$4 recommends=$5 description=$6
  install -d -m 0755 "$r/DEBIAN"
  local depends
  depends=$(shlibs "$r/usr/bin/$b")
  [ -n "$depends" ] || fail "dpkg-shlibdeps found no dependencies for $b"
  {
    echo "Package: $pkg"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$r" | cut -f1)"
    echo "Depends: $depends${extra:+, $extra}"
    [ -z "$recommends" ] || echo "Recommends: $recommends"
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: $description"
  } >"$r/DEBIAN/control"
  local src=packaging/${pkg#helpline-}  # packaging/agent, packaging/collector
  for s in postinst prerm postrm; do install -m 0755 "$src/debian/$s" "$r/DEBIAN/$s"; done
  install -m 0644 "$src/debian/conffiles" "$r/DEBIAN/conffiles"
  (cd "$r" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$r/DEBIAN/md5sums"
  chmod 0644 "$r/DEBIAN/md5sums"
  dpkg-deb --build --root-owner-group -Zxz "$r" "$out/${pkg}_${version}_${arch}.deb" >&2
}

rm -f "$out"/*.deb

# --- helpline-agent -----------------------------------------------------------------------
echo "== helpline-agent" >&2
a=$stage/helpline-agent
common_files helpline-agent helpline "$a"
install -D -m 0644 packaging/agent/agent.conf "$a/etc/helpline/agent.conf"
install -D -m 0644 packaging/agent/helpline-agent.service "$a/lib/systemd/system/helpline-agent.service"
install -D -m 0755 packaging/agent/helpline-get-help "$a/usr/bin/helpline-get-help"
install -D -m 0644 packaging/agent/helpline-get-help.desktop "$a/usr/share/applications/helpline-get-help.desktop"
install -D -m 0644 packaging/agent/helpline-get-help.svg "$a/usr/share/icons/hicolor/scalable/apps/helpline-get-help.svg"
gzip -9n <packaging/agent/helpline-get-help.1 >"$a/usr/share/man/man1/helpline-get-help.1.gz"
install -m 0644 packaging/agent/enroll.conf.example "$a/usr/share/doc/helpline-agent/enroll.conf.example"
# libcurl4 by name: the agent opens libcurl.so.4 with dlopen on first use (so the idle daemon
# stays small), which dpkg-shlibdeps cannot see.
finish helpline-agent "$a" helpline "libcurl4, jq" "zenity | kdialog" \
"Helpline workstation agent: ask for help with one command or click
 Helpline turns \"my computer is acting up\" into a diagnosed support ticket.
 The agent (helpline) gathers what a technician would ask for: journal, disks,
 memory, processes, failed services and network state. It strips secrets out
 and sends the bundle to a Helpline collector, which opens a ticket and answers
 with what it found.
 .
 This package has the helpline command, the helpline-agent service
 (heartbeats, spooled requests, requests from users who are not root) and a
 \"Get Help\" desktop launcher."

# --- helpline-collector -------------------------------------------------------------------
echo "== helpline-collector" >&2
c=$stage/helpline-collector
common_files helpline-collector helpline-collector "$c"
install -D -m 0644 packaging/collector/collector.conf "$c/etc/helpline/collector.conf"
install -D -m 0644 packaging/collector/helpline-collector.service "$c/lib/systemd/system/helpline-collector.service"
finish helpline-collector "$c" helpline-collector "adduser" "" \
"Helpline collector: diagnosed support tickets from workstation bundles
 The server side of Helpline: enrolls workstations running helpline-agent,
 takes their bundles and heartbeats, diagnoses each bundle with built-in
 rules, opens a ticket and answers the user at once. Technicians work in a
 web UI; administrators query the fleet with read-only SQL. Stores in SQLite.
 .
 The service runs as the system user helpline with its data in
 /var/lib/helpline-collector; the first start writes the enrollment secret
 and the admin login to first-start-credentials there."

ls -l "$out"/*.deb
