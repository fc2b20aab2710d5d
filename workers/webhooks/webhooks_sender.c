/*
 * webhooks_sender.c: the delivering half of taskbus-webhooks (see webhooks_sender.h).
 * Metrics: each attempt whose row committed counts once in
 * taskbus_webhook_deliveries_total{result,attempt}.
 */
#include "workers/webhooks/webhooks_sender.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/daemon_signals.h"
#include "shared/daemon_startup.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metric_families.h"
#include "shared/notification.h"
#include "shared/ssrf_guard.h"
#include "shared/time_util.h"
#include "shared/trace_context.h"
#include "shared/uuid7.h"
#include "workers/webhooks/webhooks_backoff.h"
#include "workers/webhooks/webhooks_http.h"

#define CLAIM_BATCH 20
#define LEASE_MARGIN_MS 30000
#define IDLE_WAIT_MS 500
#define ERROR_WAIT_MS 1000
#define SWEEP_INTERVAL_MS 1000

struct webhooks_sender {
    pg_pool *pg;
    ssrf_allow *allow;
    int timeout_ms;
    int max_attempts;
    int disable_after_s;
    int64_t last_sweep_ns;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* guards woken */
    pthread_cond_t cond;
    bool woken;
};

/* Due deliveries of enabled webhooks, leased for one attempt, with the secret and, within
 * the grace period after a rotation, the previous secret (both sign). */
static const pg_stmt CLAIM = {
    "webhooks_claim",
    "WITH due AS (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled"
    " ORDER BY d.next_attempt_at LIMIT $2::int FOR UPDATE OF d SKIP LOCKED),"
    " claimed AS (UPDATE webhook_deliveries d"
    " SET next_attempt_at = now() + $1::int * interval '1 millisecond'"
    " FROM due, webhooks w WHERE d.id = due.id AND w.id = d.webhook_id"
    " RETURNING d.id, d.webhook_id, d.event_id, d.payload::text AS body, d.attempts, w.url,"
    " w.secret, CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END"
    " AS previous_secret, d.attempt_base)"
    " SELECT id, webhook_id, event_id, body, attempts, url, secret, previous_secret, attempt_base"
    " FROM claimed"
    " ORDER BY id",
    2};

static const pg_stmt RECORD_SUCCESS = {
    "webhooks_record_success",
    "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2::int,"
    " delivered_at = now(), last_status_code = $3::int, last_error = NULL"
    " WHERE id = $1::uuid AND status = 'pending' RETURNING status",
    3};

static const pg_stmt RECORD_FAILURE = {
    "webhooks_record_failure",
    "UPDATE webhook_deliveries SET attempts = $2::int, last_status_code = $3::int,"
    " last_error = $4,"
    " status = CASE WHEN $2::int - attempt_base >= $5::int THEN 'failed' ELSE 'pending' END,"
    " next_attempt_at = now() + $6::int * interval '1 millisecond'"
    " WHERE id = $1::uuid AND status = 'pending' RETURNING status",
    6};

/* Nothing when the delivery is gone meanwhile (its webhook deleted: by its user, or a
 * project's when its user stopped owning the project): a claimed batch goes on. */
static const pg_stmt RECORD_ATTEMPT = {
    "webhooks_record_attempt",
    "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code,"
    " error) SELECT $1::uuid, $2::int, clock_timestamp() - $3::int * interval '1 millisecond',"
    " $3::int, $4::int, $5 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1::uuid)",
    5};

/* Whether a claimed delivery still exists, just before it is sent: a webhook deleted after
 * the claim (a project's, the moment its user stops owning the project) is sent nothing
 * more, except the one attempt already in flight. */
static const pg_stmt DELIVERY_LIVE = {"webhooks_delivery_live",
                                      "SELECT 1 FROM webhook_deliveries WHERE id = $1::uuid", 1};

static const pg_stmt WEBHOOK_SUCCEEDED = {
    "webhooks_succeeded",
    "UPDATE webhooks SET failing_since = NULL WHERE id = $1::uuid AND failing_since IS NOT NULL",
    1};

