#!/usr/bin/env python3
"""Replication lag: time from the primary acknowledging a write to the replica showing it.

A probe connection to the primary sends SET probe:<run>:<n> <timestamp>; as soon as the
+OK arrives, a second connection polls GET probe:<run>:<n> on the replica in a tight loop
until the value is there. The lag is +OK -> first GET reply holding the value, so its
resolution is one GET round trip to the replica (printed as get_rtt_us, measured on a key
the replica already has). Meanwhile `redis-benchmark -t set` keeps a background load on
the primary (--load-clients, 0 for none); it inherits this process's CPU affinity.

Standard library only: raw sockets speaking RESP. Prints one line of key=value pairs:
    probes=3000 timeouts=0 p50_us=.. p90_us=.. p99_us=.. max_us=.. mean_us=.. get_rtt_us=..

Usage: repl_lag.py --primary PORT --replica PORT [--host H] [--probes N] [--load-clients C]
"""
import argparse
import signal
import socket
import subprocess
import sys
import time


class Conn:
    """One blocking RESP connection; enough of the protocol for SET, GET, PING, DEL."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._fill()

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data = bytes(self.buf[:n])
            del self.buf[: n + 2]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.send(*args)
        r = self.reply()
        if isinstance(r, RespError):
            raise r
        return r


class RespError(Exception):
    pass


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--primary", type=int, required=True, help="primary's port")
    ap.add_argument("--replica", type=int, required=True, help="replica's port")
    ap.add_argument("--probes", type=int, default=3000)
    ap.add_argument("--load-clients", type=int, default=4,
                    help="redis-benchmark -t set clients on the primary meanwhile (0: none)")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of load before probing")
    ap.add_argument("--timeout", type=float, default=5.0, help="give up on one probe after S")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the background load is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    primary = Conn(args.host, args.primary)
    replica = Conn(args.host, args.replica)
    run = "%x" % (time.time_ns() & 0xFFFFFFFF)

    # Baseline: one GET round trip to the replica for a key it has.
    primary.call("SET", f"probe:{run}:rtt", "x")
    deadline = time.monotonic() + 10
    while replica.call("GET", f"probe:{run}:rtt") is None:
        if time.monotonic() > deadline:
            sys.exit("the replica never showed the first write: is it attached?")
    rtts = []
    for _ in range(1000):
        t0 = time.perf_counter_ns()
        replica.call("GET", f"probe:{run}:rtt")
        rtts.append(time.perf_counter_ns() - t0)
    rtts.sort()

    load = None
    if args.load_clients > 0:
        load = subprocess.Popen(
            ["redis-benchmark", "-h", args.host, "-p", str(args.primary), "-t", "set",
             "-c", str(args.load_clients), "-d", "1024", "-r", "100000", "-n", "1000000000",
             "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lags, timeouts = [], 0
    try:
        time.sleep(args.warmup)
        if load is not None and load.poll() is not None:
            sys.exit("the background redis-benchmark load exited early")
        for n in range(args.probes):
            key = f"probe:{run}:{n}"
            value = str(time.time_ns()).encode()
            primary.call("SET", key, value)
            acked = time.perf_counter_ns()
            give_up = acked + int(args.timeout * 1e9)
            while True:
                replica.send("GET", key)
                got = replica.reply()
                now = time.perf_counter_ns()
                if got == value:
                    lags.append(now - acked)
                    break
                if isinstance(got, RespError) and not str(got).startswith("LOADING"):
                    raise got
                if now > give_up:
                    timeouts += 1
                    break
    finally:
        if load is not None:
            load.terminate()
            load.wait()
    # The probe keys are left for the caller's FLUSHALL: deleting them here would add
    # writes after the measurement and nothing else reads them.
    lags.sort()
    us = lambda ns: ns / 1000
    mean = sum(lags) / len(lags) if lags else float("nan")
    print(f"probes={len(lags)} timeouts={timeouts}"
          f" p50_us={us(percentile(lags, 50)):.0f} p90_us={us(percentile(lags, 90)):.0f}"
          f" p99_us={us(percentile(lags, 99)):.0f} max_us={us(lags[-1] if lags else 0):.0f}"
          f" mean_us={us(mean):.0f} get_rtt_us={us(percentile(rtts, 50)):.0f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
