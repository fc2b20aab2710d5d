/*
 * scheduler_main.c: the taskbus-scheduler process (due-soon reminders).
 *
 * Owns: the scheduler's row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 6 are the skeleton's; /ready checks Postgres, which the
 * reminders need, and Kafka, which the lag observer measures: a scheduler that cannot
 * measure is not ready, so its frozen lag gauges do not pass for fresh ones), start (one Postgres
 * connection), the loop around scheduler_pass.c, and the stop. Rules:
 * - A pass runs every TASKBUS_SCHEDULER_INTERVAL_MS with TASKBUS_REMINDER_LEAD_SECONDS
 *   as its lead; a full pass (SCHEDULER_BATCH_MAX reminders) is followed by another at
 *   once, so a backlog drains without waiting an interval per batch.
 * - Several schedulers may run: the pass locks with SKIP LOCKED and the reminders'
 *   primary key keeps every (task_id, due_at) to one notification.
 * - A failed pass (Postgres down, a constraint) is rolled back, logged, and retried
 *   after the interval (at least DAEMON_RETRY_MS); the connection goes back to the pool,
 *   whose health check resets it when it broke.
 * - Each pass that reminds something gets its own request id (a UUIDv7), carried by its
 *   notifications and logged with the count, so one id follows a reminder to the e-mail.
 * - Retention (scheduler_retention.h): at start and then every
 *   TASKBUS_RETENTION_INTERVAL_SECONDS, analytics_seen_events rows older than
 *   TASKBUS_ANALYTICS_SEEN_RETENTION_SECONDS, then expired project invitations, then the
 *   mailed links a day past their expiry, are deleted in batches until none is left; a failure is
 * logged and retried at the next interval.
 * - The observer (scheduler_observe.h) runs on a thread of its own with its own
 *   connection: every TASKBUS_LAG_INTERVAL_SECONDS the lag of every consumer group, the
 *   outbox backlog and the dead letters pending, as gauges. It failing to start (a bad
 *   Kafka configuration) stops nothing: it is logged and the reminders go on.
 * - SIGTERM/SIGINT end the loop between passes; exit 0.
 * Exit codes: 0 stopped, 1 could not start, 2 bad configuration.
 */
#include <stdio.h>

#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/daemon_heartbeat.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "workers/scheduler/scheduler_observe.h"
#include "workers/scheduler/scheduler_pass.h"
#include "workers/scheduler/scheduler_retention.h"

/* One pass, on a connection acquired for it. The reminder count, or -1 (logged). */
static int run_pass(pg_pool *pool, const taskbus_config *cfg) {
    char err[512];
    pg_conn *conn = pg_pool_acquire(pool, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_ERRORF("scheduler: %s", err);
        return -1;
    }
    char request_id[UUID_STR_LEN];
    uuid7_generate(request_id);
    int n = scheduler_pass(conn, cfg->reminder_lead_s, request_id, err, sizeof err);
    pg_pool_release(pool, conn);
    if (n < 0) {
        LOG_ERRORF("scheduler: pass rolled back: %s", err);
        return -1;
    }
    if (n > 0) {
        log_set_request_id(request_id);
        log_json(LOG_INFO, "scheduler: due-soon reminders enqueued",
                 json_pack("{s:i}", "reminders", n));
        log_set_request_id(NULL);
    }
    return n;
}

/* One retention pass's batch: rows deleted, or -1 with err. */
typedef int (*prune_batch)(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen);

static int prune_seen(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    return scheduler_prune_seen(conn, cfg->analytics_seen_retention_s, err, errlen);
}

static int prune_invitations(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    (void)cfg;
    return scheduler_prune_invitations(conn, err, errlen);
}

/* The mailed links, table by table (a prune_batch names no table: one each). */
static int prune_verifications(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    (void)cfg;
    return scheduler_prune_links(conn, 0, err, errlen);
}
static int prune_resets(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    (void)cfg;
    return scheduler_prune_links(conn, 1, err, errlen);
}
static int prune_changes(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    (void)cfg;
    return scheduler_prune_links(conn, 2, err, errlen);
}
static int prune_reverts(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    (void)cfg;
    return scheduler_prune_links(conn, 3, err, errlen);
}
static int prune_registrations(pg_conn *conn, const taskbus_config *cfg, char *err, size_t errlen) {
    (void)cfg;
    return scheduler_prune_links(conn, 4, err, errlen);
}

