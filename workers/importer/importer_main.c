/*
 * importer_main.c: the taskbus-importer process (bulk imports to task commands, at the
 * speed of the writer's spare capacity).
 *
 * Owns: the importer's row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 3 are the skeleton's; /ready checks Postgres and Kafka):
 * start (one Postgres connection, the producer, the lag probe), the tick loop that joins
 * measurement, throttle and production, and the stop. Rules:
 * - TASKBUS_IMPORT_MAX_RATE / _MIN_RATE (ceiling and floor), _MAX_DELAY_MS and
 *   _MAX_LAG (the congestion thresholds), TASKBUS_IMPORT_TOPIC (where commands go) and
 *   TASKBUS_WRITER_GROUP (whose lag counts) come from shared/config.c with the rest.
 * - A tick (every TICK_MS while imports are owned): check the in-flight ledger against
 *   `commands`, measure the writer's lag, let the throttle (importer_throttle.h) grant
 *   items, split them fairly (importer_throttle_share) and produce them in one
 *   transaction (importer_pass.h). Every Postgres result is checked: a failure drops the
 *   connection (and with it the ownership locks; the owned imports are competed for
 *   again). A Kafka failure of the lag probe only leaves the lag unknown (the throttle
 *   holds); one of the production rolls its tick back and backs off (1 s doubling to 10 s).
 * - Unfinished imports are listed every SCAN_INTERVAL_MS, so a new import starts within
 *   about that and joins the fair share of the running ones.
 * - SIGTERM/SIGINT end the loop between ticks (a tick waits at most DELIVERY_TIMEOUT_MS
 *   for Kafka); the producer is flushed; exit 0.
 * Exit codes: 0 stopped, 1 could not start, 2 bad configuration.
 */
#include <stdio.h>
#include <stdlib.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/daemon_heartbeat.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "shared/time_util.h"
#include "workers/importer/importer_lag.h"
#include "workers/importer/importer_pass.h"
#include "workers/importer/importer_throttle.h"

#define PG_ACQUIRE_MS DAEMON_PG_ACQUIRE_MS
#define RETRY_MS DAEMON_RETRY_MS
#define TICK_MS 20
#define SCAN_INTERVAL_MS 100
#define LAG_TIMEOUT_MS 1000
#define DELIVERY_TIMEOUT_MS 10000
#define KAFKA_BACKOFF_MAX_MS 10000
#define FLUSH_MS 5000
#define REPORT_INTERVAL_MS 5000
#define LAG_WARN_INTERVAL_MS 10000
/* The most items one tick produces, whatever the configuration grants. */
#define TICK_MAX_ITEMS 20000

typedef struct importer_app {
    pg_pool *pool;
    importer im;
    importer_lag *lag;
    importer_throttle throttle;
    int64_t last_scan_ns;
    int64_t produced_last;  /* items of the previous tick, for the throttle */
    int64_t last_report_ns; /* the periodic progress line */
    int64_t last_lag_warn_ns;
    int64_t produced_since_report;
    unsigned turn; /* rotates leftover items of the fair share */
    int kafka_backoff_ms;
} importer_app;

