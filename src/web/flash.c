/*
 * Flash messages [Phoenix.Controller fetch_flash/put_flash]: kept in the
 * session across exactly one redirect, shown by the page redirected to.
 */
#include "bennu/session.h"

static const char flash_key[] = "bennu.flash";

typedef struct flash_state {
    bn_value *messages; /* object of strings, in the request arena */
    bool in_session;    /* the session held a flash when it was fetched */
    bool saved;         /* the callback ran (an error page does not run it twice) */
} flash_state;

static flash_state *fetched(bn_conn *c)
{
    flash_state *f = bn_conn_private(c, flash_key);
    if (!f)
        bn_raise(c, 500, "flash not fetched: run bn_plug_fetch_flash (after bn_plug_fetch_session) first");
    return f;
}

static bool is_redirect(int status) { return status >= 300 && status <= 308; }

/* Phoenix's rule: a redirect carries the flash to the next page; any other
 * response showed it, so it leaves the session. */
static void save_flash(bn_conn *c, void *arg)
{
    flash_state *f = arg;
    if (f->saved)
        return;
    f->saved = true;
    if (bn_value_len(f->messages) > 0 && is_redirect(bn_conn_status(c)))
        bn_session_put(c, BN_FLASH_SESSION_KEY, f->messages);
    else if (f->in_session)
        bn_session_delete(c, BN_FLASH_SESSION_KEY);
    /* else nothing to keep nor to clean: the session stays unchanged (no cookie) */
}

void bn_plug_fetch_flash(bn_conn *c, const void *opts)
{
    (void)opts;
    if (bn_conn_private(c, flash_key))
        return;
    bn_arena *a = bn_conn_arena(c);
    const bn_value *stored = bn_session_get(c, BN_FLASH_SESSION_KEY); /* raises without a session */
    flash_state *f = bn_arena_alloc(a, sizeof(*f));
    *f = (flash_state){.messages = bn_value_object(a), .in_session = stored != NULL};
    for (size_t i = 0; bn_value_is(stored, BN_VALUE_OBJECT) && i < stored->as.object.len; i++) {
        const bn_value_member *m = &stored->as.object.members[i];
        if (bn_value_is(m->value, BN_VALUE_STRING))
            bn_value_set_str(a, f->messages, m->key, m->value);
    }
    bn_conn_put_private(c, flash_key, f);
    bn_conn_register_before_send(c, save_flash, f);
}

void bn_flash_put(bn_conn *c, const char *kind, const char *message)
{
    flash_state *f = fetched(c);
    bn_arena *a = bn_conn_arena(c);
    bn_value_set(a, f->messages, kind, bn_value_string(a, bn_str_from_cstr(message ? message : "")));
}

bn_str bn_flash_get(bn_conn *c, const char *kind) { return bn_value_str(bn_value_get(fetched(c)->messages, kind)); }

const bn_value *bn_flash_all(bn_conn *c) { return fetched(c)->messages; }

void bn_flash_clear(bn_conn *c) { fetched(c)->messages = bn_value_object(bn_conn_arena(c)); }
