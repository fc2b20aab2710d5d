/*
 * rate_limit_sync.c: the reconciler of local and shared rate-limit buckets (rate_limit_sync.h).
 *
 * Owns: its thread, its contexts (one per Redis node, shared/redis_cluster.h; only that
 * thread touches them, or the test that drives limit_sync_round with no thread), its
 * redis_cluster (mode and slot map), the loaded sha1 of RATELIMIT_SYNC_LUA, the reconnect
 * back-off and the metrics ratelimit_sync_* and ratelimit_local_*.
 * Rules: a round collects a chunk, groups it by the node that owns each bucket's slot
 * (standalone: one group), pipelines one EVALSHA per bucket to each node, reads every reply,
 * merges the answered buckets and gives back the others: those Redis surely did not run
 * (error replies such as NOSCRIPT, a connection Redis closed, no connection) go back to
 * their buckets for the next round; those whose answer was lost after they were written
 * (a timeout: a frozen Redis runs them when it wakes up) are dropped, so the shared bucket
 * never counts a request twice (it may miss one round of this instance's admissions; the
 * local bucket still holds them). A redirect (MOVED/ASK: the slot moved, or is moving) or
 * CLUSTERDOWN is an error reply: the script did not run, the bucket waits for the next
 * round, and MOVED updates the map so that round goes to the right node. A connection
 * error drops that node's context (hiredis cannot reuse it) and the next connect to it
 * waits RECONNECT_BACKOFF_MS; a NOSCRIPT reply (SCRIPT FLUSH, a new node) also reconnects,
 * which loads the script again.
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
#include "shared/redis_cluster.h"
#include "shared/redis_url.h"
#include "shared/time_util.h"

#define RECONNECT_BACKOFF_MS 500
#define DOWN_WARN_EVERY_MS 10000

struct limit_sync {
    limit_sync_params p;
    redis_url url;
    redis_cluster *cluster;
    redis_conns conns;                                /* one context per node */
    bool loaded[REDIS_CLUSTER_MAX_NODES];             /* the script loaded on conns.ctx[i] */
    int64_t reconnect_at_us[REDIS_CLUSTER_MAX_NODES]; /* no connect to node i before this */
    char sha[41];
    bool down; /* the last round could not reach Redis */
    int64_t down_warned_us;
    unsigned sweep_stripe;
    local_limit_sync_item *items;  /* LIMIT_SYNC_CHUNK of them: what a chunk pushes */
    local_limit_sync_item *merged; /* LIMIT_SYNC_CHUNK of them: what was answered */
    local_limit_sync_item *failed; /* LIMIT_SYNC_CHUNK of them: what it gives back */
    int *node_of;                  /* LIMIT_SYNC_CHUNK of them: each item's node */
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

static void close_conn(limit_sync *s, int node) {
    redis_cluster_node_failed(s->cluster, &s->conns, node);
    s->loaded[node] = false;
    s->reconnect_at_us[node] = now_us() + (int64_t)RECONNECT_BACKOFF_MS * 1000;
}

/* node's context with the script loaded; NULL with err (the context is gone). */
static redisContext *ensure_conn(limit_sync *s, int node, char *err, size_t errlen) {
    if (s->conns.ctx[node] == NULL && now_us() < s->reconnect_at_us[node]) {
        errbuf_setf(err, errlen, "reconnecting after a failure (back-off)");
        return NULL;
    }
    bool fresh = false;
    redisContext *rc = redis_cluster_node_ctx(s->cluster, &s->conns, node, &fresh, err, errlen);
    if (rc == NULL) {
        s->loaded[node] = false;
        s->reconnect_at_us[node] = now_us() + (int64_t)RECONNECT_BACKOFF_MS * 1000;
        return NULL;
    }
    if (fresh)
        s->loaded[node] = false;
    if (s->loaded[node])
        return rc;
    /* The name is set by the connect (CLIENT LIST tells this connection from the request
     * pool's); the script is loaded on every new connection. */
    const char *load_argv[3] = {"SCRIPT", "LOAD", RATELIMIT_SYNC_LUA};
    redisReply *r = redisCommandArgv(rc, 3, load_argv, NULL);
    int ok = 0;
    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        ok = 1;
    } else {
        errbuf_setf(err, errlen, "SCRIPT LOAD: %s",
                    r == NULL                      ? (rc->errstr[0] ? rc->errstr : "no reply")
                    : r->type == REDIS_REPLY_ERROR ? r->str
                                                   : "unexpected reply");
    }
    if (r != NULL)
        freeReplyObject(r);
    if (!ok) {
        close_conn(s, node);
        return NULL;
    }
    s->loaded[node] = true;
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

/* Pushes the items of one node (idx[0..n) into s->items) in one pipeline; answered ones go
 * to s->merged, surely-not-run ones to s->failed. */
