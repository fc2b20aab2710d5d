/*
 * sse_hub.c: the instance's shared Redis subscription, its fan-out and the stream slots
 * (see sse_hub.h).
 * Rules: the subscribed context is touched by the reader thread only and read without
 * hiredis's blocking reader (a read timeout would leave the context unusable): poll() on
 * its socket and the wake pipe, then redisBufferRead and redisGetReplyFromReader. Per
 * user at most one SUBSCRIBE or UNSUBSCRIBE is in flight; what the table wants and what
 * Redis confirmed are compared after every reply, so a stream that joins while its user's
 * UNSUBSCRIBE is in flight waits for the SUBSCRIBE that follows. A silent connection is
 * probed with PING every SSE_HUB_PING_MS; no answer within SSE_HUB_PONG_WAIT_MS counts
 * as a lost connection. Users are kept in a list searched linearly: at most
 * max_per_instance entries, and each lookup is a short string compare.
 */
#include "api/sse_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/sse_queue.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/redis_keys.h"
#include "shared/redis_url.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define SSE_HUB_PING_MS 5000
#define SSE_HUB_PONG_WAIT_MS 3000
#define SSE_HUB_BACKOFF_MIN_MS 100
#define SSE_HUB_BACKOFF_MAX_MS 5000
#define SSE_HUB_POLL_MAX_MS 1000

enum { IN_FLIGHT_NONE, IN_FLIGHT_SUB, IN_FLIGHT_UNSUB };

typedef struct hub_user {
    struct hub_user *next;
    sse_hub_sub *subs; /* this user's streams */
    int nsubs;
    bool confirmed; /* Redis confirmed SUBSCRIBE on the current connection */
    int in_flight;  /* IN_FLIGHT_*: the command sent and not yet answered */
    char user_id[UUID_STR_LEN];
    char channel[REDIS_KEY_MAX];
} hub_user;

struct sse_hub_sub {
    sse_hub *hub;
    hub_user *user;
    sse_hub_sub *next;   /* in user->subs */
    pthread_cond_t cond; /* signalled (with hub->mu) when something for this stream changed */
    sse_queue queue;
    bool live;     /* the user's channel is subscribed on the current connection */
    bool was_live; /* it was at some point: a later subscription means a gap to re-read */
    bool resync;   /* the stream must re-read the log (reconnect or overflow) */
};

struct sse_hub {
    /* Set by sse_hub_create, read-only afterwards. */
    redis_url url;
    int timeout_ms;
    int max_per_user;
    int max_per_instance;
    size_t queue_bytes;
    char client_name[64];
    int wake[2]; /* the reader thread polls wake[0]; anyone writes a byte to wake[1] */
    pthread_t reader;

    pthread_mutex_t mu; /* guards everything below */
    hub_user *users;
    int open;
    bool closing;   /* sse_hub_shutdown ran: refuse joins, end streams */
    bool stop;      /* sse_hub_destroy runs: the reader thread exits */
    bool connected; /* for sse_hub_connected */
};

/* The reader thread's own state (never shared). */
typedef struct reader_state {
    redisContext *c;
    int backoff_ms;
    int64_t retry_at_ns;
    int64_t ping_due_ns;
    int64_t ping_sent_ns; /* 0: no PING unanswered */
    bool said_down;       /* the "cannot reach Redis" warning was logged for this outage */
} reader_state;

/* --- small helpers ------------------------------------------------------------------ */

static int cond_init_monotonic(pthread_cond_t *cond) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        return -1;
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) {
        rc = pthread_cond_init(cond, &ca);
    }
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : -1;
}

static void wake_reader(sse_hub *hub) {
    char b = 1;
    /* Non-blocking: a full pipe already holds a wake-up. */
    if (write(hub->wake[1], &b, 1) < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        LOG_WARNF("sse hub: could not wake the reader thread: %s", strerror(errno));
    }
}

static void drain_wake(sse_hub *hub) {
    char buf[64];
    while (read(hub->wake[0], buf, sizeof buf) > 0) {
    }
}

