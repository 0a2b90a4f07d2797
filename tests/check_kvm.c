/* SPDX-License-Identifier: MIT */
/*
 * The kvm backend on /dev/kvm: boot the test guest, pause and resume it,
 * check its dirty log against what really changed in its memory, migrate
 * it by hand (no engine) into a second VM of this process, and see guest
 * failures reported as XMIG_EGUEST. Without a usable /dev/kvm the suite
 * exits 77, which ctest counts as skipped; what needs no VM (parameters,
 * the ELF, state blobs, dirty bitmaps) is tested by check_kvm_format.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "xmig/backend/kvm.h"
#include "xmig/errors.h"
#include "xmig/sys/backend.h"

const char *xmig_error_last(void);

#ifdef XMIG_HAVE_KVM

#define PAGE 4096u
#define MEM (64ull << 20)
#define NR_PAGES (MEM / PAGE)

/* ---- console capture ---- */

struct console {
	pthread_mutex_t lock;
	char *text; /* every line, in order */
	size_t len, cap;
	unsigned lines;
	long hb_first, hb_last; /* -1: none yet */
	unsigned hb_count;
	int hb_gap;             /* a heartbeat did not follow its predecessor */
	uint64_t hb_first_ns, hb_last_ns; /* host CLOCK_MONOTONIC */
	int partial;            /* a line came without its '\n' */
};

static void console_init(struct console *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->hb_first = c->hb_last = -1;
}

static void console_fini(struct console *c)
{
	free(c->text);
	pthread_mutex_destroy(&c->lock);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void console_fn(const char *data, size_t len, void *payload)
{
	struct console *c = payload;
	long seq;

	pthread_mutex_lock(&c->lock);
	if (c->len + len + 1 > c->cap) {
		c->cap = (c->len + len + 1) * 2;
		c->text = realloc(c->text, c->cap);
	}
	memcpy(c->text + c->len, data, len);
	c->len += len;
	c->text[c->len] = '\0';
	c->lines++;
	if (len == 0 || data[len - 1] != '\n')
		c->partial = 1;
	if (len > 6 && memcmp(data, "XG HB ", 6) == 0) {
		seq = strtol(data + 6, NULL, 10);
		if (c->hb_last >= 0 && seq != c->hb_last + 1)
			c->hb_gap = 1;
		if (c->hb_first < 0) {
			c->hb_first = seq;
			c->hb_first_ns = mono_ns();
		}
		c->hb_last = seq;
		c->hb_last_ns = mono_ns();
		c->hb_count++;
	}
	pthread_mutex_unlock(&c->lock);
}

static int console_has(struct console *c, const char *needle)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = c->text && strstr(c->text, needle) != NULL;
	pthread_mutex_unlock(&c->lock);
	return r;
}

static unsigned console_hb(struct console *c, long *last)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->hb_count;
	if (last)
		*last = c->hb_last;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void console_dump(struct console *c, const char *who)
{
	pthread_mutex_lock(&c->lock);
	fprintf(stderr, "---- %s console (%u lines) ----\n%s----\n", who, c->lines,
		c->text ? c->text : "");
	pthread_mutex_unlock(&c->lock);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait up to `ms` for `needle` on the console. */
static int wait_for(struct console *c, const char *needle, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 10) {
		if (console_has(c, needle))
			return 1;
		sleep_ms(10);
	}
	return console_has(c, needle);
}

/* Wait up to `ms` until at least `n` heartbeats were seen. */
static int wait_hb(struct console *c, unsigned n, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 10) {
		if (console_hb(c, NULL) >= n)
			return 1;
		sleep_ms(10);
	}
	return console_hb(c, NULL) >= n;
}

/* ---- helpers ---- */

static struct xmig_backend *boot_n(const char *cmdline, uint32_t nr_vcpus, struct console *c)
{
	struct xmig_kvm_params p = XMIG_KVM_PARAMS_INIT;
	struct xmig_backend *b = NULL;
	int r;

	p.guest_elf = XMIG_TEST_GUEST;
	p.mem_bytes = MEM;
	p.nr_vcpus = nr_vcpus;
	p.cmdline = cmdline;
	p.console_fn = console_fn;
	p.console_payload = c;
	r = xmig_kvm_new(&b, &p);
	ck_assert_msg(r == 0, "xmig_kvm_new: %s: %s", xmig_error_name(r), xmig_error_last());
	ck_assert_ptr_nonnull(b);
	return b;
}

