/*
 * importer_pass.c: scan, own, produce and mark imports (see importer_pass.h).
 * Rules: every Postgres failure is reported as IMPORTER_ERR_POSTGRES so the caller drops
 * the connection (and with it the ownership locks); a Kafka failure rolls the batch
 * back and keeps the connection.
 */
#include "workers/importer_pass.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/task_command.h"
#include "shared/time_util.h"

static const pg_stmt LIST_UNFINISHED = {
    .name = "importer_unfinished",
    .sql = "SELECT id, user_id FROM imports WHERE status IN ('queued', 'running')"
           " ORDER BY created_at, id LIMIT $1::int",
    .nparams = 1,
};

static const pg_stmt TRY_OWN = {
    .name = "importer_try_own",
    .sql = "SELECT pg_try_advisory_lock(7264003, hashtext($1::text))",
    .nparams = 1,
};

static const pg_stmt DISOWN = {
    .name = "importer_disown",
    .sql = "SELECT pg_advisory_unlock(7264003, hashtext($1::text))",
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

static void pg_error(const PGresult *res, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: %s", what,
             res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
}

/* Runs stmt; the result on success (caller PQclear()s), NULL with err otherwise. */
static PGresult *exec(importer *im, const pg_stmt *stmt, const char *const *values, char *err,
                      size_t errlen) {
    PGresult *res = pg_exec_stmt(im->conn, stmt, values);
    if (!pg_result_ok(res)) {
        pg_error(res, stmt->name, err, errlen);
        PQclear(res);
        return NULL;
    }
    return res;
}

static importer_import *find_owned(importer *im, const char *id) {
    for (int i = 0; i < im->nowned; i++) {
        if (strcmp(im->owned[i].id, id) == 0) {
            return &im->owned[i];
        }
    }
    return NULL;
}

/* Releases owned[i] (unlock when the connection still works) and removes it. */
static void disown(importer *im, int i, bool unlock) {
    if (unlock) {
        const char *values[1] = {im->owned[i].id};
        PQclear(pg_exec_stmt(im->conn, &DISOWN, values));
    }
    im->owned[i] = im->owned[--im->nowned];
}

/* Tries to own the listed import. 0, or IMPORTER_ERR_POSTGRES. */
static int try_own(importer *im, const char *id, const char *user_id, char *err, size_t errlen) {
    const char *values[1] = {id};
    PGresult *res = exec(im, &TRY_OWN, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_ERR_POSTGRES;
    }
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        importer_import *imp = &im->owned[im->nowned++];
        memset(imp, 0, sizeof *imp);
        snprintf(imp->id, sizeof imp->id, "%s", id);
        snprintf(imp->user_id, sizeof imp->user_id, "%s", user_id);
        double burst = im->rate / 5 >= 1 ? im->rate / 5 : 1;
        token_bucket_init(&imp->bucket, im->rate, burst, time_monotonic_ns());
        imp->seen = true;
        LOG_INFOF("importer: producing import %s", id);
    }
    PQclear(res);
    return 0;
}

int importer_scan(importer *im, char *err, size_t errlen) {
    char limit[16];
    snprintf(limit, sizeof limit, "%d", IMPORTER_SCAN_LIMIT);
    const char *values[1] = {limit};
    PGresult *res = exec(im, &LIST_UNFINISHED, values, err, errlen);
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
        snprintf(err, errlen, "could not encode item %s of import %s", PQgetvalue(rows, r, 0),
                 imp->id);
        return -1;
    }
    kafka_header headers[1] = {{"request_id", imp->id}};
    kafka_message msg = {.topic = im->topic,
                         .key = imp->user_id,
                         .key_len = strlen(imp->user_id),
                         .value = text,
                         .value_len = strlen(text),
                         .headers = headers,
                         .nheaders = 1};
    int rc = kafka_producer_enqueue(im->producer, group, &msg, err, errlen);
    free(text); /* the producer copies the payload */
    return rc;
}

/* Produces every claimed row and waits for all reports. 0, or -1 with err. */
static int produce_rows(importer *im, const importer_import *imp, const PGresult *rows, char *err,
                        size_t errlen) {
    kafka_delivery_group *group = kafka_delivery_group_new();
    if (group == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int r = 0; r < PQntuples(rows) && rc == 0; r++) {
        rc = enqueue_row(im, imp, rows, r, group, err, errlen);
    }
    /* wait even after a failed enqueue, so no report is still due when the batch rolls back */
    char werr[256];
    if (kafka_delivery_group_wait(group, im->delivery_timeout_ms, werr, sizeof werr) != 0 &&
        rc == 0) {
        snprintf(err, errlen, "%s", werr);
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
        const char *values[2] = {imp->id, seqs};
        PGresult *res = seqs != NULL ? exec(im, &MARK_PRODUCED, values, err, errlen) : NULL;
        free(seqs);
        if (res == NULL) {
            return IMPORTER_ERR_POSTGRES;
        }
        PQclear(res);
    }
    const char *values[1] = {imp->id};
    PGresult *res = exec(im, &SET_STATUS, values, err, errlen);
    if (res == NULL) {
        return IMPORTER_ERR_POSTGRES;
    }
    *done = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "done") == 0;
    PQclear(res);
    return 0;
}

/* One batch of at most n items of imp. Items produced, or an IMPORTER_ERR_*. */
static int produce_batch(importer *im, const importer_import *imp, int n, bool *done, char *err,
                         size_t errlen) {
    if (pg_begin(im->conn, err, errlen) != 0) {
        return IMPORTER_ERR_POSTGRES;
    }
    char limit[16];
    snprintf(limit, sizeof limit, "%d", n);
    const char *values[2] = {imp->id, limit};
    PGresult *rows = exec(im, &CLAIM_ITEMS, values, err, errlen);
    if (rows == NULL) {
        pg_rollback(im->conn);
        return IMPORTER_ERR_POSTGRES;
    }
    int rc = PQntuples(rows);
    if (rc > 0 && produce_rows(im, imp, rows, err, errlen) != 0) {
        rc = IMPORTER_ERR_KAFKA;
    } else if (mark(im, imp, rows, done, err, errlen) != 0 ||
               pg_commit(im->conn, err, errlen) != 0) {
        rc = IMPORTER_ERR_POSTGRES;
    }
    PQclear(rows);
    if (rc < 0) {
        pg_rollback(im->conn);
    }
    return rc;
}

int importer_produce(importer *im, char *err, size_t errlen) {
    int total = 0;
    for (int i = im->nowned - 1; i >= 0; i--) {
        importer_import *imp = &im->owned[i];
        int n = token_bucket_take(&imp->bucket, IMPORTER_BATCH_MAX, time_monotonic_ns());
        if (n == 0) {
            continue;
        }
        bool done = false;
        int got = produce_batch(im, imp, n, &done, err, errlen);
        token_bucket_refund(&imp->bucket, got < 0 ? n : n - got);
        if (got < 0) {
            return got;
        }
        total += got;
        if (done) {
            LOG_INFOF("importer: import %s fully produced", imp->id);
            disown(im, i, true);
        }
    }
    return total;
}

int64_t importer_next_due_ns(const importer *im) {
    if (im->nowned == 0) {
        return -1;
    }
    int64_t now = time_monotonic_ns(), best = INT64_MAX;
    for (int i = 0; i < im->nowned; i++) {
        int64_t w = token_bucket_wait_ns(&im->owned[i].bucket, now);
        if (w < best) {
            best = w;
        }
    }
    return best;
}

void importer_forget(importer *im, bool connection_ok) {
    while (im->nowned > 0) {
        disown(im, im->nowned - 1, connection_ok);
    }
}
