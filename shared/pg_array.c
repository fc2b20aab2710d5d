/*
 * pg_array.c: Postgres array literals built as text.
 *
 * Owns: the element quoting of pg_array.h. Rules: an element never starts the array
 * unless the text before it is the opening brace, so elements are comma-separated without
 * a separate counter.
 */
#include "shared/pg_array.h"

#include <string.h>

void pg_array_open(strbuf *b) {
    strbuf_append(b, "{", 1);
}

void pg_array_add(strbuf *b, const char *elem) {
    pg_array_addn(b, elem, elem != NULL ? strlen(elem) : 0);
}

void pg_array_addn(strbuf *b, const char *elem, size_t len) {
    if (b->len > 0 && b->data != NULL && b->data[b->len - 1] != '{') {
        strbuf_append(b, ",", 1);
    }
    if (elem == NULL) {
        strbuf_append(b, "NULL", 4);
        return;
    }
    strbuf_append(b, "\"", 1);
    const char *run = elem;
    const char *end = elem + len;
    for (const char *p = elem; p < end; p++) {
        if (*p == '"' || *p == '\\') {
            strbuf_append(b, run, (size_t)(p - run));
            strbuf_append(b, "\\", 1);
            run = p;
        }
    }
    strbuf_append(b, run, (size_t)(end - run));
    strbuf_append(b, "\"", 1);
}

void pg_array_close(strbuf *b) {
    strbuf_append(b, "}", 1);
}
