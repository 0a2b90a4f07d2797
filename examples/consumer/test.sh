#!/usr/bin/env bash
# Install the build into a scratch prefix, then build and run a consumer
# against it four ways: find_package(xmig) with the shared and the static
# library, pkg-config with each. Also checks what libxmig.so.0 exports:
# only xmig_* names, each under the version node XMIG_0.
set -euo pipefail
build=$1 work=$2 flags=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(dirname "$(ls -d "$work"/prefix/lib*/pkgconfig)")
so=$libdir/libxmig.so.0
[ -f "$libdir/libxmig.a" ] || fail "libxmig.a not installed"
[ -L "$libdir/libxmig.so" ] && [ -f "$so" ] || fail "libxmig.so and libxmig.so.0 not installed"
readelf -d "$so" | grep -q 'SONAME.*\[libxmig\.so\.0\]' || fail "libxmig.so.0 has no SONAME libxmig.so.0"

# the exports: the public API and nothing else, all versioned
syms=$(readelf --dyn-syms -W "$so" |
  awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $4 != "SECTION" && $8 != "" &&
       !($7 == "ABS" && $8 == "XMIG_0") { print $8 }')
[ -n "$syms" ] || fail "libxmig.so.0 exports nothing"
echo "$syms" | grep -q '^xmig_version@@XMIG_0$' || fail "xmig_version is not exported as xmig_version@@XMIG_0"
bad=$(echo "$syms" | grep -v '^xmig_[A-Za-z0-9_]*@@XMIG_0$' || true)
[ -z "$bad" ] || fail "libxmig.so.0 exports names outside the public API or unversioned: $(echo $bad | head -c 400)"

for kind in shared static; do
  st=OFF; [ $kind = static ] && st=ON
  cmake -S "$here" -B "$work/cmake-$kind" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DXMIG_CONSUMER_STATIC=$st -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
  cmake --build "$work/cmake-$kind" >/dev/null
  bin=$work/cmake-$kind/consumer
  "$bin" | grep -q "libxmig 0.1.0" || fail "the $kind CMake consumer did not run"
  if [ $kind = shared ]; then
    readelf -d "$bin" | grep -q 'NEEDED.*\[libxmig\.so\.0\]' || fail "the shared consumer does not use libxmig.so.0"
  else
    ! readelf -d "$bin" | grep -q 'NEEDED.*libxmig' || fail "the static consumer needs libxmig.so"
  fi
done

# pkg-config: plain --libs takes the shared library; --static lists what
# libxmig.a needs, and linking the archive with exactly that must work
pc="env PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config"
cc $flags "$here/main.c" -o "$work/pc-shared" $($pc --cflags --libs xmig)
readelf -d "$work/pc-shared" | grep -q 'NEEDED.*\[libxmig\.so\.0\]' || fail "pkg-config --libs xmig did not link libxmig.so.0"
LD_LIBRARY_PATH=$libdir "$work/pc-shared" | grep -q "malformed stream" || fail "the pkg-config shared consumer did not run"
libs=$($pc --libs --static xmig | sed 's/\(^\| \)-lxmig\( \|$\)/\1-l:libxmig.a\2/')
case "$libs" in *-l:libxmig.a*) ;; *) fail "pkg-config --static --libs xmig has no -lxmig: $libs" ;; esac
cc $flags "$here/main.c" -o "$work/pc-static" $($pc --cflags xmig) $libs
! readelf -d "$work/pc-static" | grep -q 'NEEDED.*libxmig' || fail "the static pkg-config consumer needs libxmig.so"
"$work/pc-static" | grep -q "malformed stream" || fail "the pkg-config static consumer did not run"
echo "1 passed, 0 failed"
