/*
 * bennu/socket.h — Phoenix.Socket and Phoenix.Channel in C: persistent
 * connections (WebSocket, and long-poll for clients that cannot open one)
 * that the unmodified npm `phoenix` client connects to, joins topics on,
 * pushes to and receives broadcasts from.
 *
 * A socket definition is served by an endpoint plug; its channels are routed
 * by topic pattern ("room:*"). Channel state is a user struct that Bennu
 * allocates at join and frees at terminate; every callback runs in a task on
 * the loop thread that owns the connection, so it may query the database or
 * sleep without stalling other connections. Callbacks of one socket never
 * run concurrently: while one is suspended the socket's next message waits.
 *
 * Example (docs/guides/channels.md has the whole chat):
 *
 *     static void room_in(bn_channel *ch, const bn_channel_msg *m) {
 *         if (bn_str_eq(m->event, BN_STR("new_msg")))
 *             bn_channel_broadcast(ch, "new_msg", m->payload);   // to everyone in the room
 *     }
 *     static const bn_channel_def room_channel = {.name = "RoomChannel", .handle_in = room_in};
 *     static const bn_channel_route channels[] = {{"room:*", &room_channel}};
 *     static const bn_socket_def user_socket = {
 *         .name = "UserSocket", .path = "/socket", .channels = channels, .nchannels = 1,
 *     };
 *     static const bn_plug endpoint_plugs[] = {BN_PLUG(bn_socket_plug, &user_socket), ...};
 *
 * Wire compatibility (PROTOCOLS.md §1–4): serializers V1 and V2 (JSON and
 * binary) chosen by `vsn`, heartbeats on "phoenix", phx_join / phx_leave /
 * phx_reply / phx_close / phx_error as Phoenix sends them, the `authToken`
 * subprotocol, long-poll at PATH/longpoll.
 */
#ifndef BENNU_SOCKET_H
#define BENNU_SOCKET_H

#include "bennu/web.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_socket bn_socket;
typedef struct bn_channel bn_channel;

/** A message the client pushed to a channel. */
typedef struct bn_channel_msg {
    bn_str event;
    const bn_value *payload; /* a JSON payload, or NULL when the payload is binary */
    bn_str binary;           /* a binary payload (V2 binary frame); .ptr NULL for JSON */
    bn_str ref;              /* the client's ref (replies echo it); .ptr NULL if none */
} bn_channel_msg;

/** A channel module [Phoenix.Channel]. Every callback but join may be NULL. */
typedef struct bn_channel_def {
    const char *name;  /* "RoomChannel", for logs */
    size_t state_size; /* bytes of per-channel state, zeroed at join: bn_channel_state() */
    /**
     * Decides a join of bn_channel_topic(ch) with the client's params. Return
     * 0 to accept, anything else to refuse. bn_channel_reply sets the reply's
     * response ({} if not called); its status follows the return value.
     * A refused join's channel is freed right after (terminate is not called).
     */
    int (*join)(bn_channel *ch, const bn_value *payload);
    /** A client push. Reply with bn_channel_reply*, or do not (noreply). */
    void (*handle_in)(bn_channel *ch, const bn_channel_msg *msg);
    /** NULL-terminated events that go through handle_out instead of straight to the client [intercept]. */
    const char *const *intercept;
    /** An intercepted broadcast, once per subscribed channel: push it (or something else), or drop it. */
    void (*handle_out)(bn_channel *ch, bn_str event, const bn_value *payload);
    /** A message from bn_channel_send_after [handle_info]. */
    void (*handle_info)(bn_channel *ch, const bn_value *msg);
    /**
     * The channel ends [terminate]: `reason` is "left" (phx_leave), "closed"
     * (the transport went away), "duplicate_join", "stopped" (bn_channel_stop),
     * "error" (a callback raised) or "shutdown" (the server drains). The
     * state is freed after it returns. Nothing can be sent from here.
     */
    void (*terminate)(bn_channel *ch, const char *reason);
} bn_channel_def;

