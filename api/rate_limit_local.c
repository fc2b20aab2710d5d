/*
 * rate_limit_local.c: in-process GCRA buckets (rate_limit_local.h).
 *
 * Owns: the striped table. A key hashes (FNV-1a) to one stripe; a stripe holds a chained
 * hash table, an LRU list (most recent at the head) and a list of dirty buckets (pending
 * admissions the reconciler has not collected yet), all guarded by the stripe's mutex.
 * Rules: a request that pays into several buckets locks their stripes in ascending order
 * (no deadlock) and decides all before charging any; a bucket's TAT is on the caller's
 * monotonic clock in microseconds; tables of fewer than STRIPE_MIN_BUCKETS * 2 buckets use
 * one stripe, so small test tables evict in plain LRU order.
 */
#include "api/rate_limit_local.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shared/fnv1a.h"
#include "shared/log.h"

#define STRIPES_MAX 64
#define STRIPE_MIN_BUCKETS 256
#define EVICT_SCAN 8 /* LRU tail entries looked at for a clean victim */
#define TAKE_MAX 8   /* buckets one request may pay into */

typedef struct bucket {
    struct bucket *chain;               /* next in the hash slot */
    struct bucket *lru_prev, *lru_next; /* lru_prev toward the head (more recent) */
    struct bucket *dirty_prev, *dirty_next;
    uint64_t hash;
    int64_t tat_us;
    int64_t first_pending_us; /* when the first of `pending` was admitted */
    rate_limit_spec spec;
    int32_t pending; /* admissions not collected yet */
    bool dirty;      /* in the stripe's dirty list (pending > 0) */
    char key[LOCAL_LIMIT_KEY_MAX];
} bucket;

typedef struct stripe {
    pthread_mutex_t mu;
    bucket **slots;
    size_t nslots; /* a power of two */
    size_t count, max;
    bucket *lru_head, *lru_tail;
    bucket *dirty_head;
} __attribute__((aligned(64))) stripe;

struct local_limits {
    stripe *stripes;
    unsigned nstripes; /* a power of two */
    bool track_pending;
    _Atomic uint64_t evicted_dirty;
    _Atomic uint64_t evicted_busy;
};

static size_t pow2_at_least(size_t n) {
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

local_limits *local_limits_create(size_t max_buckets, bool track_pending) {
    if (max_buckets < 1)
        return NULL;
    unsigned nstripes = 1;
    while (nstripes < STRIPES_MAX && (size_t)nstripes * 2 * STRIPE_MIN_BUCKETS <= max_buckets)
        nstripes *= 2;
    local_limits *ll = calloc(1, sizeof *ll);
    if (ll == NULL)
        return NULL;
    ll->stripes = aligned_alloc(64, sizeof(stripe) * nstripes);
    if (ll->stripes == NULL) {
        free(ll);
        return NULL;
    }
    memset(ll->stripes, 0, sizeof(stripe) * nstripes);
    ll->nstripes = nstripes;
    ll->track_pending = track_pending;
    size_t per = (max_buckets + nstripes - 1) / nstripes;
    for (unsigned i = 0; i < nstripes; i++) {
        stripe *s = &ll->stripes[i];
        s->max = per;
        s->nslots = pow2_at_least(per < 8 ? 8 : per);
        s->slots = calloc(s->nslots, sizeof *s->slots);
        if (s->slots == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->slots);
            s->slots = NULL;
            ll->nstripes = i; /* destroy only what was set up */
            local_limits_destroy(ll);
            return NULL;
        }
    }
    return ll;
}

void local_limits_destroy(local_limits *ll) {
    if (ll == NULL)
        return;
    for (unsigned i = 0; i < ll->nstripes; i++) {
        stripe *s = &ll->stripes[i];
        bucket *b = s->lru_head;
        while (b != NULL) {
            bucket *next = b->lru_next;
            free(b);
            b = next;
        }
        free(s->slots);
        pthread_mutex_destroy(&s->mu);
    }
    free(ll->stripes);
    free(ll);
}

static stripe *stripe_of(local_limits *ll, uint64_t hash) {
    return &ll->stripes[hash & (ll->nstripes - 1)];
}

