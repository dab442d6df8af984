# The spec's entry points. `make test` is the one command that runs every test, bringing up
# the Docker engine and the test images first.
CARGO ?= cargo
# cargo-nextest runs each test in its own process, in parallel; plain cargo test works too.
TEST_RUN := $(shell command -v cargo-nextest >/dev/null 2>&1 && echo "$(CARGO) nextest run" || echo "$(CARGO) test")
API_TESTS := -p hoster --test api

.PHONY: deps build run test test-unit test-integration test-e2e testenv fuzz lint bench

deps: testenv ## Docker engine, test images and crates
	$(CARGO) fetch

testenv: ## start Docker and build the local stand-in images (skips what exists)
	testenv/setup.sh

build: ## release binary at ./hoster
	$(CARGO) build --release -p hoster
	cp target/release/hoster ./hoster

run: build ## build and serve on http://127.0.0.1:9090
	./hoster serve

test: testenv ## every test, then a bounded fuzzing run
	$(TEST_RUN) --workspace
	fuzz/run.sh

fuzz: testenv ## cargo fuzz (compose parser, request decoders) and schemathesis against the API
	fuzz/run.sh

test-unit: ## the pure core and in-process unit tests; no Docker, no network
	$(TEST_RUN) --workspace --lib

test-integration: testenv ## API, SQLite and Docker against a server in the test process
	$(TEST_RUN) $(API_TESTS) -E 'not test(/^(process|e2e)::/)'

test-e2e: testenv ## the real hoster binary, driven over HTTP
	$(TEST_RUN) $(API_TESTS) -E 'test(/^(process|e2e)::/)'

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

bench: testenv ## figures for the speed goals (see bench/README.md)
	bench/run.sh
