/*
 * patch_body.h: the body of a PATCH (RFC 7396 JSON merge patch).
 *
 * Owns: the media types a PATCH accepts (application/merge-patch+json, and
 * application/json for clients that send every body that way) and the parse into a JSON
 * object. Rules: a PATCH route parses its body itself, after its own earlier checks (the
 * task PATCH answers a stale If-Match with 412 before it looks at the body), so this is a
 * call, not a route flag; the answers are 415 and 400 with problem bodies.
 */
#ifndef TASKBUS_API_PATCH_BODY_H
#define TASKBUS_API_PATCH_BODY_H

#include "api/http_context.h"

/* Parses the request body into ctx->body (the router frees it): 0, or -1 after
 * answering 415 (another media type) or 400 (not one JSON object). */
int patch_body_parse(api_request_ctx *ctx);

#endif
