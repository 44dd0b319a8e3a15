/*
 * bennu/crypto.h — randomness, base64/hex, hashes, key derivation, AEAD, and
 * the signed/encrypted envelopes that cookies and tokens use (core layer).
 *
 * Everything runs on OpenSSL's libcrypto. Encodings and envelopes are
 * appended to a bn_buf; keys and digests go into caller buffers. Functions
 * that check untrusted input return false (or an error code) and never abort;
 * functions that can only fail through a broken libcrypto abort.
 *
 * Example (a Phoenix-compatible signed value, then a Bennu token):
 *
 *     uint8_t key[BN_KEY_LEN];
 *     bn_key_derive(skb, BN_STR("user auth"), 1000, key, sizeof(key));
 *     bn_buf tok = BN_BUF_INIT, payload = BN_BUF_INIT;
 *     bn_message_sign(&tok, key, BN_STR("hello"));          // "SFMyNTY.aGVsbG8.<mac>"
 *     bool ok = bn_message_verify(&payload, key, bn_str_make(tok.data, tok.len));
 */
#ifndef BENNU_CRYPTO_H
#define BENNU_CRYPTO_H

#include "bennu/core.h"
#include "bennu/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- randomness -------------------------------------------------------- */

/** Fills `out` from the OS-seeded CSPRNG (RAND_bytes); aborts if it fails. */
void bn_random_bytes(void *out, size_t len);

/* ---- base64 (RFC 4648) and hex ----------------------------------------- */

/** Appends standard base64 ("+/", with "=" padding). */
void bn_base64_encode(bn_buf *out, const void *data, size_t len);
/** Appends base64url ("-_"), with or without "=" padding. */
void bn_base64url_encode(bn_buf *out, const void *data, size_t len, bool pad);
/**
 * Appends the bytes of standard, padded base64. Strict: no whitespace, the
 * exact padding, and zero unused bits in the last character (so each byte
 * string has exactly one accepted encoding). On false `out` is unchanged.
 */
bool bn_base64_decode(bn_buf *out, bn_str in);
/** The same for base64url; `padded` says whether "=" padding is required (true) or forbidden (false). */
bool bn_base64url_decode(bn_buf *out, bn_str in, bool padded);
/** Appends lowercase hex. */
void bn_hex_encode(bn_buf *out, const void *data, size_t len);
/** Appends the bytes of an even-length hex string (either case); false, `out` unchanged, on junk. */
bool bn_hex_decode(bn_buf *out, bn_str in);
/** The same into `dst` (in.len / 2 bytes); false on junk (dst then partly written). */
bool bn_hex_decode_to(uint8_t *dst, bn_str in);

/* ---- hashes, MACs, comparison ------------------------------------------ */

#define BN_SHA1_LEN 20
#define BN_SHA256_LEN 32

/** SHA-1, for protocols that mandate it (WebSocket handshake); never for security. */
void bn_sha1(const void *data, size_t len, uint8_t out[BN_SHA1_LEN]);
void bn_sha256(const void *data, size_t len, uint8_t out[BN_SHA256_LEN]);
void bn_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[BN_SHA256_LEN]);
/** Constant-time comparison of two `len`-byte buffers (CRYPTO_memcmp). */
bool bn_crypto_equal(const void *a, const void *b, size_t len);

/* ---- key derivation ---------------------------------------------------- */

/** Length of the keys the envelopes below use (AES-256, HMAC-SHA256). */
#define BN_KEY_LEN 32
/** Iterations Plug.Crypto.KeyGenerator (and so Phoenix) uses. */
#define BN_KEY_ITERATIONS 1000

/** PBKDF2-HMAC-SHA256(password = secret, salt), `len` bytes into `out`. Uncached. */
void bn_pbkdf2_sha256(bn_str secret, bn_str salt, unsigned iterations, void *out, size_t len);
/**
 * PBKDF2-HMAC-SHA256 like Plug.Crypto.KeyGenerator: the same result as
 * bn_pbkdf2_sha256, memoised in a small process-wide cache keyed by
 * (secret, salt, iterations, len) so that per-request derivations cost a
 * lookup. Thread-safe. The cache holds a SHA-256 of the secret, not the
 * secret; keys longer than 64 bytes are derived but not cached.
 */
