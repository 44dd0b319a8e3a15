/* Unit tests for bennu/crypto.h: codecs, hashes, KDF, AES-GCM, envelopes, tokens. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>

#include "bennu/crypto.h"

static bn_buf B = BN_BUF_INIT;
static bn_arena A = BN_ARENA_INIT;
static void teardown(void)
{
    bn_buf_free(&B);
    bn_arena_destroy(&A);
}
TestSuite(crypto, .fini = teardown);

static bn_str buf_str(const bn_buf *b) { return bn_str_make(b->data, b->len); }

static void assert_buf(const bn_buf *b, const char *want)
{
    cr_assert(bn_str_eq(buf_str(b), bn_str_from_cstr(want)), "got '%.*s' want '%s'", (int)b->len, b->data, want);
}

/* Hex of `len` bytes, for comparing digests with published vectors. */
static void assert_hex(const void *bytes, size_t len, const char *want)
{
    bn_buf h = BN_BUF_INIT;
    bn_hex_encode(&h, bytes, len);
    assert_buf(&h, want);
    bn_buf_free(&h);
}

/* The Phoenix secret_key_base of PROTOCOLS.md §8: "a" * 64. */
static bn_str skb(void)
{
    static char s[64];
    memset(s, 'a', sizeof(s));
    return bn_str_make(s, sizeof(s));
}

/* ---- codecs ---------------------------------------------------------------- */

Test(crypto, base64_rfc4648_vectors)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < BN_ARRAY_LEN(in); i++) {
        B.len = 0;
        bn_base64_encode(&B, in[i], strlen(in[i]));
        assert_buf(&B, std[i]);
        B.len = 0;
        bn_base64url_encode(&B, in[i], strlen(in[i]), false);
        assert_buf(&B, url[i]);
        B.len = 0;
        bn_base64url_encode(&B, in[i], strlen(in[i]), true);
        assert_buf(&B, std[i]); /* same letters: no + or / in these */
        B.len = 0;
        cr_assert(bn_base64_decode(&B, bn_str_from_cstr(std[i])));
        assert_buf(&B, in[i]);
        B.len = 0;
        cr_assert(bn_base64url_decode(&B, bn_str_from_cstr(url[i]), false));
        assert_buf(&B, in[i]);
        B.len = 0;
        cr_assert(bn_base64url_decode(&B, bn_str_from_cstr(std[i]), true));
        assert_buf(&B, in[i]);
    }
}

Test(crypto, base64_alphabets_and_all_bytes)
{
    const uint8_t hi[] = {0xfb, 0xff, 0xbf};
    bn_base64_encode(&B, hi, sizeof(hi));
    assert_buf(&B, "+/+/");
    B.len = 0;
    bn_base64url_encode(&B, hi, sizeof(hi), false);
    assert_buf(&B, "-_-_");
    B.len = 0;
    cr_assert_not(bn_base64_decode(&B, BN_STR("-_-_")));
    cr_assert_not(bn_base64url_decode(&B, BN_STR("+/+/"), false));

    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n <= sizeof(all); n += 37) {
        bn_buf enc = BN_BUF_INIT, dec = BN_BUF_INIT;
        bn_base64url_encode(&enc, all, n, false);
        cr_assert(bn_base64url_decode(&dec, buf_str(&enc), false));
        cr_assert_eq(dec.len, n);
        cr_assert(n == 0 || memcmp(dec.data, all, n) == 0);
        bn_buf_free(&enc);
        bn_buf_free(&dec);
    }
}

Test(crypto, base64_rejects_bad_input_and_leaves_out_alone)
{
    bn_buf_append(&B, "keep", 4);
    const char *bad_std[] = {
        "Zg",       /* padding required */
        "Zg=",      /* short padding */
        "Zg===",    /* too much */
        "Z===",     /* one char of data */
        "====",     /* only padding */
        "Zm9v\n",   /* whitespace */
        "Zm 9v",    /* whitespace */
        "Zh==",     /* non-zero spare bits ("Zg==" is the canonical spelling) */
        "Zm9=",     /* non-zero spare bits */
        "Zg==Zg==", /* padding in the middle */
        "Z=g=",     /* padding in the middle */
        "Zm9v*A==", /* not in the alphabet */
        "Zm9\xc3\xa9",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(bad_std); i++) {
        cr_assert_not(bn_base64_decode(&B, bn_str_from_cstr(bad_std[i])), "accepted %s", bad_std[i]);
        assert_buf(&B, "keep");
    }
    const char *bad_url[] = {"Zg==", "Zm8=", "Z", "Zh", "Zm9", "Zm9v=", "Zm/v", "Zm+v", "Zm9v.", "A"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad_url); i++) {
        cr_assert_not(bn_base64url_decode(&B, bn_str_from_cstr(bad_url[i]), false), "accepted %s", bad_url[i]);
        assert_buf(&B, "keep");
    }
    cr_assert_not(bn_base64url_decode(&B, BN_STR("Zg"), true));
    cr_assert_not(bn_base64url_decode(&B, bn_str_make("Zg\0=", 4), true));
    assert_buf(&B, "keep");
    /* Appends after existing content. */
    cr_assert(bn_base64_decode(&B, BN_STR("IQ==")));
    assert_buf(&B, "keep!");
}

