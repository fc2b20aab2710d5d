/*
 * rate_limit_sync.c: the reconciler of local and shared rate-limit buckets (rate_limit_sync.h).
 *
 * Owns: its thread, its hiredis context (only that thread touches it, or the test that
 * drives limit_sync_round with no thread), the loaded sha1 of RATELIMIT_SYNC_LUA, the
 * reconnect back-off and the metrics ratelimit_sync_* and ratelimit_local_*.
 * Rules: a round collects a chunk, pipelines one EVALSHA per bucket, reads every reply,
 * merges the answered buckets and gives back the others: those Redis surely did not run
 * (error replies such as NOSCRIPT, a connection Redis closed, no connection) go back to
 * their buckets for the next round; those whose answer was lost after they were written
 * (a timeout: a frozen Redis runs them when it wakes up) are dropped, so the shared bucket
 * never counts a request twice (it may miss one round of this instance's admissions; the
 * local bucket still holds them). A connection error drops the context (hiredis cannot
 * reuse it) and the next connect waits RECONNECT_BACKOFF_MS; a NOSCRIPT reply (SCRIPT
 * FLUSH) also reconnects, which loads the script again.
 */
#include "api/rate_limit_sync.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/gcra.h"
#include "shared/redis_url.h"
#include "shared/time_util.h"

#define RECONNECT_BACKOFF_MS 500
#define DOWN_WARN_EVERY_MS 10000

struct limit_sync {
    limit_sync_params p;
    redis_url url;
    redisContext *rc;
    char sha[41];
    int64_t reconnect_at_us; /* no connect attempt before this (monotonic) */
    bool down;               /* the last round could not reach Redis */
    int64_t down_warned_us;
    unsigned sweep_stripe;
    local_limit_sync_item *items;  /* LIMIT_SYNC_CHUNK of them: what a chunk pushes */
    local_limit_sync_item *failed; /* LIMIT_SYNC_CHUNK of them: what it gives back */
    uint64_t reported_evicted_dirty, reported_evicted_busy;

    pthread_t thread;
    bool has_thread;
    pthread_mutex_t mu; /* guards stop; cv wakes the thread for it */
    pthread_cond_t cv;
    bool stop;
};

static int64_t now_us(void) {
    return time_monotonic_ns() / 1000;
}

static void close_conn(limit_sync *s) {
    if (s->rc != NULL)
        redisFree(s->rc);
    s->rc = NULL;
    s->reconnect_at_us = now_us() + (int64_t)RECONNECT_BACKOFF_MS * 1000;
}

/* Connects and loads the script; 0, or -1 with the context gone. */
static int ensure_conn(limit_sync *s, char *err, size_t errlen) {
    if (s->rc != NULL)
        return 0;
    if (now_us() < s->reconnect_at_us) {
        errbuf_setf(err, errlen, "reconnecting after a failure (back-off)");
        return -1;
    }
    s->rc = redis_url_connect(&s->url, s->p.timeout_ms, err, errlen);
    if (s->rc == NULL) {
        s->reconnect_at_us = now_us() + (int64_t)RECONNECT_BACKOFF_MS * 1000;
        return -1;
    }
    /* One round trip: the name (CLIENT LIST tells this connection from the request pool's)
     * and the script. */
    const char *name_argv[3] = {"CLIENT", "SETNAME", LIMIT_SYNC_CLIENT_NAME};
    const char *load_argv[3] = {"SCRIPT", "LOAD", RATELIMIT_SYNC_LUA};
    redisReply *named = NULL, *r = NULL;
    if (redisAppendCommandArgv(s->rc, 3, name_argv, NULL) == REDIS_OK &&
        redisAppendCommandArgv(s->rc, 3, load_argv, NULL) == REDIS_OK &&
        redisGetReply(s->rc, (void **)&named) == REDIS_OK)
        (void)redisGetReply(s->rc, (void **)&r);
    if (named != NULL && named->type == REDIS_REPLY_ERROR)
        LOG_WARNF("rate limits: CLIENT SETNAME refused: %.200s", named->str);
    if (named != NULL)
        freeReplyObject(named);
    int rc = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        rc = 0;
    } else {
        errbuf_setf(err, errlen, "SCRIPT LOAD: %s",
                    r == NULL                      ? (s->rc->errstr[0] ? s->rc->errstr : "no reply")
                    : r->type == REDIS_REPLY_ERROR ? r->str
                                                   : "unexpected reply");
    }
    if (r != NULL)
        freeReplyObject(r);
    if (rc != 0)
        close_conn(s);
    return rc;
}

static void count(const char *name, const char *help, const char *result, double delta) {
    char labels[48];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    metrics_counter_add(name, help, labels, delta);
}

