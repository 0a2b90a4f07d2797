/* SPDX-License-Identifier: MIT */
/*
 * The xen backend: live migration of Xen x86 PVH, HVM and 64-bit PV domains.
 *
 * It runs in a control domain (dom0) and drives the hypervisor through
 * libxenctrl, libxenforeignmemory, libxenevtchn and libxenstore. It does not
 * use libxenguest's save/restore: xmig's engine replaces it. Both sides
 * implement the ops table of xmig/sys/backend.h, name "xen", pages of 4096
 * bytes, guest kind XMIG_GUEST_XEN_PVH, XMIG_GUEST_XEN_HVM or
 * XMIG_GUEST_XEN_PV. Like libxenguest, what depends on the guest type sits
 * behind per-type ops.
 *
 * The guest's frames: nr_pages = the domain's highest gfn + 1 (for a PVH
 * domain built by libxl this is just below 4 GiB, where the xenstore and
 * console pages live, whatever the RAM size). Holes are reported as absent.
 *
 * PV guests (x86-64 only; 32-bit PV is refused with XMIG_ENOTSUP): frames
 * are the guest's pfns, 0 .. the size of its p2m (shared info
 * arch.max_pfn), found through the p2m the guest maps virtually (arch.
 * p2m_cr3/p2m_vaddr; a kernel without one is refused). Live rounds send
 * pages as they are; at pause every page table and p2m leaf is sent again
 * in normal form (machine frames replaced by pfns, Xen's L4 slots empty),
 * and --verify digests that form. The guest must suspend itself (xenstore
 * or its suspend event channel; PAUSE and SHUTDOWN are refused), as its
 * kernel then lets go of Xen's frames. Log-dirty for PV needs a hypervisor
 * with shadow paging (Debian's 4.17.7 has none: log_dirty_start fails with
 * XMIG_ENOTSUP). The destination localises the page tables (refusing any
 * entry that names a frame the guest does not have), sets the vCPUs (Xen
 * then validates the tables), pins what was pinned, rewrites the guest's
 * p2m and connects its start info to the new xenstore and console rings
 * and ports, all before READY. restore_info's store_gfn and console_gfn are
 * machine frames for a PV guest, as xenstored and xenconsoled expect.
 *
 * SOURCE: xmig_xen_open() on a running domain.
 *   - log-dirty: XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, then CLEAN into a
 *     bitmap every round; the final fetch uses XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL
 *     so frames Xen itself wrote are caught. A hypervisor without log-dirty
 *     for the guest's paging mode (e.g. PV without shadow paging) fails
 *     log_dirty_start with XMIG_ENOTSUP.
 *   - map_pages: xenforeignmemory_map in batches; a hole gives NULL
 *     (ABSENT in the stream). Every populated frame is sent as FULL or ZERO;
 *     the destination populates the zero frames the engine does not write
 *     (the populate hook), so the guest's RAM all exists there.
 *   - pause: how the guest is stopped (params.suspend):
 *       XMIG_XEN_SUSPEND_AUTO     the guest's suspend event channel if it has
 *                                 one (xenstore device/suspend/event-channel);
 *                                 else, if it has PV drivers (HVM param
 *                                 CALLBACK_IRQ set), the xenstore request
 *                                 control/shutdown = "suspend"; else (no PV
 *                                 drivers: it cannot tell a suspend from a
 *                                 pause) xc_domain_pause.
 *       XMIG_XEN_SUSPEND_PAUSE    xc_domain_pause.
 *       XMIG_XEN_SUSPEND_SHUTDOWN xc_domain_shutdown(SHUTDOWN_suspend), as
 *                                 libxl does for HVM without PV drivers.
 *       XMIG_XEN_SUSPEND_XENSTORE control/shutdown = "suspend".
 *       XMIG_XEN_SUSPEND_EVTCHN   the suspend event channel (fails if none).
 *       XMIG_XEN_SUSPEND_TOOLSTACK params.suspend_fn: the caller suspends it
 *                                 (and params.resume_fn resumes it).
 *     The cooperative ways wait in two steps, as libxl does. First, up to
 *     params.suspend_timeout_ms (default 60 s), for the guest to take the
 *     request (it clears control/shutdown) or to suspend; a guest that has
 *     not taken it by then has the request withdrawn (in one xenstore
 *     transaction, so a last-moment acknowledgement is seen) and pause
 *     fails with XMIG_ETIMEDOUT: the guest keeps running. Once it has taken
 *     the request (and always after an event-channel request, which cannot
 *     be withdrawn), up to params.suspend_ack_timeout_ms (default 60 s) for
 *     the suspend itself; a suspend that comes late is still a pause. A
 *     guest that took the request and still has not suspended fails pause
 *     with XMIG_ETIMEDOUT saying so; if it suspends after that, a later
 *     pause of the same handle counts it, and free resumes it: the handle
 *     never leaves a guest suspended that nobody will resume.
 *   - resume (after a failed migration): xc_domain_unpause after a pause;
 *     after a suspend, XEN_DOMCTL_resumedomain with the suspend hypercall's
 *     return value set to 1 (for a guest with PV drivers: "cancelled", so it
 *     resumes in place, like libxl's fast resume) and xenstore's resume.
 *   - save_state: the platform blobs below; nothing per vCPU (Xen's HVM
 *     context holds every vCPU).
 *   - destroy (after a confirmed commit): xc_domain_destroy of the source.
 *   - free never destroys the source domain.
 *
 * DESTINATION, two ways:
 *   - xmig_xen_new_dest() with params.domid = 0: a minimal built-in
 *     toolstack. `create` builds an empty paused PVH (or HVM-without-device-
 *     model) domain named params.name: XEN_DOMCTL_CDF_hvm|hap, emulation
 *     flags as the stream's header kind needs (PVH: LAPIC only), max vCPUs
 *     and memory from the header (refined from the DOMAIN blob). Pages are
 *     populated (populate_physmap_exact) as map_pages(WRITE) asks, then
 *     foreign-mapped. The state blobs are applied as they arrive (so a
 *     broken one fails the migration before COMMIT). `unpause` (the commit
 *     point) allocates the xenstore and console event channels, seeds the
 *     grant table, writes the domain's xenstore directory
 *     (/local/domain/N: name, domid, vm, control, data, device, memory,
 *     store, console with type xenconsoled, cpu/I/availability), introduces
 *     the domain to xenstored, then unpauses it. Commands in dom0 see it as
 *     an ordinary domain (`xl list`, `xl destroy`, `xl console`), though
 *     libxl's own records (/libxl/N) are not written.
 *   - xmig_xen_new_dest() with params.domid = an existing, paused, empty HVM
 *     domain that the caller (a toolstack) created: the backend restores
 *     into it and, at unpause, allocates (or uses the caller's) event
 *     channels, calls params.before_unpause with the xenstore and console
 *     gfns and ports (the caller writes xenstore and introduces the domain
 *     there), then unpauses. Nothing is written to xenstore by xmig.
 *   On failure the engine calls `destroy`, which destroys the partial
 *   domain in both ways (a caller-created one too: it was handed over for
 *   the restore). `free` destroys a domain that was never unpaused, never a
 *   running one.
 *
 * State blobs (save_state / load_state), all platform scope: each is
 * struct xmig_xen_state_hdr then `size` bytes, little-endian.
 *   DOMAIN       struct xmig_xen_domain_state (mandatory, first)
 *   TSC          struct xmig_xen_tsc_state (xc_domain_get_tsc_info)
 *   HVM_PARAMS   u32 count, u32 reserved, then count x {u32 index,
 *                u32 reserved, u64 value}: the parameters libxenguest's HVM
 *                save sends (store/console/ioreq/paging/monitor/sharing
 *                pfns, VM86 TSS, ACPI I/O ports, viridian, identity page
 *                table, VM generation id, ioreq server pages, x87 FIP
 *                width, MCA caps), those that are non-zero.
 *   POPULATED    u32 count, u32 reserved, then count x {u64 first gfn,
 *                u64 number of frames}: every frame populated on the source
 *                at pause, in increasing order, as ranges. The destination
 *                populates any it does not hold yet (a frame populated
 *                since it was last read: ballooning).
 *   HVM_CONTEXT  the whole xc_domain_hvm_getcontext() blob (Xen's format:
 *                hvm_save_descriptor + record, from HEADER to END), checked
 *                for framing before it reaches Xen.
 *   CPU_POLICY   the domain's CPUID and MSR policy as Xen serialises it
 *                (XEN_DOMCTL_get_cpu_policy): u32 nr_leaves, u32 nr_msrs,
 *                then nr_leaves x {u32 leaf, subleaf, eax, ebx, ecx, edx},
 *                then nr_msrs x {u32 index, u32 flags (0), u64 value}; at
 *                most 4096 of each. The destination sets it on the new
 *                domain before its first run, so the guest sees the CPU it
 *                booted on; it reads it back and refuses the state if a
 *                feature flag went missing (this host lacks it).
 *   PV_P2M       (PV) u32 count, u32 reserved, count x u64: the pfns of
 *                the guest's p2m leaves; leaf i holds pfns 512i .. 512i+511.
 *   PV_PAGETABLES (PV) u32 count, u32 reserved, count x {u64 pfn, u32 level
 *                (1..4), u32 flags (bit 0: pinned)}, pfns increasing: the
 *                page tables at pause.
 *   SHARED_INFO  (PV) the guest's shared info page, 4096 bytes; its vCPU
 *                info and arch part are copied to the new domain's.
 *   PV_VCPU      (PV) one per vCPU, in order: {u32 vcpu, u32 flags (bit 0:
 *                online), u32 basic, ext, xsave, msr lengths}, then
 *                vcpu_guest_context_x86_64_t with cr3, user cr3 (bit 0 set
 *                when present), GDT frames and (vCPU 0) rdx, the start
 *                info, as pfns; the first `size` bytes of struct
 *                xen_domctl_ext_vcpucontext; the XEN_DOMCTL_getvcpuextstate
 *                buffer; xen_domctl_vcpu_msr_t entries. An offline vCPU has
 *                the header only.
 * HVM/PVH: DOMAIN, CPU_POLICY, TSC, POPULATED, HVM_PARAMS, HVM_CONTEXT; PV:
 * DOMAIN, CPU_POLICY, TSC, POPULATED, PV_P2M, PV_PAGETABLES, SHARED_INFO,
 * PV_VCPU x vCPUs. A destination applies each as it arrives and requires
 * DOMAIN first and the last (HVM_CONTEXT; the last PV_VCPU) last. DOMAIN,
 * TSC and the last are mandatory, and for PV every PV blob and
 * SHARED_INFO; CPU_POLICY is not (without it the destination keeps Xen's
 * default policy and says so in its notes). Blobs of the other guest type,
 * and unknown ones, are refused.
 */
