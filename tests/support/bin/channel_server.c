/*
 * The server the real-client tests (tests/js) talk to: one socket at /socket
 * (WebSocket and long-poll) whose channels do one thing per event, so that
 * the npm `phoenix` client can check each part of the protocol, plus a chat
 * page at /chat for the browser test.
 *
 * Port: argv[1] or PORT (0 picks a free one; the "listening on" log line
 * tells which). CHANNEL_SERVER_TIMEOUT_MS sets the socket's idle timeout,
 * CHANNEL_SERVER_MAX_OUTGOING its high-water mark, LONGPOLL_WINDOW_MS the
 * long-poll window, CHANNEL_SERVER_COMPRESS
 * (any value) turns permessage-deflate on; REDIS_URL and BENNU_NODE make it
 * a node of a cluster (bn_pubsub_start). Joining room:* with {"user": NAME}
 * tracks the client in the room's Presence. PHOENIX_JS is the path of the phoenix client bundle served at
 * /assets/phoenix.js. It gets SIGTERM when the process that started it dies.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

#include <bennu.h>

static bool str_is(bn_str s, const char *lit) { return bn_str_eq(s, bn_str_from_cstr(lit)); }

/* ---- socket ------------------------------------------------------------ */

/* The session GET /login/:user sets, which connect reads back (connect_info). */
static const bn_session_opts session_opts = {
    .key = "_cs_key",
    .signing_salt = "channel server",
    .secret_key_base = "channel-server-secret-channel-server-secret-channel-server-secret!",
};

/* What connect saw of the request: "whoami" answers with it. */
typedef struct socket_info {
    char peer[48];
    char client_name[64];
    char session_user[64];
} socket_info;

static void copy_str(char *dst, size_t size, bn_str s) { snprintf(dst, size, "%.*s", (int)s.len, s.ptr ? s.ptr : ""); }

static void remember_connect_info(bn_socket *s, bn_conn *c)
{
    socket_info *info = bn_socket_state(s);
    if (!c)
        return;
    copy_str(info->peer, sizeof info->peer, bn_str_from_cstr(bn_conn_remote_ip(c)));
    copy_str(info->client_name, sizeof info->client_name, bn_conn_req_header(c, BN_STR("x-client-name")));
    bn_plug_fetch_session(c, &session_opts);
    copy_str(info->session_user, sizeof info->session_user, bn_value_str(bn_session_get(c, "user")));
}

/* Refuses reject=1 and a wrong auth token; names the socket after user_id (for "kick"). */
static int user_connect(bn_socket *s, const bn_value *params, bn_conn *c)
{
    if (str_is(bn_value_str(bn_value_get(params, "reject")), "1"))
        return -1;
    bn_str token = bn_socket_auth_token(s);
    if (token.ptr && !str_is(token, "secret-token"))
        return -1;
    remember_connect_info(s, c);
    bn_str user = bn_value_str(bn_value_get(params, "user_id"));
    if (user.len)
        bn_socket_set_id(s, bn_arena_printf(bn_conn_arena(c), "users_socket:%.*s", (int)user.len, user.ptr));
    return 0;
}

/* ---- channels ---------------------------------------------------------- */

static void reply_reason(bn_channel *ch, const char *status, const char *reason)
{
    bn_arena *a = bn_channel_arena(ch);
    bn_value *response = bn_value_object(a);
    bn_value_set(a, response, "reason", bn_value_string(a, bn_str_from_cstr(reason)));
    bn_channel_reply(ch, status, response);
}

/* A room channel's state: the user its client joined as (params "user"), if any. */
typedef struct room_state {
    char user[64];
} room_state;

static int room_join(bn_channel *ch, const bn_value *payload)
{
    if (str_is(bn_channel_topic(ch), "room:forbidden")) {
        reply_reason(ch, "error", "unauthorized");
        return -1;
    }
    const bn_value *welcome = bn_value_get(payload, "welcome");
    if (bn_value_is(welcome, BN_VALUE_BOOL) && welcome->as.b) /* pushed once the join's reply has gone */
        bn_channel_send_after(ch, 0, bn_value_string(bn_channel_arena(ch), BN_STR("after_join")));
    bn_str user = bn_value_str(bn_value_get(payload, "user"));
    if (user.len) { /* tracked in the room's Presence once joined */
        copy_str(((room_state *)bn_channel_state(ch))->user, sizeof(((room_state *)0)->user), user);
        bn_channel_send_after(ch, 0, bn_value_string(bn_channel_arena(ch), BN_STR("track")));
    }
    return 0;
}