static void drop_connection(importer_app *app, const char *err) {
    LOG_ERRORF("importer: %s", err);
    if (app->im.conn != NULL) {
        importer_forget(&app->im, false);
        pg_conn_mark_broken(app->im.conn); /* a reset ends the session and its locks */
        pg_pool_release(app->pool, app->im.conn);
        app->im.conn = NULL;
    }
    daemon_sleep_ms(RETRY_MS);
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

/* The writer's lag, or -1 when Kafka did not answer (warned about now and then).
 * IMPORTER_LAG_ERR_POSTGRES passes through. */
static int64_t measure_lag(importer_app *app, char *err, size_t errlen) {
    int64_t lag = importer_lag_measure(app->lag, app->im.conn, LAG_TIMEOUT_MS, err, errlen);
    if (lag == IMPORTER_LAG_UNKNOWN) {
        int64_t now = time_monotonic_ns();
        if (now - app->last_lag_warn_ns >= (int64_t)LAG_WARN_INTERVAL_MS * 1000000) {
            app->last_lag_warn_ns = now;
            LOG_WARNF("importer: writer lag unknown (%s); the rate holds", err);
        }
    }
    return lag;
}

/* A line every REPORT_INTERVAL_MS while importing: what the throttle does and why. */
static void report(importer_app *app, const importer_signals *s, int64_t now) {
    app->produced_since_report += app->produced_last;
    if (now - app->last_report_ns < (int64_t)REPORT_INTERVAL_MS * 1000000) {
        return;
    }
    double secs = (double)(now - app->last_report_ns) / 1e9;
    int64_t latency_ms = s->oldest_unapplied_ns >= 0 ? (now - s->oldest_unapplied_ns) / 1000000 : 0;
    importer_inflight *f = &app->im.inflight;
    if (app->last_report_ns != 0) {
        double seen_avg_ms = f->seen_applied > 0
                                 ? (double)f->seen_latency_sum_ns / (double)f->seen_applied / 1e6
                                 : 0;
        log_json(LOG_INFO, "importer: throttle",
                 json_pack("{s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:i}", "rate_allowed",
                           app->throttle.rate, "rate_produced",
                           (double)app->produced_since_report / secs, "writer_lag",
                           (json_int_t)s->lag, "oldest_unapplied_ms", (json_int_t)latency_ms,
                           "in_flight", (json_int_t)s->in_flight, "decreases",
                           (json_int_t)app->throttle.cuts, "seen_applied_avg_ms", seen_avg_ms,
                           "seen_applied_max_ms", (double)f->seen_latency_max_ns / 1e6, "base_ms",
                           (double)importer_throttle_base_ns(&app->throttle) / 1e6, "imports",
                           app->im.nowned));
    }
    f->seen_applied = 0;
    f->seen_latency_sum_ns = 0;
    f->seen_latency_max_ns = 0;
    app->last_report_ns = now;
    app->produced_since_report = 0;
}

/* Measures, asks the throttle, splits and produces. */
static void tick(importer_app *app) {
    char err[512];
    importer *im = &app->im;
    int64_t now = time_monotonic_ns();
    int64_t lag = measure_lag(app, err, sizeof err);
    if (lag == IMPORTER_LAG_ERR_POSTGRES) {
        drop_connection(app, err);
        return;
    }
    /* Forget a batch only while the writer is known to keep up: a writer that is down or
     * far behind keeps every batch counted, so the window stays shut (importer_inflight.h). */
    bool may_forget = lag >= 0 && lag <= app->throttle.cfg.max_lag;
    if (importer_inflight_check(&im->inflight, im->conn, now, may_forget, err, sizeof err) != 0) {
        drop_connection(app, err);
        return;
    }
    importer_signals s = {
        .lag = lag,
        .oldest_unapplied_ns = importer_inflight_oldest_ns(&im->inflight),
        .seen_min_ns = im->inflight.seen_min_ns,
        .in_flight = im->inflight.items,
        .produced = app->produced_last,
    };
    now = time_monotonic_ns();
    int64_t grant = importer_throttle_update(&app->throttle, &s, now);
    if (importer_inflight_room(&im->inflight) < im->nowned) {
        grant = 0; /* each import may add one entry this tick: all must fit */
    }
    grant = grant < TICK_MAX_ITEMS ? grant : TICK_MAX_ITEMS;
    report(app, &s, now);
    int64_t want[IMPORTER_MAX_OWNED], alloc[IMPORTER_MAX_OWNED];
    int user[IMPORTER_MAX_OWNED];
    importer_wants(im, want, user);
    importer_throttle_share(grant, want, user, im->nowned, app->turn++, alloc);
    int64_t n = importer_produce(im, alloc, err, sizeof err);
    if (n == IMPORTER_ERR_POSTGRES) {
        app->produced_last = 0;
        drop_connection(app, err);
        return;
    }
    if (n == IMPORTER_ERR_KAFKA) {
        app->produced_last = 0;
        kafka_backoff(app, err);
        return;
    }
    app->produced_last = n;
    app->kafka_backoff_ms = 0;
}

/* One turn of the loop. */
static void step(importer_app *app) {
    char err[512];
    int64_t start = time_monotonic_ns();
    if (app->im.conn == NULL) {
        app->im.conn = pg_pool_acquire(app->pool, PG_ACQUIRE_MS, err, sizeof err);
        if (app->im.conn == NULL) {
            LOG_ERRORF("importer: %s", err);
            daemon_sleep_ms(RETRY_MS);
            return;
        }
    }
    if (start - app->last_scan_ns >= (int64_t)SCAN_INTERVAL_MS * 1000000) {
        app->last_scan_ns = start;
        if (importer_scan(&app->im, err, sizeof err) != 0) {
            drop_connection(app, err);
            return;
        }
    }
    if (app->im.nowned == 0) {
        /* Idle: the next import slow-starts again (the writer may be busier by then). The
         * ledger is still checked until it is empty, so the next import's first tick does
         * not take the age of long-applied batches for an apply latency. */
        if (app->im.inflight.n > 0 && importer_inflight_check(&app->im.inflight, app->im.conn,
                                                              start, false, err, sizeof err) != 0) {
            drop_connection(app, err);
            return;
        }
        importer_throttle_idle(&app->throttle);
        app->produced_last = 0;
        app->last_report_ns = 0;
        daemon_sleep_ms(SCAN_INTERVAL_MS);
        return;
    }
    tick(app);
    int64_t spent_ms = (time_monotonic_ns() - start) / 1000000;
    if (spent_ms < TICK_MS) {
        daemon_sleep_ms((int)(TICK_MS - spent_ms));
    }
}

static int start(void *vapp, const taskbus_config *cfg) {
    importer_app *app = vapp;
    char err[512];
    if (cfg->import_min_rate > cfg->import_max_rate) {
        fprintf(stderr,
                "taskbus-importer: TASKBUS_IMPORT_MIN_RATE (%d) is above "
                "TASKBUS_IMPORT_MAX_RATE (%d)\n",
                cfg->import_min_rate, cfg->import_max_rate);
        return 2;
    }
    importer_throttle_config tc = importer_throttle_defaults(
        cfg->import_min_rate, cfg->import_max_rate, (int64_t)cfg->import_max_delay_ms * 1000000,
        cfg->import_max_lag);
    importer_throttle_init(&app->throttle, &tc);
    app->im.topic = cfg->import_topic;
    app->im.delivery_timeout_ms = DELIVERY_TIMEOUT_MS;
    app->pool = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (app->pool == NULL) {
        fprintf(stderr, "taskbus-importer: DATABASE_URL: %s\n", err);
        return 2;
    }
    app->im.producer = kafka_producer_create(cfg->kafka_brokers, IMPORTER_CLIENT_ID,
                                             KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (app->im.producer == NULL) {
        LOG_ERRORF("importer: %s", err);
        return 1;
    }
    app->lag = importer_lag_create(cfg->kafka_brokers, cfg->import_topic, cfg->writer_group, err,
                                   sizeof err);
    if (app->lag == NULL) {
        LOG_ERRORF("importer: %s", err);
        return 1;
    }
    if (importer_lag_prepare(app->lag, LAG_TIMEOUT_MS * 5, err, sizeof err) != 0) {
        LOG_WARNF("importer: %s; measured again at the first import", err);
    }
    log_json(LOG_INFO, "importer: producing imports",
             json_pack("{s:i,s:i,s:i,s:i,s:s,s:s}", "max_rate", cfg->import_max_rate, "min_rate",
                       cfg->import_min_rate, "max_delay_ms", cfg->import_max_delay_ms, "max_lag",
                       cfg->import_max_lag, "topic", cfg->import_topic, "writer_group",
                       cfg->writer_group));
    return 0;
}

static int run(void *vapp) {
    importer_app *app = vapp;
    while (!daemon_should_stop()) {
        daemon_heartbeat_touch();
        step(app);
    }
    return 0;
}

static void stop(void *vapp) {
    importer_app *app = vapp;
    if (app->im.conn != NULL) {
        importer_forget(&app->im, true);
        pg_pool_release(app->pool, app->im.conn);
        app->im.conn = NULL;
    }
    if (app->im.producer != NULL) {
        kafka_producer_destroy(app->im.producer, FLUSH_MS);
    }
    importer_lag_destroy(app->lag);
    if (app->pool != NULL) {
        pg_pool_destroy(app->pool);
    }
}

static const daemon_row IMPORTER = {
    .identity =
        {
            .program = "taskbus-importer",
            .service = "importer",
            .summary =
                "produces stored bulk imports as task commands, as fast as the writer keeps up",
        },
    .port_offset = DAEMON_PORT_IMPORTER,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
    .start = start,
    .run = run,
    .stop = stop,
};

int main(int argc, char **argv) {
    importer_app app = {0};
    return daemon_main(&IMPORTER, &app, argc, argv);
}
