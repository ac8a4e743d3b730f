#!/usr/bin/env bash
# Group commit under `appendfsync always`: writes per fsync, rps and server CPU per
# request, for one server at a time (a Roost build or redis-server), pinned to CPU 0,
# redis-benchmark SET with 1 KB values on CPU 1. fsyncs are counted with `perf stat` on
# the fdatasync and fsync tracepoints, so the figure is the server's real count.
#
# Usage: benches/always_groups.sh BINARY|redis [requests] [pipeline] [clients]
#   defaults: 40000 requests, pipeline 1, 50 clients
#   e.g. for b in /tmp/roost-before target/profiling/roost redis; do
#            benches/always_groups.sh $b; done      (alternate, several rounds)
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
server=$1; n=${2:-40000}; pipeline=${3:-1}; clients=${4:-50}
dir=$(mktemp -d); port=17994; counts=$(mktemp)
if [ "$server" = redis ]; then
    taskset -c 0 redis-server --port $port --dir "$dir" --appendonly yes --appendfsync always \
        --save '' --loglevel warning >/dev/null 2>&1 &
else
    taskset -c 0 "$server" --port $port --dir "$dir" --appendfsync always --save '' \
        --loglevel warning >/dev/null 2>&1 &
fi
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir" "$counts"' EXIT
for _ in $(seq 300); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p $port ping >/dev/null || { echo "$server: no answer on port $port" >&2; exit 1; }
read -r u0 s0 < <(server_user_system $pid)
perf stat -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync' -p $pid -o "$counts" \
    2>/dev/null &
perf_pid=$!
sleep 0.2
rps=$(taskset -c 1 redis-benchmark -p $port -c "$clients" -n "$n" -d 1024 -r 10000 \
    -P "$pipeline" -t set --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
wait_for_rewrites $port
read -r u1 s1 < <(server_user_system $pid)
kill -INT $perf_pid
wait $perf_pid 2>/dev/null || true
fsyncs=$(awk '/sys_enter_f/ {gsub(",", "", $1); s += $1} END {print s}' "$counts")
awk -v name="$(basename "$server")" -v rps="$rps" -v n="$n" -v f="$fsyncs" \
    -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" -v p="$pipeline" \
    'BEGIN {printf "%s SET P%s: rps %s, writes per fsync %.1f, server CPU %.2f us per request (user %.2f, system %.2f)\n",
            name, p, rps, n / f, (u + s) / hz * 1e6 / n, u / hz * 1e6 / n, s / hz * 1e6 / n}'