static void note_state(limit_sync *s, bool ok, const char *why) {
    int64_t now = now_us();
    if (!ok) {
        if (!s->down || now - s->down_warned_us >= (int64_t)DOWN_WARN_EVERY_MS * 1000) {
            LOG_WARNF("rate limits: cannot reconcile with Redis (%s); each instance limits "
                      "alone until it can",
                      why);
            s->down_warned_us = now;
        }
        s->down = true;
        return;
    }
    if (s->down)
        LOG_INFOF("rate limits: reconciling with Redis again");
    s->down = false;
}

typedef struct chunk_result {
    size_t answered; /* merged */
    size_t restored; /* surely not run by Redis: back in their buckets for the next round */
    size_t dropped;  /* maybe run, answer lost: not retried, so never counted twice */
} chunk_result;

/* Pushes items[0..n) in one pipeline and merges or gives back each. */
static chunk_result push_chunk(limit_sync *s, size_t n, char *err, size_t errlen) {
    local_limit_sync_item *items = s->items;
    int64_t sent = now_us();
    bool queued = true;
    for (size_t i = 0; i < n && queued; i++) {
        char count_text[16], period_text[16], n_text[16], age_text[24];
        snprintf(count_text, sizeof count_text, "%d", items[i].spec.count);
        snprintf(period_text, sizeof period_text, "%d", items[i].spec.period_s);
        snprintf(n_text, sizeof n_text, "%d", (int)items[i].n);
        int64_t age = sent - items[i].first_us;
        snprintf(age_text, sizeof age_text, "%lld", (long long)(age > 0 ? age : 0));
        const char *argv[] = {"EVALSHA",  s->sha,      "1",    items[i].key,
                              count_text, period_text, n_text, age_text};
        queued = redisAppendCommandArgv(s->rc, 8, argv, NULL) == REDIS_OK;
    }
    chunk_result res = {0};
    local_limit_sync_item *back = s->failed;
    size_t nback = 0;
    bool broken = false; /* the connection failed: no more replies to read */
    bool maybe_run = false;
    if (!queued) {
        /* Appending only buffers: nothing was written, nothing ran. */
        errbuf_setf(err, errlen, "%s", s->rc->errstr[0] ? s->rc->errstr : "cannot queue a command");
        broken = true;
    }
    bool reload = false;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (!broken && redisGetReply(s->rc, (void **)&r) != REDIS_OK) {
            errbuf_setf(err, errlen, "%s", s->rc->errstr[0] ? s->rc->errstr : "no reply");
            broken = true;
            /* The commands were written. Redis closing the connection (EOF) did not run
             * them; a timeout or any other error may have (a frozen Redis runs them when
             * it wakes up), so those are not retried. */
            maybe_run = s->rc->err != REDIS_ERR_EOF;
            r = NULL;
        }
        int64_t debt = 0;
        if (r != NULL && ratelimit_sync_parse(r, &debt) == 0) {
            items[i].debt_us = debt;
            items[res.answered++] = items[i];
        } else if (r != NULL || !maybe_run) {
            if (r != NULL) { /* an error reply: the script did not run */
                errbuf_setf(err, errlen, "%.200s",
                            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
                    reload = true; /* after SCRIPT FLUSH: connecting loads it again */
            }
            back[nback++] = items[i];
        } else {
            res.dropped++;
        }
        if (r != NULL)
            freeReplyObject(r);
    }
    if (broken || reload)
        close_conn(s);
    local_limits_merge(s->p.limits, items, res.answered, sent);
    local_limits_restore(s->p.limits, back, nback);
    res.restored = nback;
    return res;
}

static void report_tables(limit_sync *s) {
    local_limits_stats st;
    local_limits_get_stats(s->p.limits, &st);
    metrics_gauge_set("taskbus_ratelimit_local_buckets",
                      "Local rate-limit buckets held by this API instance", NULL,
                      (double)st.buckets);
    if (st.evicted_dirty > s->reported_evicted_dirty)
        count("taskbus_ratelimit_local_evictions_total",
              "Local buckets evicted to make room (unsynced: admissions lost to the shared "
              "bucket; busy: a bucket that was not full)",
              "unsynced", (double)(st.evicted_dirty - s->reported_evicted_dirty));
    if (st.evicted_busy > s->reported_evicted_busy)
        count("taskbus_ratelimit_local_evictions_total",
              "Local buckets evicted to make room (unsynced: admissions lost to the shared "
              "bucket; busy: a bucket that was not full)",
              "busy", (double)(st.evicted_busy - s->reported_evicted_busy));
    s->reported_evicted_dirty = st.evicted_dirty;
    s->reported_evicted_busy = st.evicted_busy;
}

