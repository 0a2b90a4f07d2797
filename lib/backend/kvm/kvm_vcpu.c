/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads: each loops on KVM_RUN and handles the exits this small
 * machine knows (ports 0xe9 and 0xf4, HLT); anything else stops the guest
 * with a message.
 *
 * Parking (pause): the engine sets want_park, sets immediate_exit in every
 * vCPU's kvm_run and sends XMIG_KVM_KICK_SIGNAL to every thread. A thread
 * in guest mode leaves KVM_RUN with EINTR; one busy in user space finds
 * immediate_exit set when it calls KVM_RUN next. A thread parks only after
 * a KVM_RUN that returned EINTR: KVM finishes the I/O of the previous exit
 * (advancing RIP past the OUT) before it looks at immediate_exit, so the
 * registers a parked vCPU shows are consistent and a migrated guest never
 * repeats a port write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm_internal.h"

#define XMIG__KVM_PORT_CONSOLE 0xe9
#define XMIG__KVM_PORT_EXIT 0xf4
#define XMIG__KVM_PARK_TIMEOUT_S 10

static void kick_handler(int sig)
{
	(void)sig;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int kick_err;

static void kick_install(void)
{
	struct sigaction old, sa;
	int sig = XMIG_KVM_KICK_SIGNAL;

	if (sig > SIGRTMAX) {
		kick_err = xmig__fail(XMIG_ENOTSUP, "kvm: no real-time signal SIGRTMIN+7");
		return;
	}
	if (sigaction(sig, NULL, &old) < 0) {
		kick_err = xmig__fail_errno(XMIG_EBACKEND, "kvm: sigaction(%d)", sig);
		return;
	}
	/* An application handler stays: it runs on each kick, which is harmless. */
	if (!(old.sa_flags & SA_SIGINFO) &&
	    (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL) < 0)
			kick_err = xmig__fail_errno(XMIG_EBACKEND, "kvm: sigaction(%d)", sig);
	}
}

int xmig__kvm_kick_signal_setup(void)
{
	pthread_once(&kick_once, kick_install);
	return kick_err;
}

/* Ask vCPU `v` to leave KVM_RUN soon. Caller holds the lock. */
static void kick(struct xmig__kvm_vcpu *v)
{
	if (!v->thread_started || v->stopped)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, XMIG_KVM_KICK_SIGNAL);
}

static void kick_all(struct xmig__kvm *k)
{
	for (uint32_t i = 0; i < k->nr_vcpus; i++)
		kick(&k->vcpus[i]);
}

static int all_stopped(const struct xmig__kvm *k)
{
	for (uint32_t i = 0; i < k->nr_vcpus; i++)
		if (!k->vcpus[i].stopped)
			return 0;
	return 1;
}

/*
 * Stop the guest because of vCPU `v`: the first failure wins and names the
 * cause. The other vCPUs are stopped too: a guest half dead is not worth
 * running. Called by the vCPU thread, without the lock.
 */
static void XMIG__PRINTF(2, 3) vcpu_fail(struct xmig__kvm_vcpu *v, const char *fmt, ...)
{
	struct xmig__kvm *k = v->vm;
	struct kvm_regs regs;
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	memset(&regs, 0, sizeof(regs));
	(void)ioctl(v->fd, KVM_GET_REGS, &regs);

	pthread_mutex_lock(&k->lock);
	if (!k->failed && !k->exited) {
		k->failed = 1;
		snprintf(k->fail_msg, sizeof(k->fail_msg), "kvm: vCPU %u: %s (rip 0x%llx)",
			 v->index, what, (unsigned long long)regs.rip);
	}
	v->stopped = 1;
	kick_all(k);
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

static void console_flush(struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm *k = v->vm;

	if (v->line_len && k->console_fn)
		k->console_fn(v->line, v->line_len, k->console_payload);
	v->line_len = 0;
}

static void console_bytes(struct xmig__kvm_vcpu *v, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		v->line[v->line_len++] = (char)p[i];
		if (p[i] == '\n' || v->line_len == sizeof(v->line))
			console_flush(v);
	}
}

static const char *internal_suberror(uint32_t s)
{
	switch (s) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected hardware exit reason";
	default:
		return "unknown suberror";
	}
}

