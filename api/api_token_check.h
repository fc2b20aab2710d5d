/*
 * api_token_check.h: a personal API token presented as a bearer credential.
 *
 * Owns: the verdict on a token (api/api_token_format.h) and how it is kept. Rules: the
 * source is Postgres (api_tokens joined with users: not revoked, not expired, made in the
 * user's current token epoch); the verdict is kept in this process's near cache under
 * the owner (family sessions), so a hot read costs no query. Everything that ends a token
 * reaches that cache before it answers: a revocation (near_cache_bus_invalidate_user after
 * its commit), a new token epoch (password change or reset, signing out everywhere, a role
 * change: the epoch's publication invalidates the user) and a deletion (the tombstone
 * does). A kept verdict is read again from Postgres once it is API_TOKEN_RECHECK_S old,
 * which is also when last_used_at is written: at most once a minute per token and API
 * instance. Expiry is checked on every request against the kept expiry.
 */
#ifndef TASKBUS_API_API_TOKEN_CHECK_H
#define TASKBUS_API_API_TOKEN_CHECK_H

#include "api/http_context.h"

#define API_TOKEN_RECHECK_S 60

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
    long long epoch; /* the token epoch it was made in (the user's current one) */
} api_token_grant;

/* The verdict on token; *out filled when VALID; *why says why not (for the log). */
api_token_verdict api_token_check(const api_app *app, const char *token, api_token_grant *out,
                                  const char **why);

#endif
