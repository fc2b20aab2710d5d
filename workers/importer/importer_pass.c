/*
 * importer_pass.c: scan, own, produce and mark imports (see importer_pass.h).
 * Rules: every Postgres failure is reported as IMPORTER_ERR_POSTGRES so the caller drops
 * the connection (and with it the ownership locks); a Kafka failure rolls the tick's
 * transaction back and keeps the connection. taskbus_import_lines_total counts a tick's
 * items once it committed (produced) or rolled back after claiming them (retried).
 */
#include "workers/importer/importer_pass.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metric_families.h"
#include "shared/pg_locks.h"
#include "shared/task_command_codec.h"
#include "shared/time_util.h"
#include "shared/trace_context.h"
#include "workers/importer/importer_sql.h"

static const pg_stmt LIST_UNFINISHED = {
    .name = "importer_unfinished",
    .sql = "SELECT id, user_id FROM imports WHERE status IN ('queued', 'running')"
           " ORDER BY created_at, id LIMIT $1::int",
    .nparams = 1,
};

static const pg_stmt TRY_OWN = {
    .name = "importer_try_own",
    .sql =
        "SELECT pg_try_advisory_lock(" PG_LOCK_SQL(PG_LOCK_IMPORTER_CLASS) ", hashtext($1::text))",
    .nparams = 1,
};

static const pg_stmt DISOWN = {
    .name = "importer_disown",
    .sql = "SELECT pg_advisory_unlock(" PG_LOCK_SQL(PG_LOCK_IMPORTER_CLASS) ", hashtext($1::text))",
    .nparams = 1,
};

static const pg_stmt COUNT_LEFT = {
    .name = "importer_left",
    .sql = "SELECT count(*) FROM import_items WHERE import_id = $1::uuid AND produced_at IS NULL",
    .nparams = 1,
};

static const pg_stmt CLAIM_ITEMS = {
    .name = "importer_claim",
    .sql = "SELECT seq, command_id, task_id, fields::text FROM import_items"
           " WHERE import_id = $1::uuid AND produced_at IS NULL"
           " ORDER BY seq LIMIT $2::int FOR UPDATE SKIP LOCKED",
    .nparams = 2,
};

static const pg_stmt MARK_PRODUCED = {
    .name = "importer_mark",
    .sql = "UPDATE import_items SET produced_at = now()"
           " WHERE import_id = $1::uuid AND seq = ANY($2::int[])",
    .nparams = 2,
};

static const pg_stmt SET_STATUS = {
    .name = "importer_status",
    .sql = "UPDATE imports i SET status = s.status,"
           " finished_at = CASE WHEN s.status = 'done' THEN now() END"
           " FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM import_items"
           "   WHERE import_id = $1::uuid AND produced_at IS NULL)"
           "   THEN 'running' ELSE 'done' END AS status) s"
           " WHERE i.id = $1::uuid RETURNING i.status",
    .nparams = 1,
};

static importer_import *find_owned(importer *im, const char *id) {
    for (int i = 0; i < im->nowned; i++) {
        if (strcmp(im->owned[i].id, id) == 0) {
            return &im->owned[i];
        }
    }
    return NULL;
}

/* Releases owned[i] (unlock when the connection still works) and removes it, keeping the
 * others in the order they were owned. */
static void disown(importer *im, int i, bool unlock) {
    if (unlock) {
        const char *values[1] = {im->owned[i].id};
        char err[256];
        PGresult *res = importer_exec(im->conn, &DISOWN, values, err, sizeof err);
        if (res == NULL) {
            /* The next statement on the connection fails too and drops it, which ends the
             * session and so its locks. */
            LOG_WARNF("importer: releasing import %s: %s", im->owned[i].id, err);
        }
        PQclear(res);
    }
    memmove(&im->owned[i], &im->owned[i + 1], (size_t)(im->nowned - i - 1) * sizeof im->owned[0]);
    im->nowned--;
}

/* The fair-share key of user_id: the key of an owned import of the same user, else one
 * no owned import has. */
