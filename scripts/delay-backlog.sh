#!/bin/bash
# usage: B=<dir with rill, rill-broker, rill-namesrv> N=20000 scripts/delay-backlog.sh
# Ports are picked free by the kernel; everything is started and stopped here.
# backlog: N messages due at the same moment; time until delay_pending hits 0
set -e
B=${B:-build/bin}; N=${N:-20000}
D=$(mktemp -d /tmp/delaybench.XXXX)
P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
Q=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$B/rill-namesrv --listenPort=$P > $D/ns.log 2>&1 & NS=$!
$B/rill-broker --namesrvAddr=127.0.0.1:$P --listenPort=$Q --storePathRootDir=$D/data --registerNameServerPeriod=500 > $D/br.log 2>&1 & BR=$!
sleep 1.5
export RILL_NAMESRV=127.0.0.1:$P
$B/rill topic create -t bench -b 127.0.0.1:$Q >/dev/null
sleep 1
AT=$(( $(date +%s%3N) + 60000 ))
t0=$(date +%s%3N)
seq 1 $N | $B/rill msg send -t bench --at $AT > /dev/null
t1=$(date +%s%3N)
echo "sent $N delayed (sync, one by one) in $((t1-t0)) ms"
$B/rill broker status -b 127.0.0.1:$Q | grep delay_pending
while [ $(date +%s%3N) -lt $AT ]; do sleep 0.05; done
while true; do
  n=$($B/rill broker status -b 127.0.0.1:$Q | awk '/delay_pending/{print $2}')
  [ "$n" = "0" ] && break; sleep 0.05
done
t2=$(date +%s%3N)
echo "all $N delivered $((t2-AT)) ms after their common due time"
$B/rill msg print -t bench -n 1 2>/dev/null | tail -2 || true
kill $BR; wait $BR || true; kill $NS; wait $NS || true
rm -rf $D
