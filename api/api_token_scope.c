/*
 * api_token_scope.c: scope names and route declarations (see api_token_scope.h).
 */
#include "api/api_token_scope.h"

#include <stdio.h>
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

unsigned api_scopes_parse_list(const char *names) {
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names != NULL ? names : "");
    for (char *save = NULL, *n = strtok_r(buf, " ", &save); n != NULL;
         n = strtok_r(NULL, " ", &save))
        mask |= api_scope_parse(n);
    return mask;
}

void api_scopes_text(unsigned mask, char *out, size_t outlen) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NSCOPES && used < outlen; i++) {
        if ((mask & SCOPES[i].bit) == 0)
            continue;
        int n = snprintf(out + used, outlen - used, "%s%s", used > 0 ? " " : "", SCOPES[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

bool api_scope_declared(unsigned route_scope) {
    return route_scope == API_SCOPE_ANY || route_scope == API_SCOPE_SESSION ||
           route_scope == API_SCOPE_ADMIN || route_scope == API_SCOPE_PUBLIC ||
           api_scope_name(route_scope) != NULL;
}
