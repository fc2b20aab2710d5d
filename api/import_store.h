/*
 * import_store.h: the Postgres side of bulk imports (docs/decisions.md "Import").
 *
 * Owns: writing an import and its accepted items in ONE transaction (tables imports,
 * import_items of 0003_tasks.sql), and reading an import's progress for its owner.
 * Rules: the items go in with one statement over unnest() arrays, so the parameter count
 * stays fixed however many items there are; every lookup is by (import id, user id), so
 * another user's import is "not found". Status: queued (nothing produced yet), running,
 * done (every accepted item produced as a command; an import with nothing accepted is
 * done at once).
 */
#ifndef TASKBUS_API_IMPORT_STORE_H
#define TASKBUS_API_IMPORT_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "shared/pg_pool.h"

/* accepted: an array of {command_id, task_id, fields} in import order (seq 1..n);
 * errors: the rejection report [{line, field, message}]. 0, or -1 with err. */
int import_store_create(pg_pool *pg, const char *import_id, const char *user_id, int total,
                        int rejected, const json_t *accepted, const json_t *errors, char *err,
                        size_t errlen);

typedef enum {
    IMPORT_STORE_FOUND = 0,
    IMPORT_STORE_NOT_FOUND,
    IMPORT_STORE_UNAVAILABLE,
} import_store_result;

/* The progress document {import_id, status, total, accepted, rejected, produced, applied,
 * failed, errors, created_at, finished_at} of the user's import (*out: new reference). */
import_store_result import_store_get(pg_pool *pg, const char *import_id, const char *user_id,
                                     json_t **out);

#endif
