/*
 * sse_stream.c: a user's live event stream: a hub slot, the log position, replay and
 * live forwarding (see sse_stream.h).
 * Rules: log reads go through the pool and keep no pooled connection beyond one command;
 * a read Redis cannot answer is retried a slice later, never skipped. The position only
 * moves forward (offer_event), so the log pages and the live events can overlap freely.
 * A stream is touched by its connection thread only; what it shares lives in the hub.
 */
#include "api/sse_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/near_cache_bus.h"
#include "shared/redis_keys.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

typedef enum {
    ST_LIVE,        /* forwarding what the hub hands over */
    ST_RESYNC_DUE,  /* the log must be re-read after the position: check its window first */
    ST_CATCHING_UP, /* reading the log page by page from page_from */
} catch_state;

typedef enum { STEP_OK, STEP_RETRY, STEP_FATAL } step_rc;

struct sse_stream {
    sse_hub_sub *sub; /* the slot; given back in sse_stream_free */
    redis_pool *pool;
    sse_buf out;
    sse_id last_sent; /* the position: nothing at or before it is sent again */
    bool have_last;   /* false: no position (the log was empty), everything in the log is new */
    catch_state state;
    char page_from[SSE_ID_TEXT_MAX]; /* next XRANGE start (inclusive), or "-" */
    bool ended;                      /* the closing bytes are queued; END once out is empty */
    int64_t end_unix_ms;
    int keepalive_ms;
    int64_t last_write_ns;
    int64_t opened_ns;
    long events_sent;
    long resyncs;
    char user_id[UUID_STR_LEN];
    char log_key[REDIS_KEY_MAX];
    char request_id[129];
    char trace_id[33]; /* the opening request's (log_trace_id), "" when none */
    int lease_ms;
    long long acked_seq; /* every near-cache sequence up to it is acknowledged */
    bool (*credential_valid)(void *arg);
    void *credential_arg; /* owned */
    int64_t credential_checked_ns;
};

static void stream_destroy(sse_stream *st) {
    sse_hub_leave(st->sub);
    sse_buf_free(&st->out);
    free(st->credential_arg);
    free(st);
}

/* An event reports its command applied: like GET /commands, it waits until every API
 * instance acknowledged the change's invalidation, or until a lease and its margin after
 * it was published (we received it after that), when it is safe anyway
 * (docs/decisions.md, "Near cache"). */
static void wait_acknowledged(sse_stream *st, long long seq) {
    if (seq <= 0 || seq <= st->acked_seq)
        return;
    near_cache_bus_wait(st->pool, seq, st->lease_ms, time_monotonic_ns());
    st->acked_seq = seq;
}

/* Appends ev when it is newer than what was sent. 0, or -1 out of memory. */
static int offer_event(sse_stream *st, const sse_event *ev) {
    if (st->have_last && sse_id_compare(ev->id, st->last_sent) <= 0) {
        return 0;
    }
    wait_acknowledged(st, ev->nc_seq);
    if (sse_buf_append_event(&st->out, ev->id_text, ev->name, ev->data) != 0) {
        return -1;
    }
    st->last_sent = ev->id;
    st->have_last = true;
    st->events_sent++;
    return 0;
}

/* The value of field name of a stream entry ([id, [k, v, ...]]), or NULL. */
static const redisReply *entry_field(const redisReply *entry, const char *name) {
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[1]->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }
    const redisReply *fields = entry->element[1];
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0 &&
            v->type == REDIS_REPLY_STRING) {
            return v;
        }
    }
    return NULL;
}

/* The id text of a stream entry, or NULL. */
static const char *entry_id(const redisReply *entry) {
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 1 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        return NULL;
    }
    return entry->element[0]->str;
}

