#!/usr/bin/env bash
# Roost against redis-server, side by side with the same durability: both pinned to
# CPU 0, redis-benchmark on CPU 1 (50 clients, 1 KB values, random keys), each workload
# run against both servers (Roost first in odd rounds, Redis first in even ones), the
# whole set `rounds` times; rps and server CPU per request (utime+stime from /proc over
# each run, with the log rewrites the run started: benches/server_cpu.sh), and their
# ratios.
#
# Workloads: SET and GET at pipeline 1 and 16, and at pipeline 1 the write a session
# store makes, `SET session:<n> <1 KB> EX 1800`.
#
# Usage: benches/compare_cpu.sh [roost binary] [requests] [rounds]
#   defaults: target/profiling/roost, 200000, 2
# WORKLOADS="set:1 session:1" runs only those (default: all five).
# LOG=everysec (default), always, or off: Roost's appendfsync and Redis's AOF fsync,
# or no log on either side. With CSV=FILE, each pair of runs is also appended to FILE
# (the format benches/charts.py reads; family "log-$LOG").
# FAMILY=name sets the CSV rows' family (to keep one build's runs apart from another's).
set -euo pipefail
roost=${1:-./target/profiling/roost}; n=${2:-200000}; rounds=${3:-2}
log=${LOG:-everysec}
rport=${ROOST_PORT:-17121}; dport=${REDIS_PORT:-17122}
case $log in
    off) roost_log=(--appendonly no); redis_log=(--appendonly no) ;;
    everysec|always) roost_log=(--appendfsync "$log")
        redis_log=(--appendonly yes --appendfsync "$log") ;;
    *) echo "LOG must be everysec, always or off" >&2; exit 2 ;;
esac
work=$(mktemp -d)
source "$(dirname "$0")/server_cpu.sh"
hz=$(getconf CLK_TCK)
session_value=$(head -c 768 /dev/urandom | base64 -w0)
# Prints "rps us_per_request": pid port pipeline test (set, get or session)
# Dirty pages of the previous run's log are written back first (sync), so the kernel's
# writeback does not land on the next run, whichever server it measures.
run() {
    local before after rps what
    if [ "$4" = session ]; then
        what=(SET "session:__rand_int__" "$session_value" EX 1800)
    else
        what=(-d 1024 -t "$4")
    fi
    sync
    before=$(server_ticks $1)
    rps=$(taskset -c 1 redis-benchmark -p $2 -c 50 -n $n -P $3 -r 100000 --csv "${what[@]}" 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}')
    wait_for_rewrites $2
    after=$(server_ticks $1)
    awk -v r="$rps" -v t=$((after-before)) -v hz=$hz -v n=$n 'BEGIN {printf "%s %.2f\n", r, t/hz*1e6/n}'
}
mkdir -p $work/roost $work/redis
taskset -c 0 $roost --port $rport --dir $work/roost "${roost_log[@]}" --save '' --loglevel warning >/dev/null 2>&1 & rp=$!
taskset -c 0 redis-server --port $dport --dir $work/redis --save '' "${redis_log[@]}" --loglevel warning >/dev/null 2>&1 & dp=$!
trap 'kill $rp $dp 2>/dev/null; wait 2>/dev/null; rm -rf $work' EXIT
for p in $rport $dport; do wait_until_ready $p || exit 1; done
echo "log $log; redis-benchmark -c 50 -n $n -r 100000, 1 KB values; servers on CPU 0, client on CPU 1"
printf '%-5s %-4s %-3s %10s %10s %6s %9s %9s %6s\n' round test P roost_rps redis_rps ratio roost_us redis_us ratio
for round in $(seq "$rounds"); do
    for workload in ${WORKLOADS:-set:1 get:1 set:16 get:16 session:1}; do
        t=${workload%:*}; pl=${workload#*:}
        # Who goes first alternates by round.
        if [ $((round % 2)) -eq 1 ]; then
            read -r a_rps a_us < <(run $rp $rport $pl $t)
            read -r b_rps b_us < <(run $dp $dport $pl $t)
        else
            read -r b_rps b_us < <(run $dp $dport $pl $t)
            read -r a_rps a_us < <(run $rp $rport $pl $t)
        fi
        printf '%-5s %-4s %-3s %10s %10s %6s %9s %9s %6s\n' "$round" "$t" "$pl" "$a_rps" "$b_rps" \
            "$(awk -v a=$a_rps -v b=$b_rps 'BEGIN{printf "%.2f", a/b}')" "$a_us" "$b_us" \
            "$(awk -v a=$a_us -v b=$b_us 'BEGIN{printf "%.2f", a/b}')"
        if [ -n "${CSV:-}" ]; then
            [ -s "$CSV" ] || echo "family,workload,round,roost_rps,redis_rps,roost_us,redis_us" > "$CSV"
            echo "${FAMILY:-log-$log},${t^^} P$pl,$round,$a_rps,$b_rps,$a_us,$b_us" >> "$CSV"
        fi
    done
done
