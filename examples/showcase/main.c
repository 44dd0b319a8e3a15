/*
 * The Bennu showcase. It grows with each layer; today it shows the runtime,
 * the HTTP server, the web layer and compiled templates: an endpoint with
 * plugs, a router with pipelines, pages rendered from templates/ inside a
 * root layout, params, JSON, a handler that suspends without stalling
 * anyone, a Server-Sent Events clock, and a chat room over Channels that the
 * npm phoenix client joins from the browser, with who is online from
 * Presence, and LiveViews that the npm phoenix_live_view client drives over
 * /live: a counter, a ticking clock, a todo list that every open tab
 * shares through PubSub, and a sign-up form validated by a changeset as the
 * user types. With REDIS_URL (and BENNU_NODE) it is a node of a
 * cluster: `make run-cluster` runs two on ports 4000 and 4001 sharing Redis. Later issues add the
 * data layer and generators.
 *
 * Run: make run (or build/bin/showcase; `build/bin/showcase routes` prints the routes).
 * The chat page and the LiveViews need the npm clients: `npm ci && npm run build` in
 * examples/showcase/assets (tools/deps.sh runs both).
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bennu.h>

#include "counter.html.h"
#include "page_html_chat.html.h"
#include "page_html_hello.html.h"
#include "page_html_home.html.h"
#include "root.html.h"
#include "server_clock.html.h"
#include "showcase.h"
#include "signup.html.h"
#include "todos.html.h"

static const showcase_demo demos[] = {
    {"/hello/:name", "/hello/world", "a path param, HTML-escaped by the template."},
    {"/sleep?ms=500", "/sleep?ms=500",
     "the handler sleeps 500 ms in its task; every other connection keeps being served meanwhile."},
    {"POST /api/echo", NULL,
     "params from a form or JSON body, answered as JSON (curl -d 'user[name]=Ada' localhost:4000/api/echo)."},
    {"POST /api/upload", NULL,
     "a multipart upload, streamed to a temporary file as it arrives (curl -F file=@big.iso localhost:4000/api/upload)."},
    {"/counter", "/counter",
     "a LiveView: the count lives on the server, each click is an event over /live and the page gets back "
     "a diff holding only the new number."},
    {"/clock", "/clock", "a LiveView that ticks: handle_info assigns the server time every second."},
    {"/todos", "/todos",
     "a todo list whose changes appear in every open tab at once: each view subscribes to a PubSub topic and "
     "re-reads the shared list when a change is broadcast. Open it in two tabs."},
    {"/signup", "/signup",
     "a LiveView form validated as you type with the data layer's changesets: a field's errors show once you "
     "have touched it (or after a submit), and a valid submit is welcomed."},
    {"/chat", "/chat",
     "a chat room over Channels: the npm phoenix client joins room:lobby over a WebSocket (long-poll if that "
     "fails) and every message is broadcast to the room. Open it in two tabs."},
    {"/plaintext", "/plaintext", "a TechEmpower endpoint that make bench races against nginx (so is /json)."},
    {"/health", "/health", "a liveness check."},
};

static void home(bn_conn *c) { bn_render(c, page_html_home, &(page_html_home_assigns){demos, BN_ARRAY_LEN(demos)}); }

static void hello(bn_conn *c)
{
    bn_str name = bn_conn_param(c, "name");
    bn_render(c, page_html_hello, &(page_html_hello_assigns){bn_arena_strndup(bn_conn_arena(c), name.ptr, name.len)});
}

static void sleepy(bn_conn *c)
{
    int64_t ms = 100;
    bn_value_to_int(bn_value_get(bn_conn_params(c), "ms"), &ms);
    ms = ms < 0 ? 0 : ms > 10000 ? 10000 : ms;
    bn_sleep((uint64_t)ms);
    bn_conn_text(c, 200, bn_str_from_cstr(bn_arena_printf(bn_conn_arena(c), "slept %lld ms\n", (long long)ms)));
}

static void clock_stream(bn_conn *c)
{
    bn_conn_sse_start(c);
    for (int i = 0; i < 3600; i++) { /* an hour at most; stops when the tab closes */
        char now[32];
        time_t t = time(NULL);
        strftime(now, sizeof now, "%H:%M:%S UTC", gmtime(&t));
        if (bn_conn_sse_send(c, "tick", bn_str_from_cstr(now), NULL) < 0)
            return;
        bn_sleep(1000);
    }
}

