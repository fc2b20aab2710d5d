/*
 * writer_effects.h: what the writer does in Redis after a batch commits.
 *
 * Owns: the batch-local list of effects (one per applied or rejected command), their
 * journal in Postgres (writer_pending_effects, written in the batch transaction and
 * deleted once Redis has them) and the landing. Landing is three steps per user, each one
 * script whose keys are all in one Redis Cluster slot (docs/decisions.md, "Writer landing
 * on a Redis Cluster"):
 *   1. data (the user's {u:<uid>} slot): for each command whose marker {u}:cmd:<cid> does
 *      not say applied/rejected yet, the task value (set-if-newer on its "version"), one
 *      INCR of {u}:gen, and the commit LSN {u}:lsn (set if greater, 7-day TTL);
 *   2. invalidation (the {nc} slot): per user INCR {nc}:seq + PUBLISH "<seq> <uid> tasks",
 *      the one publish script of shared/near_cache_bus.c, for every user of the batch at
 *      once (publish order = sequence order);
 *   3. marks (the user's slot): for each command not marked yet, XADD + PUBLISH its event
 *      and then its marker, both carrying the step-2 sequence ("nc_seq").
 *   WAIT 1 (bounded) on every node with a connected replica, twice: after step 1 on each
 *   node it wrote to (before step 2: nothing reports data a failover could still lose),
 *   after step 3 on each node it wrote to (stream entries, markers); the journal row is
 *   deleted only when a replica has every step's writes.
 * Rules:
 * - Every step is idempotent, so a crash between two steps is healed by replaying the
 *   journal row: step 1 rewrites nothing newer (version guard, LSN if greater; an extra
 *   INCR of the generation only drops list pages), step 2 publishes one more
 *   invalidation (harmless), step 3 skips marked commands, so no stream entry is added
 *   twice. A replay that finds every command marked stops after step 1.
 * - Order: an invalidation is published after the data it covers is visible (step 1
 *   returned) and before any marker or live event reports it (step 3 follows); "applied"
 *   implies every other effect is visible.
 * - Round trips per batch: steps 1 and 3 one script per user, step 2 one script for the
 *   whole batch (every user's step 1 runs before it, every step 3 after it), and two
 *   WAITs per node that has a replica (one when step 3 had nothing to mark there).
 * - The journal lets a writer killed between commit and Redis be caught up, and lets a
 *   writer go on applying while Redis is down: rows it could not land stay journaled and
 *   are replayed, oldest first, by the sweep (writer_batch.c); a row the sweep had to
 *   release (workers/writer/writer_release.h) lands without near-cache sequence tags.
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_EFFECTS_H
#define TASKBUS_WORKERS_WRITER_WRITER_EFFECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"
#include "shared/redis_keys.h"
#include "shared/redis_pool.h"
#include "shared/task_command_codec.h"
#include "shared/uuid7.h"
#include "workers/writer/writer_decide.h"

typedef struct writer_effect {
    char user_id[UUID_STR_LEN];
    char task_id[UUID_STR_LEN];
    char command_id[UUID_STR_LEN];
    long long version;  /* of task_value; 0 when there is none */
    char *task_value;   /* task JSON or tombstone; NULL for a rejection or a team task */
    char *status_value; /* the value of {u}:cmd:<cid> */
    char *event_value;  /* the CloudEvent JSON; NULL for a rejection */
    /* 0, or 1 + the index in its list of the effect this one is a member's copy of: its
     * status_value and event_value are that effect's (borrowed, not freed with this one),
     * and the journal names the index instead of repeating them */
    size_t copy_of;
} writer_effect;

typedef struct writer_effect_list {
    writer_effect *items;
    size_t count;
    size_t cap;
} writer_effect_list;

/* Fills *e for a decided command: ids, version, the command status value ({status,
 * task_id, type, task_version | problem}), and, for an applied one, the task value (the
 * task JSON as stored, or the tombstone {"deleted":true,"version":N} of a delete or of a
 * move out of the actor's Inbox; none for a task in a team project, which is never
 * cached) and the event. Takes *task_text and *event_text
 * (set to NULL; either may be NULL). 0, or -1 (out of memory; *e holds nothing). */
int writer_effect_build(writer_effect *e, const task_command *cmd, const writer_decision *dec,
                        char **task_text, char **event_text);
/* The label of a fan-out effect's command id (uuid7_derive of the command's id with this
 * and the member's id): a marker of its own in the member's slot, which makes the member's
 * copy of the event land exactly once, and which no client command can have. */
