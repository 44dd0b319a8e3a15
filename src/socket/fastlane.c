/*
 * Fastlane broadcasts: a message to a topic is encoded once per serializer
 * and framed once as a WebSocket frame; every subscriber on every thread
 * writes the same bytes. V2 is built at once (the npm client's serializer);
 * V1 only when a V1 subscriber first needs it.
 */
#include <sched.h>
#include <stdlib.h>

#include "socket/socket_internal.h"
#include "socket/ws_frame.h"

/* Encodes the message for `vsn` and frames it into a shared block. */
static bn_shared *build_frame(const bn_fastlane *fl, bn_vsn vsn, size_t *hdr_len)
{
    bn_buf msg = BN_BUF_INIT, hdr = BN_BUF_INIT;
    bn_str topic = bn_str_from_cstr(fl->topic), event = bn_str_from_cstr(fl->event);
    bn_str payload = bn_str_make(fl->payload, fl->payload_len);
    if (fl->binary)
        bn_message_encode_binary_broadcast(topic, event, payload, &msg);
    else
        bn_message_encode(vsn, BN_STR_NULL, BN_STR_NULL, topic, event, payload, &msg);
    bn_ws_write_header(&hdr, true, false, fl->binary ? BN_WS_BINARY : BN_WS_TEXT, msg.len, NULL);
    bn_shared *sh = bn_shared_new(hdr.len + msg.len);
    memcpy(sh->data, hdr.data, hdr.len);
    if (msg.len)
        memcpy(sh->data + hdr.len, msg.data, msg.len);
    *hdr_len = hdr.len;
    bn_buf_free(&msg);
    bn_buf_free(&hdr);
    return sh;
}

bn_fastlane *bn__fastlane_new(const char *topic, const char *event, bool binary, bn_str payload, uint64_t from)
{
    bn_fastlane *fl = bn_xcalloc(1, sizeof(*fl));
    atomic_init(&fl->refs, 1);
    fl->topic = bn_xstrdup(topic);
    fl->event = bn_xstrdup(event);
    fl->binary = binary;
    fl->payload = bn_xmalloc(payload.len + 1);
    if (payload.len)
        memcpy(fl->payload, payload.ptr, payload.len);
    fl->payload[payload.len] = '\0';
    fl->payload_len = payload.len;
    fl->from = from;
    atomic_init(&fl->v1_state, 0);
    fl->frame[BN_VSN_2] = build_frame(fl, BN_VSN_2, &fl->frame_hdr[BN_VSN_2]);
    return fl;
}

bn_fastlane *bn__fastlane_ref(bn_fastlane *fl)
{
    atomic_fetch_add_explicit(&fl->refs, 1, memory_order_relaxed);
    return fl;
}

void bn__fastlane_unref(bn_fastlane *fl)
{
    if (!fl || atomic_fetch_sub_explicit(&fl->refs, 1, memory_order_acq_rel) != 1)
        return;
    bn_shared_unref(fl->frame[BN_VSN_1]);
    bn_shared_unref(fl->frame[BN_VSN_2]);
    free(fl->topic);
    free(fl->event);
    free(fl->payload);
    free(fl);
}

bn_shared *bn__fastlane_frame(bn_fastlane *fl, bn_vsn vsn, size_t *hdr_len)
{
    if (vsn == BN_VSN_1) {
        if (fl->binary)
            return NULL; /* V1 has no binary messages */
        int expect = 0;
        if (atomic_compare_exchange_strong(&fl->v1_state, &expect, 1)) {
            fl->frame[BN_VSN_1] = build_frame(fl, BN_VSN_1, &fl->frame_hdr[BN_VSN_1]);
            atomic_store_explicit(&fl->v1_state, 2, memory_order_release);
        } else {
            while (atomic_load_explicit(&fl->v1_state, memory_order_acquire) != 2)
                sched_yield(); /* another thread is building it: a few microseconds */
        }
    }
    *hdr_len = fl->frame_hdr[vsn];
    return fl->frame[vsn];
}

bn_str bn__fastlane_message(bn_fastlane *fl, bn_vsn vsn)
{
    size_t hdr;
    bn_shared *sh = bn__fastlane_frame(fl, vsn, &hdr);
    return sh ? bn_str_make(sh->data + hdr, sh->len - hdr) : BN_STR_NULL;
}
