/*
 * analytics_main.c: the taskbus-analytics process (task-events to daily aggregates).
 *
 * Owns: start-up (the Postgres pool; command line, configuration, log, signals and
 * migrations through shared/daemon_startup.c), the consumer loop (group
 * taskbus-analytics, topic task-events) and shutdown. Rules:
 * - Offsets live in kafka_consumer_offsets under the group and commit with the counts,
 *   so `taskbus-admin reset-consumer analytics` (rows and offsets deleted together) makes
 *   the next start rebuild everything from the beginning of the topic.
 * - SIGTERM/SIGINT finish the current batch (commit) and exit 0.
 * Exit codes: 0 stopped, 1 could not start or a fatal Kafka error, 2 bad configuration.
 */
#include <stdio.h>

#include "consumers/analytics/analytics_batch.h"
#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon_signals.h"
#include "shared/daemon_startup.h"
#include "shared/kafka_consumer.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/task_command_codec.h"

#define BATCH_MAX 500
#define BATCH_WAIT_MS 20
#define PG_POOL_SIZE 2

static const daemon_identity ANALYTICS = {
    .program = "taskbus-analytics",
    .service = "analytics",
    .summary = "keeps per-user daily task aggregates from task-events",
};

/* The pool, migrations and the loop. 0, or the exit code to return. */
static int start(const taskbus_config *cfg, pg_pool **pg, kafka_consumer_loop **loop) {
    char err[512];
    *pg = pg_pool_create(cfg->database_url, PG_POOL_SIZE, cfg->pg_statement_timeout_ms, err,
                         sizeof err);
    if (*pg == NULL) {
        fprintf(stderr, "taskbus-analytics: DATABASE_URL: %s\n", err);
        return 2;
    }
    if (daemon_run_migrations(*pg, cfg->schemas_dir, "analytics") != 0) {
        return daemon_should_stop() ? 0 : 1;
    }
    const char *topics[1] = {TASK_EVENTS_TOPIC};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = ANALYTICS_GROUP,
        .topics = topics,
        .ntopics = 1,
        .batch_max = BATCH_MAX,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = *pg,
        .on_batch = analytics_on_batch,
        .after_commit = NULL,
        .lazy_commit = true,  /* every effect is a row of the batch transaction */
        .fetch_wait_ms = 100, /* a projection: fuller fetches, not the freshest */
        .ctx = NULL,
    };
    *loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (*loop == NULL) {
        LOG_ERRORF("analytics: %s", err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    taskbus_config cfg;
    int rc = 0;
    if (!daemon_startup(&ANALYTICS, argc, argv, &cfg, &rc)) {
        return rc;
    }
    pg_pool *pg = NULL;
    kafka_consumer_loop *loop = NULL;
    rc = start(&cfg, &pg, &loop);
    if (rc == 0 && loop != NULL) {
        LOG_INFOF("analytics: consuming %s as group %s", TASK_EVENTS_TOPIC, ANALYTICS_GROUP);
        rc = kafka_consumer_loop_run(loop, daemon_stop_flag()) == 0 ? 0 : 1;
    }
    kafka_consumer_loop_destroy(loop);
    pg_pool_destroy(pg);
    config_free(&cfg);
    LOG_INFOF("analytics: stopped");
    return rc;
}