static int user_key(const importer *im, const char *user_id) {
    int unused = 0;
    for (int i = 0; i < im->nowned; i++) {
        if (strcmp(im->owned[i].user_id, user_id) == 0) {
            return im->owned[i].user;
        }
        if (im->owned[i].user >= unused) {
            unused = im->owned[i].user + 1;
        }
    }
    return unused;
}

/* Counts the items of imp still to produce. 0, or IMPORTER_ERR_POSTGRES. */
static int count_left(importer *im, importer_import *imp, char *err, size_t errlen) {
    const char *values[1] = {imp->id};
    PGresult *res = importer_exec(im->conn, &COUNT_LEFT, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_ERR_POSTGRES;
    }
    imp->left = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

/* Tries to own the listed import and counts what is left of it. 0, or
 * IMPORTER_ERR_POSTGRES. */
static int try_own(importer *im, const char *id, const char *user_id, char *err, size_t errlen) {
    const char *values[1] = {id};
    PGresult *res = importer_exec(im->conn, &TRY_OWN, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_ERR_POSTGRES;
    }
    bool owned = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!owned) {
        return 0;
    }
    importer_import *imp = &im->owned[im->nowned];
    memset(imp, 0, sizeof *imp);
    snprintf(imp->id, sizeof imp->id, "%s", id);
    snprintf(imp->user_id, sizeof imp->user_id, "%s", user_id);
    imp->user = user_key(im, user_id);
    imp->owned_ns = time_monotonic_ns();
    imp->seen = true;
    im->nowned++;
    if (count_left(im, imp, err, errlen) != 0) {
        return IMPORTER_ERR_POSTGRES; /* the caller drops the connection and every lock */
    }
    LOG_INFOF("importer: producing import %s (%lld items left)", id, (long long)imp->left);
    return 0;
}

int importer_scan(importer *im, char *err, size_t errlen) {
    char limit[16];
    snprintf(limit, sizeof limit, "%d", IMPORTER_SCAN_LIMIT);
    const char *values[1] = {limit};
    PGresult *res = importer_exec(im->conn, &LIST_UNFINISHED, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_ERR_POSTGRES;
    }
    for (int i = 0; i < im->nowned; i++) {
        im->owned[i].seen = false;
    }
    int rc = 0;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        importer_import *imp = find_owned(im, PQgetvalue(res, r, 0));
        if (imp != NULL) {
            imp->seen = true;
            if (imp->left == 0) {
                rc = count_left(im, imp, err, errlen); /* listed, yet nothing was left */
            }
        } else if (im->nowned < IMPORTER_MAX_OWNED) {
            rc = try_own(im, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), err, errlen);
        }
    }
    PQclear(res);
    for (int i = im->nowned - 1; i >= 0 && rc == 0; i--) {
        if (!im->owned[i].seen) {
            disown(im, i, true); /* finished or deleted meanwhile */
        }
    }
    return rc;
}

void importer_wants(const importer *im, int64_t *want, int *user) {
    for (int i = 0; i < im->nowned; i++) {
        want[i] = im->owned[i].left > 0 ? im->owned[i].left : 0;
        user[i] = im->owned[i].user;
    }
}