Test(crypto, hex)
{
    bn_hex_encode(&B, "\x00\x01\xab\xff", 4);
    assert_buf(&B, "0001abff");
    B.len = 0;
    cr_assert(bn_hex_decode(&B, BN_STR("0001ABff")));
    cr_assert_eq(B.len, 4);
    cr_assert_eq(memcmp(B.data, "\x00\x01\xab\xff", 4), 0);
    B.len = 0;
    cr_assert_not(bn_hex_decode(&B, BN_STR("abc")));
    cr_assert_not(bn_hex_decode(&B, BN_STR("zz")));
    cr_assert_not(bn_hex_decode(&B, BN_STR("0g")));
    cr_assert_eq(B.len, 0);
    cr_assert(bn_hex_decode(&B, BN_STR("")));
}

/* ---- hashes, MACs, KDF --------------------------------------------------- */

Test(crypto, digests)
{
    uint8_t d1[BN_SHA1_LEN], d256[BN_SHA256_LEN];
    bn_sha1("abc", 3, d1);
    assert_hex(d1, sizeof(d1), "a9993e364706816aba3e25717850c26c9cd0d89d");
    bn_sha256("abc", 3, d256);
    assert_hex(d256, sizeof(d256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    bn_sha256(NULL, 0, d256);
    assert_hex(d256, sizeof(d256), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(crypto, hmac_sha256_rfc4231)
{
    uint8_t mac[BN_SHA256_LEN], key[131];
    memset(key, 0x0b, 20);
    bn_hmac_sha256(key, 20, "Hi There", 8, mac); /* case 1 */
    assert_hex(mac, sizeof(mac), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    bn_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac); /* case 2 */
    assert_hex(mac, sizeof(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, sizeof(key)); /* case 6: key longer than the block */
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    bn_hmac_sha256(key, sizeof(key), msg, strlen(msg), mac);
    assert_hex(mac, sizeof(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(crypto, constant_time_equal)
{
    cr_assert(bn_crypto_equal("abcd", "abcd", 4));
    cr_assert_not(bn_crypto_equal("abcd", "abce", 4));
    cr_assert_not(bn_crypto_equal("xbcd", "abcd", 4));
    cr_assert(bn_crypto_equal("a", "b", 0));
}

Test(crypto, pbkdf2_vectors)
{
    uint8_t out[64];
    /* RFC 7914 §11 */
    bn_pbkdf2_sha256(BN_STR("passwd"), BN_STR("salt"), 1, out, 64);
    assert_hex(out, 64,
               "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
               "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    bn_pbkdf2_sha256(BN_STR("Password"), BN_STR("NaCl"), 80000, out, 64);
    assert_hex(out, 64,
               "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
               "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
    bn_pbkdf2_sha256(BN_STR("password"), BN_STR("salt"), 4096, out, 32);
    assert_hex(out, 32, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
    /* PROTOCOLS.md §8: Plug.Crypto.KeyGenerator("a" * 64, "user auth"). */
    bn_pbkdf2_sha256(skb(), BN_STR("user auth"), 1000, out, 32);
    assert_hex(out, 32, "31fbb3adecec68c972fd2697491c1a02763359667d5ac06901233fb98a57fb14");
}

Test(crypto, key_derive_matches_pbkdf2_and_separates_inputs)
{
    uint8_t a[32], b[32], c[32];
    bn_key_derive(skb(), BN_STR("user auth"), 1000, a, 32);
    assert_hex(a, 32, "31fbb3adecec68c972fd2697491c1a02763359667d5ac06901233fb98a57fb14");
    bn_key_derive(skb(), BN_STR("user auth"), 1000, b, 32); /* cached */
    cr_assert_eq(memcmp(a, b, 32), 0);
    /* Every component of the cache key matters. */
    bn_key_derive(skb(), BN_STR("user auth2"), 1000, c, 32);
    cr_assert_neq(memcmp(a, c, 32), 0);
    bn_key_derive(skb(), BN_STR("user auth"), 999, c, 32);
    cr_assert_neq(memcmp(a, c, 32), 0);
    uint8_t shorter[16];
    bn_key_derive(skb(), BN_STR("user auth"), 1000, shorter, 16);
    cr_assert_eq(memcmp(a, shorter, 16), 0); /* PBKDF2 prefix property, but its own entry */
    /* ("ab","c") and ("a","bc") must not share an entry. */
    uint8_t x[32], y[32];
    bn_key_derive(BN_STR("ab"), BN_STR("c"), 1, x, 32);
    bn_key_derive(BN_STR("a"), BN_STR("bc"), 1, y, 32);
    cr_assert_neq(memcmp(x, y, 32), 0);
    bn_pbkdf2_sha256(BN_STR("a"), BN_STR("bc"), 1, x, 32);
    cr_assert_eq(memcmp(x, y, 32), 0);
    /* More distinct keys than cache slots: still right after eviction. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i++) {
            char salt[16];
            snprintf(salt, sizeof(salt), "s%d", i);
            bn_key_derive(BN_STR("k"), bn_str_from_cstr(salt), 2, x, 32);
            bn_pbkdf2_sha256(BN_STR("k"), bn_str_from_cstr(salt), 2, y, 32);
            cr_assert_eq(memcmp(x, y, 32), 0);
        }
    /* Longer than the cache holds: derived directly. */
    uint8_t big[100], ref[100];
    bn_key_derive(BN_STR("k"), BN_STR("s"), 3, big, sizeof(big));
    bn_pbkdf2_sha256(BN_STR("k"), BN_STR("s"), 3, ref, sizeof(ref));
    cr_assert_eq(memcmp(big, ref, sizeof(big)), 0);
}

static void *derive_many(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int i = 0; i < 200; i++) {
        char salt[16];
        snprintf(salt, sizeof(salt), "t%d", (int)((id + (uintptr_t)i) % 50));
        uint8_t x[32], y[32];
        bn_key_derive(BN_STR("secret"), bn_str_from_cstr(salt), 1, x, 32);
        bn_pbkdf2_sha256(BN_STR("secret"), bn_str_from_cstr(salt), 1, y, 32);
        if (memcmp(x, y, 32) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(crypto, key_derive_is_thread_safe)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, derive_many, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_assert_null(r);
    }
}

Test(crypto, random_bytes)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    bn_random_bytes(a, sizeof(a));
    bn_random_bytes(b, sizeof(b));
    cr_assert_neq(memcmp(a, b, 32), 0);
    cr_assert_neq(memcmp(a, zero, 32), 0);
    bn_random_bytes(NULL, 0);
}

/* ---- AES-256-GCM ---------------------------------------------------------- */

Test(crypto, aes_gcm_known_answers)
{
    uint8_t key[32] = {0}, iv[12] = {0}, zeros[16] = {0};
    /* GCM spec test cases 13 and 14 (AES-256, zero key and iv). */
    bn_aes_gcm_encrypt(&B, key, iv, BN_STR_NULL, BN_STR_NULL);
    assert_hex(B.data, B.len, "530f8afbc74536b9a963b4f1c4cb738b");
    B.len = 0;
    bn_aes_gcm_encrypt(&B, key, iv, BN_STR_NULL, bn_str_make((const char *)zeros, 16));
    assert_hex(B.data, B.len, "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    bn_buf plain = BN_BUF_INIT;
    cr_assert(bn_aes_gcm_decrypt(&plain, key, iv, BN_STR_NULL, buf_str(&B)));
    cr_assert_eq(plain.len, 16);
    cr_assert_eq(memcmp(plain.data, zeros, 16), 0);
    bn_buf_free(&plain);
}

Test(crypto, aes_gcm_round_trip_and_tamper_detection)
{
    uint8_t key[32], iv[12];
    bn_random_bytes(key, sizeof(key));
    bn_random_bytes(iv, sizeof(iv));
    bn_str msg = BN_STR("attack at dawn, bring snacks");
    bn_str aad = BN_STR("cookie:_app_key");
    bn_aes_gcm_encrypt(&B, key, iv, aad, msg);
    cr_assert_eq(B.len, msg.len + BN_AES_GCM_TAG_LEN);

    bn_buf out = BN_BUF_INIT;
    cr_assert(bn_aes_gcm_decrypt(&out, key, iv, aad, buf_str(&B)));
    cr_assert(bn_str_eq(buf_str(&out), msg));
    /* Flipping any bit of ciphertext or tag fails, and leaves `out` alone. */
    for (size_t i = 0; i < B.len; i++) {
        B.data[i] ^= 0x01;
        cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, aad, buf_str(&B)), "byte %zu", i);
        B.data[i] ^= 0x01;
        cr_assert_eq(out.len, msg.len);
    }
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, BN_STR("cookie:other"), buf_str(&B)));
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, BN_STR_NULL, buf_str(&B)));
    iv[0] ^= 1;
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, aad, buf_str(&B)));
    iv[0] ^= 1;
    key[31] ^= 1;
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, aad, buf_str(&B)));
    key[31] ^= 1;
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, aad, bn_str_make(B.data, B.len - 1)));
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, aad, bn_str_make(B.data, 15)));
    cr_assert_not(bn_aes_gcm_decrypt(&out, key, iv, aad, BN_STR_NULL));
    cr_assert_eq(out.len, msg.len);
    bn_buf_free(&out);
}

