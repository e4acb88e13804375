# Thin wrapper over CMake. `make` builds build/ (bin/ and lib/ inside it);
# `make test` builds the normal and the sanitizer tree and runs every suite in
# both, then the client suites in the ThreadSanitizer tree (TEST_TSAN=0 skips it).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
TSAN_TESTS ?= client
TEST_TSAN  ?= 1
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local
CMAKE_ARGS ?=

.PHONY: all build asan deps test test-normal test-asan tsan run bench bench-compare fuzz clean install

all: build

deps:
	@bash scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRILL_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-normal: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer: only the suites whose ctest name matches TSAN_TESTS (see scripts/tsan.sh).
tsan:
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRILL_TSAN=ON $(CMAKE_ARGS) >/dev/null
	@bash scripts/tsan.sh $(TSAN_BUILD) '$(TSAN_TESTS)' $(JOBS)

test: deps
	@$(MAKE) --no-print-directory test-normal
	@$(MAKE) --no-print-directory test-asan
ifeq ($(TEST_TSAN),1)
	@$(MAKE) --no-print-directory tsan
endif

run: deps build
	@bash scripts/run.sh

bench: deps build
	@bash scripts/bench.sh

# `rill bench` beside NATS JetStream (../shared/bench/vs-nats.sh), one table with ratios
bench-compare: deps build
	@bash scripts/bench-compare.sh

# libFuzzer with ASan/UBSan, FUZZ_SECONDS per target; corpus in tests/fuzz/corpus/
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRILL_SANITIZE=ON \
		-DRILL_FUZZ=ON -DRILL_BUILD_TESTS=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_record fuzz_request make_seeds
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
