#!/usr/bin/env bash
# Roost against redis-server over TLS, side by side, on the same certificates.
#
# Test certificates (EC P-256 CA, server and client) are made with openssl in a temporary
# directory. Both servers require client certificates (tls-auth-clients yes), are pinned
# to CPU 0, persist nothing, and redis-benchmark --tls runs on CPU 1. Each test runs
# against Roost then Redis, and the whole set twice (alternating). For each run: requests
# per second, and the server's CPU time (user + system, from /proc/PID/stat) per request.
# Last, new TLS connections per second: redis-benchmark -k 0 opens a connection (full
# handshake) for every PING.
#
# Usage: benches/compare_tls.sh [requests] [rounds]    (defaults 200000, 2)
# With CSV=FILE, each run's figures are also appended to FILE (the format
# benches/charts.py reads; family "tls").
# FAMILY=name sets the CSV rows' family (to keep one build's runs apart from another's).
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
rounds=${2:-2}
connections=${CONNECTIONS:-3000}
roost_port=${ROOST_PORT:-16381}
roost_tls=${ROOST_TLS_PORT:-16382}
redis_tls=${REDIS_TLS_PORT:-16383}

cargo build --profile profiling --quiet
workdir=$(mktemp -d)
cd "$workdir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj "/CN=bench CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for name in server client; do
    openssl req "${ec[@]}" -keyout $name.key -out $name.csr -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in $name.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $name.crt \
        -days 2 -extfile $name.ext 2>/dev/null
done
cd - >/dev/null
tls_server=(--tls-cert-file "$workdir/server.crt" --tls-key-file "$workdir/server.key"
    --tls-ca-cert-file "$workdir/ca.crt")
tls_client=(--tls --cacert "$workdir/ca.crt" --cert "$workdir/client.crt"
    --key "$workdir/client.key")

mkdir "$workdir/roost" "$workdir/redis"
taskset -c 0 ./target/profiling/roost --port "$roost_port" --tls-port "$roost_tls" \
    "${tls_server[@]}" --appendonly no --dir "$workdir/roost" --loglevel warning &
roost_pid=$!
taskset -c 0 redis-server --port 0 --tls-port "$redis_tls" "${tls_server[@]}" --save '' \
    --appendonly no --dir "$workdir/redis" --loglevel warning &
redis_pid=$!
trap 'kill $roost_pid $redis_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$workdir"' EXIT
for port in "$roost_tls" "$redis_tls"; do
    wait_until_ready "$port" "${tls_client[@]}" || exit 1
done

ticks=$(getconf CLK_TCK)
# family,workload,round,roost_rps,redis_rps,roost_us_per_request,redis_us_per_request
csv_row() {
    if [ -n "${CSV:-}" ]; then
        [ -s "$CSV" ] || echo "family,workload,round,roost_rps,redis_rps,roost_us,redis_us" > "$CSV"
        echo "${FAMILY:-tls},$1,$2,$3,$4,$5,$6" >> "$CSV"
    fi
}
source "$(dirname "$0")/server_cpu.sh"

# Prints "rps us_per_request" for one run: pid port pipeline test [extra flags...]
run() {
    local pid=$1 port=$2 pipeline=$3 test=$4 n=$5
    shift 5
    local before after rps
    before=$(server_ticks "$pid")
    rps=$(taskset -c 1 redis-benchmark -p "$port" "${tls_client[@]}" -c 50 -n "$n" -d 1024 \
        -P "$pipeline" -t "$test" -r 100000 "$@" --csv 2>/dev/null \
        | awk -F'","' 'NR==2 {gsub(/"/,"",$2); print $2}')
    after=$(server_ticks "$pid")
    awk -v r="$rps" -v t=$((after - before)) -v hz="$ticks" -v n="$n" \
        'BEGIN { printf "%s %.2f\n", r, t / hz * 1e6 / n }'
}

echo "redis-benchmark --tls -c 50 -n $requests -d 1024 -r 100000, servers on CPU 0, client on CPU 1"
printf '%-5s %-6s %-9s %12s %12s %9s %14s %14s %9s\n' round test pipeline roost_rps \
    redis_rps rps_ratio roost_us_req redis_us_req cpu_ratio
for round in $(seq "$rounds"); do
    for pipeline in 1 16; do
        for t in set get; do
            read -r roost_rps roost_us < <(run $roost_pid "$roost_tls" "$pipeline" "$t" "$requests")
            read -r redis_rps redis_us < <(run $redis_pid "$redis_tls" "$pipeline" "$t" "$requests")
            printf '%-5s %-6s %-9s %12s %12s %9s %14s %14s %9s\n' "$round" "$t" "$pipeline" \
                "$roost_rps" "$redis_rps" \
                "$(awk -v a="$roost_rps" -v b="$redis_rps" 'BEGIN { printf "%.2f", a / b }')" \
                "$roost_us" "$redis_us" \
                "$(awk -v a="$roost_us" -v b="$redis_us" 'BEGIN { printf "%.2f", a / b }')"
            csv_row "${t^^} P$pipeline" "$round" "$roost_rps" "$redis_rps" "$roost_us" "$redis_us"
        done
    done
done

echo
echo "new TLS connections: redis-benchmark --tls -k 0 -c 50 -n $connections -t ping (a handshake per request)"
printf '%-5s %12s %12s %9s %14s %14s %9s\n' round roost_cps redis_cps ratio roost_us_conn \
    redis_us_conn cpu_ratio
for round in $(seq "$rounds"); do
    read -r roost_rps roost_us < <(run $roost_pid "$roost_tls" 1 ping_mbulk "$connections" -k 0)
    read -r redis_rps redis_us < <(run $redis_pid "$redis_tls" 1 ping_mbulk "$connections" -k 0)
    printf '%-5s %12s %12s %9s %14s %14s %9s\n' "$round" "$roost_rps" "$redis_rps" \
        "$(awk -v a="$roost_rps" -v b="$redis_rps" 'BEGIN { printf "%.2f", a / b }')" \
        "$roost_us" "$redis_us" \
        "$(awk -v a="$roost_us" -v b="$redis_us" 'BEGIN { printf "%.2f", a / b }')"
    csv_row "new connections" "$round" "$roost_rps" "$redis_rps" "$roost_us" "$redis_us"
done
