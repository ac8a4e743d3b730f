#!/usr/bin/env bash
# Regenerates the charts in benches/charts/ (shown in BENCHMARKS.md) from the runs'
# CSV files in benches/results/: one command, with matplotlib pinned in a virtualenv
# of its own (benches/.venv).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python3 ] || ! .venv/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check matplotlib==3.9.2
fi
exec .venv/bin/python3 charts.py "$@"
