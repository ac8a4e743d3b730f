#!/usr/bin/env bash
# Two Roost builds and redis-server, run by run, for deciding whether a change is kept:
# each server pinned to CPU 0 in turn (started fresh, preloaded with 100k SETs at
# pipeline 16), redis-benchmark on CPU 1 (50 clients, 1 KB values, random keys), the
# order rotating through all six (use a multiple of 6 rounds); CPU per run is the server's
# utime+stime ticks from /proc, log rewrites the run started included
# (benches/server_cpu.sh; user and system apart too). Prints every run, then per
# workload the median (min-max) rps and ticks of each server.
#
# Usage: benches/builds_ab.sh BUILD_A BUILD_B [rounds] [workloads]
#   workloads: "P test" pairs split by "|", default "1 get|16 get|1 set"
#   LOG=everysec (default), always, or no: both servers' log
#   SERVER_ARGS: more flags for both, e.g. "--auto-aof-rewrite-percentage 0" to take
#     the rewrites (and the variance they bring) out of a comparison of the write path
#   e.g. LOG=no benches/builds_ab.sh /tmp/roost-before target/profiling/roost 10 "1 get"
set -euo pipefail
build_a=$1; build_b=$2; rounds=${3:-6}; workloads=${4:-"1 get|16 get|1 set"}
log=${LOG:-everysec}; n=${N:-200000}
read -ra server_args <<< "${SERVER_ARGS:-}"
case $log in
    no) roost_log=(--appendonly no); redis_log=(--appendonly no) ;;
    everysec|always) roost_log=(--appendfsync "$log")
        redis_log=(--appendonly yes --appendfsync "$log") ;;
    *) echo "LOG must be everysec, always or no" >&2; exit 2 ;;
esac
source "$(dirname "$0")/server_cpu.sh"
out=$(mktemp)
# A run that fails part way (set -e) leaves no server running and no data behind.
pid=; dir=
trap 'rm -f $out; [ -z "$pid" ] || kill "$pid" 2>/dev/null; [ -z "$dir" ] || rm -rf "$dir"' EXIT
run_server() { # name binary|redis port
    local name=$1 bin=$2 port=$3
    dir=$(mktemp -d)
    if [ "$bin" = redis ]; then
        taskset -c 0 redis-server --port "$port" --dir "$dir" --save '' "${redis_log[@]}" \
            "${server_args[@]}" --loglevel warning >/dev/null 2>&1 &
    else
        taskset -c 0 "$bin" --port "$port" --dir "$dir" "${roost_log[@]}" --save '' \
            "${server_args[@]}" --loglevel warning >/dev/null 2>&1 &
    fi
    pid=$!
    wait_until_ready "$port" || exit 1
    taskset -c 1 redis-benchmark -p "$port" -c 50 -n 100000 -d 1024 -P 16 -t set -r 100000 \
        --csv >/dev/null 2>&1
    wait_for_rewrites "$port"
    IFS='|' read -ra specs <<< "$workloads"
    for spec in "${specs[@]}"; do
        set -- $spec
        sync
        read -r u0 s0 < <(server_user_system $pid)
        rps=$(taskset -c 1 redis-benchmark -p "$port" -c 50 -n "$n" -d 1024 -P "$1" -t "$2" \
            -r 100000 --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
        wait_for_rewrites "$port"
        read -r u1 s1 < <(server_user_system $pid)
        echo "$name P$1 $2 rps=$rps ticks=$((u1 - u0 + s1 - s0)) user=$((u1 - u0)) sys=$((s1 - s0))" \
            | tee -a "$out"
    done
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait $pid 2>/dev/null || true
    rm -rf "$dir"
    pid=; dir=
}
echo "log $log ${server_args[*]}; A=$build_a B=$build_b; $n requests per run, servers on CPU 0, client on CPU 1"
# Every six rounds, each server runs first, second and third twice: a run's place in the
# order (what the previous server left in the page cache and the disk's queue) moved
# `always` results more than the builds did, when B always ran second.
orders=("A B redis" "B redis A" "redis A B" "B A redis" "A redis B" "redis B A")
for round in $(seq "$rounds"); do
    for server in ${orders[$(((round - 1) % 6))]}; do
        case $server in
            A) run_server A "$build_a" 17401 ;;
            B) run_server B "$build_b" 17402 ;;
            redis) run_server redis redis 17403 ;;
        esac
    done
done
python3 - "$out" <<'EOF'
import collections, re, statistics, sys
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    m = re.match(r'(\S+) (P\d+ \S+) rps=([\d.]+) ticks=(\d+)', line)
    if m:
        runs[m.group(2)][m.group(1)].append((float(m.group(3)), int(m.group(4))))
for workload, servers in runs.items():
    cells = []
    for name in ('A', 'B', 'redis'):
        v = servers[name]
        rps = sorted(x[0] for x in v)
        ticks = sorted(x[1] for x in v)
        cells.append(f"{name}: rps {statistics.median(rps) / 1000:.0f}k "
                     f"({rps[0] / 1000:.0f}-{rps[-1] / 1000:.0f}k), ticks "
                     f"{statistics.median(ticks):.0f} ({ticks[0]}-{ticks[-1]})")
    print(f"{workload} | " + " | ".join(cells))
EOF
