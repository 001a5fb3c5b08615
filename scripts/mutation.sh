#!/usr/bin/env bash
# Mutation testing (mutmut): does a unit test fail when a rule is changed?
#   scripts/mutation.sh [module.py ...]     (default: the pure-logic modules below)
#   MUTATION_TESTS="tests/unit/test_x.py"   the unit tests to run (default: tests/unit)
# One module at a time (mutmut is CPU heavy), against the unit tests only, in
# a scratch copy under var/ so the worktree is never touched. Prints each
# module's killed/survived counts; the survivors are listed by
#   cd var/mutation/<module> && ../../../.venv/bin/mutmut results
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MUTMUT=${MUTMUT:-$ROOT/.venv/bin/mutmut}
CHILDREN=${MUTATION_CHILDREN:-2}
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(services/appeals/domain.py services/inspections/domain.py services/scoring/domain.py services/notify/domain.py kernel/calendar.py kernel/validators.py kernel/statemachine.py)

for module in "${modules[@]}"; do
  work=$ROOT/var/mutation/$(echo "$module" | tr '/.' '__')
  rm -rf "$work" && mkdir -p "$work"
  cp -r kernel services gateway config tests "$work"/
  find "$work" -name __pycache__ -prune -exec rm -rf {} +
  # The unit tests need no broker: without the suite's conftest, eventlet's
  # monkey-patching (which breaks mutmut's own threads) never happens.
  echo '"""Unit tests only: no fixtures, no eventlet."""' > "$work/tests/conftest.py"
  # pyproject without its [tool.*] tables: mutmut reads its settings below
  sed '/^\[tool\./,$d' pyproject.toml > "$work/pyproject.toml"
  cat > "$work/setup.cfg" <<CFG
[mutmut]
source_paths=
    kernel
    services
only_mutate=
    $module
pytest_add_cli_args_test_selection=
$(for t in ${MUTATION_TESTS:-tests/unit}; do echo "    $t"; done)
pytest_add_cli_args=
    -p
    no:cacheprovider
    -q
also_copy=
    gateway
    config
CFG
  echo "== $module"
  (cd "$work" && "$MUTMUT" run --max-children "$CHILDREN" >/dev/null 2>&1 || true
   "$MUTMUT" results --all true 2>/dev/null | awk -v m="$module" '
     /: killed$/ {k++} /: survived$/ {s++} /: (timeout|suspicious|no tests|segfault)/ {o++}
     END {t=k+s+o; printf "%s: %d mutants, %d killed, %d survived, %d other, kill rate %.1f%%\n",
          m, t, k, s, o, (t ? 100*k/t : 0)}')
done
