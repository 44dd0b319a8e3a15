/*
 * Crypto wrappers over OpenSSL libcrypto, the derived-key cache, and the
 * Plug-compatible signed envelope plus Bennu's encrypted envelope and tokens.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>

#include "bennu/crypto.h"

/* ---- randomness, hashes ------------------------------------------------- */

void bn_random_bytes(void *out, size_t len)
{
    uint8_t *p = out;
    while (len) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, n) != 1)
            bn_fatal("RAND_bytes failed: no secure randomness available");
        p += n;
        len -= (size_t)n;
    }
}

static void digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
    if (EVP_Digest(data, len, out, NULL, md, NULL) != 1)
        bn_fatal("EVP_Digest failed");
}

void bn_sha1(const void *data, size_t len, uint8_t out[BN_SHA1_LEN]) { digest(EVP_sha1(), data, len, out); }

void bn_sha256(const void *data, size_t len, uint8_t out[BN_SHA256_LEN]) { digest(EVP_sha256(), data, len, out); }

void bn_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[BN_SHA256_LEN])
{
    if (key_len > INT_MAX)
        bn_fatal("bn_hmac_sha256: key too long");
    /* HMAC() wants non-NULL pointers even for empty inputs. */
    if (!HMAC(EVP_sha256(), key_len ? key : "", (int)key_len, len ? data : (const void *)"", len, out, NULL))
        bn_fatal("HMAC-SHA256 failed");
}

bool bn_crypto_equal(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len) == 0; }

/* ---- key derivation ------------------------------------------------------ */

void bn_pbkdf2_sha256(bn_str secret, bn_str salt, unsigned iterations, void *out, size_t len)
{
    if (secret.len > INT_MAX || salt.len > INT_MAX || len > INT_MAX || iterations == 0 || iterations > INT_MAX)
        bn_fatal("bn_pbkdf2_sha256: bad arguments");
    if (PKCS5_PBKDF2_HMAC(secret.len ? secret.ptr : "", (int)secret.len,
                          (const unsigned char *)(salt.len ? salt.ptr : ""), (int)salt.len, (int)iterations,
                          EVP_sha256(), (int)len, out) != 1)
        bn_fatal("PBKDF2 failed");
}

#define CACHE_SLOTS 32
#define CACHE_KEY_MAX 64

/* An entry is found by a digest of (secret, salt): the cache never holds a
 * copy of secret_key_base, and 256-bit collisions do not happen. */
typedef struct cache_entry {
    bool used;
    uint8_t id[BN_SHA256_LEN];
    unsigned iterations;
    size_t len;
    uint8_t key[CACHE_KEY_MAX];
} cache_entry;

static cache_entry key_cache[CACHE_SLOTS];
static unsigned key_cache_next; /* round-robin victim once full */
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* SHA-256 of len(secret) || secret || salt: the length prefix keeps
 * ("ab","c") and ("a","bc") apart. */
static void cache_id(bn_str secret, bn_str salt, uint8_t id[BN_SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint64_t n = secret.len;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, &n, sizeof(n)) != 1 ||
        EVP_DigestUpdate(ctx, secret.ptr, secret.len) != 1 || EVP_DigestUpdate(ctx, salt.ptr, salt.len) != 1 ||
        EVP_DigestFinal_ex(ctx, id, NULL) != 1)
        bn_fatal("SHA-256 failed");
    EVP_MD_CTX_free(ctx);
}

void bn_key_derive(bn_str secret, bn_str salt, unsigned iterations, void *out, size_t len)
{
    if (len > CACHE_KEY_MAX) {
        bn_pbkdf2_sha256(secret, salt, iterations, out, len);
        return;
    }
    uint8_t id[BN_SHA256_LEN];
    cache_id(secret, salt, id);
    pthread_mutex_lock(&key_cache_lock);
    for (unsigned i = 0; i < CACHE_SLOTS; i++) {
        cache_entry *e = &key_cache[i];
        if (e->used && e->iterations == iterations && e->len == len && memcmp(e->id, id, sizeof(id)) == 0) {
            memcpy(out, e->key, len);
            pthread_mutex_unlock(&key_cache_lock);
            return;
        }
    }
    pthread_mutex_unlock(&key_cache_lock);
    /* Derive unlocked: 1000 iterations take ~0.3 ms, other threads need not
     * wait. Two threads may race to fill the same key; both results agree. */
    bn_pbkdf2_sha256(secret, salt, iterations, out, len);
    pthread_mutex_lock(&key_cache_lock);
    cache_entry *e = &key_cache[key_cache_next];
    key_cache_next = (key_cache_next + 1) % CACHE_SLOTS;
    e->used = true;
    memcpy(e->id, id, sizeof(id));
    e->iterations = iterations;
    e->len = len;
    memcpy(e->key, out, len);
    pthread_mutex_unlock(&key_cache_lock);
}

