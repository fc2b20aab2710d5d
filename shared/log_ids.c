/*
 * log_ids.c: the id lists of a batch's log line (see log_ids.h).
 *
 * Owns: folding and writing the lists. Rules: no allocation but the strbufs' growth; text
 * is made safe byte by byte (never dropped), so a hostile header cannot break the line.
 */
#include "shared/log_ids.h"

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

void log_ids_add(log_ids *ids, const char *request_id, const char *traceparent) {
    if (request_id != NULL && request_id[0] != '\0') {
        char safe[sizeof ids->last_request_id];
        size_t n = 0;
        for (; request_id[n] != '\0' && n + 1 < sizeof safe; n++) {
            unsigned char c = (unsigned char)request_id[n];
            safe[n] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
        }
        safe[n] = '\0';
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
