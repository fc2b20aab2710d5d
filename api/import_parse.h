/*
 * import_parse.h: splitting a bulk import body into items (docs/decisions.md "Import").
 *
 * Owns: the two body formats of POST /api/v1/tasks/import and the numbering of items:
 * - application/json: one JSON array; item n (1-based position in the array) is "line" n.
 *   A body that is not a JSON array is malformed as a whole (400): one broken bracket
 *   leaves no items to speak of.
 * - application/x-ndjson (also application/jsonl, application/x-jsonlines): one JSON
 *   value per line; "line" is the physical line number (LF separated, a trailing CR is
 *   dropped, blank lines are skipped but counted). A line that is not JSON is one rejected
 *   item, never a failure of the whole body.
 * Rules: pure functions over bytes, no ulfius, no answering. Nesting is checked on the raw
 *   bytes before jansson parses (its parser recurses; connection threads have small
 *   stacks). Items that are JSON but not objects are kept with value set, so the caller's
 *   validation names them. The item limit is checked before anything is parsed.
 */
#ifndef TASKBUS_API_IMPORT_PARSE_H
#define TASKBUS_API_IMPORT_PARSE_H

#include <jansson.h>
#include <stddef.h>

#define IMPORT_MAX_ITEMS 10000
#define IMPORT_ERROR_MAX 160

typedef enum {
    IMPORT_FORMAT_UNSUPPORTED = 0,
    IMPORT_FORMAT_JSON_ARRAY,
    IMPORT_FORMAT_NDJSON,
} import_format;

typedef enum {
    IMPORT_PARSE_OK = 0,
    IMPORT_PARSE_MALFORMED = 400, /* the array body is not JSON / not an array / too deep */
    IMPORT_PARSE_EMPTY = 4220,    /* no items at all (answered 422) */
    IMPORT_PARSE_TOO_MANY = 4221, /* more than max_items (answered 422) */
    IMPORT_PARSE_NO_MEMORY = 500,
} import_parse_result;

typedef struct import_item {
    long line;                    /* see above: NDJSON line number or array position */
    json_t *value;                /* the parsed value (owned), NULL when it is not JSON */
    char error[IMPORT_ERROR_MAX]; /* why value is NULL ("" otherwise) */
} import_item;

typedef struct import_items {
    import_item *items;
    size_t count;
} import_items;

/* The format named by a Content-Type header (parameters allowed; a charset must be
 * UTF-8), or IMPORT_FORMAT_UNSUPPORTED. */
import_format import_format_from_content_type(const char *content_type);

/* Splits data into out->items. Anything but OK leaves out empty and says why in detail.
 * On OK the caller calls import_items_free. */
import_parse_result import_parse(import_format format, const char *data, size_t len,
                                 size_t max_items, import_items *out, char *detail,
                                 size_t detaillen);
void import_items_free(import_items *items);

#endif
