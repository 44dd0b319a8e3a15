/*
 * Content negotiation [Phoenix.Controller.accepts/2]: picks the response
 * format from ?_format= or the Accept header among the formats a pipeline
 * accepts, or answers 406.
 */
#include <stdlib.h>
#include <strings.h>

#include "bennu/endpoint.h"
#include "web/web_internal.h"

static const struct {
    const char *mime;
    const char *format;
} mimes[] = {
    {"text/html", "html"},        {"application/xhtml+xml", "html"}, {"application/json", "json"},
    {"text/plain", "text"},       {"text/csv", "csv"},               {"application/xml", "xml"},
    {"text/xml", "xml"},          {"text/event-stream", "event-stream"},
};

static bool allowed(const char *const *formats, const char *format)
{
    for (size_t i = 0; formats[i]; i++)
        if (strcmp(formats[i], format) == 0)
            return true;
    return false;
}

/* The format of one media range (a full type, "type/" + star, or star/star), or NULL. */
static const char *range_format(bn_str range, const char *const *formats)
{
    if (bn_str_eq(range, BN_STR("*/*")))
        return formats[0];
    if (range.len > 2 && range.ptr[range.len - 1] == '*' && range.ptr[range.len - 2] == '/') {
        for (size_t i = 0; formats[i]; i++) /* "text/" + star: the first accepted format of that type */
            for (size_t m = 0; m < BN_ARRAY_LEN(mimes); m++)
                if (strcmp(mimes[m].format, formats[i]) == 0 && strncasecmp(mimes[m].mime, range.ptr, range.len - 1) == 0)
                    return formats[i];
        return NULL;
    }
    for (size_t m = 0; m < BN_ARRAY_LEN(mimes); m++)
        if (bn_str_eq_nocase(range, bn_str_from_cstr(mimes[m].mime)) && allowed(formats, mimes[m].format))
            return mimes[m].format;
    return NULL;
}

/* Quality of a media range's parameters ("q=0.5"); 1 when absent. */
static double quality(bn_str params)
{
    for (const char *p = params.ptr; p && p < params.ptr + params.len; p++) {
        if ((p[0] == 'q' || p[0] == 'Q') && p + 1 < params.ptr + params.len && p[1] == '=')
            return strtod(p + 2, NULL);
    }
    return 1.0;
}

/* The best format of an Accept header, highest quality first, ties in header order. */
static const char *negotiate(bn_str accept, const char *const *formats)
{
    const char *best = NULL;
    double best_q = 0;
    bn_str item;
    while (bn_str_list_next(&accept, &item)) {
        const char *semi = memchr(item.ptr, ';', item.len);
        bn_str range = bn_str_trim(bn_str_make(item.ptr, semi ? (size_t)(semi - item.ptr) : item.len));
        double q = semi ? quality(bn_str_make(semi, (size_t)(item.ptr + item.len - semi))) : 1.0;
        const char *f = range_format(range, formats);
        if (f && q > best_q) {
            best = f;
            best_q = q;
        }
    }
    return best;
}

void bn_plug_accepts(bn_conn *c, const void *opts)
{
    const char *const *formats = opts;
    if (!formats || !formats[0])
        return;
    bn_str explicit_format = bn_conn_param(c, "_format");
    const char *format = NULL;
    if (explicit_format.ptr) {
        for (size_t i = 0; formats[i] && !format; i++)
            if (bn_str_eq(explicit_format, bn_str_from_cstr(formats[i])))
                format = formats[i];
    } else {
        bn_str accept = bn_conn_req_header(c, BN_STR("accept"));
        format = accept.ptr && accept.len ? negotiate(accept, formats) : formats[0];
    }
    if (!format)
        bn_raise(c, 406, "no acceptable format (this route answers %s%s)", formats[0], formats[1] ? " and others" : "");
    bn__web(c)->format = format;
}

const char *bn_conn_format(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w ? w->format : NULL;
}
