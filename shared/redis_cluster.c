/*
 * redis_cluster.c: routing commands to Redis Cluster nodes (see redis_cluster.h).
 *
 * Owns: the node table, the slot map, the mode and the refresh of the map.
 * Rules:
 * - mu guards the node table's addresses (host, port, gen) and nnodes' growth; map[],
 *   mode, each node's down_until and the refresh flag are atomics read without it.
 * - A node entry keeps its index for the life of the cluster object, so a redis_conns may
 *   hold one context per index; when the table is full an entry that no slot uses (and
 *   that is not a seed) is reused for a new address and its generation bumped, which
 *   makes every redis_conns drop its old context for that index.
 * - Only one thread refreshes the map at a time, at most every
 *   REDIS_CLUSTER_REFRESH_MIN_MS; others go on with the map they have.
 */
#include "shared/redis_cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/time_util.h"

#define NO_NODE 0xFF
#define TRYAGAIN_PAUSE_MS 20

typedef struct cluster_node {
    char host[256]; /* guarded by mu */
    int port;       /* guarded by mu */
    _Atomic uint32_t gen;
    _Atomic int64_t down_until_ns; /* monotonic; 0: not down */
} cluster_node;

struct redis_cluster {
    redis_url url; /* credentials, db and seeds; never logged */
    int timeout_ms;
    char client_name[64];
    _Atomic int mode;
    _Atomic int standalone_node;
    pthread_mutex_t mu;
    _Atomic int nnodes;
    cluster_node nodes[REDIS_CLUSTER_MAX_NODES];
    _Atomic uint8_t map[REDIS_CLUSTER_SLOTS];
    _Atomic bool refreshing;
    _Atomic int64_t last_refresh_ns;
    _Atomic bool table_full_logged;
    _Atomic int64_t gave_up_logged_ns; /* "giving up" is logged at most once a second */
};

/* ---------------------------------------------------------------- key slots */

static const uint16_t CRC16_TAB[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0};

static uint16_t crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc = (uint16_t)((crc << 8) ^ CRC16_TAB[((crc >> 8) ^ (uint8_t)buf[i]) & 0xff]);
    }
    return crc;
}

int redis_cluster_key_slot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1) {
            return crc16(open + 1, (size_t)(close - open - 1)) & (REDIS_CLUSTER_SLOTS - 1);
        }
    }
    return crc16(key, len) & (REDIS_CLUSTER_SLOTS - 1);
}