void bn_key_derive(bn_str secret, bn_str salt, unsigned iterations, void *out, size_t len);

/* ---- AES-256-GCM ------------------------------------------------------- */

#define BN_AES_GCM_IV_LEN 12
#define BN_AES_GCM_TAG_LEN 16

/** Appends ciphertext || tag (plaintext length + 16 bytes). Never reuse an iv with the same key. */
void bn_aes_gcm_encrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], const uint8_t iv[BN_AES_GCM_IV_LEN], bn_str aad,
                        bn_str plaintext);
/** Decrypts ciphertext || tag; false (and `out` unchanged) if the tag does not match. */
bool bn_aes_gcm_decrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], const uint8_t iv[BN_AES_GCM_IV_LEN], bn_str aad,
                        bn_str sealed);

/* ---- envelopes --------------------------------------------------------- */

/**
 * Plug.Crypto.MessageVerifier (HS256), byte-compatible with Phoenix:
 * appends "SFMyNTY." b64url(payload) "." b64url(HMAC-SHA256(key, first two parts)).
 * Readable by anyone; tampering is detected.
 */
void bn_message_sign(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str payload);
/**
 * Checks a token made by bn_message_sign (or by Plug with HS256): exactly three
 * parts, the "SFMyNTY" header, an HMAC compared in constant time. Appends the
 * payload on success; on false `out` is unchanged.
 */
bool bn_message_verify(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str token);

/**
 * Bennu's encrypted envelope (not readable by Elixir):
 * "A256GCM." b64url(iv12 || ciphertext || tag16), a fresh random iv each call,
 * AAD = "A256GCM" followed by `aad` (bind a context such as a cookie name, or
 * pass BN_STR_NULL).
 */
void bn_message_encrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str plaintext, bn_str aad);
/** Opens bn_message_encrypt's output; false (`out` unchanged) on any tampering or a wrong key/aad. */
bool bn_message_decrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str token, bn_str aad);

/* ---- Phoenix.Token-style tokens ---------------------------------------- */

/** max_age (seconds) that Phoenix.Token uses when none is given. */
#define BN_TOKEN_DEFAULT_MAX_AGE 86400
/** A max_age that never expires (any negative value does). */
#define BN_TOKEN_MAX_AGE_INFINITE (-1)
/** For bn_token_verify: use the max_age stored in the token (Plug's default). */
#define BN_TOKEN_MAX_AGE_STORED INT64_MIN

typedef enum bn_token_result {
    BN_TOKEN_OK,
    BN_TOKEN_INVALID, /* bad format, bad signature, wrong key or salt, signed in the future */
    BN_TOKEN_EXPIRED, /* authentic but older than max_age */
    BN_TOKEN_MISSING, /* no token at all (token.ptr == NULL) */
} bn_token_result;

/**
 * Signs `data` (NULL reads as null; a string is just a string value) like
 * Phoenix.Token.sign, with Bennu's payload: the JSON {"d":data,"s":signed_at_ms,
 * "m":max_age_s} in a bn_message_sign envelope keyed by
 * bn_key_derive(secret_key_base, salt, 1000, 32). Appends the token.
 */
void bn_token_sign(bn_buf *out, bn_str secret_key_base, bn_str salt, const bn_value *data, int64_t signed_at_ms,
                   int64_t max_age_s);
/**
 * Verifies a bn_token_sign token at time `now_ms` (Unix milliseconds).
 * `max_age_s` overrides the stored max_age (negative: never expires;
 * BN_TOKEN_MAX_AGE_STORED: use the stored one). Like Plug, it requires
 * signed_at <= now_ms exactly (no skew allowance: a token from a node whose
 * clock runs ahead is INVALID until the clocks agree) and
 * signed_at + max_age*1000 >= now_ms (else EXPIRED). On OK, `*out` is the
 * data, parsed into `a`; otherwise `*out` is set to NULL.
 */
bn_token_result bn_token_verify(bn_arena *a, bn_str secret_key_base, bn_str salt, bn_str token, int64_t max_age_s,
                                int64_t now_ms, bn_value **out);
/** "ok", "invalid", "expired" or "missing". */
const char *bn_token_result_name(bn_token_result r);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_CRYPTO_H */