/* Enqueues the command of row r into group. 0, or -1 with err. */
static int enqueue_row(importer *im, const importer_import *imp, const PGresult *rows, int r,
                       kafka_delivery_group *group, char *err, size_t errlen) {
    task_command cmd = {.type = TASK_CMD_CREATE, .expected_version = -1};
    snprintf(cmd.command_id, sizeof cmd.command_id, "%s", PQgetvalue(rows, r, 1));
    snprintf(cmd.task_id, sizeof cmd.task_id, "%s", PQgetvalue(rows, r, 2));
    snprintf(cmd.user_id, sizeof cmd.user_id, "%s", imp->user_id);
    snprintf(cmd.import_id, sizeof cmd.import_id, "%s", imp->id);
    cmd.issued_at_ms = time_now_unix_ms();
    cmd.fields = json_loads(PQgetvalue(rows, r, 3), 0, NULL);
    /* the import id is the request id: it names the request that queued the item */
    char *text = cmd.fields != NULL ? task_command_encode(&cmd, imp->id) : NULL;
    json_decref(cmd.fields);
    if (text == NULL) {
        errbuf_setf(err, errlen, "could not encode item %s of import %s", PQgetvalue(rows, r, 0),
                    imp->id);
        return -1;
    }
    /* The import's own trace (trace id: the import id's hex digits), for every log. */
    trace_context trace;
    char traceparent[TRACEPARENT_LEN + 1];
    bool traced = trace_context_from_uuid(imp->id, &trace);
    if (traced) {
        trace_context_format(&trace, traceparent);
    }
    kafka_header headers[2] = {{"request_id", imp->id}, {"traceparent", traceparent}};
    kafka_message msg = {.topic = im->topic,
                         .key = imp->user_id,
                         .key_len = strlen(imp->user_id),
                         .value = text,
                         .value_len = strlen(text),
                         .headers = headers,
                         .nheaders = traced ? 2 : 1};
    int rc = kafka_producer_enqueue(im->producer, group, &msg, err, errlen);
    free(text); /* the producer copies the payload */
    return rc;
}

/* Produces every claimed row of every import and waits for all reports. 0, or -1 with
 * err. */
static int produce_rows(importer *im, PGresult *const *claimed, char *err, size_t errlen) {
    kafka_delivery_group *group = kafka_delivery_group_new();
    if (group == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < im->nowned && rc == 0; i++) {
        for (int r = 0; claimed[i] != NULL && r < PQntuples(claimed[i]) && rc == 0; r++) {
            rc = enqueue_row(im, &im->owned[i], claimed[i], r, group, err, errlen);
        }
    }
    /* wait even after a failed enqueue, so no report is still due when the batch rolls back */
    char werr[256];
    if (kafka_delivery_group_wait(group, im->delivery_timeout_ms, werr, sizeof werr) != 0 &&
        rc == 0) {
        errbuf_setf(err, errlen, "%s", werr);
        rc = -1;
    }
    kafka_delivery_group_release(group);
    return rc;
}

/* "{1,2,3}" of the claimed seqs (caller free()s), or NULL. */
static char *seq_array(const PGresult *rows) {
    size_t cap = (size_t)PQntuples(rows) * 12 + 3;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    size_t len = 0;
    out[len++] = '{';
    for (int r = 0; r < PQntuples(rows); r++) {
        len += (size_t)snprintf(out + len, cap - len, "%s%s", r > 0 ? "," : "",
                                PQgetvalue(rows, r, 0));
    }
    snprintf(out + len, cap - len, "}");
    return out;
}

/* Marks the rows produced and updates the status. 0, or IMPORTER_ERR_POSTGRES. */
static int mark(importer *im, const importer_import *imp, const PGresult *rows, bool *done,
                char *err, size_t errlen) {
    if (PQntuples(rows) > 0) {
        char *seqs = seq_array(rows);
        if (seqs == NULL) {
            errbuf_setf(err, errlen, "importer_mark: out of memory");
            return IMPORTER_ERR_POSTGRES;
        }
        const char *values[2] = {imp->id, seqs};
        PGresult *res = importer_exec(im->conn, &MARK_PRODUCED, values, err, errlen);
        free(seqs);
        if (res == NULL) {
            return IMPORTER_ERR_POSTGRES;
        }
        PQclear(res);
    }
    const char *values[1] = {imp->id};
    PGresult *res = importer_exec(im->conn, &SET_STATUS, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_ERR_POSTGRES;
    }
    *done = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "done") == 0;
    PQclear(res);
    return 0;
}

/* Claims alloc[i] items of each owned import into claimed[i] (NULL for none). 0, or
 * IMPORTER_ERR_POSTGRES. */
