/* SPDX-License-Identifier: MIT */
/*
 * Internals of the xen backend, shared by its files:
 *   xen_backend.c    the ops table, handles, the public calls
 *   xen_mem.c        frames: foreign mapping, population, log-dirty
 *   xen_suspend.c    pause/suspend and resume of a source
 *   xen_hvm.c        the HVM/PVH guest type: state blobs out and in
 *   xen_pv.c         the PV guest type: p2m, page tables, vCPUs, start info
 *   xen_toolstack.c  the destination domain: create, connect, start
 *   xen_format.h     Xen-independent helpers (unit-tested)
 *   xen_pv_format.h  the same for PV: normalisation maths, blob framing
 *
 * Like libxenguest, what depends on the guest type sits behind one table
 * (struct xmig__xen_type), chosen in one place (xen_backend.c). A PV guest
 * also changes how frames are named (machine frames, through the guest's
 * own p2m): xen_mem.c asks xen_pv.c where it matters.
 */
#ifndef XMIG_XEN_INTERNAL_H
#define XMIG_XEN_INTERNAL_H

#define __XEN_TOOLS__ 1
#include <stdint.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>

#include "common.h"
#include "xen_format.h"
#include "xen_pv_format.h"
#include "xmig/backend/xen.h"
#include "xmig/sys/backend.h"

/* Routes the Xen libraries' log into xmig's messages instead of stderr. */
extern xentoollog_logger xmig__xen_quiet_logger;

#define XMIG__XEN_PAGE 4096u
#define XMIG__XEN_BATCH 1024u
#define XMIG__XEN_NOTES 1024
#define XMIG__XEN_MAX_MAPS 4

struct xmig__xen;

/* What differs between guest types (HVM/PVH today; PV later). */
struct xmig__xen_type {
	const char *name;
	uint32_t guest_kind;
	/* Source, guest paused: emit the platform blobs. */
	int (*save)(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx);
	/* Destination: apply one blob as it arrives. */
	int (*load)(struct xmig__xen *x, uint32_t type, const void *body, size_t len);
	/* Destination, before unpause: everything mandatory arrived? finish. */
	int (*complete)(struct xmig__xen *x);
};

extern const struct xmig__xen_type xmig__xen_type_hvm;
extern const struct xmig__xen_type xmig__xen_type_pv;

/* What a PV guest needs beyond an HVM one (xen_pv.c). */
struct xmig__xen_pv {
	/* source */
	void *shinfo;              /* its shared info page, mapped read-only */
	uint64_t *p2m;             /* its p2m leaves, mapped read-only (live) */
	uint64_t *leaf_mfns;       /* machine frames of the leaves */
	uint32_t nr_leaves;
	uint64_t p2m_cr3, p2m_vaddr, p2m_generation, max_pfn; /* as at open */
	uint8_t *ptype;            /* per pfn, at pause: XMIG__PV_T_* */
	struct xmig__pv_m2p m2p;   /* at pause */
	int scanned;               /* ptype and m2p are valid: paused */
	void *bounce[XMIG__XEN_MAX_MAPS]; /* normalised copies, per map slot */
	/* both: pfns of the p2m leaves (source at pause; destination from the stream) */
	uint64_t *leaf_pfns;
	/* destination */
	uint64_t *p2m_dest;        /* pfn -> machine frame here, XMIG__PV_INVALID */
	uint8_t *tables;           /* PV_PAGETABLES body */
	uint32_t nr_tables;
	uint8_t shinfo_src[4096];
	uint8_t **vcpu;            /* PV_VCPU bodies, per vCPU */
	uint32_t nr_vcpu_seen;
	int have_p2m, have_tables, have_shinfo, finished;
};

/* One outstanding foreign mapping (map_pages ... unmap_pages). */
struct xmig__xen_map {
	void **ptrs; /* the engine's array: the key */
	void *addr;
	unsigned int n;
};

enum xmig__xen_side { XMIG__XEN_SOURCE, XMIG__XEN_DEST };

enum xmig__xen_dstate {
	XMIG__XEN_D_EMPTY,   /* no domain */
	XMIG__XEN_D_CREATED, /* paused, being restored */
	XMIG__XEN_D_RUNNING, /* unpaused: the commit happened */
};

struct xmig__xen {
	struct xmig_backend base; /* first */

	enum xmig__xen_side side;
	struct xmig_xen_params p;
	char name[80];

	xc_interface *xch;
	xenforeignmemory_handle *fmem;
	struct xs_handle *xsh;      /* opened on first use */
	xenevtchn_handle *xce;      /* opened on first use */

	uint32_t domid;
	const struct xmig__xen_type *type;
	uint32_t guest_kind;
	uint64_t nr_pages;          /* max gfn + 1 */
	uint32_t nr_vcpus;
	int gone;                   /* source destroyed */
	int claimed;                /* a claim of ours is in xenstore (xen_claim.c) */

	/* Foreign mapping, reused every batch. */
	xen_pfn_t *gfns;            /* XMIG__XEN_BATCH */
	int *errs;                  /* XMIG__XEN_BATCH */
	struct xmig__xen_map maps[XMIG__XEN_MAX_MAPS];

