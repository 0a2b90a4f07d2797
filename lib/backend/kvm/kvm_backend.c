/* SPDX-License-Identifier: MIT */
/* The kvm backend's ops table and public calls (xmig/backend/kvm.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm_internal.h"
#include "pagemap.h"

static int kvm_describe(struct xmig_backend *b, struct xmig_guest_info *out)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: describe: no guest");
	memset(out, 0, sizeof(*out));
	out->nr_pages = k->nr_pages;
	out->page_size = (uint32_t)XMIG__KVM_PAGE;
	out->nr_vcpus = k->nr_vcpus;
	out->guest_kind = XMIG_GUEST_KVM_PVH;
	strcpy(out->backend, "kvm");
	return 0;
}

static int kvm_log_dirty_start(struct xmig_backend *b)
{
	return xmig__kvm_log_start(xmig__kvm_of(b));
}

static int kvm_log_dirty_stop(struct xmig_backend *b)
{
	return xmig__kvm_log_stop(xmig__kvm_of(b));
}

static int kvm_dirty_fetch(struct xmig_backend *b, uint64_t *bitmap, int final)
{
	/* KVM logs its own writes (kvmclock, steal time) in the same bitmap:
	 * the final fetch needs nothing extra. */
	(void)final;
	return xmig__kvm_log_fetch(xmig__kvm_of(b), bitmap);
}

/*
 * Reading a guest page the guest never touched makes the host allocate (or
 * at least fault in) a page: about 1 us each on some hosts, 0.3 s for 1 GiB
 * of a fresh guest in round 0. The host's page table knows better
 * (pagemap.h): such a page is handed to the engine as the shared zero page.
 * A write racing with this is caught by the dirty log (it is on before any
 * page is read).
 */
static int kvm_map_pages(struct xmig_backend *b, const uint64_t *pfns, unsigned int n,
			 void **ptrs, unsigned int flags)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: map_pages: no guest");
	for (unsigned int i = 0; i < n; i++) {
		if (pfns[i] >= k->nr_pages)
			return xmig__fail(XMIG_EINVAL, "kvm: map_pages: pfn 0x%llx beyond 0x%llx",
					  (unsigned long long)pfns[i],
					  (unsigned long long)k->nr_pages);
		ptrs[i] = k->mem + pfns[i] * XMIG__KVM_PAGE;
	}
	if (!(flags & XMIG_MAP_WRITE))
		xmig__pagemap_untouched(k->pagemap_fd, k->mem, pfns, n, ptrs);
	return 0;
}

static void kvm_unmap_pages(struct xmig_backend *b, void **ptrs, unsigned int n)
{
	(void)b;
	(void)ptrs;
	(void)n;
}

static int kvm_pause(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: pause: no guest");
	if (k->phase != XMIG__KVM_RUNNING)
		return 0;
	return xmig__kvm_park(k);
}

static int kvm_resume(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: resume: no guest");
	if (k->phase == XMIG__KVM_RUNNING)
		xmig__kvm_unpark(k);
	return 0;
}

static int kvm_save_state(struct xmig_backend *b, xmig_state_emit_fn emit, void *ctx)
{
	return xmig__kvm_save(xmig__kvm_of(b), emit, ctx);
}

/* A new VM's one memory slot covers all of RAM, reading as zero. */
static int kvm_populate(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	(void)b, (void)pfns, (void)n;
	return 0;
}

/*
 * A VM of this backend has all its memory all the time: a frame the stream
 * calls absent (a kvm source never does) is dropped, so it reads as zero.
 */
static int kvm_release(struct xmig_backend *b, const uint64_t *pfns, unsigned int n)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: release: no guest");
	if (k->phase == XMIG__KVM_RUNNING)
		return xmig__fail(XMIG_EINVAL, "kvm: release: the guest runs");
	for (unsigned int i = 0, j; i < n; i = j) {
		if (pfns[i] >= k->nr_pages)
			return xmig__fail(XMIG_EINVAL, "kvm: release: pfn 0x%llx beyond 0x%llx",
					  (unsigned long long)pfns[i],
					  (unsigned long long)k->nr_pages);
		for (j = i + 1; j < n && pfns[j] == pfns[j - 1] + 1 && pfns[j] < k->nr_pages; j++)
			;
		if (madvise(k->mem + pfns[i] * XMIG__KVM_PAGE, (size_t)(j - i) * XMIG__KVM_PAGE,
			    MADV_DONTNEED) < 0)
			memset(k->mem + pfns[i] * XMIG__KVM_PAGE, 0, (size_t)(j - i) * XMIG__KVM_PAGE);
	}
	return 0;
}

