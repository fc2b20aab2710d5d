/*
 * user_erasure_event.c: the erasure of a deleted user (see user_erasure_event.h).
 *
 * Owns: the field table of a taskbus.user.deleted event, its validation and the
 * event_rows_spec of a consumer's erasure statement (rows of three columns: user id,
 * Inbox project id, erased_at). Rules: no state; the batch work is event_rows_apply's.
 */
#include "shared/user_erasure_event.h"

#include <string.h>

#include "shared/bus.h"
#include "shared/uuid7.h"

#define USER_ERASURE_NCOLS 3

const json_scan_field USER_ERASURE_FIELDS[USER_ERASURE_NFIELDS] = {
    EVENT_ROWS_ENVELOPE,
    [USER_ERASURE_F_INBOX] = {.key = "inbox_project_id", .parent = EVENT_F_DATA},
    [USER_ERASURE_F_DELETED_AT] = {.key = "deleted_at", .parent = EVENT_F_DATA},
    [USER_ERASURE_F_TIME] = {.key = "time", .parent = -1},
};

bool user_erasure_wants(const char *type) {
    return type != NULL && strcmp(type, USER_ERASED_EVENT) == 0;
}

bool user_erasure_of(const json_scan_field *f, user_erasure *out) {
    event_envelope env;
    if (!user_erasure_wants(event_str(&f[EVENT_F_TYPE], NULL)) ||
        f[EVENT_F_DATA].type != JSON_SCAN_OBJECT || !event_envelope_of(f, &env)) {
        return false;
    }
    const json_scan_field *inbox = &f[USER_ERASURE_F_INBOX];
    bool no_inbox = inbox->type == JSON_SCAN_ABSENT || inbox->type == JSON_SCAN_NULL;
    out->user_id = env.user;
    out->inbox_project_id = no_inbox ? NULL : event_str(inbox, uuid_is_valid);
    out->erased_at = event_str(&f[USER_ERASURE_F_DELETED_AT], event_is_time);
    if (out->erased_at == NULL) {
        out->erased_at = event_str(&f[USER_ERASURE_F_TIME], event_is_time);
    }
    return (no_inbox || out->inbox_project_id != NULL) && out->erased_at != NULL;
}

/* The row of an erasure (event_rows_spec.row_of). */
static bool row_of(const json_scan_field *f, const char *type, event_col *cols) {
    (void)type; /* user_erasure_of checks it again */
    user_erasure e;
    if (!user_erasure_of(f, &e)) {
        return false;
    }
    const event_col row[USER_ERASURE_NCOLS] = {
        event_col_str(e.user_id), event_col_str(e.inbox_project_id), event_col_str(e.erased_at)};
    memcpy(cols, row, sizeof row);
    return true;
}

int user_erasures_apply(const char *who, const pg_stmt *store, pg_conn *conn,
                        const kafka_record *records, size_t count) {
    const event_rows_spec spec = {.who = who,
                                  .topic = USER_EVENTS_TOPIC,
                                  .fields = USER_ERASURE_FIELDS,
                                  .nfields = USER_ERASURE_NFIELDS,
                                  .type_field = EVENT_F_TYPE,
                                  .wants = user_erasure_wants,
                                  .ncols = USER_ERASURE_NCOLS,
                                  .row_of = row_of,
                                  .store = store};
    return event_rows_apply(&spec, conn, records, count);
}
