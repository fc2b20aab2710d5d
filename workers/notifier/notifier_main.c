/*
 * notifier_main.c: the taskbus-notifier process (`notifications` to SMTP).
 *
 * Owns: start-up (pools, the dead-letter producer, curl's global state; the command line,
 * configuration, logging, signals and migrations through shared/daemon_startup.c), the
 * consumer loop (group taskbus-notifier, batches of NOTIFIER_BATCH_MAX records: see
 * notifier_send.h for how a batch keeps the duplicate window one message wide) and
 * shutdown. The pool holds two connections: the loop's batch transaction and the one
 * that records sent ids. Rules: templates are read from <TASKBUS_SCHEMAS_DIR>/../workers/notifier/
 * templates (the source tree's layout, kept by the image). SIGTERM/SIGINT finish the
 * current record (a retry back-off is cut short and the record redone on the next
 * start), flush the producer and exit 0.
 * Exit codes: 0 stopped, 1 could not start or a fatal Kafka error, 2 bad configuration.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon_signals.h"
#include "shared/daemon_startup.h"
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

static int start(const taskbus_config *cfg, notifier_app *app) {
    int rc = create_clients(cfg, app);
    if (rc != 0) {
        return rc;
    }
    if (daemon_run_migrations(app->pg, cfg->schemas_dir, "notifier") != 0) {
        return daemon_should_stop() ? 0 : 1;
    }
    return create_loop(cfg, app);
}

static void stop_all(notifier_app *app) {
    kafka_consumer_loop_destroy(app->loop);
    if (app->producer != NULL) {
        kafka_producer_destroy(app->producer, FLUSH_MS);
    }
    pg_pool_destroy(app->pg);
}

static const daemon_identity NOTIFIER = {
    .program = "taskbus-notifier",
    .service = "notifier",
    .summary = "sends the e-mail of the notifications topic over SMTP, once per notification id",
};

int main(int argc, char **argv) {
    taskbus_config cfg;
    int rc = 0;
    if (!daemon_startup(&NOTIFIER, argc, argv, &cfg, &rc)) {
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "taskbus-notifier: curl_global_init failed\n");
        config_free(&cfg);
        return 1;
    }
    notifier_app app = {0};
    rc = start(&cfg, &app);
    if (rc == 0 && app.loop != NULL) {
        LOG_INFOF("notifier: consuming %s as group %s", NOTIFICATIONS_TOPIC, NOTIFIER_GROUP);
        rc = kafka_consumer_loop_run(app.loop, daemon_stop_flag()) == 0 ? 0 : 1;
    }
    stop_all(&app);
    curl_global_cleanup();
    config_free(&cfg);
    LOG_INFOF("notifier: stopped");
    return rc;
}
