/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the kvm backend's state-blob checks (kvm_format.c), the
 * code a destination runs on every vCPU and platform blob from the stream
 * before anything reaches KVM. Input: a byte of vCPU count, a byte of
 * capabilities, then blobs as {u32 vcpu, u32 type, u16 length, bytes}.
 */
#include <stdint.h>
#include <string.h>

#include "backend/kvm/kvm_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xmig__kvm_blobs s;
	struct xmig__kvm_caps caps = { 0 };
	size_t off = 2;

	if (size < 2)
		return 0;
	caps.xsave = data[1] & 1;
	caps.xsave_size = (data[1] & 2) ? 4096 : 1024;
	caps.xcrs = (data[1] >> 2) & 1;
	caps.debugregs = (data[1] >> 3) & 1;
	caps.vcpu_events = (data[1] >> 4) & 1;
	if (xmig__kvm_blobs_init(&s, 1 + data[0] % 4) < 0)
		return 0;
	while (size - off >= 10) {
		uint32_t vcpu, type;
		uint16_t len;

		memcpy(&vcpu, data + off, 4);
		memcpy(&type, data + off + 4, 4);
		memcpy(&len, data + off + 8, 2);
		off += 10;
		if (len > size - off)
			len = (uint16_t)(size - off);
		(void)xmig__kvm_blobs_put(&s, &caps, vcpu, type, data + off, len);
		off += len;
	}
	(void)xmig__kvm_blobs_complete(&s, 32u << 20);
	xmig__kvm_blobs_fini(&s);
	return 0;
}
