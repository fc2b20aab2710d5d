/*
 * auth_sessions.c: refresh-token families, revocation and token epochs.
 *
 * Owns: the SQL of users and refresh_tokens (prepared statements below), the refresh
 * token format, rotation with reuse detection, and the two Redis facts of revocation
 * (their keys are spelled in shared/redis_keys.c):
 * {u:<id>}:revoked:<sid> (TTL = access TTL + 60 s: after that every access token of the
 * session has expired anyway) and {u:<id>}:epoch (written set-if-greater through
 * shared/user_epoch.c, so a reader filling it from an older Postgres snapshot can never
 * lower it; TTL one hour, then it is read again from Postgres). Both keys of a user share
 * the {u:<id>} hash tag, so one MGET reads them in Redis Cluster too.
 * A deleted user's epoch key holds a tombstone (shared/user_epoch.h, written by
 * api/user_deletions.c): the same MGET refuses every token of theirs.
 * Rules: a family is revoked when any of its rows is revoked; rotation and the fallback
 * check ask exactly that, which also closes the race of a rotation that inserts a new row
 * while a logout is revoking the family. Until this process has applied the recent user
 * deletions, an epoch read from Redis is not trusted (it may be a deleted user's leftover):
 * the check asks Postgres.
 */
#include "api/auth_sessions.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth_jwt.h"
#include "api/near_cache.h"
#include "api/near_cache_keys.h"
#include "api/user_deletions.h"
#include "shared/log.h"
#include "shared/near_cache_bus.h"
#include "shared/problem.h"
#include "shared/redis_keys.h"
#include "shared/redis_pool.h"
#include "shared/time_util.h"
#include "shared/user_epoch.h"

#define REVOKED_KEY_EXTRA_S 60
/* The middleware's Postgres fallback must not hold a request long. */
#define CHECK_PG_ACQUIRE_MS 1000

#define USER_COLUMNS                                                                               \
    "id::text, email, display_name, role, email_verified_at IS NOT NULL, token_epoch, "            \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "                \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "                \
    "password_hash, locked_at IS NOT NULL"
#define USER_COLUMNS_COUNT 10

static const pg_stmt USER_BY_ID = {"accounts_user_by_id",
                                   "SELECT " USER_COLUMNS " FROM users WHERE id = $1::uuid", 1};
static const pg_stmt USER_BY_EMAIL = {"accounts_user_by_email",
                                      "SELECT " USER_COLUMNS " FROM users WHERE email = $1", 1};
static const pg_stmt USER_INSERT = {
    "accounts_user_insert",
    "INSERT INTO users (id, email, password_hash, display_name, email_verified_at)"
    " SELECT $1::uuid, $2, $3, $4, now() WHERE NOT email_reserved($2, NULL)"
    " ON CONFLICT (email) DO NOTHING RETURNING " USER_COLUMNS,
    4};
static const pg_stmt USER_SET_DISPLAY_NAME = {
    "accounts_user_set_display_name",
    "UPDATE users SET display_name = $2, updated_at = now() WHERE id = $1::uuid"
    " RETURNING " USER_COLUMNS,
    2};
static const pg_stmt USER_CHANGE_PASSWORD = {
    "accounts_user_change_password",
    "UPDATE users SET password_hash = $3, token_epoch = token_epoch + 1, updated_at = now()"
    " WHERE id = $1::uuid AND password_hash = $2 AND locked_at IS NULL RETURNING " USER_COLUMNS,
    3};
/* A reset proves the mailbox the link went to, which is still the account's (the redeem
 * checks), so the address counts as verified too. */
static const pg_stmt USER_RESET_PASSWORD = {
    "accounts_user_reset_password",
    "UPDATE users SET password_hash = $2, token_epoch = token_epoch + 1, updated_at = now(),"
    " email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1::uuid"
    " RETURNING " USER_COLUMNS,
    2};
/* A changed address is verified: the link the change waited for reached it. */
static const pg_stmt USER_SET_EMAIL = {
    "accounts_user_set_email",
    "UPDATE users SET email = $2, email_verified_at = now(), updated_at = now()"
    " WHERE id = $1::uuid RETURNING " USER_COLUMNS,
    2};
static const pg_stmt USER_REHASH = {
    "accounts_user_rehash",
    "UPDATE users SET password_hash = $3 WHERE id = $1::uuid AND password_hash = $2", 3};
