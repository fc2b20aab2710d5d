/*
 * errbuf.c: the err/errlen writers (see errbuf.h).
 */
#include "shared/errbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool vset(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Writes the message; false when the caller wants none (nothing written). */
static bool vset(char *err, size_t errlen, const char *fmt, va_list ap) {
    if (err == NULL || errlen == 0) {
        return false;
    }
    vsnprintf(err, errlen, fmt, ap);
    return true;
}

void errbuf_setf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(err, errlen, fmt, ap);
    va_end(ap);
}

void errbuf_setf_line(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bool written = vset(err, errlen, fmt, ap);
    va_end(ap);
    size_t n = written ? strlen(err) : 0;
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' ')) {
        err[--n] = '\0';
    }
}
