/*
 * admin_set_role.c: taskbus-admin set-role EMAIL ROLE.
 *
 * Owns: finding the user by e-mail (matched lower-cased, as accounts store it) and the
 * messages. Rules: the change is shared/admin_action.c's, as the admin API's PUT
 * /api/v1/admin/users/{id}/role makes it, with no actor (the audit log's actor_id is
 * NULL: the operator's command line): one transaction changes the role and moves the token
 * epoch, the new epoch reaches Redis before the COMMIT (no API instance keeps accepting an
 * older token), the audit row and taskbus.admin.action commit with it. If Redis cannot
 * take the epoch, nothing changes.
 */
#include "tools/admin/admin_set_role.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/admin_action.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "shared/uuid7.h"
#include "tools/admin/admin_db.h"

#define WHO "taskbus-admin set-role"

static int set_role_on(const taskbus_config *cfg, pg_conn *c, redis_pool *redis, const char *email,
                       const char *role) {
    char id[UUID_STR_LEN];
    int found = admin_db_user_id(c, email, WHO, id);
    if (found == 0)
        fprintf(stderr, WHO ": no user with e-mail %s\n", email);
    if (found != 1)
        return 1;
    admin_action_request req = {
        .actor_id = NULL,
        .target_id = id,
        .kind = ADMIN_ACTION_SET_ROLE,
        .role = role,
        .redis = redis,
        .lease_ms = cfg->near_cache_lease_ms,
    };
    admin_action_result out;
    char err[512] = "";
    admin_action_outcome o = admin_action_run(c, &req, &out, err, sizeof err);
    if (o == ADMIN_ACTION_NOT_FOUND) {
        fprintf(stderr, WHO ": no user with e-mail %s\n", email);
        return 1;
    }
    if (o == ADMIN_ACTION_REDIS_DOWN) {
        fprintf(stderr, WHO ": redis did not take the new token epoch (%s); nothing was changed\n",
                err);
        return 1;
    }
    if (o == ADMIN_ACTION_PG_DOWN) {
        fprintf(stderr,
                WHO ": %s; the change was not made, or its COMMIT was not confirmed: "
                    "GET /api/v1/admin/audit?target_id=%s says which\n",
                err, id);
        return 1;
    }
    if (o != ADMIN_ACTION_DONE) {
        fprintf(stderr, WHO ": %s; nothing was changed\n", err);
        return 1;
    }
    bool changed = json_is_true(json_object_get(out.audit, "changed"));
    admin_action_result_clear(&out);
    if (changed)
        printf("user %s (%s) now has role %s; older tokens are refused\n", email, id, role);
    else
        printf("user %s (%s) already has role %s; nothing changed\n", email, id, role);
    return 0;
}

int admin_set_role(const taskbus_config *cfg, const char *email, const char *role) {
    if (!admin_role_valid(role)) {
        fprintf(stderr, WHO ": ROLE must be user or admin, not %s\n", role);
        return 1;
    }
    char err[512];
    redis_pool *redis =
        redis_pool_create(cfg->redis_url, 1, cfg->redis_timeout_ms, err, sizeof err);
    if (redis == NULL) {
        fprintf(stderr, WHO ": REDIS_URL: %s\n", err);
        return 1;
    }
    pg_pool *pool = NULL;
    pg_conn *c = admin_db_open(cfg, &pool);
    int rc = c != NULL ? set_role_on(cfg, c, redis, email, role) : 1;
    if (c != NULL)
        admin_db_close(pool, c);
    redis_pool_destroy(redis);
    return rc;
}