static struct xmig_backend *boot(const char *cmdline, struct console *c)
{
	return boot_n(cmdline, 1, c);
}

static uint64_t popcount(const uint64_t *bm, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

/* Copy `src` memory into `dst`: every page, or those set in `bitmap`. */
static void copy_pages(struct xmig_backend *src, struct xmig_backend *dst,
		       const uint64_t *bitmap, uint64_t nr_pages)
{
	uint64_t pfns[1024];
	void *sp[1024], *dp[1024];
	unsigned n = 0;

	for (uint64_t pfn = 0; pfn <= nr_pages; pfn++) {
		if (pfn < nr_pages && bitmap && !(bitmap[pfn / 64] >> (pfn % 64) & 1))
			continue;
		if (pfn < nr_pages)
			pfns[n++] = pfn;
		if (n == 1024 || (pfn == nr_pages && n)) {
			ck_assert_int_eq(src->ops->map_pages(src, pfns, n, sp, XMIG_MAP_READ), 0);
			ck_assert_int_eq(dst->ops->map_pages(dst, pfns, n, dp, XMIG_MAP_WRITE), 0);
			for (unsigned i = 0; i < n; i++) {
				ck_assert_ptr_nonnull(sp[i]);
				ck_assert_ptr_nonnull(dp[i]);
				memcpy(dp[i], sp[i], PAGE);
			}
			src->ops->unmap_pages(src, sp, n);
			dst->ops->unmap_pages(dst, dp, n);
			n = 0;
		}
	}
}

/* A copy of all guest memory. */
static uint8_t *snapshot(struct xmig_backend *b)
{
	uint8_t *copy = malloc(MEM);
	uint64_t pfns[1024];
	void *ptrs[1024];

	ck_assert_ptr_nonnull(copy);
	for (uint64_t base = 0; base < NR_PAGES; base += 1024) {
		for (unsigned i = 0; i < 1024; i++)
			pfns[i] = base + i;
		ck_assert_int_eq(b->ops->map_pages(b, pfns, 1024, ptrs, XMIG_MAP_READ), 0);
		for (unsigned i = 0; i < 1024; i++)
			memcpy(copy + (base + i) * PAGE, ptrs[i], PAGE);
		b->ops->unmap_pages(b, ptrs, 1024);
	}
	return copy;
}

/* ---- a tiny hand-made PVH guest: 32-bit code at 1 MiB ---- */

/* Write tiny_elf() to a temporary file; returns its path (static buffer). */
static const char *tiny_guest(const uint8_t *code, size_t len, int with_note)
{
	static char path[64];
	uint8_t f[4096];
	size_t size = tiny_elf(f, sizeof(f), code, len, 0x100000, with_note);
	FILE *out;
	int fd;

	snprintf(path, sizeof(path), "/tmp/xmig-kvm-tiny-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	out = fdopen(fd, "wb");
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(fwrite(f, 1, size, out), size);
	fclose(out);
	return path;
}

static struct xmig_backend *boot_tiny(const uint8_t *code, size_t len, struct console *c)
{
	struct xmig_kvm_params p = XMIG_KVM_PARAMS_INIT;
	struct xmig_backend *b = NULL;
	const char *path = tiny_guest(code, len, 1);
	int r;

	p.guest_elf = path;
	p.mem_bytes = MEM;
	p.console_fn = console_fn;
	p.console_payload = c;
	r = xmig_kvm_new(&b, &p);
	unlink(path);
	ck_assert_msg(r == 0, "xmig_kvm_new: %s", xmig_error_last());
	return b;
}

/*
 * Run a tiny guest that must fail; its message must contain `needle`. The
 * message is copied to `msg` (if not NULL, 512 bytes).
 */
static void expect_guest_failure(const uint8_t *code, size_t len, const char *needle, char *msg)
{
	struct console c;
	struct xmig_backend *b;
	int code_out = -1, r;

	console_init(&c);
	b = boot_tiny(code, len, &c);
	r = xmig_kvm_wait_exit(b, 20000, &code_out);
	ck_assert_msg(r == XMIG_EGUEST, "wait_exit: %s (%s), expected XMIG_EGUEST",
		      xmig_error_name(r), xmig_error_last());
	ck_assert_msg(strstr(xmig_error_last(), needle) != NULL, "message '%s' lacks '%s'",
		      xmig_error_last(), needle);
	fprintf(stderr, "reported: %s\n", xmig_error_last());
	if (msg)
		snprintf(msg, 512, "%s", xmig_error_last());
	/* The failure sticks; state cannot be saved from a dead guest. */
	ck_assert_int_eq(xmig_kvm_wait_exit(b, 0, NULL), XMIG_EGUEST);
	ck_assert_int_eq(b->ops->pause(b), 0);
	b->ops->free(b);
	console_fini(&c);
}

/* ---- tests: tiny guests ---- */

START_TEST(test_tiny_console_and_exit)
{
	/* "hi\n" to 0xe9, read 0xe9 back into ebx, then outl 42 to 0xf4 */
	static const uint8_t code[] = {
		0xb0, 'h', 0xe6, 0xe9, 0xb0, 'i', 0xe6, 0xe9, 0xb0, '\n', 0xe6, 0xe9,
		0xe4, 0xe9,                   /* in al, 0xe9 */
		0x3c, 0xe9, 0x75, 0x08,       /* cmp al, 0xe9; jne +8 */
		0xb8, 42, 0, 0, 0,            /* mov eax, 42 */
		0xe7, 0xf4,                   /* out 0xf4, eax */
		0xf4,                         /* hlt */
		0xb8, 7, 0, 0, 0, 0xe7, 0xf4, 0xf4, /* mismatch: exit 7 */
	};
	struct console c;
	struct xmig_backend *b;
	struct xmig_guest_info info;
	int code_out = -1, r;

	console_init(&c);
	b = boot_tiny(code, sizeof(code), &c);
	r = xmig_kvm_wait_exit(b, 20000, &code_out);
	ck_assert_msg(r == 0, "wait_exit: %s", xmig_error_last());
	ck_assert_int_eq(code_out, 42);
	ck_assert(console_has(&c, "hi\n"));
	ck_assert_int_eq(b->ops->describe(b, &info), 0);
	ck_assert_uint_eq(info.nr_pages, NR_PAGES);
	ck_assert_uint_eq(info.page_size, PAGE);
	ck_assert_uint_eq(info.nr_vcpus, 1);
	ck_assert_uint_eq(info.guest_kind, XMIG_GUEST_KVM_PVH);
	ck_assert_str_eq(info.backend, "kvm");
	ck_assert_str_eq(b->ops->name, "kvm");
	/* An exited guest is not migrated. */
	ck_assert_int_eq(b->ops->pause(b), 0);
	b->ops->destroy(b);
	b->ops->destroy(b); /* idempotent */
	ck_assert_int_eq(xmig_kvm_wait_exit(b, 0, NULL), XMIG_EINVAL);
	b->ops->free(b);
	console_fini(&c);
}
END_TEST

START_TEST(test_tiny_long_line_and_string_io)
{
	/* 2000 x 'a' one byte at a time, then "ok\n" with rep outsb, exit 0 */
	static const uint8_t code[] = {
		0xb9, 0xd0, 0x07, 0x00, 0x00, /* mov ecx, 2000 */
		0xb0, 'a', 0xe6, 0xe9,        /* mov al, 'a'; out 0xe9, al */
		0xe2, 0xfa,                   /* loop -6 */
		0xbe, 0x25, 0x00, 0x10, 0x00, /* mov esi, 0x100025 (the text below) */
		0xb9, 0x03, 0x00, 0x00, 0x00, /* mov ecx, 3 */
		0x66, 0xba, 0xe9, 0x00,       /* mov dx, 0xe9 */
		0xfc, 0xf3, 0x6e,             /* cld; rep outsb */
		0x31, 0xc0, 0xe7, 0xf4, 0xf4, /* xor eax, eax; out 0xf4, eax; hlt */
		0x90, 0x90, 0x90, 0x90,       /* pad to 0x25 */
		'o', 'k', '\n',
	};
	struct console c;
	struct xmig_backend *b;
	char want[2000 + 4];
	int code_out = -1, r;

	ck_assert_uint_eq(sizeof(code), 0x28);
	console_init(&c);
	b = boot_tiny(code, sizeof(code), &c);
	r = xmig_kvm_wait_exit(b, 20000, &code_out);
	ck_assert_msg(r == 0, "wait_exit: %s", xmig_error_last());
	ck_assert_int_eq(code_out, 0);
	memset(want, 'a', 2000);
	memcpy(want + 2000, "ok\n", 4);
	ck_assert_uint_eq(c.len, 2003);
	ck_assert_str_eq(c.text, want);
	ck_assert_uint_eq(c.lines, 2); /* 1024 bytes, then the rest */
	ck_assert(c.partial);
	b->ops->free(b);
	console_fini(&c);
}
END_TEST

START_TEST(test_tiny_unsupported_instruction)
{
	static const uint8_t clac[] = { 0x0f, 0x01, 0xca, 0xf4 };
	char msg[512];

	/* KVM's emulator cannot do clac (this host: emulation failure); a CPU
	 * running it natively goes on to hlt. Either way: XMIG_EGUEST. */
	expect_guest_failure(clac, sizeof(clac), "vCPU 0", msg);
	if (strstr(msg, "internal error")) {
		ck_assert_msg(strstr(msg, "suberror 1 (instruction emulation failed)"), "%s", msg);
		ck_assert_msg(strstr(msg, "instruction bytes 0f 01 ca"), "%s", msg);
		ck_assert_msg(strstr(msg, "rip 0x100000"), "%s", msg);
	}
}
END_TEST

START_TEST(test_tiny_mmio_outside_ram)
{
	/* mov dword [0x10000000], 1: 256 MiB, beyond the 64 MiB of RAM */
	static const uint8_t mmio[] = { 0xc7, 0x05, 0x00, 0x00, 0x00, 0x10,
					0x01, 0x00, 0x00, 0x00, 0xf4 };

	expect_guest_failure(mmio, sizeof(mmio), "write of 4 byte(s) at guest-physical 0x10000000", NULL);
}
END_TEST

START_TEST(test_tiny_triple_fault)
{
	static const uint8_t ud2[] = { 0x0f, 0x0b };

	expect_guest_failure(ud2, sizeof(ud2), "triple fault", NULL);
}
END_TEST

START_TEST(test_tiny_halt_and_bad_port)
{
	static const uint8_t hlt[] = { 0xfa, 0xf4 };
	static const uint8_t port80[] = { 0xe6, 0x80, 0xf4 };

	expect_guest_failure(hlt, sizeof(hlt), "halted", NULL);
	expect_guest_failure(port80, sizeof(port80), "port 0x80", NULL);
}
END_TEST

START_TEST(test_tiny_pause_spinning_guest)
{
	/* jmp $: a vCPU that never exits by itself must still park */
	static const uint8_t spin[] = { 0xeb, 0xfe };
	struct console c;
	struct xmig_backend *b;
	uint64_t t0;

	console_init(&c);
	b = boot_tiny(spin, sizeof(spin), &c);
	ck_assert_int_eq(xmig_kvm_wait_exit(b, 200, NULL), XMIG_ETIMEDOUT);
	for (int i = 0; i < 5; i++) {
		struct timespec a, z;

		clock_gettime(CLOCK_MONOTONIC, &a);
		ck_assert_int_eq(b->ops->pause(b), 0);
		clock_gettime(CLOCK_MONOTONIC, &z);
		t0 = (uint64_t)(z.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)z.tv_nsec -
		     (uint64_t)a.tv_nsec;
		ck_assert_msg(t0 < 500000000ull, "pause took %llu ns", (unsigned long long)t0);
		ck_assert_int_eq(b->ops->resume(b), 0);
		sleep_ms(20);
	}
	b->ops->free(b); /* destroys a running guest */
	console_fini(&c);
}
END_TEST

/* ---- tests: the test guest ---- */

START_TEST(test_guest_boot)
{
	struct console c;
	struct xmig_backend *b;
	int code = -1, r;

	console_init(&c);
	b = boot("ws=4M time=3", &c);
	r = xmig_kvm_wait_exit(b, 120000, &code);
	if (r || code)
		console_dump(&c, "guest");
	ck_assert_msg(r == 0, "wait_exit: %s", xmig_error_last());
	ck_assert_int_eq(code, 0);
	ck_assert(console_has(&c, "XG BOOT "));
	ck_assert(console_has(&c, "tsc_khz="));
	ck_assert(console_has(&c, "XG READY\n"));
	ck_assert_uint_ge(console_hb(&c, NULL), 3);
	ck_assert(!c.hb_gap);
	ck_assert(!c.partial);
	ck_assert(console_has(&c, "errors=0\n"));
	ck_assert(console_has(&c, "XG CHECK pages="));
	ck_assert(!console_has(&c, "XG ERR"));
	ck_assert(console_has(&c, "XG EXIT 0\n"));
	b->ops->free(b);
	console_fini(&c);
}
END_TEST

START_TEST(test_guest_pause_resume)
{
	struct console c;
	struct xmig_backend *b;
	unsigned before, after;

	console_init(&c);
	b = boot("ws=4M time=60", &c);
	ck_assert_msg(wait_for(&c, "XG READY\n", 60000), "the guest never got ready");
	ck_assert_msg(wait_hb(&c, 3, 10000), "no heartbeats");
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(b->ops->pause(b), 0);
		before = console_hb(&c, NULL);
		sleep_ms(300);
		after = console_hb(&c, NULL);
		ck_assert_msg(before == after, "heartbeats went on while paused (%u -> %u)", before,
			      after);
		ck_assert_int_eq(b->ops->resume(b), 0);
		ck_assert_msg(wait_hb(&c, after + 3, 10000), "no heartbeats after resume");
	}
	ck_assert(!c.hb_gap);
	ck_assert(!console_has(&c, "XG ERR"));
	b->ops->free(b);
	console_fini(&c);
}
END_TEST

START_TEST(test_guest_dirty_log)
{
	const size_t words = NR_PAGES / 64;
	struct console c;
	struct xmig_backend *b;
	uint64_t *bm = calloc(words, sizeof(uint64_t));
	uint8_t *a, *z;
	uint64_t idle_n, busy_n, changed = 0, missed = 0;

	ck_assert_ptr_nonnull(bm);

	/* fetch before start: refused */
	console_init(&c);
	b = boot("ws=4M idle=1 time=60", &c);
	ck_assert_msg(wait_hb(&c, 2, 60000), "no heartbeats");
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), XMIG_EINVAL);
	ck_assert_int_eq(b->ops->log_dirty_start(b), 0);
	sleep_ms(500);
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), 0);
	idle_n = popcount(bm, words);
	ck_assert_int_eq(b->ops->log_dirty_stop(b), 0);
	ck_assert_int_eq(b->ops->log_dirty_stop(b), 0);
	b->ops->free(b);
	console_fini(&c);

	console_init(&c);
	b = boot("ws=4M time=60", &c);
	ck_assert_msg(wait_hb(&c, 2, 60000), "no heartbeats");
	ck_assert_int_eq(b->ops->log_dirty_start(b), 0);
	sleep_ms(1000);
	memset(bm, 0, words * sizeof(uint64_t));
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), 0);
	busy_n = popcount(bm, words);
	fprintf(stderr, "dirty pages: idle guest %llu in 0.5 s, writing guest %llu in 1 s\n",
		(unsigned long long)idle_n, (unsigned long long)busy_n);
	/* Measured here: idle 1, writing ~300 per 0.5 s under KVM's emulator. */
	ck_assert_uint_le(idle_n, 64);
	ck_assert_uint_ge(busy_n, 100);
	ck_assert_uint_gt(busy_n, 4 * idle_n);

	/* Every page whose content changed between two paused snapshots is
	 * reported: the log is exact. */
	ck_assert_int_eq(b->ops->pause(b), 0);
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 0), 0); /* drain */
	a = snapshot(b);
	ck_assert_int_eq(b->ops->resume(b), 0);
	sleep_ms(600);
	ck_assert_int_eq(b->ops->pause(b), 0);
	memset(bm, 0, words * sizeof(uint64_t));
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 1), 0);
	z = snapshot(b);
	for (uint64_t pfn = 0; pfn < NR_PAGES; pfn++) {
		if (memcmp(a + pfn * PAGE, z + pfn * PAGE, PAGE) == 0)
			continue;
		changed++;
		if (!(bm[pfn / 64] >> (pfn % 64) & 1)) {
			if (missed++ < 10)
				fprintf(stderr, "pfn 0x%llx changed, not reported\n",
					(unsigned long long)pfn);
		}
	}
	fprintf(stderr, "%llu pages changed, %llu reported, %llu missed\n",
		(unsigned long long)changed, (unsigned long long)popcount(bm, words),
		(unsigned long long)missed);
	ck_assert_uint_ge(changed, 30);
	ck_assert_uint_eq(missed, 0);
	/* Nothing was written while paused. */
	memset(bm, 0, words * sizeof(uint64_t));
	ck_assert_int_eq(b->ops->dirty_fetch(b, bm, 1), 0);
	ck_assert_uint_eq(popcount(bm, words), 0);
	ck_assert_int_eq(b->ops->resume(b), 0);
	ck_assert_int_eq(b->ops->log_dirty_stop(b), 0);
	ck_assert(!console_has(&c, "XG ERR"));
	free(a);
	free(z);
	free(bm);
	b->ops->free(b);
	console_fini(&c);
}
END_TEST

