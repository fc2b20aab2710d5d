/*
 * api_token_check.c: the verdict on a personal API token (see api_token_check.h).
 *
 * Owns: the near-cache entry of a token (key: the owner and the token's SHA-256; value:
 * "<token id> <scope bits> <expires, unix s, 0: never> <checked, monotonic s>", aux: the
 * token epoch), the read of a token and the touch of last_used_at. Rules: the ticket is
 * taken before anything is read, so an invalidation that arrives meanwhile voids the
 * store; the owner's epoch is read from Redis after the ticket and before Postgres: a
 * password change, sign-out everywhere, role change or deletion publishes its epoch (or
 * tombstone) there before it invalidates and long before it commits, so a read of
 * Postgres that still sees the old epoch is caught by the newer one in Redis; only valid
 * verdicts are kept (a refusal is read again each time).
 */
#include "api/api_token_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_token_format.h"
#include "api/api_token_scope.h"
#include "api/near_cache.h"
#include "api/near_cache_keys.h"
#include "shared/log.h"
#include "shared/redis_keys.h"
#include "shared/stringify.h"
#include "shared/time_util.h"
#include "shared/user_epoch.h"

/* How old last_used_at must be to be written again, as SQL. */
#define TOUCH_AGE "interval '" STRINGIFY(API_TOKEN_TOUCH_S) " seconds'"

/* A token that is not revoked, not expired and of the user's current epoch: its grant,
 * and whether last_used_at is due (older than the recheck). Read-only: a refused token
 * costs one indexed read. */
static const pg_stmt STMT_READ = {
    .name = "api_token_read",
    .sql = "SELECT t.id::text, array_to_string(t.scopes, ' '),"
           " coalesce(floor(extract(epoch FROM t.expires_at))::bigint, 0), t.token_epoch,"
           " t.last_used_at IS NULL OR t.last_used_at < statement_timestamp() - " TOUCH_AGE
           " FROM api_tokens t JOIN users u ON u.id = t.user_id"
           " WHERE t.token_hash = decode($1, 'hex') AND t.user_id = $2::uuid"
           " AND t.revoked_at IS NULL AND t.token_epoch = u.token_epoch AND u.locked_at IS NULL"
           " AND (t.expires_at IS NULL OR t.expires_at > "
           "statement_timestamp())",
    .nparams = 2,
};

/* last_used_at when it is API_TOKEN_TOUCH_S old (the condition again, so instances racing
 * write once): half a recheck, so a recheck a little under a minute after the last touch
 * still writes, and last_used_at is never more than about a minute behind. */
static const pg_stmt STMT_TOUCH = {
    .name = "api_token_touch",
    .sql = "UPDATE api_tokens SET last_used_at = statement_timestamp() WHERE id = $1::uuid"
           " AND (last_used_at IS NULL OR last_used_at < statement_timestamp() - " TOUCH_AGE ")",
    .nparams = 1,
};

static long long monotonic_s(void) {
    return (long long)(time_monotonic_ns() / 1000000000);
}

/* A kept verdict: 1 valid (*out filled), 0 none or too old, -1 expired. */
static int from_near_cache(const api_app *app, const char *nkey, api_token_grant *out) {
    near_cache_blob *b = near_cache_get(app->near_cache, nkey);
    if (b == NULL)
        return 0;
    long long expires = 0, checked = 0;
    unsigned scopes = 0;
    char id[UUID_STR_LEN] = "";
    bool ok =
        sscanf(near_cache_blob_data(b), "%36s %u %lld %lld", id, &scopes, &expires, &checked) == 4;
    long long epoch = near_cache_blob_aux(b);
    near_cache_blob_release(b);
    if (!ok)
        return 0;
    if (expires != 0 && time_now_unix_ms() / 1000 >= expires)
        return -1;
    if (monotonic_s() - checked >= API_TOKEN_RECHECK_S)
        return 0;
    snprintf(out->token_id, sizeof out->token_id, "%s", id);
    out->scopes = scopes;
    out->epoch = epoch;
    out->expires_unix = expires;
    return 1;
}

/* The owner's epoch as Redis holds it: 1 with *epoch, 0 when Redis holds none, -1 when
 * Redis did not answer. */
