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
    if (b->len > 0 && b->data != NULL && b->data[b->len - 1] != '{') {
        strbuf_append(b, ",", 1);
    }
    if (elem == NULL) {
        strbuf_append(b, "NULL", 4);
        return;
    }
    strbuf_append(b, "\"", 1);
    const char *run = elem;
    for (const char *p = elem; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            strbuf_append(b, run, (size_t)(p - run));
            strbuf_append(b, "\\", 1);
            run = p;
        }
    }
    strbuf_puts(b, run);
    strbuf_append(b, "\"", 1);
}

void pg_array_close(strbuf *b) {
    strbuf_append(b, "}", 1);
}
