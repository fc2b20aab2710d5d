/*
 * writer_release.c: releasing journal rows (writer_release.h).
 *
 * Rules: the watch is rebuilt from every read, so rows landed or released by anyone drop
 * out of it; first-seen times survive a rebuild for the ids that remain.
 */
#include "workers/writer/writer_release.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/near_cache_bus.h"
#include "shared/strbuf.h"
#include "shared/time_util.h"

#define PG_ACQUIRE_MS 2000

static const pg_stmt STMT_UNRELEASED = {
    .name = "writer_release_unreleased",
    .sql = "SELECT id FROM writer_pending_effects WHERE NOT released ORDER BY id",
    .nparams = 0,
};
static const pg_stmt STMT_RELEASE = {
    .name = "writer_release_mark",
    .sql = "UPDATE writer_pending_effects SET released = true WHERE id = ANY($1::bigint[])",
    .nparams = 1,
};

/* When the old watch first saw id, or now. Both arrays are sorted by id. */
static int64_t first_seen(const writer_release_watch *old, size_t *cursor, long long id,
                          int64_t now) {
    while (*cursor < old->count && old->ids[*cursor] < id)
        (*cursor)++;
    return *cursor < old->count && old->ids[*cursor] == id ? old->seen_ns[*cursor] : now;
}

/* Replaces w with the rows of res. 0, or -1 (OOM; w unchanged). */
static int rebuild(writer_release_watch *w, const PGresult *res, int64_t now) {
    size_t n = (size_t)PQntuples(res);
    writer_release_watch next = {.count = n};
    next.ids = malloc((n ? n : 1) * sizeof *next.ids);
    next.seen_ns = malloc((n ? n : 1) * sizeof *next.seen_ns);
    if (next.ids == NULL || next.seen_ns == NULL) {
        writer_release_watch_free(&next);
        return -1;
    }
    size_t cursor = 0;
    for (size_t i = 0; i < n; i++) {
        next.ids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        next.seen_ns[i] = first_seen(w, &cursor, next.ids[i], now);
    }
    writer_release_watch_free(w);
    *w = next;
    return 0;
}

/* "{id,id,...}" of the rows seen at least after_ns ago, or NULL when none (or OOM). */
static char *due_array(const writer_release_watch *w, int64_t now, int64_t after_ns, int *count) {
    strbuf b = {0};
    *count = 0;
    strbuf_puts(&b, "{");
    for (size_t i = 0; i < w->count; i++) {
        if (now - w->seen_ns[i] < after_ns)
            continue;
        char id[32];
        snprintf(id, sizeof id, *count > 0 ? ",%lld" : "%lld", w->ids[i]);
        strbuf_puts(&b, id);
        (*count)++;
    }
    strbuf_puts(&b, "}");
    if (*count == 0 || b.failed) {
        free(b.data);
        *count = 0;
        return NULL;
    }
    return b.data;
}

static int mark_released(pg_conn *conn, const char *array, char *err, size_t errlen) {
    const char *values[] = {array};
    PGresult *res = pg_exec_stmt(conn, &STMT_RELEASE, values);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0)
        errbuf_setf(err, errlen, "journal release: %s",
                    res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    PQclear(res);
    return rc;
}

int writer_release_due(pg_pool *pg, writer_release_watch *w, int lease_ms, char *err,
                       size_t errlen) {
    pg_conn *conn = pg_pool_acquire(pg, PG_ACQUIRE_MS, err, errlen);
    if (conn == NULL)
        return -1;
    int64_t now = time_monotonic_ns();
    PGresult *res = pg_exec_stmt(conn, &STMT_UNRELEASED, NULL);
    int rc = -1;
    if (!pg_result_ok(res))
        errbuf_setf(err, errlen, "journal scan: %s",
                    res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    else if (rebuild(w, res, now) != 0)
        errbuf_setf(err, errlen, "journal release: out of memory");
    else
        rc = 0;
    PQclear(res);
    int count = 0;
    char *array =
        rc == 0
            ? due_array(w, now, (int64_t)near_cache_release_after_ms(lease_ms) * 1000000, &count)
            : NULL;
    if (array != NULL)
        rc = mark_released(conn, array, err, errlen) == 0 ? count : -1;
    free(array);
    pg_pool_release(pg, conn);
    return rc;
}

int writer_release_watching(const writer_release_watch *w) {
    return w->count > 0;
}

void writer_release_watch_free(writer_release_watch *w) {
    free(w->ids);
    free(w->seen_ns);
    memset(w, 0, sizeof *w);
}
