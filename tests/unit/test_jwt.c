/*
 * test_jwt.c: access token issue and verification (api/auth_jwt.c).
 *
 * Owns: the attack and edge cases of docs/decisions.md ("Accounts"): algorithm confusion
 * (none, HS512, RS256 headers), forged or tampered tokens, every time claim at and past
 * its bound, issuer and audience, missing or mistyped claims, garbage, and unusable keys.
 * Rules: hostile tokens are built here with libsodium's HMAC-SHA256, independently of
 * libjwt, so a test signs exactly the header and payload it means to send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth_jwt.h"

#define NOW 1900000000LL
#define ISS "taskbus"
#define AUD "taskbus-api"
#define SUB "0191d3a8-7c4f-7abc-8def-0123456789ab"
#define SID "0191d3a8-7c4f-7abc-8def-0123456789ac"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN (sizeof KEY - 1)
static const unsigned char OTHER_KEY[] = "fedcba9876543210fedcba9876543210-other-key";
#define OTHER_KEYLEN (sizeof OTHER_KEY - 1)

/* base64url without padding; caller frees. */
static char *b64url(const void *data, size_t len) {
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    assert_non_null(out);
    sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* header.payload.HMAC-SHA256(key, header.payload); caller frees. */
static char *sign_raw(const char *header, const char *payload, const unsigned char *key,
                      size_t keylen) {
    char *h = b64url(header, strlen(header));
    char *p = b64url(payload, strlen(payload));
    size_t signing_len = strlen(h) + 1 + strlen(p);
    char *signing = malloc(signing_len + 1);
    assert_non_null(signing);
    snprintf(signing, signing_len + 1, "%s.%s", h, p);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    assert_int_equal(crypto_auth_hmacsha256_init(&st, key, keylen), 0);
    assert_int_equal(
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, signing_len), 0);
    assert_int_equal(crypto_auth_hmacsha256_final(&st, mac), 0);
    char *s = b64url(mac, sizeof mac);
    size_t total = signing_len + 1 + strlen(s) + 1;
    char *token = malloc(total);
    assert_non_null(token);
    snprintf(token, total, "%s.%s", signing, s);
    free(h);
    free(p);
    free(signing);
    free(s);
    return token;
}

/* The claims our issuer writes, as a JSON object the test can bend. */
static json_t *good_claims(void) {
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:s}", "iss", ISS, "aud",
                          AUD, "sub", SUB, "iat", (json_int_t)NOW, "nbf", (json_int_t)NOW, "exp",
                          (json_int_t)(NOW + 900), "jti", "0191d3a8-7c4f-7abc-8def-0123456789ad",
                          "sid", SID, "sev", (json_int_t)3, "role", "user");
    assert_non_null(c);
    return c;
}

