/*
 * The server of tests/integration/test_longpoll.c: one socket at /socket
 * served over long-poll only, with a short poll window so that the tests
 * see 204s and expired sessions quickly.
 *
 * LONGPOLL_WINDOW_MS sets the window (default 300 ms). Connect refuses
 * reject=1 and an auth token other than "secret-token", and names the
 * socket "user:<user_id>". Channel "room:*": "room:forbidden" refuses joins;
 * events "new_msg" (broadcast to the room), "ping" (replies with the
 * payload), "slow" (sleeps 100 ms, then replies: the socket's next messages
 * wait), "push_me" (pushes "pushed") and "kick" (disconnects the sockets
 * named payload.id).
 */
#include <stdlib.h>

#include <bennu.h>

static bool str_is(bn_str s, const char *lit) { return bn_str_eq(s, bn_str_from_cstr(lit)); }

static int user_connect(bn_socket *s, const bn_value *params, bn_conn *c)
{
    if (str_is(bn_value_str(bn_value_get(params, "reject")), "1"))
        return -1;
    bn_str token = bn_socket_auth_token(s);
    if (token.ptr && !str_is(token, "secret-token"))
        return -1;
    bn_str user = bn_value_str(bn_value_get(params, "user_id"));
    if (user.len)
        bn_socket_set_id(s, bn_arena_printf(bn_conn_arena(c), "user:%.*s", (int)user.len, user.ptr));
    return 0;
}

static int room_join(bn_channel *ch, const bn_value *payload)
{
    (void)payload;
    return str_is(bn_channel_topic(ch), "room:forbidden") ? -1 : 0;
}

static void room_in(bn_channel *ch, const bn_channel_msg *m)
{
    if (str_is(m->event, "new_msg")) {
        bn_channel_broadcast(ch, "new_msg", m->payload);
    } else if (str_is(m->event, "ping")) {
        bn_channel_reply(ch, "ok", m->payload);
    } else if (str_is(m->event, "slow")) {
        bn_sleep(100);
        bn_channel_reply(ch, "ok", m->payload);
    } else if (str_is(m->event, "push_me")) {
        bn_channel_push(ch, "pushed", m->payload);
    } else if (str_is(m->event, "kick")) {
        bn_str id = bn_value_str(bn_value_get(m->payload, "id"));
        bn_socket_disconnect(bn_arena_strndup(bn_channel_arena(ch), id.ptr ? id.ptr : "", id.len));
        bn_channel_reply(ch, "ok", NULL);
    }
}

static const bn_channel_def room_channel = {.name = "RoomChannel", .join = room_join, .handle_in = room_in};
static const bn_channel_route channels[] = {{"room:*", &room_channel}};

/* Not const: main sets the window from the environment. */
static bn_socket_def user_socket = {
    .name = "UserSocket",
    .path = "/socket",
    .channels = channels,
    .nchannels = BN_ARRAY_LEN(channels),
    .connect = user_connect,
    .longpoll = true,
    .no_websocket = true,
    .auth_token = true,
    .check_origin = BN_ORIGIN_ANY,
    .longpoll_window_ms = 300,
};

static void not_found(bn_conn *c) { bn_conn_text(c, 404, BN_STR("no route\n")); }

static const bn_plug endpoint_plugs[] = {
    BN_PLUG(bn_socket_plug, &user_socket),
    BN_PLUG(bn_plug_logger, NULL),
};

int main(int argc, char **argv)
{
    const char *window = getenv("LONGPOLL_WINDOW_MS");
    if (window)
        user_socket.longpoll_window_ms = (unsigned)strtoul(window, NULL, 10);
    bn_router *r = bn_router_new();
    bn_match(r, "*", "/*path", not_found);
    bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = BN_ARRAY_LEN(endpoint_plugs), .router = r};
    int status = bn_endpoint_main(&ep, argc, argv);
    bn_router_free(r);
    return status;
}
