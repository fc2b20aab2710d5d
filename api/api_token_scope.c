/*
 * api_token_scope.c: scope names and route declarations (see api_token_scope.h).
 */
#include "api/api_token_scope.h"

#include <string.h>

static const struct {
    unsigned bit;
    const char *name;
} SCOPES[] = {
    {API_SCOPE_TASKS_READ, "tasks:read"},           {API_SCOPE_TASKS_WRITE, "tasks:write"},
    {API_SCOPE_WEBHOOKS_MANAGE, "webhooks:manage"}, {API_SCOPE_REPORTS, "reports"},
    {API_SCOPE_INSIGHTS_READ, "insights:read"},     {API_SCOPE_PROJECTS_READ, "projects:read"},
    {API_SCOPE_PROJECTS_WRITE, "projects:write"},
};
#define NSCOPES (sizeof SCOPES / sizeof SCOPES[0])

const char *api_scope_name(unsigned bit) {
    for (size_t i = 0; i < NSCOPES; i++) {
        if (SCOPES[i].bit == bit)
            return SCOPES[i].name;
    }
    return NULL;
}

unsigned api_scope_parse(const char *name) {
    for (size_t i = 0; name != NULL && i < NSCOPES; i++) {
        if (strcmp(SCOPES[i].name, name) == 0)
            return SCOPES[i].bit;
    }
    return 0;
}

json_t *api_scopes_json(unsigned mask) {
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < NSCOPES; i++) {
        if ((mask & SCOPES[i].bit) != 0 &&
            json_array_append_new(out, json_string(SCOPES[i].name)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

bool api_scope_declared(unsigned route_scope) {
    return route_scope == API_SCOPE_ANY || route_scope == API_SCOPE_SESSION ||
           route_scope == API_SCOPE_PUBLIC || api_scope_name(route_scope) != NULL;
}