/* XRANGE/XREVRANGE key from to COUNT n through the pool. NULL when Redis cannot answer. */
static redisReply *range(redis_pool *pool, const char *cmd, const char *key, const char *from,
                         const char *to, int count) {
    char n[16];
    snprintf(n, sizeof n, "%d", count);
    const char *argv[6] = {cmd, key, from, to, "COUNT", n};
    redisReply *r = redis_pool_command_argv(pool, 6, argv, NULL);
    if (r != NULL && r->type != REDIS_REPLY_ARRAY) {
        if (r->type == REDIS_REPLY_ERROR) {
            LOG_WARNF("sse: %s failed: %s", cmd, r->str);
        }
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* The id of the first entry of an XRANGE answer; false when it has none. */
static bool first_id(const redisReply *r, sse_id *out) {
    const char *id = r->elements > 0 ? entry_id(r->element[0]) : NULL;
    return id != NULL && sse_id_parse(id, out);
}

/* The newest entry's id: 1 found, 0 the log is empty, -1 Redis failed. */
static int newest_id(sse_stream *st, sse_id *out) {
    redisReply *newest = range(st->pool, "XREVRANGE", st->log_key, "+", "-", 1);
    if (newest == NULL) {
        return -1;
    }
    bool have = first_id(newest, out);
    freeReplyObject(newest);
    return have ? 1 : 0;
}

/* `event: reset` carrying the newest id, so a reconnect after it resumes from there; the
 * stream goes on live from that id. */
static step_rc send_reset(sse_stream *st, const char *why) {
    sse_id id = {0, 0};
    int have = newest_id(st, &id);
    if (have < 0) {
        return STEP_RETRY;
    }
    json_t *data = json_pack("{s:s}", "reason", why);
    char *text = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    char id_text[SSE_ID_TEXT_MAX];
    if (have) {
        sse_id_format(id, id_text);
    }
    int rc =
        text != NULL ? sse_buf_append_event(&st->out, have ? id_text : NULL, "reset", text) : -1;
    free(text);
    if (rc != 0) {
        return STEP_FATAL;
    }
    st->last_sent = id;
    st->have_last = have == 1;
    st->state = ST_LIVE;
    return STEP_OK;
}

/* Decides how to catch up from the position: a reset when the log no longer reaches back
 * to it, else page by page from it. *reset says which. */
static step_rc begin_catch_up(sse_stream *st, bool *reset) {
    *reset = false;
    if (!st->have_last) {
        /* No position: the log was empty when the stream started, so all it holds is new,
         * unless it was trimmed since (it is trimmed only past its maximum length). */
        redisReply *len = redis_pool_command(st->pool, "XLEN %s", st->log_key);
        if (len == NULL || len->type != REDIS_REPLY_INTEGER) {
            if (len != NULL) {
                freeReplyObject(len);
            }
            return STEP_RETRY;
        }
        bool trimmed = len->integer >= CACHE_EVENTS_STREAM_MAXLEN;
        freeReplyObject(len);
        if (trimmed) {
            *reset = true;
            return send_reset(st, "the event log moved past what this stream has sent");
        }
        snprintf(st->page_from, sizeof st->page_from, "-");
        st->state = ST_CATCHING_UP;
        return STEP_OK;
    }
    redisReply *oldest = range(st->pool, "XRANGE", st->log_key, "-", "+", 1);
    if (oldest == NULL) {
        return STEP_RETRY;
    }
    sse_id first;
    bool have = first_id(oldest, &first);
    freeReplyObject(oldest);
    /* The log is trimmed from its old end only, so when its oldest entry is not after the
     * position, everything newer is still there. An empty log after events were seen
     * means it was lost: only a re-list is exact then. */
    if (!have || sse_id_compare(first, st->last_sent) > 0) {
        *reset = true;
        return send_reset(st, have ? "Last-Event-ID is older than the event log"
                                   : "the event log holds nothing after Last-Event-ID");
    }
    sse_id_format(st->last_sent, st->page_from); /* inclusive: offer_event drops the repeat */
    st->state = ST_CATCHING_UP;
    return STEP_OK;
}

/* Sends one page of the log from page_from; the last short page makes the stream live. */
static step_rc next_page(sse_stream *st) {
    redisReply *page = range(st->pool, "XRANGE", st->log_key, st->page_from, "+", SSE_REPLAY_PAGE);
    if (page == NULL) {
        return STEP_RETRY;
    }
    step_rc rc = STEP_OK;
    for (size_t i = 0; i < page->elements && rc == STEP_OK; i++) {
        const redisReply *entry = page->element[i];
        const char *id = entry_id(entry);
        const redisReply *value = entry_field(entry, "event");
        const redisReply *seq = entry_field(entry, "nc_seq");
        sse_event ev;
        if (id == NULL || value == NULL ||
            sse_event_from_entry(id, value->str, value->len, &ev) != 0) {
            LOG_WARNF("sse: skipped a malformed entry of %s's event log", st->user_id);
        } else {
            ev.nc_seq = seq != NULL ? strtoll(seq->str, NULL, 10) : 0;
            if (offer_event(st, &ev) != 0) {
                rc = STEP_FATAL;
            }
            sse_event_clear(&ev);
        }
        if (id != NULL && strlen(id) < sizeof st->page_from) {
            snprintf(st->page_from, sizeof st->page_from, "%s", id);
        }
    }
    if (rc == STEP_OK && page->elements < SSE_REPLAY_PAGE) {
        st->state = ST_LIVE;
    }
    freeReplyObject(page);
    return rc;
}

/* No Last-Event-ID: the stream starts after the newest logged event. */
static step_rc start_at_newest(sse_stream *st) {
    sse_id id = {0, 0};
    int have = newest_id(st, &id);
    if (have < 0) {
        return STEP_RETRY;
    }
    st->last_sent = id;
    st->have_last = have == 1;
    st->state = ST_LIVE;
    return STEP_OK;
}

static sse_open_result from_join(sse_hub_join_result rc, char *err, size_t errlen) {
    switch (rc) {
    case SSE_HUB_JOINED:
        return SSE_OPEN_OK;
    case SSE_HUB_USER_FULL:
        errbuf_setf(err, errlen, "too many open event streams for this user");
        return SSE_OPEN_USER_FULL;
    case SSE_HUB_INSTANCE_FULL:
        errbuf_setf(err, errlen, "too many open event streams on this server");
        return SSE_OPEN_INSTANCE_FULL;
    case SSE_HUB_SHUTTING_DOWN:
        errbuf_setf(err, errlen, "the server is shutting down");
        return SSE_OPEN_SHUTTING_DOWN;
    case SSE_HUB_UNAVAILABLE:
        errbuf_setf(err, errlen, "redis did not confirm the subscription in time");
        return SSE_OPEN_UNAVAILABLE;
    case SSE_HUB_NO_MEMORY:
        break;
    }
    return SSE_OPEN_NO_MEMORY;
}

sse_open_result sse_stream_open(const sse_stream_params *p, sse_stream **out, char *err,
                                size_t errlen) {
    *out = NULL;
    sse_stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        free(p->credential_arg);
        return SSE_OPEN_NO_MEMORY;
    }
    st->credential_valid = p->credential_valid;
    st->credential_arg = p->credential_arg;
    st->pool = p->pool;
    st->lease_ms = p->lease_ms;
    snprintf(st->user_id, sizeof st->user_id, "%s", p->user_id);
    redis_key_events_log(st->log_key, p->user_id);
    snprintf(st->request_id, sizeof st->request_id, "%s", p->request_id ? p->request_id : "");
    /* Opened on the request's thread: its trace id is the calling thread's. */
    snprintf(st->trace_id, sizeof st->trace_id, "%s", log_trace_id() ? log_trace_id() : "");
    st->end_unix_ms = p->end_unix_ms;
    st->keepalive_ms = p->keepalive_ms > 0 ? p->keepalive_ms : SSE_KEEPALIVE_MS;
    char hint[32];
    int n = snprintf(hint, sizeof hint, "retry: %d\n\n", SSE_RETRY_MS);
    if (sse_buf_append_raw(&st->out, hint, (size_t)n) != 0) {
        stream_destroy(st);
        return SSE_OPEN_NO_MEMORY;
    }
    sse_open_result joined =
        from_join(sse_hub_join(p->hub, p->user_id, p->join_wait_ms, &st->sub), err, errlen);
    if (joined != SSE_OPEN_OK) {
        stream_destroy(st);
        return joined;
    }
    bool reset = false;
    step_rc rc;
    if (p->last_seen != NULL) {
        st->last_sent = *p->last_seen;
        st->have_last = true;
        rc = begin_catch_up(st, &reset);
    } else {
        rc = start_at_newest(st);
    }
    if (rc != STEP_OK) {
        errbuf_setf(err, errlen, "redis could not read the event log");
        stream_destroy(st);
        return rc == STEP_RETRY ? SSE_OPEN_UNAVAILABLE : SSE_OPEN_NO_MEMORY;
    }
    st->opened_ns = st->last_write_ns = st->credential_checked_ns = time_monotonic_ns();
    log_json(LOG_INFO, "sse stream opened",
             json_pack("{s:s,s:b,s:b}", "user_id", st->user_id, "resumed", p->last_seen != NULL,
                       "reset", reset));
    *out = st;
    return SSE_OPEN_OK;
}

/* Queues the last words and marks the stream ended. */
static void finish(sse_stream *st, const char *why) {
    st->ended = true;
    if (sse_buf_append_comment(&st->out, why) != 0) {
        st->out.len = 0;
    }
    log_set_request_id(st->request_id);
    log_set_trace_id(st->trace_id);
    log_json(LOG_INFO, "sse stream ending",
             json_pack("{s:s,s:s,s:i,s:i,s:f}", "user_id", st->user_id, "reason", why,
                       "events_sent", (int)st->events_sent, "resyncs", (int)st->resyncs, "seconds",
                       (double)(time_monotonic_ns() - st->opened_ns) / 1e9));
    log_set_context(NULL, NULL);
}

/* One step of re-reading the log; a Redis failure waits wait_ms and leaves the state as
 * it was, so the next step tries again. */
static void catch_up_step(sse_stream *st, int wait_ms) {
    bool reset = false;
    step_rc rc = st->state == ST_RESYNC_DUE ? begin_catch_up(st, &reset) : next_page(st);
    if (rc == STEP_FATAL) {
        finish(st, "out of memory");
    } else if (rc == STEP_RETRY) {
        sse_hub_pause(st->sub, wait_ms);
    }
}

/* Waits for the hub's next word and acts on it. */
static void live_step(sse_stream *st, int wait_ms) {
    sse_event ev;
    switch (sse_hub_next(st->sub, wait_ms, &ev)) {
    case SSE_HUB_EVENT: {
        int rc = offer_event(st, &ev);
        sse_event_clear(&ev);
        if (rc != 0) {
            finish(st, "out of memory");
        }
        break;
    }
    case SSE_HUB_RESYNC:
        st->state = ST_RESYNC_DUE;
        st->resyncs++;
        break;
    case SSE_HUB_IDLE:
    case SSE_HUB_CLOSING: /* the next turn of fill() ends the stream */
        break;
    }
}

/* Whether the stream's session was revoked, asked at most every SSE_CREDENTIAL_CHECK_MS
 * (an outage of what would say so keeps the stream: it ends with its token anyway). */
static bool credential_revoked(sse_stream *st, int64_t now_ns) {
    if (st->credential_valid == NULL ||
        now_ns - st->credential_checked_ns < (int64_t)SSE_CREDENTIAL_CHECK_MS * 1000000)
        return false;
    st->credential_checked_ns = now_ns;
    return !st->credential_valid(st->credential_arg);
}

/* Waits until there is something to send or the stream must end. */
static void fill(sse_stream *st) {
    while (st->out.len == 0 && !st->ended) {
        int64_t now_ns = time_monotonic_ns();
        int64_t idle_ms = (now_ns - st->last_write_ns) / 1000000;
        int64_t now_ms = time_now_unix_ms();
        if (sse_hub_closing(st->sub)) {
            finish(st, "server shutting down; reconnect");
        } else if (st->end_unix_ms > 0 && now_ms >= st->end_unix_ms) {
            finish(st, "access token expired; reconnect with a fresh one");
        } else if (credential_revoked(st, now_ns)) {
            finish(st, "session ended; sign in again");
        } else if (idle_ms >= st->keepalive_ms) {
            if (sse_buf_append_comment(&st->out, "keepalive") != 0) {
                finish(st, "out of memory");
            }
        } else {
            int64_t wait = st->keepalive_ms - idle_ms;
            if (wait > SSE_POLL_SLICE_MS) {
                wait = SSE_POLL_SLICE_MS;
            }
            if (st->end_unix_ms > 0 && st->end_unix_ms - now_ms < wait) {
                wait = st->end_unix_ms - now_ms;
            }
            if (st->state == ST_LIVE) {
                live_step(st, (int)wait);
            } else {
                catch_up_step(st, (int)wait);
            }
        }
    }
}

ssize_t sse_stream_read(void *cls, uint64_t offset, char *buf, size_t max) {
    sse_stream *st = cls;
    (void)offset;
    fill(st);
    if (st->out.len == 0) {
        return U_STREAM_END;
    }
    size_t n = st->out.len < max ? st->out.len : max;
    memcpy(buf, st->out.data, n);
    sse_buf_consume(&st->out, n);
    st->last_write_ns = time_monotonic_ns();
    return (ssize_t)n;
}

void sse_stream_free(void *cls) {
    sse_stream *st = cls;
    if (st == NULL) {
        return;
    }
    if (!st->ended) {
        finish(st, "client went away");
    }
    stream_destroy(st);
}
