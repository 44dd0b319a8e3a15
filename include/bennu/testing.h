/*
 * bennu/testing.h — helpers for users' tests [Phoenix.ConnTest].
 *
 * A bn_test_client dispatches requests through the server's real request path
 * (parser, limits, handler in a task, error pages) in-process, without a
 * socket, and keeps the cookies the responses set, like a browser, so a test
 * can log in and then post a form with its CSRF token.
 *
 * Example:
 *
 *     bn_server_config cfg;
 *     bn_server_config_defaults(&cfg, NULL);
 *     cfg.handler = my_endpoint_handler;
 *     bn_test_client *t = bn_test_client_new(&cfg);
 *     bn_test_conn *r = bn_test_get(t, "/api/users/1");
 *     assert(r->status == 200);
 *     assert(bn_str_eq(bn_value_str(bn_value_get(bn_test_json(r), "name")), BN_STR("Ada")));
 *     bn_test_conn_free(r);
 *     bn_test_client_free(t);
 */
#ifndef BENNU_TESTING_H
#define BENNU_TESTING_H

#include "bennu/http.h"
#include "bennu/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_test_client bn_test_client;

/** A finished request, as the client saw it. */
typedef struct bn_test_conn {
    int status;
    bn_header *headers; /* response headers in order */
    size_t nheaders;
    bn_str body;
    bn_arena arena; /* owns everything above */
    bn_buf raw;     /* the raw response bytes */
} bn_test_conn;

/** A client for the server described by `cfg` (its handler, error renderer, limits). */
bn_test_client *bn_test_client_new(const bn_server_config *cfg);
/**
 * A client for an endpoint [Phoenix.ConnTest with @endpoint]: default limits
 * from the environment, the endpoint configured (its router built). NULL if
 * the router has mistakes (they are printed with file:line).
 */
struct bn_endpoint;
bn_test_client *bn_test_client_for(struct bn_endpoint *ep);
void bn_test_client_free(bn_test_client *t);

/**
 * Sends `method path` with `body` and extra `headers` ("name: value" strings,
 * NULL-terminated, may be NULL), plus Host and the cookie jar. Returns the
 * response (never NULL: a request the server could not parse comes back with
 * its 4xx status).
 */
bn_test_conn *bn_test_request(bn_test_client *t, const char *method, const char *path, bn_str body,
                              const char *const *headers);
bn_test_conn *bn_test_get(bn_test_client *t, const char *path);
/** POST with an application/x-www-form-urlencoded body ("a=1&b=2"). */
bn_test_conn *bn_test_post_form(bn_test_client *t, const char *path, const char *form);
/** POST with an application/json body. */
bn_test_conn *bn_test_post_json(bn_test_client *t, const char *path, const char *json);
void bn_test_conn_free(bn_test_conn *r);

/** First response header named `name` (case-insensitive), or BN_STR_NULL. */
bn_str bn_test_header(const bn_test_conn *r, const char *name);
/** The body parsed as JSON (in r's arena), or NULL if it is not JSON. */
const bn_value *bn_test_json(bn_test_conn *r);
/** The Location of a 3xx response, or NULL [redirected_to/1]. */
const char *bn_test_redirected_to(bn_test_conn *r);
/** Value of cookie `name` in the client's jar, or NULL. */
const char *bn_test_cookie(const bn_test_client *t, const char *name);
/** Puts a cookie in the jar (sent with every later request). */
void bn_test_put_cookie(bn_test_client *t, const char *name, const char *value);

/* ------------------------------------------------------------------------ */
/* Channels [Phoenix.ChannelTest]                                             */

