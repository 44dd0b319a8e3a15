/*
 * bench/live_server.c — the LiveView server of `make bench`'s live case
 * (bench/README.md), loaded by bench/liveload.c:
 *
 *   GET /counter        CounterLive (bench/live_counter.html.bnx): the showcase's
 *                       counter with a tiny template; "inc" adds one ({"0":"N"})
 *   GET /table          TableLive (bench/live_table.html.bnx): 1,000 rows in a
 *                       :for; "bump" adds one to row 500 (value {} or {"row": i})
 *   /live/websocket     bn_live_socket (the npm phoenix_live_view client's socket)
 *   GET /               200 "ok" (run.sh's readiness probe)
 *
 * No layout and no session (so no CSRF state): the page is the view's own
 * <div>, and what is measured is LiveView's own cost. SECRET_KEY_BASE signs the
 * views' session tokens (a fixed bench value when unset). Configured from the
 * environment like every Bennu server (PORT, BENNU_BIND, BENNU_THREADS,
 * BENNU_MASTER, ...).
 */
#include <stdlib.h>

#include <bennu.h>

#include "live_counter.html.h"
#include "live_table.html.h"

#define TABLE_ROWS 1000
#define BENCH_SECRET_KEY_BASE "bench-live-server-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyz"

static int counter_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    bn_live_assign(lv, live_counter, count, 0);
    return 0;
}

static void counter_event(bn_live *lv, bn_str event, const bn_value *value)
{
    (void)value;
    const live_counter_assigns *a = bn_live_assigns(lv);
    if (bn_str_eq(event, BN_STR("inc")))
        bn_live_assign(lv, live_counter, count, a->count + 1);
    else if (bn_str_eq(event, BN_STR("dec")))
        bn_live_assign(lv, live_counter, count, a->count - 1);
}

static const bn_live_def counter_live = {
    .name = "CounterLive",
    BN_LIVE_TEMPLATE(live_counter),
    .mount = counter_mount,
    .handle_event = counter_event,
};

/* TableLive's own memory: the rows its `values` assign points to. */
typedef struct table_state {
    int values[TABLE_ROWS];
} table_state;

static int table_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    table_state *st = bn_live_state(lv);
    for (int i = 0; i < TABLE_ROWS; i++)
        st->values[i] = i;
    bn_live_assign(lv, live_table, values, st->values);
    bn_live_assign(lv, live_table, nrows, TABLE_ROWS);
    return 0;
}

static void table_event(bn_live *lv, bn_str event, const bn_value *value)
{
    if (!bn_str_eq(event, BN_STR("bump")))
        return;
    int64_t row = TABLE_ROWS / 2;
    const bn_value *v = bn_value_get(value, "row");
    if (v && (!bn_value_to_int(v, &row) || row < 0 || row >= TABLE_ROWS))
        return;
    table_state *st = bn_live_state(lv);
    st->values[row]++;
    bn_live_changed(lv, live_table__changed_values);
}

static const bn_live_def table_live = {
    .name = "TableLive",
    BN_LIVE_TEMPLATE(live_table),
    .state_size = sizeof(table_state),
    .mount = table_mount,
    .handle_event = table_event,
};

static void ok(bn_conn *c) { bn_conn_send_resp(c, 200, BN_STR("ok")); }

static void routes(bn_router *r)
{
    bn_get(r, "/", ok);
    bn_live(r, "/counter", &counter_live);
    bn_live(r, "/table", &table_live);
}

static const bn_plug endpoint_plugs[] = {
    BN_PLUG(bn_socket_plug, &bn_live_socket), /* /live/...: answered and halted */
};

int main(int argc, char **argv)
{
    setenv("SECRET_KEY_BASE", BENCH_SECRET_KEY_BASE, 0);
    bn_router *r = bn_router_new();
    routes(r);
    bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = BN_ARRAY_LEN(endpoint_plugs), .router = r};
    int status = bn_endpoint_main(&ep, argc, argv);
    bn_router_free(r);
    return status;
}
