/*
 * writer_release.h: releasing journal rows whose effects Redis could not take.
 *
 * Owns: which unreleased writer_pending_effects rows this writer has seen and since when
 * (its own monotonic clock), and the UPDATE that marks them released. Rules: a row is
 * released only after this process has seen it (so it was committed) for
 * near_cache_release_after_ms(lease): by then every API lease granted before an instance
 * could see the row has run out, and no instance renews while the row exists
 * (api/near_cache_lease.c), so reporting its commands applied from Postgres cannot let an
 * instance serve the older state. See docs/decisions.md, "Near cache".
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_RELEASE_H
#define TASKBUS_WORKERS_WRITER_WRITER_RELEASE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/pg_pool.h"

typedef struct writer_release_watch {
    long long *ids;
    int64_t *seen_ns;
    size_t count;
} writer_release_watch;

/* Reads the unreleased rows, remembers when each was first seen and releases those seen
 * long enough. Returns how many it released, or -1 with err. */
int writer_release_due(pg_pool *pg, writer_release_watch *w, int lease_ms, char *err,
                       size_t errlen);
/* True while rows this process saw are still unreleased. */
int writer_release_watching(const writer_release_watch *w);
void writer_release_watch_free(writer_release_watch *w);

#endif
