/*
 * near_cache_lease.c: the near-cache lease thread (near_cache_lease.h).
 *
 * Owns: the subscriber context, the registry pool, the instance id, the last applied
 * sequence. Rules: only this thread touches them (no lock); what it shares with request
 * threads goes through near_cache's atomics and the request pool's breaker. The order of
 * a renewal is the protocol's safety argument (docs/decisions.md, "Near cache"): take the
 * time, check the journal, PING through the subscription, write the registry, and only
 * then extend the local lease from the time taken first.
 * On a Redis Cluster the subscriber connects to the master that owns the {nc} slot: the
 * invalidations are PUBLISHed there, and only a subscriber on that node sees them in
 * order before the PONG of its barrier (other nodes get them later, over the cluster
 * bus). A renewal whose registry write went to another node than the subscriber's (the
 * slot moved: failover, resharding) drops the subscription, which lapses the lease and
 * subscribes again on the new owner.
 */
#include "api/near_cache_lease.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/near_cache_bus.h"
#include "shared/redis_cluster.h"
#include "shared/redis_keys.h"
#include "shared/redis_url.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define POLL_MAX_MS 50
#define NEAR_CACHE_CLIENT_NAME "taskbus-api-near-cache"
#define NEAR_CACHE_REGISTRY_CLIENT_NAME "taskbus-api-near-cache-registry"
#define PG_ACQUIRE_MS 200
#define REGISTRY_TIMEOUT_MAX_MS 200

static const pg_stmt JOURNAL_PENDING = {
    "near_cache_journal_pending",
    "SELECT EXISTS (SELECT 1 FROM writer_pending_effects"
    " WHERE created_at < clock_timestamp() - make_interval(secs => $1::float8 / 1000))",
    1};

struct near_cache_lease {
    near_cache *nc;
    redis_pool *request_redis;
    redis_pool *registry; /* this thread's own, never behind the breaker */
    pg_pool *pg;          /* one connection of its own, for the journal check */
    redis_url url;
    int lease_ms;
    int timeout_ms;
    char instance[UUID_STR_LEN];
    pthread_t thread;
    atomic_bool stop;
    /* thread-only state */
    redisContext *sub;
    char sub_host[256]; /* the node sub is connected to */
    int sub_port;
    bool registered;     /* the registry holds our lease since the last (re)subscribe */
    long long last_seq;  /* the highest sequence applied with no gap before it */
    int64_t lease_until; /* monotonic ns; mirrors what near_cache holds */
    int64_t next_renew;
    near_cache_stats published;
};

/* ---------------------------------------------------------------- losing the lease */

/* Nothing is served any more, and nothing cached so far will be. */
static void lapse(near_cache_lease *l, const char *why) {
    if (l->lease_until != 0)
        log_json(LOG_WARN, "near cache lease lapsed", json_pack("{s:s}", "reason", why));
    near_cache_set_lease(l->nc, 0);
    near_cache_bump_epoch(l->nc);
    l->lease_until = 0;
}

static void drop_subscription(near_cache_lease *l, const char *why) {
    if (l->sub != NULL)
        redisFree(l->sub);
    l->sub = NULL;
    l->registered = false;
    lapse(l, why);
    metrics_counter_add("taskbus_near_cache_disconnects_total",
                        "Times the near-cache subscriber connection was lost", NULL, 1);
}

/* ---------------------------------------------------------------- invalidations */

/* Applies "<seq> <user id>" (everything of the user) or "<seq> <user id> tasks" (their
 * tasks and pages only). */
