/*
 * importer_inflight.c: the ledger of unapplied batches (see importer_inflight.h).
 * Rules: entries stay oldest first; one statement per check, the ids as one uuid[] text.
 */
#include "workers/importer/importer_inflight.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "workers/importer/importer_sql.h"

static const pg_stmt APPLIED = {
    .name = "importer_applied",
    .sql = "SELECT command_id::text FROM commands WHERE command_id = ANY($1::uuid[])",
    .nparams = 1,
};

bool importer_inflight_add(importer_inflight *f, const char *last_command_id, int64_t count,
                           int64_t produced_ns) {
    if (f->n >= IMPORTER_INFLIGHT_MAX) {
        return false;
    }
    importer_inflight_batch *b = &f->batches[f->n++];
    b->produced_ns = produced_ns;
    b->count = count;
    snprintf(b->last_command_id, sizeof b->last_command_id, "%s", last_command_id);
    f->items += count;
    return true;
}

int importer_inflight_room(const importer_inflight *f) {
    return IMPORTER_INFLIGHT_MAX - f->n;
}

/* "{id,id,...}" of every entry (caller free()s), or NULL when out of memory. */
static char *id_array(const importer_inflight *f) {
    size_t cap = (size_t)f->n * UUID_STR_LEN + 3;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    size_t len = 0;
    out[len++] = '{';
    for (int i = 0; i < f->n; i++) {
        if (i > 0) {
            out[len++] = ',';
        }
        size_t idlen = strlen(f->batches[i].last_command_id);
        memcpy(out + len, f->batches[i].last_command_id, idlen);
        len += idlen;
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

static bool listed(const PGresult *res, const char *id) {
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, 0), id) == 0) {
            return true;
        }
    }
    return false;
}

int importer_inflight_check(importer_inflight *f, pg_conn *conn, int64_t now_ns, bool may_forget,
                            char *err, size_t errlen) {
    f->seen_min_ns = -1;
    if (f->n == 0) {
        return 0;
    }
    char *ids = id_array(f);
    if (ids == NULL) {
        errbuf_setf(err, errlen, "importer_applied: out of memory");
        return -1;
    }
    const char *values[1] = {ids};
    PGresult *res = importer_exec(conn, &APPLIED, values, err, errlen);
    free(ids);
    if (res == NULL) {
        return -1;
    }
    const int64_t forget_ns = (int64_t)IMPORTER_INFLIGHT_FORGET_MS * 1000000;
    int kept = 0;
    for (int i = 0; i < f->n; i++) {
        importer_inflight_batch *b = &f->batches[i];
        bool applied = PQntuples(res) > 0 && listed(res, b->last_command_id);
        int64_t seen = now_ns - b->produced_ns;
        if (applied && (f->seen_min_ns < 0 || seen < f->seen_min_ns)) {
            f->seen_min_ns = seen;
        }
        if (!applied && may_forget && seen > forget_ns) {
            LOG_WARNF("importer: command %s not applied after %d s; no longer waited for",
                      b->last_command_id, IMPORTER_INFLIGHT_FORGET_MS / 1000);
            applied = true;
        }
        if (applied) {
            f->seen_applied++;
            f->seen_latency_sum_ns += seen;
            f->seen_latency_max_ns = seen > f->seen_latency_max_ns ? seen : f->seen_latency_max_ns;
            f->items -= b->count;
        } else {
            f->batches[kept++] = *b;
        }
    }
    f->n = kept;
    PQclear(res);
    return 0;
}

int64_t importer_inflight_oldest_ns(const importer_inflight *f) {
    return f->n > 0 ? f->batches[0].produced_ns : -1;
}

void importer_inflight_clear(importer_inflight *f) {
    f->n = 0;
    f->items = 0;
}
