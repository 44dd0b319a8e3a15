/*
 * AArch64 (AAPCS64) context switch and the first-entry trampoline of a new
 * context. Saved frame, 176 bytes from the saved sp up (context.c builds the
 * initial one): x19..x28 at 0..72, x29 (fp) 80, x30 (lr) 88, d8..d15 at
 * 96..152, fpcr 160, pad 168.
 */

    .text

/* void bn__ctx_switch(bn_ctx *from, bn_ctx *to) */
    .globl bn__ctx_switch
    .hidden bn__ctx_switch
    .type bn__ctx_switch, %function
    .p2align 4
bn__ctx_switch:
    .cfi_startproc
    sub sp, sp, #176
    .cfi_def_cfa_offset 176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]

    mov x10, sp
    str x10, [x0]
    ldr x10, [x1]
    mov sp, x10

    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    /* Writing fpcr can stall the pipeline; skip it when nothing changes. */
    ldr x10, [sp, #160]
    cmp x9, x10
    b.eq 1f
    msr fpcr, x10
1:
    add sp, sp, #176
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size bn__ctx_switch, .-bn__ctx_switch

/*
 * A new context's first switch "returns" here with entry in x19, its
 * argument in x20, fp = 0 and sp 16-byte aligned over a zeroed frame record.
 * The undefined return address tells unwinders the stack ends here.
 */
    .globl bn__ctx_trampoline
    .hidden bn__ctx_trampoline
    .type bn__ctx_trampoline, %function
    .p2align 4
bn__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov x0, x20
    blr x19
    bl bn__ctx_entry_returned /* does not return */
    brk #0
    .cfi_endproc
    .size bn__ctx_trampoline, .-bn__ctx_trampoline

    .section .note.GNU-stack, "", %progbits
