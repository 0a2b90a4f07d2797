/* SPDX-License-Identifier: MIT */
/*
 * The tools' side of the kvm backend: start the test guest, watch what it
 * says on its console (port 0xe9), and measure the downtime it saw.
 *
 * Every console line is timestamped on arrival with CLOCK_REALTIME, so the
 * sender's and the receiver's stamps can be compared: exactly on one host,
 * within the clock synchronisation (NTP) across hosts. The guest-observed
 * downtime is the gap between the last heartbeat the source delivered and
 * the first one the destination delivered.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guests.h"
#include "xg-console.h"
#include "xmig/backend/kvm.h"
#include "xmig/sys/backend.h"

struct kvm_watch {
	pthread_mutex_t lock;
	uint64_t hb_count;
	uint64_t first_hb_seq, first_hb_ns; /* first heartbeat seen by this process */
	uint64_t last_hb_seq, last_hb_ns;   /* latest */
	uint64_t max_gap_ns;                /* between consecutive heartbeats here */
	uint64_t err_lines;
	int ready, have_check, check_errors, exit_code;
	char check_line[160];
	char annotation[128];
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_console(const char *data, size_t len, void *payload)
{
	struct kvm_watch *w = payload;
	uint64_t now = realtime_ns();
	char line[1024];
	struct xg_line xl;
	int hb = 0;

	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, data, len);
	line[len] = '\0';
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';

	pthread_mutex_lock(&w->lock);
	switch (xg_console_parse(line, &xl)) {
	case XG_LINE_HB:
		hb = 1;
		if (w->hb_count == 0) {
			w->first_hb_seq = xl.seq;
			w->first_hb_ns = now;
		} else if (now - w->last_hb_ns > w->max_gap_ns) {
			w->max_gap_ns = now - w->last_hb_ns;
		}
		w->hb_count++;
		w->last_hb_seq = xl.seq;
		w->last_hb_ns = now;
		break;
	case XG_LINE_READY:
		w->ready = 1;
		break;
	case XG_LINE_ERR:
		w->err_lines++;
		break;
	case XG_LINE_CHECK:
		w->check_errors = xl.check_errors;
		w->have_check = 1;
		snprintf(w->check_line, sizeof(w->check_line), "%.150s", line);
		break;
	case XG_LINE_OTHER:
		break;
	}
	pthread_mutex_unlock(&w->lock);
	if ((!hb && tool_verbosity >= 1) || tool_verbosity >= 3)
		fprintf(stderr, "%s: guest: %s\n", tool_name, line);
}

static struct kvm_watch *watch_new(void)
{
	struct kvm_watch *w = calloc(1, sizeof(*w));

	if (!w) {
		fprintf(stderr, "%s: error: out of memory\n", tool_name);
		exit(EXIT_FAILED);
	}
	pthread_mutex_init(&w->lock, NULL);
	return w;
}

int kvm_guest_start(struct guest_opts *go, struct xmig_backend **out)
{
	struct xmig_kvm_params p = XMIG_KVM_PARAMS_INIT;
	struct kvm_watch *w;
	uint64_t t0 = realtime_ns();
	int rc;

	if (xmig_kvm_available() < 0) {
		fprintf(stderr, "%s: error: kvm backend unavailable: %s\n", tool_name,
			xmig_error_last());
		return XMIG_ENOTSUP;
	}
	w = watch_new();
	go->priv = w;
	p.guest_elf = go->guest;
	p.mem_bytes = go->mem;
	p.nr_vcpus = go->vcpus;
	p.cmdline = go->append ? go->append : "";
	p.console_fn = on_console;
	p.console_payload = w;
	rc = xmig_kvm_new(out, &p);
	if (rc < 0) {
		fprintf(stderr, "%s: error: cannot start the guest: %s\n", tool_name,
			xmig_error_last());
		return rc;
	}
	if (tool_verbosity > 0)
		fprintf(stderr, "%s: started %s in a KVM VM: %" PRIu64 " MiB, %u vCPU(s), \"%s\"\n",
			tool_name, go->guest, go->mem >> 20, go->vcpus, p.cmdline);
	/* The workload starts at READY (the guest first fills its working set). */
	while (!w->ready) {
		int code;

		rc = xmig_kvm_wait_exit(*out, 20, &code);
		if (rc == 0 || rc == XMIG_EGUEST) {
			fprintf(stderr, "%s: error: the guest stopped before it was ready: %s\n",
				tool_name, rc == 0 ? "it exited" : xmig_error_last());
			return XMIG_EGUEST;
		}
		if (realtime_ns() - t0 > 120ull * 1000000000ull) {
			fprintf(stderr, "%s: error: the guest was not ready after 120 s\n", tool_name);
			return XMIG_ETIMEDOUT;
		}
	}
	return 0;
}

int kvm_guest_dest(struct guest_opts *go, struct xmig_backend **out)
{
	struct kvm_watch *w;
	int rc;

	if (xmig_kvm_available() < 0) {
		fprintf(stderr, "%s: error: kvm backend unavailable: %s\n", tool_name,
			xmig_error_last());
		return XMIG_ENOTSUP;
	}
	w = watch_new();
	go->priv = w;
	rc = xmig_kvm_new_dest(out, on_console, w);
	if (rc < 0)
		fprintf(stderr, "%s: error: %s\n", tool_name, xmig_error_last());
	return rc;
}

