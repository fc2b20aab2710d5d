/*
 * notifier_main.c: the taskbus-notifier process (`notifications` to SMTP).
 *
 * Owns: the notifier's row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 4 are the skeleton's; /ready checks Postgres and Kafka):
 * start (pools, the dead-letter producer, curl's global state), the consumer loop (group
 * taskbus-notifier, batches of NOTIFIER_BATCH_MAX records: see notifier_send.h for how a batch
 * keeps the duplicate window one message wide) and shutdown. The pool holds two connections: the
 * loop's batch transaction and the one that records sent ids. Rules: templates are read from
 * <TASKBUS_SCHEMAS_DIR>/../workers/notifier/ templates (the source tree's layout, kept by the
 * image). SIGTERM/SIGINT finish the current record (a retry back-off is cut short and the record
 * redone on the next start), flush the producer and exit 0. Exit codes: 0 stopped, 1 could not
 * start or a fatal Kafka error, 2 bad configuration.
 */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"
#include "shared/log.h"
#include "shared/notification.h"
#include "shared/pg_pool.h"
#include "workers/notifier/notifier_mail.h"
#include "workers/notifier/notifier_send.h"

#define FLUSH_MS 5000
#define BATCH_WAIT_MS 50

typedef struct notifier_app {
    bool curl_ready;
    pg_pool *pg;
    kafka_producer *producer;
    kafka_consumer_loop *loop;
    notifier_ctx ctx;
} notifier_app;

static int fill_ctx(const taskbus_config *cfg, notifier_app *app) {
    notifier_ctx *nc = &app->ctx;
    nc->cfg = cfg;
    nc->producer = app->producer;
    nc->pg = app->pg;
    notifier_ctx_reset_memory(nc);
    int n = snprintf(nc->templates_dir, sizeof nc->templates_dir,
                     "%s/../workers/notifier/templates", cfg->schemas_dir);
    if (bus_dlq_topic(nc->dlq_topic, sizeof nc->dlq_topic, NOTIFICATIONS_TOPIC) != 0 || n < 0 ||
        (size_t)n >= sizeof nc->templates_dir) {
        fprintf(stderr, "taskbus-notifier: TASKBUS_SCHEMAS_DIR is too long\n");
        return 2;
    }
    if (notifier_mail_address(cfg->smtp_from, nc->from_addr, sizeof nc->from_addr) != 0) {
        fprintf(stderr, "taskbus-notifier: TASKBUS_SMTP_FROM holds no usable address\n");
        return 2;
    }
    return 0;
}

static int create_clients(const taskbus_config *cfg, notifier_app *app) {
    char err[512];
    app->pg = pg_pool_create(cfg->database_url, 2, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (app->pg == NULL) {
        fprintf(stderr, "taskbus-notifier: DATABASE_URL: %s\n", err);
        return 2;
    }
    app->producer = kafka_producer_create(cfg->kafka_brokers, NOTIFIER_CLIENT_ID,
                                          KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (app->producer == NULL) {
        LOG_ERRORF("notifier: %s", err);
        return 1;
    }
    return fill_ctx(cfg, app);
}

static int create_loop(const taskbus_config *cfg, notifier_app *app) {
    char err[512];
    const char *topics[1] = {NOTIFICATIONS_TOPIC};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = NOTIFIER_GROUP,
        .topics = topics,
        .ntopics = 1,
        .batch_max = NOTIFIER_BATCH_MAX,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = app->pg,
        .on_batch = notifier_on_batch,
        .after_commit = NULL,
        .ctx = &app->ctx,
    };
    app->loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (app->loop == NULL) {
        LOG_ERRORF("notifier: %s", err);
        return 1;
    }
    return 0;
}

static int start(void *vapp, const taskbus_config *cfg) {
    notifier_app *app = vapp;
    /* sodium: the reset tokens (workers/notifier/notifier_links.h) and the retry jitter. */
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "taskbus-notifier: sodium_init or curl_global_init failed\n");
        return 1;
    }
    app->curl_ready = true;
    int rc = create_clients(cfg, app);
    if (rc != 0) {
        return rc;
    }
    return create_loop(cfg, app);
}

static int run(void *vapp) {
    notifier_app *app = vapp;
    return daemon_run_consumer(app->loop, "notifier", NOTIFICATIONS_TOPIC, NOTIFIER_GROUP);
}

static void stop_all(void *vapp) {
    notifier_app *app = vapp;
    kafka_consumer_loop_destroy(app->loop);
    if (app->producer != NULL) {
        kafka_producer_destroy(app->producer, FLUSH_MS);
    }
    pg_pool_destroy(app->pg);
    if (app->curl_ready) {
        curl_global_cleanup();
    }
}

static const daemon_row NOTIFIER = {
    .identity =
        {
            .program = "taskbus-notifier",
            .service = "notifier",
            .summary =
                "sends the e-mail of the notifications topic over SMTP, once per notification id",
        },
    .port_offset = DAEMON_PORT_NOTIFIER,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
    .start = start,
    .run = run,
    .stop = stop_all,
};

int main(int argc, char **argv) {
    notifier_app app = {0};
    return daemon_main(&NOTIFIER, &app, argc, argv);
}
