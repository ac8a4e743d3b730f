"""A session writer that finds the primary through Redis Sentinel with redis-py.

Usage: sentinel_client.py SENTINEL_PORT STOP_FILE

Writes py:0, py:1, ... (EX 3600) through `Sentinel.master_for`, retrying through a
failover the way an application would, until STOP_FILE exists. Then prints one JSON
line: how many writes were acknowledged, the last one, and every primary port that
acknowledged writes, in order.
"""

import json
import os
import sys
import time

from redis.exceptions import ConnectionError, ReadOnlyError, ResponseError, TimeoutError
from redis.sentinel import MasterNotFoundError, Sentinel


def main() -> None:
    sentinel_port, stop_file = int(sys.argv[1]), sys.argv[2]
    sentinel = Sentinel([("127.0.0.1", sentinel_port)], socket_timeout=0.5)
    primary = sentinel.master_for("mymaster", socket_timeout=0.5)
    acknowledged, last, primaries = 0, None, []
    n = 0
    while not os.path.exists(stop_file):
        try:
            primary.set(f"py:{n}", n, ex=3600)
        except (ConnectionError, TimeoutError, ReadOnlyError, ResponseError, MasterNotFoundError):
            time.sleep(0.1)
            continue
        acknowledged, last = acknowledged + 1, n
        if n % 20 == 0:
            port = primary.connection_pool.get_master_address()[1]
            if not primaries or primaries[-1] != port:
                primaries.append(port)
        n += 1
        time.sleep(0.005)
    print(json.dumps({"acknowledged": acknowledged, "last": last, "primaries": primaries}))


if __name__ == "__main__":
    main()