static void plaintext(bn_conn *c) { bn_conn_text(c, 200, BN_STR("Hello, World!")); }

static void json(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "message", bn_value_string(a, BN_STR("Hello, World!")));
    bn_conn_json(c, 200, v);
}

static void echo(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "params", (bn_value *)bn_conn_params(c));
    bn_value_set(a, v, "request_id", bn_value_string(a, bn_str_from_cstr(bn_conn_request_id(c))));
    bn_conn_json(c, 200, v);
}

/* A multipart upload: the file was streamed to a temporary file while it
 * arrived (never held in memory) and is removed when this request ends. */
static void upload(bn_conn *c)
{
    const bn_value *file = bn_value_get(bn_conn_params(c), "file");
    if (!bn_value_get(file, "path"))
        bn_raise(c, 422, "no file in the \"file\" field");
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "filename", (bn_value *)bn_value_get(file, "filename"));
    bn_value_set(a, v, "size", (bn_value *)bn_value_get(file, "size"));
    bn_conn_json(c, 200, v);
}

static void health(bn_conn *c) { bn_conn_text(c, 200, BN_STR("ok\n")); }

/* ---- a chat room over Channels ---------------------------------------------- */

/* A room channel's state: who its client joined as. */
typedef struct room_state {
    char user[64];
} room_state;

/* Any join is accepted (the reply's response is {}); one with {"user": NAME} is tracked in the
 * room's Presence once the reply has gone. */
static int room_join(bn_channel *ch, const bn_value *payload)
{
    bn_str user = bn_value_str(bn_value_get(payload, "user"));
    if (user.len && user.len < sizeof(((room_state *)0)->user)) {
        room_state *st = bn_channel_state(ch);
        memcpy(st->user, user.ptr, user.len);
        bn_channel_send_after(ch, 0, NULL);
    }
    return 0;
}

/* After the join: {"user": NAME, "online_at": unix time} in Presence; presence_state to the
 * joiner, presence_diff to the room (on every node of a cluster). */
static void room_info(bn_channel *ch, const bn_value *msg)
{
    (void)msg;
    room_state *st = bn_channel_state(ch);
    bn_arena *a = bn_channel_arena(ch);
    bn_value *meta = bn_value_object(a);
    bn_value_set(a, meta, "user", bn_value_string(a, bn_str_from_cstr(st->user)));
    bn_value_set(a, meta, "online_at", bn_value_int(a, (int64_t)time(NULL)));
    bn_presence_track(ch, st->user, meta);
    bn_presence_push_state(ch);
}

/* new_msg {"body": ...} goes to everyone in the room as is; ping is answered with what it carried. */
static void room_in(bn_channel *ch, const bn_channel_msg *m)
{
    if (bn_str_eq(m->event, BN_STR("new_msg")) && bn_value_get(m->payload, "body"))
        bn_channel_broadcast(ch, "new_msg", m->payload);
    else if (bn_str_eq(m->event, BN_STR("ping")) && m->binary.ptr)
        bn_channel_reply_binary(ch, "ok", m->binary);
    else if (bn_str_eq(m->event, BN_STR("ping")))
        bn_channel_reply(ch, "ok", m->payload);
}

static const bn_channel_def room_channel = {
    .name = "RoomChannel",
    .state_size = sizeof(room_state),
    .join = room_join,
    .handle_in = room_in,
    .handle_info = room_info,
};
static const bn_channel_route channels[] = {{"room:*", &room_channel}};
static const bn_socket_def user_socket = {
    .name = "UserSocket",
    .path = "/socket", /* /socket/websocket and /socket/longpoll */
    .channels = channels,
    .nchannels = BN_ARRAY_LEN(channels),
    .longpoll = true,
};

/* ---- LiveViews ------------------------------------------------------------------ */

/* CounterLive: the count starts at 0 on every mount (a reload or a reconnect starts over). */
static int counter_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    bn_live_assign(lv, counter, count, 0);
    return 0;
}