static const pg_stmt WEBHOOK_FAILED = {
    "webhooks_failed",
    "UPDATE webhooks SET failing_since = now() WHERE id = $1::uuid AND failing_since IS NULL", 1};

/* Disables webhooks failing for too long, fails their pending deliveries, and names each
 * one with its owner's address for the notification. */
static const pg_stmt DISABLE = {
    "webhooks_disable",
    "WITH off AS (UPDATE webhooks w SET enabled = false, disabled_at = now(),"
    " disabled_reason = $2 FROM users u WHERE u.id = w.user_id AND w.enabled"
    " AND w.failing_since <= now() - $1::int * interval '1 second'"
    " RETURNING w.id, w.user_id, w.url, u.email),"
    " dropped AS (UPDATE webhook_deliveries d SET status = 'failed',"
    " last_error = 'webhook disabled' FROM off WHERE d.webhook_id = off.id"
    " AND d.status = 'pending')"
    " SELECT id, user_id, url, email FROM off",
    2};

/* One claimed delivery (strings point into the claim result). */
typedef struct delivery {
    const char *id, *webhook_id, *event_id, *body, *url, *secret;
    const char *previous_secret; /* NULL outside a rotation's grace period */
    int attempt;                 /* the number of this attempt, from 1 */
    int base; /* attempts before the latest redelivery: the budget and backoff count from it */
} delivery;

typedef struct attempt_result {
    bool delivered;
    long status; /* 0: no HTTP answer */
    char error[320];
    int duration_ms;
} attempt_result;

/* --- one attempt ---------------------------------------------------------------------- */

static void attempt_delivery(const webhooks_sender *s, const delivery *d, attempt_result *out) {
    memset(out, 0, sizeof *out);
    ssrf_target target;
    char err[256];
    if (ssrf_check_url(d->url, s->allow, &target, err, sizeof err) != SSRF_OK) {
        snprintf(out->error, sizeof out->error, "refused by the SSRF guard: %s", err);
        return;
    }
    webhook_request req = {
        .url = d->url,
        .resolve = target.resolve,
        .secret = d->secret,
        .previous_secret = d->previous_secret,
        .event_id = d->event_id,
        .body = d->body,
        .body_len = strlen(d->body),
        .timeout_ms = s->timeout_ms,
    };
    webhook_response resp;
    if (webhooks_http_post(&req, &resp) != 0) {
        snprintf(out->error, sizeof out->error, "%s", resp.error);
    } else {
        out->status = resp.status;
        out->delivered = resp.status >= 200 && resp.status < 300;
        if (!out->delivered) {
            snprintf(out->error, sizeof out->error, "the receiver answered HTTP %ld", resp.status);
        }
    }
    out->duration_ms = resp.duration_ms;
}

/* Runs stmt; 0 when it succeeded. */

/* Runs stmt and copies the status it returned into out, or "" when it changed no row (the
 * delivery was no longer pending: redelivered or claimed anew meanwhile). 0, or -1. */
static int exec_status(pg_conn *conn, const pg_stmt *stmt, const char *const *values,
                       char out[16]) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    int rc = res != NULL && pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        LOG_ERRORF("webhooks: %s: %s", stmt->name,
                   res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL) {
            pg_conn_mark_broken(conn);
        }
    }
    snprintf(out, 16, "%s", rc == 0 && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return rc;
}

static int exec_ok(pg_conn *conn, const pg_stmt *stmt, const char *const *values) {
    char ignored[16];
    return exec_status(conn, stmt, values, ignored);
}

/* The attempt's row, the delivery's new state and the webhook's failing_since, in one
 * transaction. The delivery's new status goes to final ("" when the row was no longer
 * pending): whether a failed attempt was the last is decided in SQL from the row's current
 * attempt_base, since a redelivery may have reset it while this attempt ran. */
