#!/usr/bin/env bash
# `make run`: start rill-namesrv on 9876 and rill-broker on 10911 in the
# foreground, broker data under ./data/broker-a. Ctrl-C (or SIGTERM) stops
# both cleanly; if either exits, the other is stopped too.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin
for b in rill-namesrv rill-broker; do
    [ -x "$bin/$b" ] || { echo "run.sh: $bin/$b not built; run make first" >&2; exit 1; }
done
mkdir -p data
pids=()
stop() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM

"$bin/rill-namesrv" --listenPort=9876 &
pids+=($!)
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/9876) 2>/dev/null && break
    sleep 0.1
done
"$bin/rill-broker" -n 127.0.0.1:9876 --listenPort=10911 --storePathRootDir=./data/broker-a &
pids+=($!)
echo "rill: namesrv on 127.0.0.1:9876, broker-a on 127.0.0.1:10911 (data in ./data/broker-a); Ctrl-C stops both" >&2
set +e
wait -n
status=$?
stop
exit $status
