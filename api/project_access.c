/*
 * project_access.c: a route's check that the caller may reach a project (see
 * project_access.h).
 */
#include "api/project_access.h"

#include "api/project_store.h"

int project_access_check(api_request_ctx *ctx, const char *project, project_access *out) {
    *out = (project_access){0};
    project_outcome o =
        project_store_role_rank(ctx->app->pg, project, ctx->user_id, &out->rank, &out->inbox);
    if (o == PROJECT_UNAVAILABLE) {
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "the project could not be read; retry shortly");
        return 0;
    }
    if (o != PROJECT_OK) {
        api_respond_error(ctx, 404, "not-found", "no such project");
        return 0;
    }
    return 1;
}
