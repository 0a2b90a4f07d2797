/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor backend interface: how the engine talks to a guest.
 *
 * xmig ships three backends (xen, kvm, sim); a toolstack may bring its own
 * by filling in this table. The engine is generic: it never knows which
 * hypervisor it drives.
 *
 * An implementation embeds `struct xmig_backend` as the first member of its
 * own state struct and sets `ops`. Every hook must be implemented (a no-op
 * where there is nothing to do): the engine never checks for NULL.
 *
 * Threading: the engine calls the hooks of one backend from one thread at a
 * time. The guest itself (vCPUs) runs concurrently, owned by the backend.
 *
 * Sides: a backend handle is either a *source* (it has a running guest; the
 * source hooks are used) or a *destination* (it starts empty; `create` makes
 * the guest). The same handle may later serve as a source again, once a
 * migration into it has completed (ping-pong).
 *
 * Return convention: 0 on success, a negative XMIG_E* code on failure (an
 * hook returning int). A hook that fails should say why with
 * xmig_backend_error() before it returns; the engine puts that text in the
 * session's error ("<hook>: <text>") and in the ERROR record the peer gets.
 *
 * The commit protocol, as the destination sees it:
 *
 *   create -> populate / map_pages(WRITE) ... -> load_state ... ->
 *   restore_complete -> [READY sent, COMMIT received] -> unpause
 *
 * Everything that can fail goes in or before `restore_complete`, which the
 * engine calls once, after the last state record and before it tells the
 * sender READY: a failure there still leaves the source guest to run on (the
 * engine then calls `destroy` here and the sender resumes its guest). After
 * COMMIT only `unpause` runs, and it must do as little as it can: when it
 * fails, the engine calls `destroy`, the sender learns it from DONE and
 * resumes the source, so a failed `unpause` must leave no guest running.
 *
 * On the source: a failed `pause` must leave the guest running (or resume it
 * itself before returning); the engine does not call `resume` after a
 * failed `pause`. A failed `resume` leaves the guest stopped and is
 * reported to the caller, who owns the guest from then on.
 */
#ifndef XMIG_SYS_BACKEND_H
#define XMIG_SYS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: restore_complete added, destroy returns int. 3: release added. 4: commit
 * added (optional). A table of version 3 is taken (as one without commit);
 * an older one is refused. */
#define XMIG_BACKEND_OPS_VERSION 4

/* What kind of guest a stream carries. The destination refuses a stream
 * whose kind it cannot restore. */
enum xmig_guest_kind {
	XMIG_GUEST_SIM = 1,     /* sim backend: a simulated guest */
	XMIG_GUEST_KVM_PVH = 2, /* kvm backend: x86-64 guest booted via PVH */
	XMIG_GUEST_XEN_PVH = 3, /* Xen PVH domain */
	XMIG_GUEST_XEN_HVM = 4, /* Xen HVM domain */
	XMIG_GUEST_XEN_PV = 5,  /* Xen x86-64 PV domain */
};

/* The shape of a guest, as the stream header announces it. */
struct xmig_guest_info {
	uint64_t nr_pages;  /* guest frames are pfn 0 .. nr_pages-1 */
	uint32_t page_size; /* bytes, a power of two (4096 on x86) */
	uint32_t nr_vcpus;  /* >= 1 */
	uint32_t guest_kind; /* enum xmig_guest_kind */
	uint32_t reserved;
	char backend[16];   /* NUL-terminated backend name: "sim", "kvm", "xen" */
};

/* Scope value of a state blob that belongs to the platform, not a vCPU. */
#define XMIG_STATE_PLATFORM UINT32_MAX

/*
 * Receives one state blob from `save_state`. `vcpu` is the vCPU index or
 * XMIG_STATE_PLATFORM; `type` is backend-defined (each backend documents its
 * types in its public header). The blob is copied before the call returns.
 * A non-zero return must be passed back by `save_state` unchanged.
 */
typedef int (*xmig_state_emit_fn)(void *ctx, uint32_t vcpu, uint32_t type,
				  const void *data, size_t len);

/* Flags of `map_pages`. */
#define XMIG_MAP_READ 0x1u  /* the engine will read the pages */
#define XMIG_MAP_WRITE 0x2u /* the engine will write them (destination); populate */

struct xmig_backend;

struct xmig_backend_ops {
	unsigned int version; /* XMIG_BACKEND_OPS_VERSION */
	const char *name;     /* "sim", "kvm", "xen", ... */

	/*
	 * Both sides. Fill `out` with the guest's shape. On a destination, valid
	 * only after `create`.
	 */
	int (*describe)(struct xmig_backend *b, struct xmig_guest_info *out);

	/*
	 * Source. Start logging writes to guest memory. Pages dirtied before
	 * this call are not reported; the engine sends every page in round 0.
	 */
	int (*log_dirty_start)(struct xmig_backend *b);

	/* Source. Stop logging (after success or failure). Must be idempotent. */
	int (*log_dirty_stop)(struct xmig_backend *b);

	/*
	 * Source. OR into `bitmap` (nr_pages bits, bit i = pfn i, in 64-bit
	 * little-endian words) every page written since the previous call (or
	 * since log_dirty_start), and clear the log, atomically per page: a write
	 * that races with this call is reported now or by the next call, never
	 * lost. `final` is 1 for the last call, made on the paused guest; a
	 * backend then also reports pages the hypervisor itself wrote, and
	 * every frame another party may write without any log seeing it (Xen:
	 * frames a back end holds mapped writable through the grant table).
	 * With --verify the engine calls it again after the final call (the
	 * guest still paused, `final` 0): what it reports then, written after
	 * the final read or writable unseen, is left out of the digest.
	 * A frame that came into being or went away (ballooning) since it was
	 * last mapped counts as written, even where the hypervisor does not log
	 * it: the next round then sends it, or announces it absent.
	 */
	int (*dirty_fetch)(struct xmig_backend *b, uint64_t *bitmap, int final);

