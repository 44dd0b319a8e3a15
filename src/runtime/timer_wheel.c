/*
 * Hierarchical timer wheel: 6 levels x 64 slots of 1 ms ticks. bn__tw_run
 * jumps straight from one interesting tick to the next using the occupancy
 * bitmaps, so a long idle stretch costs a few bit scans, not one step per ms.
 */
#include "runtime/timer_wheel.h"

#define LEVEL_BITS 6
#define SLOT_MASK (BN_TW_SLOTS - 1)
/* Largest delta the wheel can place; later deadlines wait in the farthest slot. */
#define MAX_DELTA ((UINT64_C(1) << (LEVEL_BITS * BN_TW_LEVELS)) - 1)

static inline uint64_t bit(unsigned slot) { return UINT64_C(1) << slot; }

static inline uint64_t rotr64(uint64_t x, unsigned n)
{
    n &= 63;
    return n ? (x >> n) | (x << (64 - n)) : x;
}

/*
 * Files `t` by its deadline relative to w->now. A past deadline is treated as
 * "now": it lands in level 0's current slot, which only ever holds due timers
 * (future level-0 deadlines are 1..63 ticks ahead, so never map there).
 */
static void place(bn_timer_wheel *w, bn_timer *t)
{
    uint64_t delta = t->expire_ms > w->now ? t->expire_ms - w->now : 0;
    if (delta > MAX_DELTA)
        delta = MAX_DELTA;
    uint64_t at = w->now + delta;
    /* Level L holds deltas in [64^L, 64^(L+1)). */
    unsigned level = delta < BN_TW_SLOTS ? 0 : (unsigned)(63 - __builtin_clzll(delta)) / LEVEL_BITS;
    unsigned slot = (unsigned)(at >> (LEVEL_BITS * level)) & SLOT_MASK;
    bn_list_push_back(&w->slots[level][slot], &t->node);
    w->occupied[level] |= bit(slot);
}

void bn__tw_init(bn_timer_wheel *w, uint64_t now_ms)
{
    w->now = now_ms;
    for (unsigned l = 0; l < BN_TW_LEVELS; l++) {
        w->occupied[l] = 0;
        for (unsigned s = 0; s < BN_TW_SLOTS; s++)
            bn_list_init(&w->slots[l][s]);
    }
}

void bn__tw_add(bn_timer_wheel *w, bn_timer *t, uint64_t expire_ms)
{
    if (bn_list_linked(&t->node))
        bn_list_remove(&t->node);
    t->expire_ms = expire_ms;
    place(w, t);
}

void bn__tw_cancel(bn_timer *t)
{
    if (bn_list_linked(&t->node))
        bn_list_remove(&t->node);
}

/*
 * The first tick after w->now at which `level` needs attention (a level-0
 * slot to fire, or a higher-level slot to cascade), or UINT64_MAX. Bits of
 * slots found empty (left behind by cancels) are cleared on the way.
 */
static uint64_t level_next_tick(bn_timer_wheel *w, unsigned level)
{
    unsigned shift = LEVEL_BITS * level;
    uint64_t cur = w->now >> shift;
    for (;;) {
        uint64_t bits = w->occupied[level];
        if (level == 0)
            bits &= ~bit((unsigned)cur & SLOT_MASK); /* the due slot is not "after now" */
        if (!bits)
            return UINT64_MAX;
        /* Distance 1..64 to the next set slot, counting circularly past cur.
         * 64 (cur's own slot) only happens above level 0: the next round. */
        unsigned d = (unsigned)__builtin_ctzll(rotr64(bits, (unsigned)(cur + 1))) + 1;
        unsigned slot = (unsigned)(cur + d) & SLOT_MASK;
        if (!bn_list_empty(&w->slots[level][slot]))
            return (cur + d) << shift;
        w->occupied[level] &= ~bit(slot);
    }
}

static uint64_t next_tick(bn_timer_wheel *w)
{
    uint64_t next = UINT64_MAX;
    for (unsigned l = 0; l < BN_TW_LEVELS; l++)
        next = BN_MIN(next, level_next_tick(w, l));
    return next;
}

static bool due_now(bn_timer_wheel *w)
{
    unsigned slot = (unsigned)w->now & SLOT_MASK;
    if (!(w->occupied[0] & bit(slot)))
        return false;
    if (bn_list_empty(&w->slots[0][slot])) {
        w->occupied[0] &= ~bit(slot);
        return false;
    }
    return true;
}

uint64_t bn__tw_next_delay(bn_timer_wheel *w)
{
    if (due_now(w))
        return 0;
    uint64_t next = next_tick(w);
    return next == UINT64_MAX ? UINT64_MAX : next - w->now;
}

/* Moves slot (level, slot) into `out` and clears its bit. */
static void take_slot(bn_timer_wheel *w, unsigned level, unsigned slot, bn_list *out)
{
    bn_list_init(out);
    bn_list_splice(out, &w->slots[level][slot]);
    w->occupied[level] &= ~bit(slot);
}

/*
 * Sets w->now to `tick`. Timers left in the old current slot were armed with
 * past deadlines after that slot was fired; they move to the new current slot
 * so they are due there too.
 */
static void advance(bn_timer_wheel *w, uint64_t tick)
{
    if (tick == w->now)
        return;
    unsigned from = (unsigned)w->now & SLOT_MASK, to = (unsigned)tick & SLOT_MASK;
    w->now = tick;
    if (from == to || bn_list_empty(&w->slots[0][from]))
        return; /* same slot: they are already where they must be */
    bn_list_splice(&w->slots[0][to], &w->slots[0][from]);
    w->occupied[0] |= bit(to);
}

/* Re-files the timers of every level whose boundary w->now sits on, top down. */
static void cascade(bn_timer_wheel *w)
{
    for (unsigned l = BN_TW_LEVELS - 1; l > 0; l--) {
        unsigned shift = LEVEL_BITS * l;
        if (w->now & ((UINT64_C(1) << shift) - 1))
            continue;
        unsigned slot = (unsigned)(w->now >> shift) & SLOT_MASK;
        if (!(w->occupied[l] & bit(slot)))
            continue;
        bn_list moving;
        take_slot(w, l, slot, &moving);
        bn_list *n;
        while ((n = bn_list_pop_front(&moving)))
            place(w, bn_container_of(n, bn_timer, node));
    }
}

/*
 * Fires level 0's current slot. It is detached first, and each timer is
 * unlinked from the detached list just before its callback, so callbacks can
 * cancel or re-arm anything (re-armed past deadlines go to the live slot and
 * wait for the next tick or run instead of looping here).
 */
static size_t fire_current(bn_timer_wheel *w)
{
    unsigned slot = (unsigned)w->now & SLOT_MASK;
    if (!(w->occupied[0] & bit(slot)))
        return 0;
    bn_list due;
    take_slot(w, 0, slot, &due);
    size_t fired = 0;
    bn_list *n;
    while ((n = bn_list_pop_front(&due))) {
        bn_timer *t = bn_container_of(n, bn_timer, node);
        t->cb(t);
        fired++;
    }
    return fired;
}

size_t bn__tw_run(bn_timer_wheel *w, uint64_t now_ms)
{
    size_t fired = fire_current(w);
    for (;;) {
        uint64_t tick = next_tick(w);
        if (tick > now_ms)
            break;
        advance(w, tick);
        cascade(w);
        fired += fire_current(w);
    }
    if (now_ms > w->now)
        advance(w, now_ms);
    return fired;
}