static void apply_message(near_cache_lease *l, const char *payload, size_t len) {
    char text[128];
    if (len >= sizeof text)
        len = sizeof text - 1;
    memcpy(text, payload, len);
    text[len] = '\0';
    char *end = NULL;
    long long seq = strtoll(text, &end, 10);
    if (end == text || *end != ' ') {
        near_cache_bump_epoch(l->nc); /* unreadable: assume the worst */
        return;
    }
    if (seq <= l->last_seq)
        return; /* published before we registered: already covered */
    if (seq != l->last_seq + 1) {
        near_cache_bump_epoch(l->nc); /* a gap: we missed some */
        metrics_counter_add("taskbus_near_cache_gaps_total",
                            "Invalidation sequence gaps (every entry dropped)", NULL, 1);
    } else {
        char *user = end + 1;
        char *scope = strchr(user, ' ');
        unsigned mask = NEAR_CACHE_ALL_FAMILIES;
        if (scope != NULL) {
            *scope++ = '\0';
            mask = strcmp(scope, NEAR_CACHE_SCOPE_TASKS) == 0 ? 1u << NEAR_CACHE_TASKS
                                                              : NEAR_CACHE_ALL_FAMILIES;
        }
        near_cache_invalidate_user(l->nc, user, mask);
    }
    l->last_seq = seq;
}

/* A reply on the subscriber connection: 1 for the PING's pong, 0 otherwise. */
static int on_reply(near_cache_lease *l, const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "pong") == 0)
        return 1;
    if (strcmp(kind, "message") == 0 && r->elements == 3 &&
        r->element[2]->type == REDIS_REPLY_STRING)
        apply_message(l, r->element[2]->str, r->element[2]->len);
    return 0;
}

/* Reads what arrived within wait_ms and applies it. Counts pongs into *pongs. 0, or -1
 * when the connection failed. */
static int pump(near_cache_lease *l, int wait_ms, int *pongs) {
    struct pollfd pfd = {.fd = l->sub->fd, .events = POLLIN};
    int n = poll(&pfd, 1, wait_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n == 0)
        return 0;
    if (redisBufferRead(l->sub) != REDIS_OK)
        return -1;
    long long before = l->last_seq;
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(l->sub, &reply) != REDIS_OK)
            return -1;
        if (reply == NULL)
            break;
        *pongs += on_reply(l, reply);
        freeReplyObject(reply);
    }
    if (l->registered && l->last_seq != before &&
        near_cache_bus_ack(l->registry, l->instance, l->last_seq) != 0)
        return 0; /* the registry will hear it with the next renewal */
    return 0;
}

/* ---------------------------------------------------------------- connecting */

static int subscribe(near_cache_lease *l) {
    char err[256];
    l->sub = redis_cluster_connect_slot_owner(
        &l->url, redis_cluster_key_slot(NEAR_CACHE_CHANNEL, strlen(NEAR_CACHE_CHANNEL)),
        l->timeout_ms, l->sub_host, sizeof l->sub_host, &l->sub_port, err, sizeof err);
    if (l->sub == NULL)
        return -1;
    /* Named for operators (CLIENT LIST); a refusal only costs the name. */
    redisReply *r = redisCommand(l->sub, "CLIENT SETNAME %s", NEAR_CACHE_CLIENT_NAME);
    if (r != NULL)
        freeReplyObject(r);
    r = redisCommand(l->sub, "SUBSCRIBE %s", NEAR_CACHE_CHANNEL);
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY;
    if (r != NULL)
        freeReplyObject(r);
    if (!ok) {
        redisFree(l->sub);
        l->sub = NULL;
        return -1;
    }
    l->registered = false;
    return 0;
}

/* ---------------------------------------------------------------- renewing */

/* 1 when the writer journal holds effects older than the grace (or Postgres cannot say),
 * 0 when it does not. */
static int journal_blocks(near_cache_lease *l) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(l->pg, PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL)
        return 1;
    char grace[24];
    snprintf(grace, sizeof grace, "%d", near_cache_journal_grace_ms(l->lease_ms));
    const char *values[] = {grace};
    PGresult *res = pg_exec_stmt(conn, &JOURNAL_PENDING, values);
    pg_pool_release(l->pg, conn);
    int blocks = 1;
    if (pg_result_ok(res) && PQntuples(res) == 1)
        blocks = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return blocks;
}

