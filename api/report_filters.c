/*
 * report_filters.c: the filters of POST /api/v1/reports (see report_filters.h for the
 * rules it keeps).
 *
 * The JSON object is re-encoded as the list's query string (every value percent-encoded)
 * and parsed by task_query_parse, so there is one set of filter rules in the API.
 */
#include "api/report_filters.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/task_query.h"

/* task_query_parse derives the cursor MAC key from this; reports never take a cursor, so
 * any constant will do. */
static const unsigned char NO_CURSOR_KEY[] = "taskbus report filters: no cursor";

typedef struct qs_buf {
    char *s;
    size_t len, cap;
    bool oom;
} qs_buf;

static void qs_put(qs_buf *b, const char *text, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap == 0 ? 256 : b->cap * 2) + n;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* "name=<value percent-encoded>&": everything but RFC 3986 unreserved bytes is escaped. */
static void qs_param(qs_buf *b, const char *name, const char *value) {
    static const char HEX[] = "0123456789ABCDEF";
    qs_put(b, name, strlen(name));
    qs_put(b, "=", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        char esc[3] = {'%', HEX[*p >> 4], HEX[*p & 15]};
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        qs_put(b, plain ? (const char *)p : esc, plain ? 1 : 3);
    }
    qs_put(b, "&", 1);
}

static int add_error(json_t *errors, const char *name, const char *message) {
    char field[96];
    snprintf(field, sizeof field, "filters%s%s", name != NULL ? "." : "", name != NULL ? name : "");
    json_t *e = json_pack("{s:s,s:s}", "field", field, "message", message);
    return e != NULL && json_array_append_new(errors, e) == 0 ? 0 : -1;
}

static bool is_multi(const char *name) {
    return strcmp(name, "status") == 0 || strcmp(name, "priority") == 0 || strcmp(name, "tag") == 0;
}

static bool is_single(const char *name) {
    return strcmp(name, "due_before") == 0 || strcmp(name, "due_after") == 0 ||
           strcmp(name, "q") == 0 || strcmp(name, "project") == 0;
}

static bool is_paging(const char *name) {
    return strcmp(name, "sort") == 0 || strcmp(name, "limit") == 0 || strcmp(name, "cursor") == 0;
}

/* One member into the query string; false (error appended) when its type is wrong. */
static bool put_member(qs_buf *b, const char *name, const json_t *value, json_t *errors) {
    if (is_paging(name)) {
        add_error(errors, name,
                  "is not a filter: a report lists every matching task, newest first");
        return false;
    }
    if (!is_multi(name) && !is_single(name)) {
        add_error(errors, name, "is not a known filter");
        return false;
    }
    if (json_is_string(value)) {
        qs_param(b, name, json_string_value(value));
        return true;
    }
    if (!is_multi(name) || !json_is_array(value) || json_array_size(value) == 0) {
        add_error(errors, name,
                  is_multi(name) ? "must be a string or a non-empty array of strings"
                                 : "must be a string");
        return false;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(value, i, item) {
        if (!json_is_string(item)) {
            add_error(errors, name, "must be a string or a non-empty array of strings");
            return false;
        }
        qs_param(b, name, json_string_value(item));
    }
    return true;
}

char *report_filters_query_string(const json_t *filters, json_t *errors) {
    qs_buf b = {0};
    qs_put(&b, "", 0);
    bool ok = true;
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)filters, name, value) {
        ok &= put_member(&b, name, value, errors);
    }
    if (!ok || b.oom) {
        free(b.s);
        return NULL;
    }
    if (b.len > 0)
        b.s[--b.len] = '\0'; /* the last '&' */
    return b.s;
}

/* "2026-01-02T03:04:05.123456Z" from microseconds; -1 outside the years Postgres takes. */
static int format_rfc3339_us(long long us, char out[40]) {
    char pg[40];
    if (task_query_format_timestamp(us, pg, sizeof pg) != 0 || strlen(pg) < 26)
        return -1;
    pg[10] = 'T';
    pg[26] = '\0'; /* drop "+00" */
    snprintf(out, 40, "%sZ", pg);
    return 0;
}

static int set_names(json_t *out, const char *key, unsigned mask, const char *const *names, int n) {
    if (mask == 0)
        return 0;
    json_t *arr = json_array();
    for (int i = 0; arr != NULL && i < n; i++) {
        if ((mask & (1u << i)) != 0 && json_array_append_new(arr, json_string(names[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr != NULL ? json_object_set_new(out, key, arr) : -1;
}

static int set_time(json_t *out, const char *key, bool has, long long us) {
    char text[40];
    if (!has)
        return 0;
    return format_rfc3339_us(us, text) == 0 ? json_object_set_new(out, key, json_string(text)) : -1;
}

/* The normalised object of a parsed query, or NULL out of memory. */
static json_t *normalise(const task_query *q) {
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    int rc = set_names(out, "status", q->status_mask, TASK_QUERY_STATUSES, 3);
    rc |= set_names(out, "priority", q->priority_mask, TASK_QUERY_PRIORITIES, 4);
    if (q->ntags > 0) {
        json_t *tags = json_array();
        for (int i = 0; tags != NULL && i < q->ntags; i++)
            rc |= json_array_append_new(tags, json_string(q->tags[i]));
        rc |= tags != NULL ? json_object_set_new(out, "tag", tags) : -1;
    }
    rc |= set_time(out, "due_before", q->has_due_before, q->due_before_us);
    rc |= set_time(out, "due_after", q->has_due_after, q->due_after_us);
    if (q->q != NULL)
        rc |= json_object_set_new(out, "q", json_string(q->q));
    if (q->project[0] != '\0')
        rc |= json_object_set_new(out, "project", json_string(q->project));
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Copies the parser's errors into errors with "filters." in front of each field. */
static int prefix_errors(json_t *from, json_t *errors) {
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(from, i, e) {
        if (add_error(errors, json_string_value(json_object_get(e, "field")),
                      json_string_value(json_object_get(e, "message"))) != 0)
            return -1;
        n++;
    }
    return n;
}

int report_filters_parse(const json_t *filters, json_t **out, json_t *errors) {
    *out = NULL;
    if (filters == NULL || json_is_null(filters))
        return (*out = json_object()) != NULL ? 0 : -1;
    if (!json_is_object(filters))
        return add_error(errors, NULL, "must be an object") == 0 ? 1 : -1;
    size_t before = json_array_size(errors);
    char *qs = report_filters_query_string(filters, errors);
    if (qs == NULL) {
        size_t added = json_array_size(errors) - before;
        return added > 0 ? (int)added : -1;
    }
    json_t *errs = json_array();
    task_query q;
    memset(&q, 0, sizeof q);
    int n =
        errs != NULL ? task_query_parse(qs, NO_CURSOR_KEY, sizeof NO_CURSOR_KEY - 1, &q, errs) : -1;
    free(qs);
    if (n > 0)
        n = prefix_errors(errs, errors);
    else if (n == 0 && (*out = normalise(&q)) == NULL)
        n = -1;
    task_query_clear(&q);
    json_decref(errs);
    return n;
}
