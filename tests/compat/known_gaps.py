"""Client calls that work against Redis 7.0.15 but not (yet) against Roost.

Usage: python3 known_gaps.py PORT

NOT called from tests/compat.rs: each check here fails against Roost today (see "Known
gaps" in README.md). It passes against redis-server 7.0.15. Once Roost is fixed, move the
check into the client's own script and delete it here. Runs every check and exits
non-zero if any failed, printing each failure.
"""

import sys
import traceback

import redis


def resp3_pubsub_numsub(port: int) -> None:
    # redis-py's parse_pubsub_numsub slices the reply as a flat array.
    r = redis.Redis(port=port, protocol=3)
    p = r.pubsub()
    p.subscribe("gap:news")
    p.get_message(timeout=2)
    try:
        numsub = r.pubsub_numsub("gap:news")
        assert numsub == [(b"gap:news", 1)], numsub
    finally:
        p.close()
        r.close()


CHECKS = [resp3_pubsub_numsub]


def main() -> None:
    port = int(sys.argv[1])
    failed = 0
    for check in CHECKS:
        try:
            check(port)
            print(f"{check.__name__}: ok")
        except Exception:  # noqa: BLE001 - report every gap, not just the first
            failed += 1
            print(f"{check.__name__}: FAILED")
            traceback.print_exc(limit=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