/* ---- AES-256-GCM --------------------------------------------------------- */

/* One AES-256-GCM pass over `in`, the AAD given in `naad` pieces (GCM
 * accepts AAD in several updates). Encrypting appends ct || tag; decrypting
 * takes ct || tag and appends the plaintext if the tag matches. */
static bool gcm(bool enc, bn_buf *out, const uint8_t *key, const uint8_t *iv, const bn_str *aad, size_t naad,
                bn_str in)
{
    if (!enc && in.len < BN_AES_GCM_TAG_LEN)
        return false;
    size_t body = enc ? in.len : in.len - BN_AES_GCM_TAG_LEN;
    if (body > INT_MAX)
        bn_fatal("AES-GCM: message too long");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, enc) != 1)
        bn_fatal("AES-GCM init failed");
    size_t start = out->len;
    uint8_t *w = (uint8_t *)bn_buf_reserve(out, body + BN_AES_GCM_TAG_LEN + 16);
    int n = 0;
    bool ok = true;
    for (size_t i = 0; i < naad && ok; i++)
        if (aad[i].len)
            ok = aad[i].len <= INT_MAX && EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)aad[i].ptr,
                                                           (int)aad[i].len) == 1;
    size_t produced = 0;
    if (ok && body) {
        ok = EVP_CipherUpdate(ctx, w, &n, (const uint8_t *)in.ptr, (int)body) == 1;
        produced = (size_t)n;
    }
    if (ok && !enc) /* the tag must be set before Final checks it */
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BN_AES_GCM_TAG_LEN, (void *)(in.ptr + body)) == 1;
    if (ok) {
        ok = EVP_CipherFinal_ex(ctx, w + produced, &n) == 1;
        produced += (size_t)n;
    }
    if (ok && enc) {
        if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BN_AES_GCM_TAG_LEN, w + produced) != 1)
            bn_fatal("AES-GCM tag failed");
        produced += BN_AES_GCM_TAG_LEN;
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        if (enc)
            bn_fatal("AES-GCM encryption failed");
        OPENSSL_cleanse(w, body); /* never leave unauthenticated plaintext behind */
        out->len = start;
        return false;
    }
    out->len = start + produced;
    return true;
}

void bn_aes_gcm_encrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], const uint8_t iv[BN_AES_GCM_IV_LEN], bn_str aad,
                        bn_str plaintext)
{
    gcm(true, out, key, iv, &aad, 1, plaintext);
}

bool bn_aes_gcm_decrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], const uint8_t iv[BN_AES_GCM_IV_LEN], bn_str aad,
                        bn_str sealed)
{
    return gcm(false, out, key, iv, &aad, 1, sealed);
}

/* ---- signed envelope (Plug.Crypto.MessageVerifier, HS256) ---------------- */

#define HS256 "SFMyNTY" /* b64url("HS256") */
#define SIG_B64_LEN 43  /* unpadded b64url of 32 bytes */

void bn_message_sign(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str payload)
{
    size_t start = out->len;
    bn_buf_append(out, HS256 ".", sizeof(HS256));
    bn_base64url_encode(out, payload.ptr, payload.len, false);
    uint8_t mac[BN_SHA256_LEN];
    bn_hmac_sha256(key, BN_KEY_LEN, out->data + start, out->len - start, mac);
    bn_buf_append(out, ".", 1);
    bn_base64url_encode(out, mac, sizeof(mac), false);
}

bool bn_message_verify(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str token)
{
    if (!token.len)
        return false;
    const char *end = token.ptr + token.len;
    const char *dot1 = memchr(token.ptr, '.', token.len);
    if (!dot1)
        return false;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        return false; /* exactly three parts */
    if (!bn_str_eq(bn_str_make(token.ptr, (size_t)(dot1 - token.ptr)), BN_STR(HS256)))
        return false;
    bn_str sig64 = bn_str_make(dot2 + 1, (size_t)(end - dot2 - 1));
    if (sig64.len != SIG_B64_LEN)
        return false;

    /* `out` doubles as scratch space for the decoded MAC. */
    size_t start = out->len;
    if (!bn_base64url_decode(out, sig64, false))
        return false;
    uint8_t sent[BN_SHA256_LEN], mac[BN_SHA256_LEN];
    memcpy(sent, out->data + start, sizeof(sent));
    out->len = start;

    /* The MAC covers the first two parts exactly as sent. */
    bn_hmac_sha256(key, BN_KEY_LEN, token.ptr, (size_t)(dot2 - token.ptr), mac);
    if (!bn_crypto_equal(sent, mac, sizeof(mac)))
        return false;
    return bn_base64url_decode(out, bn_str_make(dot1 + 1, (size_t)(dot2 - dot1 - 1)), false);
}

/* ---- encrypted envelope (Bennu's own) ------------------------------------ */

#define A256GCM "A256GCM"

