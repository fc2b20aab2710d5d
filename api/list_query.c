/*
 * list_query.c: ?limit= and ?cursor= of a keyset list (list_query.h).
 *
 * Rules: limit is read with strtol and must use all of its text; the messages name the
 * list's own maximum.
 */
#include "api/list_query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/uuid7.h"

static bool parse_limit(const char *text, int limit_max, int *limit) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > limit_max)
        return false;
    *limit = (int)v;
    return true;
}

bool list_query_uuid(const char *text, void *out) {
    if (!uuid_is_valid(text))
        return false;
    *(const char **)out = text;
    return true;
}

/* The filter named key, or NULL. */
static const list_query_filter *find_filter(const list_query_filter *filters, const char *key) {
    for (size_t i = 0; filters != NULL && filters[i].name != NULL; i++) {
        if (strcmp(filters[i].name, key) == 0)
            return &filters[i];
    }
    return NULL;
}

int list_query_parse(const api_request_ctx *ctx, int limit_max, int *limit,
                     list_cursor_parse parse_cursor, void *cursor, json_t *errors) {
    return list_query_parse_filtered(ctx, limit_max, limit, parse_cursor, cursor, NULL, errors);
}

int list_query_parse_filtered(const api_request_ctx *ctx, int limit_max, int *limit,
                              list_cursor_parse parse_cursor, void *cursor,
                              const list_query_filter *filters, json_t *errors) {
    const struct _u_map *m = ctx->req->map_url;
    const char **keys = m != NULL ? u_map_enum_keys(m) : NULL;
    char limit_message[64];
    snprintf(limit_message, sizeof limit_message, "must be an integer from 1 to %d", limit_max);
    int rc = 0;
    for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
        const char *v = u_map_get(m, keys[i]);
        if (strcmp(keys[i], "limit") == 0) {
            if (v == NULL || !parse_limit(v, limit_max, limit))
                rc |= api_field_error_add(errors, "limit", limit_message);
        } else if (strcmp(keys[i], "cursor") == 0) {
            if (v == NULL || !parse_cursor(v, cursor))
                rc |= api_field_error_add(errors, "cursor", "is not a cursor of this list");
        } else if (find_filter(filters, keys[i]) != NULL) {
            const list_query_filter *f = find_filter(filters, keys[i]);
            if (v == NULL || !f->parse(v, f->out))
                rc |= api_field_error_add(errors, keys[i], f->message);
        } else {
            rc |= api_field_error_add(errors, keys[i], "is not a parameter of this list");
        }
    }
    return rc;
}
