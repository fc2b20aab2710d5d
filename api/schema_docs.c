/*
 * schema_docs.c: serving the documents of TASKBUS_SCHEMAS_DIR (see schema_docs.h).
 */
#include "api/schema_docs.h"

#include <stdio.h>

#include "shared/json_bundle.h"
#include "shared/log.h"

void schema_docs_serve(api_request_ctx *ctx, const char *name, const char *what) {
    char err[512] = "";
    char detail[128];
    int missing = 0;
    json_t *doc = json_bundle_load(ctx->app->cfg->schemas_dir, name, &missing, err, sizeof err);
    if (doc != NULL) {
        api_respond_json(ctx, 200, doc);
        return;
    }
    if (missing) {
        snprintf(detail, sizeof detail, "%s is not installed", what);
        api_respond_error(ctx, 404, "not-found", detail);
        return;
    }
    log_json(LOG_ERROR, "a served schema document could not be loaded",
             json_pack("{s:s,s:s,s:s}", "schemas_dir", ctx->app->cfg->schemas_dir, "document", name,
                       "error", err));
    snprintf(detail, sizeof detail, "%s could not be read", what);
    api_respond_error(ctx, 500, "internal-error", detail);
}
