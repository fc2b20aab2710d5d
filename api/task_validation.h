/*
 * task_validation.h: the rules of task fields, the validation of create bodies and
 * patches, and the task a command will produce.
 *
 * Owns: what a valid task write is (docs/decisions.md, "Tasks"):
 *   title        string, 1-200 characters (code points), not only whitespace, no control
 *                characters; kept as sent (no trimming);
 *   description  string, at most 10 000 characters; control characters other than tab,
 *                line feed and carriage return are refused; default "";
 *   status       todo | in_progress | done (default todo);
 *   priority     low | medium | high | urgent (default medium);
 *   due_at       RFC 3339 date-time with a UTC offset ("Z" or +hh:mm), normalised to UTC
 *                with milliseconds (finer digits rounded as Postgres rounds; no leap
 *                second), or null (default null);
 *   tags         at most 20 distinct strings of 1-50 characters, not only whitespace, no
 *                control characters (default []);
 *   recurrence   {rule, time_zone}: an RRULE of the subset shared/recurrence.h checks,
 *                stored in its canonical text, and an IANA zone; or null (none; a task
 *                without one has no member). A recurring task needs a due_at.
 *   assignee_id  a user id (lower-cased) or null (nobody; an unassigned task has no
 *                member); who may be assigned is the route's and the writer's to check
 *                (an editor or owner of the task's project); not in an import.
 * Unknown members are errors; id, version and the timestamps are read-only. In a patch
 * (JSON merge-patch, RFC 7396) an absent member is left alone, null clears due_at,
 * recurrence and assignee_id and is an error for every other member (they always have a
 * value), and an empty patch is an error (it would bump the version for nothing). A
 * patch's project_id moves the task.
 * Rules: pure functions, no I/O, so the import engineer validates each NDJSON line with
 * the same code. Every bad field is reported, as {field, message} appended to a JSON array
 * (tags by position: "tags[3]").
 */
#ifndef TASKBUS_API_TASK_VALIDATION_H
#define TASKBUS_API_TASK_VALIDATION_H

#include <jansson.h>
#include <stdint.h>

/* Why a one-line text (a task's title or tag, a project's name) of 1 to max characters
 * is refused (length_message when its length is wrong; also only whitespace, control
 * characters, line separators), or NULL. */
const char *text_one_line_problem(const char *text, size_t max, const char *length_message);
/* Why a long text (a description) is refused: more than max characters (length_message),
 * or a control character other than tab and line breaks; NULL when fine. */
const char *text_long_problem(const char *text, size_t max, const char *length_message);

/* Parses an RFC 3339 date-time with offset into epoch milliseconds (UTC) by the writer's
 * rules (time_parse_rfc3339_ms: no leap seconds, fraction rounded to milliseconds as
 * Postgres would). 0 when valid, -1 otherwise; years 0001-9999 before and after the
 * offset is applied. */
int task_parse_rfc3339(const char *text, int64_t *unix_ms);

/* Validates a create body (an object). Returns the number of errors appended to errors;
 * when 0, *fields_out (new reference) holds every task field, defaults filled in:
 * {title, description, status, priority, due_at, tags}, and project_id (lower-cased) when
 * the body names one (the route checks the membership and moves it to the command).
 * Otherwise *fields_out is NULL. */
int task_validate_create(const json_t *body, json_t **fields_out, json_t *errors);

/* The same for one item of an import, which goes into the Inbox: project_id is an error. */
int task_validate_import(const json_t *body, json_t **fields_out, json_t *errors);

/* Validates a patch (an object) the same way. When 0, *patch_out (new reference) holds
 * only the members to change, normalised (due_at null or UTC text; project_id, the
 * project to move the task to, lower-cased: the route checks the roles). */
int task_validate_patch(const json_t *body, json_t **patch_out, json_t *errors);

/* The task a create command will produce (new reference): fields plus id, version 1,
 * created_at = updated_at = issued time, completed_at = issued time when status is done
 * else null. NULL on allocation failure. */
json_t *task_predict_create(const char *task_id, const json_t *fields, int64_t issued_ms);

/* The task an update will produce from current (not changed): the patch merged in,
 * version + 1, updated_at = issued time; completed_at set to the issued time when status
 * becomes done, cleared when it leaves done, else kept; recurrence gone when the patch
 * clears it or completes the task (the writer hands it on to the next occurrence). NULL on
 * allocation failure. */
json_t *task_predict_update(const json_t *current, const json_t *patch, int64_t issued_ms);

#endif
