#!/usr/bin/env bash
# The speed and memory table of docs/benchmarks.md on a fresh Debian 12 machine: set up (packages,
# build, data), warn when the machine is busy, then run `maskctl bench` (about 3 minutes on 2 cores;
# --quick skips the full training run). Extra arguments go to `maskctl bench`. The table is printed
# and written as JSON to runs/bench/bench.json (or --json FILE).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
cd "$ROOT"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l >= 0.7) }'; then
  echo "bench: 1-minute load is $load: other jobs will slow the numbers down (wait for an idle machine)" >&2
fi
build/maskctl bench "$@"
