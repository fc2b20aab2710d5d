/*
 * schema_docs.c: serving the documents of TASKBUS_SCHEMAS_DIR (see schema_docs.h).
 */
#include "api/schema_docs.h"

#include <stdio.h>

#include "api/if_match.h"
#include "api/schema_docs_cache.h"
#include "shared/log.h"

/* How long a kept document is served before the folder is looked at again. */
#define SCHEMA_DOCS_RECHECK_MS 1000

/* The process's built documents. Global mutable state: guarded by its own mutex
 * (schema_docs_cache.h); the API serves each connection on its own thread. */
static schema_docs_cache g_docs = SCHEMA_DOCS_CACHE_INIT(SCHEMA_DOCS_RECHECK_MS);

void schema_docs_serve(api_request_ctx *ctx, const char *name, const char *what) {
    char detail[128];
    const char *dir = ctx->app->cfg->schemas_dir;
    schema_doc *doc = schema_docs_cache_get(&g_docs, dir, name);
    if (doc == NULL) {
        api_respond_error(ctx, 500, "internal-error", "out of memory");
        return;
    }
    if (doc->status == 200) {
        api_set_header(ctx, "ETag", doc->etag);
        api_set_header(ctx, "Cache-Control", "no-cache");
        if (if_match_etag_list_matches(api_header(ctx, "If-None-Match"), doc->etag, true))
            api_respond_empty(ctx, 304);
        else
            api_respond_json_text(ctx, 200, doc->text, doc->len);
    } else if (doc->status == 404) {
        snprintf(detail, sizeof detail, "%s is not installed", what);
        api_respond_error(ctx, 404, "not-found", detail);
    } else {
        if (schema_docs_cache_claim_log(&g_docs, doc))
            log_json(LOG_ERROR, "a served schema document could not be loaded",
                     json_pack("{s:s,s:s,s:s}", "schemas_dir", dir, "document", name, "error",
                               doc->error));
        snprintf(detail, sizeof detail, "%s could not be read", what);
        api_respond_error(ctx, 500, "internal-error", detail);
    }
    schema_docs_cache_release(&g_docs, doc);
}