static int record_attempt(const webhooks_sender *s, pg_conn *conn, const delivery *d,
                          const attempt_result *r, char final[16]) {
    char attempt[16], status[16], duration[16], max[16], wait[16], err[256];
    final[0] = '\0';
    snprintf(attempt, sizeof attempt, "%d", d->attempt);
    snprintf(status, sizeof status, "%ld", r->status);
    snprintf(duration, sizeof duration, "%d", r->duration_ms);
    snprintf(max, sizeof max, "%d", s->max_attempts);
    snprintf(wait, sizeof wait, "%d", webhooks_backoff_ms(d->attempt - d->base));
    const char *code = r->status != 0 ? status : NULL;
    const char *error = r->delivered ? NULL : r->error;
    const char *log_values[5] = {d->id, attempt, duration, code, error};
    const char *ok_values[3] = {d->id, attempt, code};
    const char *fail_values[6] = {d->id, attempt, code, error, max, wait};
    const char *hook[1] = {d->webhook_id};
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_ERRORF("webhooks: begin: %s", err);
        return -1;
    }
    int rc = exec_ok(conn, &RECORD_ATTEMPT, log_values);
    if (rc == 0 && r->delivered) {
        rc = exec_status(conn, &RECORD_SUCCESS, ok_values, final);
        rc = rc == 0 ? exec_ok(conn, &WEBHOOK_SUCCEEDED, hook) : rc;
    } else if (rc == 0) {
        rc = exec_status(conn, &RECORD_FAILURE, fail_values, final);
        rc = rc == 0 ? exec_ok(conn, &WEBHOOK_FAILED, hook) : rc;
    }
    if (rc == 0 && pg_commit(conn, err, sizeof err) != 0) {
        LOG_ERRORF("webhooks: commit attempt: %s", err);
        rc = -1;
    }
    if (rc != 0) {
        pg_rollback(conn);
    }
    return rc;
}

/* The trace id of the event a delivery carries (its CloudEvents traceparent, as jsonb
 * writes it: `"traceparent": "00-…"`; a string value cannot hold that unescaped) into
 * out, or "". */
static void body_trace_id(const char *body, char out[TRACE_ID_HEX + 1]) {
    static const char KEY[] = "\"traceparent\": \"";
    const char *at = body != NULL ? strstr(body, KEY) : NULL;
    trace_context tc;
    out[0] = '\0';
    if (at != NULL && strnlen(at + sizeof KEY - 1, TRACEPARENT_LEN + 1) > TRACEPARENT_LEN &&
        at[sizeof KEY - 1 + TRACEPARENT_LEN] == '"' &&
        trace_context_parse(at + sizeof KEY - 1, TRACEPARENT_LEN, &tc)) {
        memcpy(out, tc.trace_id, TRACE_ID_HEX + 1);
    }
}

/* One line per attempt, carrying the event's trace id. */
static void log_attempt(const delivery *d, const attempt_result *r) {
    char trace_id[TRACE_ID_HEX + 1];
    body_trace_id(d->body, trace_id);
    log_set_trace_id(trace_id);
    log_json(r->delivered ? LOG_INFO : LOG_WARN,
             r->delivered ? "webhook delivered" : "webhook attempt failed",
             json_pack("{s:s,s:s,s:s,s:i,s:I,s:i,s:s}", "delivery_id", d->id, "webhook_id",
                       d->webhook_id, "event_id", d->event_id, "attempt", d->attempt, "status",
                       (json_int_t)r->status, "duration_ms", r->duration_ms, "error",
                       r->delivered ? "" : r->error));
    log_set_trace_id(NULL);
}

/* --- a batch ---------------------------------------------------------------------------- */

/* 1 when the delivery still exists, 0 when it is gone, -1 when Postgres failed (logged). */
static int delivery_live(pg_conn *conn, const char *id) {
    const char *values[1] = {id};
    PGresult *res = pg_exec_stmt(conn, &DELIVERY_LIVE, values);
    int rc = res != NULL && pg_result_ok(res) ? PQntuples(res) > 0 : -1;
    if (rc < 0) {
        LOG_ERRORF("webhooks: %s: %s", DELIVERY_LIVE.name,
                   res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL) {
            pg_conn_mark_broken(conn);
        }
    }
    PQclear(res);
    return rc;
}

