#!/usr/bin/env bash
# Instructions and syscalls per request, Roost against redis-server, for SET and GET of
# 1 KB values at pipeline 1 and 16, with the log off, `everysec` and `always`. Both are
# figures that load on the machine does not distort, so they can be taken while other
# work runs (wall-clock CPU per request needs a quiet machine: compare_cpu.sh).
#
# - instructions: the server under callgrind serves N and then 2N requests in two runs;
#   per request = (I(2N) - I(N)) / N, so startup, preloading and shutdown cancel out.
#   Callgrind counts every thread (Roost's log writer and fsync threads included).
# - syscalls and context switches: the server runs natively; `perf stat` attached to it
#   counts them over the N requests of one redis-benchmark run. They depend on timing
#   (how many writes one wakeup of the log writer covers), so they vary from run to run.
#
# Usage: benches/instructions.sh [roost binary] [N] [servers] [fsyncs] [tests] [pipelines]
#   defaults: target/profiling/roost, 20000, "roost redis", "no everysec always",
#   "set get", "1 16". Prints one line per case; CSV lines start with "csv,".
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=${1:-./target/profiling/roost}; n=${2:-20000}
servers=${3:-roost redis}; fsyncs=${4:-no everysec always}
tests=${5:-set get}; pipelines=${6:-1 16}
port=${PORT:-17231}
keys=10000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start() { # wrapper... server fsync: starts the server (in the background), sets $pid
    local server=${*: -2:1} fsync=${*: -1} wrap=("${@:1:$#-2}")
    local dir="$work/data"
    rm -rf "$dir"; mkdir -p "$dir"
    local log=(--appendonly no)
    [ "$fsync" != no ] && log=(--appendonly yes --appendfsync "$fsync")
    if [ "$server" = roost ]; then
        "${wrap[@]}" "$roost" --port $port --dir "$dir" "${log[@]}" --loglevel warning \
            >/dev/null 2>&1 &
    else
        "${wrap[@]}" redis-server --port $port --dir "$dir" --save '' "${log[@]}" \
            --loglevel warning >/dev/null 2>&1 &
    fi
    pid=$!
    wait_until_ready "$port" || exit 1
}

stop() {
    redis-cli -p $port SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" || true
}

bench() { # test pipeline count
    redis-benchmark -p $port -c 50 -n "$3" -d 1024 -P "$2" -t "$1" -r $keys -q \
        >/dev/null 2>&1
}

preload() { # GET finds its keys
    [ "$1" = get ] && bench set 16 $((keys * 3))
    return 0
}

# Total instructions of one server run serving `count` requests.
instructions() { # server fsync test pipeline count
    local out="$work/cg.out"
    start valgrind --tool=callgrind --callgrind-out-file="$out" "$1" "$2"
    preload "$3"
    bench "$3" "$4" "$5"
    stop
    awk '/^summary:/ {print $2}' "$out"
}

events=context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_futex
events+=,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait

# "syscalls futex write epoll_wait context-switches" per request over `count` requests.
syscalls() { # server fsync test pipeline count
    start env "$1" "$2"
    preload "$3"
    local out="$work/perf.out"
    perf stat -x, -e "$events" -p "$pid" -o "$out" &
    local perf=$!
    sleep 0.3
    bench "$3" "$4" "$5"
    kill -INT $perf; wait $perf || true
    stop
    awk -F, -v n="$5" '
        { v[$3] = $1 }
        END { printf "%.2f %.2f %.2f %.2f %.2f\n",
              v["raw_syscalls:sys_enter"] / n, v["syscalls:sys_enter_futex"] / n,
              v["syscalls:sys_enter_write"] / n, v["syscalls:sys_enter_epoll_wait"] / n,
              v["context-switches"] / n }' "$out"
}

echo "per request; instructions: callgrind, (I(2N) - I(N)) / N, N=$n;"
echo "syscalls: perf stat over N requests; redis-benchmark -c 50 -d 1024 -r $keys"
printf '%-6s %-8s %-4s %-4s %12s %9s %7s %7s %7s %7s\n' server fsync test pipe \
    instructions syscalls futex write epoll ctxsw
for fsync in $fsyncs; do
    for test in $tests; do
        for pipe in $pipelines; do
            for server in $servers; do
                one=$(instructions $server $fsync $test $pipe $n)
                two=$(instructions $server $fsync $test $pipe $((2 * n)))
                per=$(((two - one) / n))
                read -r sys futex write epoll ctxsw < <(syscalls $server $fsync $test $pipe $n)
                printf '%-6s %-8s %-4s %-4s %12s %9s %7s %7s %7s %7s\n' $server $fsync \
                    $test P$pipe $per $sys $futex $write $epoll $ctxsw
                echo "csv,$server,$fsync,$test,$pipe,$per,$sys,$futex,$write,$epoll,$ctxsw"
            done
        done
    done
done