static void set_open_gauge(const sse_hub *hub) {
    metrics_gauge_set("taskbus_sse_streams_open", "Server-Sent Events streams open", NULL,
                      hub->open);
}

static void set_connected_locked(sse_hub *hub, bool up) {
    hub->connected = up;
    metrics_gauge_set("taskbus_sse_hub_connected",
                      "1 while the Server-Sent Events hub's Redis subscription is up", NULL,
                      up ? 1 : 0);
}

static void count_resync(const char *reason) {
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metrics_counter_add("taskbus_sse_resyncs_total",
                        "Server-Sent Events streams told to re-read the event log, by reason",
                        labels, 1);
}

static hub_user *find_user_by_id(const sse_hub *hub, const char *user_id) {
    for (hub_user *u = hub->users; u != NULL; u = u->next) {
        if (strcmp(u->user_id, user_id) == 0) {
            return u;
        }
    }
    return NULL;
}

static hub_user *find_user_by_channel(const sse_hub *hub, const char *channel) {
    for (hub_user *u = hub->users; u != NULL; u = u->next) {
        if (strcmp(u->channel, channel) == 0) {
            return u;
        }
    }
    return NULL;
}

/* Frees u when nothing refers to it any more: no stream, not subscribed, nothing in
 * flight (an answer still to come must find its entry). */
static void release_user_if_idle_locked(sse_hub *hub, hub_user *u) {
    if (u->nsubs > 0 || u->confirmed || u->in_flight != IN_FLIGHT_NONE) {
        return;
    }
    for (hub_user **p = &hub->users; *p != NULL; p = &(*p)->next) {
        if (*p == u) {
            *p = u->next;
            free(u);
            return;
        }
    }
}

static void sub_free(sse_hub_sub *sub) {
    sse_queue_clear(&sub->queue);
    pthread_cond_destroy(&sub->cond);
    free(sub);
}

/* Takes sub's slot out of the table; the caller frees sub. */
static void unlink_sub_locked(sse_hub *hub, sse_hub_sub *sub) {
    hub_user *u = sub->user;
    for (sse_hub_sub **p = &u->subs; *p != NULL; p = &(*p)->next) {
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    }
    sub->user = NULL;
    u->nsubs--;
    hub->open--;
    set_open_gauge(hub);
    if (u->nsubs == 0) {
        if (u->confirmed || u->in_flight != IN_FLIGHT_NONE) {
            wake_reader(hub); /* UNSUBSCRIBE, or decide once the answer is in */
        }
        release_user_if_idle_locked(hub, u);
    }
}

/* --- the reader thread: replies ----------------------------------------------------- */

/* A SUBSCRIBE or UNSUBSCRIBE confirmation for channel. */
static void on_confirmation(sse_hub *hub, const char *channel, bool subscribed) {
    pthread_mutex_lock(&hub->mu);
    hub_user *u = find_user_by_channel(hub, channel);
    if (u != NULL) {
        u->in_flight = IN_FLIGHT_NONE;
        u->confirmed = subscribed;
        if (subscribed) {
            for (sse_hub_sub *s = u->subs; s != NULL; s = s->next) {
                if (!s->live) {
                    s->live = true;
                    if (s->was_live) {
                        /* It was live on a connection that dropped: what was published in
                         * between is only in the log. */
                        s->resync = true;
                        sse_queue_clear(&s->queue);
                        count_resync("reconnect");
                    }
                    s->was_live = true;
                    pthread_cond_signal(&s->cond);
                }
            }
        } else {
            release_user_if_idle_locked(hub, u);
        }
    }
    pthread_mutex_unlock(&hub->mu);
}

