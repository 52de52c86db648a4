#!/usr/bin/env bash
# Sets up maskctl (packages, build, data) and runs the whole test suite with CTest.
# Tests read ../shared (datasets, weights, media) beside the repo, or $MASKCTL_SHARED.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${MASKCTL_BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh" --test-deps
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
