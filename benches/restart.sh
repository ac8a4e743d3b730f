#!/usr/bin/env bash
# Issue 12's restart goals, Roost against redis-server (appendonly yes, RDB preamble),
# same data, same machine: SESSIONS sessions (default 1,000,000) of 1 KB of random
# base64 with EX 1800, then ROUNDS rounds (default 3) of
#   1. BGREWRITEAOF, timed from the command until aof_rewrite_in_progress:0, and
#   2. a restart right after it, timed from exec until INFO says loading:0,
# alternating which server goes first. Both servers are pinned to CPU 0. Wall-clock
# seconds are noisy on a shared machine; the CPU seconds (utime+stime from /proc, with
# the reaped children's for Redis's forked rewrite) are less so.
#
# Usage: benches/restart.sh            (SESSIONS=n ROUNDS=n CSV=file FAMILY=name ROOST=binary)
# Prints a table; with CSV=FILE appends rows
#   family,workload,round,roost_s,redis_s,roost_cpu_s,redis_cpu_s
# which benches/charts.py draws (lower is better).
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-1000000}
rounds=${ROUNDS:-3}
roost_port=${ROOST_PORT:-16391}
redis_port=${REDIS_PORT:-16392}
cargo build --profile profiling --quiet
work=$(mktemp -d -p "${TMPDIR:-/tmp}" roost-restart-bench.XXXX)
declare -A pid
cleanup() {
    for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start() { # roost|redis
    if [[ $1 == roost ]]; then
        taskset -c 0 "${ROOST:-./target/profiling/roost}" --port "$roost_port" --dir "$work/roost" \
            --appendfsync everysec --loglevel warning >/dev/null 2>>"$work/roost.log" &
    else
        taskset -c 0 redis-server --port "$redis_port" --dir "$work/redis" --save '' \
            --appendonly yes --appendfsync everysec --aof-use-rdb-preamble yes \
            --loglevel warning >/dev/null &
    fi
    pid[$1]=$!
}
port() { [[ $1 == roost ]] && echo "$roost_port" || echo "$redis_port"; }
# INFO is captured first: with pipefail, `redis-cli | grep -q` can fail on SIGPIPE.
persistence() { redis-cli -p "$(port "$1")" info persistence 2>/dev/null | tr -d '\r' || true; }
wait_ready() { until [[ "$(persistence "$1")" == *$'\nloading:0'* ]]; do sleep 0.02; done; }
wait_rewrites() {
    until [[ "$(persistence "$1")" == *$'\naof_rewrite_in_progress:0'* &&
             "$(persistence "$1")" != *$'\naof_rewrite_scheduled:1'* ]]; do sleep 0.05; done
}
# CPU seconds of a server so far, its reaped children's included (Redis rewrites in one).
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15 + $16 + $17) / hz }' \
        "/proc/${pid[$1]}/stat"; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
stop() { # roost|redis
    redis-cli -p "$(port "$1")" shutdown nosave >/dev/null 2>&1 || true
    wait "${pid[$1]}" 2>/dev/null || true
}

mkdir -p "$work/roost" "$work/redis"
benches/sessions.py "$sessions" > "$work/sessions.resp"
for s in roost redis; do
    start $s; wait_ready $s
    redis-cli -p "$(port $s)" --pipe < "$work/sessions.resp" >/dev/null
    sleep 1; wait_rewrites $s
done
rm "$work/sessions.resp"

declare -A rw_s rw_cpu up_s up_cpu keys
printf '%-5s %-6s %10s %14s %10s %14s %9s\n' round server rewrite_s rewrite_cpu_s startup_s startup_cpu_s keys
for round in $(seq 1 "$rounds"); do
    order=(roost redis); (( round % 2 == 0 )) && order=(redis roost)
    for s in "${order[@]}"; do
        c0=$(cpu $s); t0=$(now)
        redis-cli -p "$(port $s)" bgrewriteaof >/dev/null
        sleep 0.05; wait_rewrites $s
        t1=$(now); c1=$(cpu $s)
        rw_s[$s]=$(sub "$t1" "$t0"); rw_cpu[$s]=$(sub "$c1" "$c0")
        stop $s
        t0=$(now); start $s; wait_ready $s; t1=$(now)
        up_s[$s]=$(sub "$t1" "$t0"); up_cpu[$s]=$(cpu $s)
        keys[$s]=$(redis-cli -p "$(port $s)" dbsize)
        printf '%-5s %-6s %10s %14s %10s %14s %9s\n' "$round" $s "${rw_s[$s]}" \
            "${rw_cpu[$s]}" "${up_s[$s]}" "${up_cpu[$s]}" "${keys[$s]}"
    done
    if [[ "${keys[roost]}" != "${keys[redis]}" ]]; then
        echo "key counts differ: roost ${keys[roost]}, redis ${keys[redis]}" >&2
        exit 1
    fi
    if [[ -n "${CSV:-}" ]]; then
        [[ -s "$CSV" ]] || echo "family,workload,round,roost_s,redis_s,roost_cpu_s,redis_cpu_s" > "$CSV"
        n=$((sessions / 1000))k
        echo "${FAMILY:-restart},rewrite $n x 1KB,$round,${rw_s[roost]},${rw_s[redis]},${rw_cpu[roost]},${rw_cpu[redis]}" >> "$CSV"
        echo "${FAMILY:-restart},startup $n x 1KB,$round,${up_s[roost]},${up_s[redis]},${up_cpu[roost]},${up_cpu[redis]}" >> "$CSV"
    fi
done
for s in roost redis; do stop $s; done
echo "(wall-clock seconds are noisy on a busy machine; CPU seconds include page faults and"
echo " the kernel's copying into the page cache; Redis's rewrite CPU is its forked child's)"
