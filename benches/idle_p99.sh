#!/usr/bin/env bash
# Working clients beside many idle ones (issue 11): the p99 latency of 50 clients
# running SET/GET, without and then with 10,000 idle connections open, for Roost and
# redis-server side by side; and each server's RSS growth per idle connection.
# Goal: with the idle connections, Roost's p99 stays within 1.5x of its p99 without them.
#
# Both servers are pinned to CPU 0, redis-benchmark and the idle connections' holder to
# CPU 1 (taskset), as BENCHMARKS.md describes; neither server persists anything. It
# needs a quiet machine: p99 on a shared, busy one measures the neighbours.
#
# Usage: benches/idle_p99.sh [requests]    (default 200000; IDLE=10000 connections)
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
cd "$(dirname "$0")/.."
requests=${1:-200000}
idle=${IDLE:-10000}
roost_port=${ROOST_PORT:-16379}
redis_port=${REDIS_PORT:-16380}
maxclients=$(( idle + 200 ))

# Every idle connection is a descriptor in the holder and one in each server (each a
# process of its own, so each needs the idle count plus some).
ulimit -n $(( idle + 1000 ))
cargo build --profile profiling --quiet
workdir=$(mktemp -d)
taskset -c 0 ./target/profiling/roost --port "$roost_port" --appendonly no --dir "$workdir" \
    --loglevel warning --maxclients "$maxclients" &
roost_pid=$!
taskset -c 0 redis-server --port "$redis_port" --save '' --appendonly no --dir "$workdir" \
    --loglevel warning --maxclients "$maxclients" &
redis_pid=$!
holder_pid=
trap 'kill $roost_pid $redis_pid $holder_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$workdir"' EXIT
for port in "$roost_port" "$redis_port"; do
    wait_until_ready "$port" || exit 1
done

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# p99 in ms of `redis-benchmark -t TEST` against PORT.
p99() { # port test
    taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$requests" -d 1024 -r 100000 -t "$2" \
        --csv 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$7); print $7}'
}

# Opens $idle connections to PORT (each sends one PING), says "ready", holds them.
hold_idle() { # port
    taskset -c 1 python3 - "$1" "$idle" <<'PY' &
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
conns = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PING\r\n")
    conns.append(s)
for s in conns:
    assert s.recv(7) == b"+PONG\r\n"
print("ready", flush=True)
time.sleep(3600)
PY
    holder_pid=$!
}

connected() { redis-cli -p "$1" info clients | awk -F: '/^connected_clients:/ {print $2+0}'; }

echo "redis-benchmark -c 50 -n $requests -d 1024 -r 100000 (CPU 1), servers on CPU 0"
printf '%-6s %-4s %12s %12s %8s %18s\n' server test p99_ms p99_idle_ms ratio rss_per_idle_bytes
for server in roost redis; do
    if [ "$server" = roost ]; then port=$roost_port; pid=$roost_pid; else port=$redis_port; pid=$redis_pid; fi
    declare -A quiet
    for t in set get; do quiet[$t]=$(p99 "$port" "$t"); done
    before=$(rss_kb "$pid")
    hold_idle "$port"
    until [ "$(connected "$port")" -ge "$idle" ]; do sleep 0.2; done
    sleep 1
    after=$(rss_kb "$pid")
    per=$(( (after - before) * 1024 / idle ))
    for t in set get; do
        busy=$(p99 "$port" "$t")
        ratio=$(awk -v a="$busy" -v b="${quiet[$t]}" 'BEGIN { printf "%.2f", a / b }')
        printf '%-6s %-4s %12s %12s %8s %18s\n' "$server" "$t" "${quiet[$t]}" "$busy" "$ratio" "$per"
    done
    kill "$holder_pid"; wait "$holder_pid" 2>/dev/null || true; holder_pid=
    until [ "$(connected "$port")" -lt 10 ]; do sleep 0.2; done
done