#ifndef XMIG_BACKEND_XEN_H
#define XMIG_BACKEND_XEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_backend;

enum xmig_xen_suspend {
	XMIG_XEN_SUSPEND_AUTO = 0,
	XMIG_XEN_SUSPEND_PAUSE = 1,
	XMIG_XEN_SUSPEND_SHUTDOWN = 2,
	XMIG_XEN_SUSPEND_XENSTORE = 3,
	XMIG_XEN_SUSPEND_EVTCHN = 4,
	XMIG_XEN_SUSPEND_TOOLSTACK = 5,
};

/*
 * XMIG_XEN_SUSPEND_TOOLSTACK: the caller suspends the domain (libxl does,
 * when xmig runs as its save helper). Called from pause; returns 0 once
 * the domain is suspended (the backend then checks that Xen reports it
 * shut down for suspend), non-zero if it could not be (pause fails and the
 * domain is the caller's to look after).
 */
typedef int (*xmig_xen_suspend_fn)(uint32_t domid, void *payload);

/*
 * With XMIG_XEN_SUSPEND_TOOLSTACK: the caller's way back after a failed
 * migration (the engine's resume). 0 once the domain runs again, or will
 * be resumed by the caller as its own failure path (libxl resumes a source
 * whose save failed: its helper passes a resume_fn that says so and leaves
 * it). Without one, resume fails with XMIG_ENOTSUP.
 */