static size_t slot_of(const stripe *s, uint64_t hash) {
    return (size_t)(hash >> 6) & (s->nslots - 1);
}

static bucket *find(stripe *s, uint64_t hash, const char *key) {
    for (bucket *b = s->slots[slot_of(s, hash)]; b != NULL; b = b->chain) {
        if (b->hash == hash && strcmp(b->key, key) == 0)
            return b;
    }
    return NULL;
}

static void lru_unlink(stripe *s, bucket *b) {
    if (b->lru_prev != NULL)
        b->lru_prev->lru_next = b->lru_next;
    else
        s->lru_head = b->lru_next;
    if (b->lru_next != NULL)
        b->lru_next->lru_prev = b->lru_prev;
    else
        s->lru_tail = b->lru_prev;
    b->lru_prev = b->lru_next = NULL;
}

static void lru_push_head(stripe *s, bucket *b) {
    b->lru_prev = NULL;
    b->lru_next = s->lru_head;
    if (s->lru_head != NULL)
        s->lru_head->lru_prev = b;
    s->lru_head = b;
    if (s->lru_tail == NULL)
        s->lru_tail = b;
}

static void dirty_link(stripe *s, bucket *b) {
    if (b->dirty)
        return;
    b->dirty = true;
    b->dirty_prev = NULL;
    b->dirty_next = s->dirty_head;
    if (s->dirty_head != NULL)
        s->dirty_head->dirty_prev = b;
    s->dirty_head = b;
}

static void dirty_unlink(stripe *s, bucket *b) {
    if (!b->dirty)
        return;
    if (b->dirty_prev != NULL)
        b->dirty_prev->dirty_next = b->dirty_next;
    else
        s->dirty_head = b->dirty_next;
    if (b->dirty_next != NULL)
        b->dirty_next->dirty_prev = b->dirty_prev;
    b->dirty_prev = b->dirty_next = NULL;
    b->dirty = false;
}

/* Unlinks b from every list and frees it. */
static void drop(stripe *s, bucket *b) {
    bucket **p = &s->slots[slot_of(s, b->hash)];
    while (*p != b)
        p = &(*p)->chain;
    *p = b->chain;
    lru_unlink(s, b);
    dirty_unlink(s, b);
    s->count--;
    free(b);
}

/* Makes room in a full stripe: a clean, full bucket near the LRU tail if there is one,
 * else a clean one, else the tail itself. */
static void evict_one(local_limits *ll, stripe *s, int64_t now_us) {
    bucket *clean = NULL, *idle = NULL;
    int looked = 0;
    for (bucket *b = s->lru_tail; b != NULL && looked < EVICT_SCAN; b = b->lru_prev, looked++) {
        if (b->dirty)
            continue;
        if (b->tat_us <= now_us) {
            idle = b;
            break;
        }
        if (clean == NULL)
            clean = b;
    }
    bucket *victim = idle != NULL ? idle : clean != NULL ? clean : s->lru_tail;
    if (victim == NULL)
        return;
    if (victim->dirty)
        atomic_fetch_add(&ll->evicted_dirty, 1);
    else if (victim->tat_us > now_us)
        atomic_fetch_add(&ll->evicted_busy, 1);
    drop(s, victim);
}

/* The bucket of key, created (full) when absent; NULL only when out of memory. */
static bucket *get_or_create(local_limits *ll, stripe *s, uint64_t hash, const char *key,
                             rate_limit_spec spec, int64_t now_us) {
    bucket *b = find(s, hash, key);
    if (b != NULL) {
        b->spec = spec; /* the configuration wins over whatever was stored */
        return b;
    }
    if (s->count >= s->max)
        evict_one(ll, s, now_us);
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->hash = hash;
    b->tat_us = now_us;
    b->spec = spec;
    memcpy(b->key, key, strlen(key) + 1);
    size_t slot = slot_of(s, hash);
    b->chain = s->slots[slot];
    s->slots[slot] = b;
    lru_push_head(s, b);
    s->count++;
    return b;
}

static void touch(stripe *s, bucket *b) {
    if (s->lru_head != b) {
        lru_unlink(s, b);
        lru_push_head(s, b);
    }
}

