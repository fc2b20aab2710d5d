/*
 * auth_jwt.c: HS256 access tokens on libjwt 1.10.2, with the checks libjwt lacks.
 *
 * Owns: the order of verification: shape and size, then our own reading of the header
 * (alg must be exactly "HS256", typ absent or "JWT", no crit), then libjwt's signature
 * check with a key we know is non-empty, then jwt_get_alg, then every claim against the
 * injected clock. Rules: claims are read from the payload we decoded ourselves with
 * duplicate members rejected, so libjwt's own JSON handling never decides a claim; no
 * path returns success without the signature having been checked.
 */
#include "api/auth_jwt.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ERROR_NAMES[] = {
    [AUTH_JWT_OK] = "ok",
    [AUTH_JWT_BAD_KEY] = "bad-key",
    [AUTH_JWT_MALFORMED] = "malformed",
    [AUTH_JWT_BAD_ALG] = "bad-alg",
    [AUTH_JWT_BAD_SIGNATURE] = "bad-signature",
    [AUTH_JWT_EXPIRED] = "expired",
    [AUTH_JWT_NOT_YET_VALID] = "not-yet-valid",
    [AUTH_JWT_BAD_ISSUER] = "bad-issuer",
    [AUTH_JWT_BAD_AUDIENCE] = "bad-audience",
    [AUTH_JWT_BAD_CLAIMS] = "bad-claims",
    [AUTH_JWT_INTERNAL] = "internal",
};

const char *auth_jwt_error_name(auth_jwt_error err) {
    if ((unsigned)err >= sizeof ERROR_NAMES / sizeof ERROR_NAMES[0])
        return "unknown";
    return ERROR_NAMES[err];
}

static bool key_usable(const unsigned char *key, size_t keylen) {
    return key != NULL && keylen >= AUTH_JWT_MIN_KEY_BYTES && keylen <= INT32_MAX;
}

static bool valid_role(const char *role) {
    return role != NULL && (strcmp(role, "user") == 0 || strcmp(role, "admin") == 0);
}

static int add_grants(jwt_t *jwt, const auth_jwt_input *in, const char *jti, int64_t now) {
    int rc = jwt_add_grant(jwt, "iss", in->issuer);
    rc = rc != 0 ? rc : jwt_add_grant(jwt, "aud", in->audience);
    rc = rc != 0 ? rc : jwt_add_grant(jwt, "sub", in->subject);
    rc = rc != 0 ? rc : jwt_add_grant_int(jwt, "iat", (long)now);
    rc = rc != 0 ? rc : jwt_add_grant_int(jwt, "nbf", (long)now);
    rc = rc != 0 ? rc : jwt_add_grant_int(jwt, "exp", (long)(now + in->ttl_s));
    rc = rc != 0 ? rc : jwt_add_grant(jwt, "jti", jti);
    rc = rc != 0 ? rc : jwt_add_grant(jwt, "sid", in->session_id);
    rc = rc != 0 ? rc : jwt_add_grant_int(jwt, "sev", (long)in->epoch);
    rc = rc != 0 ? rc : jwt_add_grant(jwt, "role", in->role);
    return rc;
}

int auth_jwt_issue(const unsigned char *key, size_t keylen, const auth_jwt_input *in, int64_t now,
                   char **out) {
    *out = NULL;
    if (!key_usable(key, keylen) || in == NULL || in->issuer == NULL || in->audience == NULL ||
        !uuid_is_valid(in->subject) || !uuid_is_valid(in->session_id) || !valid_role(in->role) ||
        in->ttl_s <= 0 || in->epoch < 0 ||
        (in->jti != NULL && (in->jti[0] == '\0' || strlen(in->jti) > AUTH_JWT_JTI_MAX)))
        return -1;
    char jti[UUID_STR_LEN];
    if (in->jti == NULL)
        uuid7_generate(jti);
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return -1;
    int rc = jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen);
    rc = rc != 0 ? rc : add_grants(jwt, in, in->jti != NULL ? in->jti : jti, now);
    if (rc == 0)
        *out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return *out != NULL ? 0 : -1;
}

/* Decodes one base64url (unpadded) segment holding a JSON object. */
static json_t *decode_segment(const char *seg, size_t len) {
    size_t cap = len / 4 * 3 + 3;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    size_t binlen = 0;
    const char *end = NULL;
    json_t *obj = NULL;
    if (sodium_base642bin(buf, cap, seg, len, NULL, &binlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        end == seg + len) {
        json_error_t jerr;
        obj = json_loadb((const char *)buf, binlen, JSON_REJECT_DUPLICATES, &jerr);
        if (obj != NULL && !json_is_object(obj)) {
            json_decref(obj);
            obj = NULL;
        }
    }
    free(buf);
    return obj;
}

/* The algorithm gate: exactly HS256, nothing we would have to understand (crit). */
static auth_jwt_error check_header(const json_t *header) {
    const json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
        return AUTH_JWT_BAD_ALG;
    const json_t *typ = json_object_get(header, "typ");
    if (typ != NULL && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        return AUTH_JWT_MALFORMED;
    if (json_object_get(header, "crit") != NULL)
        return AUTH_JWT_MALFORMED;
    return AUTH_JWT_OK;
}

/* Splits token into its segments; false unless there are exactly three. The signature may
 * be empty here so that an unsigned ("alg":"none") token is refused by the header check. */
static bool split_token(const char *token, size_t len, size_t seglen[3]) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    const char *dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        return false;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return false;
    seglen[0] = (size_t)(dot1 - token);
    seglen[1] = (size_t)(dot2 - dot1 - 1);
    seglen[2] = len - (size_t)(dot2 + 1 - token);
    return seglen[0] > 0 && seglen[1] > 0;
}

static bool copy_uuid_claim(const json_t *claims, const char *name, char out[UUID_STR_LEN]) {
    const json_t *v = json_object_get(claims, name);
    if (!json_is_string(v) || !uuid_is_valid(json_string_value(v)))
        return false;
    memcpy(out, json_string_value(v), UUID_STR_LEN);
    return true;
}

static bool int_claim(const json_t *claims, const char *name, int64_t *out) {
    const json_t *v = json_object_get(claims, name);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool audience_matches(const json_t *aud, const char *audience) {
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), audience) == 0;
    if (!json_is_array(aud))
        return false;
    size_t i;
    const json_t *item;
    json_array_foreach(aud, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), audience) == 0)
            return true;
    }
    return false;
}

