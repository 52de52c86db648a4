#!/usr/bin/env bash
# Sets up maskctl on Debian 12: installs the packages it needs (skipping those already there), builds into
# build/, and prepares the default data under data/ (links to ../shared when it is beside the repo,
# downloads from the public sources otherwise). Safe to run again.
#
# usage: scripts/setup.sh [--no-build] [--no-data] [--test-deps] [--build-type Release|Debug]
#   --test-deps  also install what only the tests use (a real MQTT broker, headless Chromium, clang)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${MASKCTL_SHARED:-$ROOT/../shared}
BUILD_DIR=${MASKCTL_BUILD_DIR:-$ROOT/build}
BUILD_TYPE=Release
DO_BUILD=1
DO_DATA=1
TEST_DEPS=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-build) DO_BUILD=0 ;;
    --no-data) DO_DATA=0 ;;
    --test-deps) TEST_DEPS=1 ;;
    --build-type) BUILD_TYPE=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# ---- packages -----------------------------------------------------------------------------------
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config curl ca-certificates
  libtorch-dev libopenblas0-pthread   # OpenBLAS: LibTorch's matmuls are ~50x faster than with reference BLAS
  libdnnl-dev                          # oneDNN headers: the fused inference backbone (LibTorch already links libdnnl)
  libopencv-dev opencv-data
  libcli11-dev nlohmann-json3-dev libfmt-dev catch2
  libflatbuffers-dev flatbuffers-compiler
  zlib1g-dev                           # crc32 of model files
  libtinyxml2-dev                      # Pascal VOC annotations (maskctl val, data crops)
  libcpp-httplib-dev                   # maskctl serve
  libmosquitto-dev                     # MQTT output of maskctl detect
)
# Only the tests need these: a real broker, a real browser, clang for the sanitizer and fuzz builds.
TEST_PACKAGES=(
  mosquitto mosquitto-clients
  chromium nodejs                      # nodejs brings npm (puppeteer-core drives Chromium)
  clang libclang-rt-14-dev
)
[[ $TEST_DEPS -eq 1 ]] && PACKAGES+=("${TEST_PACKAGES[@]}")
install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "packages: all ${#PACKAGES[@]} present"
    return
  fi
  say "packages: installing ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq || die "apt-get update failed; check the network and /etc/apt/sources.list"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
}

# ---- build --------------------------------------------------------------------------------------
build() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [[ -f $BUILD_DIR/CMakeCache.txt ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}" "$BUILD_DIR/CMakeCache.txt"; then
    rm -rf "$BUILD_DIR"  # a cache made with another generator cannot be reused
  fi
  say "build: configuring $BUILD_DIR ($BUILD_TYPE)"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
  say "build: compiling (a first build takes several minutes on 2 cores)"
  cmake --build "$BUILD_DIR" -j "$(nproc)"
  say "build: done: $BUILD_DIR/maskctl"
}

# ---- data ---------------------------------------------------------------------------------------
DATASET_REPO=balajisrinivas/Face-Mask-Detection
DATASET_COMMIT=3ba9a99884732b94ccefb0ead390bb19163c98a8
CORAL_COMMIT=104342d2d3480b3e66203073dac24f4e2dbb4c41
CORAL_RAW=https://raw.githubusercontent.com/google-coral/test_data/$CORAL_COMMIT
declare -A IMAGENET_SHA256=(
  [tf2_mobilenet_v2_1.0_224_ptq.tflite]=5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c
  [mobilenet_v2_1.0_224_quant.tflite]=7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776
  [imagenet_labels.txt]=b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1
)
declare -A FACE_URLS=(
  [opencv_face_detector_uint8.pb]=https://raw.githubusercontent.com/opencv/opencv_3rdparty/8033c2bc31b3256f0d461c919ecc01c2428ca03b/opencv_face_detector_uint8.pb
  [opencv_face_detector.pbtxt]=https://raw.githubusercontent.com/opencv/opencv/4.6.0/samples/dnn/face_detector/opencv_face_detector.pbtxt
  [face_detection_yunet_2022mar.onnx]=https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/1688402dbd9b9fc4a3a6793810f558b7407ff384/tasks/task1/onnx/yunet_120x160.onnx
)

