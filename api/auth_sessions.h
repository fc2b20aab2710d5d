/*
 * auth_sessions.h: sessions (refresh-token families), their revocation and token epochs.
 *
 * Owns: the refresh token (32 random bytes, base64url, stored only as SHA-256), session
 * start, rotation (SELECT ... FOR UPDATE in one transaction; a used or revoked token
 * revokes its whole family), revocation of one session or of all (token_epoch bump), the
 * Redis facts the auth middleware reads ({u:<id>}:revoked:<sid>, {u:<id>}:epoch) and the
 * Postgres fallback when Redis cannot answer, plus the user row, the token-pair body and
 * the small answers (field errors, a built body, no connection, the caller's row gone)
 * every account route shares. A foreign-key violation on a user id (SQLSTATE 23503: the
 * user was deleted while the request ran) is AUTH_USER_GONE, answered 401.
 * Rules: a revocation is written to Redis BEFORE the Postgres
 * commit (a reader never sees the commit without the Redis fact); a Redis failure while
 * revoking is reported to the caller, who rolls back and answers 503, except on reuse
 * detection, where the Postgres revocation still commits (killing the refresh tokens
 * matters more). All SQL is prepared statements with parameters.
 */
#ifndef TASKBUS_API_AUTH_SESSIONS_H
#define TASKBUS_API_AUTH_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>

#include "api/account_validation.h"
#include "api/auth_password.h"
#include "api/http_context.h"
#include "shared/pg_pool.h"
#include "shared/uuid7.h"

#define AUTH_REFRESH_TOKEN_CHARS 43
#define AUTH_REFRESH_TOKEN_BUF (AUTH_REFRESH_TOKEN_CHARS + 1)
/* How long a handler waits for a pooled Postgres connection. */

typedef enum auth_status {
    AUTH_OK = 0,
    AUTH_INTERNAL = -1,    /* a bug or an SQL error: 500 */
    AUTH_UNAVAILABLE = -2, /* Postgres or Redis could not answer: 503 */
    AUTH_USER_GONE = -3,   /* the caller's user row vanished mid-request (deleted): 401 */
    AUTH_EMAIL_TAKEN = -4, /* the address became another account's (UNIQUE): 409 */
} auth_status;

/* A users row, as every account response needs it. */
typedef struct auth_user {
    char id[UUID_STR_LEN];
    char email[ACCOUNT_EMAIL_BUF];
    char display_name[ACCOUNT_DISPLAY_NAME_BUF];
    char role[16];
    bool email_verified;
    long long token_epoch;
    char created_at[32]; /* RFC 3339 UTC with milliseconds */
    char updated_at[32];
    char password_hash[AUTH_PASSWORD_HASH_BUF];
    bool locked; /* by an admin: no sign-in, no refresh (migration 0032) */
} auth_user;

/* A statement's outcome: AUTH_OK; AUTH_UNAVAILABLE for no result (the connection);
 * AUTH_USER_GONE for a foreign-key violation (the user was deleted mid-request: 401);
 * else AUTH_INTERNAL. Failures are logged with what. */
auth_status auth_result_status(const PGresult *res, const char *what);

/* --- the user row --- */

/* 1 found, 0 absent, or an auth_status (< 0). */
int auth_user_by_id(pg_conn *conn, const char *user_id, auth_user *out);
int auth_user_by_email(pg_conn *conn, const char *email, auth_user *out);
/* A new account, its address verified (only a registration's mailed link creates one):
 * INSERT ... ON CONFLICT (email) DO NOTHING, and nothing for an address held for a revert
 * link. 1 inserted, 0 e-mail taken, or < 0. */
int auth_user_insert(pg_conn *conn, const char *user_id, const char *email,
                     const char *password_hash, const char *display_name, auth_user *out);
/* 1 updated, 0 no such user, or < 0. */
int auth_user_set_display_name(pg_conn *conn, const char *user_id, const char *display_name,
                               auth_user *out);
