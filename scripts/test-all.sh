#!/usr/bin/env bash
# `make test` after the project's own venv and web packages are installed:
#   1. the deploy checks' tools (`make deploy-tools`: checkov's venv, the CRD
#      models) install in the background — minutes on a fresh machine;
#   2. the unit tests;
#   3. the service tier and the integration suite on SQLite and on PostgreSQL,
#      the two passes side by side: each has its own RabbitMQ vhost and its
#      own databases (tests/conftest.py), and most of their time is spent
#      waiting on the broker and the database (the test process used 19 % of
#      a core in a measured SQLite pass), so together they take little more
#      than the longer one alone;
#   4. meanwhile, once its tools are in, k8s/ checked (tests/deploy).
# Each background job's output goes to var/test-logs/, printed when it ends.
# Exit status non-zero if anything failed. PostgreSQL missing: its pass is
# skipped, unless QQ_REQUIRE_POSTGRES is set.
set -u
PYTEST=${PYTEST:-.venv/bin/python -m pytest -p no:cacheprovider}
LOGS=var/test-logs
mkdir -p "$LOGS"
status=0
jobs_to_kill=()
trap 'for p in "${jobs_to_kill[@]}"; do kill "$p" 2>/dev/null; done' EXIT

${MAKE:-make} --no-print-directory deploy-tools >"$LOGS/deploy-tools.log" 2>&1 &
tools_pid=$!; jobs_to_kill+=("$tools_pid")

$PYTEST tests/unit -q || { echo "unit tests FAILED" >&2; exit 1; }

run_pass() {  # run_pass DB: the service tier, then the integration suite
  QQ_TEST_DB=$1 $PYTEST tests/service -q && QQ_TEST_DB=$1 $PYTEST tests/integration -q
}
run_pass sqlite >"$LOGS/sqlite.log" 2>&1 &
sqlite_pid=$!; jobs_to_kill+=("$sqlite_pid")
pg_pid=""
if bash scripts/ensure-services.sh postgres; then
  run_pass postgres >"$LOGS/postgres.log" 2>&1 &
  pg_pid=$!; jobs_to_kill+=("$pg_pid")
elif [ -n "${QQ_REQUIRE_POSTGRES:-}" ]; then
  echo "PostgreSQL is required here (QQ_REQUIRE_POSTGRES) and not available" >&2
  exit 1
else
  echo "PostgreSQL not available: the PostgreSQL pass was skipped"
fi

if wait "$tools_pid"; then
  QQ_REQUIRE_DEPLOY_TOOLS=1 $PYTEST tests/deploy -q || status=1
else
  echo "== make deploy-tools FAILED" >&2; cat "$LOGS/deploy-tools.log"; status=1
fi

report() {  # report NAME PID LOG
  if wait "$2"; then echo "== $1: passed"; else echo "== $1: FAILED"; status=1; fi
  cat "$3"
}
report "SQLite pass (tests/service, tests/integration)" "$sqlite_pid" "$LOGS/sqlite.log"
[ -z "$pg_pid" ] || report "PostgreSQL pass (tests/service, tests/integration)" "$pg_pid" "$LOGS/postgres.log"
jobs_to_kill=()
exit $status
