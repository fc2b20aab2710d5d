/*
 * import_parse.c: JSON array and NDJSON import bodies into numbered items
 * (see import_parse.h).
 * Rules: never trusts the body: lengths are explicit (no NUL termination assumed), the
 * depth scan runs before jansson, jansson errors are reduced to printable ASCII because
 * they quote the offending bytes and end up in a JSON answer and a log line.
 */
#include "api/import_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/request_body.h"
#include "shared/errbuf.h"

static const char *const NDJSON_TYPES[] = {"application/x-ndjson", "application/jsonl",
                                           "application/x-jsonlines", "application/ndjson", NULL};

/* The parameters of an NDJSON type are checked by the JSON type's rules: the same text
 * with the type swapped for application/json. */
static bool ndjson_params_ok(const char *params) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "application/json%s", params);
    return n > 0 && (size_t)n < sizeof buf && request_body_is_json_type(buf);
}

import_format import_format_from_content_type(const char *content_type) {
    if (content_type == NULL) {
        return IMPORT_FORMAT_UNSUPPORTED;
    }
    if (request_body_is_json_type(content_type)) {
        return IMPORT_FORMAT_JSON_ARRAY;
    }
    const char *p = content_type + strspn(content_type, " \t");
    for (size_t i = 0; NDJSON_TYPES[i] != NULL; i++) {
        size_t tlen = strlen(NDJSON_TYPES[i]);
        if (strncasecmp(p, NDJSON_TYPES[i], tlen) == 0) {
            const char *rest = p + tlen;
            char next = rest[strspn(rest, " \t")];
            if ((next == '\0' || next == ';') && ndjson_params_ok(rest)) {
                return IMPORT_FORMAT_NDJSON;
            }
        }
    }
    return IMPORT_FORMAT_UNSUPPORTED;
}

void import_items_free(import_items *items) {
    if (items == NULL) {
        return;
    }
    for (size_t i = 0; i < items->count; i++) {
        json_decref(items->items[i].value);
    }
    free(items->items);
    items->items = NULL;
    items->count = 0;
}

static bool blank(const char *p, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
            return false;
        }
    }
    return true;
}

/* Non-blank lines of an NDJSON body. */
static size_t ndjson_count(const char *data, size_t len) {
    size_t n = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        if (!blank(p, (size_t)(stop - p))) {
            n++;
        }
        p = stop + 1;
    }
    return n;
}

static void parse_line(const char *p, size_t len, long line, import_item *item) {
    memset(item, 0, sizeof *item);
    item->line = line;
    if (len > 0 && p[len - 1] == '\r') {
        len--;
    }
    if (request_body_json_depth(p, len, REQUEST_BODY_MAX_DEPTH) > REQUEST_BODY_MAX_DEPTH) {
        snprintf(item->error, sizeof item->error, "the line is nested deeper than %d levels",
                 REQUEST_BODY_MAX_DEPTH);
        return;
    }
    json_error_t error;
    item->value = json_loadb(p, len, JSON_REJECT_DUPLICATES, &error);
    if (item->value == NULL) {
        snprintf(item->error, sizeof item->error, "not valid JSON (column %d): %.100s",
                 error.column, error.text);
        request_body_printable(item->error);
    }
}

static import_parse_result parse_ndjson(const char *data, size_t len, import_items *out) {
    const char *p = data, *end = data + len;
    long line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        line++;
        if (!blank(p, (size_t)(stop - p))) {
            parse_line(p, (size_t)(stop - p), line, &out->items[out->count++]);
        }
        p = stop + 1;
    }
    return IMPORT_PARSE_OK;
}

static import_parse_result parse_array(const char *data, size_t len, size_t max_items,
                                       import_items *out, char *detail, size_t detaillen) {
    size_t counted = request_body_json_top_items(data, len, max_items);
    if (counted > max_items) {
        errbuf_setf(detail, detaillen,
                    "the import holds more than %zu tasks; at most %zu are allowed", max_items,
                    max_items);
        return IMPORT_PARSE_TOO_MANY;
    }
    /* the array itself is one level */
    json_t *doc = request_body_load_json(data, len, REQUEST_BODY_MAX_DEPTH + 1, detail, detaillen);
    if (doc == NULL) {
        return IMPORT_PARSE_MALFORMED;
    }
    import_parse_result rc = IMPORT_PARSE_OK;
    size_t n = json_is_array(doc) ? json_array_size(doc) : 0;
    if (!json_is_array(doc)) {
        errbuf_setf(detail, detaillen, "an application/json import must be a JSON array of tasks");
        rc = IMPORT_PARSE_MALFORMED;
    } else if (n == 0) {
        errbuf_setf(detail, detaillen, "the import holds no tasks");
        rc = IMPORT_PARSE_EMPTY;
    } else if (n > max_items) {
        errbuf_setf(detail, detaillen, "the import holds %zu tasks; at most %zu are allowed", n,
                    max_items);
        rc = IMPORT_PARSE_TOO_MANY;
    } else if ((out->items = calloc(n, sizeof *out->items)) == NULL) {
        rc = IMPORT_PARSE_NO_MEMORY;
    }
    for (size_t i = 0; rc == IMPORT_PARSE_OK && i < n; i++) {
        out->items[i].line = (long)i + 1;
        out->items[i].value = json_incref(json_array_get(doc, i));
        out->count++;
    }
    json_decref(doc);
    return rc;
}

import_parse_result import_parse(import_format format, const char *data, size_t len,
                                 size_t max_items, import_items *out, char *detail,
                                 size_t detaillen) {
    memset(out, 0, sizeof *out);
    detail[0] = '\0';
    if (data == NULL) {
        data = "";
        len = 0;
    }
    if (format == IMPORT_FORMAT_JSON_ARRAY) {
        if (len == 0) {
            errbuf_setf(detail, detaillen, "the request body is empty; a JSON array is required");
            return IMPORT_PARSE_MALFORMED;
        }
        import_parse_result rc = parse_array(data, len, max_items, out, detail, detaillen);
        if (rc != IMPORT_PARSE_OK) {
            import_items_free(out);
        }
        return rc;
    }
    if (format != IMPORT_FORMAT_NDJSON) {
        errbuf_setf(detail, detaillen, "unsupported import format");
        return IMPORT_PARSE_MALFORMED;
    }
    size_t n = ndjson_count(data, len);
    if (n == 0) {
        errbuf_setf(detail, detaillen, "the import holds no tasks");
        return IMPORT_PARSE_EMPTY;
    }
    if (n > max_items) {
        errbuf_setf(detail, detaillen, "the import holds %zu lines; at most %zu are allowed", n,
                    max_items);
        return IMPORT_PARSE_TOO_MANY;
    }
    out->items = calloc(n, sizeof *out->items);
    if (out->items == NULL) {
        return IMPORT_PARSE_NO_MEMORY;
    }
    return parse_ndjson(data, len, out);
}