/* A published message: parsed once, a copy queued for each of the user's streams. */
static void on_message(sse_hub *hub, const char *channel, const char *payload, size_t len) {
    sse_event ev;
    if (sse_event_from_message(payload, len, &ev) != 0) {
        LOG_WARNF("sse hub: dropped a malformed message on %s", channel);
        return;
    }
    pthread_mutex_lock(&hub->mu);
    hub_user *u = find_user_by_channel(hub, channel);
    for (sse_hub_sub *s = u != NULL ? u->subs : NULL; s != NULL; s = s->next) {
        if (s->resync) {
            continue; /* it re-reads the log anyway */
        }
        if (sse_queue_push_copy(&s->queue, &ev) != SSE_QUEUE_PUSHED) {
            /* Too far behind (or out of memory): the log has what the queue cannot hold. */
            sse_queue_clear(&s->queue);
            s->resync = true;
            count_resync("overflow");
        }
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&hub->mu);
    sse_event_clear(&ev);
}

static void on_pong(reader_state *rs) {
    rs->ping_sent_ns = 0;
    rs->ping_due_ns = time_monotonic_ns() + (int64_t)SSE_HUB_PING_MS * 1000000;
}

static bool is_string(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* 0, or -1 when the connection must be dropped (Redis answered an error). */
static int on_reply(sse_hub *hub, reader_state *rs, const redisReply *r) {
    if (r->type == REDIS_REPLY_STATUS && strcasecmp(r->str, "PONG") == 0) {
        on_pong(rs);
        return 0;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_WARNF("sse hub: Redis answered an error: %s", r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || !is_string(r->element[0])) {
        return 0;
    }
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "pong") == 0) {
        on_pong(rs);
    } else if (strcmp(kind, "message") == 0 && r->elements == 3 && is_string(r->element[1]) &&
               is_string(r->element[2])) {
        on_message(hub, r->element[1]->str, r->element[2]->str, r->element[2]->len);
    } else if ((strcmp(kind, "subscribe") == 0 || strcmp(kind, "unsubscribe") == 0) &&
               is_string(r->element[1])) {
        on_confirmation(hub, r->element[1]->str, kind[0] == 's');
    }
    return 0;
}

/* --- the reader thread: the connection ---------------------------------------------- */

static int flush_output(redisContext *c) {
    int done = 0;
    while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            return -1;
        }
    }
    return 0;
}

/* Sends a SUBSCRIBE or UNSUBSCRIBE for every user whose wish and state differ and has
 * nothing in flight. 0, or -1 when the connection failed. */
static int send_subscriptions(sse_hub *hub, redisContext *c) {
    int rc = 0;
    pthread_mutex_lock(&hub->mu);
    for (hub_user *u = hub->users; u != NULL && rc == 0; u = u->next) {
        bool want = u->nsubs > 0;
        if (u->in_flight != IN_FLIGHT_NONE || want == u->confirmed) {
            continue;
        }
        const char *argv[2] = {want ? "SUBSCRIBE" : "UNSUBSCRIBE", u->channel};
        if (redisAppendCommandArgv(c, 2, argv, NULL) != REDIS_OK) {
            rc = -1;
        } else {
            u->in_flight = want ? IN_FLIGHT_SUB : IN_FLIGHT_UNSUB;
        }
    }
    pthread_mutex_unlock(&hub->mu);
    return rc == 0 ? flush_output(c) : -1;
}

