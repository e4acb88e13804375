#!/usr/bin/env bash
# bench-replication.sh - `rill bench produce` against a two-node broker set
# (master + slave, replication/) with brokerRole ASYNC_MASTER, then
# SYNC_MASTER (every ack waits for the slave). Usage:
#   scripts/bench-replication.sh [BUILD_DIR] [rill bench produce args...]
# Default args: -s 128 -d 5. Free ports are picked; everything runs in a temp
# dir that is removed at the end.
set -euo pipefail
BUILD=${1:-build}
shift || true
ARGS=("$@")
[ ${#ARGS[@]} -eq 0 ] && ARGS=(-s 128 -d 5)
BIN=$(cd "$BUILD/bin" && pwd)
TMP=$(mktemp -d /tmp/rill-bench-ha.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # role
    local role=$1 ns mp hp sp
    ns=$(port); mp=$(port); hp=$(port); sp=$(port)
    "$BIN/rill-namesrv" --listenPort="$ns" >"$TMP/ns-$role.log" 2>&1 &
    PIDS+=($!)
    "$BIN/rill-broker" --namesrvAddr=127.0.0.1:"$ns" --listenPort="$mp" --haListenPort="$hp" \
        --brokerRole="$role" --storePathRootDir="$TMP/m-$role" --logLevel=warn \
        --registerNameServerPeriod=1000 >"$TMP/m-$role.log" 2>&1 &
    PIDS+=($!)
    "$BIN/rill-broker" --namesrvAddr=127.0.0.1:"$ns" --listenPort="$sp" --brokerRole=SLAVE \
        --brokerId=1 --haMasterAddress=127.0.0.1:"$hp" --storePathRootDir="$TMP/s-$role" \
        --logLevel=warn --registerNameServerPeriod=1000 >"$TMP/s-$role.log" 2>&1 &
    PIDS+=($!)
    sleep 3
    "$BIN/rill" topic create Bench -c DefaultCluster --namesrv 127.0.0.1:"$ns" >/dev/null 2>&1 ||
        "$BIN/rill" topic create Bench --namesrv 127.0.0.1:"$ns" >/dev/null 2>&1 || true
    sleep 2
    echo "== $role: rill bench produce -t Bench ${ARGS[*]}"
    "$BIN/rill" bench produce -t Bench --namesrv 127.0.0.1:"$ns" "${ARGS[@]}" | tail -4
    echo "-- slave lag after the run:"
    "$BIN/rill" cluster list --namesrv 127.0.0.1:"$ns"
}
run ASYNC_MASTER
run SYNC_MASTER