/* inc and dec change one assign: the reply's diff is that one number. */
static void counter_event(bn_live *lv, bn_str event, const bn_value *value)
{
    (void)value;
    const counter_assigns *a = bn_live_assigns(lv);
    if (bn_str_eq(event, BN_STR("inc")))
        bn_live_assign(lv, counter, count, a->count + 1);
    else if (bn_str_eq(event, BN_STR("dec")))
        bn_live_assign(lv, counter, count, a->count - 1);
}

static const bn_live_def counter_live = {
    .name = "CounterLive",
    .title = "Counter",
    BN_LIVE_TEMPLATE(counter),
    .mount = counter_mount,
    .handle_event = counter_event,
};

/* ClockLive's own memory: the text its `now` assign points to. */
typedef struct clock_state {
    char now[16]; /* "HH:MM:SS UTC" */
} clock_state;

/* Assigns the current time and schedules the next tick just after the next second starts. */
static void clock_tick(bn_live *lv)
{
    clock_state *st = bn_live_state(lv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    strftime(st->now, sizeof st->now, "%H:%M:%S UTC", gmtime_r(&ts.tv_sec, &tm));
    bn_live_assign(lv, server_clock, now, st->now);
    if (bn_live_connected(lv)) {
        bn_arena *a = bn_live_arena(lv);
        uint64_t to_next_second = 1000 - (uint64_t)(ts.tv_nsec / 1000000) + 5;
        bn_live_send_after(lv, to_next_second, bn_value_string(a, BN_STR("tick")));
    }
}

static int clock_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    clock_tick(lv); /* the timer only starts once connected */
    return 0;
}

static void clock_info(bn_live *lv, const bn_value *msg)
{
    (void)msg; /* "tick", the only message */
    clock_tick(lv);
}

static const bn_live_def clock_live = {
    .name = "ClockLive",
    .title = "Clock",
    BN_LIVE_TEMPLATE(server_clock),
    .state_size = sizeof(clock_state),
    .mount = clock_mount,
    .handle_info = clock_info,
};

/* TodosLive: one todo list in the process's memory, shared by every view (no database in this
 * slice: a restart empties it). A change is made under the lock, then broadcast as "changed" to
 * the PubSub topic "todos"; every view subscribed to it copies the list again. Views run on any
 * loop thread, hence the lock; each keeps its own copy in its state, so the strings its template
 * reads never change under it. */
static struct {
    pthread_mutex_t lock;
    todo_item items[TODOS_MAX];
    size_t n;
    int next_id;
} todo_store = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

/* A view's copy of the list, which its `items` assign points into. */
typedef struct todos_state {
    todo_item items[TODOS_MAX];
    int added;          /* the add events of this view... */
    char added_text[12]; /* ...in decimal, on the input: each add changes it, which patches the input empty */
} todos_state;

/* Copies the shared list into the view's state and assigns it, unless it has not changed since the
 * last copy (the broadcast of the view's own change, already shown in its event's reply). */
static void todos_refresh(bn_live *lv, bool force)
{
    todos_state *st = bn_live_state(lv);
    const todos_assigns *a = bn_live_assigns(lv);
    pthread_mutex_lock(&todo_store.lock);
    size_t n = todo_store.n;
    bool same = a->n == n && memcmp(st->items, todo_store.items, n * sizeof *todo_store.items) == 0;
    if (!same)
        memcpy(st->items, todo_store.items, n * sizeof *todo_store.items);
    pthread_mutex_unlock(&todo_store.lock);
    if (same && !force)
        return;
    bn_live_assign(lv, todos, items, st->items);
    bn_live_assign(lv, todos, n, n);
}

/* Appends `text` (trimmed, cut to TODO_TEXT_MAX bytes on a UTF-8 boundary); false when empty or full. */
static bool todos_add(bn_str text)
{
    text = bn_str_trim(text);
    if (text.len > TODO_TEXT_MAX) {
        text.len = TODO_TEXT_MAX;
        while (text.len && ((unsigned char)text.ptr[text.len] & 0xC0) == 0x80) /* a continuation byte */
            text.len--;
    }
    if (!text.len)
        return false;
    pthread_mutex_lock(&todo_store.lock);
    bool added = todo_store.n < TODOS_MAX;
    if (added) {
        todo_item *t = &todo_store.items[todo_store.n++];
        memset(t, 0, sizeof *t); /* padding too: views compare copies with memcmp */
        t->id = todo_store.next_id++;
        snprintf(t->id_text, sizeof t->id_text, "%d", t->id);
        memcpy(t->text, text.ptr, text.len);
    }
    pthread_mutex_unlock(&todo_store.lock);
    return added;
}