/*
 * A bn_test_socket is a socket of `def` connected in-process: no HTTP, no
 * WebSocket, but the same channel core (routing, join, handle_in, replies,
 * broadcasts, intercepts, timers) behind a transport that records what the
 * client would receive, decoded. The calls run the thread's loop (made on
 * first use if the thread has none) until what they wait for arrives, or
 * for at most their timeout: call them from the thread's plain code, never
 * from a task or a loop callback. A socket also subscribes to the topics it
 * joins, so bn_test_assert_broadcast sees every broadcast on them, even one
 * the channel's own client is spared (broadcast_from) or that handle_out
 * drops. docs/guides/channels.md has a whole test.
 *
 * Example:
 *
 *     bn_test_socket *ts = bn_test_socket_connect(&user_socket, NULL);
 *     assert(strcmp(bn_test_join(ts, "room:lobby", NULL, NULL), "ok") == 0);
 *     const char *ref = bn_test_push(ts, "room:lobby", "ping", "{\"n\":1}");
 *     const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", 0);
 *     assert(r && bn_value_get(r->payload, "n"));
 *     bn_test_push(ts, "room:lobby", "new_msg", "{\"body\":\"hi\"}");
 *     assert(bn_test_assert_broadcast(ts, "room:lobby", "new_msg", 0));
 *     assert(bn_test_assert_push(ts, "room:lobby", "new_msg", 0));  // what the client got
 *     bn_test_socket_close(ts);
 */

#include "bennu/socket.h"

/** How long an assertion waits when given 0 ms (it returns as soon as the message is there). */
#define BN_TEST_ASSERT_TIMEOUT_MS 5000
/** How long a refutation waits when given 0 ms (it always waits that long). */
#define BN_TEST_REFUTE_TIMEOUT_MS 100

typedef struct bn_test_socket bn_test_socket;

/** A message the client received, decoded; it lives as long as its socket. */
typedef struct bn_test_msg {
    const char *topic;
    const char *event;       /* "phx_reply" for a reply */
    const char *join_ref;    /* NULL: null (broadcasts, replies outside a channel) */
    const char *ref;         /* NULL: null (pushes, broadcasts) */
    const char *status;      /* a reply's status ("ok", "error", ...); NULL for other messages */
    const bn_value *payload; /* the JSON payload, or a reply's response; NULL when binary */
    bn_str binary;           /* a binary payload (or binary reply); .ptr NULL for JSON */
} bn_test_msg;

/**
 * Connects a socket of `def` with the connect params `params_json` (a JSON
 * object, NULL: {}), as the V2 client does. def->connect runs in a task (it
 * may suspend) and gets c == NULL. Returns NULL if connect refused.
 */
bn_test_socket *bn_test_socket_connect(const bn_socket_def *def, const char *params_json);
/** The same with the client's `authToken` (bn_socket_auth_token during connect). */
bn_test_socket *bn_test_socket_connect_token(const bn_socket_def *def, const char *params_json,
                                             const char *auth_token);
/** The server side of the socket (bn_socket_id, bn_socket_state), or NULL once closed. */
bn_socket *bn_test_socket_get(bn_test_socket *ts);
/**
 * Closes the socket as a client going away would (channels terminate with
 * "closed"; a suspended callback is let finish first) and frees it, with
 * every message it received. NULL is ignored.
 */
void bn_test_socket_close(bn_test_socket *ts);

/**
 * Joins `topic` with `payload_json` (NULL: {}) and waits for the reply:
 * returns its status ("ok", "error"), or NULL if none came within
 * BN_TEST_ASSERT_TIMEOUT_MS. `*response` (may be NULL) gets the reply's
 * response. Later pushes to `topic` carry this join's ref.
 */
const char *bn_test_join(bn_test_socket *ts, const char *topic, const char *payload_json, const bn_value **response);
/**
 * Pushes `event` with `payload_json` (NULL: {}) to `topic`, as
 * channel.push() does, and returns the message's ref for
 * bn_test_assert_reply. Does not wait: the handler runs while a later call
 * runs the loop (messages of one socket are handled in order). A payload
 * that is not JSON aborts the test.
 */
const char *bn_test_push(bn_test_socket *ts, const char *topic, const char *event, const char *payload_json);
/** The same with a binary payload (a V2 binary frame, handle_in gets msg->binary). */
const char *bn_test_push_binary(bn_test_socket *ts, const char *topic, const char *event, bn_str bytes);
/** Leaves `topic` (phx_leave); returns the ref: the reply is "ok", then phx_close comes. */
const char *bn_test_leave(bn_test_socket *ts, const char *topic);
/** Subscribes the test to `topic` (as joining does) for bn_test_assert_broadcast. */
void bn_test_subscribe(bn_test_socket *ts, const char *topic);