/* ---- signed envelope --------------------------------------------------------- */

#define CSRF_COOKIE "SFMyNTY.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAADYWJj.BYRNbpiZK0Yubr-MMLxPpq096D0wrjzFCmMWpDMh1Z0"
#define TOKEN_42 "SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAAOEA.Ec5Bx2n3it9MOHMKm3wmPRCh7ExYOzo8Qke5YV6XxFc"
/* ETF %{"_csrf_token" => "abc"} */
static const uint8_t CSRF_ETF[] = {0x83, 0x74, 0, 0, 0, 1, 0x6d, 0, 0, 0, 11, '_', 'c', 's', 'r', 'f', '_',
                                   't',  'o',  'k', 'e', 'n', 0x6d, 0, 0, 0, 3, 'a', 'b', 'c'};
/* ETF {42, 1700000000000, 3600} */
static const uint8_t TOKEN_42_ETF[] = {0x83, 0x68, 0x03, 0x61, 0x2A, 0x6E, 0x06, 0x00, 0x00, 0x68,
                                       0xE5, 0xCF, 0x8B, 0x01, 0x62, 0x00, 0x00, 0x0E, 0x10};

static void phoenix_key(uint8_t key[BN_KEY_LEN]) { bn_key_derive(skb(), BN_STR("user auth"), 1000, key, BN_KEY_LEN); }

