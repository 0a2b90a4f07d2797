/* SPDX-License-Identifier: MIT */
/*
 * Internals of the kvm backend, shared by its files:
 *   kvm_backend.c  the ops table and the public calls
 *   kvm_vm.c       /dev/kvm, the VM, its memory slot, vCPUs and CPUID
 *   kvm_vcpu.c     vCPU threads: KVM_RUN, exits, console, park/unpark
 *   kvm_boot.c     loading the ELF and the PVH boot state
 *   kvm_dirty.c    dirty logging
 *   kvm_state.c    save_state / load_state
 *   kvm_format.c   what needs no /dev/kvm: checks, ELF, blob store, bitmaps
 *
 * What this host's KVM does (probed on the PVM-flavoured KVM, kvm_pvm,
 * kernel 6.18, no VMX in the host): see kvm_vm.c, "Probe findings".
 */
#ifndef XMIG_KVM_INTERNAL_H
#define XMIG_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#include "common.h"
#include "kvm_format.h"
#include "xmig/backend/kvm.h"
#include "xmig/sys/backend.h"

#define XMIG__KVM_NOTES_MAX 1024

struct xmig__kvm;

struct xmig__kvm_vcpu {
	struct xmig__kvm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int thread_started;

	/* Protected by vm->lock. */
	int parked;  /* waiting outside KVM_RUN for an unpark */
	int stopped; /* halted, exited or failed: will not run again */
	int halted;  /* stopped by HLT (migrates as halted) */

	/* Owned by the vCPU thread while it runs; by the engine when parked. */
	char line[XMIG__KVM_LINE_MAX];
	size_t line_len;
};

enum xmig__kvm_phase {
	XMIG__KVM_EMPTY,   /* no VM */
	XMIG__KVM_CREATED, /* VM exists, threads not started (destination) */
	XMIG__KVM_RUNNING, /* threads started */
};

struct xmig__kvm {
	struct xmig_backend base; /* first */

	int kvm_fd; /* /dev/kvm, kept for the handle's life */
	int vm_fd;
	int pagemap_fd;      /* /proc/self/pagemap, or -1 (see kvm_backend.c) */
	int run_size;
	enum xmig__kvm_phase phase;
	int restored; /* destination: its state applied (restore_complete) */

	/* Host capabilities, probed once per handle. */
	int cap_manual_protect; /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 usable */
	struct xmig__kvm_caps caps;
	int max_vcpus;
	uint32_t host_tsc_khz;

	/* Guest memory. */
	uint8_t *mem;
	uint64_t mem_bytes;
	uint64_t nr_pages;

	uint32_t nr_vcpus;
	struct xmig__kvm_vcpu *vcpus;

	/* MSRs saved and restored: KVM_GET_MSR_INDEX_LIST. */
	uint32_t *msr_index;
	uint32_t nr_msr_index;

	/* Dirty logging. */
	int logging;
	uint64_t *slot_bitmap; /* nr_pages bits, for KVM_GET_DIRTY_LOG */

	xmig_kvm_console_fn console_fn;
	void *console_payload;

	/* Shared with vCPU threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any change of the fields below */
	int want_park;       /* pause: every vCPU thread parks */
	int quit;            /* destroy: every vCPU thread returns */
	int released;   /* every vCPU thread exists: they may enter the guest */
	int exited;          /* the guest wrote its exit code */
	int exit_code;
	int failed;          /* XMIG_EGUEST: the guest crashed or got stuck */
	char fail_msg[512];

	/* Destination: the state blobs received, until they are applied. */
	struct xmig__kvm_blobs blobs;

	char notes[XMIG__KVM_NOTES_MAX];
};

static inline struct xmig__kvm *xmig__kvm_of(struct xmig_backend *b)
{
	return (struct xmig__kvm *)b;
}

/* kvm_vm.c */
int xmig__kvm_open(struct xmig__kvm *k);
int xmig__kvm_vm_create(struct xmig__kvm *k, uint64_t mem_bytes, uint32_t nr_vcpus);
void xmig__kvm_vm_destroy(struct xmig__kvm *k);
int xmig__kvm_set_slot_flags(struct xmig__kvm *k, uint32_t flags);
void xmig__kvm_set_phase(struct xmig__kvm *k, enum xmig__kvm_phase phase);

/* kvm_vcpu.c */
int xmig__kvm_kick_signal_setup(void);
int xmig__kvm_threads_start(struct xmig__kvm *k);
void xmig__kvm_threads_stop(struct xmig__kvm *k);
int xmig__kvm_park(struct xmig__kvm *k);
void xmig__kvm_unpark(struct xmig__kvm *k);

/* kvm_boot.c */
/* Read the guest ELF file into a buffer the caller frees; checked for
 * a guest of mem_bytes (kvm_format.h), nothing loaded yet. */
int xmig__kvm_elf_read(const char *path, uint64_t mem_bytes, uint8_t **data, size_t *size);
/* Load the ELF read above and write the boot page and vCPU 0's entry state. */
int xmig__kvm_boot(struct xmig__kvm *k, const char *elf_path, const uint8_t *elf,
		   size_t elf_size, const char *cmdline);

/* kvm_dirty.c */
int xmig__kvm_log_start(struct xmig__kvm *k);
int xmig__kvm_log_stop(struct xmig__kvm *k);
int xmig__kvm_log_fetch(struct xmig__kvm *k, uint64_t *bitmap);

/* kvm_state.c */
int xmig__kvm_save(struct xmig__kvm *k, xmig_state_emit_fn emit, void *ctx);
int xmig__kvm_load(struct xmig__kvm *k, uint32_t vcpu, uint32_t type, const void *data,
		   size_t len);
int xmig__kvm_restore(struct xmig__kvm *k);

/* Append a line to k->notes (diagnostics, see xmig_kvm_notes()). */
void xmig__kvm_note(struct xmig__kvm *k, const char *fmt, ...) XMIG__PRINTF(2, 3);

#endif
