/*
 * task_query.h: the query of GET /api/v1/tasks: parsing, the keyset SQL, the cursor.
 *
 * Owns: the rules of docs/decisions.md "Reads and cache" for filters (status, priority,
 * tag, due_before, due_after, q, project: "Tasks in team projects (slice 3b)", and
 * assignee: "Assignees (slice 4)"), sort, limit and cursor; the SQL that lists one page
 * of each scope (the caller's Inbox, a team project for a member, the tasks assigned to
 * a user in the caller's projects); the opaque cursor; the hashes that name a filter set
 * and a cached page.
 * Rules:
 *  - Pure (no I/O), so every rule is unit-tested without a server.
 *  - The SQL text never holds a value from the request: every value is a positional
 *    parameter ($n); the text is assembled only from fixed fragments.
 *  - The page order is (sort key, id) in one direction, with due_at nulls last in both
 *    directions; the keyset predicate is the exact complement of that order, so a task
 *    whose sort key does not change is listed exactly once however others write.
 *    created_at never changes, so the default sort is exact; a task updated while a
 *    client pages by updated_at (or whose due date or priority changes) moves and may be
 *    seen twice or not at all: that is the nature of a keyset on a mutable key.
 *  - Every page is an index range: a row comparison (key, id) < ($k, $id) that the
 *    (owner_id, key, id) indexes serve, ordered exactly as the index is (ORDER BY the
 *    table's column, never an output column of the same name: the key column is called
 *    sort_key); the assigned scope below is a range of tasks_assignee_idx (assignee_id,
 *    created_at, id) in the default sort, and the assignee's tasks sorted in another.
 *    due_at is two ranges joined by UNION ALL (dated tasks after the cursor, then
 *    undated ones by id), each limited, because one "... OR due_at IS NULL" predicate
 *    would make Postgres sort all of a user's tasks; with a due_before or due_after
 *    filter no undated task can match, and it is one range. A priority filter with
 *    sort=priority narrows the range to the chosen ranks (BETWEEN).
 *  - A page with filters (status, priority, tag, q, and due bounds when not sorting by
 *    due_at) does not trust the planner's guess of how many of the user's tasks match
 *    (a word rare for the caller but common among others, tags that go together, a
 *    status that recent tasks lack: each made Postgres pick the wrong plan at 1 000 000
 *    tasks). Each range is: a probe, the first PROBE_ROWS (2000) rows of the range in
 *    index order with the exact tests applied, which answers when it fills the page
 *    (common filters: a few hundred rows read); else the filtered range itself, where
 *    the owner-scoped GIN index of 0011_task_owner_search.sql (keys per user: the
 *    posting lists hold only the caller's tasks) finds the few matches. The second
 *    branch runs only when the first is short (a one-time filter on the probe's count).
 *    The cost is bounded by about PROBE_ROWS rows plus the caller's matches when they
 *    are fewer than a page per PROBE_ROWS rows; the exact tests are in both branches, so
 *    the index only proposes candidates.
 *  - An assignee (assignee=me or a user id) within a scope (the Inbox, or project=) is one
 *    more exact test (assignee_id = $n) in both branches, never part of the range. Without
 *    project= it is its own scope: the assignee's tasks in every project the caller is a
 *    member of, the membership a condition of the statement (no owner-scoped index).
 *    "me" stays "me" in the query and its hashes (a cursor is not tied to a user); it is
 *    resolved to the caller only for the SQL (task_query_assignee_for).
 *    project and assignee enter the filter hash only when given, so every hash made
 *    before them is unchanged.
 *  - The cursor is base64url(JSON) "." base64url(MAC): it carries the last row's sort
 *    key (microseconds since the epoch, or the priority rank) and id, the sort, and a hash
 *    of the filters; the MAC (HMAC-SHA-256, 128 bits, keyed from the JWT secret) makes a
 *    changed cursor invalid. A cursor used with another sort or other filters is refused.
 *  - Query-string values are percent-decoded ('+' is a space), must be UTF-8 without
 *    control characters; unknown parameters and repeated single-valued ones are refused.
 */
#ifndef TASKBUS_API_TASK_QUERY_H
#define TASKBUS_API_TASK_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/task_model.h"

#include "shared/uuid7.h"

#define TASK_QUERY_LIMIT_DEFAULT 20
#define TASK_QUERY_LIMIT_MAX 100
#define TASK_QUERY_TAGS_MAX 20
#define TASK_QUERY_TAG_MAX_CHARS 50
#define TASK_QUERY_Q_MAX_CHARS 200
#define TASK_QUERY_HASH_HEX 65 /* SHA-256 as lower-case hex and the NUL */
#define TASK_CURSOR_MAX 512    /* an encoded cursor and the NUL */

typedef enum {
    TASK_SORT_CREATED_AT,
    TASK_SORT_UPDATED_AT,
    TASK_SORT_DUE_AT,
    TASK_SORT_PRIORITY,
} task_sort_field;

/* The position after which a page starts: the last row of the previous page. */
typedef struct task_cursor {
    bool present;
    bool key_null; /* sort=due_at only: that row had no due date */
    long long key; /* microseconds since the epoch, or the priority rank (0 low .. 3 urgent) */
    char id[UUID_STR_LEN];
} task_cursor;

