/*
 * prefer.c: Prefer: wait (see prefer.h).
 *
 * Owns: the grammar of RFC 7240 §2 (preferences: a token, optionally "=" and a token or
 * quoted-string, then ";" parameters). Rules: the list is split by http_lists.c, so commas
 * inside quoted strings do not split it; empty elements are skipped.
 */
#include "api/prefer.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

#include "api/http_lists.h"

/* delta-seconds (optionally quoted) in [p, end), capped; -1 when it is not one. */
static int parse_wait_value(const char *p, const char *end) {
    bool quoted = p < end && *p == '"';
    if (quoted) {
        p++;
        if (end - p < 1 || end[-1] != '"')
            return -1;
        end--;
    }
    if (p == end)
        return -1;
    int n = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (n < PREFER_WAIT_MAX_S + 1)
            n = n * 10 + (*p - '0');
    }
    return n > PREFER_WAIT_MAX_S ? PREFER_WAIT_MAX_S : n;
}

/* The wait of one preference element [p, end): >= 0 when it is wait, -1 for another
 * preference, -2 for a malformed wait. */
static int element_wait(const char *p, const char *end) {
    const char *name = p;
    while (p < end && http_is_tchar((unsigned char)*p))
        p++;
    size_t nlen = (size_t)(p - name);
    if (nlen != 4 || strncasecmp(name, "wait", 4) != 0)
        return -1;
    while (p < end && http_is_ows(*p))
        p++;
    if (p == end || *p != '=')
        return -2;
    p++;
    while (p < end && http_is_ows(*p))
        p++;
    const char *value = p;
    const char *vend = value;
    if (vend < end && *vend == '"') {
        const char *q = http_skip_quoted(vend);
        vend = q != NULL && q <= end ? q : end;
    } else {
        while (vend < end && http_is_tchar((unsigned char)*vend))
            vend++;
    }
    /* What follows the value may only be parameters (";..."), ignored. */
    const char *rest = vend;
    while (rest < end && http_is_ows(*rest))
        rest++;
    if (rest < end && *rest != ';')
        return -2;
    int n = parse_wait_value(value, vend);
    return n < 0 ? -2 : n;
}

int prefer_wait(const char *header) {
    if (header == NULL)
        return 0;
    const char *p = header;
    while (*p != '\0') {
        p = http_skip_ows(p);
        const char *end = http_list_element_end(p);
        const char *trim = end;
        while (trim > p && http_is_ows(trim[-1]))
            trim--;
        if (trim > p) {
            int n = element_wait(p, trim);
            if (n >= 0)
                return n;
            if (n == -2)
                return 0; /* only the first wait counts, even a broken one */
        }
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}