int limit_sync_round(limit_sync *s) {
    int64_t started = now_us();
    unsigned stripe = s->sweep_stripe++;
    local_limits_sweep(s->p.limits, stripe, started);
    if (s->p.sweep_also != NULL)
        local_limits_sweep(s->p.sweep_also, stripe, started);

    char err[256] = "";
    size_t pushed = 0, failed = 0, dropped = 0;
    bool ok = true;
    /* A bounded number of chunks per round, so a flood of keys cannot keep it going. */
    local_limits_stats st;
    local_limits_get_stats(s->p.limits, &st);
    size_t chunks_left = st.buckets / LIMIT_SYNC_CHUNK + 1;
    for (; chunks_left > 0; chunks_left--) {
        size_t n = local_limits_collect(s->p.limits, s->items, LIMIT_SYNC_CHUNK);
        if (n == 0)
            break;
        if (ensure_conn(s, err, sizeof err) != 0) {
            local_limits_restore(s->p.limits, s->items, n);
            failed += n;
            ok = false;
            break;
        }
        chunk_result res = push_chunk(s, n, err, sizeof err);
        pushed += res.answered;
        failed += res.restored;
        dropped += res.dropped;
        if (res.answered < n) {
            ok = false;
            break;
        }
        if (n < LIMIT_SYNC_CHUNK)
            break;
    }
    const char *help = "Reconcile rounds of the local rate-limit buckets with Redis (idle: "
                       "nothing to push)";
    if (pushed == 0 && failed == 0 && dropped == 0 && ok) {
        count("taskbus_ratelimit_sync_rounds_total", help, "idle", 1);
    } else {
        count("taskbus_ratelimit_sync_rounds_total", help, ok ? "ok" : "failed", 1);
        metrics_histogram_observe(
            "taskbus_ratelimit_sync_seconds", "Duration of a reconcile round that pushed buckets",
            ok ? "result=\"ok\"" : "result=\"failed\"", (double)(now_us() - started) / 1e6);
    }
    const char *bhelp = "Buckets pushed to Redis by the reconciler (retried: kept for the next "
                        "round; dropped: the answer was lost, not retried)";
    if (pushed > 0)
        count("taskbus_ratelimit_sync_buckets_total", bhelp, "ok", (double)pushed);
    if (failed > 0)
        count("taskbus_ratelimit_sync_buckets_total", bhelp, "retried", (double)failed);
    if (dropped > 0)
        count("taskbus_ratelimit_sync_buckets_total", bhelp, "dropped", (double)dropped);
    report_tables(s);
    /* An idle round with the connection in back-off has not tried Redis: no news. */
    if (pushed > 0 || failed > 0 || dropped > 0 || !ok)
        note_state(s, ok, err);
    return ok ? 0 : -1;
}

static void *run(void *arg) {
    limit_sync *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec deadline = time_monotonic_deadline_ms(s->p.interval_ms);
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == 0) {
        }
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        (void)limit_sync_round(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    (void)limit_sync_round(s); /* the last admissions reach Redis too */
    return NULL;
}

limit_sync *limit_sync_start(const limit_sync_params *params, char *err, size_t errlen) {
    if (params == NULL || params->limits == NULL || params->redis_url == NULL ||
        params->timeout_ms < 1 || params->interval_ms < 0) {
        errbuf_setf(err, errlen, "invalid reconciler parameters");
        return NULL;
    }
    limit_sync *s = calloc(1, sizeof *s);
    if (s == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    s->p = *params;
    s->p.redis_url = NULL; /* parsed below; the caller's string is not kept */
    s->items = calloc(LIMIT_SYNC_CHUNK, sizeof *s->items);
    s->failed = calloc(LIMIT_SYNC_CHUNK, sizeof *s->failed);
    bool mem_ok = s->items != NULL && s->failed != NULL;
    if (!mem_ok || redis_url_parse(params->redis_url, &s->url, err, errlen) != 0) {
        if (!mem_ok)
            errbuf_setf(err, errlen, "out of memory");
        free(s->items);
        free(s->failed);
        free(s);
        return NULL;
    }
    if (params->interval_ms == 0)
        return s;
    pthread_condattr_t ca;
    bool cv_ok = pthread_condattr_init(&ca) == 0;
    cv_ok = cv_ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
            pthread_cond_init(&s->cv, &ca) == 0;
    (void)pthread_condattr_destroy(&ca);
    if (!cv_ok || pthread_mutex_init(&s->mu, NULL) != 0) {
        errbuf_setf(err, errlen, "cannot set up the reconciler's condition variable");
        if (cv_ok)
            pthread_cond_destroy(&s->cv);
        free(s->items);
        free(s->failed);
        free(s);
        return NULL;
    }
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0) {
        errbuf_setf(err, errlen, "cannot start the reconciler thread: %s", strerror(rc));
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s->items);
        free(s->failed);
        free(s);
        return NULL;
    }
    s->has_thread = true;
    return s;
}

void limit_sync_stop(limit_sync *s) {
    if (s == NULL)
        return;
    if (s->has_thread) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
    }
    if (s->rc != NULL)
        redisFree(s->rc);
    free(s->items);
    free(s->failed);
    sodium_memzero(&s->url, sizeof s->url); /* the password */
    free(s);
}
