/*
 * errbuf.h: filling the caller's (err, errlen) message buffer.
 *
 * Owns: the writers of the err/errlen pair most taskbus functions take: printf-style, and the
 * same made one line (a library's message with its trailing newline dropped).
 * Rules: err may be NULL or errlen 0 (the caller does not want the message): nothing is
 * written then; a longer message is cut, always NUL-terminated. Every write into a
 * caller's message buffer goes through here (no snprintf(err, errlen, ...) elsewhere).
 */
#ifndef TASKBUS_SHARED_ERRBUF_H
#define TASKBUS_SHARED_ERRBUF_H

#include <stddef.h>

void errbuf_setf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, without the message's trailing newlines and spaces: for a library's message
 * (libpq's end with a newline) in a log line or a problem detail. */
void errbuf_setf_line(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
