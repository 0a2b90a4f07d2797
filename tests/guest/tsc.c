/* SPDX-License-Identifier: MIT */
/*
 * The TSC frequency: all guest timing (heartbeat, rate, run time) counts
 * TSC ticks. In order of trust: the host's tsc_khz=, a hypervisor CPUID
 * leaf, a measurement against PIT channel 2, and last a 1 GHz guess.
 */
#include "xg.h"

#define XG_TSC_KHZ_MIN 1000ull          /* 1 MHz */
#define XG_TSC_KHZ_MAX 100000000ull     /* 100 GHz */
#define XG_TSC_KHZ_GUESS 1000000ull     /* 1 GHz */

#define PIT_HZ 1193182u
#define PIT_CAL_MS 30u             /* < 55 ms: one pass of the 16-bit counter */
#define PIT_SAMPLES 8u
#define PIT_STUCK_POLLS 1000u
#define PORT_PIT_CH2 0x42
#define PORT_PIT_CMD 0x43
#define PORT_SYS_CTRL 0x61      /* bit 0: channel 2 gate, bit 1: speaker */

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(sub));
}

static bool plausible(uint64_t khz)
{
	return khz >= XG_TSC_KHZ_MIN && khz <= XG_TSC_KHZ_MAX;
}

static bool sig_is(const uint32_t r[4], const char sig[12])
{
	return memcmp(&r[1], sig, 4) == 0 && memcmp(&r[2], sig + 4, 4) == 0 &&
	       memcmp(&r[3], sig + 8, 4) == 0;
}

/*
 * Xen reports the guest TSC rate in leaf base+3 (ECX, kHz); KVM hosts that
 * know it expose the timing leaf 0x40000010 (EAX, kHz). Xen may move its
 * leaves to base 0x40000100 when it also offers Viridian.
 */
static uint64_t khz_from_cpuid(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	if (!(r[2] & (1u << 31)))   /* no hypervisor */
		return 0;
	for (uint32_t base = 0x40000000; base <= 0x40000100; base += 0x100) {
		uint32_t max;

		cpuid(base, 0, r);
		max = r[0];
		if (max < base || max > base + 0xff)
			continue;
		if (sig_is(r, "XenVMMXenVMM") && max >= base + 3) {
			cpuid(base + 3, 0, r);
			if (plausible(r[2]))
				return r[2];
		}
		if (sig_is(r, "KVMKVMKVM\0\0\0") && max >= base + 0x10) {
			cpuid(base + 0x10, 0, r);
			if (plausible(r[0]))
				return r[0];
		}
	}
	return 0;
}

/* One reading of PIT channel 2's counter, bracketed by two TSC reads. */
struct pit_sample {
	uint64_t tsc;      /* midpoint of the bracket */
	uint64_t width;    /* the bracket: the reading's uncertainty */
	uint32_t count;
};

static void pit_read(struct pit_sample *s)
{
	uint64_t t0, t1;
	uint8_t lo, hi;

	t0 = xg_rdtsc();
	xg_outb(PORT_PIT_CMD, 0x80);    /* latch channel 2 */
	lo = xg_inb(PORT_PIT_CH2);
	hi = xg_inb(PORT_PIT_CH2);
	t1 = xg_rdtsc();
	s->tsc = t0 + (t1 - t0) / 2;
	s->width = t1 - t0;
	s->count = (uint32_t)lo | (uint32_t)hi << 8;
}

/* The narrowest of a few readings: a preempted vCPU only widens a bracket. */
static void pit_best(struct pit_sample *best)
{
	struct pit_sample s;

	pit_read(best);
	for (unsigned i = 1; i < PIT_SAMPLES; i++) {
		pit_read(&s);
		if (s.width < best->width)
			*best = s;
	}
}

/*
 * Let channel 2 count down from 0xffff (mode 0) and compare the TSC with
 * the counter at two points PIT_CAL_MS apart. Port accesses are slow under
 * emulation and the host may preempt the vCPU at any time, so each point is
 * the most tightly bracketed of several readings. A PVH guest under Xen has
 * no PIT (the ports read as all ones): a counter that does not move for
 * PIT_STUCK_POLLS readings means there is none.
 */
static uint64_t khz_from_pit(void)
{
	const uint32_t span = PIT_HZ / 1000 * PIT_CAL_MS;
	struct pit_sample a, b, s;
	uint32_t last;
	unsigned still = 0;
	uint8_t ctl;

	ctl = xg_inb(PORT_SYS_CTRL);
	xg_outb(PORT_SYS_CTRL, (uint8_t)((ctl & ~0x02) | 0x01));   /* gate on, speaker off */
	xg_outb(PORT_PIT_CMD, 0xb0);    /* channel 2, lo/hi byte, mode 0, binary */
	xg_outb(PORT_PIT_CH2, 0xff);
	xg_outb(PORT_PIT_CH2, 0xff);

	pit_best(&a);
	last = a.count;
	if (a.count <= span)
		return 0;
	for (;;) {
		pit_read(&s);
		if (s.count > last)             /* wrapped or garbage */
			return 0;
		if (s.count == last) {
			if (++still > PIT_STUCK_POLLS)
				return 0;
		} else {
			still = 0;
		}
		last = s.count;
		if (a.count - s.count >= span)
			break;
	}
	pit_best(&b);
	if (b.count >= a.count || b.tsc <= a.tsc)
		return 0;
	return (b.tsc - a.tsc) * PIT_HZ / ((uint64_t)(a.count - b.count) * 1000);
}

uint64_t xg_tsc_khz(uint64_t from_cmdline)
{
	uint64_t khz;

	if (from_cmdline)
		return from_cmdline;
	khz = khz_from_cpuid();
	if (khz)
		return khz;
	khz = khz_from_pit();
	if (plausible(khz))
		return khz;
	xg_puts("XG WARN tsc calibration failed, assuming 1 GHz\n");
	return XG_TSC_KHZ_GUESS;
}
