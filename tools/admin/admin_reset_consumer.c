/*
 * admin_reset_consumer.c: taskbus-admin reset-consumer analytics|activity.
 *
 * Owns: the table list of each read-only consumer, the "is it still running" check
 * against its Kafka group, the "do task-events and task-events.v2 still start at offset 0"
 * check (their low watermarks, read through shared/kafka_lag.h), and the one transaction that
 * deletes its rows and offsets (and, with --accept-partial, stores the low watermarks as the
 * group's next offsets) (see admin_reset_consumer.h). Rules: table names are constants of this
 * file, never input; nothing is deleted before both checks passed; every failure rolls back and
 * says why on stderr.
 */
#include "tools/admin/admin_reset_consumer.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/kafka_lag.h"
#include "shared/pg_pool.h"
#include "tools/admin/admin_db.h"

#define KAFKA_TIMEOUT_MS 10000

const char *const ADMIN_STREAM_TOPICS[ADMIN_STREAMS] = {TASK_EVENTS_TOPIC, TASK_EVENTS_V2_TOPIC};

static const char *const ANALYTICS_TABLES[] = {
    "analytics_daily",         "analytics_completions",
    "analytics_project_daily", "analytics_project_completions",
    "analytics_seen_events",   NULL};
static const char *const ACTIVITY_TABLES[] = {"activity", "project_activity", NULL};

static const admin_reset_target TARGETS[] = {
    {"analytics", ANALYTICS_GROUP, ANALYTICS_TABLES},
    {"activity", ACTIVITY_GROUP, ACTIVITY_TABLES},
    {NULL, NULL, NULL},
};

static const pg_stmt STMT_START_AT = {
    .name = "admin_reset_consumer_start_at",
    .sql = "INSERT INTO kafka_consumer_offsets(group_id, topic, partition, next_offset)"
           " VALUES ($1, $2, $3, $4)",
    .nparams = 4,
};

static const pg_stmt STMT_FORGET_OFFSETS = {
    .name = "admin_reset_consumer_offsets",
    .sql = "DELETE FROM kafka_consumer_offsets WHERE group_id = $1",
    .nparams = 1,
};

const admin_reset_target *admin_reset_target_find(const char *name) {
    for (const admin_reset_target *t = TARGETS; t->name != NULL; t++) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }
    return NULL;
}

/* Silent: a failure comes back as the group probe's result. */
static rd_kafka_t *kafka_client(const char *brokers, char *err, size_t errlen) {
    const char *const kv[][2] = {{"client.id", ADMIN_CLIENT_ID}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_SILENT, err, errlen);
    return conf != NULL ? kafka_conf_open(RD_KAFKA_PRODUCER, conf, "kafka", err, errlen) : NULL;
}

/* Members of group now: >= 0, or -1 when Kafka could not say (err). */
static int group_members(const char *brokers, const char *group, char *err, size_t errlen) {
    rd_kafka_t *rk = kafka_client(brokers, err, errlen);
    if (rk == NULL) {
        return -1;
    }
    const struct rd_kafka_group_list *list = NULL;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(rk, group, &list, KAFKA_TIMEOUT_MS);
    int members = -1;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "cannot describe Kafka group %s: %s", group, rd_kafka_err2str(e));
    } else {
        members = 0;
        for (int i = 0; i < list->group_cnt; i++) {
            members += list->groups[i].member_cnt;
        }
        rd_kafka_group_list_destroy(list);
    }
    rd_kafka_destroy(rk);
    return members;
}

void admin_stream_start_free(admin_stream_start *s) {
    free(s->low);
    free(s->high);
    *s = (admin_stream_start){.topic = s->topic};
}

bool admin_stream_start_partial(const admin_stream_start *s) {
    for (int p = 0; p < s->partitions; p++) {
        if (s->low[p] > 0) {
            return true;
        }
    }
    return false;
}

