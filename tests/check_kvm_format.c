/* SPDX-License-Identifier: MIT */
/*
 * The kvm backend's layer that needs no /dev/kvm (lib/backend/kvm/
 * kvm_format.h): parameter checks, the guest ELF and its boot page, the
 * state blob store, dirty bitmap merging. Runs on every machine, with or
 * without KVM; check_kvm boots real VMs where KVM works.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "xmig/errors.h"

#ifndef XMIG_HAVE_KVM
int main(void)
{
	printf("SKIP check_kvm_format: libxmig was built without the kvm backend\n");
	return XMIG_TEST_SKIP;
}
#else
#include <linux/kvm.h>

#include "backend/kvm/kvm_format.h"

const char *xmig_error_last(void);

#define MEM (64ull << 20)

static void assert_msg(const char *needle)
{
	ck_assert_msg(strstr(xmig_error_last(), needle) != NULL, "message '%s' lacks '%s'",
		      xmig_error_last(), needle);
}

START_TEST(test_params)
{
	struct xmig_kvm_params p = XMIG_KVM_PARAMS_INIT, q;
	struct xmig_backend *b = (struct xmig_backend *)&p;
	uint64_t mem = 0;

	xmig_kvm_params_init(&q);
	ck_assert_uint_eq(q.version, XMIG_KVM_PARAMS_VERSION);
	ck_assert_uint_eq(q.mem_bytes, p.mem_bytes);

	ck_assert_int_eq(xmig__kvm_params_check(NULL, &mem), XMIG_EINVAL);
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), XMIG_EINVAL); /* no ELF */
	assert_msg("no guest ELF");
	p.guest_elf = "guest";
	p.mem_bytes = MEM + 1;
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), 0);
	ck_assert_uint_eq(mem, MEM + XMIG__KVM_PAGE); /* whole pages */
	p.mem_bytes = XMIG_KVM_MAX_MEM + 1;
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), XMIG_EINVAL);
	assert_msg("MiB");
	p.mem_bytes = XMIG_KVM_MIN_MEM - 1;
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), XMIG_EINVAL);
	p.mem_bytes = MEM;
	p.nr_vcpus = 0;
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), XMIG_EINVAL);
	p.nr_vcpus = XMIG_KVM_MAX_VCPUS + 1;
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), XMIG_EINVAL);
	assert_msg("vCPUs");
	p.nr_vcpus = 1;
	p.version = 99;
	ck_assert_int_eq(xmig__kvm_params_check(&p, &mem), XMIG_EINVAL);
	assert_msg("version");

	/* The public call checks all of it before it opens /dev/kvm. */
	b = (struct xmig_backend *)&p;
	ck_assert_int_eq(xmig_kvm_new(&b, &p), XMIG_EINVAL);
	ck_assert_ptr_null(b);
	p.version = XMIG_KVM_PARAMS_VERSION;
	p.guest_elf = "/nonexistent/guest";
	ck_assert_int_eq(xmig_kvm_new(&b, &p), XMIG_EINVAL);
	assert_msg("/nonexistent/guest");
	p.guest_elf = "/";
	ck_assert_int_eq(xmig_kvm_new(&b, &p), XMIG_EINVAL);
	assert_msg("not a plausible ELF");
	ck_assert_ptr_null(b);
}
END_TEST

START_TEST(test_info)
{
	struct xmig_guest_info info = { .nr_pages = MEM / 4096, .page_size = 4096,
					.nr_vcpus = 1, .guest_kind = XMIG_GUEST_KVM_PVH };

	ck_assert_int_eq(xmig__kvm_info_check(&info), 0);
	info.guest_kind = XMIG_GUEST_SIM;
	ck_assert_int_eq(xmig__kvm_info_check(&info), XMIG_EINVAL);
	info.guest_kind = XMIG_GUEST_KVM_PVH;
	info.page_size = 8192;
	ck_assert_int_eq(xmig__kvm_info_check(&info), XMIG_EINVAL);
	info.page_size = 4096;
	info.nr_pages = (4ull << 30) / 4096;
	ck_assert_int_eq(xmig__kvm_info_check(&info), XMIG_EINVAL);
	info.nr_pages = 1;
	ck_assert_int_eq(xmig__kvm_info_check(&info), XMIG_EINVAL);
	info.nr_pages = MEM / 4096;
	info.nr_vcpus = 0;
	ck_assert_int_eq(xmig__kvm_info_check(&info), XMIG_EINVAL);
	info.nr_vcpus = XMIG_KVM_MAX_VCPUS + 1;
	ck_assert_int_eq(xmig__kvm_info_check(&info), XMIG_EINVAL);
}
END_TEST

