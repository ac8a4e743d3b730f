#!/usr/bin/env bash
# Reads while writers wait for fsync, under `appendfsync always`: the p99 of GET alone,
# then beside a SET load, on Roost and on redis-server alternately (both pinned to
# CPU 0, both redis-benchmark processes on CPU 1). Issue 12's goal: Roost's GET p99
# beside the writers within 1.2x of its p99 alone (Redis fsyncs on its event loop, so
# its reads wait for the disk too).
#
# Usage: benches/always_p99.sh [roost binary] [GET requests] [rounds]
#   defaults: target/profiling/roost, 100000, 3
# GET: 10 clients, pipeline 1, 1 KB values over 10,000 preloaded keys; SET load: 50
# clients, 1 KB values, running for the whole GET run.
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=${1:-./target/profiling/roost}; n=${2:-100000}; rounds=${3:-3}
rport=${ROOST_PORT:-17131}; dport=${REDIS_PORT:-17132}
work=$(mktemp -d)
mkdir -p $work/roost $work/redis
taskset -c 0 $roost --port $rport --dir $work/roost --appendfsync always --save '' \
    --loglevel warning >/dev/null 2>&1 & rp=$!
taskset -c 0 redis-server --port $dport --dir $work/redis --save '' --appendonly yes \
    --appendfsync always --loglevel warning >/dev/null 2>&1 & dp=$!
trap 'kill $rp $dp 2>/dev/null; wait 2>/dev/null; rm -rf $work' EXIT
for p in $rport $dport; do
    wait_until_ready $p || exit 1
    # The keys GET reads (SET with 1 KB values over the same key range).
    taskset -c 1 redis-benchmark -p $p -c 50 -n 20000 -d 1024 -r 10000 -t set -q >/dev/null
done
# Prints "rps p99_ms" of a GET run: port
get_run() {
    taskset -c 1 redis-benchmark -p $1 -c 10 -n $n -d 1024 -r 10000 -t get --csv 2>/dev/null |
        awk -F'","' 'NR==2 {gsub(/"/,"",$0); split($0, f, ","); print f[2], f[6]}'
}
# Prints "rps p99_ms" of a GET run beside a SET load: port
get_beside_writers() {
    taskset -c 1 redis-benchmark -p $1 -c 50 -n 100000000 -d 1024 -r 10000 -t set -q \
        >/dev/null 2>&1 & local load=$!
    sleep 1
    get_run $1
    kill $load; wait $load 2>/dev/null || true
}
echo "appendfsync always; GET: redis-benchmark -c 10 -n $n -d 1024 -r 10000; SET load: -c 50"
printf '%-5s %-6s %12s %12s %14s %14s %7s\n' round server get_rps_alone get_rps_beside \
    p99_ms_alone p99_ms_beside ratio
for round in $(seq "$rounds"); do
    for server in roost redis; do
        port=$rport; [ $server = redis ] && port=$dport
        read -r a_rps a_p99 < <(get_run $port)
        read -r b_rps b_p99 < <(get_beside_writers $port)
        printf '%-5s %-6s %12s %12s %14s %14s %7s\n' "$round" "$server" "$a_rps" "$b_rps" \
            "$a_p99" "$b_p99" "$(awk -v a=$a_p99 -v b=$b_p99 'BEGIN{printf "%.2f", b/a}')"
    done
done
