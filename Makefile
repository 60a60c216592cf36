# bakery: every setup step lives here so a fresh clone needs only `make test` or `make demo`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
BAKERY := $(BIN)/bakery

.PHONY: install packer test coverage-html lint format check render validate graph schema rules golden clean \
	demo local-start local-stop bake bench

install: $(STAMP) packer

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Packer: Debian's package (1.6.6) where apt-get can install it; otherwise say how.
packer:
	@if command -v packer >/dev/null 2>&1; then \
		packer version | head -n 1; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Packer (Debian package packer)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null \
		|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null; }; \
		packer version | head -n 1; \
	else \
		echo "Packer is missing: install it (https://developer.hashicorp.com/packer/install," \
		     "or 'sudo apt-get install packer' on Debian) and rerun"; exit 1; \
	fi

# The suite on three workers (on two cores: the tests wait on Packer and the emulator much of
# the time; worksteal evens out the long end-to-end tests), with coverage of bakery's code in the
# test processes and in every bakery process they start (pyproject.toml: [tool.coverage]);
# under its fail_under it fails.
# PYTEST_ARGS adds options (e.g. PYTEST_ARGS="-k lineage -n 0").
PYTEST_ARGS ?=
test: install
	rm -f .coverage .coverage.* .pytest-summary
	BAKERY_TEST_SUMMARY=.pytest-summary $(BIN)/coverage run -m pytest -q -n 3 --dist worksteal $(PYTEST_ARGS)
	$(BIN)/coverage combine -q
	$(BIN)/coverage report
	@cat .pytest-summary

# Where the suite does not reach: htmlcov/index.html after `make test`.
coverage-html: $(STAMP)
	$(BIN)/coverage html -q && echo "htmlcov/index.html"

lint: $(STAMP)
	$(BIN)/ruff check bakery tests benchmarks
	$(BIN)/ruff format --check bakery tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format bakery tests benchmarks
	$(BIN)/ruff check --fix bakery tests benchmarks

check: lint test

validate: $(STAMP)
	$(BAKERY) validate

render: install
	$(BAKERY) render --validate

graph: $(STAMP)
	$(BAKERY) graph

# docs/recipe.schema.json is generated; a test fails when it is out of date.
schema: $(STAMP)
	$(BAKERY) schema > docs/recipe.schema.json

# docs/rules.md is generated from bakery/config/rule_codes.py; a test fails when it is out of date.
rules: $(STAMP)
	$(BAKERY) rules > docs/rules.md

# Rewrite the golden templates under tests/golden after an intended change of the output.
golden: $(STAMP)
	BAKERY_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/render/build_folder_test.py

# The main job on the samples, against the local emulator, through the real Packer:
# start the emulator, bake every recipe in dependency order, print the lineage, stop it.
# The emulator keeps its images between runs, so a second `make demo` builds nothing.
demo: install
	$(BAKERY) local start
	@status=0; \
	BAKERY_LOCAL=1 $(BAKERY) bake --all || status=$$?; \
	if [ $$status -eq 0 ]; then echo; echo "lineage:"; $(BAKERY) lineage al2023-base; fi; \
	$(BAKERY) local stop; \
	exit $$status

local-start: install
	$(BAKERY) local start

local-stop: $(STAMP)
	$(BAKERY) local stop

# Bake against whatever bakery.yaml points to (real AWS unless BAKERY_LOCAL=1).
bake: install
	$(BAKERY) bake --all

# The image lifecycle (docs/lifecycle.md). LOCAL=1 (the default) uses the emulator that
# `make local-start` runs; LOCAL=0 works on the account bakery.yaml names.
LOCAL   ?= 1
REF     ?= web
CHANNEL ?= staging
TO      ?= eu-west-1
REASON  ?= revoked from make
KEEP    ?=
PRUNE_OPTIONS := $(if $(KEEP),--keep $(KEEP))
LIFECYCLE := BAKERY_LOCAL=$(LOCAL) $(BAKERY)

.PHONY: bake-local copy smoke-test promote rollback channels revoke prune prune-apply lineage \
	plan rebuild
bake-local: $(STAMP)
	BAKERY_LOCAL=1 $(BAKERY) bake --all
copy: $(STAMP)
	$(LIFECYCLE) copy $(REF) --to $(TO)
smoke-test: $(STAMP)
	$(LIFECYCLE) test $(REF)
promote: $(STAMP)
	$(LIFECYCLE) promote $(REF) --channel $(CHANNEL)
rollback: $(STAMP)
	$(LIFECYCLE) rollback $(REF) --channel $(CHANNEL)
channels: $(STAMP)
	$(LIFECYCLE) channels
revoke: $(STAMP)
	$(LIFECYCLE) revoke $(REF) --reason "$(REASON)" --cascade
prune: $(STAMP)
	$(LIFECYCLE) prune $(PRUNE_OPTIONS)
prune-apply: $(STAMP)
	$(LIFECYCLE) prune $(PRUNE_OPTIONS) --apply
lineage: $(STAMP)
	$(BAKERY) lineage $(REF)

# Scheduled rebuilds (docs/scheduling.md): plan exits 10 when something is stale.
plan: $(STAMP)
	$(LIFECYCLE) plan
rebuild: $(STAMP)
	$(LIFECYCLE) rebuild --stale $(if $(CHANNEL_PROMOTE),--promote $(CHANNEL_PROMOTE))

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf build .bakery .pytest_cache .mypy_cache .ruff_cache htmlcov .coverage .coverage.*