static const pg_stmt USER_BUMP_EPOCH = {
    "accounts_user_bump_epoch",
    "UPDATE users SET token_epoch = token_epoch + 1 WHERE id = $1::uuid RETURNING token_epoch", 1};

static const pg_stmt REFRESH_INSERT = {
    "accounts_refresh_insert",
    "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)"
    " VALUES ($1::uuid, $2::uuid, $3::uuid, $4::bytea, now() + make_interval(secs => $5::int))",
    5};
static const pg_stmt REFRESH_PRUNE = {"accounts_refresh_prune",
                                      "DELETE FROM refresh_tokens WHERE user_id = $1::uuid"
                                      " AND expires_at < now() - interval '1 day'",
                                      1};
/* The presented row, locked, and whether its family was revoked by anyone. */
static const pg_stmt REFRESH_LOCK = {
    "accounts_refresh_lock",
    "SELECT r.id::text, r.family_id::text, r.user_id::text, r.expires_at <= now(),"
    " r.used_at IS NOT NULL OR r.revoked_at IS NOT NULL OR EXISTS (SELECT 1 FROM"
    " refresh_tokens f WHERE f.family_id = r.family_id AND f.revoked_at IS NOT NULL)"
    " FROM refresh_tokens r WHERE r.token_hash = $1::bytea FOR UPDATE OF r",
    1};
static const pg_stmt REFRESH_MARK_USED = {
    "accounts_refresh_mark_used", "UPDATE refresh_tokens SET used_at = now() WHERE id = $1::uuid",
    1};
static const pg_stmt REFRESH_FAMILY_OF = {
    "accounts_refresh_family_of",
    "SELECT family_id::text FROM refresh_tokens WHERE token_hash = $1::bytea"
    " AND user_id = $2::uuid",
    2};
static const pg_stmt FAMILY_REVOKE = {
    "accounts_family_revoke",
    "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1::uuid"
    " AND user_id = $2::uuid AND revoked_at IS NULL",
    2};
static const pg_stmt USER_REVOKE_ALL = {
    "accounts_user_revoke_all",
    "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1::uuid"
    " AND revoked_at IS NULL",
    1};
static const pg_stmt SESSION_STATE = {
    "accounts_session_state",
    "SELECT u.token_epoch, EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id ="
    " $2::uuid AND r.user_id = u.id AND r.revoked_at IS NOT NULL)"
    " FROM users u WHERE u.id = $1::uuid",
    2};

/* Sessions revoked recently enough that their access tokens may still be alive: their
 * deny keys must be in Redis whenever the epoch key is (see check_postgres). */
static const pg_stmt RECENTLY_REVOKED = {
    "accounts_recently_revoked",
    "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = $1::uuid"
    " AND revoked_at > now() - make_interval(secs => $2::int)",
    2};

/* ---------------------------------------------------------------- helpers */

/* NULL (connection) is "unavailable"; a foreign-key violation means the user row the
 * statement referenced is gone (deleted while the request ran); any other failure is an
 * SQL error. */
auth_status auth_result_status(const PGresult *res, const char *what) {
    if (res == NULL) {
        LOG_WARNF("accounts: postgres connection failed during %s", what);
        return AUTH_UNAVAILABLE;
    }
    if (!pg_result_ok(res) && strcmp(pg_result_sqlstate(res), PG_SQLSTATE_FOREIGN_KEY) == 0) {
        LOG_INFOF("accounts: %s referenced a user who is gone", what);
        return AUTH_USER_GONE;
    }
    if (!pg_result_ok(res)) {
        LOG_ERRORF("accounts: %s failed: %s", what, PQresultErrorMessage(res));
        return AUTH_INTERNAL;
    }
    return AUTH_OK;
}

