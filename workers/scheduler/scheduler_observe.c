/*
 * scheduler_observe.c: the observer's pass and thread (see scheduler_observe.h).
 * Rules: the thread owns its connection pool and the partition scratch; stop is the only
 * field another thread touches (atomic). Watermarks are read once per topic and pass, the
 * groups on one topic sharing them.
 */
#include "workers/scheduler/scheduler_observe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/bus.h"
#include "shared/daemon_signals.h"
#include "shared/errbuf.h"
#include "shared/kafka_lag.h"
#include "shared/log.h"
#include "shared/metric_families.h"

#define DLQ_NAME_MAX 256

struct scheduler_observer {
    const taskbus_config *cfg;
    kafka_lag *lag;
    scheduler_observed groups[OBSERVE_MAX_GROUPS];
    size_t ngroups;
    char dlqs[OBSERVE_MAX_DLQS][DLQ_NAME_MAX];
    size_t ndlqs;
    kafka_lag_partition parts[KAFKA_LAG_MAX_PARTITIONS]; /* scratch of the running pass */
    int64_t marks[KAFKA_LAG_MAX_PARTITIONS];             /* scratch: marks per partition */
    pg_pool *pool;                                       /* the thread's, once started */
    pthread_t thread;
    bool started;
    bool failing; /* the latest pass failed (logged once per streak) */
    atomic_bool stop;
};

static const pg_stmt OUTBOX = {
    .name = "observe_outbox",
    .sql = "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8"
           " FROM outbox WHERE published_at IS NULL",
    .nparams = 0,
};

/* Marks per partition at or above `dlq replay --all`'s progress there. */
static const pg_stmt DLQ_MARKS = {
    .name = "observe_dlq_marks",
    .sql = "SELECT m.partition, count(*) FROM dlq_marks m"
           " LEFT JOIN kafka_consumer_offsets o ON o.group_id = $2 AND o.topic = m.dlq_topic"
           "  AND o.partition = m.partition"
           " WHERE m.dlq_topic = $1 AND m.\"offset\" >= COALESCE(o.next_offset, 0)"
           " GROUP BY m.partition",
    .nparams = 2,
};

size_t scheduler_observed_groups(const taskbus_config *cfg, scheduler_observed *out, size_t max) {
    const scheduler_observed all[] = {
        {cfg->writer_group, cfg->writer_topic}, {NOTIFIER_GROUP, NOTIFICATIONS_TOPIC},
        {REPORTER_GROUP, REPORTS_TOPIC},        {WEBHOOKS_GROUP, TASK_EVENTS_TOPIC},
        {ANALYTICS_GROUP, TASK_EVENTS_TOPIC},   {ACTIVITY_GROUP, TASK_EVENTS_TOPIC},
        {WEBHOOKS_GROUP, TASK_EVENTS_V2_TOPIC}, {ANALYTICS_GROUP, TASK_EVENTS_V2_TOPIC},
        {ACTIVITY_GROUP, TASK_EVENTS_V2_TOPIC},
    };
    size_t n = sizeof all / sizeof all[0];
    n = n < max ? n : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = all[i];
    }
    return n;
}