/* Commands whose arguments hold no key: they may run on any node. */
static bool keyless(const char *name, size_t len) {
    static const char *const NAMES[] = {
        "PING",     "ECHO",      "TIME",    "INFO",         "CLIENT",   "SCRIPT",   "CONFIG",
        "CLUSTER",  "WAIT",      "COMMAND", "DBSIZE",       "FLUSHALL", "FLUSHDB",  "SLOWLOG",
        "LATENCY",  "DEBUG",     "MEMORY",  "OBJECT",       "FUNCTION", "ACL",      "SCAN",
        "KEYS",     "RANDOMKEY", "HELLO",   "AUTH",         "SELECT",   "PUBSUB",   "ROLE",
        "LASTSAVE", "SAVE",      "BGSAVE",  "BGREWRITEAOF", "SHUTDOWN", "READONLY", "READWRITE",
        "ASKING",   "QUIT",      "MULTI",   "EXEC",         "DISCARD",  "SWAPDB",   "MODULE"};
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        if (strlen(NAMES[i]) == len && strncasecmp(NAMES[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_name(const char *name, size_t len, const char *want) {
    return strlen(want) == len && strncasecmp(want, name, len) == 0;
}

/* The routing slot from the first (up to) four arguments. */
static int slot_of_args(int argc, const char *const *argv, const size_t *lens) {
    if (argc < 2 || keyless(argv[0], lens[0])) {
        return -1;
    }
    if (is_name(argv[0], lens[0], "EVAL") || is_name(argv[0], lens[0], "EVALSHA") ||
        is_name(argv[0], lens[0], "EVAL_RO") || is_name(argv[0], lens[0], "EVALSHA_RO") ||
        is_name(argv[0], lens[0], "FCALL") || is_name(argv[0], lens[0], "FCALL_RO")) {
        if (argc < 4 || lens[2] == 0 || lens[2] > 9) {
            return -1;
        }
        char nk[10];
        memcpy(nk, argv[2], lens[2]);
        nk[lens[2]] = '\0';
        return atoi(nk) > 0 ? redis_cluster_key_slot(argv[3], lens[3]) : -1;
    }
    return redis_cluster_key_slot(argv[1], lens[1]);
}

int redis_cluster_command_slot(int argc, const char *const *argv, const size_t *argvlen) {
    const char *a[4];
    size_t l[4];
    int n = argc < 4 ? argc : 4;
    for (int i = 0; i < n; i++) {
        a[i] = argv[i];
        l[i] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
    }
    return slot_of_args(argc, a, l);
}

/* Reads a RESP "<prefix><number>\r\n" at *p; the number, or -1. */
static long resp_number(const char **p, const char *end, char prefix) {
    if (*p >= end || **p != prefix) {
        return -1;
    }
    long v = 0;
    const char *q = *p + 1;
    while (q < end && *q >= '0' && *q <= '9' && v < 1000000000L) {
        v = v * 10 + (*q - '0');
        q++;
    }
    if (q == *p + 1 || q + 1 >= end || q[0] != '\r' || q[1] != '\n') {
        return -1;
    }
    *p = q + 2;
    return v;
}

int redis_cluster_formatted_slot(const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    long argc = resp_number(&p, end, '*');
    if (argc < 1) {
        return -1;
    }
    const char *a[4];
    size_t l[4];
    int n = argc < 4 ? (int)argc : 4;
    for (int i = 0; i < n; i++) {
        long blen = resp_number(&p, end, '$');
        if (blen < 0 || end - p < blen + 2) {
            return -1;
        }
        a[i] = p;
        l[i] = (size_t)blen;
        p += blen + 2;
    }
    return slot_of_args((int)argc, a, l);
}

/* ---------------------------------------------------------------- the object */

void redis_conns_close(redis_conns *cs) {
    for (int i = 0; i < REDIS_CLUSTER_MAX_NODES; i++) {
        if (cs->ctx[i] != NULL) {
            redisFree(cs->ctx[i]);
            cs->ctx[i] = NULL;
        }
    }
    cs->connected = 0;
}

redis_cluster *redis_cluster_create(const redis_url *url, int timeout_ms, char *err,
                                    size_t errlen) {
    redis_cluster *c = calloc(1, sizeof *c);
    if (c == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        errbuf_setf(err, errlen, "redis: out of memory");
        return NULL;
    }
    c->url = *url;
    c->timeout_ms = timeout_ms;
    int n = url->nseeds < REDIS_CLUSTER_MAX_NODES ? url->nseeds : REDIS_CLUSTER_MAX_NODES;
    for (int i = 0; i < n; i++) {
        snprintf(c->nodes[i].host, sizeof c->nodes[i].host, "%s", url->seeds[i].host);
        c->nodes[i].port = url->seeds[i].port;
    }
    atomic_store(&c->nnodes, n);
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        atomic_store_explicit(&c->map[s], NO_NODE, memory_order_relaxed);
    }
    return c;
}

void redis_cluster_destroy(redis_cluster *c) {
    if (c == NULL) {
        return;
    }
    pthread_mutex_destroy(&c->mu);
    memset(&c->url, 0, sizeof c->url); /* the password */
    free(c);
}

void redis_cluster_set_client_name(redis_cluster *c, const char *name) {
    snprintf(c->client_name, sizeof c->client_name, "%s", name);
}

redis_mode redis_cluster_mode(const redis_cluster *c) {
    return (redis_mode)atomic_load(&c->mode);
}

/* ---------------------------------------------------------------- nodes */

/* The index of host:port, added when new; -1 when the table is full of used entries.
 * avoid (may be NULL): a map being built whose nodes must not be reused either. */
static int find_or_add(redis_cluster *c, const char *host, int port, const uint8_t *avoid) {
    pthread_mutex_lock(&c->mu);
    int n = atomic_load(&c->nnodes);
    for (int i = 0; i < n; i++) {
        if (c->nodes[i].port == port && strcmp(c->nodes[i].host, host) == 0) {
            pthread_mutex_unlock(&c->mu);
            return i;
        }
    }
    int idx = -1;
    if (n < REDIS_CLUSTER_MAX_NODES) {
        idx = n;
    } else {
        /* Reuse an entry no slot points at (current map and the one being built). */
        bool used[REDIS_CLUSTER_MAX_NODES] = {false};
        for (int i = 0; i < c->url.nseeds && i < REDIS_CLUSTER_MAX_NODES; i++) {
            used[i] = true;
        }
        for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
            uint8_t m = atomic_load_explicit(&c->map[s], memory_order_relaxed);
            if (m != NO_NODE) {
                used[m] = true;
            }
            if (avoid != NULL && avoid[s] != NO_NODE) {
                used[avoid[s]] = true;
            }
        }
        for (int i = 0; i < REDIS_CLUSTER_MAX_NODES && idx < 0; i++) {
            if (!used[i]) {
                idx = i;
            }
        }
    }
    if (idx >= 0) {
        snprintf(c->nodes[idx].host, sizeof c->nodes[idx].host, "%s", host);
        c->nodes[idx].port = port;
        atomic_fetch_add(&c->nodes[idx].gen, 1);
        atomic_store(&c->nodes[idx].down_until_ns, 0);
        if (idx == n) {
            atomic_store(&c->nnodes, n + 1);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (idx < 0 && !atomic_exchange(&c->table_full_logged, true)) {
        LOG_ERRORF("redis cluster: more than %d node addresses in use; %s:%d is ignored",
                   REDIS_CLUSTER_MAX_NODES, host, port);
    }
    return idx;
}

static void node_address(redis_cluster *c, int node, char *host, size_t hostlen, int *port,
                         uint32_t *gen) {
    pthread_mutex_lock(&c->mu);
    snprintf(host, hostlen, "%s", c->nodes[node].host);
    *port = c->nodes[node].port;
    if (gen != NULL) {
        *gen = atomic_load(&c->nodes[node].gen);
    }
    pthread_mutex_unlock(&c->mu);
}

static bool node_down(redis_cluster *c, int node) {
    return atomic_load(&c->nodes[node].down_until_ns) > time_monotonic_ns();
}

static void drop_ctx(redis_conns *cs, int node) {
    if (cs->ctx[node] != NULL) {
        redisFree(cs->ctx[node]);
        cs->ctx[node] = NULL;
        cs->connected--;
    }
}

redisContext *redis_cluster_node_ctx(redis_cluster *c, redis_conns *cs, int node, bool *fresh,
                                     char *err, size_t errlen) {
    *fresh = false;
    if (node < 0 || node >= atomic_load(&c->nnodes)) {
        errbuf_setf(err, errlen, "no such redis node");
        return NULL;
    }
    uint32_t gen = atomic_load(&c->nodes[node].gen);
    if (cs->ctx[node] != NULL && cs->gen[node] != gen) {
        drop_ctx(cs, node); /* the entry names another address now */
    }
    if (cs->ctx[node] != NULL) {
        return cs->ctx[node];
    }
    char host[256];
    int port;
    node_address(c, node, host, sizeof host, &port, &gen);
    if (node_down(c, node)) {
        errbuf_setf(err, errlen, "redis %s:%d is down (back-off)", host, port);
        return NULL;
    }
    redisContext *ctx = redis_url_connect_host(&c->url, host, port, c->timeout_ms, err, errlen);
    if (ctx == NULL) {
        int64_t was =
            atomic_exchange(&c->nodes[node].down_until_ns,
                            time_monotonic_ns() + (int64_t)REDIS_CLUSTER_DOWN_BACKOFF_MS * 1000000);
        if (was == 0) {
            LOG_WARNF("redis unavailable: %s", err);
        }
        return NULL;
    }
    if (atomic_exchange(&c->nodes[node].down_until_ns, 0) != 0) {
        LOG_INFOF("redis reachable again (%s:%d)", host, port);
    }
    if (c->client_name[0] != '\0') {
        /* For operators (CLIENT LIST); a refusal only costs the name. */
        redisReply *r = redisCommand(ctx, "CLIENT SETNAME %s", c->client_name);
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    cs->ctx[node] = ctx;
    cs->gen[node] = gen;
    cs->connected++;
    *fresh = true;
    return ctx;
}

/* ---------------------------------------------------------------- the slot map */

static bool reply_is_int(const redisReply *r) {
    return r != NULL && r->type == REDIS_REPLY_INTEGER;
}

/* host:port of a CLUSTER SLOTS node entry; an empty or "?" host is the asked node's. */
static int entry_node(redis_cluster *c, const redisReply *e, const char *asked_host,
                      const uint8_t *avoid) {
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        !reply_is_int(e->element[1])) {
        return -1;
    }
    const redisReply *h = e->element[0];
    const char *host = asked_host;
    if (h->type == REDIS_REPLY_STRING && h->len > 0 && strcmp(h->str, "?") != 0) {
        host = h->str;
    }
    long long port = e->element[1]->integer;
    if (port < 1 || port > 65535) {
        return -1;
    }
    return find_or_add(c, host, (int)port, avoid);
}

/* Installs the map of a CLUSTER SLOTS reply got from node asked. 0, or -1 when the reply
 * is not one. */
static int apply_slots(redis_cluster *c, const redisReply *r, int asked) {
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        return -1;
    }
    char asked_host[256];
    int asked_port;
    node_address(c, asked, asked_host, sizeof asked_host, &asked_port, NULL);
    uint8_t *next = malloc(REDIS_CLUSTER_SLOTS);
    if (next == NULL) {
        return -1;
    }
    memset(next, NO_NODE, REDIS_CLUSTER_SLOTS);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || !reply_is_int(e->element[0]) ||
            !reply_is_int(e->element[1])) {
            continue;
        }
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        int master = entry_node(c, e->element[2], asked_host, next);
        if (master < 0 || from < 0 || to >= REDIS_CLUSTER_SLOTS || from > to) {
            continue;
        }
        for (long long s = from; s <= to; s++) {
            next[s] = (uint8_t)master;
        }
        for (size_t k = 3; k < e->elements; k++) {
            (void)entry_node(c, e->element[k], asked_host, next); /* replicas: refresh sources */
        }
    }
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        atomic_store_explicit(&c->map[s], next[s], memory_order_relaxed);
    }
    free(next);
    return 0;
}

