/* SPDX-License-Identifier: MIT */
/*
 * The sim backend: a SIMULATED guest, for tests and policy studies.
 *
 * Its memory is real (an anonymous mapping), its content deterministic, and
 * one or more "vCPU" threads dirty it while a migration runs, according to a
 * model. It keeps its own dirty bitmap, pauses and resumes, and carries vCPU
 * state records, so every path of the engine runs for real. It is not a
 * virtual machine: use the kvm or xen backend to migrate one.
 *
 * Page content: every page is either all zero or starts with a 32-byte
 * header {pfn, generation, checksum of the rest, magic} followed by bytes
 * derived from (seed, pfn, generation). xmig_sim_check() verifies every page
 * against its own header, which is how a torn or misplaced page is caught.
 */
#ifndef XMIG_BACKEND_SIM_H
#define XMIG_BACKEND_SIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xmig_backend;

/*
 * Dirty models, as strings (sizes take K/M/G suffixes, powers of 1024;
 * rates are a size per second, "200M/s", or "max"):
 *   none                   the guest writes nothing
 *   uniform:RATE           pages picked uniformly over all memory
 *   hot:SIZE:RATE          pages picked uniformly in the first SIZE bytes
 *   seq:RATE               a sequential sweep over all memory, wrapping
 *   max                    uniform:max
 * Each vCPU thread runs the model at RATE / nr_vcpus.
 */
#define XMIG_SIM_PARAMS_VERSION 1

struct xmig_sim_params {
	unsigned int version;  /* XMIG_SIM_PARAMS_VERSION */
	uint64_t mem_bytes;    /* rounded up to whole pages; >= 1 page */
	uint32_t nr_vcpus;     /* default 1 */
	const char *dirty;     /* model, default "none" */
	uint64_t seed;         /* content seed; default 1 */
	uint32_t zero_percent; /* share of pages that start all-zero; default 25 */
	int keep_pause_image;  /* copy all memory at pause (for tests) */
};

#define XMIG_SIM_PARAMS_INIT                                                   \
	{                                                                      \
		.version = XMIG_SIM_PARAMS_VERSION, .nr_vcpus = 1,             \
		.dirty = "none", .seed = 1, .zero_percent = 25,                \
	}

/*
 * State blobs (save_state / load_state, see xmig/sys/backend.h): fixed-size,
 * little-endian, starting with a u32 version (1).
 *   vCPU i, type XMIG_SIM_STATE_VCPU, XMIG_SIM_STATE_VCPU_SIZE bytes:
 *     u32 version, u32 vCPU index, u64 PRNG state, u64 sweep cursor,
 *     u64 pages written, u64 reserved (0)
 *   XMIG_STATE_PLATFORM, type XMIG_SIM_STATE_PLATFORM,
 *   XMIG_SIM_STATE_PLATFORM_SIZE bytes:
 *     u32 version, u32 nr_vcpus, u64 seed, u64 nr_pages, u32 zero_percent,
 *     u32 page size, char model[64] (NUL-terminated, NUL-padded)
 * A destination that never received them still starts, idle: model "none".
 */
#define XMIG_SIM_STATE_VCPU 1
#define XMIG_SIM_STATE_VCPU_SIZE 40
#define XMIG_SIM_STATE_PLATFORM 1
#define XMIG_SIM_STATE_PLATFORM_SIZE 96

/* A source: allocate and fill the guest, start its vCPU threads. */
int xmig_sim_new(struct xmig_backend **out, const struct xmig_sim_params *p);

/* An empty destination (the stream's header gives the shape). */
int xmig_sim_new_dest(struct xmig_backend **out);

/* Check a model string; 0 or XMIG_EINVAL (see xmig_error_last()). */
int xmig_sim_parse_dirty(const char *model);

/*
 * The guest's own check: every page is zero or consistent with its header
 * and its pfn. Returns 0, or XMIG_EGUEST with *bad_pfn set to the first
 * bad page. The guest may be running.
 */
int xmig_sim_check(struct xmig_backend *b, uint64_t *bad_pfn);

/*
 * The guest gives frames [first, first + count) back, as its balloon driver
 * would: from then on they are absent (their content is gone, they read as
 * zero in xmig_sim_memory, the vCPUs no longer write them) and the dirty
 * log reports them, so a migration under way announces them absent. Not
 * while the guest is paused. 0 or XMIG_EINVAL.
 */
int xmig_sim_release(struct xmig_backend *b, uint64_t first, uint64_t count);

/*
 * A device back end writes frames [first, first + count): each gets a new
 * generation of valid content (what the guest would accept from a device)
 * and the dirty log reports it, as Xen's log-dirty mode reports a back
 * end's grant copies. Allowed while the guest is paused, which is the
 * point: a suspended Xen guest's netfront stays connected and netback
 * goes on filling its receive buffers. Frames the guest gave back are
 * skipped. 0 or XMIG_EINVAL.
 */
int xmig_sim_device_write(struct xmig_backend *b, uint64_t first, uint64_t count);

/* The guest memory (nr_pages * page size bytes), or NULL if none. */
const void *xmig_sim_memory(struct xmig_backend *b, uint64_t *nr_pages);

/* With keep_pause_image: the memory as it was when the guest was paused. */
const void *xmig_sim_pause_image(struct xmig_backend *b);

/* Pages written by the vCPU threads since the guest was created. */
uint64_t xmig_sim_writes(struct xmig_backend *b);

#ifdef __cplusplus
}
#endif
#endif
