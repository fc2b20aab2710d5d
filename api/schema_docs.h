/*
 * schema_docs.h: serving the documents of TASKBUS_SCHEMAS_DIR (GET /openapi.json,
 * GET /asyncapi.json).
 *
 * Owns: the one way a route answers with a document of the schemas folder: bundled
 * (shared/json_bundle.h: every file $ref inlined, so one URL is the whole contract) once
 * per change of the folder and kept as text (api/schema_docs_cache.h: a deploy that
 * replaces a file is served at the next request).
 * Rules: 200 carries ETag (a strong tag of the text) and Cache-Control: no-cache (keep it,
 * revalidate); If-None-Match holding that tag (weak comparison) answers 304 with no body.
 * A missing document is 404 not-found; an unreadable or broken one (invalid JSON, a
 * reference that does not resolve) is logged with its cause (once per change of the
 * folder) and answered 500 without it.
 */
#ifndef TASKBUS_API_SCHEMA_DOCS_H
#define TASKBUS_API_SCHEMA_DOCS_H

#include "api/http_context.h"

/* Answers ctx with <TASKBUS_SCHEMAS_DIR>/<name>, bundled; what names it in answers and
 * logs ("the OpenAPI document"). */
void schema_docs_serve(api_request_ctx *ctx, const char *name, const char *what);

#endif
