/*
 * Hierarchical timer wheel (millisecond ticks): BN_TW_LEVELS levels of 64
 * slots; level L covers 64^(L+1) ms. Add, cancel and expiry are O(1)
 * amortised; timers cascade to lower levels as their deadline approaches.
 * Deadlines beyond the last level wait in its farthest slot and re-cascade.
 *
 * The wheel stores bn_timer (bennu/runtime.h): `node` links it into a slot,
 * `expire_ms` is its absolute deadline. A timer is armed iff its node is linked.
 */
#ifndef BENNU_RUNTIME_TIMER_WHEEL_H
#define BENNU_RUNTIME_TIMER_WHEEL_H

#include "bennu/runtime.h"

#define BN_TW_LEVELS 6
#define BN_TW_SLOTS 64

typedef struct bn_timer_wheel {
    uint64_t now;                    /* the last tick processed */
    uint64_t occupied[BN_TW_LEVELS]; /* bit s set: slot s may be non-empty */
    bn_list slots[BN_TW_LEVELS][BN_TW_SLOTS];
} bn_timer_wheel;

void bn__tw_init(bn_timer_wheel *w, uint64_t now_ms);
/** Arms `t` (unlinking it first if armed) for `expire_ms`; a past deadline fires at the next run. */
void bn__tw_add(bn_timer_wheel *w, bn_timer *t, uint64_t expire_ms);
/** Disarms `t` if armed. */
void bn__tw_cancel(bn_timer *t);
/**
 * Milliseconds from w->now until the wheel next needs to run: exact for
 * timers on level 0, a lower bound (a cascade point) for higher levels.
 * UINT64_MAX if no timer is armed. 0 if something is already due.
 */
uint64_t bn__tw_next_delay(bn_timer_wheel *w);
/**
 * Advances to `now_ms`, calling t->cb(t) for every timer whose deadline is
 * <= now_ms, each unlinked before its callback runs (so the callback may
 * re-arm it, or arm and cancel others). Returns the number fired.
 */
size_t bn__tw_run(bn_timer_wheel *w, uint64_t now_ms);

#endif
