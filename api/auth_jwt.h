/*
 * auth_jwt.h: issuing and verifying taskbus access tokens (HS256 JWTs).
 *
 * Owns: the token format of docs/decisions.md ("Accounts"): claims iss, aud, sub, iat,
 * nbf, exp, jti, sid, sev, role. Rules: pure functions of (key, token, now), so tests
 * inject the clock. libjwt 1.10.2 checks neither claims nor the algorithm, and skips the
 * signature check for a NULL/empty key, so verification reads the header itself and
 * requires alg "HS256" before libjwt sees the token, refuses keys shorter than 32 bytes,
 * and checks every claim here.
 */
#ifndef TASKBUS_API_AUTH_JWT_H
#define TASKBUS_API_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "shared/uuid7.h"

#define AUTH_JWT_MIN_KEY_BYTES 32
#define AUTH_JWT_LEEWAY_S 30
#define AUTH_JWT_MAX_TOKEN_BYTES 4096
#define AUTH_JWT_JTI_MAX 128

typedef struct auth_jwt_input {
    const char *issuer;
    const char *audience;
    const char *subject;    /* user id (UUID) */
    const char *session_id; /* refresh family id (UUID) */
    const char *role;       /* "user" or "admin" */
    const char *jti;        /* NULL: a fresh UUIDv7 */
    long long epoch;        /* the user's token_epoch */
    int ttl_s;
} auth_jwt_input;

typedef struct auth_jwt_claims {
    char sub[UUID_STR_LEN];
    char sid[UUID_STR_LEN];
    char jti[AUTH_JWT_JTI_MAX + 1];
    char role[16];
    long long sev;
    int64_t iat;
    int64_t nbf;
    int64_t exp;
} auth_jwt_claims;

typedef enum auth_jwt_error {
    AUTH_JWT_OK = 0,
    AUTH_JWT_BAD_KEY,       /* the key is missing or shorter than 32 bytes */
    AUTH_JWT_MALFORMED,     /* not three base64url segments of JSON objects */
    AUTH_JWT_BAD_ALG,       /* header alg is not exactly HS256 (none, HS512, RS256 ...) */
    AUTH_JWT_BAD_SIGNATURE, /* libjwt refused the signature */
    AUTH_JWT_EXPIRED,       /* exp <= now */
    AUTH_JWT_NOT_YET_VALID, /* nbf or iat later than now + leeway */
    AUTH_JWT_BAD_ISSUER,    /* iss missing or not ours */
    AUTH_JWT_BAD_AUDIENCE,  /* aud missing, or neither ours nor an array holding ours */
    AUTH_JWT_BAD_CLAIMS,    /* sub, sid, jti, sev, role, exp, nbf or iat missing or mistyped */
    AUTH_JWT_INTERNAL,      /* out of memory or a library failure */
} auth_jwt_error;

/* A stable name for logs ("expired", "bad-alg", ...). */
const char *auth_jwt_error_name(auth_jwt_error err);

/* Signs a token issued at now (unix seconds). *out is malloc'd; the caller free()s it.
 * Returns 0, or -1 (bad key or input, or a library failure). */
int auth_jwt_issue(const unsigned char *key, size_t keylen, const auth_jwt_input *in, int64_t now,
                   char **out);

/* Verifies token at now (unix seconds) for issuer and audience. Returns 0 with
 * *out_claims filled, or -1 with *err saying why. */
/* The time checks of a verified token's claims at now (exp, nbf and iat with the
 * leeway): AUTH_JWT_OK, AUTH_JWT_EXPIRED or AUTH_JWT_NOT_YET_VALID. */
auth_jwt_error auth_jwt_check_times(const auth_jwt_claims *claims, int64_t now);

int auth_jwt_verify(const unsigned char *key, size_t keylen, const char *token, const char *issuer,
                    const char *audience, int64_t now, auth_jwt_claims *out_claims,
                    auth_jwt_error *err);

#endif
