#!/usr/bin/env bash
# `make tsan`: build the ThreadSanitizer tree's test targets whose ctest names
# match a regex ('client' by default: librill's unit and integration suites)
# and run them. Suites run under tests/tsan/runner.c, the tree's stand-in for
# Criterion (which cannot start under TSan); the rill-broker and rill-namesrv
# they start are TSan builds too, so a race in either fails the test.
#   tsan.sh BUILD_DIR REGEX JOBS
#
# gcc 12's TSan only knows the memory layout of at most 28 bits of mmap
# randomness: on hosts with vm.mmap_rnd_bits = 32 every instrumented binary
# dies with "FATAL: ThreadSanitizer: unexpected memory mapping". Running ctest
# under `setarch <arch> -R` turns ASLR off for it and every process it starts
# (personality flags are inherited) and needs no root; it is used whenever
# the sandbox allows personality(2).
set -euo pipefail
build=${1:-build-tsan}
regex=${2:-client}
jobs=${3:-2}
cd "$build"
tests=$(ctest -N -R "$regex" | sed -n 's/^ *Test *#[0-9]*: //p')
if [ -z "$tests" ]; then
    echo "make tsan: no ctest test matches '$regex' in $build; nothing to run"
    exit 0
fi
echo "make tsan: building $(echo "$tests" | wc -l) suite(s) matching '$regex'"
# shellcheck disable=SC2086 # one target per word; test names are target names
cmake --build . -j "$jobs" --target $tests
launcher=()
if setarch "$(uname -m)" -R true >/dev/null 2>&1; then
    launcher=(setarch "$(uname -m)" -R)
else
    echo "make tsan: setarch -R is not allowed here; running with ASLR on"
fi
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
"${launcher[@]}" ctest --output-on-failure -j "$jobs" -R "$regex"
