#!/usr/bin/env bash
# Instructions per request over TLS, Roost against redis-server, counted by callgrind:
# a figure that load on the machine does not distort (wall-clock: compare_tls.sh).
#
# Each server runs under valgrind twice, serving N and then 2N requests of
# `redis-benchmark --tls -c 50 -d 1024 -P <pipeline> -r 10000` (GET after a SET preload
# that both runs share); per request = (I(2N) - I(N)) / N, so the handshakes, startup
# and shutdown cancel out. Both persist nothing and use the same P-256 certificates.
#
# Usage: benches/tls_instructions.sh [roost binary] [N] [tests] [pipelines]
#   defaults: target/profiling/roost, 20000, "set get", "16".
set -euo pipefail
source "$(dirname "$0")/server_cpu.sh"
roost=$(realpath "${1:-target/profiling/roost}"); n=${2:-20000}
tests=${3:-set get}; pipelines=${4:-16}
port=${PORT:-17399}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
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
tls_server=(--tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key"
    --tls-ca-cert-file "$work/ca.crt")
tls_client=(--tls --cacert "$work/ca.crt" --cert "$work/client.crt" --key "$work/client.key")

# Total instructions of one server run: server test pipeline count
instructions() {
    local server=$1 test=$2 pipeline=$3 count=$4 out="$work/callgrind.out" data="$work/data"
    rm -rf "$data"; mkdir -p "$data"
    local cmd=(redis-server --save '')
    [ "$server" = roost ] && cmd=("$roost")
    valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" --port 0 \
        --tls-port $port "${tls_server[@]}" --dir "$data" --appendonly no \
        --loglevel warning >/dev/null 2>&1 &
    local pid=$!
    wait_until_ready $port "${tls_client[@]}" || exit 1
    if [ "$test" = get ]; then
        redis-benchmark -p $port "${tls_client[@]}" -c 50 -n 100000 -d 1024 -P 16 -t set \
            -r 10000 -q >/dev/null 2>&1
    fi
    redis-benchmark -p $port "${tls_client[@]}" -c 50 -n "$count" -d 1024 -P "$pipeline" \
        -t "$test" -r 10000 -q >/dev/null 2>&1
    redis-cli -p $port "${tls_client[@]}" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$out"
}

echo "callgrind, redis-benchmark --tls -c 50 -d 1024 -r 10000, N=$n"
for pipeline in $pipelines; do
    for test in $tests; do
        line="$test P$pipeline"
        for server in roost redis; do
            one=$(instructions $server "$test" "$pipeline" "$n")
            two=$(instructions $server "$test" "$pipeline" $((2 * n)))
            per=$(( (two - one) / n ))
            line="$line $server=$per"
            eval "per_$server=$per"
        done
        echo "$line ratio=$(awk -v a="$per_roost" -v b="$per_redis" 'BEGIN {printf "%.2f", a / b}')"
    done
done