static redisContext *hub_connect(sse_hub *hub, char *err, size_t errlen) {
    redisContext *c = redis_url_connect(&hub->url, hub->timeout_ms, err, errlen);
    if (c == NULL) {
        return NULL;
    }
    /* A name makes the one subscribed connection of each instance visible in CLIENT LIST. */
    redisReply *r = redisCommand(c, "CLIENT SETNAME %s", hub->client_name);
    if (r == NULL) {
        errbuf_setf(err, errlen, "CLIENT SETNAME failed: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_WARNF("sse hub: CLIENT SETNAME refused: %s", r->str);
    }
    freeReplyObject(r);
    return c;
}

/* Forgets the connection: nothing is subscribed any more, every live stream will be told
 * to re-read the log once its user's channel is subscribed again. */
static void drop_connection(sse_hub *hub, reader_state *rs, const char *reason) {
    char why[128]; /* reason may point into the context freed below */
    snprintf(why, sizeof why, "%s", reason);
    redisFree(rs->c);
    rs->c = NULL;
    pthread_mutex_lock(&hub->mu);
    set_connected_locked(hub, false);
    hub_user **p = &hub->users;
    while (*p != NULL) {
        hub_user *u = *p;
        u->confirmed = false;
        u->in_flight = IN_FLIGHT_NONE;
        for (sse_hub_sub *s = u->subs; s != NULL; s = s->next) {
            s->live = false;
        }
        if (u->nsubs == 0) {
            *p = u->next;
            free(u);
        } else {
            p = &u->next;
        }
    }
    pthread_mutex_unlock(&hub->mu);
    metrics_counter_add("taskbus_sse_hub_disconnects_total",
                        "Times the Server-Sent Events hub lost its Redis connection", NULL, 1);
    log_json(LOG_WARN, "sse hub lost its Redis connection; reconnecting",
             json_pack("{s:s}", "reason", why));
    rs->backoff_ms = SSE_HUB_BACKOFF_MIN_MS;
    rs->retry_at_ns = time_monotonic_ns(); /* the first retry at once: Redis may be back */
    rs->said_down = true;
}

/* The next backoff, with jitter in its upper half so instances do not reconnect in step. */
static int next_backoff(int backoff_ms) {
    int next = backoff_ms <= 0 ? SSE_HUB_BACKOFF_MIN_MS : backoff_ms * 2;
    return next > SSE_HUB_BACKOFF_MAX_MS ? SSE_HUB_BACKOFF_MAX_MS : next;
}

static int64_t jittered_ns(int backoff_ms) {
    int64_t half = (int64_t)backoff_ms * 500000; /* half of it, in ns */
    return half + (half > 0 ? time_monotonic_ns() % half : 0);
}

static bool reader_should_stop(sse_hub *hub) {
    pthread_mutex_lock(&hub->mu);
    bool stop = hub->stop;
    pthread_mutex_unlock(&hub->mu);
    return stop;
}

/* Waits on the wake pipe (and the connection when up) for at most wait_ms; reads and
 * handles every reply that arrived. 0, or -1 when the connection failed. */
static int pump(sse_hub *hub, reader_state *rs, int wait_ms) {
    struct pollfd pfd[2] = {{.fd = hub->wake[0], .events = POLLIN},
                            {.fd = rs->c != NULL ? rs->c->fd : -1, .events = POLLIN}};
    int n = poll(pfd, rs->c != NULL ? 2 : 1, wait_ms);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (pfd[0].revents != 0) {
        drain_wake(hub);
    }
    if (rs->c == NULL || pfd[1].revents == 0) {
        return 0;
    }
    if (redisBufferRead(rs->c) != REDIS_OK) {
        return -1;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(rs->c, &reply) != REDIS_OK) {
            return -1;
        }
        if (reply == NULL) {
            return 0;
        }
        int rc = on_reply(hub, rs, reply);
        freeReplyObject(reply);
        if (rc != 0) {
            return -1;
        }
    }
}

static int ms_until(int64_t when_ns, int64_t now_ns) {
    int64_t ms = (when_ns - now_ns + 999999) / 1000000;
    if (ms < 0) {
        return 0;
    }
    return ms > SSE_HUB_POLL_MAX_MS ? SSE_HUB_POLL_MAX_MS : (int)ms;
}