/* Run for `ms`, noticing a guest that stops. Returns its wait_exit result. */
int kvm_guest_run_for(struct guest_opts *go, struct xmig_backend *b, uint64_t ms, int *code)
{
	int rc = xmig_kvm_wait_exit(b, (int)ms, code);

	(void)go;
	return rc;
}

const char *kvm_guest_annotate(struct guest_opts *go)
{
	struct kvm_watch *w = go->priv;

	pthread_mutex_lock(&w->lock);
	snprintf(w->annotation, sizeof(w->annotation),
		 "kvm.last_hb_seq=%" PRIu64 "\nkvm.last_hb_realtime_ns=%" PRIu64 "\n",
		 w->last_hb_seq, w->last_hb_ns);
	pthread_mutex_unlock(&w->lock);
	return w->annotation;
}

void kvm_guest_report_send(struct guest_opts *go, struct tool_report *r)
{
	struct kvm_watch *w = go->priv;

	if (!w)
		return;
	r->hb_last_seq = w->last_hb_seq;
	r->hb_last_ns = w->last_hb_ns;
}

/* Reset what the destination's watch knows of heartbeats (after a hop). */
void kvm_guest_forget_heartbeats(struct guest_opts *go)
{
	struct kvm_watch *w = go->priv;

	pthread_mutex_lock(&w->lock);
	w->hb_count = 0;
	w->max_gap_ns = 0;
	w->have_check = 0;
	pthread_mutex_unlock(&w->lock);
}

static int annotation_u64(const char *text, const char *key, uint64_t *out)
{
	const char *p = strstr(text, key);
	size_t n = strlen(key);

	if (!p || p[n] != '=')
		return -1;
	return sscanf(p + n + 1, "%" SCNu64, out) == 1 ? 0 : -1;
}

int kvm_guest_after(struct guest_opts *go, struct xmig_backend *b, const char *annotations,
		    uint64_t ms, int until_exit, struct tool_report *r)
{
	static char verdict[256];
	struct kvm_watch *w = go->priv;
	uint64_t src_seq = 0, src_ns = 0;
	int rc, code = -1;

	/* Wait for the first heartbeat here (bounded), then run as asked. */
	for (int i = 0; i < 500 && !w->hb_count; i++) {
		rc = xmig_kvm_wait_exit(b, 10, &code);
		if (rc != XMIG_ETIMEDOUT)
			break;
	}
	/* in slices of 100 ms, so that SIGINT/SIGTERM end the wait */
	rc = XMIG_ETIMEDOUT;
	for (uint64_t left = ms; rc == XMIG_ETIMEDOUT && !tool_interrupted &&
	     (left || (until_exit && !ms));) {
		uint64_t n = left && left < 100 ? left : 100;

		rc = xmig_kvm_wait_exit(b, (int)n, &code);
		if (left)
			left -= n;
	}

	pthread_mutex_lock(&w->lock);
	if (annotation_u64(annotations, "kvm.last_hb_seq", &src_seq) == 0 &&
	    annotation_u64(annotations, "kvm.last_hb_realtime_ns", &src_ns) == 0 && w->hb_count &&
	    src_ns && w->first_hb_ns > src_ns) {
		r->guest_downtime_ms = (double)(w->first_hb_ns - src_ns) / 1e6;
		r->hb_src_seq = src_seq;
		r->hb_first_seq = w->first_hb_seq;
	}
	r->hb_count = w->hb_count;
	r->hb_max_gap_ms = (double)w->max_gap_ns / 1e6;
	if (tool_interrupted && rc == XMIG_ETIMEDOUT) {
		snprintf(verdict, sizeof(verdict), "INTERRUPTED (%s): the guest ran here until "
			 "then, and stops with this process", strsignal(tool_interrupted));
		rc = -1;
	} else if (rc == XMIG_EGUEST) {
		snprintf(verdict, sizeof(verdict), "FAILED: the guest crashed: %s",
			 xmig_error_last());
		rc = -1;
	} else if (w->err_lines) {
		snprintf(verdict, sizeof(verdict),
			 "CORRUPT: the guest reported %" PRIu64 " damaged page(s)", w->err_lines);
		rc = -1;
	} else if (src_seq && w->hb_count && w->first_hb_seq != src_seq + 1) {
		snprintf(verdict, sizeof(verdict),
			 "FAILED: heartbeat %" PRIu64 " on the source, then %" PRIu64 " here",
			 src_seq, w->first_hb_seq);
		rc = -1;
	} else if (until_exit && rc == 0) {
		if (code == 0 && w->have_check && w->check_errors == 0) {
			snprintf(verdict, sizeof(verdict), "clean: guest exited 0 after \"%s\"",
				 w->check_line);
			rc = 0;
		} else {
			snprintf(verdict, sizeof(verdict), "FAILED: guest exit code %d%s%s", code,
				 w->have_check ? " after " : "", w->have_check ? w->check_line : "");
			rc = -1;
		}
	} else if (until_exit) {
		snprintf(verdict, sizeof(verdict), "FAILED: the guest did not exit in time");
		rc = -1;
	} else if (!w->hb_count) {
		snprintf(verdict, sizeof(verdict), "FAILED: no heartbeat from the guest here");
		rc = -1;
	} else {
		snprintf(verdict, sizeof(verdict),
			 "clean so far: %" PRIu64 " heartbeats here, no damaged page reported",
			 w->hb_count);
		rc = 0;
	}
	pthread_mutex_unlock(&w->lock);
	r->guest_check = verdict;
	return rc;
}

void kvm_guest_free(struct guest_opts *go)
{
	struct kvm_watch *w = go->priv;

	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
	go->priv = NULL;
}
