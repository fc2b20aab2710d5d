/*
 * route_match.c: the pure route matcher behind api/router.c.
 *
 * Owns: comparing "/a/:id/b" patterns with raw request paths, choosing the most specific
 * pattern, and the Allow list. Rules: no allocation, no I/O, no ulfius; everything it
 * writes goes into the caller's route_match.
 */
#include "api/route_match.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shared/percent_decode.h"

/* Methods in the order they appear in an Allow header. */
static const char *const KNOWN_METHODS[] = {"GET",   "HEAD",   "POST",    "PUT",
                                            "PATCH", "DELETE", "OPTIONS", NULL};

/* Moves *cursor over "/segment"; false at the end of the string or on a missing '/'. */
static bool next_segment(const char **cursor, const char **seg, size_t *len) {
    const char *p = *cursor;
    if (*p != '/') {
        return false;
    }
    p++;
    const char *end = strchr(p, '/');
    if (end == NULL) {
        end = p + strlen(p);
    }
    *seg = p;
    *len = (size_t)(end - p);
    *cursor = end;
    return true;
}

/* Percent-decodes seg into out (NUL-terminated), '+' as itself. False when empty, too
 * long, a bad escape or an encoded NUL: such a segment is not a usable parameter. */
static bool decode_param(const char *seg, size_t len, char *out, size_t outlen) {
    return len > 0 &&
           percent_decode(seg, len, PCT_PATH | PCT_REFUSE_NUL, out, outlen, NULL) == PCT_OK;
}

/* Matches one pattern. Returns true and sets *score (one bit per literal segment, first
 * segment most significant, so a larger score is the more specific pattern); fills params
 * when out is not NULL. */
static bool pattern_match(const char *pattern, const char *path, uint64_t *score,
                          route_match *out) {
    const char *pc = pattern, *uc = path;
    const char *pseg, *useg;
    size_t plen, ulen;
    int nparams = 0, depth = 0;
    uint64_t bits = 0;

    while (next_segment(&pc, &pseg, &plen)) {
        if (!next_segment(&uc, &useg, &ulen) || depth >= 64) {
            return false;
        }
        if (plen > 0 && pseg[0] == ':') {
            if (nparams >= ROUTE_MAX_PARAMS) {
                return false;
            }
            char scratch[sizeof out->params[0]];
            char *dst = out != NULL ? out->params[nparams] : scratch;
            if (!decode_param(useg, ulen, dst, sizeof scratch)) {
                return false;
            }
            nparams++;
        } else {
            if (plen != ulen || memcmp(pseg, useg, plen) != 0) {
                return false;
            }
            bits |= UINT64_C(1) << (63 - depth);
        }
        depth++;
    }
    if (*pc != '\0' || *uc != '\0') {
        return false;
    }
    *score = bits;
    if (out != NULL) {
        out->nparams = nparams;
    }
    return true;
}

static unsigned method_bit(const char *method) {
    for (unsigned i = 0; KNOWN_METHODS[i] != NULL; i++) {
        if (strcmp(KNOWN_METHODS[i], method) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

static void format_allow(unsigned methods, char *out, size_t outlen) {
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; KNOWN_METHODS[i] != NULL; i++) {
        if ((methods & (1u << i)) == 0) {
            continue;
        }
        int n = snprintf(out + used, outlen - used, "%s%s", used > 0 ? ", " : "", KNOWN_METHODS[i]);
        if (n < 0 || (size_t)n >= outlen - used) {
            return;
        }
        used += (size_t)n;
    }
}

/* The candidate so far, among the routes of the most specific pattern only: a literal
 * path such as /tasks/stats is its own resource, so the methods of /tasks/:id neither
 * serve it nor appear in its Allow. */
typedef struct best {
    const api_route *route;
    bool route_exact; /* the method matched exactly (not HEAD served by GET) */
    const char *pattern;
    uint64_t pattern_score;
    unsigned methods;
} best;

static void consider(best *b, const api_route *r, const char *method, uint64_t score) {
    if (b->pattern != NULL && score < b->pattern_score) {
        return;
    }
    if (b->pattern == NULL || score > b->pattern_score) {
        *b = (best){.pattern = r->pattern, .pattern_score = score};
    }
    b->methods |= method_bit(r->method);
    if (strcmp(r->method, "GET") == 0) {
        b->methods |= method_bit("HEAD");
    }
    bool exact = strcmp(r->method, method) == 0;
    bool via_get = strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
    if (!exact && !via_get) {
        return;
    }
    if (b->route == NULL || (exact && !b->route_exact)) {
        b->route = r;
        b->route_exact = exact;
    }
}

route_match_result router_match(const api_route *const *tables, const char *method,
                                const char *path, route_match *out) {
    best b = {0};
    memset(out, 0, sizeof *out);
    if (tables == NULL || method == NULL || path == NULL) {
        return ROUTE_NOT_FOUND;
    }
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (const api_route *r = tables[t]; r->method != NULL; r++) {
            uint64_t score;
            if (r->pattern != NULL && pattern_match(r->pattern, path, &score, NULL)) {
                consider(&b, r, method, score);
            }
        }
    }
    if (b.pattern == NULL) {
        return ROUTE_NOT_FOUND;
    }
    format_allow(b.methods | method_bit("OPTIONS"), out->allow, sizeof out->allow);
    if (b.route == NULL) {
        out->pattern = b.pattern;
        return ROUTE_NO_METHOD;
    }
    uint64_t score;
    (void)pattern_match(b.route->pattern, path, &score, out);
    out->route = b.route;
    out->pattern = b.route->pattern;
    return ROUTE_MATCHED;
}