int admin_stream_start_query(const char *brokers, const char *topic, admin_stream_start *out,
                             char *err, size_t errlen) {
    *out = (admin_stream_start){.topic = topic};
    kafka_lag *lag = kafka_lag_create(brokers, ADMIN_CLIENT_ID, err, errlen);
    if (lag == NULL) {
        return -1;
    }
    /* The shared watermark query (shared/kafka_lag.h): one ListOffsets request per leader
     * for each of the low and high watermarks, each bounded by KAFKA_TIMEOUT_MS. */
    kafka_lag_partition *parts = calloc(KAFKA_LAG_MAX_PARTITIONS, sizeof *parts);
    int n = parts != NULL ? kafka_lag_watermarks(lag, topic, true, parts, KAFKA_LAG_MAX_PARTITIONS,
                                                 KAFKA_TIMEOUT_MS, err, errlen)
                          : KAFKA_LAG_UNKNOWN;
    if (parts == NULL) {
        errbuf_setf(err, errlen, "out of memory");
    }
    kafka_lag_destroy(lag);
    if (n < 0) {
        free(parts);
        return -1;
    }
    out->low = calloc(n > 0 ? (size_t)n : 1, sizeof *out->low);
    out->high = calloc(n > 0 ? (size_t)n : 1, sizeof *out->high);
    out->partitions = n;
    if (out->low == NULL || out->high == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        free(parts);
        admin_stream_start_free(out);
        return -1;
    }
    for (int p = 0; p < n; p++) {
        out->low[p] = parts[p].low;
        out->high[p] = parts[p].high;
    }
    free(parts);
    return 0;
}

/* Runs one DELETE; adds the rows it removed to *deleted. 0, or -1 with err. */
static int delete_rows(pg_conn *c, const char *table, long long *deleted, char *err,
                       size_t errlen) {
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s", table);
    PGresult *res = pg_exec_sql(c, sql);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc == 0) {
        *deleted += strtoll(PQcmdTuples(res), NULL, 10);
    } else {
        errbuf_setf(err, errlen, "%s: %s", sql,
                    res != NULL ? PQresultErrorMessage(res) : "connection lost");
    }
    PQclear(res);
    return rc;
}

static int forget_offsets(pg_conn *c, const char *group, long long *forgotten, char *err,
                          size_t errlen) {
    const char *values[1] = {group};
    PGresult *res = pg_exec_stmt(c, &STMT_FORGET_OFFSETS, values);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc == 0) {
        *forgotten = strtoll(PQcmdTuples(res), NULL, 10);
    } else {
        errbuf_setf(err, errlen, "deleting the offsets of %s: %s", group,
                    res != NULL ? PQresultErrorMessage(res) : "connection lost");
    }
    PQclear(res);
    return rc;
}

int admin_reset_forget(pg_conn *c, const admin_reset_target *t, long long *rows, long long *offsets,
                       char *err, size_t errlen) {
    *rows = 0;
    *offsets = 0;
    for (size_t i = 0; t->tables[i] != NULL; i++) {
        if (delete_rows(c, t->tables[i], rows, err, errlen) != 0) {
            return -1;
        }
    }
    return forget_offsets(c, t->group, offsets, err, errlen);
}

