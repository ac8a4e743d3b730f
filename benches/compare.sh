#!/usr/bin/env bash
# Roost against redis-server on the same machine, side by side.
#
# Both servers are pinned to CPU 0 and redis-benchmark to CPU 1 (taskset), neither
# server persists anything, and each test runs against both in turn. Prints requests
# per second for each and the ratio Roost/Redis, then memory after loading sessions.
#
# Usage: benches/compare.sh [requests]    (default 300000)
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
cd "$(dirname "$0")/.."
requests=${1:-300000}
sessions=${SESSIONS:-200000}
roost_port=${ROOST_PORT:-16379}
redis_port=${REDIS_PORT:-16380}

cargo build --profile profiling --quiet
workdir=$(mktemp -d)
taskset -c 0 ./target/profiling/roost --port "$roost_port" --appendonly no --dir "$workdir" \
    --loglevel warning &
roost_pid=$!
taskset -c 0 redis-server --port "$redis_port" --save '' --appendonly no --dir "$workdir" \
    --loglevel warning &
redis_pid=$!
trap 'kill $roost_pid $redis_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$workdir"' EXIT
for port in "$roost_port" "$redis_port"; do
    wait_until_ready "$port" || exit 1
done

# Memory: the same sessions (1 KB value, 30 minute TTL) loaded into each server.
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
python3 - "$sessions" > "$workdir/sessions.resp" <<'PY'
import sys
value = b"s" * 1024
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    key = b"session:%08d" % i
    out.write(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$4\r\n1800\r\n"
              % (len(key), key, len(value), value))
PY
before_roost=$(rss_kb $roost_pid); before_redis=$(rss_kb $redis_pid)
redis-cli -p "$roost_port" --pipe < "$workdir/sessions.resp" >/dev/null
redis-cli -p "$redis_port" --pipe < "$workdir/sessions.resp" >/dev/null
after_roost=$(rss_kb $roost_pid); after_redis=$(rss_kb $redis_pid)
used() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ {gsub(/\r/,"",$2); print $2}'; }
echo "memory of freshly started servers after loading $sessions sessions of 1 KB with EX 1800"
printf '%-6s %14s %16s\n' server rss_growth_mb used_memory_mb
printf '%-6s %14.1f %16.1f\n' roost "$(( after_roost - before_roost ))e-3" "$(used $roost_port)e-6"
printf '%-6s %14.1f %16.1f\n' redis "$(( after_redis - before_redis ))e-3" "$(used $redis_port)e-6"
echo "dbsize roost=$(redis-cli -p $roost_port dbsize) redis=$(redis-cli -p $redis_port dbsize)"
for port in "$roost_port" "$redis_port"; do redis-cli -p "$port" flushall >/dev/null; done
echo
rps() { # port pipeline test
    taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$requests" -d 1024 -P "$2" -t "$3" \
        -r 100000 --csv 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}'
}

echo "redis-benchmark -c 50 -n $requests -d 1024 -r 100000, servers on CPU 0, client on CPU 1"
printf '%-6s %-9s %14s %14s %8s\n' test pipeline roost_rps redis_rps ratio
for pipeline in 1 16; do
    for t in set get; do
        roost=$(rps "$roost_port" "$pipeline" "$t")
        redis=$(rps "$redis_port" "$pipeline" "$t")
        ratio=$(awk -v a="$roost" -v b="$redis" 'BEGIN { printf "%.2f", a / b }')
        printf '%-6s %-9s %14s %14s %8s\n' "$t" "$pipeline" "$roost" "$redis" "$ratio"
    done
done