static void internal_error(struct xmig__kvm_vcpu *v)
{
	const struct kvm_run *run = v->run;
	uint32_t sub = run->internal.suberror;
	char extra[200] = "";
	size_t used = 0;

#ifdef KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES
	if (sub == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	    run->emulation_failure.ndata >= 3) {
		unsigned int n = run->emulation_failure.insn_size;

		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		used = (size_t)snprintf(extra, sizeof(extra), ", instruction bytes");
		for (unsigned int i = 0; i < n && used < sizeof(extra); i++)
			used += (size_t)snprintf(extra + used, sizeof(extra) - used, " %02x",
						 run->emulation_failure.insn_bytes[i]);
	} else
#endif
	{
		uint32_t nd = run->internal.ndata;

		if (nd > XMIG__ARRAY_SIZE(run->internal.data))
			nd = XMIG__ARRAY_SIZE(run->internal.data);
		for (uint32_t i = 0; i < nd && used < sizeof(extra); i++)
			used += (size_t)snprintf(extra + used, sizeof(extra) - used, "%s0x%llx",
						 i ? " " : ", data ",
						 (unsigned long long)run->internal.data[i]);
	}
	vcpu_fail(v, "KVM internal error, suberror %u (%s)%s", sub, internal_suberror(sub), extra);
}

static int handle_io(struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm *k = v->vm;
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t bytes = (size_t)run->io.size * run->io.count;
	int out = run->io.direction == KVM_EXIT_IO_OUT;

	if (run->io.data_offset + bytes > (size_t)k->run_size) {
		vcpu_fail(v, "I/O exit with data outside kvm_run");
		return 1;
	}
	if (run->io.port == XMIG__KVM_PORT_CONSOLE) {
		if (out)
			console_bytes(v, data, bytes);
		else
			memset(data, XMIG__KVM_PORT_CONSOLE, bytes);
		return 0;
	}
	if (run->io.port == XMIG__KVM_PORT_EXIT && out) {
		uint32_t code = data[0];

		if (run->io.size >= 2)
			code |= (uint32_t)data[1] << 8;
		if (run->io.size >= 4)
			code |= (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
		console_flush(v);
		pthread_mutex_lock(&k->lock);
		if (!k->failed && !k->exited) {
			k->exited = 1;
			k->exit_code = (int)code;
		}
		v->stopped = 1;
		kick_all(k);
		pthread_cond_broadcast(&k->cond);
		pthread_mutex_unlock(&k->lock);
		return 1;
	}
	vcpu_fail(v, "unexpected I/O: %s of %u byte(s) x %u at port 0x%x", out ? "out" : "in",
		  run->io.size, run->io.count, run->io.port);
	return 1;
}

static int handle_halt(struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm *k = v->vm;

	pthread_mutex_lock(&k->lock);
	v->halted = 1;
	v->stopped = 1;
	if (all_stopped(k) && !k->exited && !k->failed) {
		k->failed = 1;
		snprintf(k->fail_msg, sizeof(k->fail_msg),
			 "kvm: every vCPU halted (last: vCPU %u) without writing an exit code "
			 "to port 0xf4",
			 v->index);
	}
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	return 1;
}

/* 0: run again; 1: this vCPU stopped. */
static int handle_exit(struct xmig__kvm_vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v);
	case KVM_EXIT_HLT:
		return handle_halt(v);
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_MMIO:
		vcpu_fail(v, "%s of %u byte(s) at guest-physical 0x%llx, outside RAM",
			  run->mmio.is_write ? "write" : "read", run->mmio.len,
			  (unsigned long long)run->mmio.phys_addr);
		return 1;
	case KVM_EXIT_INTERNAL_ERROR:
		internal_error(v);
		return 1;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return 1;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(v, "VM entry failed, hardware reason 0x%llx",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 1;
	case KVM_EXIT_UNKNOWN:
		vcpu_fail(v, "unknown exit, hardware reason 0x%llx",
			  (unsigned long long)run->hw.hardware_exit_reason);
		return 1;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_fail(v, "system event %u", run->system_event.type);
		return 1;
	default:
		vcpu_fail(v, "unexpected exit reason %u", run->exit_reason);
		return 1;
	}
}

/* After KVM_RUN returned EINTR: 0 to run again, 1 to return. */
static int vcpu_interrupted(struct xmig__kvm_vcpu *v)
{
	struct xmig__kvm *k = v->vm;
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	while (k->want_park && !k->quit && !k->failed && !k->exited) {
		v->parked = 1;
		pthread_cond_broadcast(&k->cond);
		pthread_cond_wait(&k->cond, &k->lock);
	}
	v->parked = 0;
	if (k->quit || k->failed || k->exited) {
		v->stopped = 1;
		pthread_cond_broadcast(&k->cond);
		ret = 1;
	}
	pthread_mutex_unlock(&k->lock);
	return ret;
}

