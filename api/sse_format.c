/*
 * sse_format.c: SSE frames, Redis stream ids and the writer's pub/sub messages
 * (see sse_format.h).
 * Rules: the CloudEvent is re-serialised compactly by jansson, which escapes every control
 * character, so a data line normally never needs splitting; the split is still there for
 * text that arrives as is.
 */
#include "api/sse_format.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_TYPE_PREFIX "taskbus."

static bool parse_u64(const char *p, size_t len, uint64_t *out) {
    if (len == 0 || len > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool sse_id_parse(const char *text, sse_id *out) {
    if (text == NULL) {
        return false;
    }
    const char *dash = strchr(text, '-');
    sse_id id = {0, 0};
    if (dash == NULL) {
        if (!parse_u64(text, strlen(text), &id.ms)) {
            return false;
        }
    } else if (!parse_u64(text, (size_t)(dash - text), &id.ms) ||
               !parse_u64(dash + 1, strlen(dash + 1), &id.seq)) {
        return false;
    }
    *out = id;
    return true;
}

int sse_id_compare(sse_id a, sse_id b) {
    if (a.ms != b.ms) {
        return a.ms < b.ms ? -1 : 1;
    }
    if (a.seq != b.seq) {
        return a.seq < b.seq ? -1 : 1;
    }
    return 0;
}

void sse_id_format(sse_id id, char out[SSE_ID_TEXT_MAX]) {
    snprintf(out, SSE_ID_TEXT_MAX, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

void sse_event_name(const char *ce_type, char out[SSE_EVENT_NAME_MAX]) {
    snprintf(out, SSE_EVENT_NAME_MAX, "message");
    if (ce_type == NULL) {
        return;
    }
    const char *name = ce_type;
    size_t plen = strlen(SSE_TYPE_PREFIX);
    if (strncmp(name, SSE_TYPE_PREFIX, plen) == 0) {
        name += plen;
    }
    size_t len = strlen(name);
    if (len == 0 || len >= SSE_EVENT_NAME_MAX) {
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return;
        }
    }
    memcpy(out, name, len + 1);
}

static bool has_line_break(const char *s) {
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

static int reserve(sse_buf *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->len) {
        return -1;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap == 0 ? 4096 : b->cap;
    while (cap < need) {
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

static void put(sse_buf *b, const char *s, size_t n) {
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

int sse_buf_append_raw(sse_buf *b, const char *text, size_t len) {
    if (reserve(b, len) != 0) {
        return -1;
    }
    put(b, text, len);
    return 0;
}

/* Writes "data: <line>\n" for each line of data (CRLF, CR and LF all end a line). */
static void put_data_lines(sse_buf *b, const char *data) {
    const char *p = data;
    for (;;) {
        size_t n = strcspn(p, "\r\n");
        put(b, "data: ", 6);
        put(b, p, n);
        put(b, "\n", 1);
        p += n;
        if (*p == '\0') {
            return;
        }
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
}

int sse_buf_append_event(sse_buf *b, const char *id, const char *event, const char *data) {
    if (has_line_break(id) || has_line_break(event)) {
        return -1;
    }
    if (data == NULL) {
        data = "";
    }
    size_t dlen = strlen(data);
    /* worst case: every byte a line break, each costing a "data: " prefix */
    size_t need = (id != NULL ? strlen(id) + 5 : 0) + (event != NULL ? strlen(event) + 8 : 0) +
                  7 * (dlen + 1) + 1;
    if (reserve(b, need) != 0) {
        return -1;
    }
    if (id != NULL) {
        put(b, "id: ", 4);
        put(b, id, strlen(id));
        put(b, "\n", 1);
    }
    if (event != NULL) {
        put(b, "event: ", 7);
        put(b, event, strlen(event));
        put(b, "\n", 1);
    }
    put_data_lines(b, data);
    put(b, "\n", 1);
    return 0;
}

int sse_buf_append_comment(sse_buf *b, const char *text) {
    if (has_line_break(text)) {
        return -1;
    }
    size_t n = strlen(text);
    if (reserve(b, n + 4) != 0) {
        return -1;
    }
    put(b, ": ", 2);
    put(b, text, n);
    put(b, "\n\n", 2);
    return 0;
}

void sse_buf_consume(sse_buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void sse_buf_free(sse_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sse_event_clear(sse_event *ev) {
    free(ev->data);
    memset(ev, 0, sizeof *ev);
}

/* Fills out from an id text and a CloudEvent object (borrowed). */
static int fill_event(const char *id, const json_t *cloudevent, sse_event *out) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(cloudevent) || !sse_id_parse(id, &out->id)) {
        return -1;
    }
    sse_id_format(out->id, out->id_text);
    sse_event_name(json_string_value(json_object_get(cloudevent, "type")), out->name);
    out->data = json_dumps(cloudevent, JSON_COMPACT);
    return out->data != NULL ? 0 : -1;
}

int sse_event_from_entry(const char *id, const char *event_json, size_t len, sse_event *out) {
    memset(out, 0, sizeof *out);
    json_t *ce = json_loadb(event_json, len, 0, NULL);
    int rc = fill_event(id, ce, out);
    json_decref(ce);
    return rc;
}

int sse_event_from_message(const char *msg, size_t len, sse_event *out) {
    memset(out, 0, sizeof *out);
    json_t *doc = json_loadb(msg, len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *event = json_object_get(doc, "event");
    int rc = -1;
    if (id != NULL && json_is_string(event)) {
        rc = sse_event_from_entry(id, json_string_value(event), json_string_length(event), out);
    } else if (id != NULL) {
        rc = fill_event(id, event, out);
    }
    const json_t *seq = json_object_get(doc, "nc_seq");
    if (rc == 0 && json_is_integer(seq))
        out->nc_seq = (long long)json_integer_value(seq);
    json_decref(doc);
    return rc;
}