static PGresult *claim(const webhooks_sender *s, pg_conn *conn) {
    char lease[16], limit[16];
    /* The deliveries of a claim are sent one after another, each taking up to the
     * timeout: the lease must cover them all, or another sender would claim the tail. */
    snprintf(lease, sizeof lease, "%d", CLAIM_BATCH * s->timeout_ms + LEASE_MARGIN_MS);
    snprintf(limit, sizeof limit, "%d", CLAIM_BATCH);
    const char *values[2] = {lease, limit};
    PGresult *res = pg_exec_stmt(conn, &CLAIM, values);
    if (res == NULL || !pg_result_ok(res)) {
        LOG_ERRORF("webhooks: claim: %s",
                   res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL) {
            pg_conn_mark_broken(conn);
        }
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Claims and delivers one batch. The number delivered or failed, or -1. */
static int deliver_batch(webhooks_sender *s, pg_conn *conn) {
    PGresult *res = claim(s, conn);
    if (res == NULL) {
        return -1;
    }
    int n = PQntuples(res), rc = n;
    for (int i = 0; i < n && !daemon_should_stop(); i++) {
        delivery d = {
            .id = PQgetvalue(res, i, 0),
            .webhook_id = PQgetvalue(res, i, 1),
            .event_id = PQgetvalue(res, i, 2),
            .body = PQgetvalue(res, i, 3),
            .attempt = atoi(PQgetvalue(res, i, 4)) + 1,
            .url = PQgetvalue(res, i, 5),
            .secret = PQgetvalue(res, i, 6),
            .previous_secret = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
            .base = atoi(PQgetvalue(res, i, 8)),
        };
        int live = delivery_live(conn, d.id);
        if (live < 0) {
            rc = -1; /* the lease ends and the delivery is tried again */
            break;
        }
        if (live == 0) {
            continue;
        }
        attempt_result r;
        attempt_delivery(s, &d, &r);
        log_attempt(&d, &r);
        char final[16];
        if (record_attempt(s, conn, &d, &r, final) != 0) {
            rc = -1; /* the lease ends and the delivery is tried again */
            break;
        }
        /* Counted once its row committed, by the status the row got; a row that was no
         * longer pending changed nothing and counts nothing. */
        if (final[0] != '\0') {
            metric_webhook_delivery(strcmp(final, "pending") == 0 ? "retrying" : final, d.attempt);
        }
    }
    PQclear(res);
    return rc;
}

/* --- disabling ------------------------------------------------------------------------ */

static int notify_disabled(pg_conn *conn, const PGresult *off, int row, const char *reason) {
    char err[256];
    const char *id = PQgetvalue(off, row, 0), *user_id = PQgetvalue(off, row, 1);
    json_t *data = json_pack("{s:s,s:s,s:s}", "webhook_id", id, "url", PQgetvalue(off, row, 2),
                             "reason", reason);
    int rc = data != NULL
                 ? notification_enqueue(conn, "webhook_disabled", user_id, PQgetvalue(off, row, 3),
                                        data, NULL, NULL, err, sizeof err)
                 : -1;
    json_decref(data);
    if (rc != 0) {
        LOG_ERRORF("webhooks: webhook_disabled notification: %s", data != NULL ? err : "no memory");
        return -1;
    }
    log_json(LOG_WARN, "webhook disabled",
             json_pack("{s:s,s:s,s:s}", "webhook_id", id, "user_id", user_id, "reason", reason));
    return 0;
}

/* Disables every webhook failing for too long, in one transaction with the notifications. */
static int sweep(webhooks_sender *s, pg_conn *conn) {
    char after[16], reason[160], err[256];
    snprintf(after, sizeof after, "%d", s->disable_after_s);
    snprintf(reason, sizeof reason, "every delivery failed for more than %d seconds",
             s->disable_after_s);
    const char *values[2] = {after, reason};
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_ERRORF("webhooks: begin sweep: %s", err);
        return -1;
    }
    PGresult *off = pg_exec_stmt(conn, &DISABLE, values);
    int rc = off != NULL && pg_result_ok(off) ? 0 : -1;
    if (rc != 0) {
        LOG_ERRORF("webhooks: disable: %s",
                   off != NULL ? PQresultErrorMessage(off) : "connection lost");
    }
    for (int i = 0; rc == 0 && i < PQntuples(off); i++) {
        rc = notify_disabled(conn, off, i, reason);
    }
    PQclear(off);
    if (rc == 0 && pg_commit(conn, err, sizeof err) != 0) {
        LOG_ERRORF("webhooks: commit sweep: %s", err);
        rc = -1;
    }
    if (rc != 0) {
        pg_rollback(conn);
    }
    return rc;
}

/* --- the thread ------------------------------------------------------------------------- */

/* Waits up to ms or until woken (or a stop). */
static void wait_for_work(webhooks_sender *s, int ms) {
    int64_t until = time_monotonic_ns() + (int64_t)ms * 1000000;
    if (pthread_mutex_lock(&s->mu) != 0) {
        return;
    }
    while (!s->woken && !daemon_should_stop()) {
        int64_t left = until - time_monotonic_ns();
        if (left <= 0) {
            break;
        }
        int64_t step = left < 100000000 ? left : 100000000; /* poll the stop flag */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + step;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        int rc = pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        if (rc != 0 && rc != ETIMEDOUT) {
            break;
        }
    }
    s->woken = false;
    pthread_mutex_unlock(&s->mu);
}

/* One turn: sweep when due, then a batch. The number handled, or -1. */
static int step(webhooks_sender *s) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(s->pg, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("webhooks: sender: %s", err);
        return -1;
    }
    int rc = 0;
    if (time_monotonic_ns() - s->last_sweep_ns >= (int64_t)SWEEP_INTERVAL_MS * 1000000) {
        rc = sweep(s, conn);
        s->last_sweep_ns = time_monotonic_ns();
    }
    if (rc == 0) {
        rc = deliver_batch(s, conn);
    }
    pg_pool_release(s->pg, conn);
    return rc;
}