/* Toggles (or deletes) the item `id`; false when there is none. */
static bool todos_update(int64_t id, bool delete)
{
    pthread_mutex_lock(&todo_store.lock);
    size_t i = 0;
    while (i < todo_store.n && todo_store.items[i].id != id)
        i++;
    bool found = i < todo_store.n;
    if (found && delete)
        memmove(&todo_store.items[i], &todo_store.items[i + 1], (--todo_store.n - i) * sizeof *todo_store.items);
    else if (found)
        todo_store.items[i].done = !todo_store.items[i].done;
    pthread_mutex_unlock(&todo_store.lock);
    return found;
}

/* Subscribes first (when connected), then reads: a change made in between still arrives. */
static int todos_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    if (bn_live_connected(lv))
        bn_live_subscribe(lv, "todos");
    todos_refresh(lv, true);
    return 0;
}

/* add {"text": …} (the form), toggle and delete {"id": …} (phx-value-id): the change shows in this
 * view's reply, and in every other view through the broadcast. */
static void todos_event(bn_live *lv, bn_str event, const bn_value *value)
{
    bool changed = false;
    int64_t id = 0;
    if (bn_str_eq(event, BN_STR("add"))) {
        changed = todos_add(bn_value_str(bn_value_get(value, "text")));
        todos_state *st = bn_live_state(lv);
        snprintf(st->added_text, sizeof st->added_text, "%d", ++st->added);
        bn_live_assign(lv, todos, added, st->added_text); /* empties the input, even when nothing was added */
    } else if (bn_str_eq(event, BN_STR("toggle")) || bn_str_eq(event, BN_STR("delete"))) {
        bool delete = bn_str_eq(event, BN_STR("delete"));
        changed = bn_value_to_int(bn_value_get(value, "id"), &id) && todos_update(id, delete);
    }
    if (!changed)
        return;
    todos_refresh(lv, false);
    bn_broadcast_json("todos", "changed", BN_STR("{}"));
}

/* {"topic": "todos", "event": "changed", …}: another view (or this one) changed the list. */
static void todos_info(bn_live *lv, const bn_value *msg)
{
    if (bn_str_eq(bn_value_str(bn_value_get(msg, "event")), BN_STR("changed")))
        todos_refresh(lv, false);
}

static const bn_live_def todos_live = {
    .name = "TodosLive",
    .title = "Todos",
    BN_LIVE_TEMPLATE(todos),
    .state_size = sizeof(todos_state),
    .mount = todos_mount,
    .handle_event = todos_event,
    .handle_info = todos_info,
};

/* SignupLive: a form validated as the user types, with the data layer's changesets (no database:
 * the schema only describes the form's fields). A field's errors show once the user has touched it
 * [used_input?]: the client sends `_unused_<name>` for the others; after a submit, all of them. */
#define SIGNUP_SCHEMA(FIELD, ASSOC)                                                                                    \
    FIELD(name, STRING)                                                                                                \
    FIELD(email, STRING)
BN_SCHEMA_DECLARE(signup_form, SIGNUP_SCHEMA)
BN_SCHEMA_DEFINE(signup_form, "signups", SIGNUP_SCHEMA)

/* The view's copies of what its assigns point to: the changeset lives only as long as the event. */
typedef struct signup_state {
    char name[324], email[324];         /* the inputs as typed (maxlength 80 and 160 characters) */
    char name_error[96], email_error[96];
    char welcome[192];
    bool submitted; /* after a submit every field's errors show */
} signup_state;

/* Copies `s` into `buf` (cut on a UTF-8 boundary) and returns `buf`. */
static const char *signup_copy(char *buf, size_t size, bn_str s)
{
    size_t n = s.len < size ? s.len : size - 1;
    while (n < s.len && n && ((unsigned char)s.ptr[n] & 0xC0) == 0x80) /* never half a character */
        n--;
    if (n)
        memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return buf;
}