/* What the test learns from the blobs on their way (layouts: kvm.h). */
struct mig {
	struct xmig_backend *dst;
	uint64_t tsc;     /* vCPU 0's TSC at save_state */
	uint64_t save_ns; /* host CLOCK_MONOTONIC then */
	uint32_t tsc_khz;
	unsigned blobs;
};

static int emit_to_dest(void *ctx, uint32_t vcpu, uint32_t type, const void *data, size_t len)
{
	struct mig *m = ctx;
	struct xmig_backend *dst = m->dst;
	const uint8_t *body = (const uint8_t *)data + sizeof(struct xmig_kvm_state_hdr);
	int r;

	m->blobs++;
	if (vcpu == 0 && type == XMIG_KVM_STATE_MSRS) {
		uint32_t n;

		memcpy(&n, body, 4);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t index;

			memcpy(&index, body + 8 + 16 * i, 4);
			if (index == 0x10) {
				memcpy(&m->tsc, body + 8 + 16 * i + 8, 8);
				m->save_ns = mono_ns();
			}
		}
	}
	if (vcpu == XMIG_STATE_PLATFORM && type == XMIG_KVM_STATE_CLOCK) {
		struct xmig_kvm_clock_state clk;

		memcpy(&clk, body, sizeof(clk));
		m->tsc_khz = clk.tsc_khz;
	}
	r = dst->ops->load_state(dst, vcpu, type, data, len);
	if (r)
		fprintf(stderr, "load_state(vcpu %u, type %u, %zu bytes): %s\n", vcpu, type, len,
			xmig_error_last());
	return r;
}

