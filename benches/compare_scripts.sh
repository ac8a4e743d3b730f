#!/usr/bin/env bash
# Scripts, Roost against redis-server, wall clock: both pinned to CPU 0, the client on
# CPU 1, no log on either side, each measurement against Roost then Redis, `rounds`
# times.
#
# - loop: one EVAL calling `redis.call('set', KEYS[1], i)` `calls` times; the time
#   from send to reply (redis-cli) and the server's CPU time over it.
# - release: phpredis's lock-release script by EVALSHA, redis-benchmark -c 10 -P 16,
#   the lock holding another client's secret (GET, compare, return 0): rps and server
#   CPU per request.
#
# Usage: benches/compare_scripts.sh [roost binary] [calls] [requests] [rounds]
#   defaults: target/profiling/roost, 300000, 300000, 3
# With CSV=FILE, rows for benches/charts.py (family "scripts"; for the loop, "rps" is
# calls per second).
# FAMILY=name sets the CSV rows' family (to keep one build's runs apart from another's).
set -euo pipefail
roost=${1:-./target/profiling/roost}; calls=${2:-300000}; n=${3:-300000}; rounds=${4:-3}
rport=${ROOST_PORT:-17141}; dport=${REDIS_PORT:-17142}
work=$(mktemp -d)
source "$(dirname "$0")/server_cpu.sh"
hz=$(getconf CLK_TCK)
release='if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'
loop="for i = 1, $calls do redis.call('set', KEYS[1], i) end return 1"
mkdir -p $work/roost $work/redis
taskset -c 0 $roost --port $rport --dir $work/roost --appendonly no --save '' --loglevel warning >/dev/null 2>&1 & rp=$!
taskset -c 0 redis-server --port $dport --dir $work/redis --save '' --appendonly no --loglevel warning >/dev/null 2>&1 & dp=$!
trap 'kill $rp $dp 2>/dev/null; wait 2>/dev/null; rm -rf $work' EXIT
for p in $rport $dport; do wait_until_ready $p || exit 1; done
for p in $rport $dport; do redis-cli -p $p set lock other-secret >/dev/null; done
sha=$(redis-cli -p $rport script load "$release")
[ "$sha" = "$(redis-cli -p $dport script load "$release")" ]
loop_run() { # pid port -> "calls_per_second us_per_call"
    local before after t0 t1
    before=$(server_ticks $1); t0=$(date +%s%N)
    taskset -c 1 redis-cli -p $2 eval "$loop" 1 counter >/dev/null
    t1=$(date +%s%N); after=$(server_ticks $1)
    awk -v c=$calls -v ns=$((t1-t0)) -v t=$((after-before)) -v hz=$hz \
        'BEGIN {printf "%.0f %.3f\n", c/(ns/1e9), t/hz*1e6/c}'
}
release_run() { # pid port -> "rps us_per_request"
    local before after rps
    before=$(server_ticks $1)
    rps=$(taskset -c 1 redis-benchmark -p $2 -c 10 -P 16 -n $n --csv evalsha $sha 1 lock my-secret 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}')
    after=$(server_ticks $1)
    awk -v r="$rps" -v t=$((after-before)) -v hz=$hz -v n=$n 'BEGIN {printf "%s %.3f\n", r, t/hz*1e6/n}'
}
row() { # workload round a_rate a_us b_rate b_us
    printf '%-5s %-8s %10s %10s %6s %9s %9s %6s\n' "$2" "$1" "$3" "$5" \
        "$(awk -v a=$3 -v b=$5 'BEGIN{printf "%.2f", a/b}')" "$4" "$6" \
        "$(awk -v a=$4 -v b=$6 'BEGIN{printf "%.2f", a/b}')"
    if [ -n "${CSV:-}" ]; then
        [ -s "$CSV" ] || echo "family,workload,round,roost_rps,redis_rps,roost_us,redis_us" > "$CSV"
        echo "${FAMILY:-scripts},$1,$2,$3,$5,$4,$6" >> "$CSV"
    fi
}
echo "loop: EVAL of $calls redis.call SETs; release: EVALSHA -c 10 -P 16 -n $n; servers on CPU 0, client on CPU 1"
printf '%-5s %-8s %10s %10s %6s %9s %9s %6s\n' round workload roost_rate redis_rate ratio roost_us redis_us ratio
for round in $(seq "$rounds"); do
    read -r a_rate a_us < <(loop_run $rp $rport)
    read -r b_rate b_us < <(loop_run $dp $dport)
    row "loop" "$round" "$a_rate" "$a_us" "$b_rate" "$b_us"
    read -r a_rate a_us < <(release_run $rp $rport)
    read -r b_rate b_us < <(release_run $dp $dport)
    row "release P16" "$round" "$a_rate" "$a_us" "$b_rate" "$b_us"
done