static char *sign_claims(const char *header, json_t *claims, const unsigned char *key,
                         size_t keylen) {
    char *payload = json_dumps(claims, JSON_COMPACT);
    assert_non_null(payload);
    char *token = sign_raw(header, payload, key, keylen);
    free(payload);
    json_decref(claims);
    return token;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static auth_jwt_error verify_at(const char *token, int64_t now) {
    auth_jwt_claims claims;
    auth_jwt_error err = AUTH_JWT_INTERNAL;
    int rc = auth_jwt_verify(KEY, KEYLEN, token, ISS, AUD, now, &claims, &err);
    assert_int_equal(rc == 0, err == AUTH_JWT_OK);
    return err;
}

static auth_jwt_error verify_claims(json_t *claims) {
    char *token = sign_claims(HS256, claims, KEY, KEYLEN);
    auth_jwt_error err = verify_at(token, NOW);
    free(token);
    return err;
}

static void issued_token_round_trips(void **state) {
    (void)state;
    auth_jwt_input in = {.issuer = ISS,
                         .audience = AUD,
                         .subject = SUB,
                         .session_id = SID,
                         .role = "admin",
                         .epoch = 7,
                         .ttl_s = 900};
    char *token = NULL;
    assert_int_equal(auth_jwt_issue(KEY, KEYLEN, &in, NOW, &token), 0);
    assert_non_null(token);
    auth_jwt_claims c;
    auth_jwt_error err;
    assert_int_equal(auth_jwt_verify(KEY, KEYLEN, token, ISS, AUD, NOW + 10, &c, &err), 0);
    assert_int_equal(err, AUTH_JWT_OK);
    assert_string_equal(c.sub, SUB);
    assert_string_equal(c.sid, SID);
    assert_string_equal(c.role, "admin");
    assert_int_equal(c.sev, 7);
    assert_int_equal(c.iat, NOW);
    assert_int_equal(c.nbf, NOW);
    assert_int_equal(c.exp, NOW + 900);
    assert_true(uuid_is_valid(c.jti));
    assert_true(uuid7_unix_ms(c.jti) > 0);
    /* The same token under another key is a forgery. */
    assert_int_equal(auth_jwt_verify(OTHER_KEY, OTHER_KEYLEN, token, ISS, AUD, NOW, &c, &err), -1);
    assert_int_equal(err, AUTH_JWT_BAD_SIGNATURE);
    free(token);
}

static void issued_tokens_have_distinct_jti(void **state) {
    (void)state;
    auth_jwt_input in = {.issuer = ISS,
                         .audience = AUD,
                         .subject = SUB,
                         .session_id = SID,
                         .role = "user",
                         .epoch = 0,
                         .ttl_s = 60};
    char *a = NULL;
    char *b = NULL;
    assert_int_equal(auth_jwt_issue(KEY, KEYLEN, &in, NOW, &a), 0);
    assert_int_equal(auth_jwt_issue(KEY, KEYLEN, &in, NOW, &b), 0);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void hand_signed_token_verifies(void **state) {
    (void)state;
    assert_int_equal(verify_claims(good_claims()), AUTH_JWT_OK);
    /* typ is optional */
    char *token = sign_claims("{\"alg\":\"HS256\"}", good_claims(), KEY, KEYLEN);
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_OK);
    free(token);
}

/* An unsigned token: header.payload. (empty signature), and the same with junk after it. */
static void alg_none_is_refused(void **state) {
    (void)state;
    json_t *claims = good_claims();
    char *payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    const char *headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"none\"}",
                             "{\"alg\":\"None\"}",
                             "{\"alg\":\"\"}",
                             "{\"alg\":null}",
                             "{\"typ\":\"JWT\"}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *h = b64url(headers[i], strlen(headers[i]));
        char *p = b64url(payload, strlen(payload));
        char token[2048];
        snprintf(token, sizeof token, "%s.%s.", h, p);
        assert_int_equal(verify_at(token, NOW), AUTH_JWT_BAD_ALG);
        /* Signed with our key, the header still decides. */
        char *signed_token = sign_raw(headers[i], payload, KEY, KEYLEN);
        assert_int_equal(verify_at(signed_token, NOW), AUTH_JWT_BAD_ALG);
        free(signed_token);
        free(h);
        free(p);
    }
    free(payload);
}

/* Algorithm confusion: a valid HS256 MAC under a header naming another algorithm. */
static void other_algs_are_refused(void **state) {
    (void)state;
    const char *headers[] = {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"HS384\"}",
                             "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"ES256\"}",
                             "{\"alg\":\"hs256\"}",
                             "{\"alg\":\"HS256 \"}",
                             "{\"alg\":[\"HS256\"]}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *token = sign_claims(headers[i], good_claims(), KEY, KEYLEN);
        assert_int_equal(verify_at(token, NOW), AUTH_JWT_BAD_ALG);
        free(token);
    }
}

