#!/usr/bin/env bash
# Roost (everysec log) against redis-server (AOF everysec), side by side: both pinned
# to CPU 0, redis-benchmark on CPU 1, alternating; rps and server CPU per request
# (utime+stime from /proc over each run).
#
# Usage: benches/compare_cpu.sh [roost binary] [requests]   (defaults: target/release/roost, 200000)
set -euo pipefail
roost=${1:-./target/release/roost}; n=${2:-200000}
work=$(mktemp -d)
cpu_ticks() { awk '{print $14+$15}' /proc/$1/stat; }
hz=$(getconf CLK_TCK)
run() { # name port pid pipeline test
    local before after rps
    before=$(cpu_ticks $3)
    rps=$(taskset -c 1 redis-benchmark -p $2 -c 50 -n $n -d 1024 -P $4 -t $5 -r 100000 --csv 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}')
    after=$(cpu_ticks $3)
    local us=$(awk -v t=$((after-before)) -v hz=$hz -v n=$n 'BEGIN {printf "%.2f", t/hz*1e6/n}')
    echo "$1 $5 P$4 rps=$rps cpu_us_per_req=$us"
}
taskset -c 0 $roost --port 17101 --dir $work/roost --appendfsync everysec --loglevel warning >/dev/null 2>&1 & rp=$!
taskset -c 0 redis-server --port 17102 --dir $work --save '' --appendonly yes --appendfsync everysec --loglevel warning >/dev/null 2>&1 & dp=$!
trap 'kill $rp $dp 2>/dev/null; wait 2>/dev/null; rm -rf $work' EXIT
for p in 17101 17102; do until redis-cli -p $p info persistence 2>/dev/null | grep -q "^loading:0"; do sleep 0.2; done; done
for round in 1 2; do
  for pl in 1 16; do
    for t in set get; do
      run roost 17101 $rp $pl $t
      run redis 17102 $dp $pl $t
    done
  done
done
