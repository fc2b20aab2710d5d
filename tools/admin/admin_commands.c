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
#include "shared/topic_policy.h"
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

/* One line per topic on stdout: what it is and what taskbus-admin did to it. */
static void print_outcome(const topic_policy *p, const kafka_topic_outcome *o) {
    printf("%s: %s (%s)", p->topic, kafka_topic_action_name(o->action), topic_class_name(p->cls));
    for (size_t c = 0; c < p->n_configs; c++) {
        printf(" %s=%s", p->configs[c].name, p->configs[c].value);
    }
    printf(", %d partition(s)", o->partitions);
    if (o->action == KAFKA_TOPIC_ALTERED) {
        printf(", %d other config(s) kept", o->kept);
    }
    putchar('\n');
}

int admin_topics(const taskbus_config *cfg) {
    char err[512];
    topic_policy policies[16] = {0};
    kafka_topic_outcome outcomes[16] = {0};
    size_t n = 0;
    for (; BUS_TOPICS[n] != NULL; n++) {
        if (n == sizeof policies / sizeof policies[0] ||
            topic_policy_for(BUS_TOPICS[n], cfg, &policies[n], err, sizeof err) != 0) {
            fprintf(stderr, "taskbus-admin topics: %s\n",
                    n == sizeof policies / sizeof policies[0] ? "too many topics" : err);
            return 1;
        }
    }
    if (kafka_admin_apply_policies(cfg->kafka_brokers, policies, n, cfg->kafka_partitions,
                                   cfg->kafka_replication, TOPICS_TIMEOUT_MS, outcomes, err,
                                   sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin topics: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        print_outcome(&policies[i], &outcomes[i]);
        /* Adding partitions would move keys to other partitions (and break per-task order);
         * taskbus never does it: the operator decides. */
        if (outcomes[i].partitions != cfg->kafka_partitions) {
            fprintf(stderr,
                    "taskbus-admin topics: warning: %s has %d partition(s), "
                    "TASKBUS_KAFKA_PARTITIONS is %d; left as it is (changing it moves keys)\n",
                    policies[i].topic, outcomes[i].partitions, cfg->kafka_partitions);
        }
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