static const uint8_t code[] = { 0xb0, 0x41, 0xe6, 0xe9, 0xf4 }; /* mov al,'A'; out 0xe9; hlt */

START_TEST(test_elf_load)
{
	uint8_t f[4096], *mem = calloc(1, MEM);
	size_t size = tiny_elf(f, sizeof(f), code, sizeof(code), 0x100000, 1);
	uint64_t entry = 0;

	ck_assert_ptr_nonnull(mem);
	/* check only, then load */
	ck_assert_int_eq(xmig__kvm_elf_load(f, size, "g", NULL, MEM, &entry), 0);
	ck_assert_uint_eq(entry, 0x100000);
	ck_assert_uint_eq(mem[0x100000], 0); /* nothing loaded */
	ck_assert_int_eq(xmig__kvm_elf_load(f, size, "g", mem, MEM, &entry), 0);
	ck_assert_mem_eq(mem + 0x100000, code, sizeof(code));
	free(mem);
}
END_TEST

START_TEST(test_elf_refused)
{
	uint8_t f[4096], g[4096];
	size_t size = tiny_elf(f, sizeof(f), code, sizeof(code), 0x100000, 1);
	uint64_t entry;

	/* truncated, not ELF, wrong machine, big-endian */
	ck_assert_int_eq(xmig__kvm_elf_load(f, 40, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("'g'");
	memcpy(g, f, size);
	g[1] = 'X';
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("not a little-endian ELF");
	memcpy(g, f, size);
	g[18] = 40; /* EM_ARM */
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("x86-64");
	memcpy(g, f, size);
	g[5] = 2;
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	/* program headers beyond the end of the file */
	memcpy(g, f, size);
	g[56] = 200; /* e_phnum */
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("headers beyond the file");
	/* a segment's data beyond the file */
	memcpy(g, f, size);
	g[64 + 32] = 0xff; /* p_filesz */
	g[64 + 40] = 0xff; /* p_memsz */
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("beyond the file");
	/* segments outside RAM: on the boot page, in the hole, above the end */
	size = tiny_elf(g, sizeof(g), code, sizeof(code), 0x7000, 1);
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("not inside guest RAM");
	size = tiny_elf(g, sizeof(g), code, sizeof(code), 0xa0000, 1);
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	size = tiny_elf(g, sizeof(g), code, sizeof(code), MEM - 2, 1);
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	/* the same image fits a bigger guest */
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, 2 * MEM, &entry), 0);
	/* no PVH note */
	size = tiny_elf(g, sizeof(g), code, sizeof(code), 0x100000, 0);
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("PVH");
	/* a note pointing outside RAM */
	size = tiny_elf(g, sizeof(g), code, sizeof(code), 0x100000, 1);
	g[64 + 2 * 56 + 16 + 3] = 0xf0; /* entry 0xf0100000 */
	ck_assert_int_eq(xmig__kvm_elf_load(g, size, "g", NULL, MEM, &entry), XMIG_EINVAL);
	assert_msg("not in RAM");
}
END_TEST

START_TEST(test_boot_page)
{
	uint8_t *mem = calloc(1, MEM);
	char longline[XMIG__KVM_CMDLINE_MAX + 8];
	uint32_t magic, entries;
	uint64_t mm[8];

	ck_assert_ptr_nonnull(mem);
	ck_assert_int_eq(xmig__kvm_boot_page(mem, MEM, "ws=4M", 2600000), 0);
	memcpy(&magic, mem + XMIG__KVM_START_INFO, 4);
	ck_assert_uint_eq(magic, 0x336ec578u);
	ck_assert_str_eq((char *)mem + XMIG__KVM_CMDLINE, "ws=4M tsc_khz=2600000");
	memcpy(&entries, mem + XMIG__KVM_START_INFO + 48, 4);
	ck_assert_uint_eq(entries, 4);
	/* the last RAM range ends where guest memory ends */
	memcpy(mm, mem + XMIG__KVM_MEMMAP + 3 * 24, 16);
	ck_assert_uint_eq(mm[0] + mm[1], MEM);
	/* the caller's own tsc_khz wins; none without a frequency */
	ck_assert_int_eq(xmig__kvm_boot_page(mem, MEM, "tsc_khz=1000 x", 2600000), 0);
	ck_assert_str_eq((char *)mem + XMIG__KVM_CMDLINE, "tsc_khz=1000 x");
	ck_assert_int_eq(xmig__kvm_boot_page(mem, MEM, NULL, 0), 0);
	ck_assert_str_eq((char *)mem + XMIG__KVM_CMDLINE, "");
	/* "xtsc_khz=" is not the word */
	ck_assert_int_eq(xmig__kvm_boot_page(mem, MEM, "xtsc_khz=1", 5), 0);
	ck_assert_str_eq((char *)mem + XMIG__KVM_CMDLINE, "xtsc_khz=1 tsc_khz=5");
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	ck_assert_int_eq(xmig__kvm_boot_page(mem, MEM, longline, 0), XMIG_EINVAL);
	assert_msg("command line longer");
	free(mem);
}
END_TEST