static void odd_headers_are_refused(void **state) {
    (void)state;
    const char *headers[] = {"{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
                             "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                             "{\"alg\":\"HS256\",\"alg\":\"none\"}",
                             "[\"HS256\"]",
                             "null",
                             "not json"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *token = sign_claims(headers[i], good_claims(), KEY, KEYLEN);
        assert_int_equal(verify_at(token, NOW), AUTH_JWT_MALFORMED);
        free(token);
    }
}

static void bad_signature_is_refused(void **state) {
    (void)state;
    char *token = sign_claims(HS256, good_claims(), OTHER_KEY, OTHER_KEYLEN);
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_BAD_SIGNATURE);
    free(token);

    token = sign_claims(HS256, good_claims(), KEY, KEYLEN);
    size_t len = strlen(token);
    token[len - 2] = token[len - 2] == 'A' ? 'B' : 'A'; /* flip a signature character */
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_BAD_SIGNATURE);
    token[len - 2] = '\0'; /* truncated signature */
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_BAD_SIGNATURE);
    free(token);
}

/* The signature of one payload glued to another (role escalated) must not pass. */
static void tampered_payload_is_refused(void **state) {
    (void)state;
    char *genuine = sign_claims(HS256, good_claims(), KEY, KEYLEN);
    json_t *evil = good_claims();
    json_object_set_new(evil, "role", json_string("admin"));
    char *forged = sign_claims(HS256, evil, OTHER_KEY, OTHER_KEYLEN);
    /* forged = h.p2.s2 ; splice genuine's signature onto forged's payload */
    const char *gsig = strrchr(genuine, '.');
    char *fsig = strrchr(forged, '.');
    char token[4096];
    snprintf(token, sizeof token, "%.*s%s", (int)(fsig - forged), forged, gsig);
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_BAD_SIGNATURE);
    free(genuine);
    free(forged);
}

static void expiry_is_exclusive(void **state) {
    (void)state;
    char *token = sign_claims(HS256, good_claims(), KEY, KEYLEN);
    assert_int_equal(verify_at(token, NOW + 899), AUTH_JWT_OK);
    assert_int_equal(verify_at(token, NOW + 900), AUTH_JWT_EXPIRED);
    assert_int_equal(verify_at(token, NOW + 86400), AUTH_JWT_EXPIRED);
    free(token);
}

static void nbf_and_iat_allow_only_the_leeway(void **state) {
    (void)state;
    char *token = sign_claims(HS256, good_claims(), KEY, KEYLEN);
    assert_int_equal(verify_at(token, NOW - AUTH_JWT_LEEWAY_S), AUTH_JWT_OK);
    assert_int_equal(verify_at(token, NOW - AUTH_JWT_LEEWAY_S - 1), AUTH_JWT_NOT_YET_VALID);
    free(token);

    json_t *c = good_claims();
    json_object_set_new(c, "nbf", json_integer(NOW + 60));
    assert_int_equal(verify_claims(c), AUTH_JWT_NOT_YET_VALID);
    c = good_claims();
    json_object_set_new(c, "iat", json_integer(NOW + 31));
    assert_int_equal(verify_claims(c), AUTH_JWT_NOT_YET_VALID);
    c = good_claims();
    json_object_set_new(c, "iat", json_integer(NOW + 30));
    assert_int_equal(verify_claims(c), AUTH_JWT_OK);
}

static void issuer_must_match(void **state) {
    (void)state;
    json_t *c = good_claims();
    json_object_set_new(c, "iss", json_string("someone-else"));
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_ISSUER);
    c = good_claims();
    json_object_set_new(c, "iss", json_string("taskbus "));
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_ISSUER);
    c = good_claims();
    json_object_set_new(c, "iss", json_pack("[s]", ISS));
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_ISSUER);
    c = good_claims();
    json_object_del(c, "iss");
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_ISSUER);
}

