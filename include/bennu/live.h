/*
 * bennu/live.h — Phoenix.LiveView in C: the server holds each page's state
 * (a compiled template's assigns struct), renders it to HTML for the first
 * request, then keeps the page current over the socket with diffs of the
 * dynamics whose assigns changed — driven by the unmodified npm
 * `phoenix_live_view` client.
 *
 * Example (the showcase's counter; templates/live/counter.html.bnx has
 * `<%@ assigns int count; %>` and `<span id="count">{@count}</span>
 * <button phx-click="inc">+</button>`):
 *
 *     static int counter_mount(bn_live *lv, const bn_value *params, const bn_value *session) {
 *         bn_live_assign(lv, counter, count, 0);
 *         return 0;
 *     }
 *     static void counter_event(bn_live *lv, bn_str event, const bn_value *value) {
 *         counter_assigns *a = bn_live_assigns(lv);
 *         if (bn_str_eq(event, BN_STR("inc")))
 *             bn_live_assign(lv, counter, count, a->count + 1);   // the diff: {"0":"1"}
 *     }
 *     static const bn_live_def counter_live = {
 *         .name = "CounterLive", BN_LIVE_TEMPLATE(counter),
 *         .mount = counter_mount, .handle_event = counter_event,
 *     };
 *     // router:   bn_live(r, "/counter", &counter_live);
 *     // endpoint: BN_PLUG(bn_socket_plug, &bn_live_socket) in the endpoint's plugs
 *
 * The page's layout loads the client (an esbuild bundle of phoenix_live_view
 * that creates `new LiveSocket("/live", Socket, {params: {_csrf_token}})`)
 * and has `<meta name="csrf-token">` (bn_layout_assigns.csrf_token).
 */
#ifndef BENNU_LIVE_H
#define BENNU_LIVE_H

#include "bennu/router.h"
#include "bennu/socket.h"
#include "bennu/template.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_live bn_live;

/** A LiveView module. Every callback but mount may be NULL. */
typedef struct bn_live_def {
    const char *name;     /* "CounterLive": unique; the session token names the view by it */
    bn_tpl_fn *render;    /* the template (NAME__any): BN_LIVE_TEMPLATE(name) sets this and assigns_size */
    size_t assigns_size;  /* sizeof(NAME_assigns), zeroed before mount */
    size_t state_size;    /* more memory of the view's own (strings the assigns point to...), zeroed */
    const char *title;    /* the page title of the dead render (NULL: the layout's) */
    /**
     * Sets the first assigns [mount/3]. Called twice: for the HTTP request
     * (bn_live_connected false: render once, nothing kept) and when the
     * client joins over the socket (connected: the view lives on). `params`
     * are the path and query params; `session` the signed session the page
     * was rendered with. Return 0, or anything else to refuse (HTTP 403 /
     * join error). It may suspend (a query).
     */
    int (*mount)(bn_live *lv, const bn_value *params, const bn_value *session);
    /** A client event (phx-click, phx-submit, phx-change...) [handle_event/3]: for a form, `value` is the decoded form. */
    void (*handle_event)(bn_live *lv, bn_str event, const bn_value *value);
    /** A message from bn_live_send_after [handle_info/2]. */
    void (*handle_info)(bn_live *lv, const bn_value *msg);
    /** The view ends (the client left or went away). */
    void (*terminate)(bn_live *lv, const char *reason);
    /**
     * The URL's params, after mount and after every patch [handle_params/3]:
     * `params` are the path and query params of `uri` (the full URL, e.g.
     * "http://host/users/1?tab=2"). Called in the dead render and at join
     * (unless mount redirected), when the client follows a `<.link patch>` or
     * goes back (a "live_patch"), and after bn_live_push_patch.
     */
    void (*handle_params)(bn_live *lv, const bn_value *params, const char *uri);
} bn_live_def;

#define BN_LIVE_TEMPLATE(name) .render = name##__any, .assigns_size = sizeof(name##_assigns)

/** The socket the client connects to at /live (WebSocket and long-poll). Serve it with bn_socket_plug. */
extern const bn_socket_def bn_live_socket;

/**
 * Routes GET `path` to the view `def` [live/3]: the request renders the
 * page (mount, then the template inside the conn's layouts), then the client
 * joins it over bn_live_socket.
 */
#define bn_live(r, path, def) bn__route_data(r, __FILE__, __LINE__, "GET", path, bn_live_render, "live", true, NULL, def)
/** The action behind bn_live routes (a route's data is its bn_live_def). */
void bn_live_render(bn_conn *c);

/* ------------------------------------------------------------------------ */
/* Inside callbacks                                                          */

