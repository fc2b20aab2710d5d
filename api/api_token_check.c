/*
 * api_token_check.c: the verdict on a personal API token (see api_token_check.h).
 *
 * Owns: the near-cache entry of a token (key: the owner and the token's SHA-256; value:
 * "<token id> <scope bits> <expires, unix s, 0: never> <checked at, unix s>", aux: the token
 * epoch) and the one statement that reads and touches a token. Rules: the ticket is taken
 * before Postgres is read, so an invalidation that arrives meanwhile voids the store; only
 * valid verdicts are kept (a refusal is read again each time: refusals are rare and must
 * not outlive a mistake).
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
#include "shared/time_util.h"

/* A token that is not revoked, not expired and of the user's current epoch: its grant,
 * with last_used_at written on the way (the only write of the check). */
static const pg_stmt STMT_TOUCH = {
    .name = "api_token_touch",
    .sql = "UPDATE api_tokens t SET last_used_at = statement_timestamp() FROM users u"
           " WHERE t.token_hash = decode($1, 'hex') AND t.user_id = $2::uuid AND u.id = t.user_id"
           " AND t.revoked_at IS NULL AND t.token_epoch = u.token_epoch"
           " AND (t.expires_at IS NULL OR t.expires_at > statement_timestamp())"
           " RETURNING t.id::text, array_to_string(t.scopes, ' '),"
           " coalesce(floor(extract(epoch FROM t.expires_at))::bigint, 0), t.token_epoch",
    .nparams = 2,
};

static unsigned scopes_of(const char *names) {
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *save = NULL, *n = strtok_r(buf, " ", &save); n != NULL;
         n = strtok_r(NULL, " ", &save))
        mask |= api_scope_parse(n);
    return mask;
}

/* A kept verdict still young enough: true with *out filled. */
static bool from_near_cache(const api_app *app, const char *nkey, int64_t now, api_token_grant *out,
                            bool *expired) {
    near_cache_blob *b = near_cache_get(app->near_cache, nkey);
    if (b == NULL)
        return false;
    long long expires = 0, checked = 0;
    unsigned scopes = 0;
    char id[UUID_STR_LEN] = "";
    bool ok =
        sscanf(near_cache_blob_data(b), "%36s %u %lld %lld", id, &scopes, &expires, &checked) == 4;
    out->epoch = near_cache_blob_aux(b);
    near_cache_blob_release(b);
    if (!ok)
        return false;
    *expired = expires != 0 && now >= expires;
    if (*expired || now - checked >= API_TOKEN_RECHECK_S)
        return *expired;
    snprintf(out->token_id, sizeof out->token_id, "%s", id);
    out->scopes = scopes;
    return true;
}

/* The source: VALID with *out filled (and kept), REFUSED or UNAVAILABLE. */
static api_token_verdict from_postgres(const api_app *app, const char *hash, const char *nkey,
                                       int64_t now, api_token_grant *out) {
    near_cache_ticket t =
        near_cache_ticket_take(app->near_cache, out->user_id, NEAR_CACHE_SESSIONS);
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("api tokens: %s", err);
        return API_TOKEN_UNAVAILABLE;
    }
    const char *vals[2] = {hash, out->user_id};
    PGresult *res = pg_exec_stmt(conn, &STMT_TOUCH, vals);
    pg_pool_release(app->pg, conn);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_WARNF("api tokens: %s: %s", STMT_TOUCH.name,
                  res != NULL ? PQresultErrorMessage(res) : "connection lost");
        PQclear(res);
        return API_TOKEN_UNAVAILABLE;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return API_TOKEN_REFUSED;
    }
    snprintf(out->token_id, sizeof out->token_id, "%s", PQgetvalue(res, 0, 0));
    out->scopes = scopes_of(PQgetvalue(res, 0, 1));
    long long expires = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    out->epoch = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    char value[128];
    int n = snprintf(value, sizeof value, "%s %u %lld %" PRId64, out->token_id, out->scopes,
                     expires, now);
    if (n > 0 && (size_t)n < sizeof value)
        near_cache_put(app->near_cache, &t, out->user_id, nkey, value, (size_t)n, out->epoch);
    return API_TOKEN_VALID;
}

api_token_verdict api_token_check(const api_app *app, const char *token, api_token_grant *out,
                                  const char **why) {
    char hash[API_TOKEN_HASH_HEX_BUF];
    memset(out, 0, sizeof *out);
    if (!api_token_parse(token, out->user_id, hash)) {
        *why = "malformed api token";
        return API_TOKEN_REFUSED;
    }
    char nkey[NEAR_CACHE_KEY_MAX];
    near_cache_key_api_token(nkey, out->user_id, hash);
    int64_t now = time_now_unix_ms() / 1000;
    bool expired = false;
    if (from_near_cache(app, nkey, now, out, &expired)) {
        *why = expired ? "api token expired" : NULL;
        return expired ? API_TOKEN_REFUSED : API_TOKEN_VALID;
    }
    api_token_verdict v = from_postgres(app, hash, nkey, now, out);
    *why = v == API_TOKEN_REFUSED ? "api token unknown, revoked, expired or of an old epoch" : NULL;
    return v;
}
