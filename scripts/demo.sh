#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up (packages, build, data), train with the default
# config (configs/mobilenetv2.json) on the default dataset (data/face-mask-3833), then evaluate the
# best model on the held-out test split. Extra arguments go to `maskctl train` (e.g. --set train.epochs=5).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
cd "$ROOT"
start=$(date +%s)
build/maskctl train --config configs/mobilenetv2.json --name demo "$@" | tee /tmp/maskctl-demo-train.log
run=$(sed -n 's|^results saved to \(.*\)/$|\1|p' /tmp/maskctl-demo-train.log | tail -n 1)
[[ -n $run ]] || { echo "demo: training did not report a run folder" >&2; exit 1; }
echo
build/maskctl eval --model "$run/best.maskctl" --config "$run/config.json" --set "data.split_file=$run/split.csv" \
  --split test --out "$run/eval" \
  --json "$run/eval/metrics.json" --errors "$run/eval/errors.csv"
echo "demo: train + eval took $(( $(date +%s) - start )) s; everything is in $run/"