static void *sender_main(void *arg) {
    webhooks_sender *s = arg;
    log_set_request_id(NULL);
    while (!daemon_should_stop()) {
        int n = step(s);
        if (n < 0) {
            wait_for_work(s, ERROR_WAIT_MS);
        } else if (n < CLAIM_BATCH) {
            wait_for_work(s, IDLE_WAIT_MS);
        }
    }
    return NULL;
}

/* The mutex and a condvar on the monotonic clock. 0, or -1 (nothing left to free). */
static int init_sync(webhooks_sender *s) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        return -1;
    }
    int rc = -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_mutex_init(&s->mu, NULL) == 0) {
        rc = pthread_cond_init(&s->cond, &ca) == 0 ? 0 : -1;
        if (rc != 0) {
            pthread_mutex_destroy(&s->mu);
        }
    }
    pthread_condattr_destroy(&ca);
    return rc;
}

webhooks_sender *webhooks_sender_create(pg_pool *pg, const taskbus_config *cfg, char *err,
                                        size_t errlen) {
    webhooks_sender *s = calloc(1, sizeof *s);
    if (s == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    s->allow = ssrf_allow_parse(cfg->webhook_allow, err, errlen);
    if (s->allow == NULL) {
        free(s);
        return NULL;
    }
    s->pg = pg;
    s->timeout_ms = cfg->webhook_timeout_ms;
    s->max_attempts = cfg->webhook_max_attempts;
    s->disable_after_s = cfg->webhook_disable_after_s;
    if (init_sync(s) != 0) {
        errbuf_setf(err, errlen, "cannot create the sender's lock");
        ssrf_allow_free(s->allow);
        free(s);
        return NULL;
    }
    return s;
}

int webhooks_sender_start(webhooks_sender *s, char *err, size_t errlen) {
    int rc = pthread_create(&s->thread, NULL, sender_main, s);
    if (rc != 0) {
        errbuf_setf(err, errlen, "cannot start the sender thread: %s", strerror(rc));
        return -1;
    }
    s->started = true;
    return 0;
}

void webhooks_sender_wake(void *arg) {
    webhooks_sender *s = arg;
    if (pthread_mutex_lock(&s->mu) != 0) {
        return;
    }
    s->woken = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void webhooks_sender_destroy(webhooks_sender *s) {
    if (s == NULL) {
        return;
    }
    if (s->started) {
        webhooks_sender_wake(s);
        pthread_join(s->thread, NULL);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    ssrf_allow_free(s->allow);
    free(s);
}
