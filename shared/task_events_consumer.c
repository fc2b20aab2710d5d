/*
 * task_events_consumer.c: the process of a read-only consumer of task-events (see
 * task_events_consumer.h): task-events, task-events.v2 and user-events.
 *
 * Owns: the pool and the loop of one such process, and their teardown in reverse order;
 * the rest is the skeleton's (shared/daemon.c).
 */
#include "shared/task_events_consumer.h"

#include <stdio.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/log.h"
#include "shared/pg_pool.h"

#define BATCH_WAIT_MS 20
#define FETCH_WAIT_MS 100

typedef struct consumer_app {
    const task_events_consumer *c;
    pg_pool *pg;
    kafka_consumer_loop *loop;
} consumer_app;

/* The pool and the loop. 0, or the exit code to return. */
static int start(void *vapp, const taskbus_config *cfg) {
    consumer_app *app = vapp;
    const task_events_consumer *c = app->c;
    char err[512];
    app->pg = pg_pool_create(cfg->database_url, TASK_EVENTS_CONSUMER_POOL,
                             cfg->pg_statement_timeout_ms, err, sizeof err);
    if (app->pg == NULL) {
        fprintf(stderr, "%s: DATABASE_URL: %s\n", c->identity.program, err);
        return 2;
    }
    /* v1 events for the tables of users, v2 for those of projects, user events for the
     * erasure of deleted users */
    const char *topics[] = {TASK_EVENTS_TOPIC, TASK_EVENTS_V2_TOPIC, USER_EVENTS_TOPIC};
    kafka_consumer_options opts = {
        .brokers = cfg->kafka_brokers,
        .group_id = c->group,
        .topics = topics,
        .ntopics = sizeof topics / sizeof topics[0],
        .batch_max = TASK_EVENTS_CONSUMER_BATCH,
        .batch_wait_ms = BATCH_WAIT_MS,
        .pg = app->pg,
        .on_batch = c->on_batch,
        .after_commit = NULL,
        .lazy_commit = true, /* every effect is a row of the batch transaction */
        .fetch_wait_ms = FETCH_WAIT_MS,
        .whole_stream = true, /* a projection of the whole history: never a partial rebuild */
        .ctx = NULL,
    };
    app->loop = kafka_consumer_loop_create(&opts, err, sizeof err);
    if (app->loop == NULL) {
        LOG_ERRORF("%s: %s", c->identity.service, err);
        return 1;
    }
    return 0;
}

static int run(void *vapp) {
    consumer_app *app = vapp;
    return daemon_run_consumer(
        app->loop, app->c->identity.service,
        TASK_EVENTS_TOPIC ", " TASK_EVENTS_V2_TOPIC " and " USER_EVENTS_TOPIC, app->c->group);
}

static void stop(void *vapp) {
    consumer_app *app = vapp;
    kafka_consumer_loop_destroy(app->loop);
    pg_pool_destroy(app->pg);
}

int task_events_consumer_main(const task_events_consumer *c, int argc, char **argv) {
    daemon_row row = {
        .identity = c->identity,
        .port_offset = c->port_offset,
        .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
        .start = start,
        .run = run,
        .stop = stop,
    };
    consumer_app app = {.c = c};
    return daemon_main(&row, &app, argc, argv);
}