static void copy_text(char *out, size_t outlen, const PGresult *res, int row, int col) {
    snprintf(out, outlen, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

static void read_user(const PGresult *res, auth_user *u) {
    memset(u, 0, sizeof *u);
    copy_text(u->id, sizeof u->id, res, 0, 0);
    copy_text(u->email, sizeof u->email, res, 0, 1);
    copy_text(u->display_name, sizeof u->display_name, res, 0, 2);
    copy_text(u->role, sizeof u->role, res, 0, 3);
    u->email_verified = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
    u->token_epoch = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    copy_text(u->created_at, sizeof u->created_at, res, 0, 6);
    copy_text(u->updated_at, sizeof u->updated_at, res, 0, 7);
    copy_text(u->password_hash, sizeof u->password_hash, res, 0, 8);
    u->locked = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
}

/* Runs a statement returning at most one user row: 1, 0, or < 0. */
static int user_query(pg_conn *conn, const pg_stmt *stmt, const char *const *values,
                      auth_user *out) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    int rc = auth_result_status(res, stmt->name);
    if (rc == AUTH_OK) {
        rc = PQntuples(res) == 1 && PQnfields(res) == USER_COLUMNS_COUNT ? 1 : 0;
        if (rc == 1 && out != NULL)
            read_user(res, out);
    }
    PQclear(res);
    return rc;
}

/* Runs a statement for its effect; *rows gets the affected row count when not NULL. */
static auth_status exec_effect(pg_conn *conn, const pg_stmt *stmt, const char *const *values,
                               long *rows) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    auth_status st = auth_result_status(res, stmt->name);
    if (st == AUTH_OK && rows != NULL)
        *rows = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return st;
}

/* "\x" + hex SHA-256 of the token: the bytea text form. */
static void token_hash_param(const char *token, char out[2 + 64 + 1]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 65, digest, sizeof digest);
}

