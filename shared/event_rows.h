/*
 * event_rows.h: a batch of task-events records into rows, stored by one statement.
 *
 * Owns: the part every read-only consumer of task-events shares: decode each record (a
 * CloudEvent as the writer publishes it), keep the types the consumer wants, turn each
 * into a row of text columns with the consumer's own function, and hand the whole batch
 * to Postgres as one array parameter per column ($1..$n of the consumer's statement,
 * read with `unnest`), so a batch is one round trip inside the consumer loop's
 * transaction. Rules: a record that cannot be read, or whose row function refuses it, is
 * logged and skipped (it must never fail its batch forever and stop the partition); only
 * running out of memory or Postgres failing returns -1.
 */
#ifndef TASKBUS_SHARED_EVENT_ROWS_H
#define TASKBUS_SHARED_EVENT_ROWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"

#define EVENT_ROWS_MAX_COLS 8

enum { EVENT_ROW_OK = 0, EVENT_ROW_UNREADABLE = 1, EVENT_ROW_NO_MEMORY = -1 };

typedef struct event_rows_spec {
    const char *who;                 /* log prefix: "analytics", "activity" */
    bool (*wants)(const char *type); /* types the consumer keeps; others are ignored */
    int ncols;                       /* columns of a row, at most EVENT_ROWS_MAX_COLS */
    /* Fills cols[0..ncols) with the row of event (NULL: SQL NULL). A value points into
     * event, or is *owned (malloc'd; the caller frees it after use, whatever is returned;
     * at most one per row). EVENT_ROW_OK, EVENT_ROW_UNREADABLE (skip the event) or
     * EVENT_ROW_NO_MEMORY (fail the batch). */
    int (*row_of)(const json_t *event, const char *type, const char **cols, char **owned);
    const pg_stmt *store; /* takes column c as a text array literal in $(c+1) */
} event_rows_spec;

/* Decodes, filters and stores one batch. 0, or -1 to roll back and retry. */
int event_rows_apply(const event_rows_spec *spec, pg_conn *conn, const kafka_record *records,
                     size_t count);

/* The string member key of obj when it passes check (NULL check: any string), else NULL. */
const char *event_member(const json_t *obj, const char *key, bool (*check)(const char *));
/* True for an RFC 3339 time Postgres will accept (shared/task_model.h's parser). */
bool event_is_time(const char *s);

#endif