/* Presence: {"user": NAME, "online_at": ms}, the state to the joiner, a diff to the room. */
static void track(bn_channel *ch)
{
    const room_state *st = bn_channel_state(ch);
    bn_arena *a = bn_channel_arena(ch);
    bn_value *meta = bn_value_object(a);
    bn_value_set(a, meta, "user", bn_value_string(a, bn_str_from_cstr(st->user)));
    bn_value_set(a, meta, "online_at", bn_value_int(a, (int64_t)time(NULL)));
    bn_presence_track(ch, st->user, meta);
    bn_presence_push_state(ch);
}

static void room_info(bn_channel *ch, const bn_value *msg)
{
    if (str_is(bn_value_str(msg), "after_join"))
        bn_channel_push_json(ch, "welcome", BN_STR("{}"));
    else if (str_is(bn_value_str(msg), "track"))
        track(ch);
}

/* The user id to kick: a string or a number. */
static const char *kick_id(bn_arena *a, const bn_value *payload)
{
    const bn_value *user = bn_value_get(payload, "user_id");
    int64_t n;
    if (bn_value_is(user, BN_VALUE_STRING))
        return bn_arena_printf(a, "users_socket:%.*s", (int)user->as.s.len, user->as.s.ptr);
    if (bn_value_to_int(user, &n))
        return bn_arena_printf(a, "users_socket:%lld", (long long)n);
    return NULL;
}

static void room_in(bn_channel *ch, const bn_channel_msg *m)
{
    bn_str ev = m->event;
    if (str_is(ev, "new_msg") || str_is(ev, "secret")) {
        bn_channel_broadcast(ch, bn_arena_strndup(bn_channel_arena(ch), ev.ptr, ev.len), m->payload);
    } else if (str_is(ev, "shout_from")) {
        bn_channel_broadcast_from(ch, "shout_from", m->payload);
    } else if (str_is(ev, "ping")) { /* echoes the payload, binary as binary */
        if (m->binary.ptr)
            bn_channel_reply_binary(ch, "ok", m->binary);
        else
            bn_channel_reply(ch, "ok", m->payload);
    } else if (str_is(ev, "push_me")) {
        bn_channel_push(ch, "pushed", m->payload);
    } else if (str_is(ev, "error_reply")) {
        reply_reason(ch, "error", "nope");
    } else if (str_is(ev, "crash")) {
        bn_channel_raise(ch, "crash requested by the client");
    } else if (str_is(ev, "stop")) {
        bn_channel_stop(ch);
    } else if (str_is(ev, "slow")) { /* suspends: the socket's next message must wait; echoes */
        bn_sleep(200);
        bn_channel_reply(ch, "ok", m->payload);
    } else if (str_is(ev, "flood")) { /* {"count": N, "size": B}: N broadcasts of B bytes to the room, then
                                         flood_done to room:lobby */
        int64_t count = 0, size = 0;
        bn_value_to_int(bn_value_get(m->payload, "count"), &count);
        bn_value_to_int(bn_value_get(m->payload, "size"), &size);
        size = size < 1 ? 1 : size > 1 << 20 ? 1 << 20 : size;
        char *blob = bn_arena_alloc(bn_channel_arena(ch), (size_t)size + 16);
        int len = snprintf(blob, 16, "{\"x\":\"");
        memset(blob + len, 'x', (size_t)size);
        memcpy(blob + len + size, "\"}", 2);
        for (int64_t i = 0; i < count && i < 100000; i++)
            bn_channel_broadcast_json(ch, "flood", bn_str_make(blob, (size_t)(len + size + 2)));
        /* After the flood in every thread's queue: with one loop thread, who gets this has seen it all sent. */
        bn_broadcast_json("room:lobby", "flood_done", BN_STR("{}"));
        bn_channel_reply(ch, "ok", NULL);
    } else if (str_is(ev, "whoami")) { /* what connect saw: peer, a header, the session */
        const socket_info *info = bn_socket_state(bn_channel_socket(ch));
        bn_arena *a = bn_channel_arena(ch);
        bn_value *r = bn_value_object(a);
        bn_value_set(a, r, "peer", bn_value_string(a, bn_str_from_cstr(info->peer)));
        bn_value_set(a, r, "client_name", bn_value_string(a, bn_str_from_cstr(info->client_name)));
        bn_value_set(a, r, "session_user", bn_value_string(a, bn_str_from_cstr(info->session_user)));
        bn_channel_reply(ch, "ok", r);
    } else if (str_is(ev, "kick")) {
        const char *id = kick_id(bn_channel_arena(ch), m->payload);
        if (!id) {
            reply_reason(ch, "error", "user_id missing");
            return;
        }
        bn_socket_disconnect(id);
        bn_channel_reply(ch, "ok", NULL);
    } else {
        reply_reason(ch, "error", "unknown event");
    }
}

