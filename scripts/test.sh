#!/usr/bin/env bash
# Sets up maskctl (packages, build, data) and runs the whole test suite with CTest.
# Tests read ../shared (datasets, weights, media) beside the repo, or $MASKCTL_SHARED.
#
# usage: scripts/test.sh [--sanitize] [CTEST ARGS...]
#   --sanitize  instead of build/: build build-asan/ (GCC AddressSanitizer + UndefinedBehaviorSanitizer,
#               -O1 with line tables) and run the suite there. A report from any process (the test
#               binary or a maskctl it starts) fails the run, even when the test itself passed.
#               docs/reliability.md says what it covers and what it leaves out.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SANITIZE=0
if [[ ${1:-} == --sanitize ]]; then
  SANITIZE=1
  shift
fi

if [[ $SANITIZE -eq 0 ]]; then
  BUILD_DIR=${MASKCTL_BUILD_DIR:-$ROOT/build}
  "$ROOT/scripts/setup.sh" --test-deps
else
  BUILD_DIR=${MASKCTL_SANITIZE_BUILD_DIR:-$ROOT/build-asan}
  "$ROOT/scripts/setup.sh" --test-deps --no-build   # packages and data; GCC's libasan/libubsan come with it
fi

# The browser test drives Debian's Chromium through puppeteer-core from npm (pinned in
# tests/browser/package-lock.json). Where it cannot be installed the test is skipped, saying why.
if [[ -z ${MASKCTL_SKIP_BROWSER:-} ]]; then
  if ! command -v npm >/dev/null; then
    export MASKCTL_SKIP_BROWSER="npm is not installed (Debian package nodejs)"
  elif ! (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    export MASKCTL_SKIP_BROWSER="npm ci in tests/browser failed (is the npm registry reachable?)"
  fi
  [[ -n ${MASKCTL_SKIP_BROWSER:-} ]] && echo "[test] browser test will be skipped: $MASKCTL_SKIP_BROWSER" >&2
fi

if [[ $SANITIZE -eq 0 ]]; then
  cd "$BUILD_DIR"
  ctest --output-on-failure -j "$(nproc)" "$@"
  exit
fi

# ---- the sanitized suite ------------------------------------------------------------------------
SUPP=$ROOT/tests/sanitizers
say() { printf '[sanitize] %s\n' "$*"; }
start=$(date +%s)
# -O1: ASan's own advice (fast enough, reports still point at the right line); -g1: line tables only,
# enough for the stack traces and far smaller than -g with LibTorch's headers.
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DMASKCTL_SANITIZE=address,undefined >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
built=$(date +%s)
say "build: $(( built - start )) s"

# Every report goes to a file of its own (<kind>.<pid>): the tests start maskctl as a child process and
# often only look at its exit code, so a report on its stderr could pass unseen.
LOGS=$BUILD_DIR/sanitizer-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"
# allocator_may_return_null: a huge allocation fails as it does without ASan (std::bad_alloc, which
# the model file tests expect), instead of ending the process.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:log_path=$LOGS/asan"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$SUPP/ubsan.supp:log_path=$LOGS/ubsan"
status=0
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)" "$@") || status=$?
say "suite: $(( $(date +%s) - built )) s, ctest exit $status"

reports=$(find "$LOGS" -type f | sort)
if [[ -n $reports ]]; then
  for r in $reports; do
    say "report $r:"
    cat "$r"
  done
  say "$(wc -l <<<"$reports") sanitizer report(s): failed"
  exit 1
fi
say "no sanitizer reports"
exit "$status"
