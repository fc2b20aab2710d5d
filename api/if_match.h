/*
 * if_match.h: the request headers that steer a task write: If-Match (RFC 9110 §13.1.1)
 * and Prefer: wait (RFC 7240), and the ETag a task answer carries.
 *
 * Owns: parsing those header values. Rules: pure functions over header text, no I/O. A
 * task's entity-tag is its version as a strong tag ("7"). If-Match uses the strong
 * comparison, so a weak tag (W/"7") never matches; "*" matches any existing task; a value
 * that is not a valid entity-tag list matches nothing (the write is refused with 412
 * rather than applied under a guard nobody can read). Prefer: only the first "wait"
 * preference counts (RFC 7240 §2); other preferences are ignored.
 */
#ifndef TASKBUS_API_IF_MATCH_H
#define TASKBUS_API_IF_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest ETag text we write: quotes, 19 digits, NUL. */
#define CONDITIONAL_ETAG_MAX 32
/* Prefer: wait=N is capped here (docs/decisions.md, "API answers"). */
#define PREFER_WAIT_MAX_S 30

typedef enum {
    IF_MATCH_ABSENT = 0, /* no If-Match header: no precondition */
    IF_MATCH_ANY,        /* "*": true when the task exists */
    IF_MATCH_MATCHED,    /* a listed strong tag equals the current version */
    IF_MATCH_FAILED,     /* no listed tag matches, or the value is malformed: 412 */
} if_match_result;

/* Writes "\"<version>\"" into out (CONDITIONAL_ETAG_MAX bytes); returns out. */
char *conditional_etag(long long version, char *out, size_t outlen);

/* Evaluates If-Match (header may be NULL) against the current version of an existing
 * task. */
if_match_result conditional_if_match(const char *header, long long current_version);

/* True when the entity-tag list in header (may be NULL: false) holds etag (a full tag as
 * conditional_etag writes it). weak selects the weak comparison (If-None-Match, RFC 9110
 * §8.8.3.2), in which W/"7" and "7" are equal; "*" matches anything. A malformed list
 * matches nothing. */
bool conditional_etag_list_matches(const char *header, const char *etag, bool weak);

/* The seconds of a Prefer: wait=N preference in header (may be NULL): N capped at
 * PREFER_WAIT_MAX_S, or 0 when there is none, it is 0, or it is not a number. */
int conditional_prefer_wait(const char *header);

#endif
