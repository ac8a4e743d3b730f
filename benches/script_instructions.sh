#!/usr/bin/env bash
# Server instructions of scripts, Roost against redis-server, under callgrind (user-space
# instructions of every thread; load on the machine does not change them):
#
# - loop: one EVAL whose script calls `redis.call('set', KEYS[1], i)` N times;
#   per call = (I(2N calls) - I(N calls)) / N, so startup and the EVAL itself cancel out.
# - release: phpredis's lock-release script (CLIENTS.md) by EVALSHA at pipeline 16,
#   redis-benchmark -c 10 -P 16; the lock holds another client's secret, so each call
#   runs GET, compares and returns 0. Per request = (I(2N) - I(N)) / N.
#
# Usage: benches/script_instructions.sh [roost binary] [N] [servers]
#   defaults: target/profiling/roost, 20000, "roost redis". CSV lines start with "csv,".
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=${1:-./target/profiling/roost}; n=${2:-20000}; servers=${3:-roost redis}
port=${PORT:-17251}
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
release='if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'

start() { # server
    local dir="$work/data"
    rm -rf "$dir"; mkdir -p "$dir"
    local out="$work/cg.out"
    rm -f "$out"
    if [ "$1" = roost ]; then
        valgrind --tool=callgrind --callgrind-out-file="$out" "$roost" --port $port \
            --dir "$dir" --appendonly no --loglevel warning >/dev/null 2>&1 &
    else
        valgrind --tool=callgrind --callgrind-out-file="$out" redis-server --port $port \
            --dir "$dir" --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
    fi
    pid=$!
    wait_until_ready $port || exit 1
}

stop() { # -> total instructions of the run
    redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$work/cg.out"
}

loop() { # server calls
    start "$1"
    local reply
    reply=$(redis-cli -p $port eval \
        "for i = 1, tonumber(ARGV[1]) do redis.call('set', KEYS[1], i) end return 1" \
        1 counter "$2")
    [ "$reply" = 1 ] || { echo "$1: loop script answered $reply" >&2; exit 1; }
    stop
}

release() { # server requests
    start "$1"
    redis-cli -p $port set lock:session other >/dev/null
    local sha
    sha=$(redis-cli -p $port script load "$release")
    redis-benchmark -p $port -c 10 -P 16 -n "$2" evalsha "$sha" 1 lock:session secret \
        >/dev/null 2>&1
    [ "$(redis-cli -p $port get lock:session)" = other ] || { echo "lock changed" >&2; exit 1; }
    stop
}

echo "server instructions, callgrind, (I(2N) - I(N)) / N, N=$n"
printf '%-6s %-8s %14s\n' server case per_call
for case in loop release; do
    for server in $servers; do
        one=$($case $server $n)
        two=$($case $server $((2 * n)))
        per=$(((two - one) / n))
        printf '%-6s %-8s %14s\n' $server $case $per
        echo "csv,$server,$case,$n,$per"
    done
done
