/* SPDX-License-Identifier: MIT */
/*
 * /dev/kvm, the VM, its one memory slot, its vCPUs and their CPUID.
 *
 * Probe findings (host: PVM-flavoured KVM, module kvm_pvm, kernel 6.18, no
 * VMX visible; measured with small hand-assembled guests):
 *   - API 12; KVM_CAP_IMMEDIATE_EXIT, NR_VCPUS 2, MAX_VCPUS 1024,
 *     MANUAL_DIRTY_LOG_PROTECT2 (3), DIRTY_LOG_RING(_ACQ_REL) up to 1 MiB,
 *     XSAVE, XSAVE2 (4096 bytes), XCRS, DEBUGREGS, VCPU_EVENTS, SREGS2,
 *     GET_TSC_KHZ (2 600 000), VCPU_ATTRIBUTES, EXIT_ON_EMULATION_FAILURE,
 *     INTERNAL_ERROR_DATA. No KVM_CAP_TSC_CONTROL: KVM_SET_TSC_KHZ accepts
 *     only the host's own frequency.
 *   - The guest TSC IS the host TSC here: a new vCPU reads the host's value,
 *     KVM_SET_MSRS of MSR_IA32_TSC succeeds but changes nothing, and the
 *     KVM_VCPU_TSC_OFFSET attribute reads 0. So guest time continues across
 *     a migration inside one host whatever we write; the TSC restore in
 *     kvm_state.c (saved value + elapsed wall-clock time) is what makes it
 *     continue on a standard KVM, where a new VM's TSC starts near zero.
 *   - KVM_CREATE_IRQCHIP and PIT2 work, but this VMM needs neither: the test
 *     guest polls the TSC and talks through I/O ports. Without an irqchip,
 *     HLT exits to user space (KVM_EXIT_HLT) and KVM_GET_LAPIC fails.
 *   - Supported CPUID is narrow: leaf 1 ECX has no SSE3/SSSE3/SSE4, no
 *     XSAVE/OSXSAVE (so KVM_GET_XCRS returns 0 XCRs), but has CX16, x2APIC,
 *     TSC-deadline. The guest must be built for baseline x86-64.
 *   - 41 MSRs in KVM_GET_MSR_INDEX_LIST; all read back. Writing
 *     MSR_KVM_ASYNC_PF_INT (0x4b564d06) fails without an in-kernel LAPIC,
 *     even with the value just read: load accepts a refused write when the
 *     destination already holds that value.
 *   - Guest code runs through KVM's instruction emulator: a dec/jnz loop
 *     runs ~5.2 M instr/s in 32-bit mode, ~3.8 M instr/s in 64-bit mode with
 *     paging; a loop writing one byte per 4 KiB page dirties ~650 000
 *     pages/s once the pages are mapped; a read-modify-write of memory costs
 *     ~1.2 us. The emulator lacks clac, lock cmpxchg16b and rdsspq
 *     (KVM_EXIT_INTERNAL_ERROR, suberror 1 = emulation, flags bit 0 =
 *     instruction bytes, 15 bytes fetched); endbr64 works. #UD or any
 *     exception without an IDT ends as KVM_EXIT_SHUTDOWN (triple fault).
 *     An access outside RAM exits with KVM_EXIT_MMIO.
 *   - Dirty log, 128 MiB slot, 16 384 pages dirtied between reads:
 *     KVM_GET_DIRTY_LOG (get + re-protect) 36-48 us; with MANUAL_PROTECT2,
 *     GET 2-8 us + CLEAR 37-80 us; the dirty ring (64 Ki entries) harvest
 *     100-136 us + KVM_RESET_DIRTY_RINGS 64-74 us. Worse, the emulator logs
 *     every emulated write into the ring, not just the first per page: a
 *     loop of 1 M writes to ONE page filled the 64 Ki-entry ring
 *     (KVM_EXIT_DIRTY_RING_FULL). So the bitmap is used, with manual
 *     protect: GET without side effects, then CLEAR only what was dirty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_internal.h"

static int check_ext(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

/* Open /dev/kvm and learn what it can do; once per handle. */
int xmig__kvm_open(struct xmig__kvm *k)
{
	struct kvm_msr_list *list = NULL;
	int fd, ver, err = 0;

	if (k->kvm_fd >= 0)
		return 0;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return xmig__fail_errno(XMIG_ENOTSUP, "kvm: cannot open /dev/kvm");
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		err = xmig__fail(XMIG_ENOTSUP, "kvm: API version %d, need %d", ver,
				 KVM_API_VERSION);
		goto out;
	}
	if (!check_ext(fd, KVM_CAP_USER_MEMORY) || !check_ext(fd, KVM_CAP_IMMEDIATE_EXIT) ||
	    !check_ext(fd, KVM_CAP_EXT_CPUID) || !check_ext(fd, KVM_CAP_MP_STATE)) {
		err = xmig__fail(XMIG_ENOTSUP, "kvm: host lacks USER_MEMORY, IMMEDIATE_EXIT, "
					       "EXT_CPUID or MP_STATE");
		goto out;
	}
	k->run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		err = xmig__fail_errno(XMIG_ENOTSUP, "kvm: KVM_GET_VCPU_MMAP_SIZE");
		goto out;
	}
	k->cap_manual_protect =
		(check_ext(fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) &
		 KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0;
	k->caps.xsave = check_ext(fd, KVM_CAP_XSAVE);
	k->caps.xsave_size = k->caps.xsave ? (int)sizeof(struct kvm_xsave) : 0;
	k->caps.xcrs = check_ext(fd, KVM_CAP_XCRS);
	k->caps.debugregs = check_ext(fd, KVM_CAP_DEBUGREGS);
	k->caps.vcpu_events = check_ext(fd, KVM_CAP_VCPU_EVENTS);
	k->max_vcpus = check_ext(fd, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = check_ext(fd, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4;
	if (k->max_vcpus > XMIG_KVM_MAX_VCPUS)
		k->max_vcpus = XMIG_KVM_MAX_VCPUS;

	list = calloc(1, sizeof(*list) + XMIG__KVM_MAX_MSRS * sizeof(uint32_t));
	if (!list) {
		err = xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
		goto out;
	}
	list->nmsrs = XMIG__KVM_MAX_MSRS;
	if (ioctl(fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		err = xmig__fail_errno(XMIG_ENOTSUP, "kvm: KVM_GET_MSR_INDEX_LIST");
		goto out;
	}
	k->msr_index = malloc((list->nmsrs ? list->nmsrs : 1) * sizeof(uint32_t));
	if (!k->msr_index) {
		err = xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
		goto out;
	}
	memcpy(k->msr_index, list->indices, list->nmsrs * sizeof(uint32_t));
	k->nr_msr_index = list->nmsrs;
	k->kvm_fd = fd;
	fd = -1;
out:
	free(list);
	if (fd >= 0)
		close(fd);
	return err;
}

/*
 * The CPUID vCPU `index` sees: what KVM supports, with the initial APIC ID
 * set to the vCPU index and the local APIC (xAPIC, x2APIC, TSC deadline)
 * hidden, since this VMM has none.
 */
static int vcpu_set_cpuid(struct xmig__kvm *k, struct xmig__kvm_vcpu *v)
{
	struct kvm_cpuid2 *cpuid;
	int err = 0;

	cpuid = calloc(1, sizeof(*cpuid) + XMIG__KVM_MAX_CPUID * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	cpuid->nent = XMIG__KVM_MAX_CPUID;
	if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		err = xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_GET_SUPPORTED_CPUID");
		goto out;
	}
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffffu) | (v->index << 24);
			e->edx &= ~(1u << 9);              /* APIC */
			e->ecx &= ~((1u << 21) | (1u << 24)); /* x2APIC, TSC deadline */
			break;
		case 0xb:
		case 0x1f:
			e->edx = v->index;
			break;
		default:
			break;
		}
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
		err = xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: KVM_SET_CPUID2", v->index);
out:
	free(cpuid);
	return err;
}

int xmig__kvm_set_slot_flags(struct xmig__kvm *k, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0,
		.flags = flags,
		.guest_phys_addr = 0,
		.memory_size = k->mem_bytes,
		.userspace_addr = (uint64_t)(uintptr_t)k->mem,
	};

	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_SET_USER_MEMORY_REGION");
	return 0;
}

