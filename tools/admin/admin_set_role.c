/*
 * admin_set_role.c: taskbus-admin set-role EMAIL ROLE.
 *
 * Owns: the role change of one user. Rules: one transaction updates role and bumps
 * token_epoch (the e-mail is matched lower-cased, as accounts store it); before COMMIT the
 * new epoch goes to Redis ({u:<id>}:epoch, set-if-greater through shared/user_epoch.c,
 * as api/auth_sessions.c writes it), so no API instance keeps accepting tokens of the old
 * epoch from its cache. If Redis cannot take it, the transaction is rolled back and nothing
 * changes.
 */
#include "tools/admin/admin_set_role.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "shared/user_epoch.h"
#include "tools/admin/admin_db.h"

static const pg_stmt STMT_SET_ROLE = {
    .name = "admin_set_role",
    .sql = "UPDATE users SET role = $2, token_epoch = token_epoch + 1, updated_at = now()"
           " WHERE email = lower($1) RETURNING id::text, token_epoch",
    .nparams = 2,
};

static int publish_epoch(const taskbus_config *cfg, const char *user_id, long long epoch) {
    char err[512];
    redis_pool *redis =
        redis_pool_create(cfg->redis_url, 1, cfg->redis_timeout_ms, err, sizeof err);
    if (redis == NULL) {
        fprintf(stderr, "taskbus-admin set-role: REDIS_URL: %s\n", err);
        return -1;
    }
    int rc = user_epoch_publish(redis, user_id, epoch, cfg->near_cache_lease_ms, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr,
                "taskbus-admin set-role: redis did not take the new token epoch (%s); "
                "nothing was changed\n",
                err);
    }
    redis_pool_destroy(redis);
    return rc;
}

/* Runs the UPDATE in the open transaction. 1 changed, 0 no such user, -1 error. */
static int update_role(pg_conn *c, const char *email, const char *role, char *id, size_t idlen,
                       long long *epoch) {
    const char *vals[2] = {email, role};
    PGresult *row = NULL;
    int found = admin_db_one_row(c, &STMT_SET_ROLE, vals, "taskbus-admin set-role", NULL, &row);
    if (found == 1) {
        snprintf(id, idlen, "%s", PQgetvalue(row, 0, 0));
        *epoch = strtoll(PQgetvalue(row, 0, 1), NULL, 10);
    }
    PQclear(row);
    return found;
}

static int set_role_in(const taskbus_config *cfg, pg_conn *c, const char *email, const char *role) {
    char err[512];
    char id[64] = "";
    long long epoch = 0;
    if (pg_begin(c, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin set-role: %s\n", err);
        return 1;
    }
    int found = update_role(c, email, role, id, sizeof id, &epoch);
    if (found == 0) {
        fprintf(stderr, "taskbus-admin set-role: no user with e-mail %s\n", email);
    }
    if (found != 1 || publish_epoch(cfg, id, epoch) != 0) {
        pg_rollback(c);
        return 1;
    }
    if (pg_commit(c, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin set-role: %s\n", err);
        return 1;
    }
    printf("user %s (%s) now has role %s; older tokens are refused\n", email, id, role);
    return 0;
}

int admin_set_role(const taskbus_config *cfg, const char *email, const char *role) {
    if (strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
        fprintf(stderr, "taskbus-admin set-role: ROLE must be user or admin, not %s\n", role);
        return 1;
    }
    pg_pool *pool = NULL;
    pg_conn *c = admin_db_open(cfg, &pool);
    if (c == NULL) {
        return 1;
    }
    int rc = set_role_in(cfg, c, email, role);
    admin_db_close(pool, c);
    return rc;
}
