# webmesh: the two commands a newcomer needs (`make demo`, `make test`) and
# the steps behind them. The build itself is CMake's; this file only drives it.
# Run as root on Debian bookworm: deps installs missing packages.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
# Debian's interpreter: it has python3-pytest and python3-grpcio (a python3
# earlier on PATH may not).
PYTHON     := /usr/bin/python3
MAKEFLAGS  += --no-print-directory

.PHONY: all deps build configure test unit integration test-asan integration-asan fuzz demo demo-down bench clean

all: build

deps:
	@scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	cmake --build $(BUILD) -j$(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure --no-tests=error

# pytest exits 5 when it collects nothing: that is a failure here, the suite
# must exist.
integration: build
	@WM_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q --durations=10 tests/integration; \
	rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "integration: no tests collected" >&2; exit 1; fi; \
	exit $$rc

test: unit integration

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DWM_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j$(JOBS)
	cd $(BUILD_ASAN) && UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure --no-tests=error

# The end-to-end suite against the sanitizer build: every node runs under
# ASan + UBSan, and a report in any node's log fails the test.
integration-asan: test-asan
	@WM_BUILD_DIR=$(abspath $(BUILD_ASAN)) WM_TEST_TIME_SCALE=3 \
		$(PYTHON) -m pytest -q --durations=10 tests/integration

# Every tests/fuzz/*.c harness, built with clang -fsanitize=fuzzer,address,
# each run for FUZZ_SECONDS (bounded); crashes land in $(BUILD_FUZZ)/crashes.
fuzz: deps
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DWM_FUZZ=ON -DWM_BUILD_TESTS=OFF >/dev/null
	cmake --build $(BUILD_FUZZ) -j$(JOBS) --target fuzzers
	@mkdir -p $(BUILD_FUZZ)/crashes
	@set -e; for f in tests/fuzz/fuzz_*.c; do \
		n=$$(basename $$f .c); \
		echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
		corpus=; if [ -d tests/fuzz/corpus/$$n ]; then corpus=$(BUILD_FUZZ)/corpus/$$n; \
			mkdir -p $$corpus; cp tests/fuzz/corpus/$$n/* $$corpus/; fi; \
		$(BUILD_FUZZ)/tests/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			-artifact_prefix=$(BUILD_FUZZ)/crashes/$$n- -print_final_stats=0 $$corpus \
			>$(BUILD_FUZZ)/$$n.log 2>&1 || { tail -40 $(BUILD_FUZZ)/$$n.log; exit 1; }; \
	done

demo: build
	WM_BUILD_DIR=$(abspath $(BUILD)) scripts/demo.sh

demo-down:
	WM_BUILD_DIR=$(abspath $(BUILD)) scripts/demo-down.sh

bench: build
	WM_BUILD_DIR=$(abspath $(BUILD)) bench/footprint

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) .pytest_cache tests/integration/__pycache__
