/* SPDX-License-Identifier: MIT */
/*
 * vCPU and platform state: save_state on the source (guest parked), and on
 * the destination load_state (check and keep) then restore_complete
 * (apply in dependency order, before READY). Blob types and layouts: xmig/backend/kvm.h.
 *
 * Why keep and apply later: KVM has ordering rules (CPUID before anything
 * that depends on it, e.g. EFER.LME in the special registers or XSAVE
 * components; the TSC last, so guest time continues from the moment the
 * guest starts), and a stream may carry the blobs in any order. All of it
 * is applied in restore_complete, before the receiver says READY, so a
 * KVM_SET_* failure makes the sender resume its guest; unpause only starts
 * the vCPU threads. The TSC and kvmclock set there count on with the
 * host's from that moment, so the guest's time stays right across the
 * READY -> COMMIT round trip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm_internal.h"

#define XMIG__MSR_IA32_TSC 0x10u

void xmig__kvm_note(struct xmig__kvm *k, const char *fmt, ...)
{
	size_t used = strlen(k->notes);
	va_list ap;

	if (used + 3 >= sizeof(k->notes))
		return;
	if (used) {
		k->notes[used++] = ';';
		k->notes[used++] = ' ';
		k->notes[used] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(k->notes + used, sizeof(k->notes) - used, fmt, ap);
	va_end(ap);
	xmig__sanitize(k->notes + used);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- save ---- */

struct saver {
	struct xmig__kvm *k;
	xmig_state_emit_fn emit;
	void *ctx;
	uint8_t *buf; /* header + payload, big enough for any blob */
	size_t cap;
};

static int emit_blob(struct saver *s, uint32_t vcpu, uint32_t type, const void *payload,
		     size_t len)
{
	struct xmig_kvm_state_hdr h = {
		.version = XMIG_KVM_STATE_VERSION, .type = type, .vcpu = vcpu,
		.size = (uint32_t)len,
	};

	if (sizeof(h) + len > s->cap)
		return xmig__fail(XMIG_EBACKEND, "kvm: %s blob too large", xmig__kvm_blob_name(type));
	memcpy(s->buf, &h, sizeof(h));
	if (payload != s->buf + sizeof(h))
		memcpy(s->buf + sizeof(h), payload, len);
	return s->emit(s->ctx, vcpu, type, s->buf, sizeof(h) + len);
}

/* Where a blob built in place goes. */
static void *payload(struct saver *s)
{
	return s->buf + sizeof(struct xmig_kvm_state_hdr);
}

