/*
 * http_lists.c: shared HTTP field grammar (see http_lists.h).
 *
 * Rules: RFC 9110 §5.6: lists are comma-separated with optional whitespace; a comma
 * inside a quoted string does not split them.
 */
#include "api/http_lists.h"

#include <string.h>

bool http_is_ows(char c) {
    return c == ' ' || c == '\t';
}

const char *http_skip_ows(const char *p) {
    while (http_is_ows(*p))
        p++;
    return p;
}

bool http_is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

const char *http_skip_quoted(const char *p) {
    for (p++; *p != '\0'; p++) {
        if (*p == '\\') {
            if (p[1] == '\0')
                return NULL;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

const char *http_list_element_end(const char *p) {
    while (*p != '\0' && *p != ',') {
        if (*p == '"') {
            const char *q = http_skip_quoted(p);
            if (q == NULL)
                return p + strlen(p);
            p = q;
        } else {
            p++;
        }
    }
    return p;
}
