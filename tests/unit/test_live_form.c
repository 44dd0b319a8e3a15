/*
 * Unit tests of a LiveView form validated with the data layer's changesets,
 * as the showcase's /signup does it: phx-change casts and validates the form
 * and shows the errors of the fields the user touched only (the client names
 * the others with `_unused_<name>` keys, PROTOCOLS.md §7.3, Phoenix's
 * used_input?); phx-submit shows every error, or welcomes a valid form.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bennu.h>

#include "live_signup.html.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- the view under test (the showcase's SignupLive) ---- */

#define FORM_SCHEMA(FIELD, ASSOC)                                                                                      \
    FIELD(name, STRING)                                                                                                \
    FIELD(email, STRING)
BN_SCHEMA_DECLARE(form_fields, FORM_SCHEMA)
BN_SCHEMA_DEFINE(form_fields, "signups", FORM_SCHEMA)

typedef struct form_state {
    char name[128], email[128], name_error[96], email_error[96], welcome[192];
    bool submitted;
} form_state;

static const char *copy(char *buf, size_t size, bn_str s)
{
    size_t n = s.len < size ? s.len : size - 1;
    if (n)
        memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return buf;
}

/* The first error of `field` when it was used (or all are shown), else NULL. */
static const char *shown_error(const bn_changeset *cs, const bn_value *form, bool all, const char *field, char *buf,
                               size_t size)
{
    char unused[64];
    snprintf(unused, sizeof unused, "_unused_%s", field);
    const char *const *errors = bn_changeset_errors(cs, field);
    bool used = bn_value_get(form, field) && !bn_value_get(form, unused);
    if (!errors || !errors[0] || !(all || used))
        return NULL;
    return copy(buf, size, bn_str_from_cstr(errors[0]));
}

static int form_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    bn_live_assign(lv, live_signup, name, "");
    bn_live_assign(lv, live_signup, email, "");
    return 0;
}

static void form_event(bn_live *lv, bn_str event, const bn_value *form)
{
    bool save = bn_str_eq(event, BN_STR("save"));
    if (!save && !bn_str_eq(event, BN_STR("validate")))
        return;
    form_state *st = bn_live_state(lv);
    st->submitted |= save;
    bn_changeset *cs =
        bn_changeset_cast(bn_live_arena(lv), &form_fields_schema, NULL, form, BN_FIELDS("name", "email"));
    bn_validate_required(cs, BN_FIELDS("name", "email"));
    bn_validate_length(cs, "name", (bn_length_opts){.min = 2, .max = 40});
    bn_validate_format(cs, "email", "@", "must contain @");
    bn_live_assign(lv, live_signup, name, copy(st->name, sizeof st->name, bn_changeset_input(cs, "name")));
    bn_live_assign(lv, live_signup, email, copy(st->email, sizeof st->email, bn_changeset_input(cs, "email")));
    bn_live_assign(lv, live_signup, name_error,
                   shown_error(cs, form, st->submitted, "name", st->name_error, sizeof st->name_error));
    bn_live_assign(lv, live_signup, email_error,
                   shown_error(cs, form, st->submitted, "email", st->email_error, sizeof st->email_error));
    if (save && bn_changeset_valid(cs)) {
        const form_fields *f = bn_changeset_apply(cs);
        snprintf(st->welcome, sizeof st->welcome, "Welcome, %s!", f->name);
        bn_live_assign(lv, live_signup, welcome, st->welcome);
    } else if (save) {
        bn_live_assign(lv, live_signup, welcome, NULL);
    }
}

static const bn_live_def form_live = {
    .name = "SignupLive",
    BN_LIVE_TEMPLATE(live_signup),
    .state_size = sizeof(form_state),
    .mount = form_mount,
    .handle_event = form_event,
};

/* ---- the endpoint ---- */

static const bn_session_opts session = {.key = "_form_key", .signing_salt = "form salt", .secret_key_base = SKB};

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session));
    bn_scope(r, "/", "browser") {
        bn_live(r, "/signup", &form_live);
    }
}

static bn_endpoint ep;
static bn_test_client *client;
static bn_test_live *lv;

static void setup(void)
{
    setenv("SECRET_KEY_BASE", SKB, 1);
    bn_router *r = bn_router_new();
    routes(r);
    ep = (bn_endpoint){.router = r};
    client = bn_test_client_for(&ep);
    cr_assert_not_null(client);
    lv = bn_test_live_get(client, "/signup");
    cr_assert_not_null(lv, "no view at /signup");
}

static void teardown(void)
{
    bn_test_live_free(lv);
    bn_test_client_free(client);
    bn_router_free(ep.router);
}

