# Sourced by the bench scripts: the wait for a server to be ready, a server's CPU over a
# run, and the wait for the log rewrites a run started.
#
# Redis rewrites its log in a forked child, whose CPU shows in the parent's
# cutime/cstime only once the child has been reaped; Roost rewrites on a thread of its
# own, counted in its utime/stime. So a server's CPU is all four fields of
# /proc/PID/stat, read after every rewrite the run started has finished.

# Waits until the server on port $1 answers and has loaded its data (INFO persistence
# says loading:0); the arguments after the port go to redis-cli (TLS options). Fails,
# saying so, if that takes over 60 s: a server that did not start, or no redis-cli.
wait_until_ready() {
    local port=$1 _ info
    shift
    for _ in $(seq 600); do
        info=$(redis-cli -p "$port" "$@" info persistence 2>/dev/null || true)
        grep -q '^loading:0' <<< "$info" && return 0
        sleep 0.1
    done
    echo "port $port: no server ready after 60 s (is redis-cli installed?)" >&2
    return 1
}

# Prints the server's CPU ticks so far: user, system, and its reaped children's.
server_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

# Prints "user system" ticks apart (children's included).
server_user_system() { awk '{print $14 + $16, $15 + $17}' "/proc/$1/stat"; }

# Waits until the server on port $1 has no log rewrite running or scheduled (Redis clears
# aof_rewrite_in_progress once it has reaped the child). Fails if the server does not
# answer, and gives up after 120 s.
wait_for_rewrites() {
    local _ info
    for _ in $(seq 1200); do
        info=$(redis-cli -p "$1" info persistence 2>/dev/null | tr -d '\r')
        if ! grep -q '^aof_rewrite_in_progress:' <<< "$info"; then
            echo "port $1: no answer to INFO persistence" >&2
            return 1
        fi
        grep -qE '^aof_rewrite_(in_progress|scheduled):1' <<< "$info" || return 0
        sleep 0.1
    done
    echo "port $1: a log rewrite is still running after 120 s" >&2
    return 1
}
