/*
 * schema_docs_cache.c: the built answers of the schema documents (see schema_docs_cache.h).
 */
#include "api/schema_docs_cache.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shared/fnv1a.h"
#include "shared/json_bundle.h"

/* Sub-folders deeper than this are not looked at (schemas/ has two levels; a symlink loop
 * stops here). */
#define FINGERPRINT_MAX_DEPTH 8

/* The hash of one folder entry: its path and what stat says about it. */
static uint64_t entry_hash(const char *path, const struct stat *st, int stat_errno) {
    uint64_t h = fnv1a64_update(FNV1A64_OFFSET, path, strlen(path));
    long long v[9] = {(long long)st->st_dev,         (long long)st->st_ino,
                      (long long)st->st_mode,        (long long)st->st_size,
                      (long long)st->st_mtim.tv_sec, (long long)st->st_mtim.tv_nsec,
                      (long long)st->st_ctim.tv_sec, (long long)st->st_ctim.tv_nsec,
                      (long long)stat_errno};
    return fnv1a64_update(h, v, sizeof v);
}

/* Adds the entries under path (len characters of the PATH_MAX buffer) to *sum. Entries are
 * summed, so the order readdir gives them in does not matter. */
static void fingerprint_dir(char *path, size_t len, int depth, uint64_t *sum) {
    DIR *d = opendir(path);
    if (d == NULL) {
        struct stat none = {0};
        *sum += entry_hash(path, &none, errno);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int n = snprintf(path + len, PATH_MAX - len, "/%s", e->d_name);
        if (n < 0 || (size_t)n >= PATH_MAX - len)
            continue; /* a name that does not fit cannot be referenced either */
        struct stat st;
        int err = stat(path, &st) == 0 ? 0 : errno;
        if (err != 0)
            memset(&st, 0, sizeof st);
        *sum += entry_hash(path, &st, err);
        if (err == 0 && S_ISDIR(st.st_mode) && depth < FINGERPRINT_MAX_DEPTH)
            fingerprint_dir(path, len + (size_t)n, depth + 1, sum);
        path[len] = '\0';
    }
    closedir(d);
}

/* A fingerprint of every file under dir (paths, inodes, sizes, times). */
static uint64_t fingerprint(const char *dir) {
    char *path = malloc(PATH_MAX); /* one buffer for the whole walk, not one per level */
    if (path == NULL)
        return 0; /* never equal to a kept fingerprint in practice: rebuild */
    uint64_t sum = 0;
    size_t len = strlen(dir);
    if (len < PATH_MAX) {
        memcpy(path, dir, len + 1);
        fingerprint_dir(path, len, 0, &sum);
    }
    free(path);
    return sum;
}

static void doc_free(schema_doc *doc) {
    if (doc == NULL)
        return;
    free(doc->text);
    free(doc);
}

/* Bundles and dumps <dir>/<name>: a new doc (refs 1), or NULL when out of memory. */
static schema_doc *build(const char *dir, const char *name) {
    schema_doc *doc = calloc(1, sizeof *doc);
    if (doc == NULL)
        return NULL;
    doc->refs = 1;
    int missing = 0;
    json_t *bundle = json_bundle_load(dir, name, &missing, doc->error, sizeof doc->error);
    if (bundle == NULL) {
        doc->status = missing ? 404 : 500;
        return doc;
    }
    doc->text = json_dumps(bundle, JSON_COMPACT);
    json_decref(bundle);
    if (doc->text == NULL) {
        free(doc);
        return NULL;
    }
    doc->len = strlen(doc->text);
    doc->status = 200;
    snprintf(doc->etag, sizeof doc->etag, "\"%016llx\"",
             (unsigned long long)fnv1a64_update(FNV1A64_OFFSET, doc->text, doc->len));
    return doc;
}

static long long monotonic_ms(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
        return 0;
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void unref_locked(schema_doc *doc) {
    if (doc != NULL && --doc->refs == 0)
        doc_free(doc);
}

schema_doc *schema_docs_cache_get(schema_docs_cache *c, const char *dir, const char *name) {
    pthread_mutex_lock(&c->mu);
    schema_docs_cache_slot *slot = NULL;
    for (int i = 0; i < SCHEMA_DOCS_CACHE_SLOTS && slot == NULL; i++) {
        schema_docs_cache_slot *s = &c->slots[i];
        if (s->dir != NULL && strcmp(s->dir, dir) == 0 && strcmp(s->name, name) == 0)
            slot = s;
    }
    for (int i = 0; i < SCHEMA_DOCS_CACHE_SLOTS && slot == NULL; i++) {
        schema_docs_cache_slot *s = &c->slots[i];
        if (s->dir == NULL) {
            s->dir = strdup(dir);
            s->name = strdup(name);
            if (s->dir == NULL || s->name == NULL) {
                free(s->dir);
                free(s->name);
                s->dir = s->name = NULL;
                pthread_mutex_unlock(&c->mu);
                return NULL;
            }
            slot = s;
        }
    }
    long long now = monotonic_ms();
    if (slot != NULL && slot->doc != NULL && now - slot->checked_ms < c->recheck_ms) {
        schema_doc *kept = slot->doc;
        kept->refs++;
        pthread_mutex_unlock(&c->mu);
        return kept;
    }
    /* Walked under the lock, at most once per recheck interval per document. */
    uint64_t fp = fingerprint(dir);
    schema_doc *doc;
    /* A 500 (a file that could not be read: EMFILE, ENOMEM, a half-written file) is not
     * kept: it is built again at the next check, so a passing failure does not last until
     * the next deploy. */
    if (slot != NULL && slot->doc != NULL && slot->fingerprint == fp && slot->doc->status != 500) {
        doc = slot->doc;
        doc->refs++;
        slot->checked_ms = now;
    } else {
        /* Built under the lock: requests for the same document wait for this one build
         * rather than each bundling it. */
        doc = build(dir, name);
        if (doc != NULL && slot != NULL) {
            const schema_doc *old = slot->doc;
            if (old != NULL && old->status == 500 && doc->status == 500 &&
                strcmp(old->error, doc->error) == 0) {
                doc->logged = old->logged; /* the same failure again: logged once */
            }
            unref_locked(slot->doc);
            slot->doc = doc;
            slot->fingerprint = fp;
            slot->checked_ms = now;
            doc->refs++; /* the slot's and the caller's */
        }
    }
    pthread_mutex_unlock(&c->mu);
    return doc;
}

int schema_docs_cache_claim_log(schema_docs_cache *c, schema_doc *doc) {
    pthread_mutex_lock(&c->mu);
    int first = !doc->logged;
    doc->logged = 1;
    pthread_mutex_unlock(&c->mu);
    return first;
}

void schema_docs_cache_release(schema_docs_cache *c, schema_doc *doc) {
    if (doc == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    unref_locked(doc);
    pthread_mutex_unlock(&c->mu);
}

void schema_docs_cache_clear(schema_docs_cache *c) {
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < SCHEMA_DOCS_CACHE_SLOTS; i++) {
        schema_docs_cache_slot *s = &c->slots[i];
        unref_locked(s->doc);
        free(s->dir);
        free(s->name);
        memset(s, 0, sizeof *s);
    }
    pthread_mutex_unlock(&c->mu);
}
