/*
 * json_text.c: JSON string literals written straight into a buffer (see json_text.h).
 *
 * Owns: the escape table. Rules: runs of bytes that need no escape are copied with one
 * append each, so a long value costs a scan and a memcpy.
 */
#include "shared/json_text.h"

#include <stdio.h>

void json_text_string(strbuf *b, const char *s) {
    if (s == NULL) {
        strbuf_append(b, "null", 4);
        return;
    }
    strbuf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        strbuf_append(b, run, (size_t)(p - run));
        run = p + 1;
        char esc[8];
        switch (c) {
        case '"':
            strbuf_append(b, "\\\"", 2);
            break;
        case '\\':
            strbuf_append(b, "\\\\", 2);
            break;
        case '\n':
            strbuf_append(b, "\\n", 2);
            break;
        case '\r':
            strbuf_append(b, "\\r", 2);
            break;
        case '\t':
            strbuf_append(b, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            strbuf_append(b, esc, 6);
        }
    }
    strbuf_puts(b, run);
    strbuf_append(b, "\"", 1);
}