/* One step while disconnected: wait out the backoff, then try to connect. */
static void reader_connect_step(sse_hub *hub, reader_state *rs) {
    int64_t now = time_monotonic_ns();
    if (now < rs->retry_at_ns) {
        (void)pump(hub, rs, ms_until(rs->retry_at_ns, now));
        return;
    }
    char err[256] = "";
    rs->c = hub_connect(hub, err, sizeof err);
    if (rs->c == NULL) {
        rs->backoff_ms = next_backoff(rs->backoff_ms);
        rs->retry_at_ns = time_monotonic_ns() + jittered_ns(rs->backoff_ms);
        if (!rs->said_down) {
            log_json(LOG_WARN, "sse hub cannot reach Redis; retrying with backoff",
                     json_pack("{s:s}", "reason", err));
            rs->said_down = true;
        }
        return;
    }
    pthread_mutex_lock(&hub->mu);
    set_connected_locked(hub, true);
    pthread_mutex_unlock(&hub->mu);
    LOG_INFOF("sse hub connected to Redis");
    rs->backoff_ms = 0;
    rs->said_down = false;
    rs->ping_sent_ns = 0;
    rs->ping_due_ns = time_monotonic_ns() + (int64_t)SSE_HUB_PING_MS * 1000000;
}

/* One step while connected: send what the table needs, probe, read. */
static void reader_connected_step(sse_hub *hub, reader_state *rs) {
    if (send_subscriptions(hub, rs->c) != 0) {
        drop_connection(hub, rs, rs->c->errstr[0] ? rs->c->errstr : "write failed");
        return;
    }
    int64_t now = time_monotonic_ns();
    if (rs->ping_sent_ns == 0 && now >= rs->ping_due_ns) {
        const char *argv[1] = {"PING"};
        if (redisAppendCommandArgv(rs->c, 1, argv, NULL) != REDIS_OK || flush_output(rs->c) != 0) {
            drop_connection(hub, rs, "PING could not be sent");
            return;
        }
        rs->ping_sent_ns = now;
    }
    int64_t pong_deadline = rs->ping_sent_ns + (int64_t)SSE_HUB_PONG_WAIT_MS * 1000000;
    if (rs->ping_sent_ns != 0 && now >= pong_deadline) {
        drop_connection(hub, rs, "no answer to PING");
        return;
    }
    int wait = ms_until(rs->ping_sent_ns != 0 ? pong_deadline : rs->ping_due_ns, now);
    if (pump(hub, rs, wait) != 0) {
        drop_connection(hub, rs, rs->c->errstr[0] ? rs->c->errstr : "connection lost");
    }
}

static void *reader_main(void *arg) {
    sse_hub *hub = arg;
    reader_state rs = {0};
    while (!reader_should_stop(hub)) {
        if (rs.c == NULL) {
            reader_connect_step(hub, &rs);
        } else {
            reader_connected_step(hub, &rs);
        }
    }
    if (rs.c != NULL) {
        redisFree(rs.c);
    }
    return NULL;
}

/* --- the streams' side -------------------------------------------------------------- */

/* Checks the caps and links sub into the table. The caller holds hub->mu. */
static sse_hub_join_result admit_locked(sse_hub *hub, const char *user_id, sse_hub_sub *sub) {
    if (hub->closing) {
        return SSE_HUB_SHUTTING_DOWN;
    }
    hub_user *u = find_user_by_id(hub, user_id);
    if (u != NULL && u->nsubs >= hub->max_per_user) {
        return SSE_HUB_USER_FULL;
    }
    if (hub->open >= hub->max_per_instance) {
        return SSE_HUB_INSTANCE_FULL;
    }
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL) {
            return SSE_HUB_NO_MEMORY;
        }
        snprintf(u->user_id, sizeof u->user_id, "%s", user_id);
        redis_key_events_channel(u->channel, user_id);
        u->next = hub->users;
        hub->users = u;
    }
    sub->user = u;
    sub->next = u->subs;
    u->subs = sub;
    u->nsubs++;
    hub->open++;
    set_open_gauge(hub);
    sub->live = sub->was_live = u->confirmed && u->in_flight == IN_FLIGHT_NONE;
    return SSE_HUB_JOINED;
}

static void count_refusal(sse_hub_join_result rc) {
    const char *reason = rc == SSE_HUB_USER_FULL       ? "user_cap"
                         : rc == SSE_HUB_INSTANCE_FULL ? "instance_cap"
                         : rc == SSE_HUB_UNAVAILABLE   ? "unavailable"
                         : rc == SSE_HUB_SHUTTING_DOWN ? "shutting_down"
                                                       : "no_memory";
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metrics_counter_add("taskbus_sse_streams_refused_total",
                        "Server-Sent Events streams refused before they started, by reason", labels,
                        1);
}

