/*
 * notifier_send.c: a batch of notification records: skip, send (with retries) or
 * dead-letter each (see notifier_send.h).
 *
 * Owns: the batch's check of sent ids, the retry loop, the sent_notifications record and
 * the memory of rolled-back attempts. Rules: transient failures are retried in place up to
 * TASKBUS_NOTIFY_MAX_ATTEMPTS with full-jitter backoff, by the first record of a batch
 * attempt that reaches SMTP only; a permanent failure, a malformed message or the last
 * attempt goes to notifications.dlq synchronously (the record's offset commits only once
 * Kafka holds the dead letter); nothing is written to sent_notifications for a dead
 * letter, so a replay can send it. Metrics: every SMTP attempt counts in
 * taskbus_emails_total{result} (sent or failed), every dead letter produced in
 * taskbus_dlq_records_total{topic}.
 */
#include "workers/notifier/notifier_send.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/daemon_signals.h"
#include "shared/daemon_startup.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metric_families.h"
#include "shared/notification.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "workers/notifier/notifier_links.h"
#include "workers/notifier/notifier_mail.h"
#include "workers/notifier/notifier_template.h"

#define BACKOFF_CAP_MS 60000

static const pg_stmt SENT_CHECK = {
    .name = "notifier_sent_check_batch",
    .sql = "SELECT notification_id::text FROM sent_notifications"
           " WHERE notification_id = ANY($1::uuid[])",
    .nparams = 1,
};

static const pg_stmt SENT_RECORD = {
    .name = "notifier_sent_record",
    .sql = "INSERT INTO sent_notifications (notification_id, kind, user_id)"
           " VALUES ($1::uuid, $2, $3::uuid) ON CONFLICT (notification_id) DO NOTHING",
    .nparams = 3,
};

typedef enum { STEP_DONE = 0, STEP_FAILED = -1 } step;

/* One record of the batch. */
typedef struct note {
    const kafka_record *rec;
    json_t *msg;    /* NULL: malformed */
    const char *id; /* notification_id, into msg */
    bool sent;      /* recorded as sent (before or during this batch) */
} note;

/* The batch being handled. */
typedef struct batch {
    notifier_ctx *nc;
    pg_conn *recorder; /* autocommit connection for the records; acquired when first needed */
    bool smtp_tried;   /* a record of this attempt already went to SMTP */
} batch;

int notifier_backoff_ms(int base_ms, int attempt) {
    long long cap = base_ms;
    for (int i = 2; i < attempt && cap < BACKOFF_CAP_MS; i++) {
        cap *= 2;
    }
    if (cap > BACKOFF_CAP_MS) {
        cap = BACKOFF_CAP_MS;
    }
    return (int)randombytes_uniform((uint32_t)cap + 1);
}

/* --- the memory of rolled-back attempts ----------------------------------------------- */

void notifier_ctx_reset_memory(notifier_ctx *nc) {
    for (size_t i = 0; i < NOTIFIER_MEMORY; i++) {
        nc->memory[i] = (notifier_memory){.offset = -1};
    }
    nc->memory_next = 0;
}

static notifier_memory *recall(notifier_ctx *nc, const kafka_record *rec) {
    for (size_t i = 0; i < NOTIFIER_MEMORY; i++) {
        notifier_memory *m = &nc->memory[i];
        if (m->offset == rec->offset && m->partition == rec->partition) {
            return m;
        }
    }
    return NULL;
}

static notifier_memory *remember(notifier_ctx *nc, const kafka_record *rec) {
    notifier_memory *m = recall(nc, rec);
    if (m == NULL) {
        m = &nc->memory[nc->memory_next];
        nc->memory_next = (nc->memory_next + 1) % NOTIFIER_MEMORY;
        *m = (notifier_memory){.partition = rec->partition, .offset = rec->offset};
    }
    return m;
}

/* --- dead letters and records ----------------------------------------------------------- */

