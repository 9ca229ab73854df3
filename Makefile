# recipe-pipeline: `make demo` and `make test` are all a fresh machine needs (Python 3.11).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo dev test bench bench-pii bench-recipes bench-scale bench-sensor bench-full-export bench-erasure bench-s3-lake bench-backfill clean

$(STAMP): pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml ## simulate two weeks of exports, run every partition, print a summary
	$(BIN)/recipe-pipeline demo

dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml ## the Dagster UI (webserver + daemon) on the demo data
	@test -d .lake/conversations || $(BIN)/recipe-pipeline demo
	$(BIN)/dagster dev -w workspace.yaml

test: $(STAMP) ## the whole test suite
	$(BIN)/python -m pytest -n 2 -q

bench: bench-pii bench-recipes bench-scale bench-sensor bench-full-export bench-erasure bench-s3-lake ## all benchmarks: PII and recipe quality, scale (1M messages), sensor ticks, a full export's days, forget-user, the lake on S3

bench-pii: $(STAMP) ## recall/precision per PII kind on bench/pii_corpus.jsonl, ours and the seed's
	$(BIN)/python -m bench.pii_benchmark

bench-recipes: $(STAMP) ## exact canonical recipe names on bench/recipe_corpus.jsonl, ours and the seed's
	$(BIN)/python -m bench.recipe_benchmark

MESSAGES ?= 1000000
REPEAT ?= 3
bench-scale: $(STAMP) ## one day of MESSAGES messages: floor vs ours (REPEAT interleaved rounds, medians) vs a seed-style peer (exports cached in .bench/)
	$(BIN)/python -m bench.scale --messages $(MESSAGES) --repeat $(REPEAT)

bench-sensor: $(STAMP) ## dynamodb_export_sensor ticks with a year of daily exports present
	$(BIN)/python -m bench.sensor_tick

bench-full-export: $(STAMP) ## raw_conversations for every day of a 30-day full export: cut by day at indexing vs the whole export per day
	$(BIN)/python -m bench.full_export

bench-erasure: $(STAMP) ## forget-user on the scale benchmark's day of MESSAGES messages: wall time and peak RSS
	$(BIN)/python -m bench.erasure --messages $(MESSAGES)

bench-s3-lake: $(STAMP) ## the scale benchmark's day of MESSAGES messages with the lake on a local S3 endpoint: peak RSS
	$(BIN)/python -m bench.s3_lake --messages $(MESSAGES)

DAYS ?= 90
bench-backfill: $(STAMP) ## a DAYS-day backfill of the demo's volume through dagster dev (webserver + daemon)
	$(BIN)/python -m bench.backfill --days $(DAYS)

clean: ## remove local state (lake, warehouse, Dagster instance); keeps .venv
	rm -rf .lake .dagster_home test-artifacts .pytest_cache
