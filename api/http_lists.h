/*
 * http_lists.h: the bits of HTTP field grammar (RFC 9110 §5.6) that several header
 * parsers share: optional whitespace, tokens, quoted strings and comma-separated lists.
 *
 * Owns: those character classes and scanners, nothing about any one header (if_match.c
 * reads entity-tag lists with them, prefer.c preference lists). Rules: pure functions over
 * NUL-terminated text, no I/O; a scanner never reads past the terminating NUL.
 */
#ifndef TASKBUS_API_HTTP_LISTS_H
#define TASKBUS_API_HTTP_LISTS_H

#include <stdbool.h>

/* OWS = *( SP / HTAB ) */
bool http_is_ows(char c);

/* p advanced past any OWS. */
const char *http_skip_ows(const char *p);

/* tchar of RFC 9110 §5.6.2 (the characters of a token). */
bool http_is_tchar(unsigned char c);

/* Past the quoted-string at p (which is at its opening quote), backslash escapes
 * honoured; NULL when it is not closed. */
const char *http_skip_quoted(const char *p);

/* The end of the list element starting at p: the next comma outside a quoted string, or
 * the NUL (an unclosed quoted string runs to the NUL). */
const char *http_list_element_end(const char *p);

#endif
