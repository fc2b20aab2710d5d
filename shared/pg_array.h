/*
 * pg_array.h: Postgres array literals ("{...}") built as text, for one-parameter set
 * statements (`unnest($1::uuid[], ...)`, `= ANY($1::uuid[])`).
 *
 * Owns: the quoting of array elements. Rules: every element is double-quoted with `"` and
 * `\` backslash-escaped, so any text (JSON included) survives; NULL is the unquoted NULL.
 * Builds into a strbuf (whose failed flag the caller checks once at the end).
 */
#ifndef TASKBUS_SHARED_PG_ARRAY_H
#define TASKBUS_SHARED_PG_ARRAY_H

#include "shared/strbuf.h"

/* Starts an array literal in b (which may already hold other text). */
void pg_array_open(strbuf *b);
/* Appends one element (NULL: the SQL NULL). */
void pg_array_add(strbuf *b, const char *elem);
/* The same for the len bytes at elem (no NUL needed; they must hold none). */
void pg_array_addn(strbuf *b, const char *elem, size_t len);
/* Ends the array literal. */
void pg_array_close(strbuf *b);

#endif