/* Exactly 43 base64url characters decoding to 32 bytes: anything else was never issued. */
static bool token_well_formed(const char *token) {
    if (token == NULL || strnlen(token, AUTH_REFRESH_TOKEN_BUF) != AUTH_REFRESH_TOKEN_CHARS)
        return false;
    unsigned char bin[33];
    size_t binlen = 0;
    const char *end = NULL;
    return sodium_base642bin(bin, sizeof bin, token, AUTH_REFRESH_TOKEN_CHARS, NULL, &binlen, &end,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
           binlen == 32 && end == token + AUTH_REFRESH_TOKEN_CHARS;
}

static void new_refresh_token(char out[AUTH_REFRESH_TOKEN_BUF]) {
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, AUTH_REFRESH_TOKEN_BUF, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

/* ---------------------------------------------------------------- the user row */

int auth_user_by_id(pg_conn *conn, const char *user_id, auth_user *out) {
    const char *values[] = {user_id};
    return user_query(conn, &USER_BY_ID, values, out);
}

int auth_user_by_email(pg_conn *conn, const char *email, auth_user *out) {
    const char *values[] = {email};
    return user_query(conn, &USER_BY_EMAIL, values, out);
}

int auth_user_insert(pg_conn *conn, const char *user_id, const char *email,
                     const char *password_hash, const char *display_name, auth_user *out) {
    const char *values[] = {user_id, email, password_hash, display_name};
    return user_query(conn, &USER_INSERT, values, out);
}

int auth_user_set_display_name(pg_conn *conn, const char *user_id, const char *display_name,
                               auth_user *out) {
    const char *values[] = {user_id, display_name};
    return user_query(conn, &USER_SET_DISPLAY_NAME, values, out);
}

int auth_user_change_password(pg_conn *conn, const char *user_id, const char *old_hash,
                              const char *new_hash, auth_user *out) {
    const char *values[] = {user_id, old_hash, new_hash};
    return user_query(conn, &USER_CHANGE_PASSWORD, values, out);
}

int auth_user_reset_password(pg_conn *conn, const char *user_id, const char *new_hash,
                             auth_user *out) {
    const char *values[] = {user_id, new_hash};
    return user_query(conn, &USER_RESET_PASSWORD, values, out);
}

int auth_user_set_email(pg_conn *conn, const char *user_id, const char *email, auth_user *out) {
    const char *values[] = {user_id, email};
    PGresult *res = pg_exec_stmt(conn, &USER_SET_EMAIL, values);
    if (res != NULL && !pg_result_ok(res) &&
        strcmp(pg_result_sqlstate(res), PG_SQLSTATE_UNIQUE_VIOLATION) == 0) {
        PQclear(res);
        return AUTH_EMAIL_TAKEN;
    }
    int rc = auth_result_status(res, USER_SET_EMAIL.name);
    if (rc == AUTH_OK) {
        rc = PQntuples(res) == 1 ? 1 : 0;
        if (rc == 1)
            read_user(res, out);
    }
    PQclear(res);
    return rc;
}

int auth_user_rehash(pg_conn *conn, const char *user_id, const char *old_hash,
                     const char *new_hash) {
    const char *values[] = {user_id, old_hash, new_hash};
    long rows = 0;
    auth_status st = exec_effect(conn, &USER_REHASH, values, &rows);
    return st != AUTH_OK ? st : rows == 1;
}

json_t *auth_user_json(const auth_user *u) {
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "id", u->id, "email", u->email,
                     "display_name", u->display_name, "role", u->role, "email_verified",
                     u->email_verified, "created_at", u->created_at, "updated_at", u->updated_at);
}

/* ---------------------------------------------------------------- sessions */

static auth_status insert_token(pg_conn *conn, const taskbus_config *cfg, const char *user_id,
                                const char *family_id, char token[AUTH_REFRESH_TOKEN_BUF]) {
    char id[UUID_STR_LEN];
    char hash[67];
    char ttl[16];
    uuid7_generate(id);
    new_refresh_token(token);
    token_hash_param(token, hash);
    snprintf(ttl, sizeof ttl, "%d", cfg->refresh_ttl_s);
    const char *values[] = {id, family_id, user_id, hash, ttl};
    return exec_effect(conn, &REFRESH_INSERT, values, NULL);
}

auth_status auth_session_start(pg_conn *conn, const taskbus_config *cfg, const char *user_id,
                               char family_id[UUID_STR_LEN],
                               char refresh_token[AUTH_REFRESH_TOKEN_BUF]) {
    uuid7_generate(family_id);
    return insert_token(conn, cfg, user_id, family_id, refresh_token);
}

void auth_sessions_prune(pg_conn *conn, const char *user_id) {
    const char *values[] = {user_id};
    (void)exec_effect(conn, &REFRESH_PRUNE, values, NULL); /* logged; housekeeping only */
}

int auth_session_family_of(pg_conn *conn, const char *presented, const char *user_id,
                           char family_id[UUID_STR_LEN]) {
    if (!token_well_formed(presented))
        return 0;
    char hash[67];
    token_hash_param(presented, hash);
    const char *values[] = {hash, user_id};
    PGresult *res = pg_exec_stmt(conn, &REFRESH_FAMILY_OF, values);
    int rc = auth_result_status(res, REFRESH_FAMILY_OF.name);
    if (rc == AUTH_OK) {
        rc = PQntuples(res) == 1 ? 1 : 0;
        if (rc == 1)
            copy_text(family_id, UUID_STR_LEN, res, 0, 0);
    }
    PQclear(res);
    return rc;
}

/* After a revocation fact is in Redis: every API instance drops what its near cache
 * holds for the user (or its lease expires) before the caller answers. */
static auth_status invalidate_near_caches(const api_app *app, const char *user_id) {
    if (near_cache_bus_invalidate_user(app->redis, user_id, app->cfg->near_cache_lease_ms) != 0) {
        LOG_WARNF("accounts: API instances did not acknowledge a revocation in time");
        return AUTH_UNAVAILABLE;
    }
    return AUTH_OK;
}

/* invalidate: false for a refill of revocations Postgres already holds, after Redis lost
 * them: the revocation invalidated every near cache when it happened, and the data loss
 * made every instance drop its cache again (its lease noticed), so nothing to wait for. */
static auth_status publish_revoked(const api_app *app, const char *user_id, const char *family_id,
                                   bool invalidate) {
    char key[REDIS_KEY_MAX];
    redis_key_revoked(key, user_id, family_id);
    redisReply *reply = redis_pool_command(app->redis, "SET %s 1 EX %d", key,
                                           app->cfg->access_ttl_s + REVOKED_KEY_EXTRA_S);
    bool ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    if (!ok)
        LOG_WARNF("accounts: cannot record the revocation of a session in Redis (%s)",
                  reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "unavailable");
    if (reply != NULL)
        freeReplyObject(reply);
    if (!ok)
        return AUTH_UNAVAILABLE;
    return invalidate ? invalidate_near_caches(app, user_id) : AUTH_OK;
}

auth_status auth_session_revoke(pg_conn *conn, const api_app *app, const char *user_id,
                                const char *family_id) {
    auth_status st = publish_revoked(app, user_id, family_id, true);
    if (st != AUTH_OK)
        return st;
    const char *values[] = {family_id, user_id};
    return exec_effect(conn, &FAMILY_REVOKE, values, NULL);
}

auth_status auth_sessions_revoke_all(pg_conn *conn, const char *user_id) {
    const char *values[] = {user_id};
    return exec_effect(conn, &USER_REVOKE_ALL, values, NULL);
}

auth_status auth_epoch_bump(pg_conn *conn, const char *user_id, long long *epoch) {
    const char *values[] = {user_id};
    PGresult *res = pg_exec_stmt(conn, &USER_BUMP_EPOCH, values);
    auth_status st = auth_result_status(res, USER_BUMP_EPOCH.name);
    if (st == AUTH_OK) {
        if (PQntuples(res) == 1)
            *epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        else
            st = AUTH_USER_GONE; /* deleted since the middleware let the token in */
    }
    PQclear(res);
    return st;
}

static auth_status publish_epoch(const api_app *app, const char *user_id, long long epoch,
                                 int lease_ms) {
    char err[256];
    if (user_epoch_publish(app->redis, user_id, epoch, lease_ms, err, sizeof err) != 0) {
        LOG_WARNF("accounts: cannot publish a token epoch to Redis (%s)", err);
        return AUTH_UNAVAILABLE;
    }
    return AUTH_OK;
}

auth_status auth_epoch_publish(const api_app *app, const char *user_id, long long epoch) {
    return publish_epoch(app, user_id, epoch, app->cfg->near_cache_lease_ms);
}

/* The refill of an epoch read from Postgres: no near cache can hold a verdict it
 * contradicts, so no invalidation (user_epoch.h). */
static auth_status auth_epoch_refill(const api_app *app, const char *user_id, long long epoch) {
    return publish_epoch(app, user_id, epoch, 0);
}

void auth_epoch_forget(const api_app *app, const char *user_id) {
    if (user_epoch_forget(app->redis, user_id) != 0)
        LOG_ERRORF("accounts: cannot drop the epoch of a user after a failed commit; their "
                   "tokens stay refused until the key expires");
}

/* ---------------------------------------------------------------- rotation */

typedef struct presented_row {
    char id[UUID_STR_LEN];
    char family_id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    bool expired;
    bool dead; /* used, revoked, or of a revoked family */
} presented_row;

static auth_rotate_result from_status(int st) {
    return st == AUTH_UNAVAILABLE ? AUTH_ROTATE_UNAVAILABLE
           : st == AUTH_USER_GONE ? AUTH_ROTATE_INVALID
                                  : AUTH_ROTATE_ERROR;
}

/* Locks the row of the presented token: 1, 0 (never issued) or < 0. */
static int lock_presented(pg_conn *conn, const char *presented, presented_row *row) {
    char hash[67];
    token_hash_param(presented, hash);
    const char *values[] = {hash};
    PGresult *res = pg_exec_stmt(conn, &REFRESH_LOCK, values);
    int rc = auth_result_status(res, REFRESH_LOCK.name);
    if (rc == AUTH_OK) {
        rc = PQntuples(res) == 1 ? 1 : 0;
        if (rc == 1) {
            copy_text(row->id, sizeof row->id, res, 0, 0);
            copy_text(row->family_id, sizeof row->family_id, res, 0, 1);
            copy_text(row->user_id, sizeof row->user_id, res, 0, 2);
            row->expired = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
            row->dead = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
        }
    }
    PQclear(res);
    return rc;
}

/* A used or revoked token came back: whoever holds the family may be a thief, so the
 * whole family dies. The Postgres revocation commits even when Redis cannot take the
 * fact: it stops every refresh token of the family, which matters most. */
static auth_rotate_result revoke_on_reuse(pg_conn *conn, const api_app *app,
                                          const presented_row *row) {
    log_json(LOG_WARN, "refresh token reuse: revoking the session",
             json_pack("{s:s, s:s}", "user_id", row->user_id, "session_id", row->family_id));
    if (publish_revoked(app, row->user_id, row->family_id, true) != AUTH_OK)
        LOG_ERRORF("accounts: session %s revoked in Postgres only; its access tokens live "
                   "until they expire unless Redis is down for readers too",
                   row->family_id);
    const char *values[] = {row->family_id, row->user_id};
    auth_status st = exec_effect(conn, &FAMILY_REVOKE, values, NULL);
    char err[256];
    if (st != AUTH_OK || pg_commit(conn, err, sizeof err) != 0) {
        pg_rollback(conn);
        return from_status(st != AUTH_OK ? st : AUTH_UNAVAILABLE);
    }
    return AUTH_ROTATE_REUSED;
}

static auth_rotate_result rotate_row(pg_conn *conn, const api_app *app, const presented_row *row,
                                     auth_user *user, char new_token[AUTH_REFRESH_TOKEN_BUF]) {
    const char *values[] = {row->id};
    auth_status st = exec_effect(conn, &REFRESH_MARK_USED, values, NULL);
    if (st != AUTH_OK)
        return from_status(st);
    int found = auth_user_by_id(conn, row->user_id, user);
    if (found <= 0)
        return found == 0 ? AUTH_ROTATE_INVALID : from_status(found);
    if (user->locked) /* locked after this family began (a lock revokes every family) */
        return AUTH_ROTATE_INVALID;
    st = insert_token(conn, app->cfg, row->user_id, row->family_id, new_token);
    if (st != AUTH_OK)
        return from_status(st);
    char err[256];
    if (pg_commit(conn, err, sizeof err) != 0) {
        LOG_WARNF("accounts: refresh rotation did not commit: %s", err);
        return AUTH_ROTATE_UNAVAILABLE;
    }
    return AUTH_ROTATE_OK;
}

static auth_rotate_result rotate_in(pg_conn *conn, const api_app *app, const char *presented,
                                    auth_user *user, char family_id[UUID_STR_LEN],
                                    char new_token[AUTH_REFRESH_TOKEN_BUF]) {
    char err[256];
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_WARNF("accounts: cannot begin a refresh rotation: %s", err);
        return AUTH_ROTATE_UNAVAILABLE;
    }
    presented_row row;
    memset(&row, 0, sizeof row);
    int found = lock_presented(conn, presented, &row);
    auth_rotate_result r;
    if (found <= 0)
        r = found == 0 ? AUTH_ROTATE_INVALID : from_status(found);
    else if (row.dead)
        return revoke_on_reuse(conn, app, &row);
    else if (row.expired)
        r = AUTH_ROTATE_EXPIRED;
    else
        r = rotate_row(conn, app, &row, user, new_token);
    if (r == AUTH_ROTATE_OK)
        memcpy(family_id, row.family_id, UUID_STR_LEN);
    else
        pg_rollback(conn);
    return r;
}