Test(crypto, message_verify_phoenix_vectors)
{
    uint8_t key[BN_KEY_LEN];
    phoenix_key(key);
    cr_assert(bn_message_verify(&B, key, BN_STR(CSRF_COOKIE)));
    cr_assert_eq(B.len, sizeof(CSRF_ETF));
    cr_assert_eq(memcmp(B.data, CSRF_ETF, sizeof(CSRF_ETF)), 0);
    B.len = 0;
    cr_assert(bn_message_verify(&B, key, BN_STR(TOKEN_42)));
    cr_assert_eq(B.len, sizeof(TOKEN_42_ETF));
    cr_assert_eq(memcmp(B.data, TOKEN_42_ETF, sizeof(TOKEN_42_ETF)), 0);
}

Test(crypto, message_sign_is_byte_identical_to_plug)
{
    uint8_t key[BN_KEY_LEN];
    phoenix_key(key);
    bn_message_sign(&B, key, bn_str_make((const char *)CSRF_ETF, sizeof(CSRF_ETF)));
    assert_buf(&B, CSRF_COOKIE);
    B.len = 0;
    bn_message_sign(&B, key, bn_str_make((const char *)TOKEN_42_ETF, sizeof(TOKEN_42_ETF)));
    assert_buf(&B, TOKEN_42);
    /* Empty payloads work both ways. */
    B.len = 0;
    bn_message_sign(&B, key, BN_STR_NULL);
    bn_buf p = BN_BUF_INIT;
    cr_assert(bn_message_verify(&p, key, buf_str(&B)));
    cr_assert_eq(p.len, 0);
    bn_buf_free(&p);
}

