/*
 * sse_stream.c: a user's live event stream: SUBSCRIBE, replay, live forwarding
 * (see sse_stream.h).
 * Rules: the subscribed context is read without hiredis's blocking reader (a read
 * timeout would leave the context unusable): poll() on its socket, then
 * redisBufferRead and redisGetReplyFromReader. Replay pages go through the pool and keep
 * no pooled connection beyond one command.
 */
#include "api/sse_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>

#include "shared/cache_keys.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

/* Bounds a replay; the log holds about CACHE_EVENTS_STREAM_MAXLEN entries. */
#define SSE_REPLAY_MAX_PAGES 25

/* Process-wide, shared by every connection thread: atomics, no lock needed. */
static atomic_bool g_shutting_down = false;
static atomic_int g_open = 0;

struct sse_stream {
    redisContext *sub;
    sse_buf out;
    sse_id last_sent;
    bool have_last;
    bool ended; /* the closing bytes are queued; END once out is empty */
    int64_t end_unix_ms;
    int keepalive_ms;
    int64_t last_write_ns;
    int64_t opened_ns;
    long events_sent;
    char user_id[UUID_STR_LEN];
    char request_id[129];
};

void sse_streams_shutdown(void) {
    atomic_store(&g_shutting_down, true);
}

int sse_streams_open_count(void) {
    return atomic_load(&g_open);
}

static void count_open(int delta) {
    int now = atomic_fetch_add(&g_open, delta) + delta;
    metrics_gauge_set("taskbus_sse_streams_open", "Server-Sent Events streams open", NULL, now);
}

static void stream_destroy(sse_stream *st) {
    if (st->sub != NULL) {
        redisFree(st->sub);
    }
    sse_buf_free(&st->out);
    free(st);
}

static int subscribe(sse_stream *st, const sse_stream_params *p, char *err, size_t errlen) {
    st->sub = redis_url_connect(p->redis, p->redis_timeout_ms, err, errlen);
    if (st->sub == NULL) {
        return -1;
    }
    char channel[CACHE_KEY_MAX];
    cache_key_events_channel(channel, p->user_id);
    const char *argv[2] = {"SUBSCRIBE", channel};
    redisReply *r = redisCommandArgv(st->sub, 2, argv, NULL);
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "subscribe") == 0;
    if (!ok) {
        snprintf(err, errlen, "redis SUBSCRIBE failed: %s",
                 r == NULL ? st->sub->errstr
                           : (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer"));
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return ok ? 0 : -1;
}

/* Appends ev when it is newer than what was sent. 0, or -1 out of memory. */
static int offer_event(sse_stream *st, const sse_event *ev) {
    if (st->have_last && sse_id_compare(ev->id, st->last_sent) <= 0) {
        return 0;
    }
    if (sse_buf_append_event(&st->out, ev->id_text, ev->name, ev->data) != 0) {
        return -1;
    }
    st->last_sent = ev->id;
    st->have_last = true;
    st->events_sent++;
    return 0;
}

/* The value of field "event" of a stream entry ([id, [k, v, ...]]), or NULL. */
static const redisReply *entry_event_field(const redisReply *entry) {
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[1]->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }
    const redisReply *fields = entry->element[1];
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, "event") == 0 &&
            v->type == REDIS_REPLY_STRING) {
            return v;
        }
    }
    return NULL;
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
    if (r->elements == 0 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements < 1 || r->element[0]->element[0]->type != REDIS_REPLY_STRING) {
        return false;
    }
    return sse_id_parse(r->element[0]->element[0]->str, out);
}

/* Sends every entry of one page; *last gets the page's last id. Returns the entry count. */
static int send_page(sse_stream *st, const redisReply *page, sse_id *last) {
    for (size_t i = 0; i < page->elements; i++) {
        const redisReply *entry = page->element[i];
        const redisReply *value = entry_event_field(entry);
        sse_event ev;
        if (value == NULL ||
            sse_event_from_entry(entry->element[0]->str, value->str, value->len, &ev) != 0) {
            LOG_WARNF("sse: skipped a malformed entry of %s's event log", st->user_id);
            continue;
        }
        *last = ev.id;
        int rc = offer_event(st, &ev);
        sse_event_clear(&ev);
        if (rc != 0) {
            return -1;
        }
    }
    return (int)page->elements;
}

