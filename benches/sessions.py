#!/usr/bin/env python3
"""Session writes for the benchmarks, as RESP on stdout for `redis-cli --pipe`:
`SET <key> <value> EX <ttl>`, the values random base64 (serialized sessions barely
compress, so neither server gains from compressible data).

Usage: sessions.py COUNT [--size BYTES] [--ttl SECONDS] [--random-keys SEED]
  --size         value length (default 1024)
  --ttl          EX seconds (default 1800)
  --random-keys  keys session:<32 hex> drawn from a generator seeded SEED, values cut
                 from one random pool (fast for millions of keys); without it keys are
                 session:<8 digits> in order and each value is fresh random bytes
"""
import argparse
import base64
import os
import random
import sys

parser = argparse.ArgumentParser()
parser.add_argument("count", type=int)
parser.add_argument("--size", type=int, default=1024)
parser.add_argument("--ttl", type=int, default=1800)
parser.add_argument("--random-keys", type=int, metavar="SEED")
args = parser.parse_args()

out = sys.stdout.buffer
ttl = str(args.ttl).encode()
tail = b"$2\r\nEX\r\n$%d\r\n%s\r\n" % (len(ttl), ttl)
if args.random_keys is not None:
    rng = random.Random(args.random_keys)
    pool = base64.b64encode(os.urandom(args.size * 64 + 4096))

    def session(_):
        key = b"session:%032x" % rng.getrandbits(128)
        at = rng.randrange(0, len(pool) - args.size)
        return key, pool[at:at + args.size]
else:
    raw = args.size * 3 // 4 + 3

    def session(i):
        return b"session:%08d" % i, base64.b64encode(os.urandom(raw))[:args.size]

for i in range(args.count):
    key, value = session(i)
    out.write(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
              + tail)
