#!/usr/bin/env bash
# `make bench-compare`: Rill beside NATS JetStream on the same machine, in the
# same run, through each system's own client, printed as one table with ratios.
#
#   Rill: a namesrv and two brokers in a temp dir on free ports (never the
#   default 9876/10911): broker-a ASYNC_FLUSH in DefaultCluster, broker-s
#   SYNC_FLUSH (every ack durable) in SyncCluster. Then `rill bench`:
#     produce 128 B async, produce 1024 B async (N messages each),
#     consume both topics from the first offset, produce 1024 B async on the
#     SYNC_FLUSH broker (N/4 messages).
#   NATS: ../shared/bench/vs-nats.sh N 128 1024 (installs nats-server when
#   missing; file storage; acks not fsynced per message).
#
#   usage: scripts/bench-compare.sh [N]    (default N=1000000; BENCH_N works too)
#   BENCH_BIN: directory of rill, rill-namesrv, rill-broker (default build/bin).
#   BENCH_RILL_OPTS: extra `rill bench` options for every Rill phase, e.g.
#   "-X linger.ms=0" to measure without producer batching.
# Writes the raw key=value lines of both sides to $BENCH_OUT (default
# build/bench-compare.txt) and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-${BENCH_N:-1000000}}
bin=${BENCH_BIN:-build/bin}
read -r -a rill_opts <<<"${BENCH_RILL_OPTS:-}"
for b in rill rill-namesrv rill-broker; do
    [ -x "$bin/$b" ] || { echo "bench-compare: $bin/$b not built; run make first" >&2; exit 1; }
done
peer=../shared/bench/vs-nats.sh
[ -f "$peer" ] || { echo "bench-compare: $peer not found" >&2; exit 1; }
out=${BENCH_OUT:-build/bench-compare.txt}

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench-compare: nothing listens on port $1" >&2
    exit 1
}

ns_port=$(free_port)
"$bin/rill-namesrv" --listenPort="$ns_port" >"$work/namesrv.log" 2>&1 &
pids+=($!)
wait_port "$ns_port"
ns="127.0.0.1:$ns_port"

a_port=$(free_port)
"$bin/rill-broker" -n "$ns" --listenPort="$a_port" --brokerName=broker-a \
    --storePathRootDir="$work/broker-a" --registerNameServerPeriod=1000 \
    --flushDiskType=ASYNC_FLUSH >"$work/broker-a.log" 2>&1 &
pids+=($!)
s_port=$(free_port)
"$bin/rill-broker" -n "$ns" --listenPort="$s_port" --brokerName=broker-s \
    --brokerClusterName=SyncCluster --storePathRootDir="$work/broker-s" \
    --registerNameServerPeriod=1000 --flushDiskType=SYNC_FLUSH >"$work/broker-s.log" 2>&1 &
pids+=($!)
wait_port "$a_port"
wait_port "$s_port"

rill() { "$bin/rill" "$@" --namesrv "$ns"; }
# both brokers registered with the namesrv
for _ in $(seq 100); do
    [ "$(rill cluster list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] && break
    sleep 0.1
done
rill topic create Bench128 -c DefaultCluster -r 8 -w 8 >/dev/null
rill topic create Bench1024 -c DefaultCluster -r 8 -w 8 >/dev/null
rill topic create BenchSync -c SyncCluster -r 8 -w 8 >/dev/null

# one key=value line per phase, like the peer's
kv() { # phase mode size json
    python3 - "$@" <<'EOF'
import json, sys
phase, mode, size, text = sys.argv[1:5]
j = json.loads(text)
n = j.get("sent", j.get("received", 0))
print("peer=rill phase=%s mode=%s size=%s n=%d msg_s=%.0f mb_s=%.1f p50_us=%d p99_us=%d p999_us=%d errors=%d"
      % (phase, mode, size, n, j["msg_s"], j["mb_s"], j["p50_us"], j["p99_us"], j["p999_us"], j["errors"]))
EOF
}

echo "bench-compare: Rill, N=$n, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
{
    kv produce async 128 "$(rill bench produce -t Bench128 -s 128 -n "$n" --json "${rill_opts[@]}")"
    kv produce async 1024 "$(rill bench produce -t Bench1024 -s 1024 -n "$n" --json "${rill_opts[@]}")"
    kv consume push 128 "$(rill bench consume -t Bench128 -n "$n" --json "${rill_opts[@]}")"
    kv consume push 1024 "$(rill bench consume -t Bench1024 -n "$n" --json "${rill_opts[@]}")"
    kv produce sync_flush 1024 \
        "$(rill bench produce -t BenchSync -s 1024 -n $((n / 4)) --json "${rill_opts[@]}")"
} | tee "$out.rill"

echo "bench-compare: NATS JetStream, N=$n, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# vs-nats.sh exits non-zero from its EXIT trap even after printing every phase:
# judge it by its output instead.
bash "$peer" "$n" 128 1024 | tee "$out.nats" || true
grep -q "peer=nats-jetstream phase=produce" "$out.nats" ||
    { echo "bench-compare: no result from $peer" >&2; exit 1; }
cat "$out.rill" "$out.nats" >"$out"

python3 - "$out" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    if "peer" in kv:
        rows[(kv["peer"], kv["phase"], kv["mode"], kv["size"])] = kv
def get(peer, phase, mode, size):
    r = rows.get((peer, phase, mode, size))
    return float(r["msg_s"]) if r else None
lines = [
    # label, rill key, nats key, target ratio
    ("produce 128 B async", ("produce", "async", "128"), ("produce", "async", "128"), 3.0),
    ("produce 1024 B async", ("produce", "async", "1024"), ("produce", "async", "1024"), None),
    ("consume 128 B", ("consume", "push", "128"), ("consume", "pull", "128"), 3.0),
    ("consume 1024 B", ("consume", "push", "1024"), ("consume", "pull", "1024"), 3.0),
    ("produce 1024 B SYNC_FLUSH vs NATS async", ("produce", "sync_flush", "1024"),
     ("produce", "async", "1024"), 1.0),
    ("  (NATS sync publish, 1 in flight)", None, ("produce", "sync", "1024"), None),
]
print("%-42s %12s %12s %8s %8s %s" % ("workload", "rill msg/s", "nats msg/s", "ratio", "target", ""))
for label, rk, nk, target in lines:
    r = get("rill", *rk) if rk else None
    n = get("nats-jetstream", *nk) if nk else None
    ratio = r / n if r and n else None
    verdict = ""
    if target and ratio is not None:
        verdict = "ok" if ratio >= target else "SHORT"
    print("%-42s %12s %12s %8s %8s %s" % (
        label, "%.0f" % r if r else "-", "%.0f" % n if n else "-",
        "%.2fx" % ratio if ratio else "-", ">= %.0fx" % target if target else "", verdict))
EOF
