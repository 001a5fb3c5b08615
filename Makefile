# Qinqing (亲清). `make run` runs the platform; `make test` passes the tests.
# Both install what they need into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider
CHAOS_TIMEOUT ?= 900
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: all install run test test-unit test-sqlite test-postgres bench bench-quick bench-profile bench-notify bench-export clean services chaos web e2e
.PHONY: deploy-tools k8s-check

all: test

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed (found %s); set PYTHON=python3.11" % sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

services:
	@bash scripts/ensure-services.sh

## run: every service with the demo county, until Ctrl-C
run: install services web
	$(PY) scripts/run_platform.py

## test: unit tests; the service tier (in-process) and the integration suite against SQLite
## and PostgreSQL, the two passes side by side; k8s/ checked (scripts/test-all.sh)
test:
	@$(MAKE) --no-print-directory -j2 install web
	@bash scripts/ensure-services.sh
	PYTEST="$(PYTEST)" MAKE="$(MAKE)" bash scripts/test-all.sh

## chaos: break a broker and a database of the tests' own (docs/reliability.md); bounded by CHAOS_TIMEOUT
chaos: install
	timeout $(CHAOS_TIMEOUT) $(PYTEST) tests/chaos -q

test-unit: install
	$(PYTEST) tests/unit -q

test-sqlite: install services
	QQ_TEST_DB=sqlite $(PYTEST) tests -q

test-postgres: install
	@bash scripts/ensure-services.sh postgres
	QQ_TEST_DB=postgres $(PYTEST) tests -q

## bench: the platform against its floor and a monolith (a few minutes)
bench: install
	@bash scripts/ensure-services.sh postgres
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || echo "wrk not installed: the Python load generator is used"
	$(PY) -m bench.run

bench-quick: install
	@bash scripts/ensure-services.sh postgres
	$(PY) -m bench.run --quick

## bench-notify: a policy pushed to N enterprises and webhook fan-out, against raw SDK loops
bench-notify: install
	@bash scripts/ensure-services.sh postgres
	$(PY) -m bench.notify --size $${NOTIFY_BENCH_SIZE:-5000}

## bench-profile: the full run with py-spy recording each process under load
bench-profile: install
	@bash scripts/ensure-services.sh postgres
	$(PY) -m pip install -q py-spy==0.4.3
	$(PY) -m bench.run --profile

# checkov and the CRD models in a venv of their own (tests/deploy/requirements.txt):
# checkov pins a large dependency tree of its own; a few minutes the first time
# (≈ 7 min measured on a busy 2-core machine), then reused.
DEPLOY_VENV := .venv-checkov
$(DEPLOY_VENV)/.installed: tests/deploy/requirements.txt
	test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install -q -r tests/deploy/requirements.txt
	touch $@

# CloudNativePG's published API as npm models (tests/deploy/crd-published)
CRD_NODE := tests/deploy/crd-published/node_modules/.installed
$(CRD_NODE): tests/deploy/crd-published/package.json tests/deploy/crd-published/package-lock.json
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd tests/deploy/crd-published && npm ci --no-audit --no-fund
	touch $@

deploy-tools: $(DEPLOY_VENV)/.installed $(CRD_NODE)

## k8s-check: render k8s/'s overlays, validate them, checkov, the connection budget (< 1 min)
k8s-check: install deploy-tools
	QQ_REQUIRE_DEPLOY_TOOLS=1 $(PYTEST) tests/deploy -q

## bench-export: memory of a 100,000-row ledger export job, CSV and XLSX
bench-export: install
	$(PY) -m bench.export_memory --rows 100000

## web: the pages' front-end packages (Apache ECharts) from web/package-lock.json
web: web/node_modules/.installed

web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd web && npm ci --no-audit --no-fund
	touch $@

## e2e: the task force's pages in headless Chromium against the platform as `make run`
## starts it (spare ports, its own vhost and var folder); screenshots into docs/screenshots
e2e: install web services
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk' || { \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
	QQ_E2E=1 timeout 600 $(PYTEST) --confcutdir=tests/e2e --suppress-nameko-eventlet-notification tests/e2e -q

clean:
	rm -rf var .pytest_cache *.egg-info

## mutation: mutmut over the pure-logic modules, one at a time, against the unit
## tests (CPU heavy; see docs/testing.md). MODULES="kernel/calendar.py" for one.
.PHONY: mutation
mutation: install
	bash scripts/mutation.sh $(MODULES)