static int dlq_send(notifier_ctx *nc, const kafka_record *rec, const char *reason, int attempts) {
    char why[512];
    char tries[16];
    char partition[16];
    char offset[32];
    snprintf(why, sizeof why, "%s", reason);
    snprintf(tries, sizeof tries, "%d", attempts);
    snprintf(partition, sizeof partition, "%" PRId32, rec->partition);
    snprintf(offset, sizeof offset, "%" PRId64, rec->offset);
    kafka_header headers[7] = {
        {"dlq_reason", why},          {"dlq_attempts", tries}, {"dlq_topic", rec->topic},
        {"dlq_partition", partition}, {"dlq_offset", offset},
    };
    size_t nh = 5;
    if (rec->request_id != NULL) {
        headers[nh++] = (kafka_header){"request_id", rec->request_id};
    }
    if (rec->traceparent != NULL) {
        headers[nh++] = (kafka_header){"traceparent", rec->traceparent};
    }
    kafka_message msg = {
        .topic = nc->dlq_topic,
        .key = rec->key,
        .key_len = rec->key_len,
        .value = rec->value,
        .value_len = rec->value_len,
        .headers = headers,
        .nheaders = nh,
    };
    char err[256];
    if (kafka_producer_send(nc->producer, &msg, NOTIFIER_DLQ_TIMEOUT_MS, err, sizeof err) != 0) {
        LOG_WARNF("notifier: dead letter not produced: %s", err);
        return STEP_FAILED;
    }
    metric_dlq_record(nc->dlq_topic);
    LOG_WARNF("notifier: %s[%" PRId32 "]@%" PRId64 " dead-lettered after %d attempt(s): %s",
              rec->topic, rec->partition, rec->offset, attempts, why);
    remember(nc, rec)->dead = true; /* a redo of a rolled-back attempt must not send it twice */
    return STEP_DONE;
}

