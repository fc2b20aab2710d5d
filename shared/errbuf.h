/*
 * errbuf.h: filling the caller's (err, errlen) message buffer.
 *
 * Owns: the one printf-style writer for the err/errlen pair most taskbus functions take.
 * Rules: err may be NULL or errlen 0 (the caller does not want the message): nothing is
 * written then; a longer message is cut, always NUL-terminated.
 */
#ifndef TASKBUS_SHARED_ERRBUF_H
#define TASKBUS_SHARED_ERRBUF_H

#include <stddef.h>

void errbuf_setf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