static bn_changeset *signup_changeset(bn_arena *a, const bn_value *form)
{
    bn_changeset *cs = bn_changeset_cast(a, &signup_form_schema, NULL, form, BN_FIELDS("name", "email"));
    bn_validate_required(cs, BN_FIELDS("name", "email"));
    bn_validate_length(cs, "name", (bn_length_opts){.min = 2, .max = 40});
    bn_validate_format(cs, "email", "@", "must contain @");
    return cs;
}

/* The first error of `field` into `buf` when it is to be shown (the field was used, or the form
 * submitted), else NULL. */
static const char *signup_error(const bn_changeset *cs, const bn_value *form, bool all, const char *field, char *buf,
                                size_t size, bn_arena *a)
{
    const char *const *errors = bn_changeset_errors(cs, field);
    bool used = bn_value_get(form, field) && !bn_value_get(form, bn_arena_printf(a, "_unused_%s", field));
    if (!errors || !errors[0] || !(all || used))
        return NULL;
    return signup_copy(buf, size, bn_str_from_cstr(errors[0]));
}

static int signup_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    bn_live_assign(lv, signup, name, "");
    bn_live_assign(lv, signup, email, "");
    return 0;
}

/* validate (phx-change) and save (phx-submit): both cast the form; save also welcomes a valid one. */
static void signup_event(bn_live *lv, bn_str event, const bn_value *form)
{
    bool save = bn_str_eq(event, BN_STR("save"));
    if (!save && !bn_str_eq(event, BN_STR("validate")))
        return;
    signup_state *st = bn_live_state(lv);
    bn_arena *a = bn_live_arena(lv);
    st->submitted |= save;
    bn_changeset *cs = signup_changeset(a, form);
    bn_live_assign(lv, signup, name, signup_copy(st->name, sizeof st->name, bn_changeset_input(cs, "name")));
    bn_live_assign(lv, signup, email, signup_copy(st->email, sizeof st->email, bn_changeset_input(cs, "email")));
    bn_live_assign(lv, signup, name_error,
                   signup_error(cs, form, st->submitted, "name", st->name_error, sizeof st->name_error, a));
    bn_live_assign(lv, signup, email_error,
                   signup_error(cs, form, st->submitted, "email", st->email_error, sizeof st->email_error, a));
    if (save && bn_changeset_valid(cs)) {
        const signup_form *f = bn_changeset_apply(cs);
        snprintf(st->welcome, sizeof st->welcome, "Welcome, %s!", f->name);
        bn_live_assign(lv, signup, welcome, st->welcome);
    } else if (save) {
        bn_live_assign(lv, signup, welcome, NULL);
    }
}

static const bn_live_def signup_live = {
    .name = "SignupLive",
    .title = "Sign up",
    BN_LIVE_TEMPLATE(signup),
    .state_size = sizeof(signup_state),
    .mount = signup_mount,
    .handle_event = signup_event,
};

/* ---- the browser bundles ------------------------------------------------------------ */

/* The npm clients, from examples/showcase/assets (found from this file's path, set in main):
 * phoenix's own bundle for the chat page, and dist/app.js (js/app.js bundled by esbuild) for
 * every page, which runs the LiveView client. */
static char assets_dir[PATH_MAX];
static char phoenix_js_path[PATH_MAX + 64];
static char app_js_path[PATH_MAX + 64];

static bool phoenix_js_present(void) { return access(phoenix_js_path, R_OK) == 0; }

static void chat(bn_conn *c)
{
    bn_render(c, page_html_chat, &(page_html_chat_assigns){phoenix_js_present(), assets_dir});
}

/* Sends the JavaScript file at `path`, or a 404 that says which command makes it. */
static void send_js(bn_conn *c, const char *path, const char *what, const char *command)
{
    if (access(path, R_OK) != 0) {
        bn_conn_text(c, 404,
                     bn_str_from_cstr(bn_arena_printf(bn_conn_arena(c), "%s is missing: run `%s` in %s\n", what,
                                                      command, assets_dir)));
        return;
    }
    bn_conn_put_resp_content_type(c, "text/javascript");
    if (bn_conn_send_file(c, 200, path) < 0)
        bn_raise(c, 404, "%s cannot be read", what);
}

