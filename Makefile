# Vault Notes: the commands a newcomer types.
#   make run    install what is missing, build (server and web app), start vaultd on http://127.0.0.1:8080
#   make test   install what is missing, build with ASan+UBSan, run every test (C, interop, fuzz, e2e)
#   make web    build the web app into web/dist when its sources changed
#   make bench  build Release and run every benchmark (make bench-rest, make bench-crdt,
#               make bench-search, make bench-cli, make bench-sync,
#               make bench-history: only one)
#   make fuzz   run the fuzz targets for longer (FUZZ_SECONDS per target)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ASAN_DIR := build/asan
REL_DIR := build/release
LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data
FUZZ_SECONDS ?= 600

.PHONY: all deps build-asan build-release web run test test-c test-interop test-fuzz test-e2e bench bench-rest bench-crdt bench-search bench-cli bench-sync bench-history fuzz format clean

all: build-release

deps:
	@scripts/deps.sh

build-asan: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Asan >/dev/null
	@cmake --build $(ASAN_DIR) -j$(JOBS)

build-release: deps
	@cmake -S . -B $(REL_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(REL_DIR) -j$(JOBS)

web: deps
	@scripts/web-build.sh

run: build-release web
	@echo "Starting vaultd on http://$(LISTEN) (data in $(DATA_DIR)); Ctrl-C stops it."
	@$(REL_DIR)/src/server/vaultd --listen $(LISTEN) --data-dir $(DATA_DIR) --web-dir web/dist

test: build-asan
	@$(MAKE) --no-print-directory test-c test-interop test-fuzz test-e2e

test-c:
	@cd $(ASAN_DIR) && ctest --output-on-failure -j$(JOBS)

test-interop:
	@if [ -d tests/interop ]; then VN_BUILD_DIR=$(CURDIR)/$(ASAN_DIR) node --test tests/interop/; fi
	@if [ -d tests/cli ]; then VN_BUILD_DIR=$(CURDIR)/$(ASAN_DIR) node --test tests/cli/; fi

test-fuzz:
	@if [ -x scripts/fuzz.sh ]; then scripts/fuzz.sh quick; fi

# The web app: its unit tests, then end-to-end tests in Chromium against a real vaultd.
test-e2e: web
	@cd web && npm test --silent
	@VN_BUILD_DIR=$(CURDIR)/$(ASAN_DIR) node --test --test-concurrency=1 tests/e2e/

bench: build-release
	@if [ -x bench/run.sh ]; then bench/run.sh; fi
	@bench/crdt.sh
	@bench/rest.sh
	@bench/search.sh
	@bench/cli.sh
	@bench/sync.sh
	@bench/history.sh

bench-rest: build-release
	@bench/rest.sh

bench-crdt: build-release
	@bench/crdt.sh

bench-search: build-release
	@bench/search.sh

bench-cli: build-release
	@bench/cli.sh

bench-sync: build-release
	@bench/sync.sh

bench-history: build-release
	@bench/history.sh

fuzz: deps
	@scripts/fuzz.sh long $(FUZZ_SECONDS)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
