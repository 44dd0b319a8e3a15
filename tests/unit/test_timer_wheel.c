/*
 * Unit tests for the hierarchical timer wheel (runtime/timer_wheel.h): never
 * early, exactly once, order across levels, long jumps, callbacks that arm and
 * cancel, next_delay, and a randomized run against a brute-force model.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "runtime/timer_wheel.h"

#define RANGE (UINT64_C(1) << 36) /* 64^6 ms: what the wheel places directly */
#define HOUR (UINT64_C(3600) * 1000)

typedef struct tt tt;
typedef void tt_action(tt *x);

struct tt {
    bn_timer t;
    bn_timer_wheel *w;
    unsigned id;
    unsigned fired;
    uint64_t fired_at;      /* w->now seen by the last callback */
    uint64_t deadline_seen; /* t->expire_ms at the last callback */
    unsigned early;         /* callbacks that ran before their deadline */
    tt_action *action;      /* extra callback behaviour */
    tt *other;
    uint64_t param;
};

/* Fire log, in callback order. */
static unsigned fire_log[20000];
static size_t fire_n;

static void on_fire(bn_timer *t)
{
    tt *x = bn_container_of(t, tt, t);
    cr_assert_not(bn_timer_active(t), "a timer must be unlinked before its callback");
    x->fired++;
    x->fired_at = x->w->now;
    x->deadline_seen = t->expire_ms;
    if (x->w->now < t->expire_ms)
        x->early++;
    if (fire_n < BN_ARRAY_LEN(fire_log))
        fire_log[fire_n++] = x->id;
    if (x->action)
        x->action(x);
}

static void tt_init(tt *x, bn_timer_wheel *w, unsigned id)
{
    memset(x, 0, sizeof(*x));
    bn_list_init(&x->t.node);
    x->t.cb = on_fire;
    x->w = w;
    x->id = id;
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* xorshift64*: deterministic across runs and platforms. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}
static uint64_t rng_below(uint64_t n) { return n ? rng() % n : 0; }

/* A delay spread over every level of the wheel (and, rarely, beyond it). */
static uint64_t random_delay(void)
{
    uint64_t r = rng_below(100);
    if (r < 30)
        return rng_below(64);
    if (r < 55)
        return rng_below(4096);
    if (r < 75)
        return rng_below(262144);
    if (r < 85)
        return rng_below(UINT64_C(1) << 24);
    if (r < 93)
        return rng_below(UINT64_C(1) << 30);
    if (r < 98)
        return rng_below(RANGE);
    return RANGE + rng_below(RANGE * 4);
}

/* ------------------------------------------------------------------------ */

Test(timer_wheel, fires_at_its_deadline_and_not_before)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 1000);
    tt a;
    tt_init(&a, &w, 0);
    bn__tw_add(&w, &a.t, 1005);
    cr_assert(bn_timer_active(&a.t));
    cr_assert_eq(bn__tw_run(&w, 1004), 0);
    cr_assert_eq(a.fired, 0);
    cr_assert_eq(w.now, 1004);
    cr_assert_eq(bn__tw_run(&w, 1005), 1);
    cr_assert_eq(a.fired, 1);
    cr_assert_eq(a.fired_at, 1005);
    cr_assert_not(bn_timer_active(&a.t));
    cr_assert_eq(bn__tw_run(&w, 5000), 0, "fires once only");
    cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX);
}

Test(timer_wheel, stepping_one_ms_fires_each_timer_exactly_at_its_deadline)
{
    enum { N = 600 };
    static tt ts[N];
    bn_timer_wheel w;
    const uint64_t base = 123456789; /* deliberately not aligned to any level */
    bn__tw_init(&w, base);
    static const uint64_t edges[] = {1,    2,    62,   63,    64,    65,    127,    128,    4031,   4032,
                                     4095, 4096, 4097, 4159,  8191,  8192,  262143, 262144, 262145, 300000,
                                     0,    5,    5,    262080, 12345, 99999, 1 << 20, (1 << 20) - 1};
    rng_state = 42;
    uint64_t last = 0;
    for (unsigned i = 0; i < N; i++) {
        tt_init(&ts[i], &w, i);
        uint64_t d = i < BN_ARRAY_LEN(edges) ? edges[i] : 1 + rng_below(1100000);
        bn__tw_add(&w, &ts[i].t, base + d);
        last = BN_MAX(last, base + d);
    }
    size_t total = 0;
    for (uint64_t now = base; now <= last; now++)
        total += bn__tw_run(&w, now);
    cr_assert_eq(total, N);
    for (unsigned i = 0; i < N; i++) {
        cr_assert_eq(ts[i].fired, 1, "timer %u fired %u times", i, ts[i].fired);
        cr_assert_eq(ts[i].fired_at, ts[i].t.expire_ms, "timer %u (delta %llu) fired at +%llu", i,
                     (unsigned long long)(ts[i].t.expire_ms - base), (unsigned long long)(ts[i].fired_at - base));
    }
}