static int save_simple(struct saver *s, struct xmig__kvm_vcpu *v, uint32_t type,
		       unsigned long req, size_t len, const char *what)
{
	void *p = payload(s);

	memset(p, 0, len);
	if (ioctl(v->fd, req, p) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: %s", v->index, what);
	return emit_blob(s, v->index, type, p, len);
}

static int save_cpuid(struct saver *s, struct xmig__kvm_vcpu *v)
{
	struct kvm_cpuid2 *c = payload(s);

	memset(c, 0, sizeof(*c));
	c->nent = XMIG__KVM_MAX_CPUID;
	if (ioctl(v->fd, KVM_GET_CPUID2, c) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: KVM_GET_CPUID2", v->index);
	return emit_blob(s, v->index, XMIG_KVM_STATE_CPUID, c,
			 sizeof(*c) + c->nent * sizeof(c->entries[0]));
}

/*
 * Every MSR KVM lists as saveable. KVM_GET_MSRS stops at the first MSR it
 * cannot read and returns how many it read: note that one, drop it, go on.
 */
static int save_msrs(struct saver *s, struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm *k = s->k;
	struct kvm_msrs *out = payload(s);
	struct kvm_msrs *scratch;
	uint32_t n = 0, pos = 0;
	int err = 0;

	scratch = calloc(1, sizeof(*scratch) + k->nr_msr_index * sizeof(struct kvm_msr_entry));
	if (!scratch)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	memset(out, 0, sizeof(*out));
	while (pos < k->nr_msr_index) {
		uint32_t want = k->nr_msr_index - pos;
		int r;

		memset(scratch, 0, sizeof(*scratch) + want * sizeof(struct kvm_msr_entry));
		scratch->nmsrs = want;
		for (uint32_t i = 0; i < want; i++)
			scratch->entries[i].index = k->msr_index[pos + i];
		r = ioctl(v->fd, KVM_GET_MSRS, scratch);
		if (r < 0) {
			err = xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: KVM_GET_MSRS", v->index);
			goto out;
		}
		memcpy(&out->entries[n], scratch->entries, (size_t)r * sizeof(struct kvm_msr_entry));
		n += (uint32_t)r;
		pos += (uint32_t)r;
		if ((uint32_t)r < want) {
			xmig__kvm_note(k, "vCPU %u: MSR 0x%x unreadable, not migrated", v->index,
				       k->msr_index[pos]);
			pos++;
		}
	}
	out->nmsrs = n;
	err = emit_blob(s, v->index, XMIG_KVM_STATE_MSRS, out,
			sizeof(*out) + n * sizeof(struct kvm_msr_entry));
out:
	free(scratch);
	return err;
}

static int save_vcpu(struct saver *s, struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm *k = s->k;
	struct xmig_kvm_vmm_state *vmm;
	int err;

	err = save_cpuid(s, v);
	if (!err)
		err = save_simple(s, v, XMIG_KVM_STATE_SREGS, KVM_GET_SREGS,
				  sizeof(struct kvm_sregs), "KVM_GET_SREGS");
	if (!err)
		err = save_simple(s, v, XMIG_KVM_STATE_REGS, KVM_GET_REGS, sizeof(struct kvm_regs),
				  "KVM_GET_REGS");
#ifdef KVM_GET_XSAVE2
	if (!err && k->caps.xsave && k->caps.xsave_size > (int)sizeof(struct kvm_xsave))
		err = save_simple(s, v, XMIG_KVM_STATE_XSAVE, KVM_GET_XSAVE2,
				  (size_t)k->caps.xsave_size, "KVM_GET_XSAVE2");
	else
#endif
	if (!err && k->caps.xsave)
		err = save_simple(s, v, XMIG_KVM_STATE_XSAVE, KVM_GET_XSAVE,
				  sizeof(struct kvm_xsave), "KVM_GET_XSAVE");
	else if (!err)
		err = save_simple(s, v, XMIG_KVM_STATE_FPU, KVM_GET_FPU, sizeof(struct kvm_fpu),
				  "KVM_GET_FPU");
	if (!err && k->caps.xcrs)
		err = save_simple(s, v, XMIG_KVM_STATE_XCRS, KVM_GET_XCRS, sizeof(struct kvm_xcrs),
				  "KVM_GET_XCRS");
	if (!err)
		err = save_msrs(s, v);
	if (!err)
		err = save_simple(s, v, XMIG_KVM_STATE_MP_STATE, KVM_GET_MP_STATE,
				  sizeof(struct kvm_mp_state), "KVM_GET_MP_STATE");
	if (!err && k->caps.vcpu_events)
		err = save_simple(s, v, XMIG_KVM_STATE_EVENTS, KVM_GET_VCPU_EVENTS,
				  sizeof(struct kvm_vcpu_events), "KVM_GET_VCPU_EVENTS");
	if (!err && k->caps.debugregs)
		err = save_simple(s, v, XMIG_KVM_STATE_DEBUGREGS, KVM_GET_DEBUGREGS,
				  sizeof(struct kvm_debugregs), "KVM_GET_DEBUGREGS");
	if (err)
		return err;
	vmm = payload(s);
	vmm->halted = (uint32_t)v->halted;
	vmm->line_len = (uint32_t)v->line_len;
	memcpy(vmm + 1, v->line, v->line_len);
	return emit_blob(s, v->index, XMIG_KVM_STATE_VMM, vmm, sizeof(*vmm) + v->line_len);
}

int xmig__kvm_save(struct xmig__kvm *k, xmig_state_emit_fn emit, void *ctx)
{
	struct xmig_kvm_config_state *cfg;
	struct xmig_kvm_clock_state *clk;
	struct kvm_clock_data kc;
	struct saver s = { .k = k, .emit = emit, .ctx = ctx };
	int err = 0;

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: save_state without a guest");
	pthread_mutex_lock(&k->lock);
	if (k->failed)
		err = xmig__fail(XMIG_EGUEST, "%s", k->fail_msg);
	else if (k->exited)
		err = xmig__fail(XMIG_EGUEST, "kvm: the guest has exited (code %d)", k->exit_code);
	for (uint32_t i = 0; i < k->nr_vcpus && !err; i++) {
		const struct xmig__kvm_vcpu *v = &k->vcpus[i];

		if (v->thread_started && !v->parked && !v->stopped)
			err = xmig__fail(XMIG_EINVAL, "kvm: save_state: vCPU %u runs; pause first", i);
	}
	pthread_mutex_unlock(&k->lock);
	if (err)
		return err;

	k->notes[0] = '\0';
	s.cap = sizeof(struct xmig_kvm_state_hdr) + 65536 + (size_t)k->caps.xsave_size +
		sizeof(struct kvm_msrs) + k->nr_msr_index * sizeof(struct kvm_msr_entry);
	s.buf = calloc(1, s.cap);
	if (!s.buf)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");

	cfg = payload(&s);
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_bytes = k->mem_bytes;
	cfg->nr_vcpus = k->nr_vcpus;
	err = emit_blob(&s, XMIG_STATE_PLATFORM, XMIG_KVM_STATE_CONFIG, cfg, sizeof(*cfg));
	if (err)
		goto out;

	memset(&kc, 0, sizeof(kc));
	if (ioctl(k->vm_fd, KVM_GET_CLOCK, &kc) < 0) {
		err = xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_GET_CLOCK");
		goto out;
	}
	clk = payload(&s);
	memset(clk, 0, sizeof(*clk));
	/* Stamped before the TSCs are read: the destination's TSC may come out
	 * a few microseconds ahead, never behind. */
	clk->realtime_ns = realtime_ns();
	clk->tsc_khz = k->host_tsc_khz;
	clk->kvmclock_ns = kc.clock;
	clk->kvmclock_flags = kc.flags;
	err = emit_blob(&s, XMIG_STATE_PLATFORM, XMIG_KVM_STATE_CLOCK, clk, sizeof(*clk));
	if (err)
		goto out;

	for (uint32_t i = 0; i < k->nr_vcpus && !err; i++)
		err = save_vcpu(&s, &k->vcpus[i]);
out:
	free(s.buf);
	return err;
}

/* ---- load ---- */

int xmig__kvm_load(struct xmig__kvm *k, uint32_t vcpu, uint32_t type, const void *data,
		   size_t len)
{
	if (k->phase != XMIG__KVM_CREATED)
		return xmig__fail(XMIG_EINVAL, "kvm: load_state needs a created, not yet "
					       "started guest");
	return xmig__kvm_blobs_put(&k->blobs, &k->caps, vcpu, type, data, len);
}

/* ---- restore ---- */

static struct xmig__kvm_blob *blob_of(struct xmig__kvm_vcpu *v, uint32_t type)
{
	return &v->vm->blobs.vcpu[v->index][type];
}

static int apply(struct xmig__kvm_vcpu *v, uint32_t type, unsigned long req, const char *what)
{
	struct xmig__kvm_blob *b = blob_of(v, type);

	if (!b->data)
		return 0;
	if (ioctl(v->fd, req, b->data) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: %s", v->index, what);
	return 0;
}

static int apply_xsave(struct xmig__kvm *k, struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm_blob *b = blob_of(v, XMIG_KVM_STATE_XSAVE);
	void *area;
	int err = 0;

	if (!b->data)
		return apply(v, XMIG_KVM_STATE_FPU, KVM_SET_FPU, "KVM_SET_FPU");
	/* KVM_SET_XSAVE reads the host's full XSAVE size: pad a shorter area. */
	area = calloc(1, (size_t)k->caps.xsave_size);
	if (!area)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	memcpy(area, b->data, b->len);
	if (ioctl(v->fd, KVM_SET_XSAVE, area) < 0)
		err = xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: KVM_SET_XSAVE", v->index);
	free(area);
	return err;
}

/* One MSR through KVM_GET_MSRS or KVM_SET_MSRS; 0 or -1 (errno set). */
static int msr_one(struct xmig__kvm_vcpu *v, unsigned long req, uint32_t index, uint64_t *value)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(struct kvm_msr_entry));
	int r;

	if (!m) {
		errno = ENOMEM;
		return -1;
	}
	m->nmsrs = 1;
	m->entries[0].index = index;
	m->entries[0].data = *value;
	r = ioctl(v->fd, req, m);
	*value = m->entries[0].data;
	free(m);
	if (r == 1)
		return 0;
	if (r >= 0)
		errno = EINVAL;
	return -1;
}

static int msr_read(struct xmig__kvm_vcpu *v, uint32_t index, uint64_t *value)
{
	*value = 0;
	return msr_one(v, KVM_GET_MSRS, index, value);
}

static int msr_write(struct xmig__kvm_vcpu *v, uint32_t index, uint64_t value)
{
	return msr_one(v, KVM_SET_MSRS, index, &value);
}

/*
 * Every MSR but the TSC (set last, see restore_time). KVM_SET_MSRS stops at
 * the first MSR it refuses: that is fine if this vCPU holds the value
 * already (KVM refuses some writes of the reset value, e.g. ASYNC_PF_INT
 * without an in-kernel LAPIC), an error otherwise.
 */
static int apply_msrs(struct xmig__kvm *k, struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm_blob *b = blob_of(v, XMIG_KVM_STATE_MSRS);
	struct kvm_msrs *src = b->data, *set;
	uint32_t n = 0, pos = 0;
	int err = 0;

	set = calloc(1, sizeof(*set) + src->nmsrs * sizeof(struct kvm_msr_entry));
	if (!set)
		return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	for (uint32_t i = 0; i < src->nmsrs; i++)
		if (src->entries[i].index != XMIG__MSR_IA32_TSC)
			set->entries[n++] = src->entries[i];
	while (pos < n) {
		struct kvm_msrs *batch = set;
		uint32_t want = n - pos;
		uint64_t have;
		int r;

		/* Slide the remaining entries to the front of the array. */
		if (pos)
			memmove(&set->entries[0], &set->entries[pos],
				want * sizeof(struct kvm_msr_entry));
		n = want;
		pos = 0;
		batch->nmsrs = want;
		batch->pad = 0;
		r = ioctl(v->fd, KVM_SET_MSRS, batch);
		if (r < 0) {
			err = xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: KVM_SET_MSRS", v->index);
			goto out;
		}
		pos = (uint32_t)r;
		if (pos < n) {
			const struct kvm_msr_entry *e = &set->entries[pos];

			if (msr_read(v, e->index, &have) < 0 || have != e->data) {
				err = xmig__fail(XMIG_EBACKEND,
						 "kvm: vCPU %u: KVM refuses MSR 0x%x = 0x%llx",
						 v->index, e->index, (unsigned long long)e->data);
				goto out;
			}
			xmig__kvm_note(k, "vCPU %u: MSR 0x%x = 0x%llx refused, already so",
				       v->index, e->index, (unsigned long long)e->data);
			pos++;
		}
	}
out:
	free(set);
	return err;
}

static int apply_events(struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm_blob *b = blob_of(v, XMIG_KVM_STATE_EVENTS);
	struct kvm_vcpu_events ev;

	if (!b->data)
		return 0;
	memcpy(&ev, b->data, sizeof(ev));
	/* The fields GET always fills: have SET take them. */
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: KVM_SET_VCPU_EVENTS",
					v->index);
	return 0;
}

