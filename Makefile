# make demo  - set up .venv and run the main job end to end in a temporary home
# make test  - set up .venv with test dependencies and run the whole suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEPS := $(VENV)/.deps
SOURCES := $(shell find rundb cli -name '*.py' -o -name '*.html' -o -name '*.js' -o -name '*.css') setup.py bin/rundb

.PHONY: demo test bench bench-scale bench-write bench-before-after bench-peers clean vendor-echarts chromium

$(DEPS): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(DEPS)

# A regular (not editable) install, as users get it: an editable install's import hook
# costs every `rundb` command about 45 ms of start-up. Re-installed when sources change.
$(STAMP): $(DEPS) $(SOURCES) pyproject.toml
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall .
	rm -rf build
	touch $(STAMP)

demo: $(STAMP)
	$(PY) demo/demo.py

# The end-to-end modules that `make test` runs a second time with the index on PostgreSQL
# (they skip, with one line, where no server is reachable).
PG_E2E := $(addprefix tests/test_,batch.py cli.py labels.py ipy.py view.py tensorboard.py run.py optimizers.py trials.py)

# lint-imports checks the layer contracts in pyproject.toml against the installed copy
# (which $(STAMP) keeps current), so it sees the package names rundb and rundb_cli.
test: $(STAMP) chromium
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n 2 -q
	RUNDB_TEST_BACKEND=postgresql $(PY) -m pytest -n 2 -q -p no:cacheprovider $(PG_E2E)

# The browser tests (tests/browser) drive Debian's chromium through Playwright; installed here
# when missing and running as root (CI), else those tests skip with one line saying how.
chromium:
	@test -x /usr/bin/chromium || { test "$$(id -u)" = 0 && { apt-get install -y -q chromium chromium-driver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; } >/dev/null; } || echo "chromium not installed: the browser tests will skip (run 'make chromium' as root)"

bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/before_after.py $(BEFORE_AFTER_ARGS)

# 1,000 to 1,000,000 runs (corpora cached in bench/.cache/, about 7 GB): bench/scale.py
bench-scale: $(STAMP)
	$(PY) bench/scale.py

# index rebuild and check of 100,000 run directories (cached in bench/.cache/), 16 writers
bench-write: $(STAMP)
	$(PY) bench/scale_write.py

# Start-up and compare --csv of an older version against this one, side by side
# (BEFORE_AFTER_ARGS="--before REF"; default: the main of before issue 15's restructuring).
BEFORE_AFTER_ARGS ?=
bench-before-after: $(STAMP)
	$(PY) bench/before_after.py $(BEFORE_AFTER_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info

# make bench-peers - rundb against Guild AI 0.9 and MLflow 3.x on one corpus (bench/peers.py),
# after building their virtualenvs in bench/.peers/ (git-ignored) from bench/peers/requirements-*.txt.
# Options go through BENCH_PEERS_ARGS, e.g. make bench-peers BENCH_PEERS_ARGS="--runs 10000".
PEERS := bench/.peers
BENCH_PEERS_ARGS ?=

$(PEERS)/%/.installed: bench/peers/requirements-%.txt
	rm -rf $(PEERS)/$*
	$(PYTHON) -m venv $(PEERS)/$*
	$(PEERS)/$*/bin/python -m pip install -q --disable-pip-version-check -r $<
	touch $@

bench-peers: $(STAMP) $(PEERS)/guild/.installed $(PEERS)/mlflow/.installed
	$(PY) bench/peers.py $(BENCH_PEERS_ARGS)

# The web view's charting library: Apache ECharts, vendored from the npm registry package at a
# pinned version (npm pack checks the registry's integrity hash) with its licence and notice.
ECHARTS_VERSION := 6.1.0
VENDOR := rundb/web/static/vendor
vendor-echarts:
	rm -rf build/echarts && mkdir -p build/echarts
	cd build/echarts && npm pack --silent echarts@$(ECHARTS_VERSION) && tar xzf echarts-$(ECHARTS_VERSION).tgz
	cp build/echarts/package/dist/echarts.min.js $(VENDOR)/echarts.min.js
	cp build/echarts/package/LICENSE $(VENDOR)/ECHARTS-LICENSE
	cp build/echarts/package/NOTICE $(VENDOR)/ECHARTS-NOTICE
	cp build/echarts/package/licenses/LICENSE-d3 $(VENDOR)/ECHARTS-LICENSE-d3
	echo "echarts $(ECHARTS_VERSION) from https://registry.npmjs.org/echarts/-/echarts-$(ECHARTS_VERSION).tgz" > $(VENDOR)/VERSIONS
	rm -rf build/echarts