	/*
	 * Both sides. Make `n` guest frames addressable: ptrs[i] receives the
	 * address of pfn pfns[i], or NULL if that frame is not populated (READ
	 * only; with XMIG_MAP_WRITE the backend populates it or fails). The
	 * engine guarantees pfns[i] < nr_pages and n <= 1024. The mapping stays
	 * valid until `unmap_pages` with the same arrays.
	 */
	int (*map_pages)(struct xmig_backend *b, const uint64_t *pfns, unsigned int n,
			 void **ptrs, unsigned int flags);
	void (*unmap_pages)(struct xmig_backend *b, void **ptrs, unsigned int n);

	/*
	 * Source. Stop the guest for stop-and-copy (Xen: suspend it) and return
	 * only once no vCPU runs. After a successful pause, either `resume`
	 * (the migration failed) or `destroy` (it succeeded) follows.
	 */
	int (*pause)(struct xmig_backend *b);

	/* Source. Let a paused guest run again, after a failed migration. */
	int (*resume)(struct xmig_backend *b);

	/*
	 * Source, guest paused. Emit every vCPU and platform state blob the
	 * destination needs, through `emit`. vCPU state is emitted vCPU by vCPU.
	 */
	int (*save_state)(struct xmig_backend *b, xmig_state_emit_fn emit, void *ctx);

	/*
	 * Destination. Create a guest of the given shape, paused, with no vCPU
	 * running. A frame the engine neither writes (map_pages with
	 * XMIG_MAP_WRITE) nor populates (below) may stay absent.
	 */
	int (*create)(struct xmig_backend *b, const struct xmig_guest_info *info);

	/*
	 * Destination. Make `n` frames exist and read as zero. The engine calls
	 * it for pages the stream announces as all-zero and that it has not
	 * written since `create`, instead of mapping and clearing them. A
	 * backend whose new guests have all their memory already, reading as
	 * zero, does nothing (kvm) or marks frames it had dropped present
	 * again (sim, xmig_sim_release); Xen populates the frames
	 * and clears them, since Xen hands out frames a live domain gave back
	 * without scrubbing them (docs/xen.md).
	 */
	int (*populate)(struct xmig_backend *b, const uint64_t *pfns, unsigned int n);

	/*
	 * Destination. The stream says these `n` frames are absent on the source
	 * (never populated, or given back by the guest since they were sent):
	 * make each one absent here, so that map_pages(READ) reports it NULL.
	 * A frame already absent stays so, and a frame this backend did not
	 * populate itself (one the toolstack placed) is left alone. Xen gives
	 * the frames back to the hypervisor; a backend whose guests always have
	 * all their memory (kvm) makes them read as zero instead.
	 */
	int (*release)(struct xmig_backend *b, const uint64_t *pfns, unsigned int n);

	/*
	 * Destination, after create. Load one state blob, as emitted by the
	 * source's save_state. Reject blobs of an unknown type or size.
	 */
	int (*load_state)(struct xmig_backend *b, uint32_t vcpu, uint32_t type,
			  const void *data, size_t len);

	/*
	 * Destination, after the last load_state, before READY. Check that every
	 * state the guest needs has arrived and apply all of it, so that nothing
	 * that can fail is left for `unpause`. Called exactly once per restore.
	 */
	int (*restore_complete)(struct xmig_backend *b);

	/* Destination. Start the restored guest: the commit point. Only what
	 * cannot fail (or whose failure leaves nothing running) belongs here.
	 * Returns 0 when the guest runs, 1 when the backend committed it but
	 * leaves the unpause to the toolstack that owns the domain (the xen
	 * backend's toolstack_owns: libxl unpauses it after its devices). */
	int (*unpause)(struct xmig_backend *b);

	/*
	 * Both sides. Destroy the guest (the source's after a confirmed commit,
	 * the destination's partial guest after a failure). 0: the guest is gone
	 * (or there was none: idempotent); the handle stays valid and a
	 * destination may `create` again. < 0: the hypervisor refused, the guest
	 * is still there and the handle still names it; calling again retries.
	 */
	int (*destroy)(struct xmig_backend *b);

	/* Release the handle (destroying a guest still present). */
	void (*free)(struct xmig_backend *b);

	/*
	 * Version 4, optional (NULL: the backend cannot keep a guest paused).
	 * Destination, instead of `unpause` when the receiver has
	 * start_paused: commit the restored guest without starting it. From
	 * then on it is no partial guest (`free` keeps what `free` keeps of a
	 * running one), and `unpause`, called later, starts it. The rules of
	 * `unpause` apply: a failure leaves no guest.
	 */
	int (*commit)(struct xmig_backend *b);
};

/* The base of every backend handle: embed it first. */
struct xmig_backend {
	const struct xmig_backend_ops *ops;
};

/*
 * For a backend's hooks: record why the hook is failing (printf-style; the
 * text is kept per thread, truncated to 511 bytes) and return `code` (a
 * negative XMIG_E* value), so a hook can `return xmig_backend_error(...)`.
 */
int xmig_backend_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