/*
 * Pre-copy by hand: all memory while the guest runs, then the dirty pages,
 * pause, the last dirty pages and the state, and the destination goes on.
 * The guest checks its own pages: a page the dirty log missed shows up as
 * an error in XG CHECK.
 */
static void migrate_once(struct xmig_backend *src, struct xmig_backend *dst,
			 struct console *csrc, struct mig *m, unsigned hold_ms)
{
	const size_t words = NR_PAGES / 64;
	uint64_t *bm = calloc(words, sizeof(uint64_t));
	struct xmig_guest_info info;
	unsigned hb_paused;
	int r;

	ck_assert_ptr_nonnull(bm);
	ck_assert_int_eq(src->ops->describe(src, &info), 0);
	ck_assert_int_eq(dst->ops->create(dst, &info), 0);
	ck_assert_int_eq(src->ops->log_dirty_start(src), 0);
	copy_pages(src, dst, NULL, info.nr_pages);
	for (int round = 0; round < 2; round++) {
		memset(bm, 0, words * sizeof(uint64_t));
		ck_assert_int_eq(src->ops->dirty_fetch(src, bm, 0), 0);
		copy_pages(src, dst, bm, info.nr_pages);
	}
	ck_assert_int_eq(src->ops->pause(src), 0);
	hb_paused = console_hb(csrc, NULL);
	memset(bm, 0, words * sizeof(uint64_t));
	ck_assert_int_eq(src->ops->dirty_fetch(src, bm, 1), 0);
	copy_pages(src, dst, bm, info.nr_pages);
	memset(m, 0, sizeof(*m));
	m->dst = dst;
	r = src->ops->save_state(src, emit_to_dest, m);
	ck_assert_msg(r == 0, "save_state: %s", xmig_error_last());
	ck_assert_uint_ge(m->blobs, 2 + 7 * info.nr_vcpus);
	ck_assert_uint_gt(m->tsc, 0);
	ck_assert_uint_gt(m->tsc_khz, 0);
	/* The guest is away this long: its clock must go on meanwhile. */
	sleep_ms(hold_ms);
	if (xmig_kvm_notes(src)[0])
		fprintf(stderr, "save notes: %s\n", xmig_kvm_notes(src));
	ck_assert_int_eq(src->ops->log_dirty_stop(src), 0);
	r = dst->ops->unpause(dst);
	ck_assert_msg(r == 0, "unpause: %s", xmig_error_last());
	if (xmig_kvm_notes(dst)[0])
		fprintf(stderr, "restore notes: %s\n", xmig_kvm_notes(dst));
	ck_assert_uint_eq(console_hb(csrc, NULL), hb_paused);
	src->ops->destroy(src);
	free(bm);
}

