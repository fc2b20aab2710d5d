/*
 * api_token_check.h: a personal API token presented as a bearer credential.
 *
 * Owns: the verdict on a token (api/api_token_format.h) and how it is kept. Rules: the
 * source is Postgres (api_tokens joined with users: not revoked, not expired, made in the
 * user's current token epoch), read on the primary with one indexed, read-only query; the
 * owner's token epoch in Redis is read before it, so a change that ends tokens and has
 * published its epoch but not yet committed is seen (a password change or reset, signing
 * out everywhere and a role change publish before they commit; a deletion writes its
 * tombstone before it commits). A valid verdict is kept in this process's near cache under
 * the owner (family sessions), so a hot read costs no query; everything that ends a token
 * invalidates that cache before it answers: a revocation (after its commit), a new epoch
 * and a deletion (their publication). A kept verdict is read again once it is
 * API_TOKEN_RECHECK_S old (monotonic clock); last_used_at is written then, when it is
 * API_TOKEN_TOUCH_S old: at most twice a minute per token, never much more than a minute
 * behind. Expiry is checked on every request
 * against the kept expiry.
 */
#ifndef TASKBUS_API_API_TOKEN_CHECK_H
#define TASKBUS_API_API_TOKEN_CHECK_H

#include "api/http_context.h"

#define API_TOKEN_RECHECK_S 60
#define API_TOKEN_TOUCH_S 30 /* half a recheck (a literal: SQL spells it) */
_Static_assert(API_TOKEN_TOUCH_S * 2 == API_TOKEN_RECHECK_S, "the touch is due at half a recheck");

typedef enum api_token_verdict {
    API_TOKEN_VALID = 0,
    API_TOKEN_REFUSED,     /* unknown, malformed, revoked, expired, of another epoch */
    API_TOKEN_UNAVAILABLE, /* Postgres could not answer */
} api_token_verdict;

/* What a valid token grants. */
typedef struct api_token_grant {
    char user_id[UUID_STR_LEN];
    char token_id[UUID_STR_LEN];
    unsigned scopes;
    long long epoch;        /* the token epoch it was made in (the user's current one) */
    long long expires_unix; /* when it expires (Unix s), 0: never */
} api_token_grant;

/* The verdict on token; *out filled when VALID; *why says why not (for the log). */
api_token_verdict api_token_check(const api_app *app, const char *token, api_token_grant *out,
                                  const char **why);

#endif