static int kvm_create(struct xmig_backend *b, const struct xmig_guest_info *info)
{
	struct xmig__kvm *k = xmig__kvm_of(b);
	int err = xmig__kvm_info_check(info);

	if (err)
		return err;
	return xmig__kvm_vm_create(k, info->nr_pages * XMIG__KVM_PAGE, info->nr_vcpus);
}

static int kvm_load_state(struct xmig_backend *b, uint32_t vcpu, uint32_t type,
			  const void *data, size_t len)
{
	return xmig__kvm_load(xmig__kvm_of(b), vcpu, type, data, len);
}

/* Before READY: every KVM_SET_* happens here, where a failure still
 * leaves the source to run on. */
static int kvm_restore_complete(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);
	int err;

	if (k->phase == XMIG__KVM_RUNNING || k->restored)
		return 0;
	if (k->phase != XMIG__KVM_CREATED)
		return xmig__fail(XMIG_EINVAL, "kvm: restore_complete: no guest");
	err = xmig__kvm_restore(k);
	if (!err)
		k->restored = 1;
	return err;
}

static int kvm_unpause(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);
	int err;

	if (k->phase == XMIG__KVM_RUNNING)
		return 0;
	if (k->phase != XMIG__KVM_CREATED)
		return xmig__fail(XMIG_EINVAL, "kvm: unpause: no guest");
	if (!k->restored && (err = kvm_restore_complete(b)))
		return err;
	return xmig__kvm_threads_start(k);
}

/* Committed, not started: the vCPU threads wait for kvm_unpause. */
static int kvm_commit(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase != XMIG__KVM_CREATED)
		return xmig__fail(XMIG_EINVAL, "kvm: commit: no restored guest");
	return k->restored ? 0 : kvm_restore_complete(b);
}