/* A blob as the source emits it: header, then `len` payload bytes. */
static size_t blob(uint8_t *buf, uint32_t vcpu, uint32_t type, const void *payload, size_t len)
{
	struct xmig_kvm_state_hdr h = { XMIG_KVM_STATE_VERSION, type, vcpu, (uint32_t)len };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, len);
	return sizeof(h) + len;
}

static const struct xmig__kvm_caps caps = { .xsave = 1, .xsave_size = 4096, .xcrs = 1 };

START_TEST(test_blobs)
{
	struct xmig__kvm_blobs s;
	struct xmig_kvm_config_state cfg = { .mem_bytes = MEM, .nr_vcpus = 1 };
	struct xmig_kvm_clock_state clk = { .tsc_khz = 1 };
	uint8_t buf[8192], payload[4096] = { 0 };
	struct kvm_cpuid2 cpuid = { .nent = 0 };
	struct kvm_msrs msrs = { .nmsrs = 0 };
	struct xmig_kvm_vmm_state vmm = { 0 };
	size_t n;

	ck_assert_int_eq(xmig__kvm_blobs_init(&s, 1), 0);
	n = blob(buf, XMIG_STATE_PLATFORM, XMIG_KVM_STATE_CONFIG, &cfg, sizeof(cfg));
	/* too short, wrong version, type mismatch, unknown type, bad vCPU */
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM,
					     XMIG_KVM_STATE_CONFIG, buf, 8), XMIG_EPROTO);
	assert_msg("no header");
	buf[0] = 2;
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM,
					     XMIG_KVM_STATE_CONFIG, buf, n), XMIG_EVERSION);
	buf[0] = XMIG_KVM_STATE_VERSION;
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM,
					     XMIG_KVM_STATE_CLOCK, buf, n), XMIG_EPROTO);
	assert_msg("header says");
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM, 0x999, buf, n),
			 XMIG_EPROTO);
	assert_msg("unknown state blob type");
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 5, XMIG_KVM_STATE_REGS, buf, n),
			 XMIG_EPROTO);
	assert_msg("has 1 vCPUs");
	/* REGS of the wrong size; XCRS to a host without them */
	n = blob(buf, 0, XMIG_KVM_STATE_REGS, payload, 16);
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_REGS, buf, n),
			 XMIG_EPROTO);
	assert_msg("bad size");
	n = blob(buf, 0, XMIG_KVM_STATE_XCRS, payload, sizeof(struct kvm_xcrs));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &(struct xmig__kvm_caps){ 0 }, 0,
					     XMIG_KVM_STATE_XCRS, buf, n), XMIG_EPROTO);
	/* a CPUID whose count disagrees with its size; a console line too long */
	cpuid.nent = 3;
	n = blob(buf, 0, XMIG_KVM_STATE_CPUID, &cpuid, sizeof(cpuid));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_CPUID, buf, n),
			 XMIG_EPROTO);
	cpuid.nent = 0;
	vmm.line_len = XMIG__KVM_LINE_MAX;
	n = blob(buf, 0, XMIG_KVM_STATE_VMM, &vmm, sizeof(vmm));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_VMM, buf, n),
			 XMIG_EPROTO);
	vmm.line_len = 0;

	/* a good CONFIG, then its duplicate */
	n = blob(buf, XMIG_STATE_PLATFORM, XMIG_KVM_STATE_CONFIG, &cfg, sizeof(cfg));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM,
					     XMIG_KVM_STATE_CONFIG, buf, n), 0);
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM,
					     XMIG_KVM_STATE_CONFIG, buf, n), XMIG_EPROTO);
	assert_msg("duplicate CONFIG");

	/* incomplete until every mandatory blob is there */
	ck_assert_int_eq(xmig__kvm_blobs_complete(&s, MEM), XMIG_EPROTO);
	assert_msg("CLOCK");
	n = blob(buf, XMIG_STATE_PLATFORM, XMIG_KVM_STATE_CLOCK, &clk, sizeof(clk));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, XMIG_STATE_PLATFORM,
					     XMIG_KVM_STATE_CLOCK, buf, n), 0);
	ck_assert_int_eq(xmig__kvm_blobs_complete(&s, MEM), XMIG_EPROTO);
	assert_msg("vCPU 0: no CPUID");
	n = blob(buf, 0, XMIG_KVM_STATE_CPUID, &cpuid, sizeof(cpuid));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_CPUID, buf, n), 0);
	n = blob(buf, 0, XMIG_KVM_STATE_SREGS, payload, sizeof(struct kvm_sregs));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_SREGS, buf, n), 0);
	n = blob(buf, 0, XMIG_KVM_STATE_REGS, payload, sizeof(struct kvm_regs));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_REGS, buf, n), 0);
	n = blob(buf, 0, XMIG_KVM_STATE_MSRS, &msrs, sizeof(msrs));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_MSRS, buf, n), 0);
	n = blob(buf, 0, XMIG_KVM_STATE_VMM, &vmm, sizeof(vmm));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_VMM, buf, n), 0);
	ck_assert_int_eq(xmig__kvm_blobs_complete(&s, MEM), XMIG_EPROTO);
	assert_msg("no XSAVE or FPU");
	n = blob(buf, 0, XMIG_KVM_STATE_XSAVE, payload, sizeof(struct kvm_xsave));
	ck_assert_int_eq(xmig__kvm_blobs_put(&s, &caps, 0, XMIG_KVM_STATE_XSAVE, buf, n), 0);
	ck_assert_int_eq(xmig__kvm_blobs_complete(&s, MEM), 0);
	/* ... for this guest only: CONFIG says 64 MiB */
	ck_assert_int_eq(xmig__kvm_blobs_complete(&s, 2 * MEM), XMIG_EPROTO);
	assert_msg("differs from this one");
	ck_assert_uint_eq(s.vcpu[0][XMIG_KVM_STATE_REGS].len, sizeof(struct kvm_regs));
	xmig__kvm_blobs_fini(&s);
	xmig__kvm_blobs_fini(&s); /* idempotent */
	ck_assert_ptr_null(s.vcpu);
}
END_TEST

