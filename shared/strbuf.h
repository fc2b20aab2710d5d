/*
 * strbuf.h: a growable, NUL-terminated byte buffer.
 *
 * Owns: data (malloc'd; the caller frees it, or takes it over). Rules: an allocation
 * failure sets failed and every later append is a no-op, so a builder appends freely
 * and checks failed once at the end.
 */
#ifndef TASKBUS_SHARED_STRBUF_H
#define TASKBUS_SHARED_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} strbuf;

/* Appends n bytes of s (which may hold NULs). */
void strbuf_append(strbuf *b, const char *s, size_t n);
/* Appends the string s. */
void strbuf_puts(strbuf *b, const char *s);
/* Appends the string s HTML-escaped (& < > " ' as entities): text in an element or a
 * quoted attribute (the notifier's mails, the API's pages). */
void strbuf_puts_html(strbuf *b, const char *s);

#endif
