/*
 * bennu/session.h — cookie sessions [Plug.Session, cookie store], CSRF
 * protection [Plug.CSRFProtection] and flash messages [Phoenix.Controller flash].
 *
 * The session is a bn_value object kept client-side in one cookie: its JSON
 * signed (bn_message_sign) or, with an encryption_salt, encrypted
 * (bn_message_encrypt). A cookie that is missing, tampered with, made with
 * another key or malformed reads as an empty session, never as an error. The
 * cookie is written back only when the session changed.
 *
 * Example (a browser pipeline; see docs/guides/sessions.md for a whole app):
 *
 *     static const bn_session_opts session = {
 *         .key = "_app_key", .signing_salt = "kH2n5vQe",   // secret_key_base: $SECRET_KEY_BASE
 *     };
 *     bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session),
 *                 BN_PLUG(bn_plug_fetch_flash, NULL),
 *                 BN_PLUG(bn_plug_protect_from_forgery, NULL));
 *
 *     static void login(bn_conn *c) {                      // POST /login, form has _csrf_token
 *         bn_session_renew(c);                              // new cookie on privilege change
 *         bn_arena *a = bn_conn_arena(c);
 *         bn_session_put(c, "user_id", bn_value_int(a, 42));
 *         bn_flash_put(c, "info", "Welcome back!");
 *         bn_conn_redirect(c, "/");                         // the flash shows on "/"
 *     }
 */
#ifndef BENNU_SESSION_H
#define BENNU_SESSION_H

#include "bennu/cookie.h"
#include "bennu/web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Session                                                                    */

/** Plug's limit on the session cookie, and what browsers guarantee per cookie. */
#define BN_SESSION_MAX_COOKIE 4096
/** Plug.Session requires at least this many bytes of secret_key_base. */
#define BN_SESSION_MIN_SECRET 64

/**
 * How older cookies were made, for key rotation: a cookie that fails with the
 * current options is tried with each entry in turn, and when one accepts it the
 * session is re-written with the current keys on this response.
 */
typedef struct bn_session_rotation {
    const char *secret_key_base; /* NULL: the current one */
    const char *signing_salt;    /* NULL: the current one */
    /** The old encryption salt; NULL means those cookies were signed only (not inherited). */
    const char *encryption_salt;
} bn_session_rotation;

/** Options of bn_plug_fetch_session; they must outlive the router. */
typedef struct bn_session_opts {
    const char *key;          /* the cookie's name, e.g. "_app_key" (required) */
    const char *signing_salt; /* required */
    /** When set, the cookie is encrypted (AES-256-GCM, the cookie name as AAD), not just signed. */
    const char *encryption_salt;
    /** NULL: the SECRET_KEY_BASE environment variable. Fewer than 64 bytes raises 500. */
    const char *secret_key_base;
    const bn_cookie_attrs *cookie; /* NULL: BN_COOKIE_ATTRS_DEFAULT (HttpOnly, SameSite=Lax, path /) */
    /** Most bytes of name=value (0: BN_SESSION_MAX_COOKIE); a bigger session raises 500. */
    size_t max_cookie_size;
    const bn_session_rotation *rotating; /* accepted on read, oldest last; may be NULL */
    size_t nrotating;
} bn_session_opts;

/**
 * Plug: reads and verifies the session cookie [fetch_session], and registers
 * the before-send callback that writes it back: only if the session changed
 * (or was renewed or read with a rotated key), deleting it if the session was
 * dropped. Missing required options or a short secret raise 500.
 */
void bn_plug_fetch_session(bn_conn *c, const void *opts /* const bn_session_opts * */);

/** Whether bn_plug_fetch_session ran for this request (the calls below need it). */
bool bn_session_fetched(const bn_conn *c);

/*
 * The session of the conn. Every call raises 500 ("session not fetched") if
 * bn_plug_fetch_session has not run for this request.
 */

/** The value under `key`, or NULL. Valid for the request. */
const bn_value *bn_session_get(bn_conn *c, const char *key);
/** The whole session (an object; never NULL). */
const bn_value *bn_session_all(bn_conn *c);
/**
 * Stores `v` under `key` [put_session]. `v` is kept, not copied: allocate it in
 * bn_conn_arena(c). Raises 500 if the session would no longer fit its cookie.
 */
