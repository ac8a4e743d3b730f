#!/usr/bin/env bash
# Scripts, several builds against redis-server, run by run: every server pinned to CPU 0,
# the client on CPU 1, no log, each round running the workload once on each server in
# turn. For comparing builds on a machine others use: CPU per request is read from
# /proc/PID/task/*/schedstat (nanoseconds of run time, every thread), and each round's
# figures are paired with the last server's of the same round (put redis last).
#
# - release: phpredis's lock-release script by EVALSHA, redis-benchmark -c 10 -P 16,
#   `n` requests, the lock holding another secret (GET, compare, return 0);
# - loop: one EVAL calling `redis.call('set', KEYS[1], i)` `n` times.
#
# Usage: benches/scripts_ab.sh release|loop rounds n binary... redis
#   e.g. benches/scripts_ab.sh release 21 100000 /tmp/roost-before target/profiling/roost redis
# Prints per server the median (min, max) rate and CPU ns per request, then per build
# the median (min-max) of its per-round ratios to the last server.
source "$(dirname "$0")/server_cpu.sh"
mode=$1; rounds=$2; n=$3; shift 3
bins=("$@"); pids=(); ports=(); port=17500
work=$(mktemp -d)
cpu_ns() { local s=0; for t in /proc/$1/task/*/schedstat; do read a b c < $t; s=$((s+a)); done; echo $s; }
release='if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'
loop="for i = 1, $n do redis.call('set', KEYS[1], i) end return 1"
for b in "${bins[@]}"; do
  port=$((port+1)); mkdir -p $work/$port
  if [ $b = redis ]; then taskset -c 0 redis-server --port $port --dir $work/$port --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
  else taskset -c 0 $b --port $port --dir $work/$port --appendonly no --save '' --loglevel warning >/dev/null 2>&1 & fi
  pids+=($!); ports+=($port)
done
trap 'kill ${pids[@]} 2>/dev/null; wait 2>/dev/null; rm -rf $work' EXIT
for p in ${ports[@]}; do wait_until_ready $p || exit 1; redis-cli -p $p set lock other-secret >/dev/null; sha=$(redis-cli -p $p script load "$release"); done
out=$work/out; : > $out
for r in $(seq $rounds); do
  for i in ${!bins[@]}; do
    p=${ports[$i]}; pid=${pids[$i]}
    b=$(cpu_ns $pid); t0=$(date +%s%N)
    if [ $mode = loop ]; then
      taskset -c 1 redis-cli -p $p eval "$loop" 1 counter >/dev/null
      t1=$(date +%s%N); rate=$(awk -v ns=$((t1-t0)) -v n=$n 'BEGIN{printf "%.0f", n/(ns/1e9)}')
    else
      rate=$(taskset -c 1 redis-benchmark -p $p -c 10 -P 16 -n $n --csv evalsha $sha 1 lock my-secret 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); printf "%.0f", $2}')
    fi
    a=$(cpu_ns $pid)
    echo "$i $rate $(awk -v t=$((a-b)) -v n=$n 'BEGIN{printf "%.1f", t/n}')" >> $out
  done
done
for i in ${!bins[@]}; do
  awk -v i=$i '$1==i {print $2, $3}' $out | sort -n -k1 | awk '{r[NR]=$1} END{printf "rate med %d min %d max %d  ", r[int((NR+1)/2)], r[1], r[NR]}'
  awk -v i=$i '$1==i {print $3}' $out | sort -n | awk -v b=$(basename ${bins[$i]}) '{c[NR]=$1} END{printf "cpu ns/req med %.1f min %.1f max %.1f  %s\n", c[int((NR+1)/2)], c[1], c[NR], b}'
done
last=$(( ${#bins[@]} - 1 ))
for i in ${!bins[@]}; do
  [ $i = $last ] && continue
  paste <(awk -v i=$i '$1==i' $out) <(awk -v i=$last '$1==i' $out) | awk '{print $2/$5, $3/$6}' > $work/pr
  r=$(cut -d' ' -f1 $work/pr | sort -n | awk '{a[NR]=$1} END{printf "%.2f (%.2f-%.2f)", a[int((NR+1)/2)], a[1], a[NR]}')
  c=$(cut -d' ' -f2 $work/pr | sort -n | awk '{a[NR]=$1} END{printf "%.2f (%.2f-%.2f)", a[int((NR+1)/2)], a[1], a[NR]}')
  echo "paired vs $(basename ${bins[$last]}): $(basename ${bins[$i]}) rate $r cpu $c"
done