START_TEST(test_guest_migrate)
{
	struct console cs, cd, cd2;
	struct xmig_backend *src, *dst, *dst2;
	struct mig m1, m2;
	long last_src = -1, last_dst = -1;
	double guest_s, host_s;
	int code = -1, r;

	console_init(&cs);
	console_init(&cd);
	console_init(&cd2);
	/* Two vCPUs: the second stays halted, but its state travels too. */
	src = boot_n("ws=4M time=8", 2, &cs);
	ck_assert_msg(wait_hb(&cs, 20, 60000), "no heartbeats on the source");
	ck_assert_int_eq(xmig_kvm_new_dest(&dst, console_fn, &cd), 0);
	migrate_once(src, dst, &cs, &m1, 1000);
	console_hb(&cs, &last_src);

	/* ping-pong: the destination is a source now */
	ck_assert_msg(wait_hb(&cd, 20, 20000), "no heartbeats on the destination");
	ck_assert_int_eq(xmig_kvm_new_dest(&dst2, console_fn, &cd2), 0);
	migrate_once(dst, dst2, &cd, &m2, 0);
	console_hb(&cd, &last_dst);

	/* Guest time went on across the first migration, hold included: the
	 * TSC advanced as much as the host's clock did (not 1 s less, not
	 * back to zero). On a standard KVM this checks the backend's TSC
	 * restore; on this PVM host the guest TSC is the host TSC whatever
	 * is written, so it only checks that nothing broke it. */
	guest_s = (double)(m2.tsc - m1.tsc) / ((double)m1.tsc_khz * 1000.0);
	host_s = (double)(m2.save_ns - m1.save_ns) / 1e9;
	fprintf(stderr, "between the two saves: guest TSC %.3f s, host %.3f s\n", guest_s,
		host_s);
	ck_assert_uint_gt(m2.tsc, m1.tsc);
	ck_assert_msg(guest_s > host_s - 0.05 && guest_s < host_s + 0.05,
		      "guest time %.3f s, host time %.3f s", guest_s, host_s);

	r = xmig_kvm_wait_exit(dst2, 120000, &code);
	if (r || code) {
		console_dump(&cs, "source");
		console_dump(&cd, "destination");
		console_dump(&cd2, "second destination");
	}
	ck_assert_msg(r == 0, "wait_exit: %s", xmig_error_last());
	ck_assert_int_eq(code, 0);
	fprintf(stderr, "heartbeat gaps seen by the host: %.1f ms (1 s hold), %.1f ms\n",
		(double)(cd.hb_first_ns - cs.hb_last_ns) / 1e6,
		(double)(cd2.hb_first_ns - cd.hb_last_ns) / 1e6);
	ck_assert_int_eq(cd.hb_first, last_src + 1);
	ck_assert_int_eq(cd2.hb_first, last_dst + 1);
	ck_assert(!cs.hb_gap && !cd.hb_gap && !cd2.hb_gap);
	ck_assert(!console_has(&cd, "XG BOOT") && !console_has(&cd2, "XG BOOT"));
	ck_assert(console_has(&cd2, "XG CHECK pages="));
	ck_assert(console_has(&cd2, "errors=0\n"));
	ck_assert(!console_has(&cs, "XG ERR") && !console_has(&cd, "XG ERR") &&
		  !console_has(&cd2, "XG ERR"));
	ck_assert(console_has(&cd2, "XG EXIT 0\n"));
	ck_assert(!console_has(&cs, "XG EXIT") && !console_has(&cd, "XG EXIT"));
	ck_assert_int_eq(xmig_kvm_wait_exit(src, 0, NULL), XMIG_EINVAL);
	src->ops->free(src);
	dst->ops->free(dst);
	dst2->ops->free(dst2);
	console_fini(&cs);
	console_fini(&cd);
	console_fini(&cd2);
}
END_TEST