static void apply_vmm(struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm_blob *b = blob_of(v, XMIG_KVM_STATE_VMM);
	struct xmig_kvm_vmm_state m;

	memcpy(&m, b->data, sizeof(m));
	v->halted = (int)m.halted;
	v->stopped = v->halted;
	memcpy(v->line, (const uint8_t *)b->data + sizeof(m), m.line_len);
	v->line_len = m.line_len;
}

static int restore_vcpu(struct xmig__kvm *k, struct xmig__kvm_vcpu *v)
{
	int err;

	err = apply(v, XMIG_KVM_STATE_CPUID, KVM_SET_CPUID2, "KVM_SET_CPUID2");
	if (!err)
		err = apply(v, XMIG_KVM_STATE_SREGS, KVM_SET_SREGS, "KVM_SET_SREGS");
	if (!err)
		err = apply(v, XMIG_KVM_STATE_REGS, KVM_SET_REGS, "KVM_SET_REGS");
	if (!err)
		err = apply(v, XMIG_KVM_STATE_XCRS, KVM_SET_XCRS, "KVM_SET_XCRS");
	if (!err)
		err = apply_xsave(k, v);
	if (!err)
		err = apply_msrs(k, v);
	if (!err)
		err = apply(v, XMIG_KVM_STATE_MP_STATE, KVM_SET_MP_STATE, "KVM_SET_MP_STATE");
	if (!err)
		err = apply_events(v);
	if (!err)
		err = apply(v, XMIG_KVM_STATE_DEBUGREGS, KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS");
	if (!err)
		apply_vmm(v);
	return err;
}

/*
 * Guest time goes on: the kvmclock and every TSC continue from the saved
 * values plus the wall-clock time since save_state.
 */
static int restore_time(struct xmig__kvm *k)
{
	struct xmig_kvm_clock_state clk;
	struct kvm_clock_data kc;
	uint64_t now = realtime_ns(), elapsed_ns, delta_tsc;

	memcpy(&clk, k->blobs.clock.data, sizeof(clk));
	elapsed_ns = now > clk.realtime_ns ? now - clk.realtime_ns : 0;
	if (clk.tsc_khz != k->host_tsc_khz) {
		for (uint32_t i = 0; i < k->nr_vcpus; i++)
			if (ioctl(k->vcpus[i].fd, KVM_SET_TSC_KHZ, (unsigned long)clk.tsc_khz) < 0)
				return xmig__fail_errno(XMIG_ENOTSUP,
							"kvm: the guest's TSC runs at %u kHz, "
							"this host's at %u kHz and KVM cannot "
							"scale it",
							clk.tsc_khz, k->host_tsc_khz);
	}
	memset(&kc, 0, sizeof(kc));
	kc.clock = clk.kvmclock_ns + elapsed_ns;
	if (ioctl(k->vm_fd, KVM_SET_CLOCK, &kc) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_SET_CLOCK");

	delta_tsc = (uint64_t)((unsigned __int128)elapsed_ns * clk.tsc_khz / 1000000u);
	for (uint32_t i = 0; i < k->nr_vcpus; i++) {
		struct xmig__kvm_vcpu *v = &k->vcpus[i];
		const struct kvm_msrs *m = blob_of(v, XMIG_KVM_STATE_MSRS)->data;

		for (uint32_t j = 0; j < m->nmsrs; j++) {
			if (m->entries[j].index != XMIG__MSR_IA32_TSC)
				continue;
			if (msr_write(v, XMIG__MSR_IA32_TSC, m->entries[j].data + delta_tsc) < 0)
				return xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u: set TSC", i);
		}
	}
	return 0;
}

int xmig__kvm_restore(struct xmig__kvm *k)
{
	int err;

	k->notes[0] = '\0';
	err = xmig__kvm_blobs_complete(&k->blobs, k->mem_bytes);
	for (uint32_t i = 0; i < k->nr_vcpus && !err; i++)
		err = restore_vcpu(k, &k->vcpus[i]);
	if (!err)
		err = restore_time(k);
	if (!err)
		xmig__kvm_blobs_fini(&k->blobs);
	return err;
}