#define WRITER_FANOUT_LABEL "taskbus fanout "
/* Fills *e with the copy of list's effect at index `of` (an applied team command's) for
 * another member of its project: the event and status only (borrowed from that effect,
 * which stays in the list before it), under the member's id and a command id derived
 * from that effect's, no task value (a team task is not cached). A batch's copies cost a
 * small record each, whatever the events' size. */
void writer_effect_build_fanout(writer_effect *e, const writer_effect_list *list, size_t of,
                                const char *member);
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

/* How one landing runs. */
typedef struct writer_land_opts {
    bool released;        /* the row was released: markers and live events carry no nc_seq */
    long long commit_lsn; /* > 0: pg_current_wal_lsn() - '0/0' read after the commit(s) */
    int replica_wait_ms;  /* the WAIT's timeout */
} writer_land_opts;

/* The steps, in order; a landing stopped after one stands for a crash there (tests). */
typedef enum writer_land_step {
    WRITER_LAND_DATA = 1,       /* step 1 only (no WAIT) */
    WRITER_LAND_INVALIDATE = 2, /* step 1, the data's WAIT, step 2 */
    WRITER_LAND_MARKS = 3,      /* ... then step 3 (without its WAIT) */
    WRITER_LAND_ALL = 4,        /* ... then the marks' WAIT */
} writer_land_step;

/* The replicas' WAIT timeout for a lease length: a quarter of the journal grace (250 ms
 * with the default lease), so a landing that waited still deletes its row long before the
 * row stops the API instances' lease renewals. */
int writer_replica_wait_ms(int lease_ms);

/* Lands the list in Redis: step 1, WAIT 1 on each of its nodes that has a replica (before
 * anything reports the data), step 2, step 3, WAIT 1 on each node step 3 wrote to. 0, or -1
 * with err (Redis down, an error reply, or no replica confirmed in time; a failed data
 * WAIT leaves no marker written): keep the journal row and retry. */
int writer_effects_land(redis_pool *redis, const writer_effect_list *list,
                        const writer_land_opts *opts, char *err, size_t errlen);
/* Step 2 alone, for a batch that committed but did not land (Redis failed, or older
 * batches wait in the journal): one INCR {nc}:seq + PUBLISH per distinct user of the list,
 * in one script on the {nc} slot. On a Redis Cluster the user's master may be down while
 * the {nc} master and every instance's lease live on: without this message the other
 * instances keep serving their near-cache entries of the older version while an instance
 * whose Redis read fails reads the new one from Postgres (docs/decisions.md, Issue 13,
 * "A dead master and the near caches"). Marks nothing and reports nothing; an extra
 * invalidation only costs a miss. 0, or -1 with err ({nc} unreachable). */
int writer_effects_invalidate(redis_pool *redis, const writer_effect_list *list, char *err,
                              size_t errlen);
/* The distinct user ids of the list, sorted, into out (room for list->count; the strings
 * stay the list's). Returns how many. */
size_t writer_effects_users(const writer_effect_list *list, const char **out);
/* The same, stopping after step `upto`. */
int writer_effects_land_upto(redis_pool *redis, const writer_effect_list *list,
                             const writer_land_opts *opts, writer_land_step upto, char *err,
                             size_t errlen);
/* The KEYS of step `step`'s script (DATA, INVALIDATE or MARKS) for the list, whose effects
 * are all of one user: *keys_out (caller frees) holds *nkeys_out keys. 0, or -1. */
int writer_effects_step_keys(const writer_effect_list *list, writer_land_step step,
                             char (**keys_out)[REDIS_KEY_MAX], int *nkeys_out);

/* The commit LSN: pg_current_wal_lsn() - '0/0' on conn (the primary), read after a COMMIT
 * returned, so it is at or past that commit record (WAL positions only grow, and the
 * writer's commits wait for their flush). 0, or -1 with err. */
int writer_effects_commit_lsn(pg_conn *conn, long long *lsn_out, char *err, size_t errlen);
/* The same on a pooled connection. */
int writer_effects_commit_lsn_pool(pg_pool *pg, long long *lsn_out, char *err, size_t errlen);

/* Replays journal rows at least min_age_ms old, oldest first, deleting each once landed
 * (its commit LSN: one read after each scan of the journal, at or past every commit it
 * replays); stops at the first that does not land. Returns the number of rows replayed,
 * or -1 with err. */
int writer_effects_recover(pg_pool *pg, redis_pool *redis, int min_age_ms, int replica_wait_ms,
                           char *err, size_t errlen);

#endif