Test(crypto, message_verify_rejects_tampering)
{
    uint8_t key[BN_KEY_LEN];
    phoenix_key(key);
    bn_buf_append(&B, "keep", 4);
    char tok[] = CSRF_COOKIE;
    /* Changing any single character breaks it (header, payload, dots or MAC). */
    for (size_t i = 0; i < sizeof(tok) - 1; i++) {
        char saved = tok[i];
        tok[i] = saved == 'A' ? 'B' : 'A';
        cr_assert_not(bn_message_verify(&B, key, bn_str_make(tok, sizeof(tok) - 1)), "char %zu", i);
        tok[i] = saved;
    }
    const char *bad[] = {
        "",
        ".",
        "..",
        "SFMyNTY",
        "SFMyNTY.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAADYWJj",
        CSRF_COOKIE ".",
        CSRF_COOKIE "=",
        "SFMyNTY.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAADYWJj..BYRNbpiZK0Yubr-MMLxPpq096D0wrjzFCmMWpDMh1Z0",
        "SFMzODQ.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAADYWJj.BYRNbpiZK0Yubr-MMLxPpq096D0wrjzFCmMWpDMh1Z0",
        "SFMyNTY.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAADYWJj.BYRNbpiZK0Yubr-MMLxPpq096D0wrjzFCmMWpDMh1Z1",
        "SFMyNTY.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAADYWJj.BYRNbpiZK0Yubr-MMLxPpq096D0wrjzFCmMWpDMh1Z",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        cr_assert_not(bn_message_verify(&B, key, bn_str_from_cstr(bad[i])), "accepted %s", bad[i]);
    cr_assert_not(bn_message_verify(&B, key, BN_STR_NULL));
    /* The right token under another key. */
    uint8_t other[BN_KEY_LEN];
    bn_key_derive(skb(), BN_STR("other salt"), 1000, other, BN_KEY_LEN);
    cr_assert_not(bn_message_verify(&B, other, BN_STR(CSRF_COOKIE)));
    assert_buf(&B, "keep");
}

/* ---- encrypted envelope -------------------------------------------------------- */

Test(crypto, message_encrypt_round_trip_and_tampering)
{
    uint8_t key[BN_KEY_LEN];
    bn_random_bytes(key, sizeof(key));
    bn_str msg = BN_STR("{\"user_id\":42}");
    bn_message_encrypt(&B, key, msg, BN_STR("_app_key"));
    cr_assert(B.len > 8 && memcmp(B.data, "A256GCM.", 8) == 0);
    cr_assert_null(memchr(B.data, '=', B.len));

    bn_buf out = BN_BUF_INIT;
    cr_assert(bn_message_decrypt(&out, key, buf_str(&B), BN_STR("_app_key")));
    cr_assert(bn_str_eq(buf_str(&out), msg));
    out.len = 0;
    /* Fresh iv: encrypting twice gives different tokens that both open. */
    bn_buf again = BN_BUF_INIT;
    bn_message_encrypt(&again, key, msg, BN_STR("_app_key"));
    cr_assert_not(bn_str_eq(buf_str(&again), buf_str(&B)));
    cr_assert(bn_message_decrypt(&out, key, buf_str(&again), BN_STR("_app_key")));
    bn_buf_free(&again);
    out.len = 0;

    /* Any character changed after the header: refused. */
    for (size_t i = 0; i < B.len; i++) {
        char saved = B.data[i];
        B.data[i] = saved == 'A' ? 'B' : 'A';
        cr_assert_not(bn_message_decrypt(&out, key, buf_str(&B), BN_STR("_app_key")), "char %zu", i);
        B.data[i] = saved;
    }
    cr_assert_not(bn_message_decrypt(&out, key, buf_str(&B), BN_STR("_other")));
    cr_assert_not(bn_message_decrypt(&out, key, buf_str(&B), BN_STR_NULL));
    cr_assert_not(bn_message_decrypt(&out, key, bn_str_make(B.data, B.len - 1), BN_STR("_app_key")));
    cr_assert_not(bn_message_decrypt(&out, key, BN_STR("A256GCM."), BN_STR("_app_key")));
    cr_assert_not(bn_message_decrypt(&out, key, BN_STR("A256GCM.AAAA"), BN_STR("_app_key")));
    cr_assert_not(bn_message_decrypt(&out, key, BN_STR(CSRF_COOKIE), BN_STR("_app_key")));
    cr_assert_not(bn_message_decrypt(&out, key, BN_STR_NULL, BN_STR_NULL));
    key[0] ^= 1;
    cr_assert_not(bn_message_decrypt(&out, key, buf_str(&B), BN_STR("_app_key")));
    cr_assert_eq(out.len, 0);

    /* Empty plaintext and empty aad are fine. */
    bn_buf e = BN_BUF_INIT;
    bn_message_encrypt(&e, key, BN_STR_NULL, BN_STR_NULL);
    cr_assert(bn_message_decrypt(&out, key, buf_str(&e), BN_STR_NULL));
    cr_assert_eq(out.len, 0);
    bn_buf_free(&e);
    bn_buf_free(&out);
}

/* ---- tokens ------------------------------------------------------------------------- */

#define T0 1700000000000LL /* signed_at, Unix ms */

static bn_token_result verify_at(const char *salt, int64_t max_age, int64_t now, bn_value **out)
{
    return bn_token_verify(&A, skb(), bn_str_from_cstr(salt), buf_str(&B), max_age, now, out);
}

Test(crypto, token_round_trip)
{
    bn_value *data = bn_value_object(&A);
    bn_value_set(&A, data, "user_id", bn_value_int(&A, 42));
    bn_value_set(&A, data, "name", bn_value_string(&A, BN_STR("Ada \"L\"")));
    bn_token_sign(&B, skb(), BN_STR("user auth"), data, T0, 3600);
    cr_assert(B.len > 8 && memcmp(B.data, "SFMyNTY.", 8) == 0);

    bn_value *out = NULL;
    cr_assert_eq(verify_at("user auth", BN_TOKEN_MAX_AGE_STORED, T0 + 1000, &out), BN_TOKEN_OK);
    cr_assert(bn_value_equal(out, data));

    /* The payload is the documented JSON. */
    uint8_t key[BN_KEY_LEN];
    phoenix_key(key);
    bn_buf p = BN_BUF_INIT;
    cr_assert(bn_message_verify(&p, key, buf_str(&B)));
    bn_value *payload = bn_json_parse(&A, buf_str(&p), NULL);
    cr_assert_eq(bn_value_get(payload, "s")->as.i, T0);
    cr_assert_eq(bn_value_get(payload, "m")->as.i, 3600);
    cr_assert(bn_value_equal(bn_value_get(payload, "d"), data));
    bn_buf_free(&p);
}

Test(crypto, token_string_and_null_data)
{
    bn_value s = {.type = BN_VALUE_STRING, .as.s = BN_STR("hello")};
    bn_token_sign(&B, skb(), BN_STR("salt"), &s, T0, BN_TOKEN_DEFAULT_MAX_AGE);
    bn_value *out = NULL;
    cr_assert_eq(verify_at("salt", BN_TOKEN_MAX_AGE_STORED, T0, &out), BN_TOKEN_OK);
    cr_assert(bn_str_eq(bn_value_str(out), BN_STR("hello")));
    B.len = 0;
    bn_token_sign(&B, skb(), BN_STR("salt"), NULL, T0, 60);
    cr_assert_eq(verify_at("salt", BN_TOKEN_MAX_AGE_STORED, T0, &out), BN_TOKEN_OK);
    cr_assert(bn_value_is(out, BN_VALUE_NULL));
}

Test(crypto, token_expiry_boundaries)
{
    bn_token_sign(&B, skb(), BN_STR("s"), bn_value_int(&A, 1), T0, 60);
    bn_value *out = NULL;
    /* signed + max_age*1000 >= now is still valid; one ms later it is not. */
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_STORED, T0 + 60000, &out), BN_TOKEN_OK);
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_STORED, T0 + 60001, &out), BN_TOKEN_EXPIRED);
    cr_assert_null(out);
    /* signed == now is fine; signed > now (by even 1 ms) is invalid. */
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_STORED, T0, &out), BN_TOKEN_OK);
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_STORED, T0 - 1, &out), BN_TOKEN_INVALID);
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_INFINITE, T0 - 1, &out), BN_TOKEN_INVALID);
}

