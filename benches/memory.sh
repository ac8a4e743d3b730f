#!/usr/bin/env bash
# Memory held for sessions, Roost against redis-server, loaded the same way.
#
# For each value size, one freshly started server at a time (Roost, then Redis, then
# again for each round) gets the same file of `SET session:<32 hex> <value> EX 1800`
# through `redis-cli --pipe` (values: random base64, as serialized sessions barely
# compress). Reported per server: RSS growth over the load (VmRSS before and 2 s after,
# once Roost's idle connection buffers are given back), INFO used_memory growth, and
# both per key; then the ratios Roost/Redis. Neither server persists anything.
#
# Memory does not depend on load on the machine, so this can run beside other work.
#
# Usage: benches/memory.sh [roost binary] [keys] [value sizes] [rounds]
#   defaults: target/profiling/roost, 1000000, "1024 200", 1. CSV lines start with "csv,".
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=${1:-./target/profiling/roost}; keys=${2:-1000000}
sizes=${3:-1024 200}; rounds=${4:-1}
port=${PORT:-17241}
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

gen() { # keys size -> RESP on stdout
    "$(dirname "$0")/sessions.py" "$1" --size "$2" --random-keys 12
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
used() { redis-cli -p $port info memory | awk -F: '/^used_memory:/ {gsub(/\r/,"",$2); print $2}'; }

measure() { # server size -> "rss_growth_bytes used_growth_bytes"
    local server=$1 size=$2 dir="$work/data"
    rm -rf "$dir"; mkdir -p "$dir"
    if [ "$server" = roost ]; then
        "$roost" --port $port --dir "$dir" --appendonly no --loglevel warning >/dev/null 2>&1 &
    else
        redis-server --port $port --dir "$dir" --save '' --appendonly no \
            --loglevel warning >/dev/null 2>&1 &
    fi
    local pid=$!
    wait_until_ready $port || exit 1
    local rss0 used0 rss1 used1 n
    rss0=$(rss_kb $pid); used0=$(used)
    redis-cli -p $port --pipe < "$work/sessions-$size.resp" >/dev/null
    sleep 2
    rss1=$(rss_kb $pid); used1=$(used)
    n=$(redis-cli -p $port dbsize)
    [ "$n" = "$keys" ] || { echo "$server holds $n keys, not $keys" >&2; exit 1; }
    redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
    wait $pid || true
    echo "$(( (rss1 - rss0) * 1024 )) $(( used1 - used0 ))"
}

printf '%-5s %-5s %-6s %14s %14s %10s %10s\n' round size server rss_growth used_growth \
    rss/key used/key
for size in $sizes; do
    gen "$keys" "$size" > "$work/sessions-$size.resp"
    for round in $(seq "$rounds"); do
        read -r roost_rss roost_used < <(measure roost "$size")
        read -r redis_rss redis_used < <(measure redis "$size")
        for s in roost redis; do
            r=${s}_rss; u=${s}_used
            printf '%-5s %-5s %-6s %14d %14d %10d %10d\n' "$round" "$size" "$s" "${!r}" \
                "${!u}" $(( ${!r} / keys )) $(( ${!u} / keys ))
        done
        rss_ratio=$(awk -v a="$roost_rss" -v b="$redis_rss" 'BEGIN {printf "%.3f", a / b}')
        used_ratio=$(awk -v a="$roost_used" -v b="$redis_used" 'BEGIN {printf "%.3f", a / b}')
        echo "ratio Roost/Redis, $keys keys of $size B: RSS $rss_ratio, used_memory $used_ratio"
        echo "csv,$round,$size,$keys,$roost_rss,$redis_rss,$rss_ratio,$roost_used,$redis_used,$used_ratio"
    done
    rm -f "$work/sessions-$size.resp"
done