/* Asks CLUSTER SLOTS on ctx. The reply, or NULL (ctx broken). */
/* Only these errors mean "no cluster here"; any other (LOADING at start-up, BUSY, an ACL
 * NOPERM) says nothing about the mode, so the seed is skipped rather than believed. */
static bool cluster_disabled_reply(const redisReply *r) {
    return r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           (strstr(r->str, "cluster support disabled") != NULL ||
            strncmp(r->str, "ERR unknown command", 19) == 0);
}

static redisReply *cluster_slots(redisContext *ctx) {
    redisReply *r = redisCommand(ctx, "CLUSTER SLOTS");
    if (r == NULL || ctx->err) {
        if (r != NULL) {
            freeReplyObject(r);
        }
        return NULL;
    }
    return r;
}

/* CLUSTER SLOTS asked of node i on its connection: the reply (caller frees), or NULL when
 * the node could not be reached or the connection failed (then dropped). */
static redisReply *node_slots(redis_cluster *c, redis_conns *cs, int i) {
    bool fresh;
    char err[256];
    redisContext *ctx = redis_cluster_node_ctx(c, cs, i, &fresh, err, sizeof err);
    if (ctx == NULL) {
        return NULL;
    }
    redisReply *r = cluster_slots(ctx);
    if (r == NULL) {
        drop_ctx(cs, i);
    }
    return r;
}

