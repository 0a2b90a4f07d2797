#!/bin/sh
# SPDX-License-Identifier: MIT
# The test guest must run under KVM's instruction emulator, which lacks
# vector and CET instructions among others: fail if the compiler emitted any
# instruction known to be missing there or to need state the guest never
# enables (SSE/AVX registers, CET, SMAP, 16-byte compare-exchange).
#
# usage: insn-audit.sh OBJDUMP GUEST_ELF
set -u
objdump=${1:?usage: insn-audit.sh OBJDUMP GUEST_ELF}
guest=${2:?usage: insn-audit.sh OBJDUMP GUEST_ELF}

# "  addr:<TAB>mnemonic operands" -> "mnemonic operands"
insns=$("$objdump" -d --no-show-raw-insn "$guest" |
	sed -n 's/^ *[0-9a-f][0-9a-f]*:[[:space:]]*//p') || exit 1
[ -n "$insns" ] || { echo "no instructions in $guest"; exit 1; }
bad=$(printf '%s\n' "$insns" |
	grep -Ei '%[xyz]mm|%k[0-7]|%st|^(endbr|rdssp|incssp|clac|stac|cmpxchg16b|lock|xsave|xrstor|f)' |
	grep -v '^(bad)')
if [ -n "$bad" ]; then
	echo "instructions the guest must not contain:"
	printf '%s\n' "$bad" | head -n 20
	exit 1
fi
echo "guest_insn_audit: ok ($(printf '%s\n' "$insns" | wc -l) instructions)"