auth_rotate_result auth_session_rotate(const api_app *app, const char *presented, auth_user *user,
                                       char family_id[UUID_STR_LEN],
                                       char new_token[AUTH_REFRESH_TOKEN_BUF]) {
    if (!token_well_formed(presented))
        return AUTH_ROTATE_INVALID;
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("accounts: refresh without a database connection: %s", err);
        return AUTH_ROTATE_UNAVAILABLE;
    }
    auth_rotate_result r = rotate_in(conn, app, presented, user, family_id, new_token);
    pg_pool_release(app->pg, conn);
    return r;
}

/* ---------------------------------------------------------------- the middleware's check */

/* Writes the deny keys of every session of user_id revoked within an access token's
 * lifetime. AUTH_OK when all are in Redis. */
static auth_status republish_recent_revocations(const api_app *app, const char *user_id) {
    char err[256], window[16];
    snprintf(window, sizeof window, "%d", app->cfg->access_ttl_s + REVOKED_KEY_EXTRA_S);
    pg_conn *conn = pg_pool_acquire(app->pg, CHECK_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL)
        return AUTH_UNAVAILABLE;
    const char *values[] = {user_id, window};
    PGresult *res = pg_exec_stmt(conn, &RECENTLY_REVOKED, values);
    auth_status st = auth_result_status(res, RECENTLY_REVOKED.name);
    for (int i = 0; st == AUTH_OK && i < PQntuples(res); i++)
        st = publish_revoked(app, user_id, PQgetvalue(res, i, 0), false);
    PQclear(res);
    pg_pool_release(app->pg, conn);
    return st;
}

