/* SPDX-License-Identifier: MIT */
/*
 * The kvm backend: a minimal VMM on /dev/kvm, in the calling process.
 *
 * A KVM virtual machine belongs to the process that created it, so this
 * backend migrates guests that run inside the xmig process: a *source* boots
 * a guest ELF (xmig_kvm_new) and a *destination* starts empty
 * (xmig_kvm_new_dest) and is filled by a migration. Both sides implement
 * the ops table of xmig/sys/backend.h (name "kvm", guest kind
 * XMIG_GUEST_KVM_PVH, pages of 4096 bytes).
 *
 * The machine it emulates is deliberately small:
 *   - one memory slot, guest-physical [0, mem_bytes), mem_bytes <= 3 GiB
 *     (no PCI hole is modelled), plain anonymous host memory;
 *   - N vCPUs, one host thread each, x86-64, with the CPUID KVM supports
 *     minus the local APIC: there is NO interrupt controller, no timer and
 *     no device but two I/O ports:
 *       0xe9  console (QEMU isa-debugcon / Bochs convention): bytes written
 *             are delivered line by line to the console callback; a read
 *             returns 0xe9, so a guest can detect the port;
 *       0xf4  exit: the value written (out/outw/outl) is the guest's exit
 *             code; the guest stops (see xmig_kvm_wait_exit).
 *     Any other port, any access outside RAM (MMIO), a triple fault, an
 *     instruction KVM cannot emulate or a failed VM entry stops the guest
 *     and is reported as XMIG_EGUEST with a message saying what and where.
 *     HLT stops the vCPU for good (nothing could wake it).
 *   - the guest boots through the PVH entry point (ELF note
 *     XEN_ELFNOTE_PHYS32_ENTRY): 32-bit protected mode, flat segments,
 *     paging off, interrupts off, %ebx = guest-physical address of a
 *     struct hvm_start_info (version 1, with command line and memory map).
 *     Only vCPU 0 enters the guest; the others exist (and migrate) but stay
 *     halted, since without an interrupt controller nothing can start them.
 *
 * Guest-physical layout at boot: the boot page at 0x7000 (start info, then
 * the memory map, then the command line; marked reserved, type 2, in the
 * memory map); RAM (type 1) is [0, 0x7000), [0x8000, 0x9f000) and
 * [0x100000, mem_bytes). ELF segments are loaded at their physical address
 * (p_paddr) and must lie in RAM.
 *
 * Time: the guest reads the TSC. The source passes the host's TSC
 * frequency on the command line ("tsc_khz=N", unless the caller's command
 * line has it already). On migration the destination's TSC continues from
 * the source's value plus the wall-clock time (CLOCK_REALTIME) that passed
 * between save_state and unpause, so guest time neither stops nor jumps
 * back; the destination refuses a TSC frequency it cannot provide.
 *
 * Signals: vCPU threads are kicked out of KVM_RUN with the real-time signal
 * XMIG_KVM_KICK_SIGNAL (SIGRTMIN + 7). On first use the library installs an
 * empty handler for it, unless the application has its own handler there
 * (which is then called on every kick and must return). vCPU threads block
 * every other signal, so process-directed signals never land on them.
 *
 * Memory: guest RAM is mapped MADV_DONTFORK: a child process forked while a
 * guest exists does not see (or copy-on-write) guest memory.
 *
 * Dirty logging uses the slot's KVM dirty bitmap (KVM_GET_DIRTY_LOG, with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and KVM_CLEAR_DIRTY_LOG where the host
 * has it). It reports every page written by the guest or by KVM on the
 * guest's behalf; writes the host process makes through map_pages bypass
 * KVM and are not reported.
 *
 * Sequence, source:
 *     xmig_kvm_new(&b, &params);   // boots, runs
 *     ... xmig_send(..., b, ...);  // or the ops table by hand
 * destination:
 *     xmig_kvm_new_dest(&b, fn, payload);
 *     ... xmig_recv(..., b, ...);  // create, pages, load_state, unpause
 *     xmig_kvm_wait_exit(b, -1, &code);
 */
