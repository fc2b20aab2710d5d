/*
 * reporter_main.c: the taskbus-reporter process (the `reports` topic to report files).
 *
 * Owns: the reporter's row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 7 are the skeleton's; /ready checks Postgres and Kafka; a
 * build touches the heartbeat once per page, so a big report is not a stall):
 * start (the Postgres pool; TASKBUS_REPORTS_DIR created when missing), the consumer loop on
 * `reports` as group taskbus-reporter, and shutdown. Rules: one report per batch (BATCH_MAX 1), so
 * a finished report commits, and its notification is released, as soon as its file is in place, and
 * a replay after a crash rebuilds at most one file. The pool has at least two connections: the
 * loop's batch transaction and the side connection a build reads through (reporter_job.h). Between
 * reports (the loop's on_idle), two passes on their own clocks: a retention pass
 * (reporter_retention.h) at start and then every TASKBUS_RETENTION_INTERVAL_SECONDS, and a
 * removals pass (reporter_removals.h: the files of deleted reports) at start and then every
 * REPORTER_REMOVALS_EVERY_MS; a full pass of either is followed by another at the next idle turn, a
 * failed one is logged and retried after DAEMON_RETRY_MS; a pass is logged only when it changed
 * something. SIGTERM/SIGINT finish the current report, commit and exit 0. Exit codes: 0 stopped,
 * 1 could not start or a fatal Kafka error, 2 bad configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/daemon_signals.h"
#include "shared/kafka_consumer.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/time_util.h"
#include "workers/reporter/reporter_job.h"
#include "workers/reporter/reporter_removals.h"
#include "workers/reporter/reporter_retention.h"

#define BATCH_MAX 1
#define BATCH_WAIT_MS 50

typedef struct reporter_app {
    pg_pool *pg;
    reporter_ctx ctx;
    kafka_consumer_loop *loop;
    const char *reports_dir;
} reporter_app;

/* mkdir -p path (mode 0750 for what it creates). 0, or -1 with errno. */
static int make_dirs(const char *path) {
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n < 0 || (size_t)n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

/* A removals pass; sets ctx->next_removals_ns. */
static void removals_turn(reporter_ctx *ctx, long long now) {
    char err[512];
    int removed = 0;
    pg_conn *conn = pg_pool_acquire(ctx->pg, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
    int rc = conn != NULL
                 ? reporter_removals_pass(conn, ctx->reports_dir, &removed, err, sizeof err)
                 : -1;
    if (conn != NULL)
        pg_pool_release(ctx->pg, conn);
    if (rc != 0)
        LOG_WARNF("reporter: removals pass rolled back: %s", err);
    else if (removed > 0)
        log_json(LOG_INFO, "reporter: removals pass", json_pack("{s:i}", "removed", removed));
    ctx->next_removals_ns = now + reporter_removals_wait_ms(rc, removed) * 1000000LL;
}

/* A retention pass; sets ctx->next_retention_ns. */
static void retention_turn(reporter_ctx *ctx, long long now) {
    char err[512];
    reporter_retention_counts n = {0};
    pg_conn *conn = pg_pool_acquire(ctx->pg, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
    int rc = conn != NULL ? reporter_retention_pass(conn, ctx->reports_dir, ctx->retention_s, &n,
                                                    err, sizeof err)
                          : -1;
    if (conn != NULL)
        pg_pool_release(ctx->pg, conn);
    long long wait_ms = (long long)ctx->retention_every_s * 1000;
    if (rc != 0) {
        LOG_WARNF("reporter: retention pass rolled back: %s", err);
        wait_ms = DAEMON_RETRY_MS;
    } else if (n.expired == REPORTER_RETENTION_BATCH || n.deleted == REPORTER_RETENTION_BATCH) {
        wait_ms = 0; /* a backlog: the next pass at the next idle turn */
    }
    if (rc == 0 && (n.expired > 0 || n.deleted > 0))
        log_json(LOG_INFO, "reporter: retention pass",
                 json_pack("{s:i,s:i,s:i}", "expired", n.expired, "deleted", n.deleted,
                           "retention_seconds", ctx->retention_s));
    ctx->next_retention_ns = now + wait_ms * 1000000LL;
}

/* kafka_idle_fn: each pass that is due. */
static void on_idle(void *vctx) {
    reporter_ctx *ctx = vctx;
    long long now = (long long)time_monotonic_ns();
    if (now >= ctx->next_removals_ns)
        removals_turn(ctx, now);
    if (now >= ctx->next_retention_ns)
        retention_turn(ctx, now);
}

static int start(void *vapp, const taskbus_config *cfg) {
    reporter_app *app = vapp;
    pg_pool **pg = &app->pg;
    reporter_ctx *ctx = &app->ctx;
    kafka_consumer_loop **loop = &app->loop;
    app->reports_dir = cfg->reports_dir;
    char err[512];
    if (make_dirs(cfg->reports_dir) != 0) {
        fprintf(stderr, "taskbus-reporter: TASKBUS_REPORTS_DIR %s: %s\n", cfg->reports_dir,
                strerror(errno));
        return 2;
    }
    int size = cfg->pg_pool_size < 2 ? 2 : cfg->pg_pool_size;
    *pg = pg_pool_create(cfg->database_url, size, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (*pg == NULL) {
        fprintf(stderr, "taskbus-reporter: DATABASE_URL: %s\n", err);
        return 2;
    }
    ctx->pg = *pg;
    ctx->reports_dir = cfg->reports_dir;
    ctx->retention_s = cfg->report_retention_s;
    ctx->retention_every_s = cfg->retention_interval_s;
    ctx->next_retention_ns = 0;
    ctx->next_removals_ns = 0;
    const char *topics[1] = {REPORTS_TOPIC};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = REPORTER_GROUP,
        .topics = topics,
        .ntopics = 1,
        .batch_max = BATCH_MAX,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = *pg,
        .on_batch = reporter_on_batch,
        .after_commit = NULL,
        .ctx = ctx,
        .on_idle = on_idle,
    };
    *loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (*loop == NULL) {
        LOG_ERRORF("reporter: %s", err);
        return 1;
    }
    return 0;
}

static int run(void *vapp) {
    reporter_app *app = vapp;
    LOG_INFOF("reporter: consuming %s as group %s into %s", REPORTS_TOPIC, REPORTER_GROUP,
              app->reports_dir);
    return kafka_consumer_loop_run(app->loop, daemon_stop_flag()) == 0 ? 0 : 1;
}

static void stop(void *vapp) {
    reporter_app *app = vapp;
    kafka_consumer_loop_destroy(app->loop);
    pg_pool_destroy(app->pg);
}

static const daemon_row REPORTER = {
    .identity =
        {
            .program = "taskbus-reporter",
            .service = "reporter",
            .summary = "builds the CSV and JSON reports requested on the reports topic",
        },
    .port_offset = DAEMON_PORT_REPORTER,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
    .start = start,
    .run = run,
    .stop = stop,
};

int main(int argc, char **argv) {
    reporter_app app = {0};
    return daemon_main(&REPORTER, &app, argc, argv);
}