/* "secret" broadcasts reach each client filtered. */
static void intercepted_out(bn_channel *ch, bn_str event, const bn_value *payload)
{
    (void)payload;
    if (str_is(event, "secret"))
        bn_channel_push_json(ch, "secret", BN_STR("{\"filtered\":true}"));
}

static const bn_channel_def room_channel = {
    .name = "RoomChannel",
    .state_size = sizeof(room_state),
    .join = room_join,
    .handle_in = room_in,
    .handle_info = room_info,
};

static const bn_channel_def intercepted_channel = {
    .name = "InterceptedChannel",
    .join = room_join,
    .handle_in = room_in,
    .intercept = (const char *const[]){"secret", NULL},
    .handle_out = intercepted_out,
};

static const bn_channel_route channels[] = {
    {"room:*", &room_channel},
    {"intercepted:*", &intercepted_channel},
};

/* Not const: main sets the timeout from the environment before serving. */
static bn_socket_def user_socket = {
    .name = "UserSocket",
    .path = "/socket",
    .channels = channels,
    .nchannels = BN_ARRAY_LEN(channels),
    .connect = user_connect,
    .state_size = sizeof(socket_info),
    .longpoll = true,
    .auth_token = true,
    .check_origin = BN_ORIGIN_ANY,
};

/* ---- the browser's chat page -------------------------------------------- */

static const char chat_page[] =
    "<!doctype html>\n"
    "<html><head><meta charset=\"utf-8\"><title>chat</title><link rel=\"icon\" href=\"data:,\">\n"
    "<script src=\"/assets/phoenix.js\"></script></head>\n"
    "<body><ul id=\"messages\"></ul><p id=\"status\">connecting</p>\n"
    "<script>\n"
    "const socket = new Phoenix.Socket(\"/socket\", {params: {}});\n"
    "socket.connect();\n"
    "const channel = socket.channel(\"room:browser\", {});\n"
    "channel.on(\"new_msg\", (msg) => {\n"
    "  const li = document.createElement(\"li\");\n"
    "  li.textContent = msg.body;\n"
    "  document.getElementById(\"messages\").appendChild(li);\n"
    "});\n"
    "channel.join().receive(\"ok\", () => { document.getElementById(\"status\").textContent = \"joined\"; });\n"
    "window.sendMessage = (body) => channel.push(\"new_msg\", {body: body});\n"
    "</script></body></html>\n";

static void chat(bn_conn *c) { bn_conn_html(c, 200, bn_str_make(chat_page, sizeof chat_page - 1)); }

static void phoenix_js(bn_conn *c)
{
    const char *path = getenv("PHOENIX_JS");
    bn_conn_put_resp_content_type(c, "text/javascript");
    if (!path || bn_conn_send_file(c, 200, path) < 0)
        bn_conn_text(c, 404, BN_STR("PHOENIX_JS is not set or cannot be read\n"));
}

/* GET /login/:user puts the user in the session cookie that a socket's connect then reads. */
static void login(bn_conn *c)
{
    bn_plug_fetch_session(c, &session_opts);
    bn_session_put(c, "user", bn_value_string(bn_conn_arena(c), bn_conn_param(c, "user")));
    bn_conn_text(c, 200, BN_STR("ok\n"));
}

static const bn_plug endpoint_plugs[] = {
    BN_PLUG(bn_socket_plug, &user_socket),
    BN_PLUG(bn_plug_logger, NULL),
};

int main(int argc, char **argv)
{
    /* A test runner that is killed outright cannot stop its servers: they stop with it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (argc > 1)
        setenv("PORT", argv[1], 1);
    if (bn_pubsub_start(NULL) != 0) /* a cluster node when REDIS_URL is set; BENNU_NODE names it */
        return 1;
    const char *timeout = getenv("CHANNEL_SERVER_TIMEOUT_MS");
    if (timeout)
        user_socket.timeout_ms = (unsigned)strtoul(timeout, NULL, 10);
    const char *window = getenv("LONGPOLL_WINDOW_MS");
    if (window)
        user_socket.longpoll_window_ms = (unsigned)strtoul(window, NULL, 10);
    const char *max_outgoing = getenv("CHANNEL_SERVER_MAX_OUTGOING");
    if (max_outgoing)
        user_socket.max_outgoing = strtoul(max_outgoing, NULL, 10);
    user_socket.compress = getenv("CHANNEL_SERVER_COMPRESS") != NULL; /* permessage-deflate when offered */
    bn_router *r = bn_router_new();
    bn_get(r, "/chat", chat);
    bn_get(r, "/login/:user", login);
    bn_get(r, "/assets/phoenix.js", phoenix_js);
    bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = BN_ARRAY_LEN(endpoint_plugs), .router = r};
    int status = bn_endpoint_main(&ep, 1, argv);
    bn_router_free(r);
    return status;
}
