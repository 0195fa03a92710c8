#!/bin/sh
# Installs the Debian packages libmlcl needs, when they are missing.
#   tools/deps.sh          packages to build, test and run the main job
#   tools/deps.sh bench    also PyTorch, for the side-by-side benchmarks
set -e
PKGS="build-essential pkg-config libopenblas-dev libdnnl-dev zlib1g-dev check libsubunit-dev
libturbojpeg0-dev libpng-dev libjansson-dev python3-pil
python3 python3-numpy python3-pytest python3-matplotlib python3-sklearn dataset-fashion-mnist doxygen binutils
libopenmpi-dev openmpi-bin protobuf-c-compiler libprotobuf-c-dev python3-onnx abigail-tools"
[ "${1:-}" = bench ] && PKGS="$PKGS python3-torch time"
# the Python package installs with pip offline (tests/scripts/pip_install.sh)
PKGS="$PKGS python3-pip python3-setuptools python3-wheel python3-venv"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; run:  sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing || { apt-get update -q && apt-get install -y -q $missing; }