download() {  # url dest
  local url=$1 dest=$2 tmp
  tmp=$(mktemp "$dest.XXXXXX")
  if ! curl -fsSL --retry 3 --connect-timeout 20 -o "$tmp" "$url"; then
    rm -f "$tmp"
    die "could not download $url. Put the shared data folder beside the repo (../shared) or copy the file to $dest by hand, then run scripts/setup.sh again."
  fi
  mv "$tmp" "$dest"
}

check_sha256() {  # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || die "$1: sha256 $got, expected $2 (a different or damaged file; delete it and run again)"
}

# Links data/<name> to $SHARED/<path> when the shared folder has it; returns 1 otherwise.
link_shared() {  # name path
  local target=$SHARED/$2 link=$ROOT/data/$1
  [[ -e $target ]] || return 1
  mkdir -p "$(dirname "$link")"
  if [[ -L $link || ! -e $link ]]; then
    ln -sfn "$(cd "$target" && pwd)" "$link"
    say "data: $1 -> $target"
  else
    say "data: $1 already present (not a link; left as it is)"
  fi
}

fetch_dataset() {
  local dest=$ROOT/data/face-mask-3833
  [[ -d $dest/with_mask && -d $dest/without_mask ]] && { say "data: face-mask-3833 present"; return; }
  say "data: downloading the face-mask dataset from github.com/$DATASET_REPO (about 130 MB)"
  local tmp
  tmp=$(mktemp -d)
  download "https://codeload.github.com/$DATASET_REPO/tar.gz/$DATASET_COMMIT" "$tmp/repo.tar.gz"
  tar -xzf "$tmp/repo.tar.gz" -C "$tmp" || die "could not unpack $tmp/repo.tar.gz"
  mkdir -p "$dest.partial"
  cp -r "$tmp"/*/dataset/. "$dest.partial"/ || die "the downloaded archive has no dataset/ folder"
  mv "$dest.partial" "$dest"
  rm -rf "$tmp"
}

fetch_imagenet() {
  local dest=$ROOT/data/models/imagenet
  mkdir -p "$dest"
  for f in "${!IMAGENET_SHA256[@]}" grace_hopper.bmp cat.bmp parrot.jpg bird.bmp hot_dog.jpg owl.jpg dragonfly.bmp; do
    [[ -s $dest/$f ]] || { say "data: downloading $f"; download "$CORAL_RAW/$f" "$dest/$f"; }
    [[ -n ${IMAGENET_SHA256[$f]:-} ]] && check_sha256 "$dest/$f" "${IMAGENET_SHA256[$f]}"
  done
}

fetch_face() {
  local dest=$ROOT/data/models/face
  mkdir -p "$dest"
  for f in "${!FACE_URLS[@]}"; do
    [[ -s $dest/$f ]] || { say "data: downloading $f"; download "${FACE_URLS[$f]}" "$dest/$f"; }
  done
}

prepare_data() {
  mkdir -p "$ROOT/data"
  [[ -d $SHARED ]] && say "data: using the shared folder $SHARED" || say "data: no $SHARED; downloading from public sources"
  link_shared face-mask-3833 data/face-mask-3833 || fetch_dataset
  link_shared face-mask-3class data/face-mask-3class \
    || say "data: face-mask-3class is only in the shared folder (optional; used by configs/mobilenetv2-3class.json)"
  link_shared face-mask-realworld data/face-mask-realworld \
    || say "data: face-mask-realworld is only in the shared folder (optional; maskctl val, configs/mobilenetv2-realworld.json)"
  link_shared models/imagenet models/imagenet || fetch_imagenet
  link_shared models/face models/face || fetch_face
  link_shared media media || say "data: media (demo clip, test photos) is only in the shared folder (optional)"
}

install_packages
[[ $DO_BUILD -eq 1 ]] && build
[[ $DO_DATA -eq 1 ]] && prepare_data
say "ready"
