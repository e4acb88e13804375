#!/usr/bin/env bash
# `make bench`: every store_bench workload (128 B and 1 KiB, 1 and 16
# threads, ASYNC_FLUSH and SYNC_FLUSH), then the same with 32-message
# batches. Pass BENCH_ARGS to override, e.g. BENCH_ARGS="--json -d 10".
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/store_bench
[ -x "$bin" ] || { echo "bench.sh: $bin not built; run make first" >&2; exit 1; }
args=${BENCH_ARGS:-"-d 5"}
# shellcheck disable=SC2086
"$bin" $args --dir ./data/store-bench
# shellcheck disable=SC2086
"$bin" $args --batch 32 --threads 1,16 --dir ./data/store-bench