Test(timer_wheel, one_huge_jump_fires_all_levels_in_deadline_order, .timeout = 30)
{
    enum { N = 3000 };
    static tt ts[N];
    bn_timer_wheel w;
    const uint64_t base = 987654321;
    bn__tw_init(&w, base);
    rng_state = 7;
    uint64_t last = 0;
    for (unsigned i = 0; i < N; i++) {
        tt_init(&ts[i], &w, i);
        uint64_t at = base + random_delay();
        bn__tw_add(&w, &ts[i].t, at);
        last = BN_MAX(last, at);
    }
    fire_n = 0;
    cr_assert_eq(bn__tw_run(&w, last), N);
    cr_assert_eq(fire_n, N);
    for (size_t i = 0; i < N; i++) {
        tt *x = &ts[fire_log[i]];
        cr_assert_eq(x->fired, 1);
        cr_assert_eq(x->early, 0);
        cr_assert_eq(x->fired_at, x->t.expire_ms, "callbacks see the tick of their own deadline");
        if (i > 0)
            cr_assert_geq(x->t.expire_ms, ts[fire_log[i - 1]].t.expire_ms, "out of order at %zu", i);
    }
    cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX);
}

Test(timer_wheel, repeated_hour_long_jumps_stay_cheap, .timeout = 20)
{
    /* Stepping through every empty millisecond would take ~10^11 iterations. */
    bn_timer_wheel w;
    bn__tw_init(&w, 5);
    tt a;
    tt_init(&a, &w, 0);
    for (unsigned i = 0; i < 3000; i++) {
        uint64_t at = w.now + HOUR + i;
        bn__tw_add(&w, &a.t, at);
        cr_assert_eq(bn__tw_run(&w, at - 1), 0);
        cr_assert_eq(bn__tw_run(&w, at + 10 * HOUR), 1);
        cr_assert_eq(a.fired_at, at);
    }
    cr_assert_eq(a.fired, 3000);
    cr_assert_eq(a.early, 0);
}

Test(timer_wheel, idle_jump_of_years_is_immediate, .timeout = 5)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    cr_assert_eq(bn__tw_run(&w, UINT64_C(1) << 45), 0);
    cr_assert_eq(w.now, UINT64_C(1) << 45);
    tt a;
    tt_init(&a, &w, 0);
    bn__tw_add(&w, &a.t, w.now + 3);
    cr_assert_eq(bn__tw_next_delay(&w), 3);
    cr_assert_eq(bn__tw_run(&w, w.now + 3), 1);
}

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                  */

static void rearm_every_param_ms(tt *x)
{
    if (x->fired < 100)
        bn__tw_add(x->w, &x->t, x->w->now + x->param);
}

Test(timer_wheel, callback_can_rearm_itself)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 1000);
    tt a;
    tt_init(&a, &w, 0);
    a.action = rearm_every_param_ms;
    a.param = 10;
    bn__tw_add(&w, &a.t, 1010);
    fire_n = 0;
    /* One run across all 100 periods: each re-arm lands inside the run. */
    cr_assert_eq(bn__tw_run(&w, 100000), 100);
    cr_assert_eq(a.fired, 100);
    cr_assert_eq(a.early, 0);
    cr_assert_eq(a.fired_at, 2000);
    cr_assert_not(bn_timer_active(&a.t));
}

static void cancel_other(tt *x) { bn__tw_cancel(&x->other->t); }

Test(timer_wheel, callback_can_cancel_a_timer_due_in_the_same_tick)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b, c;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    tt_init(&c, &w, 2);
    a.action = cancel_other;
    a.other = &b;
    bn__tw_add(&w, &a.t, 300); /* same deadline: same slot after cascading */
    bn__tw_add(&w, &b.t, 300);
    bn__tw_add(&w, &c.t, 300);
    cr_assert_eq(bn__tw_run(&w, 1000), 2);
    cr_assert_eq(a.fired, 1);
    cr_assert_eq(b.fired, 0, "cancelled from a callback of the same tick");
    cr_assert_eq(c.fired, 1);
}

