/*
 * writer_main.c: the taskbus-writer process (task-commands to Postgres and Redis).
 *
 * Owns: the writer's row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 1 are the skeleton's; /ready checks Postgres, Kafka and
 * Redis): start (pools, the DLQ producer, replay of journalled Redis effects left by a
 * killed writer), the consumer loop and shutdown. Rules:
 * - TASKBUS_WRITER_TOPIC (the dead-letter topic is "<topic>.dlq") and
 *   TASKBUS_WRITER_GROUP come from shared/config.c, so a test can run a writer on a
 *   private topic without joining the real group.
 * - The journal replay at start-up retries until Redis answers: the loop must not move
 *   on while effects of committed batches are missing from the cache.
 * - SIGTERM/SIGINT finish the current batch (commit and Redis effects), flush the
 *   producer and exit 0.
 * Exit codes: 0 stopped, 1 could not start or a fatal Kafka error, 2 bad configuration.
 */
#include <stdio.h>
#include <stdlib.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "workers/writer/writer_batch.h"

#define RETRY_MS DAEMON_RETRY_MS
#define FLUSH_MS 5000
#define BATCH_MAX 500
#define BATCH_WAIT_MS 5

typedef struct writer_app {
    pg_pool *pg;
    redis_pool *redis;
    kafka_producer *producer;
    kafka_consumer_loop *loop;
    writer_ctx ctx;
    const char *topic;
    const char *group;
} writer_app;

/* Lands effects journaled by a writer that died after its commit. With Redis down it
 * does not wait: the sweep lands them later and applying goes on meanwhile. */
static void replay_journal(writer_app *app) {
    char err[512];
    int n = writer_effects_recover(app->pg, app->redis, 0,
                                   writer_replica_wait_ms(app->ctx.lease_ms), err, sizeof err);
    if (n > 0) {
        LOG_WARNF("writer: replayed %d journaled batch(es) into redis", n);
    } else if (n < 0) {
        LOG_WARNF("writer: journal replay: %s; the sweep retries it", err);
        app->ctx.backlog = true;
    }
}

static int create_clients(const taskbus_config *cfg, writer_app *app) {
    char err[512];
    app->pg = pg_pool_create(cfg->database_url, cfg->pg_pool_size, cfg->pg_statement_timeout_ms,
                             err, sizeof err);
    if (app->pg == NULL) {
        fprintf(stderr, "taskbus-writer: DATABASE_URL: %s\n", err);
        return 2;
    }
    app->redis = redis_pool_create(cfg->redis_url, 2, cfg->redis_timeout_ms, err, sizeof err);
    if (app->redis == NULL) {
        fprintf(stderr, "taskbus-writer: REDIS_URL: %s\n", err);
        return 2;
    }
    app->producer = kafka_producer_create(cfg->kafka_brokers, WRITER_CLIENT_ID,
                                          KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (app->producer == NULL) {
        LOG_ERRORF("writer: %s", err);
        return 1;
    }
    return 0;
}

static int create_loop(const taskbus_config *cfg, writer_app *app) {
    char err[512];
    app->ctx.pg = app->pg;
    app->ctx.redis = app->redis;
    app->ctx.producer = app->producer;
    if (bus_dlq_topic(app->ctx.dlq_topic, sizeof app->ctx.dlq_topic, app->topic) != 0) {
        fprintf(stderr, "taskbus-writer: TASKBUS_WRITER_TOPIC is too long\n");
        return 2;
    }
    const char *topics[1] = {app->topic};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = app->group,
        .topics = topics,
        .ntopics = 1,
        .batch_max = BATCH_MAX,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = app->pg,
        .on_batch = writer_on_batch,
        .after_commit = writer_after_commit,
        .on_idle = writer_on_idle,
        .fetch_wait_ms = BATCH_WAIT_MS, /* a fetch fills for as long as a batch would */
        .ctx = &app->ctx,
    };
    app->loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (app->loop == NULL) {
        LOG_ERRORF("writer: %s", err);
        return 1;
    }
    return 0;
}

static int start(void *vapp, const taskbus_config *cfg) {
    writer_app *app = vapp;
    app->topic = cfg->writer_topic;
    app->group = cfg->writer_group;
    int rc = create_clients(cfg, app);
    if (rc != 0) {
        return rc;
    }
    app->ctx.lease_ms = cfg->near_cache_lease_ms;
    replay_journal(app);
    return create_loop(cfg, app);
}

static int run(void *vapp) {
    writer_app *app = vapp;
    return daemon_run_consumer(app->loop, "writer", app->topic, app->group);
}

static void stop_all(void *vapp) {
    writer_app *app = vapp;
    kafka_consumer_loop_destroy(app->loop);
    writer_ctx_free(&app->ctx);
    if (app->producer != NULL) {
        kafka_producer_destroy(app->producer, FLUSH_MS);
    }
    if (app->redis != NULL) {
        redis_pool_destroy(app->redis);
    }
    pg_pool_destroy(app->pg);
}

static const daemon_row WRITER = {
    .identity =
        {
            .program = "taskbus-writer",
            .service = "writer",
            .summary = "applies task commands to Postgres exactly once and keeps Redis exact",
        },
    .port_offset = DAEMON_PORT_WRITER,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA | DAEMON_NEEDS_REDIS,
    .start = start,
    .run = run,
    .stop = stop_all,
};

int main(int argc, char **argv) {
    writer_app app = {0};
    return daemon_main(&WRITER, &app, argc, argv);
}