typedef int (*xmig_xen_resume_fn)(uint32_t domid, void *payload);

/* What a toolstack needs to connect the restored guest (xenstore/console). */
struct xmig_xen_restore_info {
	uint32_t domid;
	uint32_t store_port;   /* event channel, in the guest, bound by store_domid */
	uint64_t store_gfn;    /* HVM param STORE_PFN (0 if the source had none) */
	uint32_t console_port;
	uint32_t reserved;
	uint64_t console_gfn;  /* HVM param CONSOLE_PFN (0 if none) */
};

/* Called once, right before a caller-created destination is unpaused.
 * A non-zero return fails the unpause (the domain is then destroyed). */
typedef int (*xmig_xen_before_unpause_fn)(const struct xmig_xen_restore_info *ri,
					  void *payload);

#define XMIG_XEN_PARAMS_VERSION 3 /* 2: suspend_ack_timeout_ms; 3: suspend_fn, resume_fn */

struct xmig_xen_params {
	unsigned int version;         /* XMIG_XEN_PARAMS_VERSION */
	/* source */
	int suspend;                  /* enum xmig_xen_suspend; default AUTO */
	uint32_t suspend_timeout_ms;  /* for the guest to take the request; default 60000 */
	uint32_t suspend_ack_timeout_ms; /* then for it to suspend; default 60000 */
	xmig_xen_suspend_fn suspend_fn; /* XMIG_XEN_SUSPEND_TOOLSTACK (mandatory there) */
	xmig_xen_resume_fn resume_fn;   /* XMIG_XEN_SUSPEND_TOOLSTACK (optional) */
	/* destination */
	uint32_t domid;               /* 0: create one (built-in toolstack) */
	const char *name;             /* built-in: the domain's name; default
					 "xmig-<domid>" */
	uint32_t store_domid;         /* default 0 */
	uint32_t console_domid;       /* default 0 */
	uint32_t store_port;          /* caller-created: 0 = allocate */
	uint32_t console_port;        /* caller-created: 0 = allocate */
	xmig_xen_before_unpause_fn before_unpause; /* caller-created only */
	/*
	 * Caller-created only: the domain stays the caller's, as libxl's does
	 * when xmig is its restore helper. unpause does everything but the
	 * unpause itself (the toolstack unpauses once it has attached the
	 * devices), and after a failure destroy and free leave the domain for
	 * the toolstack's own error path (libxl destroys what it created).
	 */
	int toolstack_owns;
	void *payload;
};

