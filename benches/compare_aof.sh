#!/usr/bin/env bash
# Roost's append-only log against redis-server's, same flags, same machine.
#
# 1. Throughput of SET with 1 KB values, 50 clients, under appendfsync always and
#    everysec (servers pinned to CPU 0, redis-benchmark to CPU 1).
# 2. Startup time to load SESSIONS sessions of 1 KB (default 1,000,000) from the log.
#
# Usage: benches/compare_aof.sh [requests]   (default 200000; SESSIONS=n to change 2.)
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
cd "$(dirname "$0")/.."
requests=${1:-200000}
sessions=${SESSIONS:-1000000}
roost_port=${ROOST_PORT:-16381}
redis_port=${REDIS_PORT:-16382}
cargo build --profile profiling --quiet
work=$(mktemp -d -p "${TMPDIR:-/tmp}" roost-aof-bench.XXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_roost() { # policy dir
    taskset -c 0 ./target/profiling/roost --port "$roost_port" --dir "$2" --appendfsync "$1" \
        --loglevel warning >/dev/null &
    pids+=($!)
}
start_redis() { # policy dir
    taskset -c 0 redis-server --port "$redis_port" --dir "$2" --save '' --appendonly yes \
        --appendfsync "$1" --aof-use-rdb-preamble yes --loglevel warning >/dev/null &
    pids+=($!)
}
# INFO is captured first: with pipefail, `redis-cli | grep -q` can fail on SIGPIPE.
persistence() { redis-cli -p "$1" info persistence 2>/dev/null | tr -d '\r' || true; }
wait_ready() { # port
    wait_until_ready "$1" || exit 1
}
stop_all() { redis-cli -p "$roost_port" shutdown >/dev/null 2>&1 || true
             redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
             wait 2>/dev/null || true; pids=(); }
rps() { # port
    taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$requests" -d 1024 -r 100000 -t set --csv \
        2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}'
}

echo "SET, redis-benchmark -c 50 -n $requests -d 1024 -r 100000, servers on CPU 0, client on CPU 1"
printf '%-10s %14s %14s %8s\n' appendfsync roost_rps redis_rps ratio
for policy in always everysec; do
    rm -rf "$work"/*; mkdir -p "$work/roost" "$work/redis"
    start_roost "$policy" "$work/roost"; start_redis "$policy" "$work/redis"
    wait_ready "$roost_port"; wait_ready "$redis_port"
    roost=$(rps "$roost_port"); redis=$(rps "$redis_port")
    printf '%-10s %14s %14s %8s\n' "$policy" "$roost" "$redis" \
        "$(awk -v a="$roost" -v b="$redis" 'BEGIN { printf "%.2f", a / b }')"
    stop_all
done

echo
echo "startup: loading $sessions sessions of 1 KB (SET key value EX 1800) from the log"
rm -rf "$work"/*; mkdir -p "$work/roost" "$work/redis"
benches/sessions.py "$sessions" > "$work/sessions.resp"
start_roost everysec "$work/roost"; start_redis everysec "$work/redis"
wait_ready "$roost_port"; wait_ready "$redis_port"
redis-cli -p "$roost_port" --pipe < "$work/sessions.resp" >/dev/null
redis-cli -p "$redis_port" --pipe < "$work/sessions.resp" >/dev/null
stop_all
roost_log=$(du -sb "$work/roost" | cut -f1); redis_log=$(du -sb "$work/redis" | cut -f1)
# The servers' stdout goes to /dev/null: inside $(...) it would hold the substitution open.
load_time() { # start-function port dir
    local t0 t1; t0=$(date +%s.%N); "$1" everysec "$3"; wait_ready "$2"; t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
roost_s=$(load_time start_roost "$roost_port" "$work/roost")
roost_keys=$(redis-cli -p "$roost_port" dbsize)
redis_s=$(load_time start_redis "$redis_port" "$work/redis")
redis_keys=$(redis-cli -p "$redis_port" dbsize)
printf '%-6s %10s %12s %14s\n' server keys load_s log_mb
printf '%-6s %10s %12s %14.1f\n' roost "$roost_keys" "$roost_s" "${roost_log}e-6"
printf '%-6s %10s %12s %14.1f\n' redis "$redis_keys" "$redis_s" "${redis_log}e-6"

echo
echo "rewrite (BGREWRITEAOF) of the same $sessions sessions"
rewrite_time() { # port
    local t0 t1; t0=$(date +%s.%N)
    redis-cli -p "$1" bgrewriteaof >/dev/null
    sleep 0.2
    while [[ "$(persistence "$1")" == *$'\naof_rewrite_in_progress:1'* ]]; do sleep 0.05; done
    t1=$(date +%s.%N); echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
roost_rw=$(rewrite_time "$roost_port"); redis_rw=$(rewrite_time "$redis_port")
sleep 1
roost_after=$(du -sb "$work/roost" | cut -f1); redis_after=$(du -sb "$work/redis" | cut -f1)
stop_all
printf '%-6s %12s %18s\n' server rewrite_s log_after_mb
printf '%-6s %12s %18.1f\n' roost "$roost_rw" "${roost_after}e-6"
printf '%-6s %12s %18.1f\n' redis "$redis_rw" "${redis_after}e-6"
echo "(Redis rewrites to an RDB preamble, a binary snapshot; Roost's base is command records)"