/* Every invalidation published before this call is applied when it returns 0. */
static int barrier(near_cache_lease *l) {
    if (redisAppendCommand(l->sub, "PING") != REDIS_OK)
        return -1;
    int done = 0;
    while (!done) {
        if (redisBufferWrite(l->sub, &done) != REDIS_OK)
            return -1;
    }
    int64_t deadline = time_monotonic_ns() + (int64_t)l->timeout_ms * 1000000;
    int pongs = 0;
    while (pongs == 0) {
        if (time_monotonic_ns() >= deadline || pump(l, POLL_MAX_MS, &pongs) != 0)
            return -1;
    }
    return 0;
}

/* Writes the registry. After a (re)subscribe this registers: the registry acknowledges
 * the current sequence for us and the cache is emptied, while the local lease is still
 * lapsed (drop_subscription lapsed it). A sequence below ours means Redis lost its data:
 * lapse and register again on the next round. */
static int write_registry(near_cache_lease *l) {
    long long seq = 0;
    if (!l->registered) {
        if (near_cache_bus_renew(l->registry, l->instance, l->lease_ms, -1, &seq) != 0)
            return -1;
        near_cache_bump_epoch(l->nc);
        l->last_seq = seq;
        l->registered = true;
        return 0;
    }
    if (near_cache_bus_renew(l->registry, l->instance, l->lease_ms, l->last_seq, &seq) != 0)
        return -1;
    if (seq < l->last_seq) {
        lapse(l, "the invalidation sequence went back (Redis lost its data)");
        l->registered = false;
        return -1;
    }
    return 0;
}

/* True unless the registry pool (which just wrote the registry) routes the {nc} slot to
 * another node than the subscriber's: then the barrier proved nothing about that node. */
static bool subscriber_on_owner(near_cache_lease *l) {
    if (!redis_pool_is_cluster(l->registry))
        return true;
    char host[256];
    int port = 0;
    if (redis_pool_key_address(l->registry, NEAR_CACHE_SEQ_KEY, host, sizeof host, &port) != 0)
        return false;
    return port == l->sub_port && strcmp(host, l->sub_host) == 0;
}

static void renew(near_cache_lease *l) {
    int64_t start = time_monotonic_ns();
    if (journal_blocks(l)) {
        metrics_counter_add("taskbus_near_cache_renewals_total", "Lease renewals by result",
                            "result=\"journal_pending\"", 1);
        return; /* undelivered effects: the lease runs out, reads go to Postgres */
    }
    if (barrier(l) != 0) {
        redis_pool_set_breaker(l->request_redis, true);
        drop_subscription(l, "the subscriber connection failed");
        return;
    }
    if (write_registry(l) != 0) {
        redis_pool_set_breaker(l->request_redis, true);
        metrics_counter_add("taskbus_near_cache_renewals_total", "Lease renewals by result",
                            "result=\"redis_error\"", 1);
        return;
    }
    if (!subscriber_on_owner(l)) {
        drop_subscription(l, "the near-cache registry moved to another Redis node");
        return;
    }
    redis_pool_set_breaker(l->request_redis, false);
    /* Lapsed at any moment before this extension (the registry may have dropped us and a
     * reporter gone ahead): nothing from before is served again. */
    if (time_monotonic_ns() >= l->lease_until)
        near_cache_bump_epoch(l->nc);
    int64_t keep_ms = l->lease_ms - near_cache_margin_ms(l->lease_ms);
    l->lease_until = start + keep_ms * 1000000;
    near_cache_set_lease(l->nc, l->lease_until);
    metrics_counter_add("taskbus_near_cache_renewals_total", "Lease renewals by result",
                        "result=\"ok\"", 1);
}

/* ---------------------------------------------------------------- the thread */

