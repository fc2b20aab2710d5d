/*
 * request_body.c: size, media type and JSON checks of request bodies (see request_body.h).
 * Rules: never trusts a length or a header; the depth scan runs before jansson so a
 * deeply nested document cannot exhaust a connection thread's stack.
 */
#include "api/request_body.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/errbuf.h"

body_verdict request_body_check_size(const char *content_length, size_t received, long limit) {
    if (limit < 0) {
        limit = 0;
    }
    if (received > (size_t)limit) {
        return BODY_TOO_LARGE;
    }
    if (content_length == NULL || content_length[0] < '0' || content_length[0] > '9') {
        return BODY_OK;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long declared = strtoull(content_length, &end, 10);
    if (errno == ERANGE) {
        return BODY_TOO_LARGE; /* more digits than any limit */
    }
    if (end == NULL || *end != '\0') {
        return BODY_OK;
    }
    return declared > (unsigned long long)limit ? BODY_TOO_LARGE : BODY_OK;
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

/* Checks one "name=value" parameter (p points at the name); returns false when it is a
 * charset other than UTF-8. */
static bool param_acceptable(const char *p, size_t len) {
    static const char CHARSET[] = "charset";
    size_t nlen = sizeof CHARSET - 1;
    if (len < nlen || strncasecmp(p, CHARSET, nlen) != 0) {
        return true;
    }
    const char *v = skip_space(p + nlen);
    if (*v != '=') {
        return true; /* not the charset parameter, e.g. "charsetx=..." */
    }
    v = skip_space(v + 1);
    size_t vlen = len - (size_t)(v - p);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
        vlen--;
    }
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v++;
        vlen -= 2;
    }
    return (vlen == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
           (vlen == 4 && strncasecmp(v, "utf8", 4) == 0);
}

bool request_body_is_json_type(const char *content_type) {
    static const char JSON_TYPE[] = "application/json";
    size_t tlen = sizeof JSON_TYPE - 1;
    if (content_type == NULL) {
        return false;
    }
    const char *p = skip_space(content_type);
    if (strncasecmp(p, JSON_TYPE, tlen) != 0) {
        return false;
    }
    p = skip_space(p + tlen);
    while (*p == ';') {
        p = skip_space(p + 1);
        const char *end = strchr(p, ';');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (!param_acceptable(p, len)) {
            return false;
        }
        p += len;
    }
    return *p == '\0';
}

/* Where a scan over JSON text stands with respect to strings. */
typedef struct json_lexer {
    bool in_string;
    bool escaped;
} json_lexer;

/* Feeds c; true when c is structural (outside any string, quotes excluded). */
static bool json_lexer_structural(json_lexer *lx, char c) {
    if (lx->in_string) {
        if (lx->escaped) {
            lx->escaped = false;
        } else if (c == '\\') {
            lx->escaped = true;
        } else if (c == '"') {
            lx->in_string = false;
        }
        return false;
    }
    if (c == '"') {
        lx->in_string = true;
        return false;
    }
    return true;
}

int request_body_json_depth(const char *data, size_t len, int limit) {
    int depth = 0, deepest = 0;
    json_lexer lx = {false, false};
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (!json_lexer_structural(&lx, c)) {
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > deepest) {
                deepest = depth;
            }
            if (deepest > limit) {
                return limit + 1;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}

size_t request_body_json_top_items(const char *data, size_t len, size_t stop_after) {
    size_t commas = 0;
    int depth = 0;
    bool any_value = false;
    json_lexer lx = {false, false};
    for (size_t i = 0; i < len && commas <= stop_after; i++) {
        char c = data[i];
        bool structural = json_lexer_structural(&lx, c);
        if (depth == 1 && !(structural && (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                                           c == ',' || c == ']'))) {
            any_value = true; /* something other than separators inside the top array */
        }
        if (!structural) {
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ',' && depth == 1) {
            commas++;
        }
    }
    return any_value ? commas + 1 : 0;
}

void request_body_printable(char *text) {
    for (; *text != '\0'; text++) {
        unsigned char c = (unsigned char)*text;
        if (c < 0x20 || c >= 0x7f) {
            *text = '?';
        }
    }
}

json_t *request_body_load_json(const char *data, size_t len, int max_depth, char *detail,
                               size_t detaillen) {
    if (request_body_json_depth(data, len, max_depth) > max_depth) {
        errbuf_setf(detail, detaillen, "the JSON document is nested deeper than %d levels",
                    max_depth);
        return NULL;
    }
    json_error_t error;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
    if (doc == NULL) {
        errbuf_setf(detail, detaillen, "invalid JSON at line %d, column %d: %s", error.line,
                    error.column, error.text);
        request_body_printable(detail);
    }
    return doc;
}

body_verdict request_body_parse_object(const void *data, size_t len, json_t **out, char *detail,
                                       size_t detaillen) {
    *out = NULL;
    if (data == NULL || len == 0) {
        errbuf_setf(detail, detaillen, "the request body is empty; a JSON object is required");
        return BODY_MALFORMED;
    }
    json_t *doc = request_body_load_json(data, len, REQUEST_BODY_MAX_DEPTH, detail, detaillen);
    if (doc == NULL) {
        return BODY_MALFORMED;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        errbuf_setf(detail, detaillen, "the request body must be a JSON object");
        return BODY_MALFORMED;
    }
    *out = doc;
    return BODY_OK;
}