/* A migration that fails before commit: the source resumes, unharmed. */
START_TEST(test_guest_failed_migration_resumes)
{
	struct console cs;
	struct xmig_backend *src, *dst;
	struct xmig_guest_info info;
	struct mig m = { 0 };
	int code = -1, r;

	console_init(&cs);
	src = boot("ws=4M time=4", &cs);
	ck_assert_msg(wait_hb(&cs, 5, 60000), "no heartbeats");
	ck_assert_int_eq(xmig_kvm_new_dest(&dst, NULL, NULL), 0);
	ck_assert_int_eq(src->ops->describe(src, &info), 0);
	ck_assert_int_eq(dst->ops->create(dst, &info), 0);
	ck_assert_int_eq(src->ops->log_dirty_start(src), 0);
	ck_assert_int_eq(src->ops->pause(src), 0);
	m.dst = dst;
	ck_assert_int_eq(src->ops->save_state(src, emit_to_dest, &m), 0);
	dst->ops->destroy(dst); /* the destination gives up */
	ck_assert_int_eq(src->ops->log_dirty_stop(src), 0);
	ck_assert_int_eq(src->ops->resume(src), 0);
	r = xmig_kvm_wait_exit(src, 120000, &code);
	if (r || code)
		console_dump(&cs, "source");
	ck_assert_msg(r == 0, "wait_exit: %s", xmig_error_last());
	ck_assert_int_eq(code, 0);
	ck_assert(!cs.hb_gap);
	ck_assert(console_has(&cs, "errors=0\n"));
	src->ops->free(src);
	dst->ops->free(dst);
	console_fini(&cs);
}
END_TEST