/* Re-reads the map from a reachable node other than exclude (-1: none). True when a new
 * map was installed; false when another thread refreshes, it is too soon, or nobody
 * answered. */
static bool refresh(redis_cluster *c, redis_conns *cs, int exclude) {
    int64_t now = time_monotonic_ns();
    if (now - atomic_load(&c->last_refresh_ns) < (int64_t)REDIS_CLUSTER_REFRESH_MIN_MS * 1000000) {
        return false;
    }
    bool expected = false;
    if (!atomic_compare_exchange_strong(&c->refreshing, &expected, true)) {
        return false;
    }
    atomic_store(&c->last_refresh_ns, now);
    bool ok = false;
    int n = atomic_load(&c->nnodes);
    /* Nodes that own slots first (they are the most likely to be alive), then the rest. */
    for (int pass = 0; pass < 2 && !ok; pass++) {
        bool owns[REDIS_CLUSTER_MAX_NODES] = {false};
        for (int s = 0; s < REDIS_CLUSTER_SLOTS; s += 64) {
            uint8_t m = atomic_load_explicit(&c->map[s], memory_order_relaxed);
            if (m != NO_NODE) {
                owns[m] = true;
            }
        }
        for (int i = 0; i < n && !ok; i++) {
            if (i == exclude || owns[i] != (pass == 0) || node_down(c, i)) {
                continue;
            }
            redisReply *r = node_slots(c, cs, i);
            if (r == NULL) {
                continue;
            }
            ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && apply_slots(c, r, i) == 0;
            freeReplyObject(r);
        }
    }
    atomic_store(&c->refreshing, false);
    return ok;
}

