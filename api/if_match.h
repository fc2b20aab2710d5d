/*
 * if_match.h: entity-tags (RFC 9110 §8.8.3): the ETag a task answer carries, the
 * If-Match precondition of a task write (RFC 9110 §13.1.1) and the If-None-Match list of
 * a task read.
 *
 * Owns: writing a task's tag and reading those header values. Rules: pure functions over
 * header text, no I/O. A task's entity-tag is its version as a strong tag ("7"). If-Match
 * uses the strong comparison, so a weak tag (W/"7") never matches; "*" matches any
 * existing task; a value that is not a valid entity-tag list matches nothing (the write is
 * refused with 412 rather than applied under a guard nobody can read).
 */
#ifndef TASKBUS_API_IF_MATCH_H
#define TASKBUS_API_IF_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest ETag text we write: quotes, 19 digits, NUL. */
#define IF_MATCH_ETAG_MAX 32

typedef enum {
    IF_MATCH_ABSENT = 0, /* no If-Match header: no precondition */
    IF_MATCH_ANY,        /* "*": true when the task exists */
    IF_MATCH_MATCHED,    /* a listed strong tag equals the current version */
    IF_MATCH_FAILED,     /* no listed tag matches, or the value is malformed: 412 */
} if_match_result;

/* Writes "\"<version>\"" into out (IF_MATCH_ETAG_MAX bytes); returns out. */
char *if_match_etag(long long version, char *out, size_t outlen);

/* Evaluates If-Match (header may be NULL) against the current version of an existing
 * task. */
if_match_result if_match_evaluate(const char *header, long long current_version);

/* True when the entity-tag list in header (may be NULL: false) holds etag (a full tag as
 * if_match_etag writes it). weak selects the weak comparison (If-None-Match, RFC 9110
 * §8.8.3.2), in which W/"7" and "7" are equal; "*" matches anything. A malformed list
 * matches nothing. */
bool if_match_etag_list_matches(const char *header, const char *etag, bool weak);

#endif
