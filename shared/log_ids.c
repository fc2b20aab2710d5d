/*
 * log_ids.c: the id lists of a batch's log line (see log_ids.h).
 *
 * Owns: folding and writing the lists. Rules: no allocation but the strbufs' growth; text
 * is made safe byte by byte (never dropped), so a hostile header cannot break the line.
 */
#include "shared/log_ids.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends "text" (n < 129 bytes) to list, with a comma when the list is not empty: one
 * append. */
static void add_quoted(strbuf *list, const char *text, size_t n) {
    char item[sizeof((log_ids *)0)->last_request_id + 3];
    size_t at = 0;
    if (list->len > 0) {
        item[at++] = ',';
    }
    item[at++] = '"';
    memcpy(item + at, text, n);
    at += n;
    item[at++] = '"';
    strbuf_append(list, item, at);
}

void log_ids_plain(const char *text, char *out, size_t outlen) {
    size_t n = 0;
    for (; text != NULL && text[n] != '\0' && n + 1 < outlen; n++) {
        unsigned char c = (unsigned char)text[n];
        out[n] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
    }
    out[n] = '\0';
}

void log_ids_add(log_ids *ids, const char *request_id, const char *traceparent) {
    if (request_id != NULL && request_id[0] != '\0') {
        char safe[sizeof ids->last_request_id];
        log_ids_plain(request_id, safe, sizeof safe);
        size_t n = strlen(safe);
        if (strcmp(safe, ids->last_request_id) != 0) {
            add_quoted(&ids->request_ids, safe, n);
            memcpy(ids->last_request_id, safe, n + 1);
        }
    }
    char trace_id[TRACE_ID_HEX + 1];
    if (trace_context_trace_id(traceparent, trace_id) &&
        strcmp(trace_id, ids->last_trace_id) != 0) {
        add_quoted(&ids->trace_ids, trace_id, TRACE_ID_HEX);
        memcpy(ids->last_trace_id, trace_id, sizeof trace_id);
    }
}

const char *log_ids_members(log_ids *ids) {
    strbuf *m = &ids->members;
    m->len = 0;
    m->failed = false;
    strbuf_puts(m, "\"request_ids\":[");
    strbuf_append(m, ids->request_ids.data != NULL ? ids->request_ids.data : "",
                  ids->request_ids.len);
    strbuf_puts(m, "],\"trace_ids\":[");
    strbuf_append(m, ids->trace_ids.data != NULL ? ids->trace_ids.data : "", ids->trace_ids.len);
    strbuf_puts(m, "]");
    if (m->failed || ids->request_ids.failed || ids->trace_ids.failed || m->data == NULL) {
        return "";
    }
    return m->data;
}

/* Each list's slice of one line gets half of what the head leaves. */
#define SLICE_MAX ((LOG_IDS_LINE_BUDGET - LOG_IDS_HEAD_MAX - 64) / 2)

/* The end of the slice of list that starts at from: whole items ("..." separated by ','; an
 * item holds no '"'), as many as fit in SLICE_MAX bytes, at least one. */
static size_t slice_end(const strbuf *list, size_t from) {
    size_t end = from;
    while (end < list->len) {
        const char *close = memchr(list->data + end + 1, '"', list->len - end - 1);
        size_t next = close != NULL ? (size_t)(close - list->data) + 1 : list->len;
        if (next - from > SLICE_MAX && end > from) {
            break;
        }
        end = next;
        if (end < list->len && list->data[end] == ',') {
            end++; /* the separator belongs to the slice it ends; trimmed when written */
        }
    }
    return end;
}

static size_t count_slices(const strbuf *list) {
    size_t n = 0;
    for (size_t at = 0; at < list->len; at = slice_end(list, at)) {
        n++;
    }
    return n;
}

/* One line's members in a fixed buffer: an append that does not fit fails the line. */
typedef struct line_text {
    char data[LOG_IDS_LINE_BUDGET];
    size_t len;
    bool failed;
} line_text;

static void put(line_text *line, const char *s, size_t n) {
    if (line->failed || line->len + n + 1 > sizeof line->data) {
        line->failed = true;
        return;
    }
    memcpy(line->data + line->len, s, n);
    line->len += n;
    line->data[line->len] = '\0';
}

/* Appends name[slice] to line, the slice's trailing separator left out. */
static void put_slice(line_text *line, const char *name, const strbuf *list, size_t from,
                      size_t end) {
    if (end > from && list->data[end - 1] == ',') {
        end--;
    }
    put(line, name, strlen(name));
    put(line, list->data != NULL ? list->data + from : "", end - from);
    put(line, "]", 1);
}

void log_ids_write(const log_ids *ids, log_level level, const char *msg, const char *head) {
    if (!log_enabled(level)) {
        return;
    }
    if (ids->request_ids.failed || ids->trace_ids.failed) {
        log_members(level, msg, head); /* the lists were cut by a failed allocation */
        return;
    }
    size_t nreq = count_slices(&ids->request_ids), ntr = count_slices(&ids->trace_ids);
    size_t parts = nreq > ntr ? nreq : ntr;
    parts = parts > 0 ? parts : 1;
    size_t rfrom = 0, tfrom = 0;
    for (size_t part = 1; part <= parts; part++) {
        size_t rend = slice_end(&ids->request_ids, rfrom);
        size_t tend = slice_end(&ids->trace_ids, tfrom);
        line_text line = {.len = 0};
        line.data[0] = '\0';
        put(&line, head, strlen(head));
        if (parts > 1) {
            char counter[64];
            int n = snprintf(counter, sizeof counter, ",\"part\":%zu,\"parts\":%zu", part, parts);
            put(&line, counter, (size_t)n);
        }
        put_slice(&line, head[0] != '\0' ? ",\"request_ids\":[" : "\"request_ids\":[",
                  &ids->request_ids, rfrom, rend);
        put_slice(&line, ",\"trace_ids\":[", &ids->trace_ids, tfrom, tend);
        log_members(level, msg, line.failed ? head : line.data);
        rfrom = rend;
        tfrom = tend;
    }
}

void log_ids_reset(log_ids *ids) {
    ids->request_ids.len = 0;
    ids->request_ids.failed = false;
    ids->trace_ids.len = 0;
    ids->trace_ids.failed = false;
    ids->last_request_id[0] = '\0';
    ids->last_trace_id[0] = '\0';
}

void log_ids_free(log_ids *ids) {
    free(ids->request_ids.data);
    free(ids->trace_ids.data);
    free(ids->members.data);
    *ids = (log_ids){0};
}