static void audience_string_or_array(void **state) {
    (void)state;
    json_t *c = good_claims();
    json_object_set_new(c, "aud", json_string("another-api"));
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_AUDIENCE);
    c = good_claims();
    json_object_set_new(c, "aud", json_pack("[s, s]", "another-api", AUD));
    assert_int_equal(verify_claims(c), AUTH_JWT_OK);
    c = good_claims();
    json_object_set_new(c, "aud", json_pack("[s, i]", "another-api", 5));
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_AUDIENCE);
    c = good_claims();
    json_object_set_new(c, "aud", json_array());
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_AUDIENCE);
    c = good_claims();
    json_object_set_new(c, "aud", json_integer(1));
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_AUDIENCE);
    c = good_claims();
    json_object_del(c, "aud");
    assert_int_equal(verify_claims(c), AUTH_JWT_BAD_AUDIENCE);
}

static void missing_claims_are_refused(void **state) {
    (void)state;
    const char *names[] = {"sub", "sid", "jti", "sev", "role", "exp", "nbf", "iat"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *c = good_claims();
        json_object_del(c, names[i]);
        assert_int_equal(verify_claims(c), AUTH_JWT_BAD_CLAIMS);
    }
}

static void mistyped_claims_are_refused(void **state) {
    (void)state;
    struct {
        const char *name;
        json_t *value;
    } cases[] = {
        {"sub", json_string("not-a-uuid")},
        {"sub", json_integer(42)},
        {"sid", json_string("0191d3a8-7c4f-7abc-8def-0123456789a")},
        {"jti", json_string("")},
        {"jti", json_integer(1)},
        {"sev", json_string("3")},
        {"sev", json_real(3.5)},
        {"sev", json_integer(-1)},
        {"role", json_string("root")},
        {"role", json_string("Admin")},
        {"exp", json_string("1900000900")},
        {"nbf", json_real(1900000000.5)},
        {"iat", json_null()},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *c = good_claims();
        json_object_set_new(c, cases[i].name, cases[i].value);
        assert_int_equal(verify_claims(c), AUTH_JWT_BAD_CLAIMS);
    }
}

static void duplicate_claims_are_refused(void **state) {
    (void)state;
    json_t *c = good_claims();
    json_object_del(c, "role");
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    /* {..., "role":"user","role":"admin"} : last-wins parsers would see admin */
    size_t len = strlen(payload);
    char dup[2048];
    snprintf(dup, sizeof dup, "%.*s,\"role\":\"user\",\"role\":\"admin\"}", (int)(len - 1),
             payload);
    char *token = sign_raw(HS256, dup, KEY, KEYLEN);
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_MALFORMED);
    free(token);
    free(payload);
}

static void garbage_is_refused(void **state) {
    (void)state;
    const char *garbage[] = {"",
                             "abc",
                             "a.b",
                             "a.b.c.d",
                             "...",
                             "..sig",
                             "a..c",
                             "a*b.c.d",
                             "Bearer x.y.z",
                             "e30.e30.e30",
                             "%%%.x.y",
                             "é.é.é",
                             "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        auth_jwt_error err = verify_at(garbage[i], NOW);
        assert_true(err == AUTH_JWT_MALFORMED || err == AUTH_JWT_BAD_ALG);
    }
    auth_jwt_error err;
    assert_int_equal(auth_jwt_verify(KEY, KEYLEN, NULL, ISS, AUD, NOW, NULL, &err), -1);
    assert_int_equal(err, AUTH_JWT_MALFORMED);

    /* An otherwise valid token over the size bound. */
    json_t *c = good_claims();
    char *pad = malloc(AUTH_JWT_MAX_TOKEN_BYTES);
    assert_non_null(pad);
    memset(pad, 'x', AUTH_JWT_MAX_TOKEN_BYTES - 1);
    pad[AUTH_JWT_MAX_TOKEN_BYTES - 1] = '\0';
    json_object_set_new(c, "pad", json_string(pad));
    free(pad);
    char *token = sign_claims(HS256, c, KEY, KEYLEN);
    assert_int_equal(verify_at(token, NOW), AUTH_JWT_MALFORMED);
    free(token);
}

