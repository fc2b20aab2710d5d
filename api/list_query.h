/*
 * list_query.h: the query string of a keyset-paginated list that takes ?limit= and
 * ?cursor= and nothing else (GET /api/v1/reports, GET /api/v1/webhooks/:id/deliveries).
 *
 * Owns: reading those two, and a list's own filters, from ulfius's query map. Rules: limit is a
 * decimal integer from 1 to the list's maximum (absent: the caller's default stands); the cursor is
 * checked by the list's own parser (absent: the list starts at the top); any other parameter is an
 * error; each bad parameter is one {field, message} for a 422.
 */
#ifndef TASKBUS_API_LIST_QUERY_H
#define TASKBUS_API_LIST_QUERY_H

#include <jansson.h>
#include <stdbool.h>

#include "api/http_context.h"

/* Reads text (a value from the query) into the list's cursor; false when it is not one of
 * this list's cursors. */
typedef bool (*list_cursor_parse)(const char *text, void *cursor);

/* Fills *limit and, through parse_cursor, cursor; appends an error per bad parameter.
 * 0, or -1 when out of memory. */
int list_query_parse(const api_request_ctx *ctx, int limit_max, int *limit,
                     list_cursor_parse parse_cursor, void *cursor, json_t *errors);

/* A list_cursor_parse for a uuid (an id cursor, or an id filter): keeps the query's own
 * text in *(const char **)out. */
bool list_query_uuid(const char *text, void *out);

/* A filter a list takes besides limit and cursor: parse reads the value into out; false
 * (the value is refused) adds {name, message}. */
typedef struct list_query_filter {
    const char *name;
    list_cursor_parse parse;
    void *out;
    const char *message;
} list_query_filter;

/* list_query_parse with filters too (an array ended by {NULL}; NULL for none). */
int list_query_parse_filtered(const api_request_ctx *ctx, int limit_max, int *limit,
                              list_cursor_parse parse_cursor, void *cursor,
                              const list_query_filter *filters, json_t *errors);

#endif