	/* Source. */
	int logging;
	xc_hypercall_buffer_t dirty_hbuf; /* the CLEAN bitmap */
	void *dirty_buf;
	size_t dirty_npages;
	uint64_t *populated;        /* bit: frame seen populated */
	uint64_t *holes;            /* bit: seen unpopulated, not dirtied since */
	uint64_t *probed;           /* bit: asked Xen about it once */
	xc_hypercall_buffer_t probe_hbuf;
	int fetched_final;          /* the final round's dirty log was read */
	int grant_note;             /* the grant scan said why it cannot run */
	/* HVM: full frame scans (xen_mem.c hvm_frame_scan) */
	int scan_done;
	uint64_t scan_tot;          /* the domain's tot_pages when the last scan began */
	void *probe_buf;            /* XMIG__XEN_BATCH xen_pfn_t, for getpageframeinfo3 */
	int paused;                 /* how: enum xmig_xen_suspend, 0 = running */
	int evtchn_port;            /* local port bound to the guest's suspend channel */
	int suspend_pending;        /* a mode: the guest took a request but had not
				       suspended when pause gave up */

	/* Destination. */
	enum xmig__xen_dstate dstate;
	int prepared; /* destination: restore_complete done, waiting for COMMIT */
	int held;     /* destination: committed, left paused (the commit hook) */
	int own_domain;             /* built-in toolstack: we created it */
	uint8_t uuid[16];           /* built-in: the domain's handle */
	uint64_t *dpopulated;       /* bit: frame populated here */
	uint64_t released;          /* frames given back: the source announced them absent */
	uint64_t max_pages;         /* from DOMAIN, for setmaxmem */
	int have_domain, have_tsc, have_ctx, have_params, have_populated, have_policy;
	struct xmig_xen_domain_state dom_state;
	struct xmig_xen_restore_info ri;
	int ri_valid;

	struct xmig__xen_pv pv;

	char notes[XMIG__XEN_NOTES];
};

static inline struct xmig__xen *xmig__xen_of(struct xmig_backend *b)
{
	return (struct xmig__xen *)b;
}

/* xen_backend.c */
void xmig__xen_note(struct xmig__xen *x, const char *fmt, ...) XMIG__PRINTF(2, 3);
int xmig__xen_store_open(struct xmig__xen *x);

/* xen_mem.c */
int xmig__xen_mem_init(struct xmig__xen *x);
void xmig__xen_mem_fini(struct xmig__xen *x);
int xmig__xen_map(struct xmig__xen *x, const uint64_t *pfns, unsigned int n, void **ptrs,
		  unsigned int flags);
void xmig__xen_unmap(struct xmig__xen *x, void **ptrs, unsigned int n);
int xmig__xen_populate(struct xmig__xen *x, const uint64_t *gfns, size_t n);
int xmig__xen_populate_zero(struct xmig__xen *x, const uint64_t *gfns, size_t n);
int xmig__xen_release(struct xmig__xen *x, const uint64_t *gfns, size_t n);
int xmig__xen_clear_page(struct xmig__xen *x, uint64_t gfn);
int xmig__xen_log_start(struct xmig__xen *x);
int xmig__xen_log_stop(struct xmig__xen *x);
int xmig__xen_log_fetch(struct xmig__xen *x, uint64_t *bitmap, int final);
int xmig__xen_frame_types(struct xmig__xen *x, unsigned int k);
int xmig__xen_map_frames(struct xmig__xen *x, struct xmig__xen_map *m, unsigned int k, int prot);

/* xen_hvm.c: blobs both guest types send */
int xmig__xen_emit_blob(xmig_state_emit_fn emit, void *ctx, uint32_t type, const void *body,
			size_t len);
int xmig__xen_save_common(struct xmig__xen *x, xmig_state_emit_fn emit, void *ctx);
int xmig__xen_load_common(struct xmig__xen *x, uint32_t type, const void *body, size_t len);

/* xen_pv.c */
int xmig__xen_pv_open(struct xmig__xen *x, const xc_domaininfo_t *di);
uint64_t xmig__xen_pv_frame(struct xmig__xen *x, uint64_t pfn);
int xmig__xen_pv_normal_form(struct xmig__xen *x, struct xmig__xen_map *m, unsigned int j,
			     uint64_t pfn, void **page);
int xmig__xen_pv_pause_scan(struct xmig__xen *x, uint64_t *bitmap);
int xmig__xen_pv_dest_init(struct xmig__xen *x);
void xmig__xen_pv_fini(struct xmig__xen *x);

/* xen_toolstack.c: a domain handle as text (8-4-4-4-12 hex digits) */
void xmig__xen_uuid_str(const uint8_t u[16], char out[37]);

/* xen_claim.c */
int xmig__xen_claim_put(struct xmig__xen *x, xs_transaction_t t, int outgoing,
			const uint8_t uuid[16], const char *state);
void xmig__xen_claim_drop(struct xmig__xen *x, int outgoing, uint32_t domid);
void xmig__xen_claim_source(struct xmig__xen *x);
void xmig__xen_unclaim_source(struct xmig__xen *x);

/* xen_suspend.c */
int xmig__xen_suspend(struct xmig__xen *x);
int xmig__xen_resume(struct xmig__xen *x);
/* Source being freed: resume a guest that suspended after pause gave up. */
void xmig__xen_suspend_release(struct xmig__xen *x);

/* xen_toolstack.c */
int xmig__xen_domain_create(struct xmig__xen *x, const struct xmig_guest_info *info);
int xmig__xen_domain_adopt(struct xmig__xen *x, const struct xmig_guest_info *info);
/* Before READY: finish the restore, connect and seed everything (can fail). */
int xmig__xen_domain_prepare(struct xmig__xen *x);
/* After COMMIT: unpause the prepared domain; with run 0, commit it and
 * leave it paused (a later call with run 1 unpauses it). */
int xmig__xen_domain_start(struct xmig__xen *x, int run);
int xmig__xen_domain_destroy(struct xmig__xen *x);
int xmig__xen_ports_connect(struct xmig__xen *x);

/* Fill *info for domid; XMIG_EINVAL if no such domain. */
int xmig__xen_dominfo(struct xmig__xen *x, xc_domaininfo_t *info);

#endif
