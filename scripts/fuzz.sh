#!/usr/bin/env bash
# Fuzzes the parsers of user files with clang's libFuzzer (ASan + UBSan): config JSON, model files, TFLite
# import, split CSV, VOC/YOLO annotations (tests/fuzz/fuzz_targets.cpp). One target at a time, niced: the
# machine is shared.
# Needs the normal build (build/, GCC): only the parsers are compiled again with clang, instrumented
# (tests/fuzz/CMakeLists.txt says why). Each run starts from the committed corpus tests/fuzz/<target>/;
# with --update-corpus the inputs that reached new code are merged back into it (minimized). Crashes land
# in build-fuzz/artifacts/<target>/; turn each into a regression input in tests/fuzz/<target>/ once fixed.
#
# usage: scripts/fuzz.sh [--time SECONDS] [--update-corpus] [--parallel] [TARGET...]   (default: 600 s, every target)
#   --parallel  run the targets at the same time (each still niced) instead of one after the other
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${MASKCTL_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=600
UPDATE=0
PARALLEL=0
TARGETS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --time) SECONDS_PER_TARGET=$2; shift ;;
    --update-corpus) UPDATE=1 ;;
    --parallel) PARALLEL=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) TARGETS+=("$1") ;;
  esac
  shift
done
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=(config_json model_file tflite split_csv annotations)

say() { printf '[fuzz] %s\n' "$*"; }
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
MAIN_BUILD=${MASKCTL_BUILD_DIR:-$ROOT/build}
cmake --build "$MAIN_BUILD" -j 2 --target maskctl_core
cmake -S "$ROOT/tests/fuzz" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DMASKCTL_BUILD_DIR="$MAIN_BUILD" >/dev/null
cmake --build "$BUILD_DIR" -j 2 --target "${TARGETS[@]/#/fuzz_}"

fuzz_one() {
  local target=$1 corpus artifacts start status
  corpus=$BUILD_DIR/corpus/$target
  artifacts=$BUILD_DIR/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  say "$target: ${SECONDS_PER_TARGET} s from $(ls "$ROOT/tests/fuzz/$target" | wc -l) committed inputs"
  start=$(date +%s)
  status=0
  # Each input must finish within 10 s (-timeout) and 2 GB (-rss_limit_mb); -max_len keeps inputs small
  # enough to commit.
  nice -n 19 "$BUILD_DIR/fuzz_$target" "$corpus" "$ROOT/tests/fuzz/$target" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 2>"$BUILD_DIR/$target.log" || status=$?
  grep -E "^(stat::|#[0-9]+ +DONE)" "$BUILD_DIR/$target.log" | sed "s/^/[fuzz] $target: /" || true
  say "$target: $(( $(date +%s) - start )) s, exit $status, $(ls "$artifacts" | wc -l) crash/timeout inputs in $artifacts"
  echo "$(date -u +%FT%TZ) $target $(( $(date +%s) - start )) s exit $status" >> "$BUILD_DIR/hours.log"
  if [[ $UPDATE -eq 1 ]]; then
    # Into the committed folder itself: only the inputs that reach code its files do not are added.
    nice -n 19 "$BUILD_DIR/fuzz_$target" -merge=1 -max_len=16384 "$ROOT/tests/fuzz/$target" "$corpus" \
      2>>"$BUILD_DIR/$target.log"
    say "$target: corpus now $(ls "$ROOT/tests/fuzz/$target" | wc -l) inputs"
  fi
}

for target in "${TARGETS[@]}"; do
  if [[ $PARALLEL -eq 1 ]]; then fuzz_one "$target" & else fuzz_one "$target"; fi
done
wait