Test(timer_wheel, callback_can_cancel_a_later_timer)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    a.action = cancel_other;
    a.other = &b;
    bn__tw_add(&w, &a.t, 10);
    bn__tw_add(&w, &b.t, 5000);
    cr_assert_eq(bn__tw_run(&w, HOUR), 1);
    cr_assert_eq(b.fired, 0);
    cr_assert_not(bn_timer_active(&b.t));
}

static void rearm_other_later(tt *x) { bn__tw_add(x->w, &x->other->t, x->w->now + x->param); }

Test(timer_wheel, callback_can_postpone_a_timer_due_in_the_same_tick)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    a.action = rearm_other_later;
    a.other = &b;
    a.param = 70;
    bn__tw_add(&w, &a.t, 20);
    bn__tw_add(&w, &b.t, 20);
    cr_assert_eq(bn__tw_run(&w, 89), 1);
    cr_assert_eq(b.fired, 0);
    cr_assert_eq(bn__tw_run(&w, 90), 1);
    cr_assert_eq(b.fired, 1);
    cr_assert_eq(b.fired_at, 90);
}

static void arm_other_in_the_past(tt *x) { bn__tw_add(x->w, &x->other->t, x->w->now - x->param); }

Test(timer_wheel, past_deadline_armed_in_callback_fires_once_by_the_next_run)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    a.action = arm_other_in_the_past;
    a.other = &b;
    a.param = 5;
    bn__tw_add(&w, &a.t, 100);
    size_t n = bn__tw_run(&w, 100);
    cr_assert_eq(a.fired, 1);
    if (b.fired == 0) {
        cr_assert_eq(n, 1);
        cr_assert_eq(bn__tw_next_delay(&w), 0, "a due timer is waiting");
        cr_assert_eq(bn__tw_run(&w, 100), 1);
    }
    cr_assert_eq(b.fired, 1);
    cr_assert_eq(bn__tw_run(&w, 10000), 0);
    cr_assert_eq(b.fired, 1);
}

Test(timer_wheel, past_deadline_armed_in_callback_is_not_lost_when_time_moves_on)
{
    /* a fires at tick 100 of a run to 150 and arms b in the past: b must be
     * due at 150, not left behind in the slot of tick 100. */
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    a.action = arm_other_in_the_past;
    a.other = &b;
    a.param = 30;
    bn__tw_add(&w, &a.t, 100);
    bn__tw_run(&w, 150);
    cr_assert_eq(a.fired, 1);
    if (b.fired == 0) {
        cr_assert_eq(bn__tw_next_delay(&w), 0);
        cr_assert_eq(bn__tw_run(&w, 150), 1);
    }
    cr_assert_eq(b.fired, 1);
    cr_assert_eq(bn__tw_run(&w, 10000), 0);
}

Test(timer_wheel, past_deadline_armed_in_callback_survives_a_64ms_jump)
{
    /* a fires at 64 (slot 0) and arms b in the past; the next tick the wheel
     * visits is 128, which maps to the same level-0 slot. */
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b, c;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    tt_init(&c, &w, 2);
    a.action = arm_other_in_the_past;
    a.other = &b;
    a.param = 1;
    bn__tw_add(&w, &a.t, 64);
    bn__tw_add(&w, &c.t, 133);
    bn__tw_run(&w, 200);
    if (b.fired == 0)
        bn__tw_run(&w, 200);
    cr_assert_eq(a.fired, 1);
    cr_assert_eq(b.fired, 1);
    cr_assert_eq(c.fired, 1);
    cr_assert_eq(c.fired_at, 133);
    cr_assert_eq(b.early, 0);
    bn__tw_run(&w, 1000);
    cr_assert_eq(b.fired, 1);
}

static void rearm_due_now(tt *x)
{
    if (x->fired < 5)
        bn__tw_add(x->w, &x->t, x->w->now);
}

Test(timer_wheel, rearming_as_due_now_does_not_loop_within_a_run)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 50);
    tt a;
    tt_init(&a, &w, 0);
    a.action = rearm_due_now;
    bn__tw_add(&w, &a.t, 50);
    for (unsigned i = 1; i <= 5; i++) {
        cr_assert_eq(bn__tw_run(&w, 50), 1, "run %u", i);
        cr_assert_eq(a.fired, i);
    }
    cr_assert_eq(bn__tw_run(&w, 50), 0);
}

/* ------------------------------------------------------------------------ */
/* Arming, cancelling, moving                                                 */

