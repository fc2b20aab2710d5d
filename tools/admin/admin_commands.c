/*
 * admin_commands.c: the one-shot jobs of taskbus-admin.
 *
 * Owns: migrate, topics and wait-ready (set-role lives in admin_set_role.c). Rules:
 * every wait has a bound; every failure ends in one message on stderr and exit code 1.
 */
#include "tools/admin/admin_commands.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/kafka_admin.h"
#include "shared/log.h"
#include "shared/migrate.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "shared/time_util.h"
#include "tools/admin/admin_db.h"

#define TOPICS_TIMEOUT_MS 30000

int admin_migrate(const taskbus_config *cfg) {
    pg_pool *pool;
    pg_conn *c = admin_db_open(cfg, &pool);
    if (c == NULL) {
        return 1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", cfg->schemas_dir);
    char err[512];
    int n = migrate_run(c, dir, err, sizeof err);
    admin_db_close(pool, c);
    if (n < 0) {
        fprintf(stderr, "taskbus-admin migrate: %s\n", err);
        return 1;
    }
    printf("applied %d migration(s)\n", n);
    return 0;
}

int admin_topics(const taskbus_config *cfg) {
    char err[512];
    if (kafka_admin_create_topics(cfg->kafka_brokers, BUS_TOPICS, cfg->kafka_partitions,
                                  cfg->kafka_replication, TOPICS_TIMEOUT_MS, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin topics: %s\n", err);
        return 1;
    }
    size_t n = 0;
    while (BUS_TOPICS[n] != NULL) {
        n++;
    }
    printf("%zu topic(s) ready (%d partition(s), replication %d)\n", n, cfg->kafka_partitions,
           cfg->kafka_replication);
    return 0;
}

static int ms_left(int64_t deadline_ns) {
    int64_t ms = (deadline_ns - time_monotonic_ns()) / 1000000;
    return ms < 0 ? 0 : (int)ms;
}

static void pause_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool wait_postgres(const taskbus_config *cfg, int64_t deadline, char *err, size_t len) {
    pg_pool *pool = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, len);
    bool ok = false;
    while (pool != NULL && !(ok = pg_pool_ping(pool, 1000, err, len)) && ms_left(deadline) > 0) {
        pause_ms(250);
    }
    pg_pool_destroy(pool);
    return ok;
}

static bool wait_redis(const taskbus_config *cfg, int64_t deadline, char *err, size_t len) {
    redis_pool *pool = redis_pool_create(cfg->redis_url, 1, cfg->redis_timeout_ms, err, len);
    bool ok = false;
    /* The pool's 1 s "down" back-off answers at once; pausing a bit longer skips it. */
    while (pool != NULL && !(ok = redis_pool_ping(pool, err, len)) && ms_left(deadline) > 0) {
        pause_ms(1100);
    }
    redis_pool_destroy(pool);
    return ok;
}

int admin_wait_ready(const taskbus_config *cfg, int timeout_s) {
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_s * 1000000000LL;
    char err[512] = "";
    if (!wait_postgres(cfg, deadline, err, sizeof err)) {
        fprintf(stderr, "taskbus-admin wait-ready: postgres not ready: %s\n", err);
        return 1;
    }
    if (!wait_redis(cfg, deadline, err, sizeof err)) {
        fprintf(stderr, "taskbus-admin wait-ready: redis not ready: %s\n", err);
        return 1;
    }
    int left = ms_left(deadline);
    if (kafka_admin_wait_ready(cfg->kafka_brokers, left > 0 ? left : 1, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin wait-ready: %s\n", err);
        return 1;
    }
    printf("postgres, redis and kafka are ready\n");
    return 0;
}
