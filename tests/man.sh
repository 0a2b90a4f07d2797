#!/usr/bin/env bash
# The man pages of this build: each renders with man -l and no groff
# warning, has NAME, SYNOPSIS and DESCRIPTION, gives lexgrog (mandb's
# parser) a "name - what" line, and (the four tools) names every long
# option the tool's --help lists; then `cmake --install` puts each in
# share/man/manN. Usage: man.sh BUILD_DIR PAGE...   Exits 77 (skipped) when
# the pages were not built (no help2man at configure time) or man-db is not
# installed.
set -uo pipefail
# grep that reads all its input: `... | grep -q` ends at the first match, and
# under pipefail the writer's SIGPIPE then fails the test now and then
has() { grep "$@" > /dev/null; }
build=$1; shift
if [ $# -eq 0 ] || [ "$1" = none ]; then
  echo "SKIP: no man pages in this build (help2man not found when configured)"; exit 77
fi
command -v man >/dev/null && command -v lexgrog >/dev/null ||
  { echo "SKIP: man-db (man, lexgrog) is not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
for page in "$@"; do
  name=$(basename "$page"); tool=${name%.*}; sec=${name##*.}
  [ -f "$page" ] || { bad "$name: not built"; continue; }
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >"$tmp/out")
  [ -z "$warn" ] || { bad "$name: groff warns: $warn"; continue; }
  for h in NAME SYNOPSIS DESCRIPTION; do
    grep -q "^$h" "$tmp/out" || bad "$name: no $h section"
  done
  lexgrog "$page" 2>&1 | has "\"$tool - " || bad "$name: lexgrog finds no whatis: $(lexgrog "$page" 2>&1)"
  bin=$build/tools/$tool
  if [ "$sec" = 1 ] && [ -x "$bin" ]; then
    for opt in $("$bin" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
      grep -q -- "$opt" "$tmp/out" || bad "$name: $opt of --help is missing"
    done
  fi
  pass=$((pass + 1))
done
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || bad "cmake --install failed"
for page in "$@"; do
  name=$(basename "$page")
  [ -f "$tmp/prefix/share/man/man${name##*.}/$name" ] || bad "$name: not installed in share/man/man${name##*.}"
done
[ $fail -eq 0 ] || { echo "$fail failed"; exit 1; }
echo "$pass passed, 0 failed"
