#!/usr/bin/env bash
# Instructions per request (callgrind) for GET and SET as the default user and as a
# restricted session-service user: exact where rps is noise (issue 10: ACL checks under
# 2%). Each case runs Roost under callgrind twice, with N and 2N requests, and takes the
# difference, so startup and shutdown cancel out.
#
# Usage: benches/acl_instructions.sh [roost binary] [N]
#   defaults: target/profiling/roost, 20000
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=${1:-./target/profiling/roost}; n=${2:-20000}
port=17211
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Total instructions of one server run serving `count` requests of `test` as `who`.
instructions() { # who test count
    local out="$work/cg.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$roost" --port $port \
        --dir "$work" --appendonly no --loglevel warning >/dev/null 2>&1 &
    local pid=$!
    wait_until_ready $port || exit 1
    redis-cli -p $port ACL SETUSER svc on '>svc-pass' '~key:*' -@all +@read +@write \
        -@dangerous +ping >/dev/null
    local auth=()
    [ "$1" = restricted ] && auth=(--user svc -a svc-pass)
    redis-benchmark -p $port "${auth[@]}" -c 10 -n "$3" -d 256 -P 16 -t "$2" -r 100000 \
        -q >/dev/null 2>&1
    redis-cli -p $port SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait $pid || true
    awk '/^summary:/ {print $2}' "$out"
}

echo "callgrind, redis-benchmark -c 10 -P 16 -d 256, per request = (I(2N) - I(N)) / N, N=$n"
for test in get set; do
    for who in default restricted; do
        one=$(instructions $who $test $n)
        two=$(instructions $who $test $((2 * n)))
        echo "$test $who $(( (two - one) / n ))"
    done
done