static void push_group(limit_sync *s, int node, const int *idx, size_t n, int64_t sent,
                       chunk_result *res, char *err, size_t errlen) {
    local_limit_sync_item *items = s->items;
    redisContext *rc = node < 0 ? NULL : ensure_conn(s, node, err, errlen);
    if (rc == NULL) {
        if (node < 0)
            errbuf_setf(err, errlen, "no Redis node is known for a bucket's slot");
        for (size_t k = 0; k < n; k++)
            s->failed[res->restored++] = items[idx[k]];
        return;
    }
    bool queued = true;
    for (size_t k = 0; k < n && queued; k++) {
        const local_limit_sync_item *it = &items[idx[k]];
        char count_text[16], period_text[16], n_text[16], age_text[24];
        snprintf(count_text, sizeof count_text, "%d", it->spec.count);
        snprintf(period_text, sizeof period_text, "%d", it->spec.period_s);
        snprintf(n_text, sizeof n_text, "%d", (int)it->n);
        int64_t age = sent - it->first_us;
        snprintf(age_text, sizeof age_text, "%lld", (long long)(age > 0 ? age : 0));
        const char *argv[] = {"EVALSHA",  s->sha,      "1",    it->key,
                              count_text, period_text, n_text, age_text};
        queued = redisAppendCommandArgv(rc, 8, argv, NULL) == REDIS_OK;
    }
    bool broken = false; /* the connection failed: no more replies to read */
    bool maybe_run = false;
    if (!queued) {
        /* Appending only buffers: nothing was written, nothing ran. */
        errbuf_setf(err, errlen, "%s", rc->errstr[0] ? rc->errstr : "cannot queue a command");
        broken = true;
    }
    bool reload = false;
    redisReply *redirect = NULL; /* the first error reply, noted once the pipeline is read */
    for (size_t k = 0; k < n; k++) {
        local_limit_sync_item *it = &items[idx[k]];
        redisReply *r = NULL;
        if (!broken && redisGetReply(rc, (void **)&r) != REDIS_OK) {
            errbuf_setf(err, errlen, "%s", rc->errstr[0] ? rc->errstr : "no reply");
            broken = true;
            /* The commands were written. Redis closing the connection (EOF) did not run
             * them; a timeout or any other error may have (a frozen Redis runs them when
             * it wakes up), so those are not retried. */
            maybe_run = rc->err != REDIS_ERR_EOF;
            r = NULL;
        }
        int64_t debt = 0;
        if (r != NULL && ratelimit_sync_parse(r, &debt) == 0) {
            it->debt_us = debt;
            s->merged[res->answered++] = *it;
        } else if (r != NULL || !maybe_run) {
            if (r != NULL) { /* an error reply: the script did not run */
                errbuf_setf(err, errlen, "%.200s",
                            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
                    reload = true; /* after SCRIPT FLUSH: connecting loads it again */
                /* MOVED updates the map for the next round; ASK, TRYAGAIN: next round.
                 * Noted only after every reply was read: a map refresh may use this very
                 * connection, whose pending replies belong to the pipeline. */
                if (redirect == NULL && r->type == REDIS_REPLY_ERROR) {
                    redirect = r;
                    r = NULL;
                }
            }
            s->failed[res->restored++] = *it;
        } else {
            res->dropped++;
        }
        if (r != NULL)
            freeReplyObject(r);
    }
    if (broken || reload)
        close_conn(s, node); /* first: a broken connection must not serve the refresh */
    if (redirect != NULL) {
        (void)redis_cluster_note_error(s->cluster, &s->conns, node, redirect);
        freeReplyObject(redirect);
    }
}

/* Pushes items[0..n) (one pipeline per node) and merges or gives back each. */
static chunk_result push_chunk(limit_sync *s, size_t n, char *err, size_t errlen) {
    int64_t sent = now_us();
    chunk_result res = {0};
    /* Group by node: a counting pass over the node indexes (-1: no node known). */
    int *idx = s->node_of + LIMIT_SYNC_CHUNK; /* second half: the grouped order */
    bool done[REDIS_CLUSTER_MAX_NODES + 1] = {false};
    for (size_t i = 0; i < n; i++) {
        const char *key = s->items[i].key;
        s->node_of[i] = redis_cluster_slot_node(s->cluster, &s->conns,
                                                redis_cluster_key_slot(key, strlen(key)));
    }
    for (size_t i = 0; i < n; i++) {
        int node = s->node_of[i];
        if (done[node + 1])
            continue;
        done[node + 1] = true;
        size_t m = 0;
        for (size_t j = i; j < n; j++) {
            if (s->node_of[j] == node)
                idx[m++] = (int)j;
        }
        push_group(s, node, idx, m, sent, &res, err, errlen);
    }
    local_limits_merge(s->p.limits, s->merged, res.answered, sent);
    local_limits_restore(s->p.limits, s->failed, res.restored);
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

static void free_buffers(limit_sync *s) {
    free(s->items);
    free(s->merged);
    free(s->failed);
    free(s->node_of);
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
    s->merged = calloc(LIMIT_SYNC_CHUNK, sizeof *s->merged);
    s->failed = calloc(LIMIT_SYNC_CHUNK, sizeof *s->failed);
    s->node_of = calloc(2 * LIMIT_SYNC_CHUNK, sizeof *s->node_of);
    bool mem_ok = s->items != NULL && s->merged != NULL && s->failed != NULL && s->node_of != NULL;
    if (!mem_ok || redis_url_parse(params->redis_url, &s->url, err, errlen) != 0 ||
        (s->cluster = redis_cluster_create(&s->url, params->timeout_ms, err, errlen)) == NULL) {
        if (!mem_ok)
            errbuf_setf(err, errlen, "out of memory");
        free_buffers(s);
        sodium_memzero(&s->url, sizeof s->url);
        free(s);
        return NULL;
    }
    redis_cluster_set_client_name(s->cluster, LIMIT_SYNC_CLIENT_NAME);
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
        free_buffers(s);
        redis_cluster_destroy(s->cluster);
        free(s);
        return NULL;
    }
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0) {
        errbuf_setf(err, errlen, "cannot start the reconciler thread: %s", strerror(rc));
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free_buffers(s);
        redis_cluster_destroy(s->cluster);
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
    redis_conns_close(&s->conns);
    redis_cluster_destroy(s->cluster);
    free_buffers(s);
    sodium_memzero(&s->url, sizeof s->url); /* the password */
    free(s);
}
