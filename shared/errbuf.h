/*
 * errbuf.h: filling the caller's (err, errlen) message buffer.
 *
 * Owns: the writers of the err/errlen pair most taskbus functions take: printf-style, and
 * a prefix followed by a library's message made one line.
 * Rules: err may be NULL or errlen 0 (the caller does not want the message): nothing is
 * written then; a longer message is cut, always NUL-terminated. Every write into a
 * caller's message buffer goes through here (no snprintf(err, errlen, ...) elsewhere).
 */
#ifndef TASKBUS_SHARED_ERRBUF_H
#define TASKBUS_SHARED_ERRBUF_H

#include <stddef.h>

void errbuf_setf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<prefix><detail>" without detail's trailing newlines and spaces (libpq's messages end
 * with a newline; a log line or a problem detail wants none). A NULL detail counts as "". */
void errbuf_set_line(char *err, size_t errlen, const char *prefix, const char *detail);

#endif