void bn_message_encrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str plaintext, bn_str aad)
{
    bn_buf sealed = BN_BUF_INIT;
    uint8_t iv[BN_AES_GCM_IV_LEN];
    bn_random_bytes(iv, sizeof(iv));
    bn_buf_append(&sealed, iv, sizeof(iv));
    bn_str aads[2] = {BN_STR(A256GCM), aad};
    gcm(true, &sealed, key, iv, aads, 2, plaintext);
    bn_buf_append(out, A256GCM ".", sizeof(A256GCM));
    bn_base64url_encode(out, sealed.data, sealed.len, false);
    bn_buf_free(&sealed);
}

bool bn_message_decrypt(bn_buf *out, const uint8_t key[BN_KEY_LEN], bn_str token, bn_str aad)
{
    bn_str prefix = BN_STR(A256GCM ".");
    if (token.len < prefix.len || memcmp(token.ptr, prefix.ptr, prefix.len) != 0)
        return false;
    bn_buf sealed = BN_BUF_INIT;
    bool ok = bn_base64url_decode(&sealed, bn_str_make(token.ptr + prefix.len, token.len - prefix.len), false) &&
              sealed.len >= BN_AES_GCM_IV_LEN + BN_AES_GCM_TAG_LEN;
    if (ok) {
        bn_str aads[2] = {BN_STR(A256GCM), aad};
        ok = gcm(false, out, key, (const uint8_t *)sealed.data, aads, 2,
                 bn_str_make(sealed.data + BN_AES_GCM_IV_LEN, sealed.len - BN_AES_GCM_IV_LEN));
    }
    bn_buf_free(&sealed);
    return ok;
}

/* ---- tokens ---------------------------------------------------------------- */

static void token_key(bn_str skb, bn_str salt, uint8_t key[BN_KEY_LEN])
{
    bn_key_derive(skb, salt, BN_KEY_ITERATIONS, key, BN_KEY_LEN);
}

void bn_token_sign(bn_buf *out, bn_str secret_key_base, bn_str salt, const bn_value *data, int64_t signed_at_ms,
                   int64_t max_age_s)
{
    uint8_t key[BN_KEY_LEN];
    token_key(secret_key_base, salt, key);
    bn_buf json = BN_BUF_INIT;
    bn_buf_append(&json, "{\"d\":", 5);
    bn_json_encode(&json, data);
    bn_buf_printf(&json, ",\"s\":%lld,\"m\":%lld}", (long long)signed_at_ms, (long long)max_age_s);
    bn_message_sign(out, key, bn_str_make(json.data, json.len));
    bn_buf_free(&json);
    OPENSSL_cleanse(key, sizeof(key));
}

/* Now minus signed_at beyond max_age seconds? Unsigned math: no overflow. */
static bool expired(int64_t signed_at, int64_t max_age_s, int64_t now)
{
    if (max_age_s < 0 || max_age_s > INT64_MAX / 1000)
        return false;
    return (uint64_t)now - (uint64_t)signed_at > (uint64_t)max_age_s * 1000;
}

bn_token_result bn_token_verify(bn_arena *a, bn_str secret_key_base, bn_str salt, bn_str token, int64_t max_age_s,
                                int64_t now_ms, bn_value **out)
{
    *out = NULL;
    if (!token.ptr)
        return BN_TOKEN_MISSING;
    uint8_t key[BN_KEY_LEN];
    token_key(secret_key_base, salt, key);
    bn_buf json = BN_BUF_INIT;
    bool ok = bn_message_verify(&json, key, token);
    OPENSSL_cleanse(key, sizeof(key));
    bn_value *payload = ok ? bn_json_parse(a, bn_str_make(json.data, json.len), NULL) : NULL;
    bn_buf_free(&json);

    const bn_value *d = bn_value_get(payload, "d");
    const bn_value *s = bn_value_get(payload, "s");
    const bn_value *m = bn_value_get(payload, "m");
    if (!d || !bn_value_is(s, BN_VALUE_INT) || !bn_value_is(m, BN_VALUE_INT))
        return BN_TOKEN_INVALID;
    if (s->as.i > now_ms)
        return BN_TOKEN_INVALID; /* signed in the future */
    if (expired(s->as.i, max_age_s == BN_TOKEN_MAX_AGE_STORED ? m->as.i : max_age_s, now_ms))
        return BN_TOKEN_EXPIRED;
    *out = (bn_value *)d; /* the tree lives in the caller's arena */
    return BN_TOKEN_OK;
}

const char *bn_token_result_name(bn_token_result r)
{
    switch (r) {
    case BN_TOKEN_OK: return "ok";
    case BN_TOKEN_INVALID: return "invalid";
    case BN_TOKEN_EXPIRED: return "expired";
    case BN_TOKEN_MISSING: return "missing";
    }
    return "invalid";
}