/* Closing a VM's descriptors cannot fail: always 0. */
static int kvm_destroy(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (k->phase == XMIG__KVM_RUNNING)
		xmig__kvm_threads_stop(k);
	if (k->phase != XMIG__KVM_EMPTY || k->vm_fd >= 0)
		xmig__kvm_vm_destroy(k);
	pthread_mutex_lock(&k->lock);
	pthread_cond_broadcast(&k->cond); /* wake xmig_kvm_wait_exit */
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void kvm_free(struct xmig_backend *b)
{
	struct xmig__kvm *k = xmig__kvm_of(b);

	if (!b)
		return;
	(void)kvm_destroy(b);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	if (k->pagemap_fd >= 0)
		close(k->pagemap_fd);
	free(k->msr_index);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static const struct xmig_backend_ops kvm_ops = {
	.version = XMIG_BACKEND_OPS_VERSION,
	.name = "kvm",
	.describe = kvm_describe,
	.log_dirty_start = kvm_log_dirty_start,
	.log_dirty_stop = kvm_log_dirty_stop,
	.dirty_fetch = kvm_dirty_fetch,
	.map_pages = kvm_map_pages,
	.unmap_pages = kvm_unmap_pages,
	.pause = kvm_pause,
	.resume = kvm_resume,
	.save_state = kvm_save_state,
	.create = kvm_create,
	.populate = kvm_populate,
	.release = kvm_release,
	.load_state = kvm_load_state,
	.restore_complete = kvm_restore_complete,
	.unpause = kvm_unpause,
	.destroy = kvm_destroy,
	.free = kvm_free,
	.commit = kvm_commit,
};

static int kvm_alloc(struct xmig__kvm **out, xmig_kvm_console_fn fn, void *payload)
{
	struct xmig__kvm *k = NULL;
	pthread_condattr_t ca;

	k = calloc(1, sizeof(*k));
	if (!k)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	k->base.ops = &kvm_ops;
	k->kvm_fd = -1;
	k->vm_fd = -1;
	k->pagemap_fd = xmig__pagemap_open();
	k->console_fn = fn;
	k->console_payload = payload;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = k;
	return 0;
}

XMIG__API void xmig_kvm_params_init(struct xmig_kvm_params *p)
{
	struct xmig_kvm_params d = XMIG_KVM_PARAMS_INIT;

	*p = d;
}

XMIG__API int xmig_kvm_available(void)
{
	struct xmig__kvm *k = NULL;
	int err;

	err = kvm_alloc(&k, NULL, NULL);
	if (err)
		return err;
	err = xmig__kvm_open(k);
	if (!err)
		err = xmig__kvm_kick_signal_setup();
	kvm_free(&k->base);
	return err ? XMIG_ENOTSUP : 0;
}

XMIG__API int xmig_kvm_new(struct xmig_backend **out, const struct xmig_kvm_params *p)
{
	struct xmig__kvm *k = NULL;
	uint8_t *elf = NULL;
	size_t elf_size = 0;
	uint64_t mem = 0;
	int err;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "kvm: NULL argument");
	*out = NULL;
	/* Everything that needs no /dev/kvm first: a bad ELF is reported as
	 * such, on any machine. */
	err = xmig__kvm_params_check(p, &mem);
	if (!err)
		err = xmig__kvm_elf_read(p->guest_elf, mem, &elf, &elf_size);
	if (err)
		return err;
	err = kvm_alloc(&k, p->console_fn, p->console_payload);
	if (err) {
		free(elf);
		return err;
	}
	err = xmig__kvm_vm_create(k, mem, p->nr_vcpus);
	if (!err)
		err = xmig__kvm_boot(k, p->guest_elf, elf, elf_size, p->cmdline);
	free(elf);
	if (!err)
		err = xmig__kvm_threads_start(k);
	if (err) {
		char msg[512];

		/* Keep the reason: teardown may overwrite the message. */
		strncpy(msg, xmig__last_message(), sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		kvm_free(&k->base);
		return xmig__fail(err, "%s", msg);
	}
	*out = &k->base;
	return 0;
}

XMIG__API int xmig_kvm_new_dest(struct xmig_backend **out, xmig_kvm_console_fn fn,
				void *payload)
{
	struct xmig__kvm *k = NULL;
	int err;

	if (!out)
		return xmig__fail(XMIG_EINVAL, "kvm: NULL argument");
	*out = NULL;
	err = kvm_alloc(&k, fn, payload);
	if (err)
		return err;
	err = xmig__kvm_open(k);
	if (err) {
		kvm_free(&k->base);
		return xmig__fail(err, "kvm: /dev/kvm unusable");
	}
	*out = &k->base;
	return 0;
}

static int is_kvm(struct xmig_backend *b)
{
	return b && b->ops == &kvm_ops;
}

XMIG__API int xmig_kvm_wait_exit(struct xmig_backend *b, int timeout_ms, int *exit_code)
{
	struct xmig__kvm *k = xmig__kvm_of(b);
	struct timespec deadline;
	int err = 0;

	if (!is_kvm(b))
		return xmig__fail(XMIG_EINVAL, "kvm: not a kvm backend handle");
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&k->lock);
	for (;;) {
		if (k->exited) {
			if (exit_code)
				*exit_code = k->exit_code;
			break;
		}
		if (k->failed) {
			err = xmig__fail(XMIG_EGUEST, "%s", k->fail_msg);
			break;
		}
		if (k->phase == XMIG__KVM_EMPTY) {
			err = xmig__fail(XMIG_EINVAL, "kvm: wait_exit: no guest");
			break;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&k->cond, &k->lock);
		} else if (pthread_cond_timedwait(&k->cond, &k->lock, &deadline) == ETIMEDOUT &&
			   !k->exited && !k->failed) {
			err = xmig__fail(XMIG_ETIMEDOUT, "kvm: the guest did not exit in %d ms",
					 timeout_ms);
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return err;
}

XMIG__API const char *xmig_kvm_notes(struct xmig_backend *b)
{
	if (!is_kvm(b))
		return "";
	return xmig__kvm_of(b)->notes;
}
