/*
 * schema_docs_cache.h: the built answers of the schema documents (GET /openapi.json,
 * GET /asyncapi.json), kept until the schemas folder changes.
 *
 * Owns: bundling a document of a schemas folder (shared/json_bundle.h) and dumping it once,
 * then handing out that text and its entity-tag until a file of the folder changes.
 * Rules: a request does not bundle. At most once per recheck interval (the server: 1 s) a
 * request walks the folder and stats its files (~80 system calls for schemas/, 0.1-0.7 ms
 * on a loaded box); the fingerprint of every file's path, inode, size, mtime and ctime
 * decides whether the kept answer is still the folder's, so a deploy that replaces or
 * edits a file is served within that interval, with a new tag. Other requests only take
 * the lock and a reference.
 * The outcome is kept: 200 with the text, 404 when the document is not there, 500 when it
 * cannot be bundled (the cause is kept for the caller to log once per distinct cause); a
 * 500 is built again at each check (once per interval), since its cause may pass.
 * The entity-tag is strong and derived from the text alone (FNV-1a 64 of it), so every API
 * instance that serves the same document gives it the same tag. Thread-safe: one mutex per
 * cache guards its entries (and is held while a document is built, so concurrent first
 * requests build it once); an entry handed out is immutable and reference-counted, so a
 * rebuild never frees text a request is still sending.
 */
#ifndef TASKBUS_API_SCHEMA_DOCS_CACHE_H
#define TASKBUS_API_SCHEMA_DOCS_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* How many distinct (folder, document) pairs one cache keeps; more are built per request. */
#define SCHEMA_DOCS_CACHE_SLOTS 4
/* "\"" + 16 hex digits + "\"" + NUL */
#define SCHEMA_DOC_ETAG_MAX 20

typedef struct schema_doc {
    int refs;   /* guarded by the cache's mutex */
    int status; /* 200, 404 (the document is not there) or 500 (it cannot be bundled) */
    int logged; /* a 500's cause was logged (set once by schema_docs_cache_claim_log) */
    char *text; /* the dumped document (status 200), else NULL */
    size_t len;
    char etag[SCHEMA_DOC_ETAG_MAX]; /* status 200 only */
    char error[512];                /* status 500: why */
} schema_doc;

typedef struct schema_docs_cache_slot {
    char *dir;
    char *name;
    uint64_t fingerprint;
    long long checked_ms; /* monotonic time of the last fingerprint */
    schema_doc *doc;
} schema_docs_cache_slot;

/* SCHEMA_DOCS_CACHE_INIT(recheck_ms) for a static one. */
typedef struct schema_docs_cache {
    pthread_mutex_t mu;   /* guards slots and every handed-out doc's refs/logged */
    long long recheck_ms; /* a kept answer younger than this is handed out unchecked */
    schema_docs_cache_slot slots[SCHEMA_DOCS_CACHE_SLOTS];
} schema_docs_cache;

#define SCHEMA_DOCS_CACHE_INIT(recheck)                                                            \
    { .mu = PTHREAD_MUTEX_INITIALIZER, .recheck_ms = (recheck) }

/* The current answer for <dir>/<name> (a reference the caller releases), or NULL when out
 * of memory. */
schema_doc *schema_docs_cache_get(schema_docs_cache *c, const char *dir, const char *name);

/* True the first time it is called for doc (so a broken document is logged once per
 * change, not once per request). */
int schema_docs_cache_claim_log(schema_docs_cache *c, schema_doc *doc);

/* Gives back a reference from schema_docs_cache_get (NULL is ignored). */
void schema_docs_cache_release(schema_docs_cache *c, schema_doc *doc);

/* Frees every kept entry (tests; the server's cache lives as long as the process). Handed
 * out references must have been released. */
void schema_docs_cache_clear(schema_docs_cache *c);

#endif
