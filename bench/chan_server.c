/*
 * bench/chan_server.c — the channel server of `make bench`'s ws_* cases
 * (bench/README.md), on the public API of bennu/socket.h; chanload loads it
 * and bench/ws_peer.mjs (npm `ws`) the same way, for comparison.
 *
 *   /socket/websocket   UserSocket: every connection accepted (no params)
 *     "room:*"          RoomChannel: every join accepted, no state;
 *                       "new_msg" -> broadcast to the topic (the sender too),
 *                       "ping"    -> reply ok with the payload as response
 *   GET /               200 "ok" (run.sh's readiness probe)
 *   anything else       404
 *
 * Configured from the environment like every Bennu server (PORT, BENNU_BIND,
 * BENNU_THREADS, BENNU_MASTER, ...; bn_server_config_defaults).
 */
#include <stdlib.h>

#include "bennu/http.h"
#include "bennu/socket.h"
#include "bennu/web.h"

static int room_join(bn_channel *ch, const bn_value *payload)
{
    (void)ch;
    (void)payload;
    return 0;
}

static void room_in(bn_channel *ch, const bn_channel_msg *m)
{
    if (bn_str_eq(m->event, BN_STR("new_msg")))
        bn_channel_broadcast(ch, "new_msg", m->payload);
    else if (bn_str_eq(m->event, BN_STR("ping")))
        bn_channel_reply(ch, "ok", m->payload);
}

static const bn_channel_def room_channel = {.name = "RoomChannel", .join = room_join, .handle_in = room_in};
static const bn_channel_route channels[] = {{"room:*", &room_channel}};
static const bn_socket_def user_socket = {
    .name = "UserSocket",
    .path = "/socket",
    .channels = channels,
    .nchannels = 1,
    /* chanload's connections stay silent for the whole run, where a browser
     * would send a heartbeat every 30 s: no idle close during the measurement. */
    .timeout_ms = 10 * 60 * 1000,
};

static void route(bn_conn *c)
{
    bn_socket_plug(c, &user_socket);
    if (bn_conn_halted(c))
        return;
    if (bn_str_eq(bn_conn_path(c), BN_STR("/")))
        bn_conn_send_resp(c, 200, BN_STR("ok"));
    else
        bn_conn_send_resp(c, 404, BN_STR("Not Found"));
}

int main(int argc, char **argv)
{
    (void)argc;
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv);
    cfg.handler = route;
    return bn_server_run(&cfg);
}