static void add_pending(local_limits *ll, stripe *s, bucket *b, int32_t n, int64_t first_us) {
    if (!ll->track_pending || n <= 0)
        return;
    if (b->pending == 0 || first_us < b->first_pending_us)
        b->first_pending_us = first_us;
    int64_t sum = (int64_t)b->pending + n;
    b->pending = (int32_t)(sum > INT32_MAX ? INT32_MAX : sum);
    dirty_link(s, b);
}

static bool is_limit(rate_limit_spec spec) {
    return spec.count >= 1 && spec.period_s >= 1;
}

static bool key_fits(const char *key) {
    if (key != NULL && strlen(key) < LOCAL_LIMIT_KEY_MAX)
        return true;
    LOG_ERRORF("local rate limit: a bucket key is missing or longer than %d bytes; not limited",
               LOCAL_LIMIT_KEY_MAX - 1);
    return false;
}

bool local_limits_take(local_limits *ll, local_limit_take *takes, size_t n, int64_t now_us) {
    uint64_t hash[TAKE_MAX];
    bool active[TAKE_MAX];
    if (n > TAKE_MAX) {
        LOG_ERRORF("local rate limit: %zu buckets for one request (at most %d); not limited", n,
                   TAKE_MAX);
        return true;
    }
    unsigned order[TAKE_MAX];
    size_t nlock = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&takes[i].result, 0, sizeof takes[i].result);
        takes[i].result.allowed = true;
        active[i] = is_limit(takes[i].spec) && key_fits(takes[i].key);
        if (!active[i])
            continue;
        hash[i] = fnv1a64(takes[i].key);
        unsigned idx = (unsigned)(hash[i] & (ll->nstripes - 1));
        size_t at = 0; /* insertion into the sorted, distinct lock order */
        while (at < nlock && order[at] < idx)
            at++;
        if (at < nlock && order[at] == idx)
            continue;
        memmove(&order[at + 1], &order[at], (nlock - at) * sizeof order[0]);
        order[at] = idx;
        nlock++;
    }
    for (size_t i = 0; i < nlock; i++)
        pthread_mutex_lock(&ll->stripes[order[i]].mu);

    bool allowed = true;
    int64_t new_tat[TAKE_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!active[i])
            continue;
        const bucket *b = find(stripe_of(ll, hash[i]), hash[i], takes[i].key);
        takes[i].result =
            gcra_decide_us(takes[i].spec, b != NULL ? b->tat_us : 0, now_us, &new_tat[i]);
        allowed = allowed && takes[i].result.allowed;
    }
    if (allowed) {
        for (size_t i = 0; i < n; i++) {
            if (!active[i])
                continue;
            stripe *s = stripe_of(ll, hash[i]);
            bucket *b = get_or_create(ll, s, hash[i], takes[i].key, takes[i].spec, now_us);
            if (b == NULL) {
                LOG_ERRORF("local rate limit: out of memory for a bucket; not charged");
                continue;
            }
            b->tat_us = new_tat[i];
            add_pending(ll, s, b, 1, now_us);
            touch(s, b);
        }
    }
    for (size_t i = nlock; i > 0; i--)
        pthread_mutex_unlock(&ll->stripes[order[i - 1]].mu);
    return allowed;
}

bool local_limits_peek(local_limits *ll, local_limit_take *take, int64_t now_us) {
    memset(&take->result, 0, sizeof take->result);
    take->result.allowed = true;
    if (!is_limit(take->spec) || !key_fits(take->key))
        return true;
    uint64_t h = fnv1a64(take->key);
    stripe *s = stripe_of(ll, h);
    pthread_mutex_lock(&s->mu);
    const bucket *b = find(s, h, take->key);
    take->result = gcra_decide_us(take->spec, b != NULL ? b->tat_us : 0, now_us, NULL);
    pthread_mutex_unlock(&s->mu);
    return take->result.allowed;
}