static int redis_epoch(const api_app *app, const char *user_id, long long *epoch) {
    char key[REDIS_KEY_MAX];
    redis_key_epoch(key, user_id);
    redisReply *r = redis_pool_command(app->redis, "GET %s", key);
    int rc = r != NULL && r->type == REDIS_REPLY_NIL ? 0
             : user_epoch_parse_reply(r, epoch)      ? 1
                                                     : -1;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Reads the token on conn: 1 valid (*out, *touch), 0 refused, -1 Postgres failed. */
static int read_token(pg_conn *conn, const char *hash, api_token_grant *out, bool *touch) {
    const char *vals[2] = {hash, out->user_id};
    PGresult *res = pg_exec_stmt(conn, &STMT_READ, vals);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_WARNF("api tokens: %s: %s", STMT_READ.name,
                  res != NULL ? PQresultErrorMessage(res) : "connection lost");
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(out->token_id, sizeof out->token_id, "%s", PQgetvalue(res, 0, 0));
        out->scopes = api_scopes_parse_list(PQgetvalue(res, 0, 1));
        out->expires_unix = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->epoch = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        *touch = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
    }
    PQclear(res);
    return found;
}

/* last_used_at, best effort: a failure only delays it. */
static void touch_token(pg_conn *conn, const char *token_id) {
    const char *vals[1] = {token_id};
    PGresult *res = pg_exec_stmt(conn, &STMT_TOUCH, vals);
    if (res == NULL || !pg_result_ok(res))
        LOG_WARNF("api tokens: last_used_at of %s not written: %s", token_id,
                  res != NULL ? PQresultErrorMessage(res) : "connection lost");
    PQclear(res);
}

/* The source: VALID with *out filled (and kept), REFUSED or UNAVAILABLE. */
static api_token_verdict from_source(const api_app *app, const char *hash, const char *nkey,
                                     api_token_grant *out, const char **why) {
    near_cache_ticket t =
        near_cache_ticket_take(app->near_cache, out->user_id, NEAR_CACHE_SESSIONS);
    long long published = 0;
    int in_redis = redis_epoch(app, out->user_id, &published);
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("api tokens: %s", err);
        return API_TOKEN_UNAVAILABLE;
    }
    bool touch = false;
    int found = read_token(conn, hash, out, &touch);
    /* An epoch published for a change not committed yet (or the deletion's tombstone). */
    bool superseded = found == 1 && in_redis == 1 && published > out->epoch;
    if (found == 1 && touch && !superseded)
        touch_token(conn, out->token_id);
    pg_pool_release(app->pg, conn);
    if (found < 0)
        return API_TOKEN_UNAVAILABLE;
    if (found == 0 || superseded) {
        *why = found == 0 ? "api token unknown, revoked, expired or of an old epoch"
               : published == USER_EPOCH_GONE ? "api token of a deleted user"
                                              : "api token of an old epoch";
        return API_TOKEN_REFUSED;
    }
    char value[128];
    int n = snprintf(value, sizeof value, "%s %u %lld %lld", out->token_id, out->scopes,
                     out->expires_unix, monotonic_s());
    /* Kept only when Redis answered: without it no pending change could be seen. */
    if (in_redis >= 0 && n > 0 && (size_t)n < sizeof value)
        near_cache_put(app->near_cache, &t, out->user_id, nkey, value, (size_t)n, out->epoch);
    return API_TOKEN_VALID;
}

api_token_verdict api_token_check(const api_app *app, const char *token, api_token_grant *out,
                                  const char **why) {
    char hash[API_TOKEN_HASH_HEX_BUF];
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (!api_token_parse(token, out->user_id, hash)) {
        *why = "malformed api token";
        return API_TOKEN_REFUSED;
    }
    char nkey[NEAR_CACHE_KEY_MAX];
    near_cache_key_api_token(nkey, out->user_id, hash);
    int kept = from_near_cache(app, nkey, out);
    if (kept != 0) {
        *why = kept < 0 ? "api token expired" : NULL;
        return kept > 0 ? API_TOKEN_VALID : API_TOKEN_REFUSED;
    }
    return from_source(app, hash, nkey, out, why);
}