#define XMIG_XEN_PARAMS_INIT                                                   \
	{                                                                      \
		.version = XMIG_XEN_PARAMS_VERSION,                            \
		.suspend = XMIG_XEN_SUSPEND_AUTO, .suspend_timeout_ms = 60000, \
		.suspend_ack_timeout_ms = 60000,                               \
	}

/* Fill `p` with the defaults of XMIG_XEN_PARAMS_INIT. */
void xmig_xen_params_init(struct xmig_xen_params *p);

/*
 * 0 if this process can drive Xen (the control interfaces open: dom0 or a
 * privileged domain), else XMIG_ENOTSUP with the reason in xmig_error_last().
 */
int xmig_xen_available(void);

/*
 * A source: the running domain `domid`. Checks it exists, is not dying or
 * shut down, and (PV) is 64-bit with a p2m it can read. `p` may be NULL.
 * Errors: XMIG_EINVAL, XMIG_ENOTSUP, XMIG_EBACKEND, XMIG_ENOMEM; the reason
 * in xmig_error_last().
 */
int xmig_xen_open(struct xmig_backend **out, uint32_t domid, const struct xmig_xen_params *p);

/* A destination (see above); `p` may be NULL (built-in toolstack). */
int xmig_xen_new_dest(struct xmig_backend **out, const struct xmig_xen_params *p);

/* The domain behind the handle (a destination's, once created); 0 if none. */
uint32_t xmig_xen_domid(struct xmig_backend *b);

/*
 * A destination after a successful unpause: the event channels and frames
 * of its xenstore and console. XMIG_EINVAL before that.
 */
int xmig_xen_restore_info(struct xmig_backend *b, struct xmig_xen_restore_info *out);

/*
 * How the last pause was done ("pause", "shutdown", "xenstore", "evtchn")
 * and what the backend noticed; "" before any. Valid until the next call.
 */
const char *xmig_xen_notes(struct xmig_backend *b);

/*
 * Leftovers of a dead xmig process. While a migration holds a domain in a
 * state nobody else would leave it in, the backend notes it in xenstore
 * (under /xmig, dom0 only): a destination domain it created and has not
 * started, a source with log-dirty on. The note names the process; when
 * that process dies without putting the domain right (kill -9, a crash,
 * the OOM killer), the domain is a leftover, and xmig_xen_cleanup finds it:
 *   INCOMING  a destination never started: nothing of the guest ran there
 *             (Xen: paused, no CPU time) -> destroyed. If it did run (the
 *             owner died after starting it), it is the guest: kept, note
 *             removed.
 *   LIVE      a source with log-dirty left on, running -> log-dirty off.
 *   STOPPED   a source left paused or suspended for stop-and-copy: whether
 *             the destination runs the guest cannot be known from here, so
 *             it is left alone and reported, unless `resume_domid` names it
 *             (the caller has checked that the destination does not run it:
 *             `xl list` there) -> resumed.
 * A note whose process still runs is reported (OWNER_ALIVE) and left; one
 * whose domain is gone is removed. Domains a toolstack owns (libxl, when xmig
 * is its save/restore helper: XMIG_XEN_SUSPEND_TOOLSTACK, toolstack_owns)
 * get no note: the toolstack puts them right itself.
 */
