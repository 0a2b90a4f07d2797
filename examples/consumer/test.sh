#!/usr/bin/env bash
# Install the build into a scratch prefix, then build and run a consumer
# against it with find_package(xmig) and with pkg-config.
set -euo pipefail
build=$1 work=$2 flags=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer" | grep -q "libxmig 0.1.0"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig)
PKG_CONFIG_PATH=$libdir cc $flags "$here/main.c" -o "$work/pc-consumer" \
  $(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs --static xmig)
LD_LIBRARY_PATH=$(dirname "$libdir") "$work/pc-consumer" | grep -q "malformed stream"
echo "1 passed, 0 failed"
