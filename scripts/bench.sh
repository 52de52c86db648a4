#!/usr/bin/env bash
# The speed and memory table of docs/benchmarks.md on a fresh Debian 12 machine: set up (packages,
# build, data), warn when the machine is busy, then run `maskctl bench` (about 3 minutes on 2 cores;
# --quick skips the full training run). The table is printed and written as JSON to
# runs/bench/bench.json (or --json FILE).
#
# usage: scripts/bench.sh [--peer] [--peer-train] [maskctl bench arguments...]
#   --peer        right after maskctl's rows, run the Python peer (../shared/peer/run.sh backbone) in
#                 the same window and print maskctl / peer ratios (needs the shared folder)
#   --peer-train  also run the peer's training recipe (run.sh train, about 8 minutes) against
#                 maskctl's default training run
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEER=${MASKCTL_SHARED:-$ROOT/../shared}/peer
peer=0
peer_train=0
args=()
for a in "$@"; do
  case $a in
    --peer) peer=1 ;;
    --peer-train) peer=1; peer_train=1 ;;
    *) args+=("$a") ;;
  esac
done
if [[ $peer -eq 1 && ! -x $PEER/run.sh ]]; then
  echo "bench: --peer needs $PEER/run.sh (the shared folder beside the repo)" >&2
  exit 2
fi
"$ROOT/scripts/setup.sh"
cd "$ROOT"
load() { cut -d' ' -f1-3 /proc/loadavg; }
if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 0.7) }'; then
  echo "bench: 1-minute load is $(load | cut -d' ' -f1): other jobs will slow the numbers down (wait for an idle machine)" >&2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
json=
for ((i = 0; i < ${#args[@]}; ++i)); do [[ ${args[i]} == --json ]] && json=${args[i + 1]}; done
[[ -n $json ]] || { json=runs/bench/bench.json; args+=(--json "$json"); }
echo "load before maskctl: $(load)"
build/maskctl bench "${args[@]}"
[[ $peer -eq 1 ]] || exit 0

echo
echo "load before the peer: $(load)"
"$PEER/run.sh" backbone 8 --json "$out/peer_backbone.json"
if [[ $peer_train -eq 1 ]]; then
  echo "load before the peer's training: $(load)"
  /usr/bin/time -f '%e %M' -o "$out/peer_train.time" "$PEER/run.sh" train --epochs 5 --channels-last \
    --json "$out/peer_train.json" | tail -n 3
fi
echo "load after the peer: $(load)"
# Ratios in one window: maskctl's rows against the stock paths a Python user would pick.
python3 - "$json" "$out" <<'EOF'
import json, os, sys
rows = {r["name"]: r["value"] for r in json.load(open(sys.argv[1]))["rows"]}
out = sys.argv[2]
peer = json.load(open(os.path.join(out, "peer_backbone.json")))
m32 = rows.get("backbone forward 224, batch 32")
m1 = rows.get("backbone forward 224, batch 1")
m1 = 1000.0 / m1 if m1 else None  # the row is ms/image
table = [("backbone batch 32, images/s", m32, "eager channels-last, batch 32", 3.0),
         ("backbone batch 32, images/s", m32, "torchscript frozen, batch 32", None),
         ("backbone batch 1, images/s", m1, "eager channels-last, batch 1", None),
         ("backbone batch 1, images/s", m1, "torchscript frozen, batch 1", 1.5)]
print("\n| measure | maskctl | peer | peer path | ratio | target |\n|---|---:|---:|---|---:|---|")
for name, mine, path, target in table:
    theirs = peer.get(path)
    ratio = mine / theirs if mine and theirs else float("nan")
    print(f"| {name} | {mine or float('nan'):.1f} | {theirs or float('nan'):.1f} | {path} | {ratio:.2f}x | "
          f"{'>= %.1fx' % target if target else ''} |")
tf = os.path.join(out, "peer_train.time")
if os.path.exists(tf):
    wall, rss_kb = open(tf).read().split()[-2:]
    train = json.load(open(os.path.join(out, "peer_train.json")))
    mine = rows.get("default training run, wall time")
    ratio = float(wall) / mine if mine else float("nan")
    print(f"| training, wall s | {mine or float('nan'):.0f} | {float(wall):.0f} | run.sh train, 5 epochs | "
          f"{ratio:.2f}x faster | >= 4x |")
    print(f"| training, test accuracy | {rows.get('default training run, accuracy') or float('nan'):.4f} | "
          f"{train['test_accuracy']:.4f} | run.sh train | | >= 0.99 |")
    print(f"| training, peak RSS MB | {rows.get('default training run, peak RSS') or float('nan'):.0f} | "
          f"{int(rss_kb) / 1024:.0f} | run.sh train | | <= 1536 |")
EOF