/* The same facts from Postgres; fill_epoch puts the epoch back into Redis. A user without
 * a row is gone: REVOKED, and nothing is filled (a tombstone, if any, stays). */
static auth_session_state check_postgres(const api_app *app, const char *user_id, const char *sid,
                                         long long sev, bool fill_epoch) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, CHECK_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("accounts: cannot check a session in Postgres: %s", err);
        return AUTH_SESSION_UNAVAILABLE;
    }
    const char *values[] = {user_id, sid};
    PGresult *res = pg_exec_stmt(conn, &SESSION_STATE, values);
    auth_status st = auth_result_status(res, SESSION_STATE.name);
    bool exists = st == AUTH_OK && PQntuples(res) == 1;
    long long epoch = exists ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    bool revoked = exists && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);
    pg_pool_release(app->pg, conn);
    if (st != AUTH_OK)
        return AUTH_SESSION_UNAVAILABLE;
    if (!exists)
        return AUTH_SESSION_REVOKED;
    /* A missing epoch key may mean Redis lost data (restart, failover, flush), deny keys
     * of logged-out sessions included: those go back first, and the epoch only if they
     * all did, so an epoch in Redis always implies the deny keys are there too. */
    if (fill_epoch && republish_recent_revocations(app, user_id) == AUTH_OK)
        (void)auth_epoch_refill(app, user_id, epoch); /* a miss next time costs a query */
    return revoked || sev < epoch ? AUTH_SESSION_REVOKED : AUTH_SESSION_CURRENT;
}