typedef struct task_query {
    unsigned status_mask;            /* bit i set: status i of TASK_QUERY_STATUSES; 0 = any */
    unsigned priority_mask;          /* bit i set: priority i of TASK_QUERY_PRIORITIES; 0 = any */
    char *tags[TASK_QUERY_TAGS_MAX]; /* owned, sorted, unique; all must be on the task */
    int ntags;
    bool has_due_before; /* due_at < due_before_us */
    long long due_before_us;
    bool has_due_after; /* due_at >= due_after_us */
    long long due_after_us;
    char *q; /* owned; NULL when absent */
    task_sort_field sort;
    bool descending;
    int limit;
    task_cursor after;
    char project[UUID_STR_LEN];  /* project=<id> (lower-cased), or "" for the caller's Inbox */
    char assignee[UUID_STR_LEN]; /* "me", a user id (lower-cased), or "" for no filter */
} task_query;

extern const char *const TASK_QUERY_STATUSES[3];   /* todo, in_progress, done */
extern const char *const TASK_QUERY_PRIORITIES[4]; /* low .. urgent, in rank order */

/* Parses a raw query string (the part after '?', may be NULL or ""). key is the secret the
 * cursor MAC is derived from. Appends one {field, message} per bad parameter to errors
 * (a JSON array) and returns how many it appended; out is usable only when 0 is returned
 * and -1 means out of memory. Call task_query_clear in every case. */
int task_query_parse(const char *query_string, const unsigned char *key, size_t keylen,
                     task_query *out, json_t *errors);
void task_query_clear(task_query *q);

/* "created_at" or "-created_at" etc. */
const char *task_query_sort_name(const task_query *q);

/* SHA-256 hex of the normalised filters (not sort, limit, cursor). */
void task_query_filter_hash(const task_query *q, char out[TASK_QUERY_HASH_HEX]);
/* SHA-256 hex of everything that shapes the page: filters, sort, limit, cursor position. */
void task_query_page_hash(const task_query *q, char out[TASK_QUERY_HASH_HEX]);

/* The cursor that continues q after pos (the last row of a page). 0, or -1 when out is
 * too small or the key cannot be represented. */
int task_cursor_encode(const task_query *q, const task_cursor *pos, const unsigned char *key,
                       size_t keylen, char *out, size_t outlen);
/* base64url(payload) "." base64url(MAC) of any payload: what task_cursor_encode writes
 * for its JSON (and what the fuzz target signs to reach the checks behind the MAC).
 * 0, or -1 when out is too small. */
int task_cursor_seal(const char *payload, size_t len, const unsigned char *key, size_t keylen,
                     char *out, size_t outlen);
/* Decodes text for q (whose sort and filters must already be parsed). 0 with *pos filled,
 * or -1 with a message for the client in err. */
int task_cursor_decode(const task_query *q, const char *text, const unsigned char *key,
                       size_t keylen, task_cursor *pos, char *err, size_t errlen);

#define TASK_SQL_MAX_PARAMS 40
#define TASK_SQL_MAX 8192
#define TASK_SQL_FRAGMENT_MAX 2048

/* One SELECT with its parameters. Columns: TASK_SELECT_COLUMNS, then the row's exact sort
 * key (bigint: microseconds since the epoch, or the rank; NULL for a missing due_at). It
 * fetches limit + 1 rows so the caller knows whether another page follows. values point
 * into q, into owner_id and into this struct: keep all three alive while it is used. */
typedef struct task_sql {
    char text[TASK_SQL_MAX];
    const char *values[TASK_SQL_MAX_PARAMS];
    int nparams;
    char scratch[TASK_SQL_MAX_PARAMS][40];   /* numbers and timestamps as text */
    char fragment[4][TASK_SQL_FRAGMENT_MAX]; /* the builder's pieces (task_query.c) */
} task_sql;

/* The column index of the sort key in a task_sql result: right after the task's. */
#define TASK_SQL_SORT_KEY_COLUMN TASK_SELECT_COLUMN_COUNT

/* The user q's assignee filter names for caller: caller for "me", else the id given;
 * NULL when q has no assignee filter. Points into q or is caller. */
const char *task_query_assignee_for(const task_query *q, const char *caller);

/* Builds the page query for owner_id's Inbox, owner_id being the caller (q's assignee
 * filter, "me" resolved to owner_id, is an exact test). 0, or -1 when it does not fit
 * (a bug). */
int task_query_build_sql(const task_query *q, const char *owner_id, task_sql *out);
/* The same for the tasks of a team project (no owner: migration 0022) for member_id, the
 * caller ("me" resolves to member_id): the membership is a condition of the statement (no
 * rows for a non-member). The owner-scoped GIN index does not hold them: a filtered page
 * is the probe, then the project's rows with the exact tests (tasks_project_idx). values
 * point into member_id too. */
int task_query_build_project_sql(const task_query *q, const char *project_id, const char *member_id,
                                 task_sql *out);
/* The tasks assigned to assignee_id in every project member_id (the caller) is a member
 * of, their Inbox included: the assigned scope of a list without project=. The membership
 * is a condition of the statement; q's own assignee is not read (pass
 * task_query_assignee_for(q, member_id)). -1 when assignee_id is NULL or on a bug. values
 * point into assignee_id and member_id too. */
int task_query_build_assigned_sql(const task_query *q, const char *assignee_id,
                                  const char *member_id, task_sql *out);

/* RFC 3339 ("2026-01-02T03:04:05.123Z", "...+02:00") to microseconds since the epoch.
 * Years 0001-9999; fractions beyond microseconds are truncated. 0 or -1. */
int task_query_parse_rfc3339(const char *text, long long *us_out);
/* Microseconds since the epoch as "YYYY-MM-DD HH:MM:SS.ffffff+00" (what Postgres parses
 * exactly whatever its DateStyle and TimeZone). 0, or -1 outside years 0001-9999. */
int task_query_format_timestamp(long long us, char *out, size_t outlen);

#endif
