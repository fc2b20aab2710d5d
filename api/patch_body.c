/*
 * patch_body.c: the media type check and parse of a PATCH body (see patch_body.h).
 * Rules: "application/merge-patch+json" matches in any case, with or without parameters.
 */
#include "api/patch_body.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/request_body.h"

static bool is_merge_patch_type(const char *ct) {
    static const char TYPE[] = "application/merge-patch+json";
    if (ct == NULL || strncasecmp(ct, TYPE, sizeof TYPE - 1) != 0) {
        return false;
    }
    char next = ct[sizeof TYPE - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

int patch_body_parse(api_request_ctx *ctx) {
    const char *ct = api_header(ctx, "Content-Type");
    if (!request_body_is_json_type(ct) && !is_merge_patch_type(ct)) {
        api_respond_error(ctx, 415, "unsupported-media-type",
                          "the patch must be sent as application/merge-patch+json or "
                          "application/json");
        return -1;
    }
    char detail[320];
    if (request_body_parse_object(ctx->req->binary_body, ctx->req->binary_body_length, &ctx->body,
                                  detail, sizeof detail) != BODY_OK) {
        api_respond_error(ctx, 400, "malformed-json", detail);
        return -1;
    }
    return 0;
}