/* The verdict the near cache holds for this session: CURRENT only when it recorded the
 * token's own epoch; UNAVAILABLE means "not known here". */
static auth_session_state near_verdict(const api_app *app, const char *nkey, long long sev) {
    near_cache_blob *b = near_cache_get(app->near_cache, nkey);
    if (b == NULL)
        return AUTH_SESSION_UNAVAILABLE;
    long long epoch = near_cache_blob_aux(b);
    near_cache_blob_release(b);
    if (sev == epoch)
        return AUTH_SESSION_CURRENT;
    return sev < epoch ? AUTH_SESSION_REVOKED : AUTH_SESSION_UNAVAILABLE;
}

/* auth_session_check; ask_source false: UNAVAILABLE instead of a Postgres query. */
static auth_session_state session_check(const api_app *app, const char *user_id, const char *sid,
                                        long long sev, bool ask_source) {
    char nkey[NEAR_CACHE_KEY_MAX];
    near_cache_key_session(nkey, user_id, sid);
    auth_session_state cached = near_verdict(app, nkey, sev);
    if (cached != AUTH_SESSION_UNAVAILABLE)
        return cached;
    near_cache_ticket t = near_cache_ticket_take(app->near_cache, user_id, NEAR_CACHE_SESSIONS);
    char ekey[REDIS_KEY_MAX];
    char rkey[REDIS_KEY_MAX];
    redis_key_epoch(ekey, user_id);
    redis_key_revoked(rkey, user_id, sid);
    redisReply *reply = redis_pool_command(app->redis, "MGET %s %s", ekey, rkey);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        if (reply != NULL)
            freeReplyObject(reply);
        return ask_source ? check_postgres(app, user_id, sid, sev, false)
                          : AUTH_SESSION_UNAVAILABLE;
    }
    bool revoked = reply->element[1]->type == REDIS_REPLY_STRING;
    long long epoch = 0;
    bool known = user_epoch_parse_reply(reply->element[0], &epoch);
    freeReplyObject(reply);
    switch (user_epoch_judge(revoked, known, epoch, user_deletions_caught_up(), sev)) {
    case USER_EPOCH_CURRENT:
        /* Kept under the ticket: a revocation after the MGET kills it on arrival. */
        if (sev == epoch)
            near_cache_put(app->near_cache, &t, user_id, nkey, "", 0, epoch);
        return AUTH_SESSION_CURRENT;
    case USER_EPOCH_REVOKED:
        return AUTH_SESSION_REVOKED;
    case USER_EPOCH_ASK_SOURCE:
        break;
    }
    /* No epoch: expired, evicted or lost with a Redis restart; refill it from the source.
     * An epoch not yet trusted is left as it is. */
    return ask_source ? check_postgres(app, user_id, sid, sev, !known) : AUTH_SESSION_UNAVAILABLE;
}

auth_session_state auth_session_check(const api_app *app, const char *user_id, const char *sid,
                                      long long sev) {
    return session_check(app, user_id, sid, sev, true);
}

auth_session_state auth_session_check_cached(const api_app *app, const char *user_id,
                                             const char *sid, long long sev) {
    return session_check(app, user_id, sid, sev, false);
}

/* ---------------------------------------------------------------- responses */