#ifndef XMIG_BACKEND_KVM_H
#define XMIG_BACKEND_KVM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_backend;

/* The signal that kicks vCPU threads out of KVM_RUN (see above). */
#define XMIG_KVM_KICK_SIGNAL (SIGRTMIN + 7)

/* Largest guest: everything below 3 GiB (no memory hole is modelled). */
#define XMIG_KVM_MAX_MEM (3ull << 30)
/* Smallest guest. */
#define XMIG_KVM_MIN_MEM (2ull << 20)
/* Most vCPUs (also bounded by what the host's KVM allows). */
#define XMIG_KVM_MAX_VCPUS 64

/*
 * Receives what the guest wrote to port 0xe9, one complete line at a time
 * (`len` bytes including the final '\n'; a line longer than 1023 bytes is
 * delivered in pieces, each without '\n' but the last). Called from a vCPU
 * thread, never concurrently for the same vCPU; the caller timestamps the
 * lines if it needs to. `data` is valid only during the call. A line the
 * guest had begun but not finished when it was migrated is completed and
 * delivered by the destination.
 */
typedef void (*xmig_kvm_console_fn)(const char *data, size_t len, void *payload);

#define XMIG_KVM_PARAMS_VERSION 1

struct xmig_kvm_params {
	unsigned int version;   /* XMIG_KVM_PARAMS_VERSION */
	const char *guest_elf;  /* path of the guest (x86-64 ELF with a PVH note) */
	uint64_t mem_bytes;     /* RAM, rounded up to pages; default 64 MiB */
	uint32_t nr_vcpus;      /* default 1 */
	const char *cmdline;    /* the guest's command line; default "" */
	xmig_kvm_console_fn console_fn; /* may be NULL: output is dropped */
	void *console_payload;
};

#define XMIG_KVM_PARAMS_INIT                                                   \
	{                                                                      \
		.version = XMIG_KVM_PARAMS_VERSION, .mem_bytes = 64ull << 20,  \
		.nr_vcpus = 1,                                                 \
	}

/* Fill `p` with the defaults of XMIG_KVM_PARAMS_INIT. */
void xmig_kvm_params_init(struct xmig_kvm_params *p);

/*
 * 0 if this process can run guests (/dev/kvm opens, the API version and
 * the capabilities this backend needs are there), else XMIG_ENOTSUP with
 * the reason in xmig_error_last().
 */
int xmig_kvm_available(void);

/*
 * A source: load the guest ELF, build the boot information (start info,
 * memory map, command line plus " tsc_khz=N"), create the VM and its vCPU
 * threads and start the guest. Errors: XMIG_EINVAL (bad parameters, bad or
 * unfitting ELF), XMIG_ENOTSUP (no usable KVM), XMIG_EBACKEND (a KVM call
 * failed), XMIG_ENOMEM; the reason is in xmig_error_last().
 */
int xmig_kvm_new(struct xmig_backend **out, const struct xmig_kvm_params *p);

/*
 * An empty destination; `create` (from the stream's header) makes the VM.
 * The console callback (may be NULL) receives the migrated guest's output.
 */
int xmig_kvm_new_dest(struct xmig_backend **out, xmig_kvm_console_fn fn, void *payload);

/*
 * Wait until the guest stops. Returns 0 once it wrote its exit code to
 * port 0xf4 (stored in *exit_code, which may be NULL); XMIG_EGUEST if it
 * failed (crash, unsupported instruction, unknown exit, every vCPU halted)
 * with the reason in xmig_error_last(); XMIG_ETIMEDOUT after `timeout_ms`
 * (< 0: no limit); XMIG_EINVAL if the handle has no guest. A guest that
 * was migrated away (the handle was destroyed) has no guest.
 */
int xmig_kvm_wait_exit(struct xmig_backend *b, int timeout_ms, int *exit_code);