START_TEST(test_dirty_merge)
{
	uint64_t bm[3] = { 0x1, 0, 0 }, slot[3] = { 0x6, 0, ~0ull };

	ck_assert_uint_eq(xmig__kvm_bitmap_words(1), 1);
	ck_assert_uint_eq(xmig__kvm_bitmap_words(64), 1);
	ck_assert_uint_eq(xmig__kvm_bitmap_words(129), 3);
	/* 130 pages: bits 130..191 of the last word are not pages */
	ck_assert_int_eq(xmig__kvm_dirty_merge(bm, slot, 130), 1);
	ck_assert_uint_eq(bm[0], 0x7);
	ck_assert_uint_eq(bm[1], 0);
	ck_assert_uint_eq(bm[2], 0x3);
	memset(slot, 0, sizeof(slot));
	slot[2] = 1ull << 10;
	ck_assert_int_eq(xmig__kvm_dirty_merge(bm, slot, 130), 0); /* beyond the guest */
	ck_assert_uint_eq(bm[2], 0x3);
	slot[2] = 0;
	ck_assert_int_eq(xmig__kvm_dirty_merge(bm, slot, 192), 0);
}
END_TEST

static Suite *kvm_format_suite(void)
{
	Suite *s = suite_create("kvm_format");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_elf_load);
	tcase_add_test(tc, test_elf_refused);
	tcase_add_test(tc, test_boot_page);
	tcase_add_test(tc, test_blobs);
	tcase_add_test(tc, test_dirty_merge);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return xmig_test_run(kvm_format_suite());
}
#endif
