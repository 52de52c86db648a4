#!/usr/bin/env bash
# Sets up maskctl (packages, build, data) and runs the whole test suite with CTest.
# Tests read ../shared (datasets, weights, media) beside the repo, or $MASKCTL_SHARED.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${MASKCTL_BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh" --test-deps

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

cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