scheduler_observer *scheduler_observer_create(const taskbus_config *cfg, char *err, size_t errlen) {
    scheduler_observer *o = calloc(1, sizeof *o);
    if (o == NULL) {
        errbuf_setf(err, errlen, "observer: out of memory");
        return NULL;
    }
    o->cfg = cfg;
    atomic_init(&o->stop, false);
    o->ngroups = scheduler_observed_groups(cfg, o->groups, OBSERVE_MAX_GROUPS);
    if (bus_dlq_topic(o->dlqs[0], DLQ_NAME_MAX, cfg->writer_topic) != 0 ||
        bus_dlq_topic(o->dlqs[1], DLQ_NAME_MAX, NOTIFICATIONS_TOPIC) != 0) {
        errbuf_setf(err, errlen, "observer: a dead-letter topic name is too long");
        free(o);
        return NULL;
    }
    o->ndlqs = 2;
    o->lag = kafka_lag_create(cfg->kafka_brokers, SCHEDULER_LAG_CLIENT_ID, err, errlen);
    if (o->lag == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

/* taskbus_outbox_*. 0, or -1 with err. */
static int observe_outbox(pg_conn *conn, char *err, size_t errlen) {
    PGresult *res = pg_exec_stmt(conn, &OUTBOX, NULL);
    if (!pg_result_ok(res) || PQntuples(res) != 1) {
        errbuf_setf_line(err, errlen, "outbox backlog: %s",
                         res != NULL ? PQresultErrorMessage(res) : "connection lost");
        PQclear(res);
        return -1;
    }
    metric_outbox(strtoll(PQgetvalue(res, 0, 0), NULL, 10), strtod(PQgetvalue(res, 0, 1), NULL));
    PQclear(res);
    return 0;
}

/* taskbus_consumer_lag of every group. 0, or -1 with err (the first failure). */
static int observe_lag(scheduler_observer *o, pg_conn *conn, char *err, size_t errlen) {
    int rc = 0;
    const char *topic = NULL; /* the topic whose watermarks parts holds */
    int n = KAFKA_LAG_UNKNOWN;
    for (size_t g = 0; g < o->ngroups; g++) {
        const scheduler_observed *ob = &o->groups[g];
        char why[256] = "";
        if (topic == NULL || strcmp(topic, ob->topic) != 0) {
            topic = ob->topic;
            n = kafka_lag_watermarks(o->lag, topic, true, o->parts, KAFKA_LAG_MAX_PARTITIONS,
                                     OBSERVE_KAFKA_TIMEOUT_MS, why, sizeof why);
        } else {
            for (int p = 0; p < n; p++) {
                o->parts[p].stored = KAFKA_LAG_NO_OFFSET; /* the previous group's */
            }
        }
        if (n >= 0 && kafka_lag_stored(conn, ob->group, topic, o->parts, n, why, sizeof why) != 0) {
            n = KAFKA_LAG_UNKNOWN;
            topic = NULL;
        }
        if (n < 0) {
            if (rc == 0) {
                errbuf_setf(err, errlen, "lag of %s: %s", ob->group, why);
            }
            rc = -1;
            continue;
        }
        for (int p = 0; p < n; p++) {
            metric_consumer_lag(ob->group, topic, p, kafka_lag_of(&o->parts[p]));
        }
    }
    return rc;
}

/* taskbus_dlq_pending of one dead-letter topic. 0, or -1 with err. */
static int observe_dlq(scheduler_observer *o, pg_conn *conn, const char *dlq, char *err,
                       size_t errlen) {
    int n = kafka_lag_watermarks(o->lag, dlq, true, o->parts, KAFKA_LAG_MAX_PARTITIONS,
                                 OBSERVE_KAFKA_TIMEOUT_MS, err, errlen);
    if (n < 0 || kafka_lag_stored(conn, DLQ_REPLAY_GROUP, dlq, o->parts, n, err, errlen) != 0) {
        return -1;
    }
    const char *values[2] = {dlq, DLQ_REPLAY_GROUP};
    PGresult *res = pg_exec_stmt(conn, &DLQ_MARKS, values);
    if (!pg_result_ok(res)) {
        errbuf_setf_line(err, errlen, "dlq marks of %s: %s", dlq,
                         res != NULL ? PQresultErrorMessage(res) : "connection lost");
        PQclear(res);
        return -1;
    }
    memset(o->marks, 0, sizeof o->marks[0] * (size_t)n);
    for (int r = 0; r < PQntuples(res); r++) {
        long p = strtol(PQgetvalue(res, r, 0), NULL, 10);
        if (p >= 0 && p < n) {
            o->marks[p] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        }
    }
    PQclear(res);
    int64_t pending = 0;
    for (int p = 0; p < n; p++) {
        int64_t left = kafka_lag_of(&o->parts[p]) - o->marks[p];
        pending += left > 0 ? left : 0;
    }
    metric_dlq_pending(dlq, pending);
    return 0;
}

int scheduler_observer_pass(scheduler_observer *o, pg_conn *conn, char *err, size_t errlen) {
    char why[512] = "";
    int rc = observe_outbox(conn, err, errlen);
    if (observe_lag(o, conn, why, sizeof why) != 0) {
        if (rc == 0) {
            errbuf_setf(err, errlen, "%s", why);
        }
        rc = -1;
    }
    for (size_t i = 0; i < o->ndlqs; i++) {
        if (observe_dlq(o, conn, o->dlqs[i], why, sizeof why) != 0) {
            if (rc == 0) {
                errbuf_setf(err, errlen, "%s", why);
            }
            rc = -1;
        }
    }
    return rc;
}

/* One pass on the thread's connection, logged when it starts or stops failing. */
static void run_pass(scheduler_observer *o) {
    char err[512] = "";
    pg_conn *conn = pg_pool_acquire(o->pool, OBSERVE_KAFKA_TIMEOUT_MS, err, sizeof err);
    int rc = -1;
    if (conn != NULL) {
        rc = scheduler_observer_pass(o, conn, err, sizeof err);
        pg_pool_release(o->pool, conn);
    }
    if (rc != 0 && !o->failing) {
        LOG_WARNF("scheduler: observer: %s (gauges keep their last values)", err);
    } else if (rc == 0 && o->failing) {
        LOG_INFOF("scheduler: observer: measuring again");
    }
    o->failing = rc != 0;
}

static void *observer_main(void *arg) {
    scheduler_observer *o = arg;
    while (!atomic_load(&o->stop) && !daemon_should_stop()) {
        run_pass(o);
        /* The interval in 100 ms steps, so a stop is seen at once. */
        for (int left = o->cfg->lag_interval_s * 1000;
             left > 0 && !atomic_load(&o->stop) && !daemon_should_stop(); left -= 100) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100L * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int scheduler_observer_start(scheduler_observer *o, char *err, size_t errlen) {
    char why[256];
    o->pool =
        pg_pool_create(o->cfg->database_url, 1, o->cfg->pg_statement_timeout_ms, why, sizeof why);
    if (o->pool == NULL) {
        errbuf_setf(err, errlen, "observer: %s", why);
        return -1;
    }
    int e = pthread_create(&o->thread, NULL, observer_main, o);
    if (e != 0) {
        errbuf_setf(err, errlen, "observer: thread: %s", strerror(e));
        pg_pool_destroy(o->pool);
        o->pool = NULL;
        return -1;
    }
    o->started = true;
    return 0;
}

void scheduler_observer_destroy(scheduler_observer *o) {
    if (o == NULL) {
        return;
    }
    if (o->started) {
        atomic_store(&o->stop, true);
        pthread_join(o->thread, NULL);
    }
    pg_pool_destroy(o->pool);
    kafka_lag_destroy(o->lag);
    free(o);
}
