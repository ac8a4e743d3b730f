#!/usr/bin/env bash
# Roost's replication against redis-server's, a primary/replica pair of each on the same
# machine, side by side.
#
# Primaries are pinned to CPU 0; replicas, redis-benchmark and the probe tool to CPU 1
# (taskset), so on a 2-core machine a replica shares its CPU with the load clients. No
# server persists anything (Roost --appendonly no; Redis --save '' --appendonly no).
# Replicas are started empty and attached with REPLICAOF. Redis primaries use their
# default diskless full sync with --repl-diskless-sync-delay 0 (the default waits 5 s for
# more replicas); Roost streams its snapshot at once. Both replicas receive the snapshot
# into a file and load it from there (Redis's default repl-diskless-load disabled).
#
# 1. Replication lag: benches/repl_lag.py sets probe keys on the primary while
#    redis-benchmark -t set (LOAD_CLIENTS clients, 1 KB values) loads it, and times
#    primary's +OK -> first GET on the replica that shows the value. p50/p99, in us.
# 2. Full sync of SESSIONS sessions of 1 KB (default 1,000,000; random base64, EX 1800):
#    REPLICAOF -> replica shows master_link_status:up, its offset reaches the primary's
#    and DBSIZE is SESSIONS. The pairs run one after the other (1M sessions take a few
#    GB per pair).
# 3. Primary throughput, redis-benchmark -t set / -t get -c 50 -d 1024 -P 1 -r 100000,
#    without a replica and with one attached (caught up before each run).
#
# Usage: benches/compare_repl.sh [requests]   (default 200000, for 3.)
#        SESSIONS=n (2.), PROBES=n (1., default 3000), LOAD_CLIENTS=n (1., default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
sessions=${SESSIONS:-1000000}
probes=${PROBES:-3000}
load_clients=${LOAD_CLIENTS:-4}
roost_port=${ROOST_PORT:-16383}
roost_replica_port=${ROOST_REPLICA_PORT:-16384}
redis_port=${REDIS_PORT:-16385}
redis_replica_port=${REDIS_REPLICA_PORT:-16386}
cargo build --profile profiling --quiet
work=$(mktemp -d -p "${TMPDIR:-/tmp}" roost-repl-bench.XXXX)
pids=()
cleanup() {
    local status=$?
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    if (( status != 0 && status != 130 && status != 143 )); then # failed: show the logs
        for log in "$work"/*.log; do
            [[ -s "$log" ]] && { echo "--- ${log##*/}"; tail -n 20 "$log"; }
        done >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start kind role port: kind roost|redis, role primary (CPU 0) or replica (CPU 1); the
# replica starts as an empty primary and is attached later with REPLICAOF.
start() {
    local kind=$1 role=$2 port=$3 cpu=0 dir="$work/$1-$2"
    [[ $role == replica ]] && cpu=1
    rm -rf "$dir"; mkdir -p "$dir"
    if [[ $kind == roost ]]; then
        taskset -c "$cpu" ./target/profiling/roost --port "$port" --appendonly no --dir "$dir" \
            --loglevel warning >>"$work/$kind-$role.log" 2>&1 &
    else
        taskset -c "$cpu" redis-server --port "$port" --save '' --appendonly no --dir "$dir" \
            --repl-diskless-sync-delay 0 --loglevel warning >>"$work/$kind-$role.log" 2>&1 &
    fi
    pids+=($!)
    wait_for 10 "$kind $role on port $port answers PING" pong "$port"
}
pong() { [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == PONG ]]; }
stop_all() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
# wait_for seconds what command args...: polls the command every 20 ms.
wait_for() {
    local limit=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + limit ))
    until "$@"; do
        (( $(date +%s) < deadline )) || { echo "timed out after ${limit}s: $what" >&2; exit 1; }
        sleep 0.02
    done
}
# INFO is captured first: with pipefail, `redis-cli | grep -q` can fail on SIGPIPE.
field() { # port section name
    redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}' || true
}
# In sync: link up and the replica's offset has reached the primary's (both quiet).
synced() { # primary_port replica_port [keys]
    [[ "$(field "$2" replication master_link_status)" == up ]] || return 1
    local want have
    want=$(field "$1" replication master_repl_offset)
    have=$(field "$2" replication slave_repl_offset)
    [[ -n $want && -n $have ]] && (( have >= want )) || return 1
    [[ -z ${3:-} || "$(redis-cli -p "$2" dbsize 2>/dev/null)" == "$3" ]]
}
attach() { # primary_port replica_port
    redis-cli -p "$2" replicaof 127.0.0.1 "$1" >/dev/null
    wait_for 60 "replica on port $2 in sync with port $1" synced "$1" "$2"
}
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
kv() { # "k=v k=v ..." key
    tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'
}

echo "1. replication lag: SET on the primary acknowledged -> visible on the replica"
if (( load_clients > 0 )); then
    echo "   ($probes probes, background redis-benchmark -t set -c $load_clients -d 1024 on the primary)"