static void publish_stats(near_cache_lease *l) {
    near_cache_stats now;
    near_cache_stats_read(l->nc, &now);
    const char *name = "taskbus_near_cache_lookups_total";
    const char *help = "Near-cache lookups by result";
    metrics_counter_add(name, help, "result=\"hit\"", (double)(now.hits - l->published.hits));
    metrics_counter_add(name, help, "result=\"miss\"", (double)(now.misses - l->published.misses));
    metrics_counter_add("taskbus_near_cache_evictions_total", "Near-cache entries evicted", NULL,
                        (double)(now.evictions - l->published.evictions));
    metrics_gauge_set("taskbus_near_cache_bytes", "Bytes held by the near cache", NULL,
                      (double)now.bytes);
    metrics_gauge_set("taskbus_near_cache_lease_valid",
                      "1 while this instance may serve from its near cache", NULL,
                      near_cache_lease_valid(l->nc) ? 1 : 0);
    l->published = now;
}

static void step(near_cache_lease *l) {
    int64_t now = time_monotonic_ns();
    if (l->lease_until != 0 && now >= l->lease_until)
        lapse(l, "not renewed in time");
    if (l->sub == NULL && subscribe(l) != 0) {
        redis_pool_set_breaker(l->request_redis, true);
        l->next_renew = now + (int64_t)l->lease_ms / 5 * 1000000;
        time_sleep_ms(POLL_MAX_MS);
        return;
    }
    if (now >= l->next_renew) {
        l->next_renew = now + (int64_t)l->lease_ms / 5 * 1000000;
        renew(l);
        publish_stats(l);
        if (l->sub == NULL)
            return;
    }
    int64_t until_ms = (l->next_renew - time_monotonic_ns()) / 1000000;
    int wait = until_ms < 0 ? 0 : until_ms > POLL_MAX_MS ? POLL_MAX_MS : (int)until_ms;
    int pongs = 0;
    if (pump(l, wait, &pongs) != 0)
        drop_subscription(l, "the subscriber connection failed");
}

static void *run(void *arg) {
    near_cache_lease *l = arg;
    while (!atomic_load(&l->stop))
        step(l);
    return NULL;
}

near_cache_lease *near_cache_lease_start(const taskbus_config *cfg, near_cache *nc,
                                         redis_pool *request_redis, char *err, size_t errlen) {
    near_cache_lease *l = calloc(1, sizeof *l);
    if (l == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    l->nc = nc;
    l->request_redis = request_redis;
    l->lease_ms = cfg->near_cache_lease_ms;
    l->timeout_ms = cfg->redis_timeout_ms < REGISTRY_TIMEOUT_MAX_MS ? cfg->redis_timeout_ms
                                                                    : REGISTRY_TIMEOUT_MAX_MS;
    uuid7_generate(l->instance);
    atomic_init(&l->stop, false);
    if (redis_url_parse(cfg->redis_url, &l->url, err, errlen) != 0) {
        free(l);
        return NULL;
    }
    l->registry = redis_pool_create(cfg->redis_url, 1, l->timeout_ms, err, errlen);
    if (l->registry == NULL) {
        free(l);
        return NULL;
    }
    /* Its own Postgres connection: a busy request pool must not lapse the lease. */
    l->pg = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, errlen);
    if (l->pg == NULL) {
        redis_pool_destroy(l->registry);
        free(l);
        return NULL;
    }
    redis_pool_set_client_name(l->registry, NEAR_CACHE_REGISTRY_CLIENT_NAME);
    if (pthread_create(&l->thread, NULL, run, l) != 0) {
        errbuf_setf(err, errlen, "cannot start the near-cache lease thread");
        redis_pool_destroy(l->registry);
        pg_pool_destroy(l->pg);
        free(l);
        return NULL;
    }
    LOG_INFOF("near cache: instance %s, lease %d ms", l->instance, l->lease_ms);
    return l;
}

void near_cache_lease_stop(near_cache_lease *l) {
    if (l == NULL)
        return;
    near_cache_set_lease(l->nc, 0);
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    near_cache_bus_leave(l->registry, l->instance);
    if (l->sub != NULL)
        redisFree(l->sub);
    redis_pool_destroy(l->registry);
    pg_pool_destroy(l->pg);
    free(l);
}
