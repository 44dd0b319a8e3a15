/*
 * bennu/cookie.h — the attributes of a response cookie (Set-Cookie), given to
 * bn_conn_put_resp_cookie [Plug.Conn.put_resp_cookie/4 options].
 */
#ifndef BENNU_COOKIE_H
#define BENNU_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bn_same_site {
    BN_SAME_SITE_UNSET = 0, /* no SameSite attribute (browsers then treat it as Lax) */
    BN_SAME_SITE_LAX,
    BN_SAME_SITE_STRICT,
    BN_SAME_SITE_NONE, /* browsers require `secure` with it */
} bn_same_site;

/** Max-Age for a session cookie (no Max-Age, no Expires: gone when the browser closes). */
#define BN_COOKIE_SESSION (-1)

typedef struct bn_cookie_attrs {
    /** Seconds the cookie lives: BN_COOKIE_SESSION (-1) for none, 0 deletes it. Expires is
     *  written too (derived from it) for old clients. */
    int64_t max_age;
    const char *path;   /* NULL: "/" */
    const char *domain; /* NULL: none (host-only cookie) */
    bool secure;
    bool http_only;
    bn_same_site same_site;
} bn_cookie_attrs;

/**
 * Plug's defaults: a session cookie for path "/", HttpOnly, SameSite=Lax.
 * Start from it rather than from `{0}` (max_age 0 would delete the cookie):
 *
 *     bn_cookie_attrs at = BN_COOKIE_ATTRS_DEFAULT;
 *     at.max_age = 3600;
 */
#define BN_COOKIE_ATTRS_DEFAULT                                                                                        \
    ((bn_cookie_attrs){.max_age = BN_COOKIE_SESSION, .path = NULL, .domain = NULL, .secure = false,                   \
                       .http_only = true, .same_site = BN_SAME_SITE_LAX})

#ifdef __cplusplus
}
#endif
#endif /* BENNU_COOKIE_H */