/* The VM, its memory and its vCPUs; no thread runs yet. */
int xmig__kvm_vm_create(struct xmig__kvm *k, uint64_t mem_bytes, uint32_t nr_vcpus)
{
	int err;

	if (k->phase != XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: the handle already has a guest");
	/* Callers checked the shape (kvm_format.c). */
	err = xmig__kvm_open(k);
	if (err)
		return err;
	if (nr_vcpus < 1 || nr_vcpus > (uint32_t)k->max_vcpus)
		return xmig__fail(XMIG_EINVAL, "kvm: %u vCPUs: this host allows 1 to %d",
				  nr_vcpus, k->max_vcpus);
	err = xmig__kvm_kick_signal_setup();
	if (err)
		return err;

	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		k->vm_fd = -1;
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_CREATE_VM");
	}
	k->restored = 0;
	xmig__kvm_set_phase(k, XMIG__KVM_CREATED);
	k->mem_bytes = mem_bytes;
	k->nr_pages = mem_bytes / XMIG__KVM_PAGE;

	if (k->cap_manual_protect) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
		};

		/* Without INITIALLY_SET: the first fetch after log_dirty_start
		 * reports only pages written since, as the contract says. */
		if (ioctl(k->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			k->cap_manual_protect = 0;
	}
#if defined(KVM_CAP_XSAVE2) && defined(KVM_GET_XSAVE2)
	if (k->caps.xsave) {
		int sz = ioctl(k->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

		if (sz > (int)sizeof(struct kvm_xsave))
			k->caps.xsave_size = sz;
	}
#endif

	k->mem = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (k->mem == MAP_FAILED) {
		k->mem = NULL;
		err = xmig__fail_errno(XMIG_ENOMEM, "kvm: mmap of %llu bytes of guest memory",
				       (unsigned long long)mem_bytes);
		goto fail;
	}
	/* A fork() must not make guest memory copy-on-write under KVM. */
	(void)madvise(k->mem, mem_bytes, MADV_DONTFORK);
	err = xmig__kvm_set_slot_flags(k, 0);
	if (err)
		goto fail;

	k->vcpus = calloc(nr_vcpus, sizeof(*k->vcpus));
	if (!k->vcpus || xmig__kvm_blobs_init(&k->blobs, nr_vcpus) < 0) {
		err = xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
		goto fail;
	}
	k->nr_vcpus = nr_vcpus;
	for (uint32_t i = 0; i < nr_vcpus; i++) {
		k->vcpus[i].fd = -1;
		k->vcpus[i].vm = k;
		k->vcpus[i].index = i;
	}
	for (uint32_t i = 0; i < nr_vcpus; i++) {
		struct xmig__kvm_vcpu *v = &k->vcpus[i];
		void *run;

		v->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0) {
			v->fd = -1;
			err = xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_CREATE_VCPU %u", i);
			goto fail;
		}
		run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (run == MAP_FAILED) {
			err = xmig__fail_errno(XMIG_EBACKEND, "kvm: mmap of vCPU %u", i);
			goto fail;
		}
		v->run = run;
		err = vcpu_set_cpuid(k, v);
		if (err)
			goto fail;
		/* Application processors wait: nothing could start them. */
		v->halted = i != 0;
		v->stopped = v->halted;
	}
	if (k->nr_vcpus) {
		int khz = ioctl(k->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);

		k->host_tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	}
	return 0;
fail:
	xmig__kvm_vm_destroy(k);
	return err;
}