/** A topic pattern and its channel: an exact topic, or a prefix ending in '*' ("room:*"). */
typedef struct bn_channel_route {
    const char *pattern;
    const bn_channel_def *def;
} bn_channel_route;

/** Allows every origin in bn_socket_def.check_origin. */
#define BN_ORIGIN_ANY ((const char *const[]){"*", NULL})

/** A socket handler [Phoenix.Socket] and its transport options. */
typedef struct bn_socket_def {
    const char *name; /* "UserSocket", for logs */
    const char *path; /* "/socket": serves PATH/websocket and (if longpoll) PATH/longpoll */
    const bn_channel_route *channels;
    size_t nchannels;
    size_t state_size; /* bytes of socket assigns, zeroed at connect: bn_socket_state() */
    /**
     * Accepts (0) or refuses (anything else: 403) a connection [connect/3].
     * `params` are the query params (the client's `params` option); `c` is
     * the HTTP request that opens the socket — its headers, cookies, session
     * and peer are the connect_info — valid only during this call. Set the
     * socket's id here (bn_socket_set_id). NULL: every connection is accepted.
     */
    int (*connect)(bn_socket *s, const bn_value *params, bn_conn *c);
    bool longpoll;      /* also serve PATH/longpoll (the client falls back to it by itself) */
    bool no_websocket;  /* do not serve PATH/websocket */
    bool compress;      /* permessage-deflate when the client offers it */
    bool auth_token;    /* read a token from Sec-WebSocket-Protocol / X-Phoenix-AuthToken */
    /**
     * Allowed origins, a NULL-terminated list of "scheme://host[:port]" or
     * "//host" (any scheme and port); a host written "*.example.com" allows
     * every subdomain; BN_ORIGIN_ANY allows all. NULL: the Origin's host must
     * equal the request's Host. A request without Origin passes.
     */
    const char *const *check_origin;
    unsigned timeout_ms;         /* a socket silent this long is closed (0: 60 s) */
    size_t max_frame_size;       /* largest inbound message (0: 1 MiB; more: close 1009) */
    unsigned max_channels;       /* joined channels per socket (0: 100) */
    size_t max_outgoing;         /* unsent bytes before a slow client is dropped (0: 4 MiB) */
    unsigned longpoll_window_ms; /* how long a poll waits for messages (0: 10 s) */
} bn_socket_def;

/**
 * The endpoint plug that serves `def` (a const bn_socket_def *): a request
 * for PATH/websocket or PATH/longpoll is answered and halted, any other
 * passes on. Put it first in the endpoint's plugs [socket/3].
 */
void bn_socket_plug(bn_conn *c, const void *def);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                    */

/** The socket assigns (state_size bytes, zeroed at connect), or NULL if state_size is 0. */
void *bn_socket_state(bn_socket *s);
/** Names this socket [id/1]: bn_socket_disconnect(id) closes every socket with it. Copied. */
void bn_socket_set_id(bn_socket *s, const char *id);
/** The id, or NULL. */
const char *bn_socket_id(const bn_socket *s);
/** The token from the client's `authToken` option (needs def->auth_token), during connect; else BN_STR_NULL. */
bn_str bn_socket_auth_token(const bn_socket *s);
/** "websocket" or "longpoll". */
const char *bn_socket_transport(const bn_socket *s);
/** The serializer version the client chose: 1 or 2. */
int bn_socket_vsn(const bn_socket *s);
/**
 * Closes every socket whose id is `id`, on every thread of this process
 * (WebSocket close code 1001, so clients reconnect and authenticate again).
 */
void bn_socket_disconnect(const char *id);

/* ------------------------------------------------------------------------ */
/* Channels (functions taking a bn_channel are called from its callbacks)    */

