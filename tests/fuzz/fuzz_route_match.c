/*
 * fuzz_route_match.c: libFuzzer target for the route matcher (api/route_match.c) over the
 * API's real route tables (api/routes.h).
 *
 * Input: line 1 the method, the rest the raw request path.
 * Invariants: a match names a route of the requested method (or GET for HEAD) whose
 * pattern has as many ":params" as were filled; every param is a non-empty string that
 * fits its slot; the Allow list of a match or a 405 holds OPTIONS and the method that
 * matched, and HEAD wherever GET is; a 404 leaves nothing behind; the result does not
 * depend on anything but (method, path): the same call twice agrees.
 */
#include <stdlib.h>
#include <string.h>

#include "api/route_match.h"
#include "api/routes.h"
#include "fuzz_util.h"

/* The tables api/router.c joins (ROUTER_TABLES there), in the same order. */
static const api_route *const TABLES[] = {ROUTES_HEALTH,      ROUTES_AUTH,       ROUTES_USERS,
                                          ROUTES_TASKS_WRITE, ROUTES_TASKS_READ, ROUTES_IMPORT,
                                          ROUTES_EVENTS,      ROUTES_VERIFY,     ROUTES_WEBHOOKS,
                                          ROUTES_REPORTS,     ROUTES_INSIGHTS,   NULL};

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *method = fuzz_take_line(&in, NULL);
    char *path = fuzz_take_rest(&in, NULL);

    route_match m, again;
    route_match_result r = router_match(TABLES, method, path, &m);
    route_match_result r2 = router_match(TABLES, method, path, &again);
    FUZZ_CHECK(r == r2 && m.route == again.route && m.pattern == again.pattern &&
               m.nparams == again.nparams && strcmp(m.allow, again.allow) == 0);

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
