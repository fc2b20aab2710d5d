/*
 * percent_decode.h: the one percent-decoder (RFC 3986 section 2.1), with explicit modes.
 *
 * Owns: turning "%XX" escapes into bytes for every part of a URL the API reads: path
 * segments (route parameters) and query-string names and values. Rules: no allocation
 * (the caller's buffer; the output is never longer than the input, so len + 1 bytes
 * always fit); an escape is '%' and two hex digits of either case, anything else after a
 * '%' (including the end of the input) is malformed; every other byte is copied as it is
 * unless a mode says otherwise. What the modes change:
 *  - PCT_PLUS_IS_SPACE: '+' decodes as ' ' (application/x-www-form-urlencoded, the query
 *    string); without it '+' is itself (a path segment).
 *  - PCT_REFUSE_NUL: a decoded byte 0x00 (from "%00") is refused; without it the output
 *    may hold NULs and *outlen is the only true length.
 *  - PCT_REFUSE_CONTROLS: a byte 0x00-0x1F or 0x7F in the output, escaped or not, is
 *    refused (bytes 0x80-0x9F are not: they are UTF-8 continuation bytes).
 */
#ifndef TASKBUS_SHARED_PERCENT_DECODE_H
#define TASKBUS_SHARED_PERCENT_DECODE_H

#include <stddef.h>

enum {
    PCT_PATH = 0,
    PCT_PLUS_IS_SPACE = 1 << 0,
    PCT_REFUSE_NUL = 1 << 1,
    PCT_REFUSE_CONTROLS = 1 << 2,
};

typedef enum {
    PCT_OK = 0,
    PCT_MALFORMED = -1, /* a '%' not followed by two hex digits */
    PCT_TOO_LONG = -2,  /* the output (with its NUL) does not fit in outcap bytes */
    PCT_REFUSED = -3,   /* a byte the mode refuses (PCT_REFUSE_NUL, PCT_REFUSE_CONTROLS) */
} pct_result;

/* Decodes [s, s+len) into out (outcap bytes, NUL-terminated on PCT_OK) by mode (PCT_*
 * flags); *outlen (may be NULL) gets the decoded length. The first problem met, left to
 * right, is the one returned; out holds nothing useful then. */
pct_result percent_decode(const char *s, size_t len, unsigned mode, char *out, size_t outcap,
                          size_t *outlen);

#endif