/* ---------------------------------------------------------------- the mode */

int redis_cluster_ensure_mode(redis_cluster *c, redis_conns *cs) {
    if (atomic_load(&c->mode) != REDIS_MODE_UNKNOWN) {
        return 0;
    }
    int seeds = c->url.nseeds < REDIS_CLUSTER_MAX_NODES ? c->url.nseeds : REDIS_CLUSTER_MAX_NODES;
    for (int i = 0; i < seeds; i++) {
        redisReply *r = node_slots(c, cs, i);
        if (r == NULL) {
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR && !cluster_disabled_reply(r)) {
            /* LOADING, BUSY, NOPERM...: this seed cannot say; ask the next one. */
            freeReplyObject(r);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* "ERR This instance has cluster support disabled" (or a server without
             * CLUSTER at all): one Redis, as always. */
            atomic_store(&c->standalone_node, i);
            int expected = REDIS_MODE_UNKNOWN;
            if (atomic_compare_exchange_strong(&c->mode, &expected, REDIS_MODE_STANDALONE)) {
                LOG_INFOF("redis: standalone at %s:%d", c->url.seeds[i].host, c->url.seeds[i].port);
            }
            freeReplyObject(r);
            return 0;
        }
        int rc = apply_slots(c, r, i);
        freeReplyObject(r);
        if (rc == 0) {
            atomic_store(&c->last_refresh_ns, time_monotonic_ns());
            int expected = REDIS_MODE_UNKNOWN;
            if (atomic_compare_exchange_strong(&c->mode, &expected, REDIS_MODE_CLUSTER)) {
                LOG_INFOF("redis: cluster mode (asked %s:%d)", c->url.seeds[i].host,
                          c->url.seeds[i].port);
            }
            return 0;
        }
    }
    return -1;
}

