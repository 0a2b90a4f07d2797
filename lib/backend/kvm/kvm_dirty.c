/* SPDX-License-Identifier: MIT */
/*
 * Dirty logging through the slot's bitmap (why not the dirty ring: see the
 * probe findings in kvm_vm.c).
 *
 * Logging is switched on by setting KVM_MEM_LOG_DIRTY_PAGES on the slot, so
 * a guest that is not being migrated runs without write tracking. With
 * manual protect, KVM_GET_DIRTY_LOG only copies the bitmap and
 * KVM_CLEAR_DIRTY_LOG re-arms exactly the pages it was given; a write that
 * lands between the two is in the bitmap we return, and the engine reads
 * page contents only after the fetch, so nothing is lost. Without manual
 * protect, KVM_GET_DIRTY_LOG does both at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

int xmig__kvm_log_start(struct xmig__kvm *k)
{
	int err;

	if (k->phase == XMIG__KVM_EMPTY)
		return xmig__fail(XMIG_EINVAL, "kvm: log_dirty_start without a guest");
	if (k->logging)
		return 0;
	if (!k->slot_bitmap) {
		k->slot_bitmap = calloc(xmig__kvm_bitmap_words(k->nr_pages), sizeof(uint64_t));
		if (!k->slot_bitmap)
			return xmig__fail(XMIG_ENOMEM, "kvm: out of memory");
	}
	err = xmig__kvm_set_slot_flags(k, KVM_MEM_LOG_DIRTY_PAGES);
	if (err)
		return err;
	k->logging = 1;
	return 0;
}

int xmig__kvm_log_stop(struct xmig__kvm *k)
{
	int err;

	if (!k->logging || k->phase == XMIG__KVM_EMPTY)
		return 0;
	err = xmig__kvm_set_slot_flags(k, 0);
	if (err)
		return err;
	k->logging = 0;
	return 0;
}

int xmig__kvm_log_fetch(struct xmig__kvm *k, uint64_t *bitmap)
{
	struct kvm_dirty_log get;
	size_t words = xmig__kvm_bitmap_words(k->nr_pages);
	int any;

	if (!k->logging)
		return xmig__fail(XMIG_EINVAL, "kvm: dirty_fetch while logging is off");
	memset(k->slot_bitmap, 0, words * sizeof(uint64_t));
	memset(&get, 0, sizeof(get));
	get.slot = 0;
	get.dirty_bitmap = k->slot_bitmap;
	if (ioctl(k->vm_fd, KVM_GET_DIRTY_LOG, &get) < 0)
		return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_GET_DIRTY_LOG");
	any = xmig__kvm_dirty_merge(bitmap, k->slot_bitmap, k->nr_pages);
	if (k->cap_manual_protect && any) {
		struct kvm_clear_dirty_log clear;

		memset(&clear, 0, sizeof(clear));
		clear.slot = 0;
		clear.first_page = 0;
		clear.num_pages = (uint32_t)k->nr_pages;
		clear.dirty_bitmap = k->slot_bitmap;
		if (ioctl(k->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
			return xmig__fail_errno(XMIG_EBACKEND, "kvm: KVM_CLEAR_DIRTY_LOG");
	}
	return 0;
}