enum xmig_xen_leftover_kind {
	XMIG_XEN_LEFTOVER_INCOMING = 1,
	XMIG_XEN_LEFTOVER_LIVE = 2,
	XMIG_XEN_LEFTOVER_STOPPED = 3,
};

enum xmig_xen_leftover_action {
	XMIG_XEN_LEFT_REPORTED = 0,  /* left alone (a dry run, or a stopped source) */
	XMIG_XEN_LEFT_OWNER_ALIVE,   /* its process still runs: not a leftover */
	XMIG_XEN_LEFT_GONE,          /* the domain no longer exists: note removed */
	XMIG_XEN_LEFT_DESTROYED,     /* incoming, never ran: destroyed */
	XMIG_XEN_LEFT_KEPT_RUNNING,  /* incoming, but it ran: kept, note removed */
	XMIG_XEN_LEFT_LOGDIRTY_OFF,  /* live: log-dirty off, the guest runs on */
	XMIG_XEN_LEFT_RESUMED,       /* stopped, named by resume_domid: resumed */
	XMIG_XEN_LEFT_FAILED,        /* the action failed: `why` */
};

struct xmig_xen_leftover {
	uint32_t domid;
	int kind;          /* enum xmig_xen_leftover_kind (0: a note unreadable) */
	int action;        /* enum xmig_xen_leftover_action */
	int owner_pid;
	char name[80];     /* the domain's name (printable characters only), or "" */
	char why[200];     /* FAILED: what failed */
};

typedef void (*xmig_xen_leftover_fn)(const struct xmig_xen_leftover *l, void *payload);

#define XMIG_XEN_CLEANUP_DRY_RUN 1u /* report, change nothing */

/*
 * Find the leftovers on this host and put them right (above); `fn` (may be
 * NULL) hears of each. `resume_domid`: 0, or a stopped source to resume.
 * Returns how many leftovers there were (OWNER_ALIVE ones not counted), or a
 * negative error (XMIG_ENOTSUP: not in a Xen control domain; XMIG_EBACKEND:
 * xenstore; XMIG_EINVAL: resume_domid is not a stopped leftover). An action
 * that fails is reported as FAILED and the walk goes on; the return is then
 * XMIG_EBACKEND.
 */
int xmig_xen_cleanup(unsigned int flags, uint32_t resume_domid, xmig_xen_leftover_fn fn,
		     void *payload);

/* State blobs. */
#define XMIG_XEN_STATE_VERSION 1

struct xmig_xen_state_hdr {
	uint32_t version; /* XMIG_XEN_STATE_VERSION */
	uint32_t type;    /* repeats the blob's type */
	uint32_t size;    /* bytes after this header */
	uint32_t reserved;
};

enum xmig_xen_state_type {
	XMIG_XEN_STATE_DOMAIN = 1,
	XMIG_XEN_STATE_TSC = 2,
	XMIG_XEN_STATE_HVM_PARAMS = 3,
	XMIG_XEN_STATE_POPULATED = 4,
	XMIG_XEN_STATE_HVM_CONTEXT = 5,
	XMIG_XEN_STATE_CPU_POLICY = 6,
	XMIG_XEN_STATE_PV_P2M = 7,
	XMIG_XEN_STATE_PV_PAGETABLES = 8,
	XMIG_XEN_STATE_SHARED_INFO = 9,
	XMIG_XEN_STATE_PV_VCPU = 10,
};

struct xmig_xen_domain_state {
	uint32_t guest_kind;       /* enum xmig_guest_kind: XEN_PVH, XEN_HVM or
				      XEN_PV */
	uint32_t nr_vcpus;         /* max_vcpu_id + 1 */
	uint64_t max_pages;        /* the domain's memory limit, in pages */
	uint64_t tot_pages;        /* populated at pause */
	uint64_t max_gfn;
	uint64_t paging_pool;      /* bytes of HAP/shadow pool; 0 unknown */
	uint32_t emulation_flags;  /* XEN_X86_EMU_* of the source */
	uint32_t dominfo_flags;    /* XEN_DOMINF_hvm_guest|hap of the source */
	uint32_t suspend;          /* how it was stopped: enum xmig_xen_suspend
				      (never AUTO) */
	uint32_t target_kib;       /* the source's xenstore memory/target (its
				      balloon target), 0 if unknown; at most
				      max_pages * 4 */
};

struct xmig_xen_tsc_state {
	uint32_t mode;
	uint32_t khz;
	uint64_t elapsed_nsec;
	uint32_t incarnation;
	uint32_t reserved;
};

#ifdef __cplusplus
}
#endif
#endif
