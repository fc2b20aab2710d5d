/*
 * near_cache.c: the in-process cache (near_cache.h).
 *
 * Owns: NC_STRIPES independent hash tables, each with its own mutex, chained buckets and
 * an LRU list bounded to max_bytes / NC_STRIPES; the blobs entries point to.
 * Rules: a stripe's mutex guards its buckets, LRU list and byte count; blobs are immutable
 * once stored and freed by the last reference (an atomic count), so a reader keeps using a
 * blob after the entry was replaced or evicted. The lease, the epoch and the generations
 * are atomics read without a lock: an entry is served only when its epoch and generation
 * still equal the current ones AND the lease is valid at the moment of the lookup.
 */
#include "api/near_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shared/fnv1a.h"
#include "shared/time_util.h"

#define NC_STRIPES 64
#define NC_BUCKETS_PER_STRIPE 1024 /* a power of two */
#define NC_USER_SLOTS 65536        /* a power of two */
#define NC_ENTRY_OVERHEAD 96       /* what an entry costs beside its key and value */

struct near_cache_blob {
    atomic_int refs;
    size_t len;
    long long aux;
    char data[];
};

typedef struct nc_entry {
    struct nc_entry *next;     /* bucket chain */
    struct nc_entry *prev_lru; /* towards the most recently used */
    struct nc_entry *next_lru; /* towards the least recently used */
    uint64_t hash;
    uint64_t epoch;
    uint64_t generation;
    uint32_t user_slot;
    near_cache_family family;
    size_t cost;
    near_cache_blob *blob;
    char key[];
} nc_entry;

typedef struct nc_stripe {
    pthread_mutex_t mu;
    nc_entry *buckets[NC_BUCKETS_PER_STRIPE];
    nc_entry *lru_head; /* most recently used */
    nc_entry *lru_tail;
    size_t bytes;
} nc_stripe;

struct near_cache {
    size_t stripe_budget;
    _Atomic int64_t lease_until_ns;
    _Atomic uint64_t epoch;
    _Atomic uint64_t generations[NEAR_CACHE_FAMILIES][NC_USER_SLOTS];
    _Atomic uint64_t hits, misses, stores, evictions;
    _Atomic int64_t bytes;
    nc_stripe stripes[NC_STRIPES];
};

/* ---------------------------------------------------------------- blobs */

const char *near_cache_blob_data(const near_cache_blob *b) {
    return b->data;
}

size_t near_cache_blob_len(const near_cache_blob *b) {
    return b->len;
}

long long near_cache_blob_aux(const near_cache_blob *b) {
    return b->aux;
}