void local_limits_record(local_limits *ll, const char *key, rate_limit_spec spec, int64_t now_us) {
    if (!is_limit(spec) || !key_fits(key))
        return;
    uint64_t h = fnv1a64(key);
    stripe *s = stripe_of(ll, h);
    pthread_mutex_lock(&s->mu);
    bucket *b = get_or_create(ll, s, h, key, spec, now_us);
    if (b != NULL) {
        int64_t tat = (b->tat_us > now_us ? b->tat_us : now_us) + gcra_interval_us(spec);
        int64_t full_empty = now_us + (int64_t)spec.period_s * 1000000;
        b->tat_us = tat < full_empty ? tat : full_empty;
        add_pending(ll, s, b, 1, now_us);
        touch(s, b);
    }
    pthread_mutex_unlock(&s->mu);
}

size_t local_limits_collect(local_limits *ll, local_limit_sync_item *out, size_t max) {
    size_t got = 0;
    for (unsigned i = 0; i < ll->nstripes && got < max; i++) {
        stripe *s = &ll->stripes[i];
        pthread_mutex_lock(&s->mu);
        while (s->dirty_head != NULL && got < max) {
            bucket *b = s->dirty_head;
            local_limit_sync_item *it = &out[got++];
            memcpy(it->key, b->key, sizeof it->key);
            it->spec = b->spec;
            it->n = b->pending;
            it->first_us = b->first_pending_us;
            it->debt_us = 0;
            b->pending = 0;
            dirty_unlink(s, b);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return got;
}

/* What a sync does to the bucket of one item, under its stripe's lock. */
typedef void (*item_fn)(local_limits *ll, stripe *s, bucket *b, const local_limit_sync_item *it,
                        int64_t sent_us);

/* Calls fn for each item whose bucket this instance still holds. */
static void for_each_held(local_limits *ll, const local_limit_sync_item *items, size_t n,
                          item_fn fn, int64_t sent_us) {
    for (size_t i = 0; i < n; i++) {
        const local_limit_sync_item *it = &items[i];
        uint64_t h = fnv1a64(it->key);
        stripe *s = stripe_of(ll, h);
        pthread_mutex_lock(&s->mu);
        bucket *b = find(s, h, it->key);
        if (b != NULL)
            fn(ll, s, b, it, sent_us);
        pthread_mutex_unlock(&s->mu);
    }
}

static void merge_one(local_limits *ll, stripe *s, bucket *b, const local_limit_sync_item *it,
                      int64_t sent_us) {
    (void)ll;
    (void)s;
    /* The shared TAT does not hold what this instance admitted since the collect. */
    int64_t shared = sent_us + (it->debt_us > 0 ? it->debt_us : 0) +
                     (int64_t)b->pending * gcra_interval_us(b->spec);
    if (shared > b->tat_us)
        b->tat_us = shared;
}

void local_limits_merge(local_limits *ll, const local_limit_sync_item *items, size_t n,
                        int64_t sent_us) {
    for_each_held(ll, items, n, merge_one, sent_us);
}

static void restore_one(local_limits *ll, stripe *s, bucket *b, const local_limit_sync_item *it,
                        int64_t sent_us) {
    (void)sent_us;
    int32_t room = b->spec.count - b->pending;
    add_pending(ll, s, b, it->n < room ? it->n : room, it->first_us);
}

void local_limits_restore(local_limits *ll, const local_limit_sync_item *items, size_t n) {
    for_each_held(ll, items, n, restore_one, 0);
}

size_t local_limits_sweep(local_limits *ll, unsigned which, int64_t now_us) {
    stripe *s = &ll->stripes[which & (ll->nstripes - 1)];
    size_t dropped = 0;
    pthread_mutex_lock(&s->mu);
    bucket *b = s->lru_tail;
    while (b != NULL) {
        bucket *prev = b->lru_prev;
        if (!b->dirty && b->tat_us <= now_us) {
            drop(s, b);
            dropped++;
        }
        b = prev;
    }
    pthread_mutex_unlock(&s->mu);
    return dropped;
}

void local_limits_get_stats(local_limits *ll, local_limits_stats *out) {
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < ll->nstripes; i++) {
        pthread_mutex_lock(&ll->stripes[i].mu);
        out->buckets += ll->stripes[i].count;
        pthread_mutex_unlock(&ll->stripes[i].mu);
    }
    out->evicted_dirty = atomic_load(&ll->evicted_dirty);
    out->evicted_busy = atomic_load(&ll->evicted_busy);
}