TestSuite(live_form, .init = setup, .fini = teardown);

static void change(const char *form, const char *target)
{
    cr_assert_not_null(bn_test_live_change(lv, "validate", form, target), "%s", bn_test_live_error(lv));
}

static void submit(const char *form)
{
    cr_assert_not_null(bn_test_live_submit(lv, "save", form), "%s", bn_test_live_error(lv));
}

/* ---- tests ---- */

Test(live_form, the_first_render_shows_no_error)
{
    cr_assert(bn_test_live_has_element(lv, "form#signup", NULL));
    cr_assert_not(bn_test_live_has_element(lv, "#name-error", NULL));
    cr_assert_not(bn_test_live_has_element(lv, "#email-error", NULL));
    cr_assert_not(bn_test_live_has_element(lv, "#welcome", NULL));
}

Test(live_form, a_change_shows_the_errors_of_the_touched_field_only)
{
    /* Only name was typed in: email, blank, is unused, so its "can't be blank" stays hidden. */
    change("name=A&email=&_unused_email=", "name");
    cr_assert(bn_test_live_has_element(lv, "#name-error", "should be at least 2 character(s)"), "%s",
              bn_test_live_html(lv));
    cr_assert_not(bn_test_live_has_element(lv, "#email-error", NULL), "%s", bn_test_live_html(lv));
    cr_assert(strstr(bn_test_live_html(lv), "value=\"A\""), "%s", bn_test_live_html(lv));

    change("name=Ada&email=&_unused_email=", "name");
    cr_assert_not(bn_test_live_has_element(lv, "#name-error", NULL), "%s", bn_test_live_html(lv));
    cr_assert_not(bn_test_live_has_element(lv, "#email-error", NULL));

    /* Now email, without an @, while name is unused: the other way round. */
    change("name=&_unused_name=&email=ada", "email");
    cr_assert(bn_test_live_has_element(lv, "#email-error", "must contain @"), "%s", bn_test_live_html(lv));
    cr_assert_not(bn_test_live_has_element(lv, "#name-error", NULL), "%s", bn_test_live_html(lv));
    change("name=&_unused_name=&email=ada%40example.com", "email");
    cr_assert_not(bn_test_live_has_element(lv, "#email-error", NULL), "%s", bn_test_live_html(lv));
}

Test(live_form, a_submit_with_bad_data_shows_every_error)
{
    submit("name=&email=nobody");
    cr_assert(bn_test_live_has_element(lv, "#name-error", "can't be blank"), "%s", bn_test_live_html(lv));
    cr_assert(bn_test_live_has_element(lv, "#email-error", "must contain @"), "%s", bn_test_live_html(lv));
    cr_assert_not(bn_test_live_has_element(lv, "#welcome", NULL));
    /* The apostrophe is escaped in the HTML. */
    cr_assert(strstr(bn_test_live_html(lv), "can&#39;t be blank") || strstr(bn_test_live_html(lv), "can&#x27;t"),
              "%s", bn_test_live_html(lv));

    /* After a submit, changes show the errors of untouched fields too. */
    change("name=&_unused_name=&email=a%40b", "email");
    cr_assert(bn_test_live_has_element(lv, "#name-error", "can't be blank"), "%s", bn_test_live_html(lv));
    cr_assert_not(bn_test_live_has_element(lv, "#email-error", NULL));

    char long_name[64] = "name=";
    memset(long_name + 5, 'x', 41);
    strcat(long_name, "&email=a%40b");
    submit(long_name);
    cr_assert(bn_test_live_has_element(lv, "#name-error", "should be at most 40 character(s)"), "%s",
              bn_test_live_html(lv));
}

Test(live_form, a_valid_submit_is_welcomed)
{
    submit("name=Ada&email=ada%40example.com");
    cr_assert(bn_test_live_has_element(lv, "#welcome", "Welcome, Ada!"), "%s", bn_test_live_html(lv));
    cr_assert_not(bn_test_live_has_element(lv, "#name-error", NULL));
    cr_assert_not(bn_test_live_has_element(lv, "#email-error", NULL));
}

Test(live_form, the_welcome_and_the_inputs_are_escaped)
{
    submit("name=%3Cb%3EAda&email=%22%3E%40x");
    const char *html = bn_test_live_html(lv);
    cr_assert(strstr(html, "Welcome, &lt;b&gt;Ada!"), "%s", html);
    cr_assert(bn_test_live_has_element(lv, "#welcome", "Welcome, <b>Ada!"));
    cr_assert_null(strstr(html, "<b>"), "%s", html);
    cr_assert(strstr(html, "value=\"&quot;&gt;@x\""), "%s", html);
}
