#!/usr/bin/env bash
# Soak test: `maskctl detect` loops a video for a long time while its resident memory (VmRSS of
# /proc/PID/status), open file descriptors (/proc/PID/fd) and threads are sampled; prints the table and
# the least-squares slopes (RSS in MB/hour, fds/hour). A leak shows as a slope that does not go to 0 as
# the run gets longer. The first sample is taken after one interval and left out of the fit: model
# loading and the first frames' allocations are growth that stops. Ends detect with SIGINT (Ctrl-C), as
# a user would, and fails when detect dies early or does not exit 0 or 130.
#
# usage: scripts/soak.sh [--minutes N] [--interval S] [--model FILE] [--video FILE] [--out DIR] [-- DETECT ARGS...]
#   --minutes   how long detect runs (default 10; --minutes 60 for the hour of docs/benchmarks.md)
#   --interval  seconds between samples (default 60, or 10 for runs shorter than 10 minutes)
#   --model     .maskctl model (default runs/train/exp/best.maskctl; `maskctl train` makes one)
#   --video     default ../shared/media/demo.mp4 (or $MASKCTL_SHARED/media/demo.mp4)
#   --out       folder for soak.csv, events.jsonl and detect.log (default runs/soak)
# Run it niced on a shared machine (`nice -n 19 scripts/soak.sh`): detect plays the video as fast as it
# can, so it uses every core it gets.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MASKCTL=${MASKCTL_BUILD_DIR:-$ROOT/build}/maskctl
MINUTES=10
INTERVAL=
MODEL=$ROOT/runs/train/exp/best.maskctl
VIDEO=${MASKCTL_SHARED:-$ROOT/../shared}/media/demo.mp4
OUT=$ROOT/runs/soak
EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) MINUTES=$2; shift ;;
    --interval) INTERVAL=$2; shift ;;
    --model) MODEL=$2; shift ;;
    --video) VIDEO=$2; shift ;;
    --out) OUT=$2; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $MINUTES =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak.sh: --minutes '$MINUTES': expected a number" >&2; exit 2; }
if [[ -z $INTERVAL ]]; then
  INTERVAL=$(awk -v m="$MINUTES" 'BEGIN { print (m < 10) ? 10 : 60 }')
fi
[[ $INTERVAL =~ ^[0-9]+$ && $INTERVAL -gt 0 ]] || { echo "soak.sh: --interval '$INTERVAL': expected whole seconds > 0" >&2; exit 2; }
[[ -x $MASKCTL ]] || { echo "soak.sh: $MASKCTL not found (build first: scripts/setup.sh)" >&2; exit 2; }
[[ -f $MODEL ]] || { echo "soak.sh: model $MODEL not found (train one with maskctl train, or pass --model)" >&2; exit 2; }
[[ -f $VIDEO ]] || { echo "soak.sh: video $VIDEO not found (pass --video)" >&2; exit 2; }
mkdir -p "$OUT"
rm -f "$OUT/events.jsonl"

duration=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
samples=$(( duration / INTERVAL ))
(( samples >= 3 )) || { echo "soak.sh: $MINUTES minutes at one sample per $INTERVAL s is fewer than 3 samples" >&2; exit 2; }

# --events: the file detect appends to for the whole run (one open fd that must stay one).
"$MASKCTL" detect -m "$MODEL" --video "$VIDEO" --loop --headless --quiet --events "$OUT/events.jsonl" \
  "${EXTRA[@]}" >"$OUT/detect.log" 2>&1 &
pid=$!
stop() { kill -INT "$pid" 2>/dev/null || true; }
trap stop EXIT

printf '[soak] detect (pid %d) for %s min, a sample every %d s; %s\n' "$pid" "$MINUTES" "$INTERVAL" \
  "$(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "seconds,rss_mb,fds,threads" >"$OUT/soak.csv"
start=$(date +%s)
for ((i = 1; i <= samples; ++i)); do
  # Sleep to the planned time, not for a fixed interval: sampling itself takes time.
  sleep "$(( start + i * INTERVAL - $(date +%s) ))" 2>/dev/null || true
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && code=0 || code=$?
    echo "[soak] detect ended after $(( $(date +%s) - start )) s with exit $code (see $OUT/detect.log)" >&2
    trap - EXIT
    exit 1
  fi
  rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  printf '%d,%.1f,%d,%d\n' "$(( $(date +%s) - start ))" "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')" "$fds" \
    "$threads" >>"$OUT/soak.csv"
  printf '[soak] %s\n' "$(tail -n 1 "$OUT/soak.csv")"
done

trap - EXIT
kill -INT "$pid"
wait "$pid" && code=0 || code=$?
events=$(wc -l <"$OUT/events.jsonl" 2>/dev/null || echo 0)
echo
echo "| seconds | RSS MB | open fds | threads |"
echo "|---:|---:|---:|---:|"
tail -n +2 "$OUT/soak.csv" | awk -F, '{ printf "| %d | %.1f | %d | %d |\n", $1, $2, $3, $4 }'
echo
# Least squares over the samples after the first: slope = cov(t, y) / var(t), per hour.
tail -n +3 "$OUT/soak.csv" | awk -F, -v code="$code" -v events="$events" '
  { n++; t = $1 / 3600; st += t; stt += t * t; sr += $2; str += t * $2; sf += $3; stf += t * $3 }
  END {
    d = n * stt - st * st
    printf "slope (least squares, %d samples after the first): RSS %+.2f MB/hour, open fds %+.2f/hour\n",
           n, (n * str - st * sr) / d, (n * stf - st * sf) / d
    printf "detect exit code after SIGINT: %d; %d event lines written\n", code, events
  }'
cp "$OUT/soak.csv" "$OUT/soak-$(date -u +%Y%m%dT%H%M%SZ).csv"
[[ $code -eq 0 || $code -eq 130 ]]
