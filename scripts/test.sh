#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds once (debug),
# runs the Swift tests (unit + integration against real journal files, the real binaries,
# libcurl on 127.0.0.1, SQLite), then against the live collector: the API contract checks,
# the web UI in headless chromium, the hostile-input suite, the fault suite (needs root: it mounts a tmpfs), a 30-second load
# test, the scale-out suite (two collectors on one PostgreSQL), short fuzzing runs, and bench/run --quick (every benchmark figure measured once, no timing
# asserted). Every part fails the run when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== build (debug, once for every test)" >&2
if ! swift build --build-tests >/tmp/helpline-build.log 2>&1; then
  grep -E 'error:' /tmp/helpline-build.log | head -40 >&2 || tail -40 /tmp/helpline-build.log >&2
  echo "build failed; full log: /tmp/helpline-build.log" >&2
  exit 1
fi
bin="$(swift build --show-bin-path)"

echo "== PostgreSQL for the store tests (scripts/postgres.sh, loopback, stopped at exit)" >&2
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/helpline-pg.XXXXXX")"
trap 'scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
HELPLINE_TEST_POSTGRES_URL="$(timeout -k 10 120 scripts/postgres.sh start "$pgdir")"
export HELPLINE_TEST_POSTGRES_URL

echo "== swift tests" >&2
set +e
# Deadlines: every child wait inside the tests has its own; the whole Swift run has this one.
timeout -k 10 1500 swift test --skip-build 2>&1 | tee /tmp/helpline-swift-test.log
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "swift tests failed (exit $status); full log: /tmp/helpline-swift-test.log" >&2
  exit "$status"
fi
# A test that did not run is a failure: the setup above installs everything tests need.
if grep -E "^.{0,4}Test .* skipped|^Test Case .* skipped| [1-9][0-9]* tests? skipped" /tmp/helpline-swift-test.log >&2; then
  echo "some tests were skipped (above); every test must run — see scripts/setup.sh" >&2
  exit 1
fi

echo "== swift tests again, every collector suite on PostgreSQL (HELPLINE_TEST_STORE=postgres)" >&2
# The suites that reach the store through TestCollector. Left out here, having run above:
# tests that read the SQLite file itself or test SQLite's own confinement and query plans
# (PostgresFleetQueryTests, PostgresJournalTests… test PostgreSQL's), and the SQLite-only
# suites (pragmas, GRDB's date format, the live binaries).
pg_suites='CollectorTests\.(APITests|HeartbeatLogTests|AccessControlTests|BundleRequestTests|FleetQueryTests|HostTokenCacheTests|IngestTests|IntegrationTests|JournalIndexTests|PolicyTests|RuleKnowledgeTests|RulePagesTests|EnrollmentTakeoverTests|NumericTrapTests|HostFairnessTests|DataDirectoryTests|BlobReadPoolTests|TicketRepeatsTests|CodePointLimitTests|TicketRequesterTests|TransferTests|WebAccessTests)/'
pg_sqlite_only='JournalIndexTests/(indexingAgainAfterAnInterruptedRunOrTwiceIsHarmless|expiryStopsTheIndexAtOnceAndRetentionRemovesItsRows|retentionRemovesExpiredIndexes)|IntegrationTests/retentionRemovesFinishedDeliveriesAfterTheirDaysAndKeepsWaitingOnes|FleetQueryTests/(dashboardReadsThePartialIndexes|everyRefusedConstructSaysWhatAndWhy|timeAndRowLimitsAtTheirEdges)'
set +e
HELPLINE_TEST_STORE=postgres timeout -k 10 1500 swift test --skip-build --filter "$pg_suites" --skip "$pg_sqlite_only" 2>&1 | tee /tmp/helpline-swift-test-postgres.log
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "swift tests on PostgreSQL failed (exit $status); full log: /tmp/helpline-swift-test-postgres.log" >&2
  exit "$status"
fi
if grep -E "^.{0,4}Test .* skipped|^Test Case .* skipped| [1-9][0-9]* tests? skipped" /tmp/helpline-swift-test-postgres.log >&2; then
  echo "some tests were skipped on PostgreSQL (above); every test must run" >&2
  exit 1
fi

echo "== packaging: scripts, units, launcher, configs against the code, copied binaries, Get Help dialog under Xvfb (packaging/check.sh)" >&2
HELPLINE_BIN_DIR="$bin" timeout -k 10 300 packaging/check.sh

echo "== API contract (OpenAPI validation + schemathesis against the live collector)" >&2
HELPLINE_COLLECTOR_BIN="$bin/helpline-collector" timeout -k 10 900 Tests/api/run.sh

echo "== technician web UI in a real browser (chromium + selenium; screenshots in test-artifacts/web)" >&2
HELPLINE_BIN_DIR="$bin" Tests/web/run.sh

echo "== hostile input through the real HTTP endpoints (Tests/hostile)" >&2
HELPLINE_COLLECTOR_BIN="$bin/helpline-collector" Tests/hostile/run.sh

echo "== faults: collector killed mid-upload, full disk, agent killed, heartbeat log (Tests/faults)" >&2
HELPLINE_BIN_DIR="$bin" Tests/faults/run.sh

echo "== scale-out: two collectors on one PostgreSQL (Tests/scaleout)" >&2
HELPLINE_BIN_DIR="$bin" Tests/scaleout/run.sh

echo "== load: 500 simulated agents on loopback for 30 s (Tests/load; the long run is --seconds 300)" >&2
HELPLINE_COLLECTOR_BIN="$bin/helpline-collector" Tests/load/run.sh --agents 500 --seconds 30

echo "== fuzzing: bundle reader, journal codec, redactor, heartbeat reader, 15 s each (scripts/fuzz.sh; longer runs: --seconds N)" >&2
scripts/fuzz.sh --seconds 15

echo "== benchmarks: bench/run --quick, every figure beside its anchor at the smallest sizes, no timing asserted (the full run: BENCHMARKS.md)" >&2
timeout -k 10 600 bench/run --quick --bin-dir "$bin"

echo "== all tests passed" >&2