/** The assigns struct (assigns_size bytes). Change fields with bn_live_assign, or mark them with bn_live_changed. */
void *bn_live_assigns(bn_live *lv);
/** The view's own memory (state_size bytes). */
void *bn_live_state(bn_live *lv);
/** Marks assigns changed (NAME__changed_FIELD bits, or'ed): the next render sends the dynamics that read them. */
void bn_live_changed(bn_live *lv, bn_tpl_changes changes);
/** Sets one field of the assigns and marks it changed: bn_live_assign(lv, counter, count, 1). */
#define bn_live_assign(lv, tpl, field, value)                                                                          \
    do {                                                                                                               \
        ((tpl##_assigns *)bn_live_assigns(lv))->field = (value);                                                     \
        bn_live_changed((lv), tpl##__changed_##field);                                                                 \
    } while (0)
/** True once the client has joined (false during the HTTP request's mount). */
bool bn_live_connected(const bn_live *lv);
/** Memory that lives until the current callback returns. */
bn_arena *bn_live_arena(bn_live *lv);
/** Delivers `msg` (copied) to handle_info after `delay_ms`; only while connected [Process.send_after]. */
void bn_live_send_after(bn_live *lv, uint64_t delay_ms, const bn_value *msg);
/**
 * Subscribes the view to a PubSub topic while connected [PubSub.subscribe
 * under `if connected?(socket)`]: broadcasts to it, from any node, reach handle_info
 * as {"topic": …, "event": …, "payload": …} — how two tabs stay in sync.
 * Returns 0, or -1 when not connected (the dead render) or already subscribed.
 */
int bn_live_subscribe(bn_live *lv, const char *topic);
/**
 * Sends `event` with `payload` (an object, copied; NULL: {}) to the page's
 * client hooks with the next diff [push_event/3]: a hook's
 * `this.handleEvent(event, cb)` (or a `phx:`-prefixed window event) gets it.
 * Ignored in the dead render.
 */
void bn_live_push_event(bn_live *lv, const char *event, const bn_value *payload);
/*
 * Streams [stream/4, stream_insert/4, stream_delete/3]: large collections the
 * server does not keep. A stream is an assign of the template that holds the
 * batch (the items of this update only) and its `:for` renders them, under a
 * container with phx-update="stream" whose children have unique ids:
 *
 *     <%@ assigns const song *batch; size_t nbatch; %>
 *     <ul id="songs" phx-update="stream">
 *       <li :for={song s <- array(@batch, @nbatch)} id={s.dom_id}>{s.title}</li>
 *     </ul>
 *
 * `stream` is the assign's changed bit (songs__changed_batch); each call marks
 * it changed. Fill the batch, call bn_live_stream_insert for each of its
 * items, and the next diff carries the batch's entries with the operations;
 * then the client keeps them in the DOM and the server forgets them. A render
 * without operations sends nothing of the stream, whatever the batch holds.
 * Ignored in the dead render (which renders the batch as it is). The stream
 * must be rendered by the view's own template (not inside a component or
 * another :for).
 */
/** Inserts (or updates, when the DOM id exists) the item `dom_id` at `at` (-1: append, 0: prepend, i: index). */
void bn_live_stream_insert(bn_live *lv, bn_tpl_changes stream, const char *dom_id, int at);
/** The same with `limit` (a positive limit keeps the first items, a negative the last; 0: none) and `update_only`
 *  (only update an existing DOM item, never add it). */
void bn_live_stream_insert_opts(bn_live *lv, bn_tpl_changes stream, const char *dom_id, int at, int limit,
                                bool update_only);
/** Removes the item `dom_id` from the page. */
void bn_live_stream_delete(bn_live *lv, bn_tpl_changes stream, const char *dom_id);
/** Removes every item of the stream from the page before this batch's inserts [stream(…, reset: true)]. */
void bn_live_stream_reset(bn_live *lv, bn_tpl_changes stream);

/**
 * Answers the event being handled with `reply` (an object, copied; NULL: {})
 * [{:reply, map, socket}]: a client hook's `this.pushEvent(event, payload,
 * (reply) => …)` gets it (the diff's "r"). Only inside handle_event.
 */
void bn_live_reply(bn_live *lv, const bn_value *reply);
/** The id of the view's element ("phx-..."). */
const char *bn_live_id(const bn_live *lv);

/*
 * Navigation [push_patch/2, push_navigate/2, redirect/2]: each takes effect
 * once the current callback returns (the last call wins). `to` is copied. In
 * the dead render all three answer the request with a 302 to `to`.
 */

/**
 * Changes the URL to `to` (a path of the same view, under the same route
 * pipeline) without a new mount: handle_params runs with its params, and the
 * client's history gets a new entry (or the current one is replaced).
 */
void bn_live_push_patch(bn_live *lv, const char *to, bool replace);
/** Ends this view and mounts the LiveView at `to` over the same socket (the client navigates live). */
void bn_live_push_navigate(bn_live *lv, const char *to, bool replace);
/** Ends this view and sends the browser to `to` (a path or an http(s) URL) with a full page load. */
void bn_live_redirect(bn_live *lv, const char *to);
/**
 * Sets the page's title (copied) [assign(socket, :page_title, …)]: the dead
 * render's page_title, then the "t" of the next diff (or of the join's
 * rendered tree).
 */
void bn_live_set_title(bn_live *lv, const char *title);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_LIVE_H */