static void unusable_keys_are_refused(void **state) {
    (void)state;
    char *token = sign_claims(HS256, good_claims(), KEY, KEYLEN);
    auth_jwt_error err = AUTH_JWT_OK;
    assert_int_equal(auth_jwt_verify(NULL, 0, token, ISS, AUD, NOW, NULL, &err), -1);
    assert_int_equal(err, AUTH_JWT_BAD_KEY);
    assert_int_equal(auth_jwt_verify(KEY, 0, token, ISS, AUD, NOW, NULL, &err), -1);
    assert_int_equal(err, AUTH_JWT_BAD_KEY);
    assert_int_equal(
        auth_jwt_verify(KEY, AUTH_JWT_MIN_KEY_BYTES - 1, token, ISS, AUD, NOW, NULL, &err), -1);
    assert_int_equal(err, AUTH_JWT_BAD_KEY);
    free(token);

    auth_jwt_input in = {.issuer = ISS,
                         .audience = AUD,
                         .subject = SUB,
                         .session_id = SID,
                         .role = "user",
                         .epoch = 0,
                         .ttl_s = 900};
    char *out = (char *)"unchanged";
    assert_int_equal(auth_jwt_issue(NULL, 0, &in, NOW, &out), -1);
    assert_null(out);
    assert_int_equal(auth_jwt_issue(KEY, 0, &in, NOW, &out), -1);
    assert_int_equal(auth_jwt_issue(KEY, 16, &in, NOW, &out), -1);
    assert_null(out);
}

static void issue_refuses_bad_input(void **state) {
    (void)state;
    auth_jwt_input good = {.issuer = ISS,
                           .audience = AUD,
                           .subject = SUB,
                           .session_id = SID,
                           .role = "user",
                           .epoch = 0,
                           .ttl_s = 900};
    auth_jwt_input cases[6];
    for (size_t i = 0; i < 6; i++)
        cases[i] = good;
    cases[0].subject = "nope";
    cases[1].session_id = NULL;
    cases[2].role = "root";
    cases[3].ttl_s = 0;
    cases[4].epoch = -1;
    cases[5].issuer = NULL;
    for (size_t i = 0; i < 6; i++) {
        char *out = NULL;
        assert_int_equal(auth_jwt_issue(KEY, KEYLEN, &cases[i], NOW, &out), -1);
        assert_null(out);
    }
}

static void error_names_are_stable(void **state) {
    (void)state;
    assert_string_equal(auth_jwt_error_name(AUTH_JWT_BAD_ALG), "bad-alg");
    assert_string_equal(auth_jwt_error_name(AUTH_JWT_EXPIRED), "expired");
    assert_string_equal(auth_jwt_error_name((auth_jwt_error)99), "unknown");
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(issued_token_round_trips),
        cmocka_unit_test(issued_tokens_have_distinct_jti),
        cmocka_unit_test(hand_signed_token_verifies),
        cmocka_unit_test(alg_none_is_refused),
        cmocka_unit_test(other_algs_are_refused),
        cmocka_unit_test(odd_headers_are_refused),
        cmocka_unit_test(bad_signature_is_refused),
        cmocka_unit_test(tampered_payload_is_refused),
        cmocka_unit_test(expiry_is_exclusive),
        cmocka_unit_test(nbf_and_iat_allow_only_the_leeway),
        cmocka_unit_test(issuer_must_match),
        cmocka_unit_test(audience_string_or_array),
        cmocka_unit_test(missing_claims_are_refused),
        cmocka_unit_test(mistyped_claims_are_refused),
        cmocka_unit_test(duplicate_claims_are_refused),
        cmocka_unit_test(garbage_is_refused),
        cmocka_unit_test(unusable_keys_are_refused),
        cmocka_unit_test(issue_refuses_bad_input),
        cmocka_unit_test(error_names_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