Test(crypto, token_max_age_override)
{
    bn_token_sign(&B, skb(), BN_STR("s"), bn_value_int(&A, 1), T0, 60);
    bn_value *out = NULL;
    /* A longer max_age given to verify wins over the stored 60 s ... */
    cr_assert_eq(verify_at("s", 3600, T0 + 120000, &out), BN_TOKEN_OK);
    cr_assert_eq(out->as.i, 1);
    /* ... and so does a shorter one. */
    cr_assert_eq(verify_at("s", 10, T0 + 10001, &out), BN_TOKEN_EXPIRED);
    cr_assert_eq(verify_at("s", 0, T0, &out), BN_TOKEN_OK);
    cr_assert_eq(verify_at("s", 0, T0 + 1, &out), BN_TOKEN_EXPIRED);
    /* Negative: never expires. */
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_INFINITE, T0 + 100LL * 365 * 86400000, &out), BN_TOKEN_OK);
    cr_assert_eq(verify_at("s", INT64_MAX, INT64_MAX, &out), BN_TOKEN_OK); /* no overflow */
    /* A token stored with an infinite max_age never expires by default. */
    B.len = 0;
    bn_token_sign(&B, skb(), BN_STR("s"), bn_value_int(&A, 2), T0, BN_TOKEN_MAX_AGE_INFINITE);
    cr_assert_eq(verify_at("s", BN_TOKEN_MAX_AGE_STORED, INT64_MAX, &out), BN_TOKEN_OK);
    cr_assert_eq(verify_at("s", 1, T0 + 1001, &out), BN_TOKEN_EXPIRED);
}