sse_hub_join_result sse_hub_join(sse_hub *hub, const char *user_id, int wait_ms,
                                 sse_hub_sub **out) {
    *out = NULL;
    sse_hub_sub *sub = calloc(1, sizeof *sub);
    if (sub == NULL) {
        return SSE_HUB_NO_MEMORY;
    }
    if (cond_init_monotonic(&sub->cond) != 0) {
        free(sub);
        return SSE_HUB_NO_MEMORY;
    }
    sse_queue_init(&sub->queue, hub->queue_bytes);
    sub->hub = hub;
    struct timespec deadline = time_monotonic_deadline_ms(wait_ms);

    pthread_mutex_lock(&hub->mu);
    sse_hub_join_result rc = admit_locked(hub, user_id, sub);
    if (rc == SSE_HUB_JOINED && !sub->live) {
        wake_reader(hub);
        while (!sub->live && !hub->closing) {
            if (pthread_cond_timedwait(&sub->cond, &hub->mu, &deadline) == ETIMEDOUT) {
                break;
            }
        }
        if (!sub->live) {
            rc = hub->closing ? SSE_HUB_SHUTTING_DOWN : SSE_HUB_UNAVAILABLE;
            unlink_sub_locked(hub, sub);
        }
    }
    pthread_mutex_unlock(&hub->mu);

    if (rc != SSE_HUB_JOINED) {
        count_refusal(rc);
        sub_free(sub);
        return rc;
    }
    *out = sub;
    return SSE_HUB_JOINED;
}

void sse_hub_leave(sse_hub_sub *sub) {
    if (sub == NULL) {
        return;
    }
    sse_hub *hub = sub->hub;
    pthread_mutex_lock(&hub->mu);
    unlink_sub_locked(hub, sub);
    pthread_mutex_unlock(&hub->mu);
    sub_free(sub);
}

sse_hub_next_result sse_hub_next(sse_hub_sub *sub, int wait_ms, sse_event *ev) {
    sse_hub *hub = sub->hub;
    struct timespec deadline = time_monotonic_deadline_ms(wait_ms > 0 ? wait_ms : 0);
    sse_hub_next_result rc = SSE_HUB_IDLE;
    bool timed_out = wait_ms <= 0;
    pthread_mutex_lock(&hub->mu);
    for (;;) {
        if (hub->closing) {
            rc = SSE_HUB_CLOSING;
            break;
        }
        if (sub->resync) {
            sub->resync = false;
            sse_queue_clear(&sub->queue);
            rc = SSE_HUB_RESYNC;
            break;
        }
        if (sse_queue_pop(&sub->queue, ev)) {
            rc = SSE_HUB_EVENT;
            break;
        }
        if (timed_out) {
            rc = SSE_HUB_IDLE;
            break;
        }
        if (pthread_cond_timedwait(&sub->cond, &hub->mu, &deadline) == ETIMEDOUT) {
            timed_out = true; /* look once more, then say idle */
        }
    }
    pthread_mutex_unlock(&hub->mu);
    return rc;
}

