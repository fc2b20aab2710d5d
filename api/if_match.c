/*
 * if_match.c: If-Match, ETag and Prefer: wait (see if_match.h; split next).
 *
 * Owns: the grammars of RFC 9110 §8.8.3 (entity-tag lists, "*") and RFC 7240 §2
 * (preferences). Rules: lists are comma-separated with optional whitespace and may hold
 * empty elements (RFC 9110 §5.6.1 asks recipients to accept them); anything else that
 * does not fit the grammar makes the whole value malformed, which matches nothing. Commas
 * inside quoted strings do not split a Prefer list.
 */
#include "api/if_match.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *p) {
    while (is_ows(*p))
        p++;
    return p;
}

/* etagc = %x21 / %x23-7E / obs-text */
static bool is_etagc(unsigned char c) {
    return c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80;
}

/* tchar of RFC 9110 §5.6.2 */
static bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

char *conditional_etag(long long version, char *out, size_t outlen) {
    snprintf(out, outlen, "\"%lld\"", version);
    return out;
}

typedef struct etag_view {
    bool weak;
    const char *opaque; /* the characters between the quotes */
    size_t len;
} etag_view;

/* Parses one entity-tag at *p and advances past it; false when malformed. */
static bool parse_etag(const char **p, etag_view *out) {
    const char *s = *p;
    out->weak = false;
    if (s[0] == 'W' && s[1] == '/') {
        out->weak = true;
        s += 2;
    }
    if (*s != '"')
        return false;
    s++;
    out->opaque = s;
    while (is_etagc((unsigned char)*s))
        s++;
    if (*s != '"')
        return false;
    out->len = (size_t)(s - out->opaque);
    *p = s + 1;
    return true;
}

static bool etags_equal(const etag_view *a, const etag_view *b, bool weak) {
    if (!weak && (a->weak || b->weak))
        return false;
    return a->len == b->len && memcmp(a->opaque, b->opaque, a->len) == 0;
}

/* Walks a "*" / #entity-tag value. 1 when an element matches want (NULL: nothing can
 * match, only the syntax is checked), 0 when none does, -1 when malformed; *star tells
 * whether the value was "*". */
static int scan_etag_list(const char *header, const etag_view *want, bool weak, bool *star) {
    const char *p = skip_ows(header);
    *star = false;
    if (*p == '*') {
        p = skip_ows(p + 1);
        *star = true;
        return *p == '\0' ? 1 : -1;
    }
    int found = 0;
    bool any = false;
    while (*p != '\0') {
        if (*p == ',') {
            p = skip_ows(p + 1);
            continue;
        }
        etag_view tag;
        if (!parse_etag(&p, &tag))
            return -1;
        any = true;
        if (want != NULL && etags_equal(&tag, want, weak))
            found = 1;
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return -1;
    }
    return any ? found : -1;
}

if_match_result conditional_if_match(const char *header, long long current_version) {
    if (header == NULL)
        return IF_MATCH_ABSENT;
    char etag[CONDITIONAL_ETAG_MAX];
    conditional_etag(current_version, etag, sizeof etag);
    const char *e = etag;
    etag_view want;
    if (!parse_etag(&e, &want))
        return IF_MATCH_FAILED;
    bool star;
    int rc = scan_etag_list(header, &want, false, &star);
    if (rc == 1)
        return star ? IF_MATCH_ANY : IF_MATCH_MATCHED;
    return IF_MATCH_FAILED;
}

bool conditional_etag_list_matches(const char *header, const char *etag, bool weak) {
    if (header == NULL || etag == NULL)
        return false;
    const char *e = etag;
    etag_view want;
    if (!parse_etag(&e, &want) || *e != '\0')
        return false;
    bool star;
    return scan_etag_list(header, &want, weak, &star) == 1;
}

/* --- Prefer (RFC 7240) --- */

/* Advances past a quoted-string at p (which is at the opening quote); NULL when it is
 * not closed. */
static const char *skip_quoted(const char *p) {
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

/* The end of the list element starting at p: the next comma outside quotes, or NUL. */
static const char *element_end(const char *p) {
    while (*p != '\0' && *p != ',') {
        if (*p == '"') {
            const char *q = skip_quoted(p);
            if (q == NULL)
                return p + strlen(p);
            p = q;
        } else {
            p++;
        }
    }
    return p;
}

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
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    size_t nlen = (size_t)(p - name);
    if (nlen != 4 || strncasecmp(name, "wait", 4) != 0)
        return -1;
    while (p < end && is_ows(*p))
        p++;
    if (p == end || *p != '=')
        return -2;
    p++;
    while (p < end && is_ows(*p))
        p++;
    const char *value = p;
    const char *vend = value;
    if (vend < end && *vend == '"') {
        const char *q = skip_quoted(vend);
        vend = q != NULL && q <= end ? q : end;
    } else {
        while (vend < end && is_tchar((unsigned char)*vend))
            vend++;
    }
    /* What follows the value may only be parameters (";..."), ignored. */
    const char *rest = vend;
    while (rest < end && is_ows(*rest))
        rest++;
    if (rest < end && *rest != ';')
        return -2;
    int n = parse_wait_value(value, vend);
    return n < 0 ? -2 : n;
}

int conditional_prefer_wait(const char *header) {
    if (header == NULL)
        return 0;
    const char *p = header;
    while (*p != '\0') {
        p = skip_ows(p);
        const char *end = element_end(p);
        const char *trim = end;
        while (trim > p && is_ows(trim[-1]))
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
