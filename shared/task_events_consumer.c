/*
 * task_events_consumer.c: the process of a read-only consumer of task-events (see
 * task_events_consumer.h).
 *
 * Owns: the pool, the migrations and the loop of one such process, and their teardown
 * in reverse order.
 */
#include "shared/task_events_consumer.h"

#include <stdio.h>

#include "shared/config.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/bus.h"

#define BATCH_WAIT_MS 20
#define FETCH_WAIT_MS 100

/* The pool, migrations and the loop. 0, or the exit code to return. */
static int start(const task_events_consumer *c, const taskbus_config *cfg, pg_pool **pg,
                 kafka_consumer_loop **loop) {
    char err[512];
    *pg = pg_pool_create(cfg->database_url, TASK_EVENTS_CONSUMER_POOL, cfg->pg_statement_timeout_ms,
                         err, sizeof err);
    if (*pg == NULL) {
        fprintf(stderr, "%s: DATABASE_URL: %s\n", c->identity.program, err);
        return 2;
    }
    if (daemon_run_migrations(*pg, cfg->schemas_dir, c->identity.service) != 0) {
        return daemon_should_stop() ? 0 : 1;
    }
    const char *topics[1] = {TASK_EVENTS_TOPIC};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = c->group,
        .topics = topics,
        .ntopics = 1,
        .batch_max = TASK_EVENTS_CONSUMER_BATCH,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = *pg,
        .on_batch = c->on_batch,
        .after_commit = NULL,
        .lazy_commit = true, /* every effect is a row of the batch transaction */
        .fetch_wait_ms = FETCH_WAIT_MS,
        .ctx = NULL,
    };
    *loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (*loop == NULL) {
        LOG_ERRORF("%s: %s", c->identity.service, err);
        return 1;
    }
    return 0;
}

int task_events_consumer_main(const task_events_consumer *c, int argc, char **argv) {
    taskbus_config cfg;
    int rc = 0;
    if (!daemon_startup(&c->identity, argc, argv, &cfg, &rc)) {
        return rc;
    }
    pg_pool *pg = NULL;
    kafka_consumer_loop *loop = NULL;
    rc = start(c, &cfg, &pg, &loop);
    if (rc == 0 && loop != NULL) {
        LOG_INFOF("%s: consuming %s as group %s", c->identity.service, TASK_EVENTS_TOPIC, c->group);
        rc = kafka_consumer_loop_run(loop, daemon_stop_flag()) == 0 ? 0 : 1;
    }
    kafka_consumer_loop_destroy(loop);
    pg_pool_destroy(pg);
    config_free(&cfg);
    LOG_INFOF("%s: stopped", c->identity.service);
    return rc;
}