static int claim_all(importer *im, const int64_t *alloc, PGresult **claimed, char *err,
                     size_t errlen) {
    for (int i = 0; i < im->nowned; i++) {
        if (alloc[i] <= 0) {
            continue;
        }
        char limit[24];
        snprintf(limit, sizeof limit, "%lld", (long long)alloc[i]);
        const char *values[2] = {im->owned[i].id, limit};
        claimed[i] = importer_exec(im->conn, &CLAIM_ITEMS, values, err, errlen);
        if (claimed[i] == NULL) {
            return IMPORTER_ERR_POSTGRES;
        }
    }
    return 0;
}

/* Marks every import that was allotted items; done[i] says which finished. 0, or
 * IMPORTER_ERR_POSTGRES. */
static int mark_all(importer *im, const int64_t *alloc, PGresult *const *claimed, bool *done,
                    char *err, size_t errlen) {
    for (int i = 0; i < im->nowned; i++) {
        if (alloc[i] > 0 && mark(im, &im->owned[i], claimed[i], &done[i], err, errlen) != 0) {
            return IMPORTER_ERR_POSTGRES;
        }
    }
    return 0;
}

/* After the commit: counts, the in-flight ledger, and releases finished imports. */
static int64_t settle(importer *im, PGresult *const *claimed, const bool *done,
                      int64_t delivered_ns) {
    int64_t total = 0;
    for (int i = 0; i < im->nowned; i++) {
        int n = claimed[i] != NULL ? PQntuples(claimed[i]) : 0;
        importer_import *imp = &im->owned[i];
        if (n > 0) {
            total += n;
            imp->produced += n;
            imp->left = imp->left > n ? imp->left - n : 0;
            /* Cannot fail: the tick granted only with room for every import's entry
             * (importer_main.c). */
            (void)importer_inflight_add(&im->inflight, PQgetvalue(claimed[i], n - 1, 1), n,
                                        delivered_ns);
        }
        if (claimed[i] != NULL && !done[i] && n == 0) {
            imp->left = 0; /* nothing claimable: the status query disagrees; rescan decides */
        }
    }
    for (int i = im->nowned - 1; i >= 0; i--) {
        if (done[i]) {
            importer_import *imp = &im->owned[i];
            double s = (double)(time_monotonic_ns() - imp->owned_ns) / 1e9;
            LOG_INFOF("importer: import %s fully produced (%lld items in %.2f s by this importer)",
                      imp->id, (long long)imp->produced, s);
            disown(im, i, true);
        }
    }
    return total;
}

int64_t importer_produce(importer *im, const int64_t *alloc, char *err, size_t errlen) {
    PGresult *claimed[IMPORTER_MAX_OWNED] = {0};
    bool done[IMPORTER_MAX_OWNED] = {0};
    bool any = false;
    for (int i = 0; i < im->nowned; i++) {
        any = any || alloc[i] > 0;
    }
    if (!any) {
        return 0;
    }
    if (pg_begin(im->conn, err, errlen) != 0) {
        return IMPORTER_ERR_POSTGRES;
    }
    int64_t rc = claim_all(im, alloc, claimed, err, errlen);
    int64_t delivered_ns = 0;
    if (rc == 0) {
        if (produce_rows(im, claimed, err, errlen) != 0) {
            rc = IMPORTER_ERR_KAFKA;
        } else {
            delivered_ns = time_monotonic_ns();
            if (mark_all(im, alloc, claimed, done, err, errlen) != 0 ||
                pg_commit(im->conn, err, errlen) != 0) {
                rc = IMPORTER_ERR_POSTGRES;
            }
        }
    }
    int64_t retried = 0;
    if (rc == 0) {
        rc = settle(im, claimed, done, delivered_ns);
        metric_import_lines("produced", rc);
    } else {
        pg_rollback(im->conn);
    }
    for (int i = 0; i < IMPORTER_MAX_OWNED; i++) {
        retried += rc < 0 && claimed[i] != NULL ? PQntuples(claimed[i]) : 0;
        PQclear(claimed[i]);
    }
    metric_import_lines("retried", retried); /* their tick rolled back: produced again */
    return rc;
}

void importer_forget(importer *im, bool connection_ok) {
    while (im->nowned > 0) {
        disown(im, im->nowned - 1, connection_ok);
    }
}