/* Entries after st->last_sent. 0, or -1 when Redis failed or memory ran out. */
static int replay(sse_stream *st, redis_pool *pool, const char *key) {
    char from[SSE_ID_TEXT_MAX];
    sse_id_format(st->last_sent, from);
    for (int pages = 0; pages < SSE_REPLAY_MAX_PAGES; pages++) {
        redisReply *page = range(pool, "XRANGE", key, from, "+", SSE_REPLAY_PAGE);
        if (page == NULL) {
            return -1;
        }
        sse_id last = st->last_sent;
        int n = send_page(st, page, &last);
        freeReplyObject(page);
        if (n < 0) {
            return -1;
        }
        if (n < SSE_REPLAY_PAGE) {
            return 0;
        }
        sse_id_format(last, from); /* inclusive start: offer_event drops the repeat */
    }
    return 0;
}

/* `event: reset` carrying the newest id, so a reconnect after it resumes from there. */
static int send_reset(sse_stream *st, redis_pool *pool, const char *key, const char *why) {
    redisReply *newest = range(pool, "XREVRANGE", key, "+", "-", 1);
    if (newest == NULL) {
        return -1;
    }
    sse_id id;
    bool have = first_id(newest, &id);
    freeReplyObject(newest);
    char id_text[SSE_ID_TEXT_MAX];
    if (have) {
        sse_id_format(id, id_text);
        st->last_sent = id;
    }
    st->have_last = have;
    json_t *data = json_pack("{s:s}", "reason", why);
    char *text = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    int rc =
        text != NULL ? sse_buf_append_event(&st->out, have ? id_text : NULL, "reset", text) : -1;
    free(text);
    return rc;
}

/* Replay after last_seen, or a reset when the log no longer reaches back that far. */
static int catch_up(sse_stream *st, const sse_stream_params *p, bool *reset) {
    char key[CACHE_KEY_MAX];
    cache_key_events_log(key, p->user_id);
    redisReply *oldest = range(p->pool, "XRANGE", key, "-", "+", 1);
    if (oldest == NULL) {
        return -1;
    }
    sse_id first;
    bool have = first_id(oldest, &first);
    freeReplyObject(oldest);
    st->last_sent = *p->last_seen;
    st->have_last = true;
    /* The log is trimmed from its old end only, so when its oldest entry is not after the
     * client's id, everything newer is still there. An empty log after events were seen
     * means it was lost: only a re-list is exact then. */
    if (!have || sse_id_compare(first, *p->last_seen) > 0) {
        *reset = true;
        return send_reset(st, p->pool, key,
                          have ? "Last-Event-ID is older than the event log"
                               : "the event log holds nothing after Last-Event-ID");
    }
    return replay(st, p->pool, key);
}

sse_open_result sse_stream_open(const sse_stream_params *p, sse_stream **out, char *err,
                                size_t errlen) {
    *out = NULL;
    if (atomic_load(&g_shutting_down)) {
        snprintf(err, errlen, "the server is shutting down");
        return SSE_OPEN_SHUTTING_DOWN;
    }
    sse_stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return SSE_OPEN_NO_MEMORY;
    }
    snprintf(st->user_id, sizeof st->user_id, "%s", p->user_id);
    snprintf(st->request_id, sizeof st->request_id, "%s", p->request_id ? p->request_id : "");
    st->end_unix_ms = p->end_unix_ms;
    st->keepalive_ms = p->keepalive_ms > 0 ? p->keepalive_ms : SSE_KEEPALIVE_MS;
    char hint[32];
    int n = snprintf(hint, sizeof hint, "retry: %d\n\n", SSE_RETRY_MS);
    if (sse_buf_append_raw(&st->out, hint, (size_t)n) != 0) {
        stream_destroy(st);
        return SSE_OPEN_NO_MEMORY;
    }
    if (subscribe(st, p, err, errlen) != 0) {
        stream_destroy(st);
        return SSE_OPEN_UNAVAILABLE;
    }
    bool reset = false;
    if (p->last_seen != NULL && catch_up(st, p, &reset) != 0) {
        snprintf(err, errlen, "redis could not replay the event log");
        stream_destroy(st);
        return SSE_OPEN_UNAVAILABLE;
    }
    st->opened_ns = st->last_write_ns = time_monotonic_ns();
    count_open(1);
    log_json(LOG_INFO, "sse stream opened",
             json_pack("{s:s,s:b,s:i,s:b}", "user_id", st->user_id, "resumed", p->last_seen != NULL,
                       "replayed", (int)st->events_sent, "reset", reset));
    *out = st;
    return SSE_OPEN_OK;
}

