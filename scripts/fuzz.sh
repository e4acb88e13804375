#!/usr/bin/env bash
# `make fuzz`: run every libFuzzer target for a bounded time on its corpus in
# tests/fuzz/corpus/<target>/ (seeded by make_seeds when empty; new inputs
# that reach new code are added there). Crash inputs go to BUILD/fuzz-artifacts/.
#   fuzz.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
seconds=${2:-60}
corpus=tests/fuzz/corpus
mkdir -p "$corpus/record" "$corpus/request" "$build/fuzz-artifacts"
if [ -z "$(ls -A "$corpus/record")" ] || [ -z "$(ls -A "$corpus/request")" ]; then
    "$build/bin/make_seeds" "$corpus/record" "$corpus/request"
fi
status=0
for target in record request; do
    echo "fuzz: $target for ${seconds}s"
    if ! "$build/bin/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/fuzz-artifacts/$target-" -print_final_stats=1 \
        "$corpus/$target" 2>"$build/fuzz-$target.log"; then
        echo "fuzz: $target FAILED; see $build/fuzz-$target.log and $build/fuzz-artifacts/" >&2
        tail -40 "$build/fuzz-$target.log" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$build/fuzz-$target.log" || true
    fi
done
exit $status
