#!/bin/sh
# SPDX-License-Identifier: MIT
# Boot the test guest under QEMU TCG and hold it to its output contract
# (docs/test-guest.md): a clean run, a run with a deliberately damaged page
# (the check must be able to fail), and a bad command line.
#
# usage: qemu-smoke.sh GUEST_ELF [QEMU]
set -u

guest=${1:?usage: qemu-smoke.sh GUEST_ELF [QEMU]}
qemu=${2:-qemu-system-x86_64}
limit=60
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xg-smoke.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0

# boot NAME CMDLINE: runs QEMU; sets $log, $status and $secs
boot() {
	log=$tmp/$1.log
	t0=$(date +%s)
	timeout "$limit" "$qemu" -accel tcg -M pc -m 64M -nographic -no-reboot \
		-kernel "$guest" -append "$2" \
		-device isa-debugcon,iobase=0xe9,chardev=dbg \
		-chardev file,id=dbg,path="$log" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		</dev/null >"$tmp/$1.qemu" 2>&1
	status=$?
	secs=$(($(date +%s) - t0))
	[ -f "$log" ] || : >"$log"
	echo "== $1: '$2' -> QEMU status $status in ${secs}s"
}

fail() {
	echo "FAIL: $*"
	failed=1
}

want_line() { # ERE the log must match, description
	grep -Eq "$1" "$log" || fail "$2 (no line matching /$1/)"
}

want_status() {
	[ "$status" -eq "$1" ] || fail "QEMU exit status $status, want $1"
	[ "$status" -ne 124 ] || fail "guest did not finish within ${limit}s"
}

show_log() {
	echo "-- guest output (without heartbeats):"
	grep -v '^XG HB ' "$log" | head -n 40
	echo "-- $(grep -c '^XG HB ' "$log") heartbeat lines"
	if [ "$failed" -ne 0 ]; then
		echo "-- QEMU output:"
		tail -n 20 "$tmp/$2.qemu"
	fi
}

# 1. clean run: heartbeats, statistics, a clean final check, exit 0 -> status 1
boot clean "ws=8M time=3 hb=10"
want_status 1
want_line '^XG BOOT v1 ram=[0-9]+ ws=8388608 pattern=seq rate=max hb=10 tsc_khz=[0-9]+$' "BOOT line"
want_line '^XG READY$' "READY line"
hb=$(grep -c '^XG HB [0-9][0-9]*$' "$log")
[ "$hb" -ge 50 ] || fail "only $hb heartbeat lines, want >= 50"
want_line '^XG STAT writes=[1-9][0-9]* checked=[1-9][0-9]* errors=0$' "STAT line"
want_line '^XG CHECK pages=2048 errors=0$' "clean final check"
want_line '^XG EXIT 0$' "EXIT 0"
grep -q '^XG ERR ' "$log" && fail "ERR line in a clean run"
# write rate, from the last STAT line (writes since READY over the run time)
w=$(grep '^XG STAT ' "$log" | tail -n 1 | sed 's/.*writes=\([0-9]*\).*/\1/')
[ -n "$w" ] && echo "   writer: $w page writes in 3 s = $((w / 3)) pages/s"
show_log clean

# 2. a damaged page must be caught: ERR, errors >= 1, exit 1 -> status 3
boot corrupt "ws=8M time=2 hb=10 corrupt=1"
want_status 3
want_line '^XG READY$' "READY line"
want_line '^XG CORRUPT pfn=0x[0-9a-f]+$' "CORRUPT line"
want_line '^XG ERR pfn=0x[0-9a-f]+ want=[0-9]+ got=[0-9]+ why=sum$' "ERR line"
want_line '^XG (STAT|CHECK) .*errors=[1-9][0-9]*$' "errors >= 1"
want_line '^XG EXIT 1$' "EXIT 1"
show_log corrupt

# 3. an unknown key is refused: FAIL line, exit 2 -> status 5
boot badarg "ws=8M bogus=1"
want_status 5
want_line '^XG FAIL unknown key: bogus=1$' "FAIL line"
want_line '^XG EXIT 2$' "EXIT 2"
grep -q '^XG READY' "$log" && fail "READY despite a bad command line"
show_log badarg

if [ "$failed" -ne 0 ]; then
	echo "guest_qemu_smoke: FAILED"
	exit 1
fi
echo "guest_qemu_smoke: ok"
