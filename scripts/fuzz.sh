#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with swiftc (SwiftPM cannot build fuzz targets) and
# runs each for a fixed time over its seed corpus. See fuzz/README.md.
#
#   scripts/fuzz.sh [--seconds N] [--no-asan] [TARGET…]
#
# Targets: bundle-reader, journal-line, redactor, heartbeat-json (default: all), 60 s each by default.
# Outputs go to .build-fuzz/: binaries, the grown corpus (.build-fuzz/corpus/TARGET, kept
# between runs; fuzz/corpus is only read), logs and crash inputs (.build-fuzz/artifacts/TARGET).
# Exits 1 when a target crashes or times out on an input, printing that input's path.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
asan=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    --no-asan) asan=0; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(bundle-reader journal-line redactor heartbeat-json)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
case "$seconds" in ''|*[!0-9]*) echo "--seconds takes a whole number, not '$seconds'" >&2; exit 2 ;; esac

out=.build-fuzz
mkdir -p "$out"

# The sources each target is compiled from, as one module (so `internal` API is visible).
sources() {
  case "$1" in
    bundle-reader) find Sources/Shared -name '*.swift' | sort; printf '%s\n' fuzz/FuzzCheck.swift fuzz/JournalRoundTrip.swift fuzz/BundleReaderFuzz.swift ;;
    journal-line) find Sources/Shared -name '*.swift' | sort; printf '%s\n' fuzz/FuzzCheck.swift fuzz/JournalRoundTrip.swift fuzz/JournalLineFuzz.swift ;;
    redactor) find Sources/Agent/Redaction -name '*.swift' | sort; printf '%s\n' fuzz/FuzzCheck.swift fuzz/RedactorFuzz.swift ;;
    heartbeat-json) find Sources/Shared -name '*.swift' | sort; printf '%s\n' fuzz/FuzzCheck.swift fuzz/HeartbeatJSONFuzz.swift ;;
    *) return 1 ;;
  esac
}
# libFuzzer options per target: longest input, and a dictionary of the format's words.
options() {
  case "$1" in
    bundle-reader) echo "-max_len=65536" ;;
    journal-line) echo "-max_len=4096 -dict=fuzz/journal-line.dict" ;;
    redactor) echo "-max_len=4096 -dict=fuzz/redactor.dict" ;;
    heartbeat-json) echo "-max_len=16384 -dict=fuzz/heartbeat-json.dict" ;;
  esac
}

sanitize=fuzzer
[ "$asan" = 1 ] && sanitize=fuzzer,address
zlib_cflags=()
for flag in $(pkg-config --cflags zlib 2>/dev/null); do zlib_cflags+=(-Xcc "$flag"); done
zlib_libs=$(pkg-config --libs zlib 2>/dev/null || echo -lz)

build() {
  local target=$1 binary="$out/$1" stamp="$out/$1.flags"
  local files
  files=$(sources "$target")
  local flags="-sanitize=$sanitize -O -wmo -parse-as-library -swift-version 6 -enable-upcoming-feature ExistentialAny"
  # Rebuild only when a source is newer than the binary or the flags changed.
  if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$flags" ] \
     && [ -z "$(find $files -newer "$binary" 2>/dev/null | head -1)" ]; then
    return 0
  fi
  echo "== build $target" >&2
  local module
  module="Fuzz$(echo "$target" | sed -E 's/(^|-)([a-z])/\U\2/g')"
  # shellcheck disable=SC2086
  if ! swiftc $flags -module-name "$module" -I Sources/CZlib "${zlib_cflags[@]}" \
       -module-cache-path "$PWD/$out/module-cache" $files $zlib_libs -o "$binary" \
       >"$out/$target.build.log" 2>&1; then
    grep -E 'error:' "$out/$target.build.log" | head -20 >&2 || tail -20 "$out/$target.build.log" >&2
    echo "build of $target failed; full log: $out/$target.build.log" >&2
    exit 1
  fi
  echo "$flags" >"$stamp"
}

for target in "${targets[@]}"; do
  sources "$target" >/dev/null || { echo "unknown target '$target' (known: ${all[*]})" >&2; exit 2; }
done
for target in "${targets[@]}"; do build "$target"; done

# A crash makes the Swift runtime print a backtrace, which can take long under libFuzzer;
# libFuzzer and ASan print their own.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

failed=0
for target in "${targets[@]}"; do
  corpus="$out/corpus/$target" artifacts="$out/artifacts/$target"
  mkdir -p "$corpus" "$artifacts" "$out/logs"
  [ -d "fuzz/corpus/$target" ] || { echo "no seed corpus fuzz/corpus/$target" >&2; exit 1; }
  log="$out/logs/$target.log"
  before=$(ls "$artifacts")
  echo "== fuzz $target for ${seconds}s (log: $log)" >&2
  set +e
  # shellcheck disable=SC2046
  "$out/$target" $(options "$target") -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "fuzz/corpus/$target" >"$log" 2>&1
  status=$?
  set -e
  runs=$(awk '/^stat::number_of_executed_units/ {n = $2} END {print n}' "$log")
  if [ "$status" -ne 0 ]; then
    failed=1
    grep -E 'fuzz check failed|ERROR:|Fatal error|SUMMARY' "$log" | head -8 >&2 || tail -20 "$log" >&2
    for f in $(ls "$artifacts"); do
      if ! grep -qxF "$f" <<<"$before"; then
        echo "$target: crashing input: $artifacts/$f" >&2
        echo "  replay: $out/$target $artifacts/$f   minimise: $out/$target -minimize_crash=1 -runs=100000 $artifacts/$f" >&2
      fi
    done
    echo "$target: FAILED (exit $status) after ${runs:-?} runs; full log: $log" >&2
  else
    echo "$target: ok, ${runs:-?} runs in ${seconds}s, corpus $(ls "$corpus" | wc -l) files" >&2
  fi
done
exit "$failed"
