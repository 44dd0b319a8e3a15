/*
 * x86-64 SysV context switch and the first-entry trampoline of a new context.
 * Saved frame, from the saved sp up (context.c builds the initial one):
 *   [0] mxcsr (4 bytes), x87 control word (2), pad   [8] r15  [16] r14
 *   [24] r13  [32] r12  [40] rbx  [48] rbp  [56] return address
 */

    .text

/* void bn__ctx_switch(bn_ctx *from, bn_ctx *to) */
    .globl bn__ctx_switch
    .hidden bn__ctx_switch
    .type bn__ctx_switch, @function
    .p2align 4
bn__ctx_switch:
    .cfi_startproc
#if defined(__CET__) && (__CET__ & 1)
    endbr64
#endif
    /* Both stacks share this layout at every instruction, so the CFI below
     * stays true across the stack swap. */
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)

    movq %rsp, (%rdi)
    movq (%rsi), %rsp

    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size bn__ctx_switch, .-bn__ctx_switch

/*
 * A new context's first switch "returns" here with entry in r12, its
 * argument in r13, rbp = 0 and rsp 16-byte aligned over a zeroed word.
 * The undefined return address tells unwinders the stack ends here.
 */
    .globl bn__ctx_trampoline
    .hidden bn__ctx_trampoline
    .type bn__ctx_trampoline, @function
    .p2align 4
bn__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined %rip
    movq %r13, %rdi
    call *%r12
    call bn__ctx_entry_returned /* does not return */
    ud2
    .cfi_endproc
    .size bn__ctx_trampoline, .-bn__ctx_trampoline

    .section .note.GNU-stack, "", %progbits
