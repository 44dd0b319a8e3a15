/*
 * Internal interface of the socket layer: what a transport (WebSocket in
 * websocket.c, long-poll in longpoll.c, the in-process test transport in
 * src/testing) gives the channel core (socket.c, channel.c), and what the
 * core gives back. Broadcasts travel as refcounted "fastlane" messages
 * (fastlane.c) through a per-thread topic registry (registry.c).
 */
#ifndef BENNU_SOCKET_INTERNAL_H
#define BENNU_SOCKET_INTERNAL_H

#include "bennu/socket.h"
#include "socket/serializer.h"

/* ---- fastlane: one broadcast, encoded once per serializer ------------------ */

/*
 * Immutable once built; shared by every loop thread it is posted to. Each
 * encoding is kept as a complete unmasked WebSocket frame in a bn_shared, so
 * WebSocket subscribers write the frame by reference and other transports
 * take the message bytes after the frame header.
 */
typedef struct bn_fastlane {
    _Atomic(size_t) refs;
    char *topic;
    char *event;
    bool binary;       /* a binary payload: only V2 sockets get it (binary frame kind 2) */
    char *payload;     /* the payload: JSON text (NUL-terminated) or the bytes */
    size_t payload_len;
    uint64_t from;     /* bn_channel id to skip (broadcast_from), 0: none */
    bn_shared *frame[2];   /* [BN_VSN_1], [BN_VSN_2]: the WebSocket frame (V1 built lazily) */
    size_t frame_hdr[2];   /* bytes of WebSocket header before the message */
    _Atomic(int) v1_state; /* 0 none, 1 building, 2 ready: V1 is built by the first thread that needs it */
} bn_fastlane;

bn_fastlane *bn__fastlane_new(const char *topic, const char *event, bool binary, bn_str payload, uint64_t from);
bn_fastlane *bn__fastlane_ref(bn_fastlane *fl);
void bn__fastlane_unref(bn_fastlane *fl);
/** The WebSocket frame for `vsn` (built on first use for V1); NULL for a binary payload and V1. */
bn_shared *bn__fastlane_frame(bn_fastlane *fl, bn_vsn vsn, size_t *hdr_len);
/** The message bytes for `vsn` (the frame without its WebSocket header); .ptr NULL if none. */
bn_str bn__fastlane_message(bn_fastlane *fl, bn_vsn vsn);

/* ---- the per-thread topic registry ------------------------------------------- */

typedef struct bn_subscription bn_subscription;
typedef void bn_deliver_fn(bn_subscription *sub, bn_fastlane *fl);
struct bn_subscription {
    bn_list link;        /* in the topic's list on its thread */
    struct bn_topic_entry *entry;
    bn_deliver_fn *deliver; /* called on the subscriber's thread */
};

/** Subscribes on the calling loop thread. `topic` is copied. */
void bn__registry_subscribe(bn_subscription *sub, const char *topic, bn_deliver_fn *deliver);
void bn__registry_unsubscribe(bn_subscription *sub);
/** Posts `fl` to every loop thread of this process with subscribers of its topic (takes no
 *  ownership of the caller's ref). */
void bn__registry_broadcast(bn_fastlane *fl);
/** A broadcast made here: bn__registry_broadcast, then the remote hook (other nodes), if any. */
void bn__registry_publish(bn_fastlane *fl);
/**
 * The pubsub layer's way out of this process: `publish` is called (on the
 * broadcasting thread) for every broadcast made here; NULL: local only.
 */
void bn__registry_set_remote(void (*publish)(bn_fastlane *fl));

/* ---- transports ----------------------------------------------------------------- */

typedef struct bn_transport {
    const char *name; /* "websocket", "longpoll" */
    /** One encoded message: a V1/V2 JSON text, or a V2 binary message (`binary`). */
    void (*send)(bn_socket *s, bn_str msg, bool binary);
    /** A broadcast; the transport takes what it needs (bn__fastlane_frame/message) and refs it if it keeps it. */
    void (*send_fastlane)(bn_socket *s, bn_fastlane *fl);
    /** Bytes written but not yet taken by the client (for the high-water mark). */
    size_t (*pending)(bn_socket *s);
    /**
     * Ends the connection (`code`: a WebSocket close code, 1000 normal, 1001
     * disconnect, 1012 restart, 1008 policy). The transport calls
     * bn__socket_closed when the connection is really gone.
     */
    void (*close)(bn_socket *s, int code, const char *reason);
    /** A callback that had suspended has returned: input may flow again (loop stack). */
    void (*resume)(bn_socket *s);
    /** Optional (may be NULL): what `send` queued should leave now — the core calls it after
     *  each callback and each batch of replies, so `send` itself need not write at once. */
    void (*flush)(bn_socket *s);
} bn_transport;

/* The result of bn__socket_input. */
enum { BN_SOCKET_DONE = 0, BN_SOCKET_BUSY = 1, BN_SOCKET_ERROR = -1 };

/**
 * Runs the socket's connect callback (in the calling task) for a transport
 * and returns the socket, or NULL if refused. `params` are the connect
 * params (may be NULL: {}); `c` is the HTTP request (NULL for in-process
 * test sockets); `auth_token` may be empty. The socket starts with no
 * channels and is subscribed to its id topic if connect set one.
 */
bn_socket *bn__socket_connect(const bn_socket_def *def, const bn_transport *t, void *tdata, bn_vsn vsn,
                              const bn_value *params, bn_conn *c, bn_str auth_token);
void *bn__socket_tdata(bn_socket *s);
const bn_socket_def *bn__socket_def(const bn_socket *s);
bn_vsn bn__socket_vsn_of(const bn_socket *s);
/**
 * One inbound message (a whole text or binary WebSocket message, or one
 * long-poll line). Called on the loop's stack. BN_SOCKET_BUSY: a callback
 * suspended; feed nothing more until the transport's resume is called.
 * BN_SOCKET_ERROR: malformed; the transport closes the connection.
 */
int bn__socket_input(bn_socket *s, bool binary, bn_str msg);
/** True while a callback of this socket is running or suspended. */
bool bn__socket_busy(const bn_socket *s);
/**
 * The transport is gone: channels terminate ("closed" or `reason`),
 * subscriptions end and the socket is freed (now, or when the running
 * callback returns). The transport must not use `s` afterwards.
 */
void bn__socket_closed(bn_socket *s, const char *reason);
/** Defaults applied to a def's zero fields. */
unsigned bn__socket_timeout_ms(const bn_socket_def *def);
size_t bn__socket_max_frame(const bn_socket_def *def);
size_t bn__socket_max_outgoing(const bn_socket_def *def);

/* The endpoint plug's two halves (websocket.c, longpoll.c). */
void bn__websocket_serve(bn_conn *c, const bn_socket_def *def);
void bn__longpoll_serve(bn_conn *c, const bn_socket_def *def);
/** check_origin: the request's Origin is allowed for `def` (websocket.c). */
bool bn__socket_origin_allowed(bn_conn *c, const bn_socket_def *def);
/** The vsn query param of `c` as a serializer; false (answer 400/403) if unsupported. */
bool bn__socket_vsn(bn_conn *c, bn_vsn *vsn);

#endif