/*
 * The assertions run the loop until a matching message arrives or
 * `timeout_ms` passes (0: the defaults above), and take the message they
 * return: each message is matched at most once, the oldest first, and
 * messages that do not match stay for later assertions [assert_receive].
 */

/** The reply to `ref` with `status` (NULL: any), or NULL [assert_reply]. */
const bn_test_msg *bn_test_assert_reply(bn_test_socket *ts, const char *ref, const char *status, unsigned timeout_ms);
/** True if no reply to `ref` came within `timeout_ms` (a handle_in that does not reply) [refute_reply]. */
bool bn_test_refute_reply(bn_test_socket *ts, const char *ref, unsigned timeout_ms);
/**
 * A message `event` on `topic` (NULL: any topic) sent to the client: a push,
 * a broadcast it got, phx_close or phx_error; NULL if none [assert_push].
 */
const bn_test_msg *bn_test_assert_push(bn_test_socket *ts, const char *topic, const char *event, unsigned timeout_ms);
/** True if no `event` on `topic` (NULL: any) reached the client within `timeout_ms` [refute_push]. */
bool bn_test_refute_push(bn_test_socket *ts, const char *topic, const char *event, unsigned timeout_ms);
/** A broadcast of `event` on `topic`, seen through the test's subscription; NULL if none [assert_broadcast]. */
const bn_test_msg *bn_test_assert_broadcast(bn_test_socket *ts, const char *topic, const char *event,
                                            unsigned timeout_ms);
/** True if no broadcast of `event` on `topic` came within `timeout_ms`. */
bool bn_test_refute_broadcast(bn_test_socket *ts, const char *topic, const char *event, unsigned timeout_ms);
/** The oldest message the client received and no assertion took yet, whatever it is (for order checks), or NULL. */
const bn_test_msg *bn_test_next(bn_test_socket *ts, unsigned timeout_ms);
/**
 * Waits for the server to close the socket (bn_socket_disconnect, a
 * malformed message): returns the WebSocket close code (1001 for a
 * disconnect), or 0 if it stayed open.
 */
int bn_test_assert_close(bn_test_socket *ts, unsigned timeout_ms);

/* ------------------------------------------------------------------------ */
/* LiveViews [Phoenix.LiveViewTest]                                           */

/*
 * A bn_test_live is a LiveView page driven as the npm client drives it, in
 * process: the dead render through a bn_test_client (its cookies), then a
 * join of "lv:<id>" over bn_live_socket (a bn_test_socket) with the page's
 * session token. It keeps the view's rendered tree, merges every diff the
 * server sends into it by the client's own rules (the Rendered class of
 * phoenix_live_view 1.2: nested objects, "s" replaces, keyed comprehensions
 * "k"/"kc"/"km" and moves, "p" template tables; components "c" are not
 * supported yet) and renders it to HTML: what the container holds in the
 * browser, without the client's data-phx-id markers. The event calls wait
 * for the reply (merging the pushes that came before it), like the
 * channel assertions: call them from the thread's plain code.
 * docs/guides/liveview.md has a whole test.
 *
 * Example:
 *
 *     bn_test_live *lv = bn_test_live_get(client, "/counter");
 *     assert(lv && bn_test_live_has_element(lv, "#count", "0"));
 *     bn_test_live_click(lv, "inc", NULL);
 *     assert(strstr(bn_test_live_click(lv, "inc", NULL), "<span id=\"count\">2</span>"));
 *     bn_test_live_submit(lv, "save", "note=hi");
 *     assert(bn_test_live_await_diff(lv, 0));      // a handle_info's diff
 *     bn_test_live_free(lv);
 */

typedef struct bn_test_live bn_test_live;

/**
 * GETs `path` (a bn_live route) with `t`, then joins the view it rendered
 * [live/2]. NULL (the reason on stderr) if the page is not a 200 with a
 * LiveView container, or the join is refused.
 */
bn_test_live *bn_test_live_get(bn_test_client *t, const char *path);
/** Leaves the view (its terminate runs with "closed") and frees everything. NULL is ignored. */
void bn_test_live_free(bn_test_live *lv);

