#!/usr/bin/env python3
"""What one fdatasync costs for a log record, by how the file grows.

The log appends, so every fdatasync under `appendfsync always` also commits the file's
new size. This probe writes 1,500-byte records with pwrite + fdatasync, three ways:

- append: each record extends the file (what the log does now);
- fallocate: the file is posix_fallocate'd ahead (unwritten extents the fsync converts);
- zerofill: zeros are written and fsynced 1 MB ahead, and the records overwrite them.

Usage: benches/fsync_probe.py [directory] [records] [rounds]
  defaults: the current directory, 600, 3. Prints microseconds per record and fdatasync.
"""
import os
import sys
import time

RECORD = b"x" * 1500
FILL_STEP = 1 << 20


def per_record_us(path, mode, records):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if mode == "fallocate":
            os.posix_fallocate(fd, 0, records * len(RECORD) + 4096)
            os.fsync(fd)
        filled = 0
        at = 0
        start = time.perf_counter()
        for _ in range(records):
            if mode == "zerofill" and at + len(RECORD) > filled:
                os.pwrite(fd, b"\0" * FILL_STEP, filled)
                os.fdatasync(fd)
                filled += FILL_STEP
            os.pwrite(fd, RECORD, at)
            at += len(RECORD)
            os.fdatasync(fd)
        return (time.perf_counter() - start) / records * 1e6
    finally:
        os.close(fd)
        os.unlink(path)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    path = os.path.join(directory, f"roost-fsync-probe-{os.getpid()}")
    modes = ("append", "fallocate", "zerofill")
    print(f"us per {len(RECORD)}-byte record and fdatasync, {records} records, in {directory}")
    for _ in range(rounds):
        print("  ".join(f"{m} {per_record_us(path, m, records):.0f}" for m in modes))


if __name__ == "__main__":
    main()