/* The connection that records sent ids, acquired on first use. NULL when Postgres fails. */
static pg_conn *recorder(batch *b) {
    if (b->recorder == NULL) {
        char err[256];
        b->recorder = pg_pool_acquire(b->nc->pg, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
        if (b->recorder == NULL) {
            LOG_WARNF("notifier: %s", err);
        }
    }
    return b->recorder;
}

/* Records a sent id at once (autocommit on the recorder). */
static int record_sent(batch *b, note *n) {
    const char *values[3] = {n->id, json_string_value(json_object_get(n->msg, "kind")),
                             json_string_value(json_object_get(n->msg, "user_id"))};
    pg_conn *conn = recorder(b);
    PGresult *res = conn != NULL ? pg_exec_stmt(conn, &SENT_RECORD, values) : NULL;
    int rc = res != NULL && pg_result_ok(res) ? STEP_DONE : STEP_FAILED;
    if (rc != STEP_DONE && conn != NULL) {
        LOG_WARNF("notifier: recording %s: %s", n->id,
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    }
    PQclear(res);
    if (rc == STEP_DONE) {
        n->sent = true;
    }
    return rc;
}

/* --- one message ------------------------------------------------------------------------ */

/* The template variables: the message's data plus to, kind, user_id, notification_id. */
static json_t *template_vars(const json_t *msg) {
    json_t *data = json_object_get(msg, "data");
    json_t *vars = json_is_object(data) ? json_deep_copy(data) : json_object();
    const char *keys[] = {"to", "kind", "user_id", "notification_id"};
    for (size_t i = 0; vars != NULL && i < sizeof keys / sizeof keys[0]; i++) {
        if (json_object_set(vars, keys[i], json_object_get(msg, keys[i])) != 0) {
            json_decref(vars);
            vars = NULL;
        }
    }
    return vars;
}

/* The whole MIME message for msg (caller frees), or NULL with err. */
static char *build_message(notifier_ctx *nc, const json_t *msg, size_t *len, char *err,
                           size_t errlen) {
    json_t *vars = template_vars(msg);
    if (vars == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    rendered_mail mail;
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    int rc = notifier_render_mail(nc->templates_dir, kind, vars, &mail, err, errlen);
    json_decref(vars);
    if (rc != 0) {
        return NULL;
    }
    const char *id = json_string_value(json_object_get(msg, "notification_id"));
    const char *to = json_string_value(json_object_get(msg, "to"));
    char *text =
        notifier_mail_build(id, nc->cfg->smtp_from, to, &mail, time_now_unix_ms() / 1000, len);
    rendered_mail_free(&mail);
    if (text == NULL) {
        errbuf_setf(err, errlen, "cannot build the message (CR/LF in a header value?)");
    }
    return text;
}

/* Sends with retries. STEP_DONE when sent and recorded, or dead-lettered. */
static int send_with_retries(batch *b, note *n, const char *mime, size_t len) {
    notifier_ctx *nc = b->nc;
    const char *to = json_string_value(json_object_get(n->msg, "to"));
    const char *kind = json_string_value(json_object_get(n->msg, "kind"));
    if (recorder(b) == NULL) {
        return STEP_FAILED; /* nothing sent yet: the redo finds it unsent */
    }
    notifier_memory *past = recall(nc, n->rec);
    int done = past != NULL ? past->attempts : 0; /* attempts of rolled-back tries */
    bool first = !b->smtp_tried;                  /* the attempt's first message to reach SMTP */
    char err[512] = "";
    int max = nc->cfg->notify_max_attempts;
    for (int attempt = done + 1; attempt <= max; attempt++) {
        if (attempt > done + 1 &&
            daemon_sleep_ms(notifier_backoff_ms(nc->cfg->notify_backoff_ms, attempt))) {
            remember(nc, n->rec)->attempts = attempt - 1;
            return STEP_FAILED; /* stopping: nothing recorded, the next start redoes it */
        }
        b->smtp_tried = true;
        mail_outcome out =
            notifier_mail_send(nc->cfg->smtp_url, nc->from_addr, to, mime, len, err, sizeof err);
        metric_email(out == MAIL_SENT);
        if (out == MAIL_SENT) {
            LOG_INFOF("notifier: sent %s (%s) on attempt %d", n->id, kind, attempt);
            return record_sent(b, n);
        }
        LOG_WARNF("notifier: %s attempt %d/%d: %s", n->id, attempt, max, err);
        if (out == MAIL_PERMANENT) {
            return dlq_send(nc, n->rec, err, attempt);
        }
        if (!first && attempt < max) {
            /* Not the attempt's first message: end the attempt rather than hold the batch
             * transaction through this one's retries; the redo starts with it. */
            remember(nc, n->rec)->attempts = attempt;
            LOG_INFOF("notifier: %s is retried first in the batch's next attempt", n->id);
            return STEP_FAILED;
        }
    }
    return dlq_send(nc, n->rec, err, max);
}

/* The message of rec when well formed (new reference), else NULL with err. */
static json_t *parse_record(const kafka_record *rec, char *err, size_t errlen) {
    json_error_t jerr;
    json_t *msg = rec->value != NULL ? json_loadb(rec->value, rec->value_len, 0, &jerr) : NULL;
    const char *id = json_string_value(json_object_get(msg, "notification_id"));
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    const char *user = json_string_value(json_object_get(msg, "user_id"));
    const char *to = json_string_value(json_object_get(msg, "to"));
    if (msg == NULL || id == NULL || !uuid_is_valid(id) || !notification_kind_is_valid(kind) ||
        user == NULL || !uuid_is_valid(user) || to == NULL || strchr(to, '@') == NULL) {
        errbuf_setf(err, errlen, "malformed notification");
        json_decref(msg);
        return NULL;
    }
    return msg;
}

static int handle_note(batch *b, note *notes, size_t i) {
    note *n = &notes[i];
    notifier_memory *past = recall(b->nc, n->rec);
    if (past != NULL && past->dead) {
        return STEP_DONE; /* dead-lettered by an attempt that was rolled back */
    }
    char err[512] = "malformed notification";
    if (n->msg == NULL) {
        return dlq_send(b->nc, n->rec, err, 0);
    }
    for (size_t k = 0; !n->sent && k < i; k++) {
        n->sent = notes[k].sent && notes[k].msg != NULL && strcmp(notes[k].id, n->id) == 0;
    }
    if (n->sent) {
        LOG_INFOF("notifier: %s was already sent; skipped", n->id);
        return STEP_DONE;
    }
    if (notifier_links_needed(n->msg)) {
        pg_conn *conn = recorder(b);
        notifier_link link = conn != NULL
                                 ? notifier_links_make(b->nc->cfg, conn, n->msg, err, sizeof err)
                                 : NOTIFIER_LINK_FAILED;
        if (link == NOTIFIER_LINK_FAILED) {
            LOG_WARNF("notifier: %s: %s", n->id, conn != NULL ? err : "no database connection");
            return STEP_FAILED; /* nothing sent: the redo makes the link again */
        }
        if (link == NOTIFIER_LINK_MALFORMED)
            return dlq_send(b->nc, n->rec, err, 0);
        if (link == NOTIFIER_LINK_CLOSED) {
            LOG_INFOF("notifier: %s not sent: %s", n->id, err);
            return STEP_DONE;
        }
    }
    size_t len = 0;
    char *mime = build_message(b->nc, n->msg, &len, err, sizeof err);
    int rc = mime != NULL ? send_with_retries(b, n, mime, len) : dlq_send(b->nc, n->rec, err, 0);
    free(mime);
    return rc;
}

/* Marks the notes whose ids sent_notifications holds. 0, or -1 when Postgres failed. */
static int mark_sent(pg_conn *conn, note *notes, size_t count) {
    strbuf ids = {0};
    pg_array_open(&ids);
    for (size_t i = 0; i < count; i++) {
        if (notes[i].msg != NULL) {
            pg_array_add(&ids, notes[i].id);
        }
    }
    pg_array_close(&ids);
    if (ids.failed) {
        free(ids.data);
        return -1;
    }
    const char *values[1] = {ids.data};
    PGresult *res = pg_exec_stmt(conn, &SENT_CHECK, values);
    free(ids.data);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_WARNF("notifier: %s", res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t i = 0; i < count; i++) {
            if (notes[i].msg != NULL && strcmp(notes[i].id, PQgetvalue(res, r, 0)) == 0) {
                notes[i].sent = true;
            }
        }
    }
    PQclear(res);
    return 0;
}

/* The memory is for redoing one batch: a batch none of whose records it holds is a new
 * one, and what came before is forgotten. */
static void forget_other_batches(notifier_ctx *nc, const kafka_record *records, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (recall(nc, &records[i]) != NULL) {
            return;
        }
    }
    notifier_ctx_reset_memory(nc);
}

int notifier_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    batch b = {.nc = ctx};
    forget_other_batches(b.nc, records, count);
    note *notes = calloc(count > 0 ? count : 1, sizeof *notes);
    if (notes == NULL) {
        LOG_ERRORF("notifier: out of memory for a batch");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char err[64];
        notes[i].rec = &records[i];
        notes[i].msg = parse_record(&records[i], err, sizeof err);
        notes[i].id = json_string_value(json_object_get(notes[i].msg, "notification_id"));
    }
    int rc = mark_sent(conn, notes, count) == 0 ? STEP_DONE : STEP_FAILED;
    for (size_t i = 0; rc == STEP_DONE && i < count; i++) {
        kafka_record_log_context(&records[i]); /* its lines carry its ids */
        rc = handle_note(&b, notes, i);
    }
    kafka_record_log_context(NULL);
    if (b.recorder != NULL) {
        pg_pool_release(b.nc->pg, b.recorder);
    }
    for (size_t i = 0; i < count; i++) {
        json_decref(notes[i].msg);
    }
    free(notes);
    return rc == STEP_DONE ? 0 : -1;
}