Test(timer_wheel, cancel_before_fire)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    bn__tw_add(&w, &a.t, 10);
    bn__tw_add(&w, &b.t, 100000);
    bn__tw_cancel(&a.t);
    bn__tw_cancel(&b.t);
    bn__tw_cancel(&b.t); /* twice is fine */
    cr_assert_not(bn_timer_active(&a.t));
    cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX, "cancelled timers leave nothing to wait for");
    cr_assert_eq(bn__tw_run(&w, HOUR), 0);
    cr_assert_eq(a.fired + b.fired, 0);
}

Test(timer_wheel, cancel_of_a_never_armed_timer_is_a_noop)
{
    tt a;
    tt_init(&a, NULL, 0);
    bn__tw_cancel(&a.t);
    cr_assert_not(bn_timer_active(&a.t));
}

Test(timer_wheel, rearming_an_armed_timer_moves_it)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 0);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    bn__tw_add(&w, &a.t, 5000);
    bn__tw_add(&w, &a.t, 50); /* earlier */
    bn__tw_add(&w, &b.t, 50);
    bn__tw_add(&w, &b.t, 7000); /* later */
    cr_assert_eq(bn__tw_run(&w, 6999), 1);
    cr_assert_eq(a.fired, 1);
    cr_assert_eq(a.fired_at, 50);
    cr_assert_eq(b.fired, 0);
    cr_assert_eq(bn__tw_run(&w, 100000), 1);
    cr_assert_eq(b.fired_at, 7000);
}

Test(timer_wheel, past_deadline_fires_at_the_next_run)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 10000);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    bn__tw_add(&w, &a.t, 10);
    bn__tw_add(&w, &b.t, 10000);
    cr_assert_eq(bn__tw_next_delay(&w), 0);
    cr_assert_eq(bn__tw_run(&w, 10000), 2, "due timers fire even if time has not moved");
    cr_assert_eq(a.fired + b.fired, 2);
    cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX);
}

Test(timer_wheel, run_with_an_older_time_does_not_go_back)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 1000);
    tt a;
    tt_init(&a, &w, 0);
    bn__tw_add(&w, &a.t, 1001);
    cr_assert_eq(bn__tw_run(&w, 10), 0);
    cr_assert_eq(w.now, 1000);
    cr_assert_eq(bn__tw_run(&w, 1001), 1);
}

/* ------------------------------------------------------------------------ */
/* next_delay                                                                 */

Test(timer_wheel, next_delay_is_exact_on_level_0)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 777);
    cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX);
    tt a, b;
    tt_init(&a, &w, 0);
    tt_init(&b, &w, 1);
    bn__tw_add(&w, &a.t, 777 + 63);
    cr_assert_eq(bn__tw_next_delay(&w), 63);
    bn__tw_add(&w, &b.t, 777 + 5);
    cr_assert_eq(bn__tw_next_delay(&w), 5);
    bn__tw_run(&w, 777 + 5);
    cr_assert_eq(bn__tw_next_delay(&w), 58);
    bn__tw_cancel(&a.t);
    cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX);
}

Test(timer_wheel, next_delay_on_higher_levels_is_the_cascade_point)
{
    bn_timer_wheel w;
    bn__tw_init(&w, 1000); /* 1000 = 15 * 64 + 40 */
    tt a;
    tt_init(&a, &w, 0);
    bn__tw_add(&w, &a.t, 1100); /* level 1, cascades at 17 * 64 = 1088 */
    cr_assert_eq(bn__tw_next_delay(&w), 88);
    cr_assert_eq(bn__tw_run(&w, 1088), 0);
    cr_assert_eq(bn__tw_next_delay(&w), 12, "exact once on level 0");
    cr_assert_eq(bn__tw_run(&w, 1100), 1);
}

