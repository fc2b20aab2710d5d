/*
 * fuzz_jwt.c: libFuzzer target for access-token verification (api/auth_jwt.c): the shape
 * and size checks, our own reading of the header (the algorithm gate libjwt lacks),
 * libjwt's signature check and every claim check.
 *
 * Input: text starting with '{' is line 1 a header JSON and the rest a claims JSON, which
 * this target encodes and signs with the key the verifier holds (so the fuzzer gets past
 * the signature to the header and claim checks); anything else is tried as a token as it
 * is.
 * Invariants: verification succeeds only for a header whose alg is exactly "HS256", and
 * then every claim is what the API relies on (ids are UUIDs, role user or admin, exp in
 * the future, nbf and iat not beyond the leeway, sev >= 0, jti 1-128 bytes); a token
 * issued from verified claims verifies to the same claims; every error has a name.
 */
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth_jwt.h"
#include "fuzz_util.h"

#define FUZZ_ISS "taskbus"
#define FUZZ_AUD "taskbus-api"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) {
        abort();
    }
    return 0;
}

static char *b64url(const void *data, size_t len) {
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256). */
static char *sign(const char *header, size_t hlen, const char *claims, size_t clen) {
    char *h = b64url(header, hlen);
    char *c = b64url(claims, clen);
    size_t signing_len = strlen(h) + 1 + strlen(c);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, FUZZ_KEY, sizeof FUZZ_KEY);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)h, strlen(h));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)c, strlen(c));
    crypto_auth_hmacsha256_final(&st, mac);
    char *s = b64url(mac, sizeof mac);
    size_t total = signing_len + 1 + strlen(s) + 1;
    char *token = malloc(total);
    FUZZ_CHECK(token != NULL);
    snprintf(token, total, "%s.%s.%s", h, c, s);
    free(s);
    free(c);
    free(h);
    return token;
}

static void check_claims(const auth_jwt_claims *c) {
    FUZZ_CHECK(uuid_is_valid(c->sub) && uuid_is_valid(c->sid));
    FUZZ_CHECK(strcmp(c->role, "user") == 0 || strcmp(c->role, "admin") == 0);
    FUZZ_CHECK(c->exp > FUZZ_NOW_S);
    FUZZ_CHECK(c->nbf <= FUZZ_NOW_S + AUTH_JWT_LEEWAY_S &&
               c->iat <= FUZZ_NOW_S + AUTH_JWT_LEEWAY_S);
    FUZZ_CHECK(c->sev >= 0);
    size_t jti = strlen(c->jti);
    FUZZ_CHECK(jti >= 1 && jti <= AUTH_JWT_JTI_MAX);
}

/* What we issue from verified claims verifies to the same claims. */
static void check_reissue(const auth_jwt_claims *c) {
    if (c->exp - FUZZ_NOW_S > INT_MAX) {
        return;
    }
    auth_jwt_input in = {.issuer = FUZZ_ISS,
                         .audience = FUZZ_AUD,
                         .subject = c->sub,
                         .session_id = c->sid,
                         .role = c->role,
                         .jti = c->jti,
                         .epoch = c->sev,
                         .ttl_s = (int)(c->exp - FUZZ_NOW_S)};
    char *token = NULL;
    FUZZ_CHECK(auth_jwt_issue(FUZZ_KEY, sizeof FUZZ_KEY, &in, FUZZ_NOW_S, &token) == 0);
    auth_jwt_claims again;
    auth_jwt_error err;
    FUZZ_CHECK(auth_jwt_verify(FUZZ_KEY, sizeof FUZZ_KEY, token, FUZZ_ISS, FUZZ_AUD, FUZZ_NOW_S,
                               &again, &err) == 0);
    FUZZ_CHECK(strcmp(again.sub, c->sub) == 0 && strcmp(again.sid, c->sid) == 0 &&
               strcmp(again.role, c->role) == 0 && strcmp(again.jti, c->jti) == 0 &&
               again.sev == c->sev && again.exp == c->exp);
    free(token);
}

/* header: the header JSON we signed, or NULL for a raw token. */
static void check_token(const char *token, const char *header, size_t hlen) {
    auth_jwt_claims claims;
    auth_jwt_error err = AUTH_JWT_INTERNAL;
    int rc = auth_jwt_verify(FUZZ_KEY, sizeof FUZZ_KEY, token, FUZZ_ISS, FUZZ_AUD, FUZZ_NOW_S,
                             &claims, &err);
    FUZZ_CHECK((rc == 0) == (err == AUTH_JWT_OK));
    FUZZ_CHECK(strcmp(auth_jwt_error_name(err), "unknown") != 0);
    if (rc != 0) {
        return;
    }
    if (header != NULL) {
        json_t *h = json_loadb(header, hlen, 0, NULL);
        FUZZ_CHECK(h != NULL);
        const char *alg = json_string_value(json_object_get(h, "alg"));
        FUZZ_CHECK(alg != NULL && strcmp(alg, "HS256") == 0);
        json_decref(h);
    }
    check_claims(&claims);
    check_reissue(&claims);
    /* The same token with another key never verifies. */
    unsigned char other[sizeof FUZZ_KEY];
    memcpy(other, FUZZ_KEY, sizeof other);
    other[0] ^= 1;
    FUZZ_CHECK(auth_jwt_verify(other, sizeof other, token, FUZZ_ISS, FUZZ_AUD, FUZZ_NOW_S, NULL,
                               &err) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    if (size > 0 && data[0] == '{') {
        size_t hlen, clen;
        char *header = fuzz_take_line(&in, &hlen);
        char *claims = fuzz_take_rest(&in, &clen);
        char *token = sign(header, hlen, claims, clen);
        check_token(token, header, hlen);
        free(token);
        free(claims);
        free(header);
    } else {
        char *token = fuzz_take_rest(&in, NULL);
        check_token(token, NULL, 0);
        free(token);
    }
    return 0;
}
