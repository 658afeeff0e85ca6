#!/usr/bin/env bash
# Installs everything agegate needs on a fresh Debian 12 machine (apt-get only).
# Usage: scripts/install-deps.sh [--with-test-tools]
#   --with-test-tools  also installs Chromium (report test), wrk and ImageMagick (load test),
#                      PostgreSQL (a throwaway cluster for the storage tests) and strace
#                      (the privacy test watches the service's file activity), and systemd
#                      (systemd-analyze verifies and scores the service unit offline) and
#                      Universal Ctags (scripts/check-code-shape.sh measures functions), and
#                      python3-torch for torchrun (the distributed training test launches through it).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
pkgs=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-openmp libgloo-dev libgoogle-glog-dev
  libonnx-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libexif-dev libpng-dev libssl-dev
  libopencv-dev opencv-data
  libcli11-dev nlohmann-json3-dev libspdlog-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox
  libsoci-dev libboost-dev libsqlite3-dev libpq-dev
  libtomlplusplus-dev libsystemd-dev
)
if [ "${1:-}" = "--with-test-tools" ]; then
  pkgs+=(chromium wrk imagemagick postgresql openssl clang strace systemd universal-ctags python3-torch)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "agegate dependencies installed" >&2