Test(timer_wheel, sleeping_by_next_delay_lands_exactly_on_every_deadline, .timeout = 30)
{
    /* What the event loop does: epoll_wait(next_delay), then run. */
    static const uint64_t deltas[] = {1,         2,           63,          64,          65,         100,
                                      4095,      4096,        4097,        200000,      262144,     262145,
                                      16777215,  16777216,    16777217,    999999999,   1073741823, 1073741824,
                                      RANGE - 1, RANGE,       RANGE + 1,   RANGE * 3 + 12345};
    const uint64_t bases[] = {0, 1, 63, 4096 * 64 - 1, 123456789012};
    for (size_t bi = 0; bi < BN_ARRAY_LEN(bases); bi++) {
        for (size_t di = 0; di < BN_ARRAY_LEN(deltas); di++) {
            bn_timer_wheel w;
            bn__tw_init(&w, bases[bi]);
            tt a;
            tt_init(&a, &w, 0);
            uint64_t at = bases[bi] + deltas[di];
            bn__tw_add(&w, &a.t, at);
            unsigned steps = 0;
            while (!a.fired) {
                uint64_t d = bn__tw_next_delay(&w);
                cr_assert(d > 0 && d != UINT64_MAX, "delay %llu", (unsigned long long)d);
                cr_assert_leq(w.now + d, at, "next_delay overshoots: base %llu delta %llu",
                              (unsigned long long)bases[bi], (unsigned long long)deltas[di]);
                bn__tw_run(&w, w.now + d);
                cr_assert_lt(++steps, 40);
            }
            cr_assert_eq(a.fired_at, at);
            cr_assert_eq(a.early, 0);
            cr_assert_eq(bn__tw_next_delay(&w), UINT64_MAX);
            if (deltas[di] < RANGE)
                cr_assert_leq(steps, BN_TW_LEVELS + 1, "delta %llu took %u wake-ups",
                              (unsigned long long)deltas[di], steps);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Beyond the wheel's range                                                   */

Test(timer_wheel, deadlines_beyond_the_range_fire_on_time, .timeout = 10)
{
    bn_timer_wheel w;
    const uint64_t base = 31337;
    bn__tw_init(&w, base);
    tt near, far, farther;
    tt_init(&near, &w, 0);
    tt_init(&far, &w, 1);
    tt_init(&farther, &w, 2);
    bn__tw_add(&w, &farther.t, base + (UINT64_C(1) << 42) + 99);
    bn__tw_add(&w, &far.t, base + RANGE + 5);
    bn__tw_add(&w, &near.t, base + RANGE - 5);
    cr_assert_eq(bn__tw_run(&w, base + RANGE - 6), 0);
    cr_assert_eq(bn__tw_run(&w, base + RANGE - 5), 1);
    cr_assert_eq(bn__tw_run(&w, base + RANGE + 4), 0);
    cr_assert_eq(far.fired, 0);
    cr_assert_eq(bn__tw_run(&w, base + RANGE + 5), 1);
    cr_assert_eq(far.fired, 1);
    cr_assert_eq(bn__tw_run(&w, base + (UINT64_C(1) << 42) + 98), 0);
    cr_assert_eq(bn__tw_run(&w, UINT64_C(1) << 50), 1);
    cr_assert_eq(farther.fired_at, base + (UINT64_C(1) << 42) + 99);
    cr_assert_eq(near.early + far.early + farther.early, 0);
}

/* ------------------------------------------------------------------------ */
/* Randomized against a brute-force model                                     */

enum { RN = 3000 };
static tt rt[RN];
static bool model_armed[RN];
static bool model_late[RN]; /* armed by a callback with a deadline already past */
static uint64_t model_at[RN];
static uint64_t run_target;
static unsigned violations;
static char first_violation[200];

static void violation(const char *what, const tt *x)
{
    if (!violations++)
        snprintf(first_violation, sizeof(first_violation), "%s: timer %u at %llu, now %llu, target %llu", what,
                 x->id, (unsigned long long)model_at[x->id], (unsigned long long)x->w->now,
                 (unsigned long long)run_target);
}

static void model_arm(bn_timer_wheel *w, unsigned i, uint64_t at)
{
    bn__tw_add(w, &rt[i].t, at);
    model_armed[i] = true;
    model_at[i] = at;
    model_late[i] = false;
}

static void model_cancel(unsigned i)
{
    bn__tw_cancel(&rt[i].t);
    model_armed[i] = false;
    model_late[i] = false;
}

/* Random callback behaviour: re-arm itself, arm or cancel another. A timer
 * armed in the future must fire within this run if it falls due by
 * run_target; one armed in the past may instead wait for the next run. */
static void random_action(tt *x)
{
    bn_timer_wheel *w = x->w;
    if (!model_armed[x->id])
        violation("fired while not armed", x);
    else if (model_at[x->id] > w->now)
        violation("fired early", x);
    if (w->now > run_target)
        violation("callback after the target time", x);
    model_armed[x->id] = false;
    model_late[x->id] = false;

    uint64_t r = rng_below(10);
    if (r < 3)
        model_arm(w, x->id, w->now + 1 + random_delay());
    if (r == 3 || r == 4)
        model_arm(w, (unsigned)rng_below(RN), w->now + 1 + random_delay());
    if (r == 5 || r == 6)
        model_cancel((unsigned)rng_below(RN));
    if (r == 7 && rng_below(4) == 0) {
        unsigned i = (unsigned)rng_below(RN);
        model_arm(w, i, w->now - rng_below(BN_MIN(w->now, 50)));
        model_late[i] = true;
    }
}

static uint64_t random_step(bn_timer_wheel *w)
{
    uint64_t r = rng_below(100);
    if (r < 15) {
        uint64_t d = bn__tw_next_delay(w);
        return d == UINT64_MAX ? 1 : d;
    }
    if (r < 40)
        return rng_below(4);
    if (r < 70)
        return rng_below(100);
    if (r < 85)
        return rng_below(5000);
    if (r < 95)
        return rng_below(1 << 20);
    if (r < 99)
        return rng_below(UINT64_C(1) << 32);
    return rng_below(UINT64_C(1) << 38);
}

Test(timer_wheel, randomized_against_a_model, .timeout = 120)
{
    bn_timer_wheel w;
    const uint64_t base = 5000000017u;
    bn__tw_init(&w, base);
    rng_state = 0x9e3779b97f4a7c15u;
    for (unsigned i = 0; i < RN; i++) {
        tt_init(&rt[i], &w, i);
        rt[i].action = random_action;
        model_armed[i] = false;
    }
    size_t total_fired = 0;
    for (unsigned round = 0; round < 3000; round++) {
        /* Outside callbacks anything goes, past deadlines included. */
        for (unsigned op = 0, n = (unsigned)rng_below(40); op < n; op++) {
            unsigned i = (unsigned)rng_below(RN);
            uint64_t r = rng_below(10);
            if (r < 7)
                model_arm(&w, i, w.now + random_delay());
            else if (r < 8)
                model_arm(&w, i, w.now - rng_below(BN_MIN(w.now, 100000)));
            else
                model_cancel(i);
        }

        uint64_t due_before = 0;
        for (unsigned i = 0; i < RN; i++)
            due_before += model_armed[i] && model_at[i] <= w.now;
        uint64_t delay = bn__tw_next_delay(&w);
        cr_assert_eq(delay == 0, due_before > 0, "round %u: next_delay %llu with %llu due", round,
                     (unsigned long long)delay, (unsigned long long)due_before);

        run_target = w.now + random_step(&w);
        total_fired += bn__tw_run(&w, run_target);
        cr_assert_eq(violations, 0, "round %u: %s", round, first_violation);
        cr_assert_eq(w.now, run_target);
        /* Late arrivals must be due now and fire at the next run (whose
         * callbacks may, rarely, arm new late ones). */
        for (unsigned extra = 0;; extra++) {
            bool late = false;
            for (unsigned i = 0; i < RN; i++)
                late |= model_armed[i] && model_late[i];
            if (!late)
                break;
            cr_assert_lt(extra, 50);
            cr_assert_eq(bn__tw_next_delay(&w), 0, "round %u: a late timer is not due", round);
            total_fired += bn__tw_run(&w, run_target);
            cr_assert_eq(violations, 0, "round %u: %s", round, first_violation);
        }

        uint64_t soonest = UINT64_MAX;
        bool any = false;
        for (unsigned i = 0; i < RN; i++) {
            cr_assert_eq(bn_timer_active(&rt[i].t), model_armed[i], "round %u: timer %u armed state", round, i);
            if (!model_armed[i])
                continue;
            any = true;
            cr_assert_gt(model_at[i], run_target, "round %u: timer %u due at %llu missed (now %llu)", round, i,
                         (unsigned long long)model_at[i], (unsigned long long)run_target);
            soonest = BN_MIN(soonest, model_at[i]);
        }
        delay = bn__tw_next_delay(&w);
        if (!any) {
            cr_assert_eq(delay, UINT64_MAX);
        } else {
            cr_assert_gt(delay, 0);
            cr_assert_leq(w.now + delay, soonest, "round %u: next_delay %llu past the soonest deadline", round,
                          (unsigned long long)delay);
        }
    }
    size_t callbacks = 0;
    for (unsigned i = 0; i < RN; i++)
        callbacks += rt[i].fired;
    cr_assert_eq(callbacks, total_fired, "run's return value counts every callback");
    cr_assert_gt(total_fired, 10000, "the test should exercise many expiries (got %zu)", total_fired);
}
