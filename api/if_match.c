/*
 * if_match.c: entity-tags, If-Match and If-None-Match lists (see if_match.h).
 *
 * Owns: the grammar of RFC 9110 §8.8.3 (entity-tag lists, "*"). Rules: lists are
 * comma-separated with optional whitespace (http_lists.c) and may hold empty elements
 * (RFC 9110 §5.6.1 asks recipients to accept them); anything else that does not fit the
 * grammar makes the whole value malformed, which matches nothing. An entity-tag's opaque
 * part may hold a comma, so the list is walked tag by tag, not split at commas first.
 */
#include "api/if_match.h"

#include <stdio.h>
#include <string.h>

#include "api/http_lists.h"

/* etagc = %x21 / %x23-7E / obs-text */
static bool is_etagc(unsigned char c) {
    return c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80;
}

char *if_match_etag(long long version, char *out, size_t outlen) {
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
    const char *p = http_skip_ows(header);
    *star = false;
    if (*p == '*') {
        p = http_skip_ows(p + 1);
        *star = true;
        return *p == '\0' ? 1 : -1;
    }
    int found = 0;
    bool any = false;
    while (*p != '\0') {
        if (*p == ',') {
            p = http_skip_ows(p + 1);
            continue;
        }
        etag_view tag;
        if (!parse_etag(&p, &tag))
            return -1;
        any = true;
        if (want != NULL && etags_equal(&tag, want, weak))
            found = 1;
        p = http_skip_ows(p);
        if (*p != ',' && *p != '\0')
            return -1;
    }
    return any ? found : -1;
}

if_match_result if_match_evaluate(const char *header, long long current_version) {
    if (header == NULL)
        return IF_MATCH_ABSENT;
    char etag[IF_MATCH_ETAG_MAX];
    if_match_etag(current_version, etag, sizeof etag);
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

bool if_match_etag_list_matches(const char *header, const char *etag, bool weak) {
    if (header == NULL || etag == NULL)
        return false;
    const char *e = etag;
    etag_view want;
    if (!parse_etag(&e, &want) || *e != '\0')
        return false;
    bool star;
    return scan_etag_list(header, &want, weak, &star) == 1;
}
