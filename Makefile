# The spec's entry points. `make test` is the one command that runs every test, bringing up
# the Docker engine and the test images first.
CARGO ?= cargo
# cargo-nextest runs each test in its own process, in parallel; plain cargo test works too
# (with libtest's name filters instead of nextest's filter expressions).
NEXTEST := $(shell command -v cargo-nextest >/dev/null 2>&1 && echo yes)
TEST_RUN := $(if $(NEXTEST),$(CARGO) nextest run,$(CARGO) test)
INTEGRATION_FILTER := $(if $(NEXTEST),-E 'not test(/^(process|e2e)::/)',-- --skip process:: --skip e2e::)
E2E_FILTER := $(if $(NEXTEST),-E 'test(/^(process|e2e)::/)',-- process:: e2e::)
API_TESTS := -p hoster --test api

.PHONY: deps engine build run test test-unit test-integration test-e2e testenv testenv-clean fuzz lint bench

deps: engine ## Docker engine and crates (no test images: those are the tests' business)
	$(CARGO) fetch

engine: ## install and start Debian's Docker engine when none answers
	testenv/setup.sh engine

testenv: ## start Docker and build local stand-ins for test images that are neither present nor pullable
	testenv/setup.sh

testenv-clean: ## remove the local stand-in images (never a real image)
	docker images -q --filter label=io.hoster.testenv.hash | sort -u | xargs -r docker rmi -f

build: ## release binary at ./hoster
	$(CARGO) build --release -p hoster
	cp target/release/hoster ./hoster

run: engine build ## bring up the engine, build and serve on http://127.0.0.1:9090
	./hoster serve

test: testenv ## every test, then a bounded fuzzing run
	$(TEST_RUN) --workspace
	fuzz/run.sh

fuzz: testenv ## cargo fuzz (compose parser, request decoders) and schemathesis against the API
	fuzz/run.sh

test-unit: ## the pure core and in-process unit tests; no Docker, no network
	$(TEST_RUN) --workspace --lib

test-integration: testenv ## API, SQLite and Docker against a server in the test process
	$(TEST_RUN) $(API_TESTS) $(INTEGRATION_FILTER)

test-e2e: testenv ## the real hoster binary, driven over HTTP
	$(TEST_RUN) $(API_TESTS) $(E2E_FILTER)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

bench: testenv ## figures for the speed goals (see bench/README.md)
	bench/run.sh
