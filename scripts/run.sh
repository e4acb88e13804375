#!/usr/bin/env bash
# `make run`. The broker and namesrv do not exist yet (issue 4); until they
# do, this runs the storage engine in-process: a short store_bench pass that
# appends, dispatches and reads back messages under ./data/store-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/store_bench
[ -x "$bin" ] || { echo "run.sh: $bin not built; run make first" >&2; exit 1; }
echo "rill: no broker yet; running the storage engine benchmark (data under ./data/store-bench)"
exec "$bin" -d 2 --sizes 128,1024 --threads 1,16 --flush async,sync --dir ./data/store-bench