int redis_cluster_slot_node(redis_cluster *c, redis_conns *cs, int slot) {
    if (redis_cluster_ensure_mode(c, cs) != 0) {
        return -1;
    }
    if (atomic_load(&c->mode) == REDIS_MODE_STANDALONE) {
        return atomic_load(&c->standalone_node);
    }
    if (slot < 0) {
        /* Any node: the owner of the first slot whose node is not in back-off. */
        uint8_t first = NO_NODE;
        for (int s = 0; s < REDIS_CLUSTER_SLOTS; s += 16) {
            uint8_t m = atomic_load_explicit(&c->map[s], memory_order_relaxed);
            if (m != NO_NODE && first == NO_NODE) {
                first = m;
            }
            if (m != NO_NODE && !node_down(c, m)) {
                return m;
            }
        }
        return first == NO_NODE ? -1 : first;
    }
    uint8_t m = atomic_load_explicit(&c->map[slot], memory_order_relaxed);
    if (m == NO_NODE && refresh(c, cs, -1)) {
        m = atomic_load_explicit(&c->map[slot], memory_order_relaxed);
    }
    return m == NO_NODE ? -1 : m;
}

void redis_cluster_node_failed(redis_cluster *c, redis_conns *cs, int node) {
    drop_ctx(cs, node);
    if (atomic_load(&c->mode) == REDIS_MODE_CLUSTER) {
        (void)refresh(c, cs, node);
    }
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the node index; -1 when not one. */
static int parse_redirect(redis_cluster *c, int from, const char *text, int *slot) {
    const char *sp = strchr(text, ' ');
    if (sp == NULL) {
        return -1;
    }
    char *end = NULL;
    long s = strtol(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || s < 0 || s >= REDIS_CLUSTER_SLOTS) {
        return -1;
    }
    const char *addr = end + 1;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        return -1;
    }
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || port < 1 || port > 65535) {
        return -1;
    }
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl == 0) {
        int p;
        node_address(c, from, host, sizeof host, &p, NULL);
    } else {
        if (hl >= sizeof host) {
            return -1;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
    }
    *slot = (int)s;
    return find_or_add(c, host, (int)port, NULL);
}

static bool error_is(const redisReply *r, const char *prefix) {
    size_t n = strlen(prefix);
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->len >= n &&
           strncmp(r->str, prefix, n) == 0 && (r->len == n || r->str[n] == ' ');
}

bool redis_cluster_note_error(redis_cluster *c, redis_conns *cs, int node, const redisReply *r) {
    if (atomic_load(&c->mode) != REDIS_MODE_CLUSTER || r == NULL || r->type != REDIS_REPLY_ERROR) {
        return false;
    }
    if (error_is(r, "MOVED")) {
        int slot;
        int to = parse_redirect(c, node, r->str, &slot);
        if (to >= 0) {
            atomic_store_explicit(&c->map[slot], (uint8_t)to, memory_order_relaxed);
        }
        (void)refresh(c, cs, -1);
        return true;
    }
    if (error_is(r, "CLUSTERDOWN")) {
        (void)refresh(c, cs, node);
        return true;
    }
    return error_is(r, "ASK") || error_is(r, "TRYAGAIN");
}

int redis_cluster_slot_address(redis_cluster *c, int slot, char *host, size_t hostlen, int *port) {
    int mode = atomic_load(&c->mode);
    int node = -1;
    if (mode == REDIS_MODE_STANDALONE) {
        node = atomic_load(&c->standalone_node);
    } else if (mode == REDIS_MODE_CLUSTER && slot >= 0 && slot < REDIS_CLUSTER_SLOTS) {
        uint8_t m = atomic_load_explicit(&c->map[slot], memory_order_relaxed);
        node = m == NO_NODE ? -1 : m;
    }
    if (node < 0) {
        return -1;
    }
    node_address(c, node, host, hostlen, port, NULL);
    return 0;
}

/* ---------------------------------------------------------------- running a command */

/* cmd on ctx (after ASKING when asking). The reply, or NULL with ctx->err set. */
static redisReply *send_cmd(redisContext *ctx, const redis_cmd *cmd, bool asking) {
    if (asking && redisAppendCommand(ctx, "ASKING") != REDIS_OK) {
        return NULL;
    }
    if (redisAppendFormattedCommand(ctx, cmd->buf, cmd->len) != REDIS_OK) {
        return NULL;
    }
    void *r = NULL;
    if (asking) {
        if (redisGetReply(ctx, &r) != REDIS_OK) {
            return NULL;
        }
        freeReplyObject(r); /* +OK; a refusal shows in the command's own reply */
        r = NULL;
    }
    if (redisGetReply(ctx, &r) != REDIS_OK || ctx->err) {
        if (r != NULL) {
            freeReplyObject(r);
        }
        return NULL;
    }
    return r;
}

