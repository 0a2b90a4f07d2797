/* SPDX-License-Identifier: MIT */
/*
 * Output on the debug port 0xe9, and the exit path.
 *
 * Every outb is a VM exit (and under emulation an expensive one), so the
 * callers keep their lines short and there is no buffering to get wrong.
 */
#include "xg.h"

#define XG_PORT_DEBUGCON 0xe9
#define XG_PORT_DEBUG_EXIT 0xf4

void xg_putc(char c)
{
	xg_outb(XG_PORT_DEBUGCON, (uint8_t)c);
}

void xg_puts(const char *s)
{
	while (*s)
		xg_putc(*s++);
}

void xg_putu(uint64_t v)
{
	char buf[20];
	unsigned n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		xg_putc(buf[--n]);
}

void xg_putx(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char buf[16];
	unsigned n = 0;

	do {
		buf[n++] = digits[v & 15];
		v >>= 4;
	} while (v);
	xg_putc('0');
	xg_putc('x');
	while (n)
		xg_putc(buf[--n]);
}

/*
 * QEMU's isa-debug-exit turns the value into its own exit status
 * ((code << 1) | 1); the xmig KVM VMM reads it as the guest's exit code.
 * Xen has nothing on port 0xf4: there a halted vCPU with interrupts off is
 * taken as powered off, which ends the domain.
 */
void xg_exit(int code)
{
	xg_puts("XG EXIT ");
	xg_putu((uint64_t)code);
	xg_putc('\n');
	xg_outl(XG_PORT_DEBUG_EXIT, (uint32_t)code);
	for (;;)
		__asm__ volatile("cli; hlt" : : : "memory");
}

void xg_fail(const char *msg)
{
	xg_puts("XG FAIL ");
	xg_puts(msg);
	xg_putc('\n');
	xg_exit(XG_EXIT_BADARG);
}