void near_cache_blob_release(near_cache_blob *b) {
    if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

static near_cache_blob *blob_new(const char *value, size_t len, long long aux) {
    near_cache_blob *b = malloc(sizeof *b + len + 1);
    if (b == NULL)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    b->aux = aux;
    memcpy(b->data, value, len);
    b->data[len] = '\0';
    return b;
}

/* ---------------------------------------------------------------- hashing */

static uint32_t user_slot(const char *user_id) {
    return (uint32_t)(fnv1a64(user_id) & (NC_USER_SLOTS - 1));
}

/* ---------------------------------------------------------------- life cycle */

near_cache *near_cache_create(size_t max_bytes) {
    near_cache *nc = calloc(1, sizeof *nc);
    if (nc == NULL)
        return NULL;
    nc->stripe_budget = max_bytes / NC_STRIPES;
    atomic_init(&nc->lease_until_ns, 0);
    atomic_init(&nc->epoch, 1);
    for (int i = 0; i < NC_STRIPES; i++) {
        if (pthread_mutex_init(&nc->stripes[i].mu, NULL) != 0) {
            for (int j = 0; j < i; j++)
                pthread_mutex_destroy(&nc->stripes[j].mu);
            free(nc);
            return NULL;
        }
    }
    return nc;
}

static void entry_free(nc_entry *e) {
    near_cache_blob_release(e->blob);
    free(e);
}

void near_cache_destroy(near_cache *nc) {
    if (nc == NULL)
        return;
    for (int i = 0; i < NC_STRIPES; i++) {
        nc_stripe *s = &nc->stripes[i];
        for (nc_entry *e = s->lru_head; e != NULL;) {
            nc_entry *next = e->next_lru;
            entry_free(e);
            e = next;
        }
        pthread_mutex_destroy(&s->mu);
    }
    free(nc);
}

/* ---------------------------------------------------------------- validity */

bool near_cache_lease_valid(const near_cache *nc) {
    return time_monotonic_ns() < atomic_load(&nc->lease_until_ns);
}

void near_cache_set_lease(near_cache *nc, int64_t until_ns) {
    atomic_store(&nc->lease_until_ns, until_ns);
}

void near_cache_bump_epoch(near_cache *nc) {
    atomic_fetch_add(&nc->epoch, 1);
}

void near_cache_invalidate_user(near_cache *nc, const char *user_id, unsigned mask) {
    uint32_t slot = user_slot(user_id);
    for (int f = 0; f < NEAR_CACHE_FAMILIES; f++)
        if ((mask & (1u << f)) != 0)
            atomic_fetch_add(&nc->generations[f][slot], 1);
}

near_cache_ticket near_cache_ticket_take(near_cache *nc, const char *user_id,
                                         near_cache_family family) {
    near_cache_ticket t = {.usable = false, .family = family};
    /* Epoch and generation first: a lapse or invalidation after this point kills what is
     * stored under the ticket. */
    t.epoch = atomic_load(&nc->epoch);
    t.generation = atomic_load(&nc->generations[family][user_slot(user_id)]);
    t.usable = near_cache_lease_valid(nc);
    return t;
}

static bool entry_live(near_cache *nc, const nc_entry *e) {
    return e->epoch == atomic_load(&nc->epoch) &&
           e->generation == atomic_load(&nc->generations[e->family][e->user_slot]);
}

/* ---------------------------------------------------------------- one stripe */

static nc_stripe *stripe_of(near_cache *nc, uint64_t hash) {
    return &nc->stripes[(hash >> 32) % NC_STRIPES];
}

static nc_entry **bucket_of(nc_stripe *s, uint64_t hash) {
    return &s->buckets[hash & (NC_BUCKETS_PER_STRIPE - 1)];
}

static void lru_unlink(nc_stripe *s, nc_entry *e) {
    if (e->prev_lru != NULL)
        e->prev_lru->next_lru = e->next_lru;
    else
        s->lru_head = e->next_lru;
    if (e->next_lru != NULL)
        e->next_lru->prev_lru = e->prev_lru;
    else
        s->lru_tail = e->prev_lru;
    e->prev_lru = e->next_lru = NULL;
}

static void lru_push_front(nc_stripe *s, nc_entry *e) {
    e->prev_lru = NULL;
    e->next_lru = s->lru_head;
    if (s->lru_head != NULL)
        s->lru_head->prev_lru = e;
    s->lru_head = e;
    if (s->lru_tail == NULL)
        s->lru_tail = e;
}

/* Unlinks e from its bucket and the LRU list and frees it. Stripe locked. */
static void remove_entry(near_cache *nc, nc_stripe *s, nc_entry *e) {
    nc_entry **p = bucket_of(s, e->hash);
    while (*p != NULL && *p != e)
        p = &(*p)->next;
    if (*p == e)
        *p = e->next;
    lru_unlink(s, e);
    s->bytes -= e->cost;
    atomic_fetch_sub(&nc->bytes, (int64_t)e->cost);
    entry_free(e);
}

static nc_entry *find(nc_stripe *s, uint64_t hash, const char *key) {
    for (nc_entry *e = *bucket_of(s, hash); e != NULL; e = e->next)
        if (e->hash == hash && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

near_cache_blob *near_cache_get(near_cache *nc, const char *key) {
    /* "" is what a key builder answers for a key that would not fit: never shared. */
    if (!near_cache_lease_valid(nc) || key[0] == '\0') {
        atomic_fetch_add(&nc->misses, 1);
        return NULL;
    }
    uint64_t hash = fnv1a64(key);
    nc_stripe *s = stripe_of(nc, hash);
    near_cache_blob *out = NULL;
    pthread_mutex_lock(&s->mu);
    nc_entry *e = find(s, hash, key);
    if (e != NULL && !entry_live(nc, e)) {
        remove_entry(nc, s, e);
    } else if (e != NULL) {
        lru_unlink(s, e);
        lru_push_front(s, e);
        atomic_fetch_add(&e->blob->refs, 1);
        out = e->blob;
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(out != NULL ? &nc->hits : &nc->misses, 1);
    return out;
}

/* Evicts from the LRU tail until the stripe fits its budget. Stripe locked. */
static void evict_over_budget(near_cache *nc, nc_stripe *s) {
    while (s->bytes > nc->stripe_budget && s->lru_tail != NULL) {
        remove_entry(nc, s, s->lru_tail);
        atomic_fetch_add(&nc->evictions, 1);
    }
}

void near_cache_put(near_cache *nc, const near_cache_ticket *t, const char *user_id,
                    const char *key, const char *value, size_t len, long long aux) {
    if (!t->usable || key[0] == '\0')
        return;
    size_t keylen = strlen(key);
    size_t cost = NC_ENTRY_OVERHEAD + keylen + len;
    if (cost > nc->stripe_budget)
        return;
    nc_entry *e = malloc(sizeof *e + keylen + 1);
    near_cache_blob *b = e != NULL ? blob_new(value, len, aux) : NULL;
    if (b == NULL) {
        free(e);
        return;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, keylen + 1);
    e->hash = fnv1a64(key);
    e->epoch = t->epoch;
    e->generation = t->generation;
    e->user_slot = user_slot(user_id);
    e->family = t->family;
    e->cost = cost;
    e->blob = b;
    nc_stripe *s = stripe_of(nc, e->hash);
    pthread_mutex_lock(&s->mu);
    nc_entry *old = find(s, e->hash, key);
    if (old != NULL)
        remove_entry(nc, s, old);
    if (!entry_live(nc, e)) { /* invalidated while the source was read */
        pthread_mutex_unlock(&s->mu);
        entry_free(e);
        return;
    }
    nc_entry **bucket = bucket_of(s, e->hash);
    e->next = *bucket;
    *bucket = e;
    lru_push_front(s, e);
    s->bytes += cost;
    atomic_fetch_add(&nc->bytes, (int64_t)cost);
    evict_over_budget(nc, s);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&nc->stores, 1);
}

void near_cache_stats_read(near_cache *nc, near_cache_stats *out) {
    out->hits = atomic_load(&nc->hits);
    out->misses = atomic_load(&nc->misses);
    out->stores = atomic_load(&nc->stores);
    out->evictions = atomic_load(&nc->evictions);
    int64_t bytes = atomic_load(&nc->bytes);
    out->bytes = bytes > 0 ? (uint64_t)bytes : 0;
}
