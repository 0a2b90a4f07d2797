#!/usr/bin/env bash
# shellcheck disable=SC2317  # the steps are functions, run through step()
# The Debian packages (debian/), end to end on this machine: build them
# with dpkg-buildpackage -us -uc -b from a copy of the tracked sources,
# lintian (an error fails), install them with apt-get, use the installed
# files (a verified sim migration between the installed tools, the man
# pages, a program built against libxmig-dev with pkg-config and run on
# libxmig0, the Xen helper in place), then purge them again.
# Usage: tests/deb.sh OUT_DIR   (as root; writes OUT_DIR/verdict.json, which
# .ci/count reads like a lab tier's; exit 0 when every step passed)
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" && out=$(cd "$1" && pwd)
rm -rf "$out/pkg" "$out"/*.log
mkdir -p "$out/pkg"
steps=()
failed=0
verdict() {
  python3 - "$out/verdict.json" "${steps[@]}" <<'PY'
import json, sys
scen = []
for s in sys.argv[2:]:
    name, status, why = s.split("\t", 2)
    scen.append({"name": name, "status": status, "why": why})
json.dump({"tier": "debian packages", "scenarios": scen}, open(sys.argv[1], "w"), indent=1)
PY
}
step() { # NAME command...: run it, log to OUT_DIR/NAME.log, note the result
  local name=$1 t0
  shift
  t0=$(date +%s)
  echo "deb: $name"
  if "$@" >"$out/$name.log" 2>&1; then
    steps+=("$name	pass	")
    echo "deb: $name ok ($(( $(date +%s) - t0 )) s)"
  else
    steps+=("$name	fail	$(tail -n 4 "$out/$name.log" | tr '\n\t' '  ' | cut -c1-400)")
    echo "deb: $name FAILED ($(( $(date +%s) - t0 )) s); the end of $out/$name.log:" >&2
    tail -n 20 "$out/$name.log" >&2
    failed=1
  fi
}
skip_all() {
  echo "deb: SKIP: $1" >&2
  steps=("packages	skip	$1")
  verdict
  exit 0
}
[ "$(id -u)" -eq 0 ] || skip_all "not root: the packages cannot be installed here"
for t in dpkg-buildpackage dh lintian apt-get; do
  command -v $t >/dev/null || skip_all "$t is missing (.ci/install-deps installs it)"
done

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
tree=$out/pkg/xmig-$version
build() {
  mkdir -p "$tree"
  (cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -C "$tree" -xf - &&
    (cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) &&
    ls "$out"/pkg/*.deb
}
step build build
debs=("$out"/pkg/*.deb)
[ -e "${debs[0]}" ] || { verdict; exit 1; }
step lintian lintian --fail-on error --tag-display-limit 0 "$out"/pkg/*.changes

names=()
for d in "${debs[@]}"; do
  case $d in *-dbgsym_*) continue ;; esac
  names+=("$(dpkg-deb -f "$d" Package)")
done
install_debs() {
  local want=()
  for d in "${debs[@]}"; do case $d in *-dbgsym_*) ;; *) want+=("$d") ;; esac; done
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" &&
    dpkg -s "${names[@]}" | grep -c '^Status: install ok installed'
}
step install install_debs

migrate() { # the installed tools, nothing of the build tree
  local tmp port pid
  tmp=$(mktemp -d)
  /usr/bin/xmig-recv --listen 127.0.0.1:0 --accept-timeout 60s --json "$tmp/r.json" \
    2>"$tmp/r.err" & pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/r.err"); [ -n "$port" ] && break; sleep 0.05
  done
  [ -n "$port" ] || { cat "$tmp/r.err"; return 1; }
  /usr/bin/xmig-send --mem 32M --dirty hot:4M:20M/s --run-before 100ms --verify \
    --to "127.0.0.1:$port" || return 1
  wait "$pid" || { cat "$tmp/r.err"; return 1; }
  grep -q '"verified": true' "$tmp/r.json" || return 1
  /usr/bin/xmig-send --version && /usr/bin/xmig-dump --version || return 1
  # the kvm tools find the installed test guest (whether /dev/kvm works or not)
  /usr/bin/xmig-send --backend kvm --mem 16M --to "file:$tmp/k.xmig" 2>"$tmp/k.err"
  cat "$tmp/k.err"
  ! grep -q -- '--guest PATH is required' "$tmp/k.err"
}
step migrate migrate
step man-pages sh -c 'man -w xmig-send xmig-recv xmig-dump xmig-simulate &&
  { ! dpkg -s xmig-xen >/dev/null 2>&1 || man -w 8 xmig-xl-helper; }'
consumer() { # libxmig-dev: headers, pkg-config, the shared library at run time
  local tmp
  tmp=$(mktemp -d)
  cat >"$tmp/c.c" <<'C'
#include <stdio.h>
#include <xmig/xmig.h>
int main(void) { printf("libxmig %s\n", xmig_version()); return 0; }
C
  # shellcheck disable=SC2046
  cc -o "$tmp/c" "$tmp/c.c" $(pkg-config --cflags --libs xmig) &&
    "$tmp/c" && ldd "$tmp/c" | grep -E 'libxmig\.so\.0 => /(usr/)?lib/'
}
step dev consumer
helper() { # the Xen helper, where docs/xl-helper.md says it is
  dpkg -s xmig-xen >/dev/null 2>&1 || { echo "no xmig-xen package (built without Xen)"; return 0; }
  test -x /usr/libexec/xmig/xmig-xl-helper
}
step xen-helper helper
step purge env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${names[@]}"
verdict
exit $failed
