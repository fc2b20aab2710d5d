/*
 * test_route_scopes.c: every route of the API declares what a personal API token needs
 * there (api/api_token_scope.h), so a route added without a scope fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/api_token_scope.h"
#include "api/router.h"

static void every_route_declares_a_scope(void **state) {
    (void)state;
    int routes = 0, authenticated = 0;
    for (const api_route *const *t = ROUTER_TABLES; *t != NULL; t++) {
        for (const api_route *r = *t; r->method != NULL; r++) {
            routes++;
            bool needs_auth = (r->flags & API_ROUTE_AUTH) != 0;
            authenticated += needs_auth;
            if (!api_scope_declared(r->scope))
                fail_msg("%s %s declares no scope", r->method, r->pattern);
            if (needs_auth == (r->scope == API_SCOPE_PUBLIC))
                fail_msg("%s %s: API_SCOPE_PUBLIC must be exactly the routes without a token",
                         r->method, r->pattern);
        }
    }
    assert_true(routes > 50);
    assert_true(authenticated > 40);
}

static void sessions_only_where_tokens_must_not_reach(void **state) {
    (void)state;
    /* Tokens cannot manage tokens, sessions, passwords or the account. */
    for (const api_route *const *t = ROUTER_TABLES; *t != NULL; t++) {
        for (const api_route *r = *t; r->method != NULL; r++) {
            bool account =
                strncmp(r->pattern, "/api/v1/tokens", 14) == 0 ||
                (strncmp(r->pattern, "/api/v1/auth/", 13) == 0 &&
                 (r->flags & API_ROUTE_AUTH) != 0) ||
                (strcmp(r->pattern, "/api/v1/users/me") == 0 && strcmp(r->method, "GET") != 0);
            if (account && r->scope != API_SCOPE_SESSION)
                fail_msg("%s %s must be API_SCOPE_SESSION", r->method, r->pattern);
        }
    }
}

static void scope_names_round_trip(void **state) {
    (void)state;
    int n = 0;
    for (unsigned bit = 1; bit <= API_SCOPES_GRANTABLE; bit <<= 1, n++) {
        const char *name = api_scope_name(bit);
        assert_non_null(name);
        assert_int_equal(api_scope_parse(name), bit);
    }
    assert_int_equal(n, 7);
    assert_int_equal(api_scope_parse("tasks:admin"), 0);
    assert_int_equal(api_scope_parse(NULL), 0);
    assert_null(api_scope_name(API_SCOPE_SESSION));
    assert_false(api_scope_declared(0));
    assert_false(api_scope_declared(API_SCOPE_TASKS_READ | API_SCOPE_TASKS_WRITE));
    char list[128];
    api_scopes_text(API_SCOPE_REPORTS | API_SCOPE_TASKS_READ | API_SCOPE_PROJECTS_WRITE, list,
                    sizeof list);
    assert_string_equal(list, "tasks:read reports projects:write");
    assert_int_equal(api_scopes_parse_list(list),
                     API_SCOPE_REPORTS | API_SCOPE_TASKS_READ | API_SCOPE_PROJECTS_WRITE);
    assert_int_equal(api_scopes_parse_list("tasks:read nonsense"), API_SCOPE_TASKS_READ);
    assert_int_equal(api_scopes_parse_list(""), 0);
    api_scopes_text(0, list, sizeof list);
    assert_string_equal(list, "");
    json_t *names = api_scopes_json(API_SCOPE_REPORTS | API_SCOPE_TASKS_READ);
    char *text = json_dumps(names, JSON_COMPACT);
    assert_string_equal(text, "[\"tasks:read\",\"reports\"]");
    free(text);
    json_decref(names);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_declares_a_scope),
        cmocka_unit_test(sessions_only_where_tokens_must_not_reach),
        cmocka_unit_test(scope_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