/* Undo xmig__kvm_vm_create (threads already stopped). Idempotent. */
void xmig__kvm_vm_destroy(struct xmig__kvm *k)
{
	if (k->vcpus) {
		for (uint32_t i = 0; i < k->nr_vcpus; i++) {
			struct xmig__kvm_vcpu *v = &k->vcpus[i];

			if (v->run)
				munmap(v->run, (size_t)k->run_size);
			if (v->fd >= 0)
				close(v->fd);
		}
	}
	xmig__kvm_blobs_fini(&k->blobs);
	free(k->vcpus);
	k->vcpus = NULL;
	k->nr_vcpus = 0;
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	k->vm_fd = -1;
	if (k->mem)
		munmap(k->mem, k->mem_bytes);
	k->mem = NULL;
	k->mem_bytes = 0;
	k->nr_pages = 0;
	free(k->slot_bitmap);
	k->slot_bitmap = NULL;
	k->logging = 0;
	pthread_mutex_lock(&k->lock);
	k->phase = XMIG__KVM_EMPTY;
	k->want_park = 0;
	k->quit = 0;
	k->exited = 0;
	k->exit_code = 0;
	k->failed = 0;
	k->fail_msg[0] = '\0';
	pthread_mutex_unlock(&k->lock);
}

/* Written under the lock: xmig_kvm_wait_exit reads it from any thread. */
void xmig__kvm_set_phase(struct xmig__kvm *k, enum xmig__kvm_phase phase)
{
	pthread_mutex_lock(&k->lock);
	k->phase = phase;
	pthread_mutex_unlock(&k->lock);
}
