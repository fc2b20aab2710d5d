/*
 * admin_reset_consumer.c: taskbus-admin reset-consumer analytics|activity.
 *
 * Owns: the table list of each read-only consumer, the "is it still running" check
 * against its Kafka group, and the one transaction that deletes its rows and offsets (see
 * admin_reset_consumer.h). Rules: table names are constants of this file, never input;
 * every failure rolls back and says why on stderr.
 */
#include "tools/admin/admin_reset_consumer.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/pg_pool.h"
#include "tools/admin/admin_db.h"

#define KAFKA_TIMEOUT_MS 10000

static const char *const ANALYTICS_TABLES[] = {"analytics_daily", "analytics_completions",
                                               "analytics_seen_events", NULL};
static const char *const ACTIVITY_TABLES[] = {"activity", NULL};

static const admin_reset_target TARGETS[] = {
    {"analytics", ANALYTICS_GROUP, ANALYTICS_TABLES},
    {"activity", ACTIVITY_GROUP, ACTIVITY_TABLES},
    {NULL, NULL, NULL},
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

/* The whole reset in one transaction on c. 0, or -1 with err (rolled back). */
static int reset_in_txn(pg_conn *c, const admin_reset_target *t, long long *rows,
                        long long *offsets, char *err, size_t errlen) {
    if (pg_begin(c, err, errlen) != 0) {
        return -1;
    }
    if (admin_reset_forget(c, t, rows, offsets, err, errlen) != 0 ||
        pg_commit(c, err, errlen) != 0) {
        pg_rollback(c);
        return -1;
    }
    return 0;
}

static int reset_tables(const taskbus_config *cfg, const admin_reset_target *t) {
    pg_pool *pool = NULL;
    pg_conn *c = admin_db_open(cfg, &pool);
    if (c == NULL) {
        return 1;
    }
    char err[512];
    long long rows = 0;
    long long offsets = 0;
    int rc = reset_in_txn(c, t, &rows, &offsets, err, sizeof err);
    admin_db_close(pool, c);
    if (rc != 0) {
        fprintf(stderr, "taskbus-admin reset-consumer %s: nothing changed: %s\n", t->name, err);
        return 1;
    }
    printf("reset %s: deleted %lld row(s) and %lld stored offset(s) of group %s; its next "
           "start rebuilds from the beginning of task-events\n",
           t->name, rows, offsets, t->group);
    return 0;
}

int admin_reset_consumer(const taskbus_config *cfg, const char *name) {
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
    return reset_tables(cfg, t);
}
