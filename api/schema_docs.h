/*
 * schema_docs.h: serving the documents of TASKBUS_SCHEMAS_DIR (GET /openapi.json,
 * GET /asyncapi.json).
 *
 * Owns: the one way a route answers with a document of the schemas folder: loaded per
 * request (a deploy that replaces the folder is served at once), bundled
 * (shared/json_bundle.h: every file $ref inlined, so one URL is the whole contract).
 * Rules: a missing document is 404 not-found; an unreadable or broken one (invalid JSON,
 * a reference that does not resolve) is logged with its cause and answered 500 without it.
 */
#ifndef TASKBUS_API_SCHEMA_DOCS_H
#define TASKBUS_API_SCHEMA_DOCS_H

#include "api/http_context.h"

/* Answers ctx with <TASKBUS_SCHEMAS_DIR>/<name>, bundled; what names it in answers and
 * logs ("the OpenAPI document"). */
void schema_docs_serve(api_request_ctx *ctx, const char *name, const char *what);

#endif