else
    echo "   ($probes probes, no background load)"
fi
start roost primary "$roost_port"; start roost replica "$roost_replica_port"
start redis primary "$redis_port"; start redis replica "$redis_replica_port"
attach "$roost_port" "$roost_replica_port"; attach "$redis_port" "$redis_replica_port"
lag() { # primary_port replica_port
    taskset -c 1 python3 benches/repl_lag.py --primary "$1" --replica "$2" --probes "$probes" \
        --load-clients "$load_clients"
}
roost_lag=$(lag "$roost_port" "$roost_replica_port")
redis_lag=$(lag "$redis_port" "$redis_replica_port")
stop_all
printf '%-10s %10s %10s %8s\n' lag roost_us redis_us ratio
for k in p50 p90 p99 max; do
    a=$(kv "$roost_lag" "${k}_us"); b=$(kv "$redis_lag" "${k}_us")
    printf '%-10s %10s %10s %8s\n' "$k" "$a" "$b" "$(ratio "$a" "$b")"
done
echo "(resolution: one GET round trip to the replica, roost $(kv "$roost_lag" get_rtt_us) us," \
     "redis $(kv "$redis_lag" get_rtt_us) us; probes timed out: roost" \
     "$(kv "$roost_lag" timeouts), redis $(kv "$redis_lag" timeouts))"

echo
echo "2. full sync of $sessions sessions of 1 KB (SET key value EX 1800) to an empty replica"
benches/sessions.py "$sessions" > "$work/sessions.resp"
full_sync() { # kind primary_port replica_port: sets sync_s and sync_mem
    start "$1" primary "$2"; start "$1" replica "$3"
    redis-cli -p "$2" --pipe < "$work/sessions.resp" >/dev/null
    [[ "$(redis-cli -p "$2" dbsize)" == "$sessions" ]] || { echo "$1: load incomplete" >&2; exit 1; }
    local t0 t1
    t0=$(now)
    redis-cli -p "$3" replicaof 127.0.0.1 "$2" >/dev/null
    wait_for 1800 "$1 replica full sync" synced "$2" "$3" "$sessions"
    t1=$(now)
    sync_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    sync_mem=$(awk -v m="$(field "$3" memory used_memory)" 'BEGIN { printf "%.1f", m / 1e6 }')
    stop_all
}
full_sync roost "$roost_port" "$roost_replica_port"; roost_sync=$sync_s roost_mem=$sync_mem
full_sync redis "$redis_port" "$redis_replica_port"; redis_sync=$sync_s redis_mem=$sync_mem
printf '%-6s %10s %10s %20s\n' server keys sync_s replica_used_mem_mb
printf '%-6s %10s %10s %20s\n' roost "$sessions" "$roost_sync" "$roost_mem"
printf '%-6s %10s %10s %20s\n' redis "$sessions" "$redis_sync" "$redis_mem"
echo "ratio roost/redis sync_s: $(ratio "$roost_sync" "$redis_sync")"
rm -f "$work/sessions.resp"

echo
echo "3. primary throughput, redis-benchmark -c 50 -n $requests -d 1024 -P 1 -r 100000,"
echo "   without a replica and with one attached (replica and client share CPU 1)"
rps() { # port test
    taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$requests" -d 1024 -P 1 -t "$2" \
        -r 100000 --csv 2>/dev/null | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}'
}
declare -A result
start roost primary "$roost_port"; start roost replica "$roost_replica_port"
start redis primary "$redis_port"; start redis replica "$redis_replica_port"
for replica in none attached; do
    if [[ $replica == attached ]]; then
        attach "$roost_port" "$roost_replica_port"; attach "$redis_port" "$redis_replica_port"
    fi
    for kind in roost redis; do
        if [[ $kind == roost ]]; then p=$roost_port r=$roost_replica_port
        else p=$redis_port r=$redis_replica_port; fi
        redis-cli -p "$p" flushall >/dev/null
        for t in set get; do
            # The replica starts each run caught up, not still applying the last one.
            [[ $replica == attached ]] && wait_for 60 "replica on port $r caught up" synced "$p" "$r"
            result[$kind,$replica,$t]=$(rps "$p" "$t")
        done
    done
done
stop_all
printf '%-5s %-9s %12s %12s %8s\n' test replica roost_rps redis_rps ratio
for t in set get; do
    for replica in none attached; do
        a=${result[roost,$replica,$t]}; b=${result[redis,$replica,$t]}
        printf '%-5s %-9s %12s %12s %8s\n' "$t" "$replica" "$a" "$b" "$(ratio "$a" "$b")"
    done
done
for t in set get; do
    printf 'attached/none %s: roost %s, redis %s\n' "$t" \
        "$(ratio "${result[roost,attached,$t]}" "${result[roost,none,$t]}")" \
        "$(ratio "${result[redis,attached,$t]}" "${result[redis,none,$t]}")"
done
