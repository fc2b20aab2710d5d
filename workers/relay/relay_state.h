/*
 * relay_state.h: the task-state record of an outbox row (docs/decisions.md, "Issue 12").
 *
 * Owns: deciding, from one outbox row, whether it yields a record on TASK_STATE_TOPIC and
 * which: key = the task id, value = the row's payload with its headers (an event that
 * leaves the task existing: taskbus.task.created/.updated/.completed), or a tombstone
 * (value NULL, no content-type header) for taskbus.task.deleted. A row whose topic is
 * TASK_STATE_TOPIC itself (the tombstones the tasks triggers put in the outbox, migration
 * 0016) IS its state record and yields nothing else.
 * Rules:
 * - Only task-events rows are derived; other topics yield nothing.
 * - The task id is the CloudEvent's subject "tasks/<id>", else data.id; the payload is
 *   read with shared/json_scan.h (one validating pass, no tree, no allocation: the caller
 *   lends the scratch buffer).
 * - A task-events row that cannot be read (not JSON, no id, an id longer than
 *   RELAY_STATE_KEY_MAX) or has a type of no state (a future type) yields nothing; the
 *   caller logs the unreadable ones. The row is published on task-events regardless.
 */
#ifndef TASKBUS_WORKERS_RELAY_RELAY_STATE_H
#define TASKBUS_WORKERS_RELAY_RELAY_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/kafka_producer.h"

#define RELAY_STATE_KEY_MAX 64

typedef enum {
    RELAY_STATE_NONE = 0,   /* no task-state record */
    RELAY_STATE_VALUE,      /* key -> the row's payload and headers */
    RELAY_STATE_TOMBSTONE,  /* key -> NULL, headers without content-type */
    RELAY_STATE_UNREADABLE, /* a task-events row whose task id or type cannot be read */
} relay_state_kind;

typedef struct relay_state_record {
    relay_state_kind kind;
    bool is_row; /* the row is a task-state row: this record is all it publishes */
    char key[RELAY_STATE_KEY_MAX + 1];
    size_t key_len;
} relay_state_record;

/* Derives the state record of a row of topic (NUL-terminated) and key (the row's key,
 * key_len bytes) whose payload is payload[0..len) (NULL: the payload is SQL NULL). scratch
 * holds at least json_scan_buffer_size(len) bytes. Returns out->kind. */
relay_state_kind relay_state_derive(const char *topic, const char *key, size_t key_len,
                                    const char *payload, size_t len, char *scratch,
                                    size_t scratchlen, relay_state_record *out);

/* Copies headers in[0..n) to out, leaving out content-type (a tombstone has no content).
 * Returns the number copied; out holds n entries. */
size_t relay_state_tombstone_headers(const kafka_header *in, size_t n, kafka_header *out);

#endif
