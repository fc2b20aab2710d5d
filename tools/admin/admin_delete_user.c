/*
 * admin_delete_user.c: taskbus-admin delete-user EMAIL (see admin_delete_user.h).
 *
 * Rules: the e-mail is matched lower-cased, as accounts store it; then the erasure that
 * DELETE /api/v1/users/me runs too (shared/user_erasure.h: one transaction that locks the
 * user row, refuses the only owner of a team project, writes the Redis tombstone,
 * taskbus.user.deleted and the DELETE; a failure drops the tombstone again). The row lock
 * also holds back any insert that references the user (its foreign-key check waits),
 * which then fails and is answered 401.
 */
#include "tools/admin/admin_delete_user.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/pg_pool.h"
#include "shared/redis_keys.h"
#include "shared/redis_pool.h"
#include "shared/user_erasure.h"
#include "shared/uuid7.h"
#include "tools/admin/admin_db.h"

#define WHO "taskbus-admin delete-user"
#define PREFIX WHO ": "

/* Says why user_erase refused or failed. */
static void print_refusal(const char *email, user_erasure_outcome o, const user_erasure_result *r,
                          const char *err) {
    if (o == USER_ERASURE_NOT_FOUND) {
        fprintf(stderr, PREFIX "no user with e-mail %s\n", email);
    } else if (o == USER_ERASURE_SOLE_OWNER) {
        fprintf(stderr,
                PREFIX "the user is the only owner of team project(s) %s; make another member "
                       "an owner, or delete the project(s), first; nothing was changed\n",
                r->sole_owned);
    } else if (o == USER_ERASURE_REDIS_DOWN) {
        fprintf(stderr, PREFIX "redis did not take the tombstone (%s); nothing was changed\n", err);
    } else {
        fprintf(stderr, PREFIX "%s; nothing was changed\n", err);
    }
    if (r->tombstone_left) {
        fprintf(stderr, PREFIX "could not drop the tombstone either; the user's tokens stay "
                               "refused until it expires\n");
    }
}

static int delete_in(const taskbus_config *cfg, pg_conn *c, redis_pool *redis, const char *email) {
    char id[UUID_STR_LEN] = "";
    int found = admin_db_user_id(c, email, WHO, id);
    if (found == 0) {
        fprintf(stderr, PREFIX "no user with e-mail %s\n", email);
    }
    if (found != 1) {
        return 1;
    }
    user_erasure_request req = {.user_id = id,
                                .redis = redis,
                                .access_ttl_s = cfg->access_ttl_s,
                                .lease_ms = cfg->near_cache_lease_ms};
    user_erasure_result r;
    char err[512] = "";
    user_erasure_outcome o = user_erase(c, &req, &r, err, sizeof err);
    if (o != USER_ERASURE_DONE) {
        print_refusal(email, o, &r, err);
    } else {
        printf("user %s (%s) deleted; their tokens are refused\n", email, id);
        if (r.keys_failed) {
            fprintf(stderr, PREFIX "the user's Redis keys stay until they expire (%s)\n",
                    r.keys_error);
        }
    }
    free(r.sole_owned);
    return o == USER_ERASURE_DONE ? 0 : 1;
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
