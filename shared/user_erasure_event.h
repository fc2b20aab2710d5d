/*
 * user_erasure_event.h: the erasure of a deleted user, as the read-only consumers of
 * task-events (consumers/activity, consumers/analytics) apply it.
 *
 * Owns: the one reader of a taskbus.user.deleted event on user-events (the API writes it,
 * keyed by the user id: data.user_id, data.inbox_project_id, data.deleted_at), the
 * erased_users row made of it (schemas/migrations/0029_account_erasure.sql) and the batch
 * pass that hands a consumer's erasure statement the erasures of a batch (shared/
 * event_rows.h: one round trip per batch holding erasures, none otherwise); the type's one
 * spelling is USER_ERASED_EVENT of shared/user_erasure.h, whose sequence writes the event.
 * Rules:
 * - Only taskbus.user.deleted on user-events is read; every other type there (registered,
 *   password_changed, email_changed, ...) and every other topic is left alone.
 * - The user id and the Inbox project id are UUIDs (uuid_is_valid); an Inbox that is
 *   null or absent is "no Inbox" (SQL NULL); a present Inbox that is no UUID, an event id
 *   or user id missing or no UUID, data that is no object, or no readable time makes the
 *   event malformed: logged and skipped like every unreadable record (shared/event_rows.h).
 * - erased_at is data.deleted_at, or the event's time when that is absent or unreadable:
 *   a function of the event alone, never of the time of consumption.
 * - A consumer's statement takes the erasures of a batch as $1 uuid[] (user ids), $2 uuid[]
 *   (Inbox project ids, NULL elements for none) and $3 timestamptz[] (erased_at), deletes
 *   the rows of its own tables and records the erasures with USER_ERASURE_RECORD_SQL, in
 *   the batch transaction; its store statements skip the rows of erased users
 *   (erased_users.user_id for rows of a user, erased_users.inbox_project_id for rows of a
 *   project), so either order within a batch, and a replay, give the same rows.
 */
#ifndef TASKBUS_SHARED_USER_ERASURE_EVENT_H
#define TASKBUS_SHARED_USER_ERASURE_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/event_rows.h"
#include "shared/json_scan.h"
#include "shared/kafka_consumer.h"
#include "shared/pg_pool.h"
#include "shared/user_erasure.h" /* USER_ERASED_EVENT, the type read */

/* The members read of an event: the envelope of shared/event_rows.h (id, type, data,
 * data.user_id), then these. */
enum {
    USER_ERASURE_F_INBOX = EVENT_F_OWN, /* data.inbox_project_id */
    USER_ERASURE_F_DELETED_AT,          /* data.deleted_at */
    USER_ERASURE_F_TIME,                /* the envelope's time */
    USER_ERASURE_NFIELDS
};
extern const json_scan_field USER_ERASURE_FIELDS[USER_ERASURE_NFIELDS];

/* The end of a consumer's erasure statement: records the erasures of $1..$3 (the first
 * one of a user stays). */
#define USER_ERASURE_RECORD_SQL                                                                    \
    "INSERT INTO erased_users (user_id, inbox_project_id, erased_at)"                              \
    " SELECT x.user_id, x.inbox_project_id, x.erased_at"                                           \
    " FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS x(user_id, inbox_project_id,"      \
    " erased_at)"                                                                                  \
    " ON CONFLICT (user_id) DO NOTHING"

/* What an erasure holds; the strings point into the scanned fields. */
typedef struct user_erasure {
    const char *user_id;          /* a UUID */
    const char *inbox_project_id; /* a UUID, or NULL: the user had no Inbox */
    const char *erased_at;        /* an RFC 3339 time (event_is_time) */
} user_erasure;

/* True for USER_ERASED_EVENT (taskbus.user.deleted). */
bool user_erasure_wants(const char *type);

/* The erasure of scanned fields f (USER_ERASURE_FIELDS). false when the event is not a
 * USER_ERASED_EVENT or is malformed (see the rules above; *out is then undefined). */
bool user_erasure_of(const json_scan_field *f, user_erasure *out);

/* Applies the erasures among records (those of user-events of type USER_ERASED_EVENT)
 * with store ($1..$3 as above), in one round trip, none when the batch holds none; who
 * prefixes the log lines. 0, or -1 to roll back and retry (event_rows_apply). */
int user_erasures_apply(const char *who, const pg_stmt *store, pg_conn *conn,
                        const kafka_record *records, size_t count);

#endif
