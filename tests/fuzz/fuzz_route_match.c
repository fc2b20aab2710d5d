/*
 * fuzz_route_match.c: libFuzzer target for the route matcher (api/route_match.c) over the
 * API's real route tables (api/routes.h).
 *
 * Input: line 1 the method, the rest the raw request path.
 * Invariants: a match names a route of the requested method (or GET for HEAD) whose
 * pattern has as many ":params" as were filled; every param is a non-empty string that
 * fits its slot; the Allow list of a match or a 405 holds OPTIONS and the method that
 * matched, and HEAD wherever GET is; a 404 leaves nothing behind; the result does not
 * depend on anything but (method, path): the same call twice agrees; a path spelled as a
 * literal pattern is answered by that pattern (a match or its own 405).
 */
#include <stdlib.h>
#include <string.h>

#include "api/route_match.h"
#include "api/router.h"
#include "fuzz_util.h"

static int count_params(const char *pattern) {
    int n = 0;
    for (const char *p = pattern; (p = strstr(p, "/:")) != NULL; p += 2) {
        n++;
    }
    return n;
}

/* True when the comma-separated Allow list names method. */
static bool allow_has(const char *allow, const char *method) {
    size_t len = strlen(method);
    if (len == 0) {
        return false;
    }
    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += len) {
        bool starts = p == allow || p[-1] == ' ';
        bool ends = p[len] == '\0' || p[len] == ',';
        if (starts && ends) {
            return true;
        }
    }
    return false;
}

/* A path spelled exactly as a literal pattern is that resource (issue 7, defect 6): the
 * match, or the 405, names that pattern and no ":param" one. */
static void check_literal_wins(const char *path, route_match_result r, const route_match *m) {
    for (size_t t = 0; ROUTER_TABLES[t] != NULL; t++) {
        for (const api_route *rt = ROUTER_TABLES[t]; rt->method != NULL; rt++) {
            if (strchr(rt->pattern, ':') == NULL && strcmp(rt->pattern, path) == 0) {
                FUZZ_CHECK(r != ROUTE_NOT_FOUND && strcmp(m->pattern, rt->pattern) == 0);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *method = fuzz_take_line(&in, NULL);
    char *path = fuzz_take_rest(&in, NULL);

    route_match m, again;
    route_match_result r = router_match(ROUTER_TABLES, method, path, &m);
    route_match_result r2 = router_match(ROUTER_TABLES, method, path, &again);
    FUZZ_CHECK(r == r2 && m.route == again.route && m.pattern == again.pattern &&
               m.nparams == again.nparams && strcmp(m.allow, again.allow) == 0);

    check_literal_wins(path, r, &m);
    switch (r) {
    case ROUTE_MATCHED:
        FUZZ_CHECK(m.route != NULL && m.pattern == m.route->pattern);
        FUZZ_CHECK(strcmp(m.route->method, method) == 0 ||
                   (strcmp(method, "HEAD") == 0 && strcmp(m.route->method, "GET") == 0));
        FUZZ_CHECK(m.nparams == count_params(m.pattern));
        FUZZ_CHECK(m.nparams >= 0 && m.nparams <= ROUTE_MAX_PARAMS);
        for (int i = 0; i < m.nparams; i++) {
            size_t len = strnlen(m.params[i], sizeof m.params[i]);
            FUZZ_CHECK(len > 0 && len < sizeof m.params[i]);
        }
        FUZZ_CHECK(allow_has(m.allow, m.route->method));
        FUZZ_CHECK(allow_has(m.allow, "OPTIONS"));
        if (allow_has(m.allow, "GET")) {
            FUZZ_CHECK(allow_has(m.allow, "HEAD"));
        }
        break;
    case ROUTE_NO_METHOD:
        FUZZ_CHECK(m.route == NULL && m.pattern != NULL);
        FUZZ_CHECK(allow_has(m.allow, "OPTIONS"));
        if (allow_has(m.allow, "GET")) {
            FUZZ_CHECK(allow_has(m.allow, "HEAD"));
        }
        FUZZ_CHECK(!allow_has(m.allow, method) || strcmp(method, "OPTIONS") == 0);
        break;
    case ROUTE_NOT_FOUND:
        FUZZ_CHECK(m.route == NULL && m.pattern == NULL && m.allow[0] == '\0');
        break;
    default:
        FUZZ_CHECK(!"router_match returned an unknown result");
    }

    free(path);
    free(method);
    return 0;
}
