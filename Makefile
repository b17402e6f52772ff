# webmesh: the two commands a newcomer needs (`make demo`, `make test`) and
# the steps behind them. The build itself is CMake's; this file only drives it.
# Run as root on Debian bookworm: deps installs missing packages.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_DEB  ?= build-deb
PREFIX     ?= /usr/local
DESTDIR    ?=
# make fuzz: the whole run's budget, shared evenly by the harnesses (so it
# stays fixed as harnesses are added); FUZZ_SECONDS, if set, is per harness.
FUZZ_TOTAL_SECONDS ?= 540
FUZZ_SECONDS ?=
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
# Debian's interpreter: it has python3-pytest and python3-grpcio (a python3
# earlier on PATH may not).
PYTHON     := /usr/bin/python3
MAKEFLAGS  += --no-print-directory

.PHONY: all deps build console configure test format-check unit integration p2p-deps test-kernel test-asan integration-asan fuzz demo demo-down bench clean install deb

all: build

deps:
	@scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	cmake --build $(BUILD) -j$(JOBS)
	@$(MAKE) console

# The web console (console/): npm ci from the committed lockfile, then
# esbuild into $(BUILD)/console with a .gz beside each asset. Skipped, with a
# note, where npm is missing (the daemon builds and runs without it).
console:
	@if command -v npm >/dev/null 2>&1; then \
		cd console && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || \
			npm ci --no-audit --no-fund --loglevel=error; } && \
		OUT=$(abspath $(BUILD))/console node build.mjs; \
	else \
		echo "console: npm is not installed, the web console is not built" >&2; \
	fi

unit: build
	cd $(BUILD) && ctest --output-on-failure --no-tests=error

# pytest exits 5 when it collects nothing: that is a failure here, the suite
# must exist.
integration: build
	@WM_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q --durations=10 tests/integration; \
	rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "integration: no tests collected" >&2; exit 1; fi; \
	exit $$rc

test: format-check unit integration

# Every C file as .clang-format says (Debian's clang-format 14): a drift
# fails here, first, rather than piling up in reviews.
format-check: deps
	@git ls-files -z '*.c' '*.h' | xargs -0 -r clang-format --dry-run --Werror

# js-libp2p for the libp2p interop tests (tests/integration/test_libp2p.py
# runs this): exactly the versions of tests/p2p/package-lock.json, installed
# into tests/p2p/node_modules, once.
p2p-deps:
	@if [ ! -e tests/p2p/node_modules/.package-lock.json ] || \
	    [ tests/p2p/package-lock.json -nt tests/p2p/node_modules/.package-lock.json ]; then \
		cd tests/p2p && npm ci --no-audit --no-fund; fi

# The kernel WireGuard backend in Debian's own kernel: a VM (qemu, TCG, no
# network) boots it with an initramfs of this build and runs a mesh of kernel
# and userspace nodes in namespaces (tests/kernel/, about 2 minutes).
test-kernel: build
	@WM_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q --durations=3 tests/kernel

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DWM_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j$(JOBS)
	cd $(BUILD_ASAN) && UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure --no-tests=error

# The end-to-end suite against the sanitizer build: every node runs under
# ASan + UBSan, and a report in any node's log fails the test. The console's
# tests serve it from the build directory, so it is built there too.
integration-asan: test-asan
	@$(MAKE) console BUILD=$(BUILD_ASAN)
	@WM_BUILD_DIR=$(abspath $(BUILD_ASAN)) WM_TEST_TIME_SCALE=3 \
		$(PYTHON) -m pytest -q --durations=10 tests/integration

# Every tests/fuzz/*.c harness, built with clang -fsanitize=fuzzer,address,
# each run for its share of FUZZ_TOTAL_SECONDS (bounded), starting from its
# committed seed corpus tests/fuzz/corpus/<harness>/ copied to a scratch dir
# (libFuzzer writes what it finds there, not into the repository); crashes
# land in $(BUILD_FUZZ)/crashes.
FUZZ_HARNESSES := $(sort $(wildcard tests/fuzz/fuzz_*.c))
fuzz: deps
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DWM_FUZZ=ON -DWM_BUILD_TESTS=OFF >/dev/null
	cmake --build $(BUILD_FUZZ) -j$(JOBS) --target fuzzers
	@mkdir -p $(BUILD_FUZZ)/crashes
	@set -e; count=$(words $(FUZZ_HARNESSES)); \
	secs=$(FUZZ_SECONDS); \
	if [ -z "$$secs" ]; then secs=$$(( $(FUZZ_TOTAL_SECONDS) / count )); fi; \
	if [ "$$secs" -lt 1 ]; then secs=1; fi; \
	for f in $(FUZZ_HARNESSES); do \
		n=$$(basename $$f .c); \
		corpus=$(BUILD_FUZZ)/corpus/$$n; \
		rm -rf $$corpus; mkdir -p $$corpus; \
		if [ -d tests/fuzz/corpus/$$n ]; then cp -R tests/fuzz/corpus/$$n/. $$corpus/; fi; \
		echo "fuzz: $$n for $$secs s ($$(ls $$corpus | wc -l) seeds)"; \
		$(BUILD_FUZZ)/tests/fuzz/$$n -max_total_time=$$secs -max_len=65536 \
			-artifact_prefix=$(BUILD_FUZZ)/crashes/$$n- -print_final_stats=0 $$corpus \
			>$(BUILD_FUZZ)/$$n.log 2>&1 || { tail -40 $(BUILD_FUZZ)/$$n.log; exit 1; }; \
	done

# The files of a system install (binaries, modules, man pages, completion,
# example config, systemd unit, sysusers.d group) under DESTDIR/PREFIX. The
# prefix is compiled in (where webmeshd looks for its modules): configure anew.
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# webmesh_<version>_<arch>.deb in $(BUILD_DEB), built by debhelper (debian/)
# from a copy of the tree: dpkg-buildpackage writes beside the source dir.
VERSION  := $(shell grep -m1 -o 'webmesh VERSION [0-9.]*' CMakeLists.txt | cut -d' ' -f3)
DEB_ARCH := $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
deb: deps
	rm -rf $(BUILD_DEB) && mkdir -p $(BUILD_DEB)/webmesh-$(VERSION)
	tar -c --exclude='./build*' --exclude=./.git --exclude=./.pytest_cache --exclude=./out \
		--exclude='__pycache__' --exclude=./console/node_modules . | tar -x -C $(BUILD_DEB)/webmesh-$(VERSION)
	cd $(BUILD_DEB)/webmesh-$(VERSION) && \
		DEB_BUILD_OPTIONS="parallel=$(JOBS) nocheck" dpkg-buildpackage -b -us -uc >../build.log 2>&1 \
		|| { tail -40 ../build.log; exit 1; }
	@ls $(BUILD_DEB)/webmesh_$(VERSION)_$(DEB_ARCH).deb

demo: build
	WM_BUILD_DIR=$(abspath $(BUILD)) scripts/demo.sh

demo-down:
	WM_BUILD_DIR=$(abspath $(BUILD)) scripts/demo-down.sh

bench: build
	WM_BUILD_DIR=$(abspath $(BUILD)) bench/footprint

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_DEB) .pytest_cache tests/integration/__pycache__
