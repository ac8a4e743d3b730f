#!/usr/bin/env bash
# Both cores, unpinned: Roost (its own threads) against redis-server with `io-threads 2`
# (reads too: the most Redis 7 does with two cores), redis-benchmark with 2 threads and
# 200 clients at pipeline 1, 1 KB values, random keys; each workload against Roost then
# Redis, `rounds` times. rps, server CPU per request (utime+stime from /proc, with the log
# rewrites the run started: benches/server_cpu.sh), ratios.
# Client and servers share the two cores, as they would on a small VM.
#
# Usage: benches/both_cores.sh [roost binary] [requests] [rounds]
#   defaults: target/profiling/roost, 400000, 3
# LOG=everysec (default), always or off, as in compare_cpu.sh. With CSV=FILE, rows for
# benches/charts.py (family "both-cores-$LOG").
# FAMILY=name sets the CSV rows' family (to keep one build's runs apart from another's).
set -euo pipefail
roost=${1:-./target/profiling/roost}; n=${2:-400000}; rounds=${3:-3}
log=${LOG:-everysec}
rport=${ROOST_PORT:-17131}; dport=${REDIS_PORT:-17132}
case $log in
    off) roost_log=(--appendonly no); redis_log=(--appendonly no) ;;
    everysec|always) roost_log=(--appendfsync "$log")
        redis_log=(--appendonly yes --appendfsync "$log") ;;
    *) echo "LOG must be everysec, always or off" >&2; exit 2 ;;
esac
work=$(mktemp -d)
source "$(dirname "$0")/server_cpu.sh"
hz=$(getconf CLK_TCK)
run() { # pid port test -> "rps us_per_request"
    local before after rps
    before=$(server_ticks $1)
    rps=$(redis-benchmark -p $2 -c 200 --threads 2 -n $n -d 1024 -P 1 -t $3 -r 100000 --csv 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}')
    wait_for_rewrites $2
    after=$(server_ticks $1)
    awk -v r="$rps" -v t=$((after-before)) -v hz=$hz -v n=$n 'BEGIN {printf "%s %.2f\n", r, t/hz*1e6/n}'
}
mkdir -p $work/roost $work/redis
$roost --port $rport --dir $work/roost "${roost_log[@]}" --save '' --loglevel warning >/dev/null 2>&1 & rp=$!
redis-server --port $dport --dir $work/redis --save '' "${redis_log[@]}" --io-threads 2 \
    --io-threads-do-reads yes --loglevel warning >/dev/null 2>&1 & dp=$!
trap 'kill $rp $dp 2>/dev/null; wait 2>/dev/null; rm -rf $work' EXIT
for p in $rport $dport; do wait_until_ready $p || exit 1; done
echo "log $log; unpinned; redis-benchmark -c 200 --threads 2 -n $n -d 1024 -P 1 -r 100000; redis-server --io-threads 2 --io-threads-do-reads yes"
printf '%-5s %-4s %10s %10s %6s %9s %9s %6s\n' round test roost_rps redis_rps ratio roost_us redis_us ratio
for round in $(seq "$rounds"); do
    for t in set get; do
        read -r a_rps a_us < <(run $rp $rport $t)
        read -r b_rps b_us < <(run $dp $dport $t)
        printf '%-5s %-4s %10s %10s %6s %9s %9s %6s\n' "$round" "$t" "$a_rps" "$b_rps" \
            "$(awk -v a=$a_rps -v b=$b_rps 'BEGIN{printf "%.2f", a/b}')" "$a_us" "$b_us" \
            "$(awk -v a=$a_us -v b=$b_us 'BEGIN{printf "%.2f", a/b}')"
        if [ -n "${CSV:-}" ]; then
            [ -s "$CSV" ] || echo "family,workload,round,roost_rps,redis_rps,roost_us,redis_us" > "$CSV"
            echo "${FAMILY:-both-cores-$log},${t^^} P1 c200,$round,$a_rps,$b_rps,$a_us,$b_us" >> "$CSV"
        fi
    done
done