static void phoenix_js(bn_conn *c) { send_js(c, phoenix_js_path, "the phoenix client", "npm ci"); }

static void app_js(bn_conn *c)
{
    send_js(c, app_js_path, "the LiveView client (dist/app.js)", "npm ci && npm run build");
}

static void find_assets(void)
{
    const char *file = __FILE__; /* absolute when CMake builds it */
    const char *slash = strrchr(file, '/');
    if (slash)
        snprintf(assets_dir, sizeof assets_dir, "%.*s/assets", (int)(slash - file), file);
    else
        snprintf(assets_dir, sizeof assets_dir, "assets");
    snprintf(phoenix_js_path, sizeof phoenix_js_path, "%s/node_modules/phoenix/priv/static/phoenix.min.js",
             assets_dir);
    snprintf(app_js_path, sizeof app_js_path, "%s/dist/app.js", assets_dir);
}

/* The cookie session: it holds the CSRF state that the LiveView socket checks its
 * _csrf_token against (the page's <meta name="csrf-token">). */
static const bn_session_opts session_opts = {.key = "_showcase_key", .signing_salt = "Lv8sQm2x"};

/* Endpoint plug: the session for the LiveView socket's requests only (before bn_live_socket),
 * so that /plaintext and /json stay free of cookies. */
static void fetch_live_session(bn_conn *c, const void *opts)
{
    bn_str path = bn_conn_path(c);
    if (path.len >= 6 && memcmp(path.ptr, "/live/", 6) == 0)
        bn_plug_fetch_session(c, opts);
}

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session_opts), BN_PLUG(bn_plug_secure_headers, NULL),
                BN_PLUG_ROOT_LAYOUT(root));
    bn_scope(r, "/", "browser") {
        bn_get(r, "/", home);
        bn_get(r, "/hello/:name", hello);
        bn_get(r, "/sleep", sleepy);
        bn_get(r, "/clock/stream", clock_stream);
        bn_get(r, "/chat", chat);
        bn_live(r, "/counter", &counter_live);
        bn_live(r, "/clock", &clock_live);
        bn_live(r, "/todos", &todos_live);
        bn_live(r, "/signup", &signup_live);
    }
    bn_scope(r, "/api") {
        bn_post(r, "/echo", echo);
        bn_post(r, "/upload", upload);
    }
    bn_get(r, "/plaintext", plaintext);
    bn_get(r, "/json", json);
    bn_get(r, "/health", health);
    bn_get(r, "/assets/phoenix.js", phoenix_js);
    bn_get(r, "/assets/app.js", app_js);
}

static const bn_plug endpoint_plugs[] = {
    BN_PLUG(bn_socket_plug, &user_socket), /* first: it answers /socket/... and halts */
    BN_PLUG(fetch_live_session, &session_opts),
    BN_PLUG(bn_socket_plug, &bn_live_socket), /* /live/...: the LiveView client */
    BN_PLUG(bn_plug_request_id, NULL),
    BN_PLUG(bn_plug_logger, NULL),
};

/* A development secret for the session cookie and the LiveView tokens when none is set, as
 * Phoenix's config/dev.exs has one: a deployment sets its own SECRET_KEY_BASE. */
#define DEV_SECRET_KEY_BASE "showcase-development-only-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyz"

int main(int argc, char **argv)
{
    find_assets();
    if (!getenv("SECRET_KEY_BASE")) {
        bn_warn("SECRET_KEY_BASE is not set: using the showcase's development secret (never in production)");
        setenv("SECRET_KEY_BASE", DEV_SECRET_KEY_BASE, 0);
    }
    if (bn_pubsub_start(NULL) != 0) /* REDIS_URL: a node of a cluster (BENNU_NODE names it) */
        return 1;
    bn_router *r = bn_router_new();
    routes(r);
    bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = BN_ARRAY_LEN(endpoint_plugs), .router = r};
    int status = bn_endpoint_main(&ep, argc, argv);
    bn_router_free(r);
    return status;
}