/* One pass: batches until one is not full; logs what it deleted, or its failure. */
static void run_prune(pg_conn *conn, const taskbus_config *cfg, prune_batch batch,
                      const char *table) {
    char err[512];
    long long total = 0;
    int n;
    do {
        daemon_heartbeat_touch(); /* a long backlog is many short batches, not a stall */
        n = batch(conn, cfg, err, sizeof err);
        total += n > 0 ? n : 0;
    } while (n == SCHEDULER_RETENTION_BATCH && !daemon_should_stop());
    if (n < 0)
        LOG_ERRORF("scheduler: retention: %s", err);
    if (total > 0)
        log_json(LOG_INFO, "scheduler: retention pruned",
                 json_pack("{s:s,s:I}", "table", table, "deleted", (json_int_t)total));
}

/* The retention passes, each to its end, on one connection. */
static void run_retention(pg_pool *pool, const taskbus_config *cfg) {
    char err[512];
    pg_conn *conn = pg_pool_acquire(pool, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_ERRORF("scheduler: retention: %s", err);
        return;
    }
    static const struct {
        prune_batch batch;
        const char *table;
    } PASSES[] = {
        {prune_seen, "analytics_seen_events"},
        {prune_invitations, "project_invitations"},
        {prune_verifications, "email_verifications"},
        {prune_resets, "password_resets"},
        {prune_changes, "email_changes"},
        {prune_reverts, "email_change_reverts"},
        {prune_registrations, "pending_registrations"},
    };
    for (size_t i = 0; i < sizeof PASSES / sizeof PASSES[0] && !daemon_should_stop(); i++)
        run_prune(conn, cfg, PASSES[i].batch, PASSES[i].table);
    pg_pool_release(pool, conn);
}

typedef struct scheduler_app {
    pg_pool *pool;
    scheduler_observer *observer; /* NULL when it could not start */
    const taskbus_config *cfg;    /* the skeleton's, alive until stop */
} scheduler_app;

static int loop(void *vapp) {
    const scheduler_app *app = vapp;
    pg_pool *pool = app->pool;
    const taskbus_config *cfg = app->cfg;
    int64_t next_retention = 0; /* time_monotonic_ns; 0: at once */
    while (!daemon_should_stop()) {
        daemon_heartbeat_touch();
        int64_t now = time_monotonic_ns();
        if (now >= next_retention) {
            run_retention(pool, cfg);
            next_retention = now + (int64_t)cfg->retention_interval_s * 1000000000LL;
        }
        int n = run_pass(pool, cfg);
        if (n == SCHEDULER_BATCH_MAX) {
            continue; /* a backlog: the next batch at once */
        }
        int pause = cfg->scheduler_interval_ms;
        if (n < 0 && pause < DAEMON_RETRY_MS) {
            pause = DAEMON_RETRY_MS;
        }
        daemon_sleep_ms(pause);
    }
    return 0;
}

/* The observer's thread, or NULL (logged) when it cannot start. */
static scheduler_observer *start_observer(const taskbus_config *cfg) {
    char err[512];
    scheduler_observer *o = scheduler_observer_create(cfg, err, sizeof err);
    if (o == NULL || scheduler_observer_start(o, err, sizeof err) != 0) {
        LOG_ERRORF("scheduler: no lag or outbox gauges: %s", err);
        scheduler_observer_destroy(o);
        return NULL;
    }
    return o;
}

static int start(void *vapp, const taskbus_config *cfg) {
    scheduler_app *app = vapp;
    char err[512];
    app->cfg = cfg;
    app->pool = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (app->pool == NULL) {
        fprintf(stderr, "taskbus-scheduler: DATABASE_URL: %s\n", err);
        return 2;
    }
    log_json(LOG_INFO, "scheduler: reminding due-soon tasks",
             json_pack("{s:i,s:i}", "lead_seconds", cfg->reminder_lead_s, "interval_ms",
                       cfg->scheduler_interval_ms));
    app->observer = start_observer(cfg);
    return 0;
}

static void stop(void *vapp) {
    scheduler_app *app = vapp;
    scheduler_observer_destroy(app->observer);
    pg_pool_destroy(app->pool);
}

static const daemon_row SCHEDULER = {
    .identity =
        {
            .program = "taskbus-scheduler",
            .service = "scheduler",
            .summary = "records due-soon reminders and enqueues their e-mail notifications",
        },
    .port_offset = DAEMON_PORT_SCHEDULER,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
    .start = start,
    .run = loop,
    .stop = stop,
};

int main(int argc, char **argv) {
    scheduler_app app = {0};
    return daemon_main(&SCHEDULER, &app, argc, argv);
}