auth_jwt_error auth_jwt_check_times(const auth_jwt_claims *claims, int64_t now) {
    if (claims->exp <= now)
        return AUTH_JWT_EXPIRED;
    if (claims->nbf > now + AUTH_JWT_LEEWAY_S || claims->iat > now + AUTH_JWT_LEEWAY_S)
        return AUTH_JWT_NOT_YET_VALID;
    return AUTH_JWT_OK;
}

/* Reads the claims of a token whose signature has been checked. */
static auth_jwt_error check_claims(const json_t *claims, const char *issuer, const char *audience,
                                   int64_t now, auth_jwt_claims *out) {
    if (!int_claim(claims, "exp", &out->exp) || !int_claim(claims, "nbf", &out->nbf) ||
        !int_claim(claims, "iat", &out->iat))
        return AUTH_JWT_BAD_CLAIMS;
    auth_jwt_error timing = auth_jwt_check_times(out, now);
    if (timing != AUTH_JWT_OK)
        return timing;
    const json_t *iss = json_object_get(claims, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), issuer) != 0)
        return AUTH_JWT_BAD_ISSUER;
    if (!audience_matches(json_object_get(claims, "aud"), audience))
        return AUTH_JWT_BAD_AUDIENCE;
    if (!copy_uuid_claim(claims, "sub", out->sub) || !copy_uuid_claim(claims, "sid", out->sid))
        return AUTH_JWT_BAD_CLAIMS;
    const json_t *jti = json_object_get(claims, "jti");
    if (!json_is_string(jti) || json_string_length(jti) == 0 ||
        json_string_length(jti) > AUTH_JWT_JTI_MAX)
        return AUTH_JWT_BAD_CLAIMS;
    memcpy(out->jti, json_string_value(jti), json_string_length(jti) + 1);
    int64_t sev;
    if (!int_claim(claims, "sev", &sev) || sev < 0)
        return AUTH_JWT_BAD_CLAIMS;
    out->sev = (long long)sev;
    const json_t *role = json_object_get(claims, "role");
    if (!json_is_string(role) || !valid_role(json_string_value(role)))
        return AUTH_JWT_BAD_CLAIMS;
    snprintf(out->role, sizeof out->role, "%s", json_string_value(role));
    return AUTH_JWT_OK;
}

/* libjwt's signature check; only reached with alg HS256 and a usable key. */
static auth_jwt_error check_signature(const unsigned char *key, size_t keylen, const char *token) {
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, token, key, (int)keylen);
    if (rc != 0 || jwt == NULL) {
        jwt_free(jwt);
        return rc == ENOMEM ? AUTH_JWT_INTERNAL : AUTH_JWT_BAD_SIGNATURE;
    }
    jwt_alg_t alg = jwt_get_alg(jwt);
    jwt_free(jwt);
    return alg == JWT_ALG_HS256 ? AUTH_JWT_OK : AUTH_JWT_BAD_ALG;
}

static auth_jwt_error verify(const unsigned char *key, size_t keylen, const char *token,
                             const char *issuer, const char *audience, int64_t now,
                             auth_jwt_claims *out) {
    if (!key_usable(key, keylen))
        return AUTH_JWT_BAD_KEY;
    if (token == NULL || issuer == NULL || audience == NULL)
        return AUTH_JWT_MALFORMED;
    size_t len = strnlen(token, AUTH_JWT_MAX_TOKEN_BYTES + 1);
    size_t seglen[3];
    if (len == 0 || len > AUTH_JWT_MAX_TOKEN_BYTES || !split_token(token, len, seglen))
        return AUTH_JWT_MALFORMED;
    json_t *header = decode_segment(token, seglen[0]);
    if (header == NULL)
        return AUTH_JWT_MALFORMED;
    auth_jwt_error err = check_header(header);
    json_decref(header);
    if (err != AUTH_JWT_OK)
        return err;
    if (seglen[2] == 0)
        return AUTH_JWT_BAD_SIGNATURE;
    json_t *claims = decode_segment(token + seglen[0] + 1, seglen[1]);
    if (claims == NULL)
        return AUTH_JWT_MALFORMED;
    err = check_signature(key, keylen, token);
    if (err == AUTH_JWT_OK)
        err = check_claims(claims, issuer, audience, now, out);
    json_decref(claims);
    return err;
}

int auth_jwt_verify(const unsigned char *key, size_t keylen, const char *token, const char *issuer,
                    const char *audience, int64_t now, auth_jwt_claims *out_claims,
                    auth_jwt_error *err) {
    auth_jwt_claims claims;
    memset(&claims, 0, sizeof claims);
    auth_jwt_error e = verify(key, keylen, token, issuer, audience, now, &claims);
    if (err != NULL)
        *err = e;
    if (e != AUTH_JWT_OK)
        return -1;
    if (out_claims != NULL)
        *out_claims = claims;
    return 0;
}
