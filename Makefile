# Haze: every task is one make target. `make help` lists them.
SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA_JARS := deploy/kafka/target/lib/.assembled
export PYTHONPATH := $(CURDIR)
ONLY ?=
WORKERS ?= 1
RECORD ?= 1
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install services-up services-down services-status run demo test test-unit \
        test-integration bench backtest-example lint fmt typecheck check clean prometheus-up \
        prometheus-down loadtest loadtest-scaleout

help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

$(KAFKA_JARS): deploy/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Maven is needed to assemble Kafka (apt-get install maven)"; exit 1; }
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies
	@touch $(KAFKA_JARS)

install: $(STAMP) $(KAFKA_JARS) ## create .venv, install Python deps, assemble the Kafka broker jars
	@command -v redis-server >/dev/null || $(PY) -c "from haze.services import redis_server_binary as r; r()"

services-up: install ## start local Kafka (KRaft) and Redis on 127.0.0.1 (idempotent; waits until healthy)
	$(PY) -m haze services up

services-down: ## stop the local Kafka and Redis this project started
	@test -x $(PY) && $(PY) -m haze services down || true

services-status: ## show whether the local services are running
	$(PY) -m haze services status

prometheus-up: install ## start Prometheus on 127.0.0.1:PROMETHEUS_PORT (9090) scraping the worker on SCREEN_HTTP_PORT
	$(PY) -m haze prometheus up

prometheus-down: ## stop the local Prometheus this project started
	@test -x $(PY) && $(PY) -m haze prometheus down || true

run: services-up ## start services, then the worker (stream + HTTP) in the foreground; env per contract
	@eval "$$($(PY) -m haze services env | tail -1)"; exec $(PY) -m haze run

demo: install ## stream a few thousand synthetic listings through a worker, live, then stop everything
	$(PY) -m haze demo

test: install ## the whole suite: unit + integration against real Kafka and Redis it starts itself
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-unit: install ## unit tests only (no services)
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

test-integration: install ## integration tests only (real Kafka and Redis)
	$(PY) -m pytest -q -m integration $(PYTEST_ARGS)

bench: install ## run benchmarks (ONLY=stream,keyword,... for some) into docs/benchmarks.{json,md}
	$(PY) -m bench $(if $(ONLY),--only $(ONLY),)

EXAMPLE := results/backtest-example
backtest-example: install ## generate a labelled scenario, backtest a candidate and sweep the block threshold (in memory)
	$(PY) -m haze generate $(EXAMPLE)/listings.jsonl --warmup-out $(EXAMPLE)/warmup.jsonl \
		--feedback-out $(EXAMPLE)/feedback.jsonl
	$(PY) -m haze backtest $(EXAMPLE)/listings.jsonl --warmup $(EXAMPLE)/warmup.jsonl \
		--feedback $(EXAMPLE)/feedback.jsonl --memory --out $(EXAMPLE)/candidate \
		--set decision.review_threshold=0.62 --set decision.block_threshold=0.8
	$(PY) -m haze backtest $(EXAMPLE)/listings.jsonl --warmup $(EXAMPLE)/warmup.jsonl \
		--feedback $(EXAMPLE)/feedback.jsonl --memory --out $(EXAMPLE)/sweep \
		--sweep decision.block_threshold=0.5:0.95:0.05

loadtest: install ## both paths under load (WORKERS, LOADTEST_*): results/<time>/, and docs/benchmarks.md
	WORKERS=$(WORKERS) $(PY) -m loadtest $(if $(filter 1,$(RECORD)),--record,)

loadtest-scaleout: install ## stream capacity of 1 vs 2 workers in one consumer group, alternating (LOADTEST_ROUNDS)
	$(PY) -m loadtest.scaleout

lint: install ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy --strict over the packages
	$(VENV)/bin/mypy contract config state detectors haze streams

check: lint typecheck test ## everything CI should be green on

clean: services-down prometheus-down ## remove caches and local service data (keeps .venv)
	rm -rf .services .pytest_cache .mypy_cache .ruff_cache results
