/* SPDX-License-Identifier: MIT */
/*
 * Pages of private anonymous memory that were never written read as zero,
 * and the host's page table knows which they are (/proc/self/pagemap: an
 * entry neither present nor swapped out). A backend whose guest memory is
 * such a mapping (sim, kvm) hands out xmig__zero_page for those pages
 * instead of the page itself: reading a never-touched page would make the
 * kernel fault it in, which costs about 1-20 us a page depending on the
 * host (and, on some kernels, allocates it), so a 64 GiB guest announced
 * but never sent would cost its size in host memory to read once.
 *
 * Not valid for shared mappings (a page not mapped in this process may
 * hold data in the page cache) nor for foreign (Xen) mappings.
 */
#ifndef XMIG_LIB_PAGEMAP_H
#define XMIG_LIB_PAGEMAP_H

#include <stdint.h>

#define XMIG__ZERO_PAGE_SIZE 4096u

/* One page of zeros. The engine recognises it by its address. */
extern const uint8_t xmig__zero_page[XMIG__ZERO_PAGE_SIZE];

/* /proc/self/pagemap opened read-only, or -1 (then nothing is skipped). */
int xmig__pagemap_open(void);

/*
 * `base` is guest memory of 4096-byte pages, private and anonymous; page
 * pfns[i] is at base + pfns[i] * 4096 and ptrs[i] points there. Every such
 * page that was never written gets ptrs[i] = xmig__zero_page. The pfns may
 * come in any order. Best effort: on any error the pointers stay as they
 * are; a NULL pointer (an absent frame) stays NULL. A write racing with
 * this call is the caller's dirty log's concern:
 * the page was zero when its entry was read.
 */
void xmig__pagemap_untouched(int fd, const uint8_t *base, const uint64_t *pfns, unsigned int n,
			     void **ptrs);

#endif
