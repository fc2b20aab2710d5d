/*
 * writer_effects.h: what the writer does in Redis after a batch commits.
 *
 * Owns: the batch-local list of effects (one per applied or rejected command), their
 * journal in Postgres (writer_pending_effects, written in the batch transaction and
 * deleted once Redis has them) and the one Lua script that lands them. Rules:
 * - Landing is idempotent: per command, the script does nothing when {u}:cmd:<cid>
 *   already says applied/rejected; otherwise it writes the task (set-if-newer on the
 *   cached "version"), INCRs {u}:gen, XADDs and PUBLISHes the event, and writes the
 *   command status LAST, all atomically. So a retry or a replay from the journal never
 *   adds a stream entry twice, and "applied" implies every other effect is visible.
 * - One EVALSHA per user per batch (all keys of a user share the {u:<uid>} slot).
 * - The journal lets a writer killed between commit and Redis be caught up, and lets a
 *   writer go on applying while Redis is down: rows it could not land stay journaled and
 *   are replayed, oldest first, by the sweep (writer_batch.c); a row the sweep had to
 *   release (workers/writer/writer_release.h) lands without near-cache sequence tags.
 * - Each call also publishes the user's near-cache invalidation (shared/near_cache_bus.h)
 *   after the effects it covers.
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_EFFECTS_H
#define TASKBUS_WORKERS_WRITER_WRITER_EFFECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "shared/task_command_codec.h"
#include "shared/uuid7.h"
#include "workers/writer/writer_decide.h"

typedef struct writer_effect {
    char user_id[UUID_STR_LEN];
    char task_id[UUID_STR_LEN];
    char command_id[UUID_STR_LEN];
    long long version;  /* of task_value; 0 when there is none */
    char *task_value;   /* task JSON or tombstone; NULL for a rejection */
    char *status_value; /* the value of {u}:cmd:<cid> */
    char *event_value;  /* the CloudEvent JSON; NULL for a rejection */
} writer_effect;

typedef struct writer_effect_list {
    writer_effect *items;
    size_t count;
    size_t cap;
} writer_effect_list;

/* Fills *e for a decided command: ids, version, the command status value ({status,
 * task_id, type, task_version | problem}), and, for an applied one, the task value (the
 * task JSON as stored, or a delete's tombstone {"deleted":true,"version":N}) and the
 * event. Takes *task_text and *event_text (set to NULL; either may be NULL). 0, or -1 (out
 * of memory; *e holds nothing). */
int writer_effect_build(writer_effect *e, const task_command *cmd, const writer_decision *dec,
                        char **task_text, char **event_text);
/* Frees what one effect holds. */
void writer_effect_free(writer_effect *e);
/* Frees every effect; the list stays usable (and keeps its capacity). */
void writer_effects_clear(writer_effect_list *list);
/* Frees everything, capacity too. */
void writer_effects_free(writer_effect_list *list);
/* Appends *e, taking its strings (the caller's copy is zeroed). 0, or -1 (e untouched). */
int writer_effects_push(writer_effect_list *list, writer_effect *e);

/* Inserts the list as one journal row inside the open transaction; *id_out gets its id.
 * 0, or -1 with err. */
int writer_effects_journal_add(pg_conn *conn, const writer_effect_list *list, long long *id_out,
                               char *err, size_t errlen);
/* Deletes a landed journal row. 0, or -1 (the sweep will replay it; harmless). */
int writer_effects_journal_done(pg_pool *pg, long long id, char *err, size_t errlen);

/* Lands the list in Redis (released: see above). 0, or -1 with err (Redis down or an error
 * reply): retry. */
int writer_effects_land(redis_pool *redis, const writer_effect_list *list, bool released, char *err,
                        size_t errlen);

/* Replays journal rows at least min_age_ms old, oldest first, deleting each once landed;
 * stops at the first that does not land. Returns the number of rows replayed, or -1 with
 * err. */
int writer_effects_recover(pg_pool *pg, redis_pool *redis, int min_age_ms, char *err,
                           size_t errlen);

#endif