bn_socket *bn_channel_socket(bn_channel *ch);
/** The channel state (state_size bytes, zeroed at join), or NULL if state_size is 0. */
void *bn_channel_state(bn_channel *ch);
bn_str bn_channel_topic(const bn_channel *ch);
/** Memory that lives until the current callback returns. */
bn_arena *bn_channel_arena(bn_channel *ch);

/**
 * Replies to the message being handled (a join or a handle_in) with `status`
 * ("ok", "error" or any string) and `response` (an object; NULL: {}). Once
 * per message; ignored outside join/handle_in.
 */
void bn_channel_reply(bn_channel *ch, const char *status, const bn_value *response);
/** The same with already-encoded JSON. */
void bn_channel_reply_json(bn_channel *ch, const char *status, bn_str response_json);
/** A binary reply (V2 binary frame; a JSON client gets {"binary": base64}). */
void bn_channel_reply_binary(bn_channel *ch, const char *status, bn_str bytes);

/** Sends `event` to this channel's client only [push/3]. */
void bn_channel_push(bn_channel *ch, const char *event, const bn_value *payload);
void bn_channel_push_json(bn_channel *ch, const char *event, bn_str payload_json);
void bn_channel_push_binary(bn_channel *ch, const char *event, bn_str bytes);

/** Sends `event` to every subscriber of the channel's topic, this one included [broadcast/3]. */
void bn_channel_broadcast(bn_channel *ch, const char *event, const bn_value *payload);
void bn_channel_broadcast_json(bn_channel *ch, const char *event, bn_str payload_json);
void bn_channel_broadcast_binary(bn_channel *ch, const char *event, bn_str bytes);
/** The same, except to this channel's own client [broadcast_from/3]. */
void bn_channel_broadcast_from(bn_channel *ch, const char *event, const bn_value *payload);
void bn_channel_broadcast_from_json(bn_channel *ch, const char *event, bn_str payload_json);

/**
 * Broadcasts to every subscriber of `topic` on every loop thread of this
 * process [Endpoint.broadcast/3], from any loop thread (a controller, a
 * channel, a timer). Encoded once per serializer and framed once; the same
 * bytes are shared by all subscribers.
 */
void bn_broadcast(const char *topic, const char *event, const bn_value *payload);
void bn_broadcast_json(const char *topic, const char *event, bn_str payload_json);
void bn_broadcast_binary(const char *topic, const char *event, bn_str bytes);

/** Ends the channel once the current callback returns: the client gets phx_close [{:stop, ...}]. */
void bn_channel_stop(bn_channel *ch);
/**
 * Ends the channel now, from anywhere in a callback (however deep): the
 * client gets phx_error and rejoins (a raising join is refused with
 * "join crashed"). Other channels of the socket go on. Like bn_raise, memory
 * from malloc since the callback started is not released.
 */
_Noreturn void bn_channel_raise(bn_channel *ch, const char *fmt, ...) BN_PRINTF(2, 3);
/** Delivers `msg` (copied; NULL: null) to handle_info after `delay_ms` [Process.send_after]. */
void bn_channel_send_after(bn_channel *ch, uint64_t delay_ms, const bn_value *msg);
/**
 * Calls fn(ch, arg) when the channel ends, after terminate (in the channel's
 * task, so fn may suspend), latest first: for state kept elsewhere about this
 * channel (Presence untracks with it) [a monitor of the channel process].
 */
void bn_channel_defer(bn_channel *ch, void (*fn)(bn_channel *ch, void *arg), void *arg);
/**
 * Subscribes the channel to another topic [PubSub.subscribe from a channel
 * process]: every broadcast to it (on any node) reaches handle_info as
 * {"topic": …, "event": …, "payload": …} (a binary payload as a string of
 * its bytes). Ends with the channel. Returns 0, or -1 if already subscribed.
 */
int bn_channel_subscribe(bn_channel *ch, const char *topic);
/** A number naming this channel in this process, never reused (0 is none). */
uint64_t bn_channel_id(const bn_channel *ch);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_SOCKET_H */