void bn_session_put(bn_conn *c, const char *key, bn_value *v);
/** Removes `key` [delete_session]. */
void bn_session_delete(bn_conn *c, const char *key);
/** Removes every key [clear_session]; the (empty) session is still written. */
void bn_session_clear(bn_conn *c);
/** Deletes the cookie on this response, whatever else changes [configure_session(drop: true)]. */
void bn_session_drop(bn_conn *c);
/**
 * Writes the cookie on this response even if unchanged [configure_session(renew:
 * true)]: call it when privileges change (log in, log out) with bn_session_clear.
 */
void bn_session_renew(bn_conn *c);

/* ------------------------------------------------------------------------ */
/* CSRF protection (PROTOCOLS.md 7.10, Plug's token format)                   */

/** Session key of the CSRF state: base64url of 18 random bytes (24 chars). */
#define BN_CSRF_SESSION_KEY "_csrf_token"
/** Request parameter and header that carry the masked token. */
#define BN_CSRF_PARAM "_csrf_token"
#define BN_CSRF_HEADER "x-csrf-token"
/** Length of a masked token: b64url(state XOR mask) (32) followed by mask (24). */
#define BN_CSRF_TOKEN_LEN 56

/**
 * A masked CSRF token for forms (<input name="_csrf_token">) and the
 * <meta name="csrf-token"> tag [get_csrf_token]. A fresh mask each call, so
 * tokens differ while all of them stay valid for the session; creates the
 * session's state on first use. In the request arena. Needs the session.
 */
const char *bn_csrf_token(bn_conn *c);
/** True if `token` is a valid masked token for this session's state (constant-time). */
bool bn_csrf_valid(bn_conn *c, bn_str token);
/**
 * Plug [protect_from_forgery]: for every method but GET, HEAD and OPTIONS,
 * requires a valid masked token in the `_csrf_token` body param or the
 * `x-csrf-token` header, else raises 403. Query strings are not looked at
 * (tokens in URLs leak into logs and Referer), nor are unmasked 24-char
 * states. Needs bn_plug_fetch_session before it (raises 500 otherwise).
 * `opts` is unused (NULL).
 */
void bn_plug_protect_from_forgery(bn_conn *c, const void *opts);

/* ------------------------------------------------------------------------ */
/* Flash                                                                      */

/** Session key under which the flash waits for the next request. */
#define BN_FLASH_SESSION_KEY "_flash"

/**
 * Plug [fetch_flash]: loads the messages the previous response left (they are
 * shown on this request, then gone) and registers the callback that keeps the
 * flash for the next request only when this response redirects (3xx), as
 * Phoenix does. Needs bn_plug_fetch_session before it. `opts` is unused (NULL).
 */
void bn_plug_fetch_flash(bn_conn *c, const void *opts);
/** Sets message `kind` ("info", "error"...) [put_flash]; the text is copied. Raises 500 before fetch_flash. */
void bn_flash_put(bn_conn *c, const char *kind, const char *message);
/** The message of `kind`, or BN_STR_NULL [Phoenix.Flash.get]. */
bn_str bn_flash_get(bn_conn *c, const char *kind);
/** Every message, an object of strings (never NULL). */
const bn_value *bn_flash_all(bn_conn *c);
/** Removes every message [clear_flash]. */
void bn_flash_clear(bn_conn *c);

/* ------------------------------------------------------------------------ */
/* Internal: the cookie codec, without a conn (tests and fuzzing).            */

/** The session cookie value for `session` under `opts` and secret `skb` (current keys). */
void bn__session_encode(bn_buf *out, const bn_session_opts *opts, bn_str skb, const bn_value *session);
/**
 * Decodes a session cookie value into an object in `a`, or NULL if it is not
 * authentic or not a JSON object. `*rotated` (may be NULL) tells whether a
 * rotation entry rather than the current options accepted it.
 */
bn_value *bn__session_decode(bn_arena *a, const bn_session_opts *opts, bn_str skb, bn_str cookie, bool *rotated);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_SESSION_H */