static void *vcpu_main(void *arg)
{
	struct xmig__kvm_vcpu *v = arg;
	struct xmig__kvm *k = v->vm;
	int quit;

	/*
	 * No guest code runs before every vCPU thread exists: if one could not
	 * be started, the guest must not have run at all (on a destination it
	 * would otherwise have run beside the source).
	 */
	pthread_mutex_lock(&k->lock);
	while (!k->released && !k->quit)
		pthread_cond_wait(&k->cond, &k->lock);
	quit = k->quit;
	pthread_mutex_unlock(&k->lock);
	if (quit)
		return NULL;
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN) {
				if (vcpu_interrupted(v))
					break;
				continue;
			}
			vcpu_fail(v, "KVM_RUN: %s", strerror(e));
			break;
		}
		if (handle_exit(v))
			break;
	}
	return NULL;
}

int xmig__kvm_threads_start(struct xmig__kvm *k)
{
	sigset_t all, old;
	int err = 0;

	sigfillset(&all);
	sigdelset(&all, XMIG_KVM_KICK_SIGNAL);
	/* The threads inherit this mask: only kicks reach them. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Under the lock, so a vCPU that fails at once sees every sibling. */
	pthread_mutex_lock(&k->lock);
	k->released = 0;
	for (uint32_t i = 0; i < k->nr_vcpus; i++) {
		struct xmig__kvm_vcpu *v = &k->vcpus[i];
		int r;

		if (v->stopped || v->thread_started)
			continue;
		v->run->immediate_exit = 0;
		r = pthread_create(&v->thread, NULL, vcpu_main, v);
		if (r) {
			errno = r;
			err = xmig__fail_errno(XMIG_EBACKEND, "kvm: vCPU %u thread", i);
			break;
		}
		v->thread_started = 1;
	}
	if (!err) {
		k->released = 1;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	xmig__kvm_set_phase(k, XMIG__KVM_RUNNING);
	if (err)
		xmig__kvm_threads_stop(k);
	return err;
}

/* Stop and join every vCPU thread; the VM stays. */
void xmig__kvm_threads_stop(struct xmig__kvm *k)
{
	pthread_mutex_lock(&k->lock);
	k->quit = 1;
	kick_all(k);
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	for (uint32_t i = 0; i < k->nr_vcpus; i++) {
		struct xmig__kvm_vcpu *v = &k->vcpus[i];

		if (v->thread_started)
			pthread_join(v->thread, NULL);
		v->thread_started = 0;
	}
	pthread_mutex_lock(&k->lock);
	k->quit = 0;
	k->want_park = 0;
	pthread_mutex_unlock(&k->lock);
}

static int all_parked(const struct xmig__kvm *k, uint32_t *laggard)
{
	for (uint32_t i = 0; i < k->nr_vcpus; i++) {
		const struct xmig__kvm_vcpu *v = &k->vcpus[i];

		if (v->thread_started && !v->parked && !v->stopped) {
			*laggard = i;
			return 0;
		}
	}
	return 1;
}

/* Pause: return once no vCPU is inside KVM_RUN. */
int xmig__kvm_park(struct xmig__kvm *k)
{
	struct timespec deadline;
	uint32_t laggard = 0;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += XMIG__KVM_PARK_TIMEOUT_S;
	pthread_mutex_lock(&k->lock);
	k->want_park = 1;
	kick_all(k);
	while (!all_parked(k, &laggard)) {
		if (pthread_cond_timedwait(&k->cond, &k->lock, &deadline) == ETIMEDOUT &&
		    !all_parked(k, &laggard)) {
			err = xmig__fail(XMIG_EBACKEND, "kvm: vCPU %u did not leave KVM_RUN in %d s",
					 laggard, XMIG__KVM_PARK_TIMEOUT_S);
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return err;
}

/* Resume: let parked vCPUs run again. */
void xmig__kvm_unpark(struct xmig__kvm *k)
{
	pthread_mutex_lock(&k->lock);
	for (uint32_t i = 0; i < k->nr_vcpus; i++)
		if (k->vcpus[i].run)
			__atomic_store_n(&k->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	k->want_park = 0;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}