/* New hash and token_epoch + 1, only if the hash is still old_hash and the account is not
 * locked (a change racing an admin's lock must not start a session in a later epoch): 1,
 * 0 (changed or locked meanwhile, or no user), or < 0. */
int auth_user_change_password(pg_conn *conn, const char *user_id, const char *old_hash,
                              const char *new_hash, auth_user *out);
/* A password reset: new hash, token_epoch + 1, the address marked verified (the caller
 * has checked the link's address is still the account's): 1, 0 (no user), or < 0. */
int auth_user_reset_password(pg_conn *conn, const char *user_id, const char *new_hash,
                             auth_user *out);
/* The address changed (and verified): 1, 0 (no user), AUTH_EMAIL_TAKEN, or < 0. */
int auth_user_set_email(pg_conn *conn, const char *user_id, const char *email, auth_user *out);
/* Same hash swap without an epoch bump (a rehash on login); 1, 0 or < 0. */
int auth_user_rehash(pg_conn *conn, const char *user_id, const char *old_hash,
                     const char *new_hash);
/* {id, email, display_name, role, email_verified, created_at, updated_at}; NULL on OOM. */
json_t *auth_user_json(const auth_user *user);

/* --- sessions --- */

/* Starts a session: a new family and its first refresh token, inside the caller's
 * transaction (or alone). */
auth_status auth_session_start(pg_conn *conn, const taskbus_config *cfg, const char *user_id,
                               char family_id[UUID_STR_LEN],
                               char refresh_token[AUTH_REFRESH_TOKEN_BUF]);
/* Deletes the user's refresh rows that expired over a day ago (housekeeping at login). */
void auth_sessions_prune(pg_conn *conn, const char *user_id);

typedef enum auth_rotate_result {
    AUTH_ROTATE_OK = 0,
    AUTH_ROTATE_INVALID,     /* malformed, never issued, or its user is gone */
    AUTH_ROTATE_EXPIRED,     /* past expires_at */
    AUTH_ROTATE_REUSED,      /* used or revoked before: the family is now revoked */
    AUTH_ROTATE_UNAVAILABLE, /* Postgres could not answer */
    AUTH_ROTATE_ERROR,
} auth_rotate_result;

/* Rotates presented in its own transaction; on OK fills user, the family and the
 * successor token. */
auth_rotate_result auth_session_rotate(const api_app *app, const char *presented, auth_user *user,
                                       char family_id[UUID_STR_LEN],
                                       char new_token[AUTH_REFRESH_TOKEN_BUF]);

/* The family of presented if it is one of user_id's tokens: 1, 0 (not theirs or
 * unknown), or < 0. */
int auth_session_family_of(pg_conn *conn, const char *presented, const char *user_id,
                           char family_id[UUID_STR_LEN]);
/* Revokes one session: Redis fact first, then the rows, inside the caller's transaction. */
auth_status auth_session_revoke(pg_conn *conn, const api_app *app, const char *user_id,
                                const char *family_id);
/* Bumps users.token_epoch (inside the caller's transaction): *epoch is the new value;
 * AUTH_USER_GONE when the user has no row. */
auth_status auth_epoch_bump(pg_conn *conn, const char *user_id, long long *epoch);
/* Publishes epoch to Redis (set-if-greater). Call before the commit that makes it true. */
auth_status auth_epoch_publish(const api_app *app, const char *user_id, long long epoch);
/* After a failed commit: drops the published epoch so it is read again from Postgres. */
void auth_epoch_forget(const api_app *app, const char *user_id);
/* Marks every refresh row of the user revoked (inside the caller's transaction). */
auth_status auth_sessions_revoke_all(pg_conn *conn, const char *user_id);

/* --- what the middleware asks --- */

typedef enum auth_session_state {
    AUTH_SESSION_CURRENT = 0,
    AUTH_SESSION_REVOKED,     /* the session was revoked, the epoch moved on, or no user */
    AUTH_SESSION_UNAVAILABLE, /* neither Redis nor Postgres could answer */
} auth_session_state;

