/*
 * importer_main.c: the taskbus-importer process (bulk imports to task commands).
 *
 * Owns: start-up (one Postgres connection, the producer; the command line, configuration,
 * logging, signals and migrations through shared/daemon_startup.c), the loop around
 * importer_pass.c, and the stop. Rules:
 * - TASKBUS_IMPORT_RATE (items per second per import) and TASKBUS_IMPORT_TOPIC (where
 *   commands go, so a developer can run an importer against a private topic) come from
 *   shared/config.c with the rest.
 * - One pooled connection carries the ownership locks and every batch; losing it loses
 *   the locks, so the owned imports are forgotten and competed for again.
 * - Unfinished imports are listed at most every SCAN_INTERVAL_MS; between batches the
 *   loop sleeps until the next token is due (at least MIN_SLEEP_MS, so a batch is
 *   several items, not one), or IDLE_POLL_MS when nothing is owned.
 * - A Kafka failure rolls its batch back and backs off (1 s doubling to 10 s).
 * - SIGTERM/SIGINT end the loop between batches (a batch waits at most
 *   DELIVERY_TIMEOUT_MS for Kafka); the producer is flushed; exit 0.
 * Exit codes: 0 stopped, 1 could not start, 2 bad configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/config.h"
#include "shared/daemon_signals.h"
#include "shared/daemon_startup.h"
#include "shared/log.h"
#include "shared/task_command.h"
#include "shared/time_util.h"
#include "workers/importer_pass.h"

#define PG_ACQUIRE_MS DAEMON_PG_ACQUIRE_MS
#define RETRY_MS DAEMON_RETRY_MS
#define IDLE_POLL_MS 1000
#define SCAN_INTERVAL_MS 500
#define MIN_SLEEP_MS 20
#define MAX_SLEEP_MS 200
#define DELIVERY_TIMEOUT_MS 10000
#define KAFKA_BACKOFF_MAX_MS 10000
#define FLUSH_MS 5000

typedef struct importer_app {
    pg_pool *pool;
    importer im;
    int64_t last_scan_ns;
    int kafka_backoff_ms;
} importer_app;

static void drop_connection(importer_app *app) {
    if (app->im.conn != NULL) {
        importer_forget(&app->im, false);
        pg_conn_mark_broken(app->im.conn); /* a reset ends the session and its locks */
        pg_pool_release(app->pool, app->im.conn);
        app->im.conn = NULL;
    }
}

static void kafka_backoff(importer_app *app, const char *err) {
    app->kafka_backoff_ms = app->kafka_backoff_ms == 0 ? 1000 : app->kafka_backoff_ms * 2;
    if (app->kafka_backoff_ms > KAFKA_BACKOFF_MAX_MS) {
        app->kafka_backoff_ms = KAFKA_BACKOFF_MAX_MS;
    }
    LOG_ERRORF("importer: %s; the batch stays to produce, retrying in %d ms", err,
               app->kafka_backoff_ms);
    daemon_sleep_ms(app->kafka_backoff_ms);
}

static void sleep_until_due(const importer_app *app) {
    int64_t due = importer_next_due_ns(&app->im);
    int ms = due < 0 ? IDLE_POLL_MS : (int)(due / 1000000);
    if (due >= 0) {
        ms = ms < MIN_SLEEP_MS ? MIN_SLEEP_MS : (ms > MAX_SLEEP_MS ? MAX_SLEEP_MS : ms);
    }
    daemon_sleep_ms(ms);
}

/* One turn of the loop. */
static void step(importer_app *app) {
    char err[512];
    if (app->im.conn == NULL) {
        app->im.conn = pg_pool_acquire(app->pool, PG_ACQUIRE_MS, err, sizeof err);
        if (app->im.conn == NULL) {
            LOG_ERRORF("importer: %s", err);
            daemon_sleep_ms(RETRY_MS);
            return;
        }
    }
    int64_t now = time_monotonic_ns();
    if (now - app->last_scan_ns >= (int64_t)SCAN_INTERVAL_MS * 1000000 || app->im.nowned == 0) {
        app->last_scan_ns = now;
        if (importer_scan(&app->im, err, sizeof err) != 0) {
            LOG_ERRORF("importer: %s", err);
            drop_connection(app);
            daemon_sleep_ms(RETRY_MS);
            return;
        }
    }
    int n = importer_produce(&app->im, err, sizeof err);
    if (n == IMPORTER_ERR_POSTGRES) {
        LOG_ERRORF("importer: %s", err);
        drop_connection(app);
        daemon_sleep_ms(RETRY_MS);
        return;
    }
    if (n == IMPORTER_ERR_KAFKA) {
        kafka_backoff(app, err);
        return;
    }
    app->kafka_backoff_ms = 0;
    sleep_until_due(app);
}

static int start(const taskbus_config *cfg, importer_app *app) {
    char err[512];
    app->im.rate = (double)cfg->import_rate;
    app->im.topic = cfg->import_topic;
    app->im.delivery_timeout_ms = DELIVERY_TIMEOUT_MS;
    app->pool = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (app->pool == NULL) {
        fprintf(stderr, "taskbus-importer: DATABASE_URL: %s\n", err);
        return 2;
    }
    app->im.producer = kafka_producer_create(cfg->kafka_brokers, "taskbus-importer",
                                             KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (app->im.producer == NULL) {
        LOG_ERRORF("importer: %s", err);
        return 1;
    }
    if (daemon_run_migrations(app->pool, cfg->schemas_dir, "importer") != 0) {
        return daemon_should_stop() ? 0 : 1;
    }
    log_json(LOG_INFO, "importer: producing imports",
             json_pack("{s:f,s:s}", "rate_per_import", app->im.rate, "topic", app->im.topic));
    return 0;
}

static void stop(importer_app *app) {
    if (app->im.conn != NULL) {
        importer_forget(&app->im, true);
        pg_pool_release(app->pool, app->im.conn);
        app->im.conn = NULL;
    }
    if (app->im.producer != NULL) {
        kafka_producer_destroy(app->im.producer, FLUSH_MS);
    }
    if (app->pool != NULL) {
        pg_pool_destroy(app->pool);
    }
}

static const daemon_identity IMPORTER = {
    .program = "taskbus-importer",
    .service = "importer",
    .summary = "produces stored bulk imports as task commands, throttled per import",
};

int main(int argc, char **argv) {
    taskbus_config cfg;
    int rc = 0;
    if (!daemon_startup(&IMPORTER, argc, argv, &cfg, &rc)) {
        return rc;
    }
    importer_app app = {0};
    rc = start(&cfg, &app);
    while (rc == 0 && !daemon_should_stop()) {
        step(&app);
    }
    stop(&app);
    config_free(&cfg);
    LOG_INFOF("importer: stopped");
    return rc;
}