/* 1: *reply holds a reply; 0: nothing arrived within wait_ms; -1: the connection failed. */
static int sub_read(sse_stream *st, int wait_ms, redisReply **reply) {
    void *r = NULL;
    *reply = NULL;
    if (redisGetReplyFromReader(st->sub, &r) != REDIS_OK) {
        return -1;
    }
    if (r == NULL) {
        struct pollfd pfd = {.fd = st->sub->fd, .events = POLLIN};
        int n = poll(&pfd, 1, wait_ms);
        if (n <= 0) {
            return (n == 0 || errno == EINTR) ? 0 : -1;
        }
        if (redisBufferRead(st->sub) != REDIS_OK ||
            redisGetReplyFromReader(st->sub, &r) != REDIS_OK) {
            return -1;
        }
    }
    *reply = r;
    return r != NULL ? 1 : 0;
}

/* Handles one pub/sub reply. 0, or -1 out of memory. */
static int on_published(sse_stream *st, const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING) {
        return 0; /* subscribe confirmations and the like */
    }
    sse_event ev;
    if (sse_event_from_message(r->element[2]->str, r->element[2]->len, &ev) != 0) {
        LOG_WARNF("sse: dropped a malformed message on %s's channel", st->user_id);
        return 0;
    }
    int rc = offer_event(st, &ev);
    sse_event_clear(&ev);
    return rc;
}

/* Queues the last words and marks the stream ended. */
static void finish(sse_stream *st, const char *why) {
    st->ended = true;
    if (sse_buf_append_comment(&st->out, why) != 0) {
        st->out.len = 0;
    }
    log_set_request_id(st->request_id);
    log_json(LOG_INFO, "sse stream ending",
             json_pack("{s:s,s:s,s:i,s:f}", "user_id", st->user_id, "reason", why, "events_sent",
                       (int)st->events_sent, "seconds",
                       (double)(time_monotonic_ns() - st->opened_ns) / 1e9));
    log_set_request_id(NULL);
}

/* Waits until there is something to send or the stream must end. */
static void fill(sse_stream *st) {
    while (st->out.len == 0 && !st->ended) {
        int64_t now_ns = time_monotonic_ns();
        int64_t idle_ms = (now_ns - st->last_write_ns) / 1000000;
        if (atomic_load(&g_shutting_down)) {
            finish(st, "server shutting down; reconnect");
        } else if (st->end_unix_ms > 0 && time_now_unix_ms() >= st->end_unix_ms) {
            finish(st, "access token expired; reconnect with a fresh one");
        } else if (idle_ms >= st->keepalive_ms) {
            if (sse_buf_append_comment(&st->out, "keepalive") != 0) {
                finish(st, "out of memory");
            }
        } else {
            int64_t wait = st->keepalive_ms - idle_ms;
            redisReply *r = NULL;
            int got = sub_read(st, wait < SSE_POLL_SLICE_MS ? (int)wait : SSE_POLL_SLICE_MS, &r);
            if (got < 0) {
                finish(st, "event source lost; reconnect");
            } else if (got > 0) {
                int rc = on_published(st, r);
                freeReplyObject(r);
                if (rc != 0) {
                    finish(st, "out of memory");
                }
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
    count_open(-1);
    stream_destroy(st);
}