void sse_hub_pause(sse_hub_sub *sub, int wait_ms) {
    sse_hub *hub = sub->hub;
    struct timespec deadline = time_monotonic_deadline_ms(wait_ms > 0 ? wait_ms : 0);
    pthread_mutex_lock(&hub->mu);
    while (!hub->closing) {
        if (pthread_cond_timedwait(&sub->cond, &hub->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&hub->mu);
}

bool sse_hub_closing(sse_hub_sub *sub) {
    sse_hub *hub = sub->hub;
    pthread_mutex_lock(&hub->mu);
    bool closing = hub->closing;
    pthread_mutex_unlock(&hub->mu);
    return closing;
}

int sse_hub_open_count(sse_hub *hub) {
    pthread_mutex_lock(&hub->mu);
    int n = hub->open;
    pthread_mutex_unlock(&hub->mu);
    return n;
}

bool sse_hub_connected(sse_hub *hub) {
    pthread_mutex_lock(&hub->mu);
    bool up = hub->connected;
    pthread_mutex_unlock(&hub->mu);
    return up;
}

/* --- life cycle --------------------------------------------------------------------- */

sse_hub *sse_hub_create(const sse_hub_params *p, char *err, size_t errlen) {
    if (p->max_per_user < 1 || p->max_per_instance < 1) {
        errbuf_setf(err, errlen, "sse hub: the stream caps must be at least 1");
        return NULL;
    }
    sse_hub *hub = calloc(1, sizeof *hub);
    if (hub == NULL) {
        errbuf_setf(err, errlen, "sse hub: out of memory");
        return NULL;
    }
    hub->wake[0] = hub->wake[1] = -1;
    if (redis_url_parse(p->redis_url, &hub->url, err, errlen) != 0) {
        free(hub);
        return NULL;
    }
    hub->timeout_ms = p->redis_timeout_ms;
    hub->max_per_user = p->max_per_user;
    hub->max_per_instance = p->max_per_instance;
    hub->queue_bytes = p->queue_bytes > 0 ? p->queue_bytes : SSE_HUB_QUEUE_BYTES;
    snprintf(hub->client_name, sizeof hub->client_name, "%s",
             p->client_name != NULL ? p->client_name : SSE_HUB_CLIENT_NAME);
    if (pipe2(hub->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        errbuf_setf(err, errlen, "sse hub: pipe: %s", strerror(errno));
        free(hub);
        return NULL;
    }
    if (pthread_mutex_init(&hub->mu, NULL) != 0) {
        errbuf_setf(err, errlen, "sse hub: mutex init failed");
        close(hub->wake[0]);
        close(hub->wake[1]);
        free(hub);
        return NULL;
    }
    set_open_gauge(hub);
    set_connected_locked(hub, false); /* no other thread yet */
    int rc = pthread_create(&hub->reader, NULL, reader_main, hub);
    if (rc != 0) {
        errbuf_setf(err, errlen, "sse hub: cannot start the reader thread: %s", strerror(rc));
        pthread_mutex_destroy(&hub->mu);
        close(hub->wake[0]);
        close(hub->wake[1]);
        free(hub);
        return NULL;
    }
    return hub;
}

void sse_hub_shutdown(sse_hub *hub) {
    if (hub == NULL) {
        return;
    }
    pthread_mutex_lock(&hub->mu);
    hub->closing = true;
    for (hub_user *u = hub->users; u != NULL; u = u->next) {
        for (sse_hub_sub *s = u->subs; s != NULL; s = s->next) {
            pthread_cond_signal(&s->cond);
        }
    }
    pthread_mutex_unlock(&hub->mu);
}

void sse_hub_destroy(sse_hub *hub) {
    if (hub == NULL) {
        return;
    }
    sse_hub_shutdown(hub);
    pthread_mutex_lock(&hub->mu);
    hub->stop = true;
    pthread_mutex_unlock(&hub->mu);
    wake_reader(hub);
    int rc = pthread_join(hub->reader, NULL);
    if (rc != 0) {
        LOG_ERRORF("sse hub: joining the reader thread failed: %s", strerror(rc));
    }
    pthread_mutex_lock(&hub->mu);
    int open = hub->open;
    pthread_mutex_unlock(&hub->mu);
    if (open > 0) {
        /* A stream thread still holds a handle into the hub: freeing it would be worse. */
        LOG_ERRORF("sse hub: %d stream(s) still open at exit; not freeing the hub", open);
        return;
    }
    while (hub->users != NULL) {
        hub_user *u = hub->users;
        hub->users = u->next;
        free(u);
    }
    pthread_mutex_destroy(&hub->mu);
    close(hub->wake[0]);
    close(hub->wake[1]);
    free(hub);
}