/** The view's HTML now (inside its container); it lives until the next call on `lv`. NULL after an error. */
const char *bn_test_live_html(bn_test_live *lv);
/** The container's id ("phx-..."); the topic is "lv:" + it. */
const char *bn_test_live_id(const bn_test_live *lv);
/** The page title the last diff set ("t"), or NULL. */
const char *bn_test_live_title(const bn_test_live *lv);
/** Why the last call returned NULL: an error reply, no reply in time, a diff the client could not merge. */
const char *bn_test_live_error(const bn_test_live *lv);
/** The socket under the view, for channel assertions of its own (the live calls take the messages they read). */
bn_test_socket *bn_test_live_socket(bn_test_live *lv);

/*
 * Events: each pushes what the client pushes for the binding, waits for the
 * reply and returns the HTML after its diff, or NULL (bn_test_live_error).
 */

/** phx-click="event" [render_click]: `value_json` the value object (NULL: {}), as phx-value-* make it. */
const char *bn_test_live_click(bn_test_live *lv, const char *event, const char *value_json);
/** phx-submit="event" [render_submit]: `form` urlencoded ("user%5Bname%5D=ada&ok=1"), as the form serializes. */
const char *bn_test_live_submit(bn_test_live *lv, const char *event, const char *form);
/** phx-change="event" [render_change]: the form and the name of the input that changed (`_target`, NULL: none). */
const char *bn_test_live_change(bn_test_live *lv, const char *event, const char *form, const char *target);
/**
 * Follows a `<.link patch={path}>` [render_patch]: pushes "live_patch" with
 * the URL, so handle_params runs; returns the HTML after its diff, or NULL
 * (also when the path is not this view: the client would navigate).
 */
const char *bn_test_live_patch(bn_test_live *lv, const char *path);
/**
 * Waits for a "diff" push (handle_info, PubSub, send_after) and merges it:
 * returns the HTML, or NULL if none came within `timeout_ms` (0:
 * BN_TEST_ASSERT_TIMEOUT_MS) [render(view) after assert_receive].
 */
const char *bn_test_live_await_diff(bn_test_live *lv, unsigned timeout_ms);

/**
 * The path of the last patch the server made (bn_live_push_patch: a
 * "live_patch" before an event's reply, or in the join's), or NULL [assert_patch].
 */
const char *bn_test_live_patched_to(const bn_test_live *lv);
/**
 * Where the view sent the client when it ended (bn_live_redirect,
 * bn_live_push_navigate), or NULL [assert_redirect]; `*kind` (may be NULL)
 * gets "redirect" (a full page load) or "live_redirect". The event that
 * redirected returns NULL, and the view is closed. A mount that redirects
 * answers the dead render with a 302: bn_test_live_get returns NULL, check
 * it with bn_test_get and bn_test_redirected_to.
 */
const char *bn_test_live_redirected_to(const bn_test_live *lv, const char **kind);

/**
 * True if the view has an element matching `selector` whose text contains
 * `text` (NULL: any) [has_element?/3]. Selectors, kept simple: "#id", "tag"
 * or "tag#id". The text is the element's content without tags, entities
 * decoded ("a &lt; b" matches "a < b").
 */
bool bn_test_live_has_element(bn_test_live *lv, const char *selector, const char *text);
/** The same on any HTML, e.g. a dead render's body (NUL-terminated). */
bool bn_test_html_has_element(const char *html, const char *selector, const char *text);

/*
 * The client's rendered tree alone, for testing diffs by hand: a tree made
 * from a join's "rendered" JSON, diffs merged into it, its HTML. Each call
 * returns NULL (the error in bn_test_rendered_error) on JSON the client
 * would reject or could not render (a keyed move without "km", a missing
 * dynamic, an unknown template index).
 */
typedef struct bn_test_rendered bn_test_rendered;
bn_test_rendered *bn_test_rendered_new(const char *rendered_json);
/** Merges one diff (a reply's "diff" or a "diff" push); false on error. */
bool bn_test_rendered_merge(bn_test_rendered *r, const char *diff_json);
/** The HTML of the tree (lives until the next call on `r`), or NULL. */
const char *bn_test_rendered_html(bn_test_rendered *r);
const char *bn_test_rendered_error(const bn_test_rendered *r);
void bn_test_rendered_free(bn_test_rendered *r);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_TESTING_H */
