/*
 * bennu/static.h — serving files from a directory [Plug.Static]: safe path
 * mapping, content types, ETag/Last-Modified revalidation, byte ranges and
 * precompressed .gz twins.
 *
 * Example: serve priv/static at "/" (only a few top-level names, so every
 * other path goes on to the router), with gzip twins made at build time:
 *
 *     static const char *const static_only[] = {"assets", "images", "favicon.ico", "robots.txt", NULL};
 *     static const bn_static_opts static_opts = {
 *         .at = "/", .from = "priv/static", .only = static_only, .gzip = true,
 *     };
 *     static const bn_plug endpoint_plugs[] = {
 *         BN_PLUG(bn_plug_static, &static_opts),   // before the logger: assets are not logged
 *         BN_PLUG(bn_plug_request_id, NULL),
 *         BN_PLUG(bn_plug_logger, NULL),
 *     };
 *
 * What the plug does with a request:
 * - Only GET and HEAD whose path is `at` followed by at least one segment are
 *   looked at; anything else falls through untouched (the plug returns
 *   without halting, so the next plug and the router see the request).
 * - Each segment after `at` is percent-decoded. A segment that is "." or
 *   "..", or contains '/', '\' or NUL once decoded ("%2e%2e", "..%2f",
 *   "%00", "%5c"), raises 404; a malformed escape ("%zz") raises 400. Empty
 *   segments ("a//b") are skipped, as the router does.
 * - The file is opened beneath `from` by the kernel (openat2 with
 *   RESOLVE_BENEATH): a symlink that stays inside `from` is followed, one that
 *   leads outside is never followed. Missing files, directories (no listings)
 *   and anything that is not a regular file fall through.
 * - Served files get content-type (from the extension; text types with
 *   charset=utf-8), etag (a hash of size and mtime), last-modified,
 *   cache-control, accept-ranges: bytes, and the extra `headers`.
 * - If-None-Match (weak comparison, lists, "*") or, without it,
 *   If-Modified-Since answer 304 with no body.
 * - A single "Range: bytes=..." on a GET answers 206 with content-range, or
 *   416 with a content-range that gives only the size when it is
 *   unsatisfiable; several ranges, or a Range whose If-Range does not match
 *   (strong ETag or the exact Last-Modified date), get the whole file (200).
 * - With `gzip`, a client whose Accept-Encoding takes gzip (q > 0) gets
 *   "<file>.gz" if it exists, with content-encoding: gzip; every response
 *   then says "vary: accept-encoding". A ranged request is served from the
 *   identity file.
 * A served request is halted (bn_conn_halt).
 */
#ifndef BENNU_STATIC_H
#define BENNU_STATIC_H

#include "bennu/web.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_static_opts {
    /** The URL prefix to serve under: "/" or "/static" (required). */
    const char *at;
    /** The directory the files come from, absolute or relative to the working directory (required). */
    const char *from;
    /**
     * NULL, or a NULL-terminated list of first path segments after `at`
     * ("assets", "favicon.ico"): only paths starting with one of them are
     * served, so a static plug at "/" does not stat the disk for every route.
     */
    const char *const *only;
    /** Like `only`, but the first segment need only start with one of these ("favicon" for "favicon-1a2b.ico"). */
    const char *const *only_matching;
    /** Serve "<file>.gz" to clients that accept gzip, when it exists. */
    bool gzip;
    /** cache-control of ordinary responses; NULL: "public". */
    const char *cache_control_for_etags;
    /** cache-control when the query string has a `vsn` parameter (digested assets);
     *  NULL: "public, max-age=31536000, immutable". */
    const char *cache_control_for_vsn_requests;
    /** NULL, or a NULL-terminated list of "name: value" headers added to every file response. */
    const char *const *headers;
} bn_static_opts;

/** The static files plug; `opts` is a `const bn_static_opts *` that outlives the endpoint. */
void bn_plug_static(bn_conn *c, const void *opts);

/** The content type Bennu serves a file name with ("app.css" -> "text/css");
 *  "application/octet-stream" for an unknown extension. */
const char *bn_static_content_type(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_STATIC_H */
