/*
 * webhooks_main.c: the taskbus-webhooks process (task events to signed HTTP deliveries).
 *
 * Owns: the webhooks' row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 5 are the skeleton's; /ready checks Postgres and Kafka;
 * /health watches the consumer loop): start (the Postgres pool, the TASKBUS_WEBHOOK_ALLOW
 * list, libcurl and libsodium), the two halves and their shutdown: the `task-events`
 * consumer loop (group taskbus-webhooks, webhooks_ingest.c) on the main thread and the
 * sender thread (webhooks_sender.c); the loop reads `task-events.v2` too (projects' webhooks).
 * Rules:
 * - The consumer and the sender share the pool; the pool holds a connection for each
 *   plus one spare (a failed one is reset on release).
 * - The consumer's batches commit without waiting for the WAL flush (lazy_commit: why it
 *   is safe is said where it is set); the sender's statements keep the flush.
 * - SIGTERM/SIGINT: the consumer commits its current batch, the sender finishes the
 *   attempt in hand and records it; exit 0.
 * Exit codes: 0 stopped, 1 could not start or a fatal Kafka error, 2 bad configuration.
 */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/daemon_signals.h"
#include "shared/kafka_consumer.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "workers/webhooks/webhooks_ingest.h"
#include "workers/webhooks/webhooks_sender.h"

#define POOL_SIZE 3
#define BATCH_MAX 500
#define BATCH_WAIT_MS 20

typedef struct webhooks_app {
    pg_pool *pg;
    webhooks_sender *sender;
    kafka_consumer_loop *loop;
    bool curl_ready;
} webhooks_app;

static int create_parts(const taskbus_config *cfg, webhooks_app *app) {
    char err[512];
    app->pg =
        pg_pool_create(cfg->database_url, POOL_SIZE, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (app->pg == NULL) {
        fprintf(stderr, "taskbus-webhooks: DATABASE_URL: %s\n", err);
        return 2;
    }
    app->sender = webhooks_sender_create(app->pg, cfg, err, sizeof err);
    if (app->sender == NULL) {
        fprintf(stderr, "taskbus-webhooks: %s\n", err);
        return 2;
    }
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        LOG_ERRORF("webhooks: libsodium or libcurl did not initialise");
        return 1;
    }
    app->curl_ready = true;
    return 0;
}

static int create_loop(const taskbus_config *cfg, webhooks_app *app) {
    char err[512];
    /* v1 events for users' webhooks, v2 events for projects' (webhooks_ingest.h) */
    const char *topics[2] = {TASK_EVENTS_TOPIC, TASK_EVENTS_V2_TOPIC};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = WEBHOOKS_GROUP,
        .topics = topics,
        .ntopics = 2,
        .batch_max = BATCH_MAX,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = app->pg,
        .on_batch = webhooks_on_batch,
        .after_commit = webhooks_after_commit,
        .fetch_wait_ms = 50, /* deliveries may start 50 ms later; far fewer fetches */
        /* The ingest's every effect is a row of the batch transaction. The one thing
         * outside Postgres, an HTTP delivery, happens only after the sender's claim of the
         * row committed with a flush, which makes every earlier commit durable too (WAL is
         * one sequence); so a crash can lose only deliveries nobody acted on yet, and
         * their events are consumed again with the offsets. */
        .lazy_commit = true,
        .ctx = app->sender,
    };
    app->loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (app->loop == NULL) {
        LOG_ERRORF("webhooks: %s", err);
        return 1;
    }
    return 0;
}

static int start(void *vapp, const taskbus_config *cfg) {
    webhooks_app *app = vapp;
    char err[512];
    int rc = create_parts(cfg, app);
    if (rc != 0) {
        return rc;
    }
    rc = create_loop(cfg, app);
    if (rc == 0 && webhooks_sender_start(app->sender, err, sizeof err) != 0) {
        LOG_ERRORF("webhooks: %s", err);
        rc = 1;
    }
    return rc;
}

static int run(void *vapp) {
    webhooks_app *app = vapp;
    return daemon_run_consumer(app->loop, "webhooks",
                               TASK_EVENTS_TOPIC " and " TASK_EVENTS_V2_TOPIC, WEBHOOKS_GROUP);
}

static void stop_all(void *vapp) {
    webhooks_app *app = vapp;
    daemon_request_stop(); /* the sender thread ends with the process's stop flag */
    webhooks_sender_destroy(app->sender);
    kafka_consumer_loop_destroy(app->loop);
    pg_pool_destroy(app->pg);
    if (app->curl_ready) {
        curl_global_cleanup();
    }
}

static const daemon_row WEBHOOKS = {
    .identity =
        {
            .program = "taskbus-webhooks",
            .service = "webhooks",
            .summary = "delivers task events to registered webhooks, signed, with retries",
        },
    .port_offset = DAEMON_PORT_WEBHOOKS,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
    .start = start,
    .run = run,
    .stop = stop_all,
};

int main(int argc, char **argv) {
    webhooks_app app = {0};
    return daemon_main(&WEBHOOKS, &app, argc, argv);
}