int admin_reset_start_at(pg_conn *c, const admin_reset_target *t, const admin_stream_start *s,
                         char *err, size_t errlen) {
    for (int p = 0; p < s->partitions; p++) {
        char part[16];
        char next[32];
        snprintf(part, sizeof part, "%d", p);
        snprintf(next, sizeof next, "%lld", (long long)s->low[p]);
        const char *values[4] = {t->group, s->topic, part, next};
        PGresult *res = pg_exec_stmt(c, &STMT_START_AT, values);
        int rc = pg_result_ok(res) ? 0 : -1;
        if (rc != 0) {
            errbuf_setf(err, errlen, "storing the start offsets of %s: %s", t->group,
                        res != NULL ? PQresultErrorMessage(res) : "connection lost");
        }
        PQclear(res);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* The whole reset in one transaction on c; start (NULL, or one per ADMIN_STREAM_TOPICS) is
 * stored as the group's next offsets. 0, or -1 with err (rolled back). */
static int reset_in_txn(pg_conn *c, const admin_reset_target *t, const admin_stream_start *start,
                        long long *rows, long long *offsets, char *err, size_t errlen) {
    if (pg_begin(c, err, errlen) != 0) {
        return -1;
    }
    int rc = admin_reset_forget(c, t, rows, offsets, err, errlen);
    for (int i = 0; rc == 0 && start != NULL && i < ADMIN_STREAMS; i++) {
        rc = admin_reset_start_at(c, t, &start[i], err, errlen);
    }
    if (rc != 0 || pg_commit(c, err, errlen) != 0) {
        pg_rollback(c);
        return -1;
    }
    return 0;
}

/* start: NULL for a whole rebuild, else the partial one's first offsets (one per
 * ADMIN_STREAM_TOPICS). */
static int reset_tables(const taskbus_config *cfg, const admin_reset_target *t,
                        const admin_stream_start *start) {
    pg_pool *pool = NULL;
    pg_conn *c = admin_db_open(cfg, &pool);
    if (c == NULL) {
        return 1;
    }
    char err[512];
    long long rows = 0;
    long long offsets = 0;
    int rc = reset_in_txn(c, t, start, &rows, &offsets, err, sizeof err);
    admin_db_close(pool, c);
    if (rc != 0) {
        fprintf(stderr, "taskbus-admin reset-consumer %s: nothing changed: %s\n", t->name, err);
        return 1;
    }
    if (start == NULL) {
        printf("reset %s: deleted %lld row(s) and %lld stored offset(s) of group %s; its next "
               "start rebuilds from the beginning of %s and %s\n",
               t->name, rows, offsets, t->group, ADMIN_STREAM_TOPICS[0], ADMIN_STREAM_TOPICS[1]);
        return 0;
    }
    printf("reset %s: deleted %lld row(s) and %lld stored offset(s) of group %s; PARTIAL "
           "rebuild accepted: its next start reads from these offsets:\n",
           t->name, rows, offsets, t->group);
    for (int i = 0; i < ADMIN_STREAMS; i++) {
        for (int p = 0; p < start[i].partitions; p++) {
            printf("  %s partition %d: starts at %lld, %lld record(s) skipped (deleted by "
                   "retention)\n",
                   start[i].topic, p, (long long)start[i].low[p], (long long)start[i].low[p]);
        }
    }
    return 0;
}

/* The refusal of a rebuild that would miss records (start: one per ADMIN_STREAM_TOPICS):
 * what was lost and the choices. */
static void refuse_partial(const admin_reset_target *t, const admin_stream_start *start) {
    fprintf(stderr,
            "taskbus-admin reset-consumer %s: nothing changed: a topic no longer starts at "
            "offset 0 (records were deleted by retention), so a rebuild would silently miss "
            "them:\n",
            t->name);
    for (int i = 0; i < ADMIN_STREAMS; i++) {
        const admin_stream_start *s = &start[i];
        for (int p = 0; p < s->partitions; p++) {
            if (s->low[p] > 0) {
                fprintf(stderr,
                        "  %s partition %d: offsets 0-%lld lost; first offset still held %lld "
                        "(end %lld)\n",
                        s->topic, p, (long long)s->low[p] - 1, (long long)s->low[p],
                        (long long)s->high[p]);
            }
        }
    }
    fprintf(stderr,
            "choices: keep the current %s tables (they still hold the lost records' "
            "effects) and raise TASKBUS_EVENTS_RETENTION (default forever; then run "
            "`taskbus-admin topics`) so it does not grow worse; or rebuild from what is left "
            "with `taskbus-admin reset-consumer %s --accept-partial` (the tables will lack "
            "the lost records); see docs/runbook.md \"retention gap\"\n",
            t->name, t->name);
}

int admin_reset_consumer(const taskbus_config *cfg, const char *name, bool accept_partial) {
    const admin_reset_target *t = admin_reset_target_find(name);
    if (t == NULL) {
        fprintf(stderr,
                "taskbus-admin reset-consumer: unknown consumer %.100s (analytics or "
                "activity)\n",
                name);
        return 2;
    }
    char err[512] = "";
    int members = group_members(cfg->kafka_brokers, t->group, err, sizeof err);
    if (members != 0) {
        if (members > 0) {
            snprintf(err, sizeof err, "group %s has %d running member(s); stop taskbus-%s first",
                     t->group, members, t->name);
        }
        fprintf(stderr, "taskbus-admin reset-consumer %s: nothing changed: %s\n", t->name, err);
        return 1;
    }
    /* Before anything is deleted: do the streams still hold everything? */
    admin_stream_start start[ADMIN_STREAMS] = {{0}};
    bool partial = false;
    int rc = 0;
    for (int i = 0; rc == 0 && i < ADMIN_STREAMS; i++) {
        rc = admin_stream_start_query(cfg->kafka_brokers, ADMIN_STREAM_TOPICS[i], &start[i], err,
                                      sizeof err);
        partial = partial || (rc == 0 && admin_stream_start_partial(&start[i]));
    }
    if (rc != 0) {
        fprintf(stderr, "taskbus-admin reset-consumer %s: nothing changed: %s\n", t->name, err);
        rc = 1;
    } else if (!partial) {
        rc = reset_tables(cfg, t, NULL);
    } else if (!accept_partial) {
        refuse_partial(t, start);
        rc = 1;
    } else {
        rc = reset_tables(cfg, t, start);
    }
    for (int i = 0; i < ADMIN_STREAMS; i++) {
        admin_stream_start_free(&start[i]);
    }
    return rc;
}