Test(crypto, token_rejections)
{
    bn_token_sign(&B, skb(), BN_STR("user auth"), bn_value_int(&A, 7), T0, 60);
    bn_value *out = (bn_value *)1;
    cr_assert_eq(verify_at("user auth2", BN_TOKEN_MAX_AGE_STORED, T0, &out), BN_TOKEN_INVALID);
    cr_assert_null(out);
    /* Another secret_key_base. */
    char other[64];
    memset(other, 'b', sizeof(other));
    cr_assert_eq(bn_token_verify(&A, bn_str_make(other, 64), BN_STR("user auth"), buf_str(&B),
                                 BN_TOKEN_MAX_AGE_STORED, T0, &out),
                 BN_TOKEN_INVALID);
    /* Tampered anywhere. */
    for (size_t i = 0; i < B.len; i++) {
        char saved = B.data[i];
        B.data[i] = saved == 'A' ? 'B' : 'A';
        cr_assert_eq(verify_at("user auth", BN_TOKEN_MAX_AGE_STORED, T0, &out), BN_TOKEN_INVALID, "char %zu", i);
        B.data[i] = saved;
    }
    cr_assert_eq(verify_at("user auth", BN_TOKEN_MAX_AGE_STORED, T0, &out), BN_TOKEN_OK);
    /* Missing vs empty. */
    cr_assert_eq(bn_token_verify(&A, skb(), BN_STR("user auth"), BN_STR_NULL, 60, T0, &out), BN_TOKEN_MISSING);
    cr_assert_eq(bn_token_verify(&A, skb(), BN_STR("user auth"), BN_STR(""), 60, T0, &out), BN_TOKEN_INVALID);
    /* Authentic envelopes whose payload is not a Bennu token: a Plug ETF
     * token, JSON without the fields, fields of the wrong type. */
    cr_assert_eq(bn_token_verify(&A, skb(), BN_STR("user auth"), BN_STR(TOKEN_42), 60, T0, &out), BN_TOKEN_INVALID);
    uint8_t key[BN_KEY_LEN];
    phoenix_key(key);
    const char *payloads[] = {"{\"d\":1,\"s\":1}", "{\"s\":1,\"m\":1}", "{\"d\":1,\"s\":\"1\",\"m\":1}",
                              "{\"d\":1,\"s\":1,\"m\":1.5}", "[1,2,3]", "not json"};
    for (size_t i = 0; i < BN_ARRAY_LEN(payloads); i++) {
        B.len = 0;
        bn_message_sign(&B, key, bn_str_from_cstr(payloads[i]));
        cr_assert_eq(verify_at("user auth", -1, T0, &out), BN_TOKEN_INVALID, "%s", payloads[i]);
    }
    B.len = 0;
    bn_message_sign(&B, key, BN_STR("{\"d\":1,\"s\":1,\"m\":1}"));
    cr_assert_eq(verify_at("user auth", -1, T0, &out), BN_TOKEN_OK); /* the control */
    cr_assert_str_eq(bn_token_result_name(BN_TOKEN_EXPIRED), "expired");
    cr_assert_str_eq(bn_token_result_name(BN_TOKEN_MISSING), "missing");
}
