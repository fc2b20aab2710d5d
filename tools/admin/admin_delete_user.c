/*
 * admin_delete_user.c: taskbus-admin delete-user EMAIL (see admin_delete_user.h).
 *
 * Rules: one transaction: SELECT ... FOR UPDATE (the e-mail matched lower-cased, as
 * accounts store it), the Redis tombstone, DELETE, COMMIT. The row lock also holds back
 * any insert that references the user (its foreign-key check waits), which then fails and
 * is answered 401. When the COMMIT fails the tombstone is dropped again: the epoch key is
 * then refilled from Postgres, which knows whether the user is there.
 */
#include "tools/admin/admin_delete_user.h"

#include <stdio.h>
#include <string.h>

#include "shared/pg_pool.h"
#include "shared/redis_keys.h"
#include "shared/redis_pool.h"
#include "shared/user_epoch.h"
#include "shared/uuid7.h"
#include "tools/admin/admin_db.h"

#define WHO "taskbus-admin delete-user"
#define PREFIX WHO ": "

static const pg_stmt STMT_LOCK = {
    .name = "admin_delete_user_lock",
    .sql = "SELECT id::text FROM users WHERE email = lower($1) FOR UPDATE",
    .nparams = 1,
};
static const pg_stmt STMT_DELETE = {
    .name = "admin_delete_user",
    .sql = "DELETE FROM users WHERE id = $1::uuid",
    .nparams = 1,
};

/* Locks the user's row in the open transaction. 1 found (id filled), 0 none, -1 error. */
static int lock_user(pg_conn *c, const char *email, char id[UUID_STR_LEN]) {
    const char *vals[1] = {email};
    PGresult *row = NULL;
    int found = admin_db_one_row(c, &STMT_LOCK, vals, WHO, "looking the user up", &row);
    if (found == 1) {
        snprintf(id, UUID_STR_LEN, "%s", PQgetvalue(row, 0, 0));
    }
    PQclear(row);
    return found;
}

static int delete_row(pg_conn *c, const char *id) {
    const char *vals[1] = {id};
    PGresult *res = pg_exec_stmt(c, &STMT_DELETE, vals);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        admin_db_print_error(WHO, "deleting the user", res);
    }
    PQclear(res);
    return rc;
}

static void forget_tombstone(redis_pool *redis, const char *id) {
    char key[REDIS_KEY_MAX];
    redis_key_epoch(key, id);
    redisReply *reply = redis_pool_command(redis, "DEL %s", key);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, PREFIX "could not drop the tombstone either; the user's tokens stay "
                               "refused until it expires\n");
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
}

static int delete_in(const taskbus_config *cfg, pg_conn *c, redis_pool *redis, const char *email) {
    char err[512];
    char id[UUID_STR_LEN] = "";
    if (pg_begin(c, err, sizeof err) != 0) {
        fprintf(stderr, PREFIX "%s\n", err);
        return 1;
    }
    int found = lock_user(c, email, id);
    if (found == 0) {
        fprintf(stderr, PREFIX "no user with e-mail %s\n", email);
    }
    if (found != 1) {
        pg_rollback(c);
        return 1;
    }
    if (user_epoch_tombstone(redis, id, cfg->access_ttl_s, cfg->near_cache_lease_ms, err,
                             sizeof err) != 0) {
        fprintf(stderr, PREFIX "redis did not take the tombstone (%s); nothing was changed\n", err);
        pg_rollback(c);
        return 1;
    }
    if (delete_row(c, id) != 0) {
        pg_rollback(c);
        forget_tombstone(redis, id);
        return 1;
    }
    if (pg_commit(c, err, sizeof err) != 0) {
        fprintf(stderr, PREFIX "%s\n", err);
        forget_tombstone(redis, id);
        return 1;
    }
    printf("user %s (%s) deleted; their tokens are refused\n", email, id);
    return 0;
}

int admin_delete_user(const taskbus_config *cfg, const char *email) {
    pg_pool *pool = NULL;
    pg_conn *c = admin_db_open(cfg, &pool);
    if (c == NULL) {
        return 1;
    }
    char err[512];
    redis_pool *redis =
        redis_pool_create(cfg->redis_url, 1, cfg->redis_timeout_ms, err, sizeof err);
    if (redis == NULL) {
        fprintf(stderr, "taskbus-admin: REDIS_URL: %s\n", err);
        admin_db_close(pool, c);
        return 1;
    }
    int rc = delete_in(cfg, c, redis, email);
    redis_pool_destroy(redis);
    admin_db_close(pool, c);
    return rc;
}
