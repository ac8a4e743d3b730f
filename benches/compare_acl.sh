#!/usr/bin/env bash
# The cost of ACL checks: GET/SET rps and server CPU per request on one Roost, as the
# default user (every permission: dispatch tests one flag) and as a restricted
# session-service user (`~key:* -@all +@read +@write -@dangerous`: a command bitmap test
# plus a key pattern match per key; `key:` is redis-benchmark's key prefix). Goal
# (issue 10): the restricted user within 2% of the default user. Needs a quiet machine
# with 2+ cores: Roost pinned to CPU 0, redis-benchmark to CPU 1, the two users
# alternating, each case run `rounds` times.
# (redis-benchmark's opening CONFIG GET is refused for the restricted user, as it is by
# Redis: it goes on without it; every GET/SET is allowed, see INFO acl_access_denied_*.)
#
# Usage: benches/compare_acl.sh [roost binary] [requests] [rounds]
#        (defaults: target/profiling/roost, 200000, 3)
set -euo pipefail
roost=${1:-./target/profiling/roost}; n=${2:-200000}; rounds=${3:-3}
work=$(mktemp -d)
port=17111
source "$(dirname "$0")/server_cpu.sh"
hz=$(getconf CLK_TCK)
taskset -c 0 "$roost" --port $port --dir "$work" --appendonly no --loglevel warning \
    >/dev/null 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
wait_until_ready $port || exit 1
redis-cli -p $port ACL SETUSER svc on '>svc-pass' '~key:*' -@all +@read +@write \
    -@dangerous +ping >/dev/null
run() { # label user-args pipeline test
    local before after rps us
    before=$(server_ticks $pid)
    rps=$(taskset -c 1 redis-benchmark -p $port $2 -c 50 -n $n -d 256 -P $3 -t $4 \
        -r 100000 --csv 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}')
    after=$(server_ticks $pid)
    us=$(awk -v t=$((after-before)) -v hz=$hz -v n=$n 'BEGIN {printf "%.2f", t/hz*1e6/n}')
    echo "$1 $4 P$3 rps=$rps cpu_us_per_req=$us"
}
for round in $(seq 1 "$rounds"); do
  for pl in 1 16; do
    for t in set get; do
      run default "" $pl $t
      run restricted "--user svc -a svc-pass" $pl $t
    done
  done
done