/*
 * Diagnostics of the last save_state or unpause (state restore): which
 * MSRs could not be read (and were not migrated) or were left at the
 * destination's value because KVM refused the source's equal-to-default
 * value. Empty string if nothing to say; valid until the next call on `b`.
 */
const char *xmig_kvm_notes(struct xmig_backend *b);

/*
 * State blobs (save_state / load_state). Each blob is
 * struct xmig_kvm_state_hdr followed by `size` bytes: the kernel structure
 * named below, in the host's byte order (x86-64 to x86-64 only). The
 * destination checks version, type, vCPU and size of every blob, keeps them
 * and applies them all at unpause, in dependency order (CPUID; special
 * registers; registers; XCRs; XSAVE or FPU; MSRs; MP state; events; debug
 * registers; then the clock and, last, every TSC), so blobs may arrive in
 * any order. A duplicate blob is rejected. Mandatory per vCPU: CPUID,
 * SREGS, REGS, XSAVE or FPU, MSRS, VMM; per platform: CONFIG, CLOCK.
 */
#define XMIG_KVM_STATE_VERSION 1

struct xmig_kvm_state_hdr {
	uint32_t version; /* XMIG_KVM_STATE_VERSION */
	uint32_t type;    /* repeats the blob's type */
	uint32_t vcpu;    /* repeats its scope (vCPU or XMIG_STATE_PLATFORM) */
	uint32_t size;    /* bytes after this header */
};

enum xmig_kvm_state_type {
	/* per vCPU */
	XMIG_KVM_STATE_CPUID = 1,     /* struct kvm_cpuid2 + nent entries */
	XMIG_KVM_STATE_SREGS = 2,     /* struct kvm_sregs */
	XMIG_KVM_STATE_REGS = 3,      /* struct kvm_regs */
	XMIG_KVM_STATE_XSAVE = 4,     /* struct kvm_xsave, or the larger
					 KVM_GET_XSAVE2 area */
	XMIG_KVM_STATE_FPU = 5,       /* struct kvm_fpu (hosts without XSAVE) */
	XMIG_KVM_STATE_XCRS = 6,      /* struct kvm_xcrs */
	XMIG_KVM_STATE_MSRS = 7,      /* struct kvm_msrs + nmsrs entries,
					 TSC (0x10) included */
	XMIG_KVM_STATE_MP_STATE = 8,  /* struct kvm_mp_state */
	XMIG_KVM_STATE_EVENTS = 9,    /* struct kvm_vcpu_events */
	XMIG_KVM_STATE_DEBUGREGS = 10, /* struct kvm_debugregs */
	XMIG_KVM_STATE_VMM = 11,      /* struct xmig_kvm_vmm_state + line bytes */
	/* platform (vcpu = XMIG_STATE_PLATFORM) */
	XMIG_KVM_STATE_CONFIG = 0x100, /* struct xmig_kvm_config_state */
	XMIG_KVM_STATE_CLOCK = 0x101,  /* struct xmig_kvm_clock_state */
};

/* Our own per-vCPU state: not KVM's, the VMM's. */
struct xmig_kvm_vmm_state {
	uint32_t halted;   /* the vCPU executed HLT (or never started) */
	uint32_t line_len; /* bytes of an unfinished console line, following */
};

/* The VM's shape, checked against the destination's. */
struct xmig_kvm_config_state {
	uint64_t mem_bytes;
	uint32_t nr_vcpus;
	uint32_t flags;    /* 0; no in-kernel irqchip */
};

/* Time at save_state. */
struct xmig_kvm_clock_state {
	uint64_t realtime_ns; /* CLOCK_REALTIME when saved */
	uint32_t tsc_khz;     /* the guest's TSC frequency */
	uint32_t reserved;
	uint64_t kvmclock_ns; /* KVM_GET_CLOCK */
	uint32_t kvmclock_flags;
	uint32_t reserved2;
};

#ifdef __cplusplus
}
#endif
#endif