json_t *auth_token_pair(const api_app *app, const auth_user *user, const char *family_id,
                        const char *refresh_token) {
    const taskbus_config *cfg = app->cfg;
    auth_jwt_input in = {
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .subject = user->id,
        .session_id = family_id,
        .role = user->role,
        .jti = NULL,
        .epoch = user->token_epoch,
        .ttl_s = cfg->access_ttl_s,
    };
    char *access = NULL;
    if (auth_jwt_issue(app->jwt_key, app->jwt_key_len, &in, time_now_unix_ms() / 1000, &access) !=
        0) {
        LOG_ERRORF("accounts: cannot sign an access token");
        return NULL;
    }
    json_t *u = auth_user_json(user);
    json_t *body = u == NULL ? NULL
                             : json_pack("{s:o, s:s, s:s, s:i, s:s, s:i}", "user", u,
                                         "access_token", access, "token_type", "Bearer",
                                         "expires_in", cfg->access_ttl_s, "refresh_token",
                                         refresh_token, "refresh_expires_in", cfg->refresh_ttl_s);
    free(access);
    return body;
}

void auth_respond_failure(api_request_ctx *ctx, auth_status st) {
    if (st == AUTH_USER_GONE) {
        auth_respond_account_gone(ctx);
        return;
    }
    if (st == AUTH_EMAIL_TAKEN) {
        api_respond_error(ctx, 409, "email-taken", "an account with this e-mail already exists");
        return;
    }
    if (st == AUTH_UNAVAILABLE) {
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "a backing service did not answer; retry shortly");
        return;
    }
    api_respond_error(ctx, 500, "internal-error", NULL);
}

json_t *auth_field_errors_new(api_request_ctx *ctx) {
    json_t *errors = json_array();
    if (errors == NULL)
        auth_respond_failure(ctx, AUTH_INTERNAL);
    return errors;
}

int auth_field_errors_check(api_request_ctx *ctx, json_t *errors, int count) {
    if (count > 0) {
        auth_respond_field_errors(ctx, errors);
        return -1;
    }
    json_decref(errors);
    return 0;
}

void auth_respond_body(api_request_ctx *ctx, int status, json_t *body) {
    if (body == NULL) {
        auth_respond_failure(ctx, AUTH_INTERNAL);
        return;
    }
    api_respond_json(ctx, status, body);
}

pg_conn *auth_acquire(api_request_ctx *ctx) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("accounts: no database connection: %s", err);
        auth_respond_failure(ctx, AUTH_UNAVAILABLE);
    }
    return conn;
}

int auth_respond_self_lookup(api_request_ctx *ctx, int found) {
    if (found < 0)
        auth_respond_failure(ctx, (auth_status)found);
    else if (found == 0)
        auth_respond_account_gone(ctx);
    return found;
}

void auth_respond_invalid_token(api_request_ctx *ctx, const char *detail) {
    api_set_header(ctx, "WWW-Authenticate", AUTH_CHALLENGE_INVALID);
    api_respond_error(ctx, 401, "unauthorized", detail);
}

void auth_respond_account_gone(api_request_ctx *ctx) {
    auth_respond_invalid_token(ctx, "the account no longer exists");
}

int auth_query_row(pg_conn *conn, const pg_stmt *stmt, const char *const *values, char **out,
                   const size_t *outlen, int nout) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    auth_status st = auth_result_status(res, stmt->name);
    int found = st == AUTH_OK ? PQntuples(res) >= 1 : st;
    if (found == 1 && PQnfields(res) < nout) {
        LOG_ERRORF("accounts: %s returned %d columns, not %d", stmt->name, PQnfields(res), nout);
        found = AUTH_INTERNAL;
    }
    for (int i = 0; found == 1 && i < nout; i++)
        snprintf(out[i], outlen[i], "%s", PQgetvalue(res, 0, i));
    PQclear(res);
    return found;
}

auth_status auth_txn_begin(pg_conn *conn, const char *what) {
    char err[256];
    if (pg_begin(conn, err, sizeof err) == 0)
        return AUTH_OK;
    LOG_WARNF("%s: BEGIN: %s", what, err);
    return AUTH_UNAVAILABLE;
}

int auth_txn_end(pg_conn *conn, int rc, const char *what) {
    char err[256];
    if (rc == 1 && pg_commit(conn, err, sizeof err) != 0) {
        LOG_WARNF("%s: COMMIT: %s", what, err);
        rc = AUTH_UNAVAILABLE;
    }
    if (rc != 1)
        pg_rollback(conn);
    return rc;
}

void auth_respond_field_errors(api_request_ctx *ctx, json_t *errors) {
    api_respond_field_errors(ctx, errors);
}