static Suite *kvm_suite(void)
{
	Suite *s = suite_create("kvm");
	TCase *tiny = tcase_create("tiny");
	TCase *guest = tcase_create("guest");

	tcase_set_timeout(tiny, 60);
	tcase_add_test(tiny, test_tiny_console_and_exit);
	tcase_add_test(tiny, test_tiny_long_line_and_string_io);
	tcase_add_test(tiny, test_tiny_unsupported_instruction);
	tcase_add_test(tiny, test_tiny_mmio_outside_ram);
	tcase_add_test(tiny, test_tiny_triple_fault);
	tcase_add_test(tiny, test_tiny_halt_and_bad_port);
	tcase_add_test(tiny, test_tiny_pause_spinning_guest);
	suite_add_tcase(s, tiny);

	tcase_set_timeout(guest, 240);
	tcase_add_test(guest, test_guest_boot);
	tcase_add_test(guest, test_guest_pause_resume);
	tcase_add_test(guest, test_guest_dirty_log);
	tcase_add_test(guest, test_guest_migrate);
	tcase_add_test(guest, test_guest_failed_migration_resumes);
	suite_add_tcase(s, guest);
	return s;
}

int main(void)
{
	if (xmig_kvm_available() != 0) {
		printf("SKIP check_kvm: KVM is not usable here (%s); the checks that need no VM "
		       "are in check_kvm_format\n", xmig_error_last());
		return XMIG_TEST_SKIP;
	}
	if (XMIG_TEST_GUEST[0] == '\0') {
		printf("SKIP check_kvm: the test guest was not built\n");
		return XMIG_TEST_SKIP;
	}
	return xmig_test_run(kvm_suite());
}

#else /* !XMIG_HAVE_KVM */

int main(void)
{
	printf("SKIP check_kvm: libxmig was built without the kvm backend\n");
	return XMIG_TEST_SKIP;
}

#endif
