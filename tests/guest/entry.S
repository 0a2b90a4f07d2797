/* SPDX-License-Identifier: MIT */
/*
 * PVH entry of the xmig test guest.
 *
 * The loader (QEMU's PVH option ROM, Xen, the xmig KVM VMM) enters at
 * xg_pvh_start in 32-bit protected mode with flat segments, paging off and
 * interrupts off, %ebx holding the physical address of hvm_start_info.
 * This stub identity-maps the first 4 GiB with 2 MiB pages, switches to
 * long mode and calls xg_main(start_info_paddr). mem.c maps RAM above
 * 4 GiB later, from C, if there is any.
 *
 * Only plain integer instructions: the guest also runs under KVM's
 * instruction emulator, which knows fewer instructions than a CPU.
 */

#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)

#define PTE_P 0x001
#define PTE_RW 0x002
#define PTE_PS 0x080 /* 2 MiB page in a page directory */

#define GDT_CODE64 0x08
#define GDT_DATA 0x10

#define BOOT_STACK_SIZE 16384

/*
 * The PVH note: name "Xen", type PHYS32_ENTRY, an 8-byte descriptor holding
 * the entry address. An 8-byte value is what QEMU reads from a 64-bit ELF,
 * and its low half is the 32-bit value other readers expect.
 */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4f - 3f
	.long 6f - 5f
	.long XEN_ELFNOTE_PHYS32_ENTRY
3:	.asciz "Xen"
4:	.balign 4
5:	.quad xg_pvh_start
6:	.balign 4

	.section .text.entry, "ax"
	.code32
	.globl xg_pvh_start
xg_pvh_start:
	cli
	cld
	movl %ebx, %esi                 /* keep the start info pointer for C */
	movl $xg_boot_stack_top, %esp

	/*
	 * Zero .bss ourselves: the page tables below must start empty and not
	 * every loader is known to clear memsz beyond filesz.
	 */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl

	/* PML4[0] -> PDPT; PDPT[0..3] -> the four page directories */
	movl $xg_pdpt, %eax
	orl $(PTE_P | PTE_RW), %eax
	movl %eax, xg_pml4

	movl $xg_pd, %eax
	orl $(PTE_P | PTE_RW), %eax
	xorl %ecx, %ecx
1:	movl %eax, xg_pdpt(, %ecx, 8)
	addl $4096, %eax
	incl %ecx
	cmpl $4, %ecx
	jne 1b

	/* 2048 directory entries of 2 MiB: 0 .. 4 GiB, identity */
	movl $(PTE_P | PTE_RW | PTE_PS), %eax
	xorl %ecx, %ecx
2:	movl %eax, xg_pd(, %ecx, 8)
	addl $0x200000, %eax
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4

	movl $xg_pml4, %eax
	movl %eax, %cr3

	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr

	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0

	lgdt xg_gdt_desc
	ljmp $GDT_CODE64, $xg_long_start

	.code64
xg_long_start:
	movl $GDT_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq $xg_boot_stack_top, %rsp
	movl %esi, %edi                 /* xg_main(start_info_paddr) */
	call xg_main
	/* xg_main does not return; if it ever does, stop here for good. */
7:	cli
	hlt
	jmp 7b

	.section .rodata
	.balign 8
xg_gdt:
	.quad 0                         /* null */
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10: flat data */
xg_gdt_end:
xg_gdt_desc:
	.word xg_gdt_end - xg_gdt - 1
	.quad xg_gdt

	.section .bss.pagetables, "aw", @nobits
	.balign 4096
	.globl xg_pml4, xg_pdpt, xg_pd
xg_pml4:
	.skip 4096
xg_pdpt:
	.skip 4096
xg_pd:
	.skip 4 * 4096

	.section .bss.stack, "aw", @nobits
	.balign 16
	.skip BOOT_STACK_SIZE
xg_boot_stack_top:

	.section .note.GNU-stack, "", @progbits
