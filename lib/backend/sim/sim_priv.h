/* SPDX-License-Identifier: MIT */
/*
 * Internals of the sim backend: a SIMULATED guest for tests and policy
 * studies, not a virtual machine. See xmig/backend/sim.h for what it models.
 *
 * Layout of the code:
 *   sim_model.c  dirty-model strings
 *   sim_page.c   page content: generation, header, verification
 *   sim_vcpu.c   the vCPU threads, pause and resume
 *   sim_dirty.c  the dirty log
 *   sim_state.c  vCPU and platform state blobs
 *   sim.c        the handle, the ops table and the public calls
 */
#ifndef XMIG_SIM_PRIV_H
#define XMIG_SIM_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "xmig/backend/sim.h"
#include "xmig/sys/backend.h"

#define SIM_PAGE_SIZE 4096u
#define SIM_PAGE_SHIFT 12
#define SIM_HDR_SIZE 32u
#define SIM_MAX_VCPUS 256u
#define SIM_MODEL_MAX 64u /* model string, NUL included (platform blob field) */

/* "XMIGSIM1" read as a little-endian u64: marks a non-zero page. */
#define SIM_MAGIC 0x314d495347494d58ull

/* Header fields of a non-zero page, byte offsets. */
#define SIM_HDR_PFN 0
#define SIM_HDR_GEN 8
#define SIM_HDR_SUM 16
#define SIM_HDR_MAGIC 24

enum sim_model_kind {
	SIM_MODEL_NONE = 0,
	SIM_MODEL_UNIFORM,
	SIM_MODEL_HOT,
	SIM_MODEL_SEQ,
};

struct sim_model {
	int kind;                 /* enum sim_model_kind */
	uint64_t hot_bytes;       /* HOT: size of the hot set */
	uint64_t rate;            /* bytes/s over all vCPUs; 0 = as fast as possible */
	char text[SIM_MODEL_MAX]; /* the string it was parsed from */
};

/*
 * One simulated vCPU. rng, cursor and the write count are its whole state:
 * what save_state carries. Only the vCPU's own thread touches rng and
 * cursor while it runs; others read them only while it is parked.
 */
struct sim_vcpu {
	struct sim *sim;
	uint32_t index;
	int thread_started;
	int loaded; /* destination: state came from a blob */
	pthread_t thread;
	uint64_t rng;    /* splitmix64 state: picks pages */
	uint64_t cursor; /* SEQ: next slot of this vCPU's share of pages */
	_Atomic uint64_t writes;
} __attribute__((aligned(64))); /* one cache line each: writes are hot */

struct sim {
	struct xmig_backend base; /* first: the engine's handle */

	/* The guest; mem == NULL when there is none. */
	uint64_t nr_pages;
	uint32_t nr_vcpus;
	uint8_t *mem;
	size_t mem_len;
	struct sim_vcpu *vcpus;
	int pagemap_fd; /* never-written pages read as xmig__zero_page (pagemap.h) */

	/* Content and behaviour. */
	uint64_t seed;
	uint32_t zero_percent;
	struct sim_model model;
	int have_platform; /* destination: the platform blob arrived */

	/*
	 * Frames the guest gave back (xmig_sim_release) or that a stream
	 * announced absent: they read as NULL through map_pages and the vCPUs
	 * do not write them. Changed only while the vCPUs are parked.
	 */
	uint64_t *absent;

	/* Dirty log: bit i = pfn i, set by the vCPUs after they write a page. */
	_Atomic uint64_t *dirty;
	size_t dirty_words;
	int logging;

	/* Stop-and-copy image, for tests. */
	int keep_image;
	uint8_t *image;
	int image_valid;

	/*
	 * Run control. pause_depth counts holders of a pause (the engine's
	 * pause, a concurrent xmig_sim_check); the vCPUs park while it is
	 * non-zero. All under `lock`, except the two request flags the vCPU
	 * threads poll between pages.
	 */
	pthread_mutex_t lock;
	pthread_cond_t parked_cv; /* a vCPU parked */
	pthread_cond_t run_cv;    /* the pause (or a stop) was lifted */
	atomic_int pause_req;
	atomic_int stop_req;
	unsigned int nr_threads; /* vCPU threads running or parked */
	unsigned int nr_parked;
	unsigned int pause_depth;
	int engine_paused; /* paused through the ops table */
	int started;       /* the vCPU threads were started */
};

/* sim_model.c */
int xmig__sim_model_parse(struct sim_model *m, const char *text);
/* 0, or XMIG_EINVAL if the model cannot run on a guest of this size. */
int xmig__sim_model_fits(const struct sim_model *m, uint64_t nr_pages);

/* sim_page.c */
uint64_t xmig__sim_mix64(uint64_t x);
uint64_t xmig__sim_rand(uint64_t *state);
int xmig__sim_page_starts_zero(uint64_t seed, uint32_t zero_percent, uint64_t pfn);
void xmig__sim_page_fill(void *page, uint64_t seed, uint64_t pfn, uint64_t gen);
uint64_t xmig__sim_page_generation(const void *page);
/* NULL if the page at `pfn` is fine, else what is wrong with it. */
const char *xmig__sim_page_verify(const void *page, uint64_t pfn);

/* sim_vcpu.c */
uint64_t xmig__sim_vcpu_default_rng(uint64_t seed, uint32_t index);
int xmig__sim_vcpus_start(struct sim *s);
void xmig__sim_vcpus_stop(struct sim *s);
void xmig__sim_pause_get(struct sim *s);
void xmig__sim_pause_put(struct sim *s);
/* How many pfns below `limit` belong to vCPU `index` of `nr_vcpus`. */
uint64_t xmig__sim_share(uint64_t limit, uint32_t index, uint32_t nr_vcpus);

/* sim_dirty.c */
int xmig__sim_log_dirty_start(struct xmig_backend *b);
int xmig__sim_log_dirty_stop(struct xmig_backend *b);
int xmig__sim_dirty_fetch(struct xmig_backend *b, uint64_t *bitmap, int final);

/* sim_state.c */
int xmig__sim_save_state(struct xmig_backend *b, xmig_state_emit_fn emit, void *ctx);
int xmig__sim_load_state(struct xmig_backend *b, uint32_t vcpu, uint32_t type, const void *data,
			 size_t len);

#endif