/* Is an access token of session sid with epoch sev still good for user_id? One Redis
 * MGET; Postgres when Redis cannot answer or does not know the epoch, or while this
 * process has not yet applied the recent user deletions (api/user_deletions.h). A
 * deleted user's tombstone (shared/user_epoch.h) and a user absent from Postgres are
 * REVOKED. */
auth_session_state auth_session_check(const api_app *app, const char *user_id, const char *sid,
                                      long long sev);
/* The same from the near cache and Redis only: UNAVAILABLE where auth_session_check would
 * ask Postgres. For checks repeated in the background (an open event stream), which keep
 * going on an outage and must not turn one into a storm of queries. */
auth_session_state auth_session_check_cached(const api_app *app, const char *user_id,
                                             const char *sid, long long sev);

/* --- responses --- */

/* 503 service-unavailable (with Retry-After), 401 unauthorized (AUTH_USER_GONE, with
 * WWW-Authenticate) or 500 internal-error for a failure. */
void auth_respond_failure(api_request_ctx *ctx, auth_status st);
/* 422 validation-error listing errors (a JSON array of {field, message}; stolen). */
void auth_respond_field_errors(api_request_ctx *ctx, json_t *errors);
/* An empty array for a validator's errors, or NULL after answering 500 (out of memory). */
json_t *auth_field_errors_new(api_request_ctx *ctx);
/* After a validator appended count errors to errors (stolen): 0 when there are none, or
 * -1 after answering the 422. */
int auth_field_errors_check(api_request_ctx *ctx, json_t *errors, int count);
/* Answers body (stolen) with status; NULL (a body that could not be built) answers 500. */
void auth_respond_body(api_request_ctx *ctx, int status, json_t *body);
/* A pooled connection for a handler, or NULL after answering 503. */
pg_conn *auth_acquire(api_request_ctx *ctx);
/* The WWW-Authenticate challenge of a refused credential (RFC 6750). */
#define AUTH_CHALLENGE_INVALID "Bearer realm=\"taskbus\", error=\"invalid_token\""
/* 401 unauthorized with AUTH_CHALLENGE_INVALID and detail. */
void auth_respond_invalid_token(api_request_ctx *ctx, const char *detail);
/* auth_respond_invalid_token: the caller's account was deleted while the request ran (a
 * write referencing it failed its foreign key, or its row is gone). */
void auth_respond_account_gone(api_request_ctx *ctx);

/* Runs stmt expecting at most one row: 1 when it returned one (its first nout values
 * copied into out[i], outlen[i] bytes each), 0 when none, or an auth_status (< 0,
 * logged; AUTH_INTERNAL when the row has fewer than nout columns). */
int auth_query_row(pg_conn *conn, const pg_stmt *stmt, const char *const *values, char **out,
                   const size_t *outlen, int nout);
/* BEGIN for a step that ends with auth_txn_end: AUTH_OK, or AUTH_UNAVAILABLE (logged,
 * what names the step). */
auth_status auth_txn_begin(pg_conn *conn, const char *what);
/* Ends the open transaction of a step that came to rc: 1 (done) commits, 0 (nothing to
 * do) or < 0 (an auth_status) rolls back. rc, or AUTH_UNAVAILABLE when the COMMIT failed
 * (logged). */
int auth_txn_end(pg_conn *conn, int rc, const char *what);
/* The caller's own row after a lookup returned found: 1 passes it on; 0 (the account is
 * gone: 401) and < 0 (auth_status) are answered here. Returns found. */
int auth_respond_self_lookup(api_request_ctx *ctx, int found);

/* {user, access_token, token_type, expires_in, refresh_token, refresh_expires_in}, the
 * access token signed for (user, family). NULL when signing fails. */
json_t *auth_token_pair(const api_app *app, const auth_user *user, const char *family_id,
                        const char *refresh_token);

#endif
