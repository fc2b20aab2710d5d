/*
 * notifier_send.c: one notification record: skip, send (with retries) or dead-letter.
 *
 * Owns: the retry loop and the sent_notifications record. Rules: transient failures are
 * retried in place up to TASKBUS_NOTIFY_MAX_ATTEMPTS with full-jitter backoff; a
 * permanent failure, a malformed message or the last attempt goes to notifications.dlq
 * synchronously (the record's offset commits only once Kafka holds the dead letter);
 * nothing is written to sent_notifications for a dead letter, so a replay can send it.
 */
#include "workers/notifier_send.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "shared/notification.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "workers/notifier_mail.h"
#include "workers/notifier_template.h"

#define BACKOFF_CAP_MS 60000

static const pg_stmt SENT_CHECK = {
    .name = "notifier_sent_check",
    .sql = "SELECT 1 FROM sent_notifications WHERE notification_id = $1::uuid",
    .nparams = 1,
};

static const pg_stmt SENT_RECORD = {
    .name = "notifier_sent_record",
    .sql = "INSERT INTO sent_notifications (notification_id, kind, user_id)"
           " VALUES ($1::uuid, $2, $3::uuid) ON CONFLICT (notification_id) DO NOTHING",
    .nparams = 3,
};

typedef enum { STEP_DONE = 0, STEP_FAILED = -1 } step;

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

static int dlq_send(notifier_ctx *nc, const kafka_record *rec, const char *reason, int attempts) {
    char why[512];
    char tries[16];
    char partition[16];
    char offset[32];
    snprintf(why, sizeof why, "%s", reason);
    snprintf(tries, sizeof tries, "%d", attempts);
    snprintf(partition, sizeof partition, "%" PRId32, rec->partition);
    snprintf(offset, sizeof offset, "%" PRId64, rec->offset);
    kafka_header headers[6] = {
        {"dlq_reason", why},          {"dlq_attempts", tries}, {"dlq_topic", rec->topic},
        {"dlq_partition", partition}, {"dlq_offset", offset},  {"request_id", rec->request_id},
    };
    kafka_message msg = {
        .topic = nc->dlq_topic,
        .key = rec->key,
        .key_len = rec->key_len,
        .value = rec->value,
        .value_len = rec->value_len,
        .headers = headers,
        .nheaders = rec->request_id != NULL ? 6 : 5,
    };
    char err[256];
    if (kafka_producer_send(nc->producer, &msg, NOTIFIER_DLQ_TIMEOUT_MS, err, sizeof err) != 0) {
        LOG_WARNF("notifier: dead letter not produced: %s", err);
        return STEP_FAILED;
    }
    LOG_WARNF("notifier: %s[%" PRId32 "]@%" PRId64 " dead-lettered after %d attempt(s): %s",
              rec->topic, rec->partition, rec->offset, attempts, why);
    return STEP_DONE;
}

/* 1 recorded as sent, 0 not, -1 Postgres failed. */
static int already_sent(pg_conn *conn, const char *id) {
    const char *values[1] = {id};
    PGresult *res = pg_exec_stmt(conn, &SENT_CHECK, values);
    int rc = res != NULL && pg_result_ok(res) ? (PQntuples(res) > 0) : -1;
    if (rc < 0) {
        LOG_WARNF("notifier: %s", res != NULL ? PQresultErrorMessage(res) : "connection failed");
    }
    PQclear(res);
    return rc;
}

static int record_sent(pg_conn *conn, const char *id, const char *kind, const char *user_id) {
    const char *values[3] = {id, kind, user_id};
    PGresult *res = pg_exec_stmt(conn, &SENT_RECORD, values);
    int rc = res != NULL && pg_result_ok(res) ? STEP_DONE : STEP_FAILED;
    if (rc != STEP_DONE) {
        LOG_WARNF("notifier: %s", res != NULL ? PQresultErrorMessage(res) : "connection failed");
    }
    PQclear(res);
    return rc;
}

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
        snprintf(err, errlen, "out of memory");
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
        snprintf(err, errlen, "cannot build the message (CR/LF in a header value?)");
    }
    return text;
}

/* Sends with retries. STEP_DONE when sent and recorded, or dead-lettered. */
static int send_with_retries(notifier_ctx *nc, pg_conn *conn, const kafka_record *rec,
                             const json_t *msg, const char *mime, size_t len) {
    const char *id = json_string_value(json_object_get(msg, "notification_id"));
    const char *to = json_string_value(json_object_get(msg, "to"));
    char err[512] = "";
    int max = nc->cfg->notify_max_attempts;
    for (int attempt = 1; attempt <= max; attempt++) {
        if (attempt > 1 &&
            daemon_sleep_ms(notifier_backoff_ms(nc->cfg->notify_backoff_ms, attempt))) {
            return STEP_FAILED; /* stopping: nothing recorded, the next start redoes it */
        }
        mail_outcome out =
            notifier_mail_send(nc->cfg->smtp_url, nc->from_addr, to, mime, len, err, sizeof err);
        if (out == MAIL_SENT) {
            LOG_INFOF("notifier: sent %s (%s) on attempt %d", id,
                      json_string_value(json_object_get(msg, "kind")), attempt);
            return record_sent(conn, id, json_string_value(json_object_get(msg, "kind")),
                               json_string_value(json_object_get(msg, "user_id")));
        }
        LOG_WARNF("notifier: %s attempt %d/%d: %s", id, attempt, max, err);
        if (out == MAIL_PERMANENT) {
            return dlq_send(nc, rec, err, attempt);
        }
    }
    return dlq_send(nc, rec, err, max);
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
        snprintf(err, errlen, "malformed notification");
        json_decref(msg);
        return NULL;
    }
    return msg;
}

static int handle_record(notifier_ctx *nc, pg_conn *conn, const kafka_record *rec) {
    char err[512];
    json_t *msg = parse_record(rec, err, sizeof err);
    if (msg == NULL) {
        return dlq_send(nc, rec, err, 0);
    }
    const char *id = json_string_value(json_object_get(msg, "notification_id"));
    int sent = already_sent(conn, id);
    int rc = STEP_DONE;
    if (sent < 0) {
        rc = STEP_FAILED;
    } else if (sent > 0) {
        LOG_INFOF("notifier: %s was already sent; skipped", id);
    } else {
        size_t len = 0;
        char *mime = build_message(nc, msg, &len, err, sizeof err);
        rc = mime != NULL ? send_with_retries(nc, conn, rec, msg, mime, len)
                          : dlq_send(nc, rec, err, 0);
        free(mime);
    }
    json_decref(msg);
    return rc;
}

int notifier_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count) {
    notifier_ctx *nc = ctx;
    for (size_t i = 0; i < count; i++) {
        if (handle_record(nc, conn, &records[i]) != STEP_DONE) {
            return -1;
        }
    }
    return 0;
}
