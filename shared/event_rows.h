/*
 * event_rows.h: a batch of task-events records into rows, stored by one statement.
 *
 * Owns: the part every read-only consumer of task-events shares: read each record (a
 * CloudEvent as the writer publishes it) with one validating pass that picks out the
 * members the consumer names (shared/json_scan.h: no tree is built), keep the types the
 * consumer wants, turn each into a row of text columns with the consumer's own function,
 * and hand the whole batch to Postgres as one array parameter per column ($1..$n of the
 * consumer's statement, read with `unnest`), so a batch is one round trip inside the
 * consumer loop's transaction. A spec reads the records of one topic (task-events or
 * task-events.v2), so a consumer of both applies one spec per topic to the same batch. Rules: a
 * record that cannot be read, or whose row function refuses it, is logged and skipped (it must
 * never fail its batch forever and stop the partition); what the scan accepts Postgres accepts too,
 * so a raw member (the event's data) may go to a json column as it is; only running out of memory
 * or Postgres failing returns -1.
 */
#ifndef TASKBUS_SHARED_EVENT_ROWS_H
#define TASKBUS_SHARED_EVENT_ROWS_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/json_scan.h"
#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"

#define EVENT_ROWS_MAX_COLS 8
#define EVENT_ROWS_MAX_FIELDS 12

/* The envelope every task event's row starts from: a consumer's field table begins with
 * EVENT_ROWS_ENVELOPE (the event id, its type, its data and who acted, at the indexes
 * below: data.user_id of a v1 event; EVENT_ROWS_ENVELOPE_V2 reads data.actor_id of a v2
 * event and its data.project_id), adds its own members from EVENT_F_OWN (EVENT_F_OWN_V2)
 * on, and names EVENT_F_TYPE as its type_field. */
enum { EVENT_F_ID, EVENT_F_TYPE, EVENT_F_DATA, EVENT_F_USER, EVENT_F_OWN };
#define EVENT_F_PROJECT EVENT_F_OWN          /* a v2 envelope's data.project_id */
#define EVENT_F_OWN_V2 (EVENT_F_PROJECT + 1) /* a v2 consumer's first own member */
#define EVENT_ROWS_ENVELOPE_OF(user_key)                                                           \
    [EVENT_F_ID] = {.key = "id", .parent = -1}, [EVENT_F_TYPE] = {.key = "type", .parent = -1},    \
    [EVENT_F_DATA] = {.key = "data", .parent = -1},                                                \
    [EVENT_F_USER] = {.key = user_key, .parent = EVENT_F_DATA}
#define EVENT_ROWS_ENVELOPE EVENT_ROWS_ENVELOPE_OF("user_id")
#define EVENT_ROWS_ENVELOPE_V2                                                                     \
    EVENT_ROWS_ENVELOPE_OF("actor_id"), [EVENT_F_PROJECT] = {.key = "project_id",                  \
                                                             .parent = EVENT_F_DATA}

/* What every row takes from the envelope (strings point into the scanned fields). */
typedef struct event_envelope {
    const char *id;   /* the event id, a UUID */
    const char *user; /* who acted: data.user_id (v1) or data.actor_id (v2), a UUID */
} event_envelope;

/* One column of a row: len bytes at text (no NUL needed); text NULL is the SQL NULL. */
typedef struct event_col {
    const char *text;
    size_t len;
} event_col;

typedef struct event_rows_spec {
    const char *who;                 /* log prefix: "analytics", "activity" */
    const char *topic;               /* the records it reads; those of other topics it leaves */
    const json_scan_field *fields;   /* what to read of each event (json_scan's order rule) */
    size_t nfields;                  /* at most EVENT_ROWS_MAX_FIELDS */
    int type_field;                  /* the index of the top-level "type" in fields */
    bool (*wants)(const char *type); /* types the consumer keeps; others are ignored */
    int ncols;                       /* columns of a row, at most EVENT_ROWS_MAX_COLS */
    /* Fills cols[0..ncols) from the scanned fields of an event of a wanted type (values
     * point into the fields' strings or raw spans). false when the event is unreadable. */
    bool (*row_of)(const json_scan_field *fields, const char *type, event_col *cols);
    const pg_stmt *store; /* takes column c as a text array literal in $(c+1) */
} event_rows_spec;

/* Reads, filters and stores one batch. 0, or -1 to roll back and retry. */
int event_rows_apply(const event_rows_spec *spec, pg_conn *conn, const kafka_record *records,
                     size_t count);

/* The decoded string of f when it is a string that passes check (NULL check: any),
 * else NULL. */
const char *event_str(const json_scan_field *f, bool (*check)(const char *));
/* The envelope of scanned fields f (EVENT_ROWS_ENVELOPE or _V2 first). false when the
 * event id or who acted is missing or not a UUID. */
bool event_envelope_of(const json_scan_field *f, event_envelope *out);
/* The same of a v2 event, and its project into *project. false when that is no UUID. */
bool event_envelope_v2_of(const json_scan_field *f, event_envelope *out, const char **project);
/* A column holding s (NULL: the SQL NULL). */
event_col event_col_str(const char *s);
/* True for an RFC 3339 time Postgres will accept (time_parse_rfc3339_ms, shared/time_util.h). */
bool event_is_time(const char *s);

#endif
