#!/usr/bin/env bash
# Loading an RDB file at startup, Roost against redis-server, on the same file.
#
# redis-server builds the file: `SET session:<32 hex> <random base64> EX 86400` for
# each key through `redis-cli --pipe` (DEBUG POPULATE would give values that compress
# and no TTLs), then SAVE. Then, alternately for each round, a freshly started Roost
# (`--appendonly no`, so it loads the file and keeps no log) and redis-server on a copy
# of the file: the time from the start of the process until PING answers PONG and
# DBSIZE is the key count (polled every 10 ms). Both pinned to CPU 0.
#
# Needs a quiet machine: the figure is wall time of one process loading.
#
# Usage: benches/rdb_load.sh [roost binary] [keys] [value bytes] [rounds]
#   defaults: target/profiling/roost, 1000000, 1024, 3. CSV lines start with "csv,".
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=${1:-./target/profiling/roost}; keys=${2:-1000000}
size=${3:-1024}; rounds=${4:-3}
port=${PORT:-17251}
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

gen() { # keys size -> RESP on stdout
    "$(dirname "$0")/sessions.py" "$1" --size "$2" --random-keys 13 --ttl 86400
}

# The file, made by redis-server.
mkdir -p "$work/build"
redis-server --port $port --dir "$work/build" --save '' --appendonly no \
    --loglevel warning >/dev/null 2>&1 &
pid=$!
wait_until_ready $port || exit 1
gen "$keys" "$size" | redis-cli -p $port --pipe >/dev/null
n=$(redis-cli -p $port dbsize)
[ "$n" = "$keys" ] || { echo "redis-server holds $n keys, not $keys" >&2; exit 1; }
redis-cli -p $port save >/dev/null
redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
wait $pid || true
file="$work/build/dump.rdb"
echo "file: $(stat -c %s "$file") bytes, $keys keys of $size bytes"

now() { date +%s.%N; }

load_seconds() { # server -> seconds until PONG and the full key count
    local server=$1 dir="$work/$1"
    rm -rf "$dir"; mkdir -p "$dir"; cp "$file" "$dir/dump.rdb"
    sync
    local start pid
    start=$(now)
    if [ "$server" = roost ]; then
        taskset -c 0 "$roost" --port $port --dir "$dir" --appendonly no --save '' \
            --loglevel warning >/dev/null 2>&1 &
    else
        taskset -c 0 redis-server --port $port --dir "$dir" --save '' --appendonly no \
            --loglevel warning >/dev/null 2>&1 &
    fi
    pid=$!
    until [ "$(redis-cli -p $port ping 2>/dev/null)" = PONG ] &&
        [ "$(redis-cli -p $port dbsize 2>/dev/null)" = "$keys" ]; do
        kill -0 $pid 2>/dev/null || { echo "$server exited while loading" >&2; exit 1; }
        sleep 0.01
    done
    local end
    end=$(now)
    redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
    wait $pid || true
    echo "$start $end" | awk '{printf "%.3f", $2 - $1}'
}

for round in $(seq 1 "$rounds"); do
    r=$(load_seconds roost)
    s=$(load_seconds redis)
    ratio=$(echo "$r $s" | awk '{printf "%.3f", $1 / $2}')
    echo "round $round: roost ${r} s, redis ${s} s, roost/redis ${ratio}"
    echo "csv,$round,$keys,$size,$r,$s,$ratio"
done