/* SCRIPT LOAD source on ctx. 0, or -1 (ctx may be broken: check ctx->err). */
static int load_script(redisContext *ctx, const char *source) {
    const char *argv[3] = {"SCRIPT", "LOAD", source};
    redisReply *r = redisCommandArgv(ctx, 3, argv, NULL);
    int rc = r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40 ? 0 : -1;
    if (r != NULL && rc != 0) {
        LOG_ERRORF("redis SCRIPT LOAD failed: %s",
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return rc;
}

/* WAIT counts the writes of its own connection: sent on a fresh one (a reconnect, a
 * retry after a read timeout) it confirms nothing yet answers "replicated". Such a
 * command runs on the connection that did the writes or not at all (NULL). */
static bool command_is_connection_bound(const redis_cmd *cmd) {
    static const char wait_name[] = "$4\r\nWAIT\r\n";
    const char *first = memchr(cmd->buf, '\n', cmd->len);
    size_t rest = first == NULL ? 0 : cmd->len - (size_t)(first + 1 - cmd->buf);
    return rest >= sizeof wait_name - 1 &&
           strncasecmp(first + 1, wait_name, sizeof wait_name - 1) == 0;
}

redisReply *redis_cluster_run(redis_cluster *c, redis_conns *cs, const redis_cmd *cmd) {
    int node = redis_cluster_slot_node(c, cs, cmd->slot);
    if (node < 0) {
        return NULL;
    }
    bool cluster = atomic_load(&c->mode) == REDIS_MODE_CLUSTER;
    bool asking = false, retried_conn = false, reloaded = false, refreshed = false;
    int redirects = 0;
    for (;;) {
        bool fresh;
        char err[512];
        redisContext *ctx = redis_cluster_node_ctx(c, cs, node, &fresh, err, sizeof err);
        if (ctx == NULL) {
            /* Down: after a failover another node owns the slot. */
            if (!cluster || refreshed || asking) {
                return NULL;
            }
            refreshed = true;
            if (!refresh(c, cs, node)) {
                return NULL;
            }
            int next = redis_cluster_slot_node(c, cs, cmd->slot);
            if (next < 0 || next == node) {
                return NULL;
            }
            node = next;
            continue;
        }
        if (fresh && command_is_connection_bound(cmd)) {
            return NULL;
        }
        redisReply *r = send_cmd(ctx, cmd, asking);
        if (r == NULL && command_is_connection_bound(cmd)) {
            drop_ctx(cs, node);
            return NULL;
        }
        if (r == NULL) {
            bool stale = !fresh && (ctx->err == REDIS_ERR_EOF || ctx->err == REDIS_ERR_IO);
            LOG_WARNF("redis command failed: %s", ctx->err ? ctx->errstr : "no reply");
            drop_ctx(cs, node);
            if (stale && !retried_conn) {
                retried_conn = true; /* a restarted Redis closed it: once more, new context */
                continue;
            }
            if (!cluster || refreshed || asking || !refresh(c, cs, node)) {
                return NULL;
            }
            refreshed = true;
            int next = redis_cluster_slot_node(c, cs, cmd->slot);
            if (next < 0 || next == node) {
                return NULL;
            }
            node = next;
            continue;
        }
        if (r->type != REDIS_REPLY_ERROR) {
            return r;
        }
        if (cmd->script_source != NULL && !reloaded && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            /* A restarted, flushed or new node does not know the script: load it there. */
            freeReplyObject(r);
            reloaded = true;
            if (load_script(ctx, cmd->script_source) != 0) {
                if (ctx->err) {
                    drop_ctx(cs, node);
                }
                return NULL;
            }
            continue;
        }
        if (!cluster) {
            return r;
        }
        bool moved = error_is(r, "MOVED"), ask = error_is(r, "ASK");
        bool tryagain = error_is(r, "TRYAGAIN"), down = error_is(r, "CLUSTERDOWN");
        if (!moved && !ask && !tryagain && !down) {
            return r;
        }
        if (++redirects > REDIS_CLUSTER_MAX_REDIRECTS || (down && refreshed)) {
            int64_t now = time_monotonic_ns();
            if (now - atomic_exchange(&c->gave_up_logged_ns, now) >= 1000000000LL) {
                LOG_WARNF("redis cluster: giving up after %d redirects: %.200s", redirects, r->str);
            }
            freeReplyObject(r);
            return NULL;
        }
        if (moved || ask) {
            int slot;
            int to = parse_redirect(c, node, r->str, &slot);
            if (to < 0) {
                LOG_WARNF("redis cluster: unreadable redirect: %.200s", r->str);
                freeReplyObject(r);
                return NULL;
            }
            if (moved) {
                atomic_store_explicit(&c->map[slot], (uint8_t)to, memory_order_relaxed);
                (void)refresh(c, cs, -1); /* one slot moved, or many (failover, reshard) */
            }
            asking = ask;
            node = to;
        } else if (tryagain) {
            time_sleep_ms(TRYAGAIN_PAUSE_MS);
        } else {
            refreshed = true;
            (void)refresh(c, cs, node);
            int next = redis_cluster_slot_node(c, cs, cmd->slot);
            if (next >= 0) {
                node = next;
            }
        }
        freeReplyObject(r);
    }
}

/* ---------------------------------------------------------------- dedicated connections */

redisContext *redis_cluster_connect_slot_owner(const redis_url *url, int slot, int timeout_ms,
                                               char *host, size_t hostlen, int *port, char *err,
                                               size_t errlen) {
    for (int i = 0; i < url->nseeds; i++) {
        const char *sh = url->seeds[i].host;
        int sp = url->seeds[i].port;
        redisContext *ctx = redis_url_connect_host(url, sh, sp, timeout_ms, err, errlen);
        if (ctx == NULL) {
            continue;
        }
        redisReply *r = cluster_slots(ctx);
        if (r == NULL) {
            errbuf_setf(err, errlen, "redis %s:%d: CLUSTER SLOTS failed", sh, sp);
            redisFree(ctx);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR && !cluster_disabled_reply(r)) {
            errbuf_setf(err, errlen, "redis %s:%d: CLUSTER SLOTS: %.100s", sh, sp, r->str);
            freeReplyObject(r);
            redisFree(ctx);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) { /* standalone */
            freeReplyObject(r);
            snprintf(host, hostlen, "%s", sh);
            *port = sp;
            return ctx;
        }
        const char *oh = NULL;
        long long op = 0;
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
            const redisReply *e = r->element[k];
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 3 && reply_is_int(e->element[0]) &&
                reply_is_int(e->element[1]) && e->element[0]->integer <= slot &&
                slot <= e->element[1]->integer && e->element[2]->type == REDIS_REPLY_ARRAY &&
                e->element[2]->elements >= 2 && reply_is_int(e->element[2]->element[1])) {
                const redisReply *h = e->element[2]->element[0];
                oh = h->type == REDIS_REPLY_STRING && h->len > 0 && strcmp(h->str, "?") != 0
                         ? h->str
                         : sh;
                op = e->element[2]->element[1]->integer;
            }
        }
        if (oh == NULL || op < 1 || op > 65535) {
            errbuf_setf(err, errlen, "redis %s:%d: no node owns slot %d", sh, sp, slot);
            freeReplyObject(r);
            redisFree(ctx);
            continue;
        }
        snprintf(host, hostlen, "%s", oh);
        *port = (int)op;
        freeReplyObject(r);
        if (strcmp(host, sh) == 0 && *port == sp) {
            return ctx;
        }
        redisFree(ctx);
        ctx = redis_url_connect_host(url, host, *port, timeout_ms, err, errlen);
        if (ctx != NULL) {
            return ctx;
        }
    }
    return NULL;
}
