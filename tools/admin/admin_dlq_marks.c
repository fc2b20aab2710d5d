/*
 * admin_dlq_marks.c: the dlq_marks rows and the replay progress (see admin_dlq_marks.h).
 *
 * Owns: the statements on dlq_marks and the read of group DLQ_REPLAY_GROUP's offsets.
 * Rules: every result is cleared on every path.
 */
#include "tools/admin/admin_dlq_marks.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "tools/admin/admin_db.h"

#define WHO "taskbus-admin dlq"

static const pg_stmt MARK_GET = {
    .name = "dlq_mark_get",
    .sql = "SELECT action FROM dlq_marks"
           " WHERE dlq_topic = $1 AND partition = $2::int AND \"offset\" = $3::bigint",
    .nparams = 3,
};

/* A skipped row stays skipped: the update only runs on a replayed one. */
static const pg_stmt MARK_SET = {
    .name = "dlq_mark_set",
    .sql = "INSERT INTO dlq_marks (dlq_topic, partition, \"offset\", action)"
           " VALUES ($1, $2::int, $3::bigint, $4)"
           " ON CONFLICT (dlq_topic, partition, \"offset\") DO UPDATE"
           " SET action = EXCLUDED.action, marked_at = now()"
           " WHERE dlq_marks.action <> 'skipped'",
    .nparams = 4,
};

static const pg_stmt PROGRESS_GET = {
    .name = "dlq_progress_get",
    .sql = "SELECT next_offset FROM kafka_consumer_offsets"
           " WHERE group_id = $1 AND topic = $2 AND partition = $3::int",
    .nparams = 3,
};

const char *dlq_mark_word(dlq_mark mark) {
    switch (mark) {
    case DLQ_MARK_SKIPPED:
        return "skipped";
    case DLQ_MARK_REPLAYED:
        return "replayed";
    case DLQ_MARK_NONE:
        break;
    }
    return "pending";
}

int admin_dlq_mark_get(pg_conn *c, const char *dlq, int32_t partition, int64_t offset) {
    char part[16];
    char off[32];
    snprintf(part, sizeof part, "%" PRId32, partition);
    snprintf(off, sizeof off, "%" PRId64, offset);
    const char *values[3] = {dlq, part, off};
    PGresult *row = NULL;
    int found = admin_db_one_row(c, &MARK_GET, values, WHO, "dlq_marks", &row);
    if (found <= 0) {
        return found < 0 ? -1 : DLQ_MARK_NONE;
    }
    int mark = strcmp(PQgetvalue(row, 0, 0), "skipped") == 0 ? DLQ_MARK_SKIPPED : DLQ_MARK_REPLAYED;
    PQclear(row);
    return mark;
}

int admin_dlq_mark_set(pg_conn *c, const char *dlq, int32_t partition, int64_t offset,
                       dlq_mark mark) {
    char part[16];
    char off[32];
    snprintf(part, sizeof part, "%" PRId32, partition);
    snprintf(off, sizeof off, "%" PRId64, offset);
    const char *values[4] = {dlq, part, off, dlq_mark_word(mark)};
    PGresult *res = pg_exec_stmt(c, &MARK_SET, values);
    if (!pg_result_ok(res)) {
        admin_db_print_error(WHO, "dlq_marks", res);
        PQclear(res);
        return -1;
    }
    bool changed = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return changed ? (int)mark : DLQ_MARK_SKIPPED;
}

int64_t admin_dlq_progress(pg_conn *c, const char *dlq, int32_t partition) {
    char part[16];
    snprintf(part, sizeof part, "%" PRId32, partition);
    const char *values[3] = {DLQ_REPLAY_GROUP, dlq, part};
    PGresult *row = NULL;
    int found = admin_db_one_row(c, &PROGRESS_GET, values, WHO, "replay progress", &row);
    if (found <= 0) {
        return found < 0 ? -1 : 0;
    }
    int64_t next = strtoll(PQgetvalue(row, 0, 0), NULL, 10);
    PQclear(row);
    return next;
}
