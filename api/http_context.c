/*
 * http_context.c: how handlers answer (the api_respond_* functions of http_context.h).
 *
 * Owns: turning a JSON value or a problem into the ulfius response, with its status and
 * Content-Type. Rules: bodies passed in are stolen on every path; a request is answered
 * once (a second answer is logged and dropped, so the first one stands); when even the
 * serialisation fails the client still gets a fixed 500 problem.
 */
#include "api/http_context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/problem.h"

#define JSON_CONTENT_TYPE "application/json"

static const char FALLBACK_500[] =
    "{\"type\":\"/problems/internal-error\",\"title\":\"Internal server error\",\"status\":500}";

static bool already_answered(const api_request_ctx *ctx, int status) {
    if (ctx->status == 0) {
        return false;
    }
    log_json(LOG_ERROR, "a second answer to one request was dropped",
             json_pack("{s:i,s:i}", "status", ctx->status, "dropped_status", status));
    return true;
}

static void answer_fallback(api_request_ctx *ctx) {
    if (ulfius_set_binary_body_response(ctx->resp, 500, FALLBACK_500, sizeof FALLBACK_500 - 1) !=
            U_OK ||
        ulfius_add_header_to_response(ctx->resp, "Content-Type", PROBLEM_CONTENT_TYPE) != U_OK) {
        LOG_ERRORF("could not even set the fallback 500 response");
    }
    ctx->status = 500;
}

/* Serialises body (stolen) and sets it as the response. */
static void answer_body(api_request_ctx *ctx, int status, const char *content_type, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        LOG_ERRORF("could not serialise a %d response body", status);
        answer_fallback(ctx);
        return;
    }
    if (ulfius_set_binary_body_response(ctx->resp, (unsigned)status, text, strlen(text)) != U_OK ||
        ulfius_add_header_to_response(ctx->resp, "Content-Type", content_type) != U_OK) {
        free(text);
        LOG_ERRORF("could not set a %d response", status);
        answer_fallback(ctx);
        return;
    }
    free(text);
    ctx->status = status;
}

void api_respond_json(api_request_ctx *ctx, int status, json_t *body) {
    if (already_answered(ctx, status)) {
        json_decref(body);
        return;
    }
    if (body == NULL) {
        api_respond_empty(ctx, status);
        return;
    }
    answer_body(ctx, status, JSON_CONTENT_TYPE, body);
}

void api_respond_json_text(api_request_ctx *ctx, int status, const char *text, size_t len) {
    api_respond_bytes(ctx, status, JSON_CONTENT_TYPE, text, len);
}

void api_respond_bytes(api_request_ctx *ctx, int status, const char *content_type, const char *data,
                       size_t len) {
    if (already_answered(ctx, status)) {
        return;
    }
    if (ulfius_set_binary_body_response(ctx->resp, (unsigned)status, data, len) != U_OK ||
        ulfius_add_header_to_response(ctx->resp, "Content-Type", content_type) != U_OK) {
        LOG_ERRORF("could not set a %d response", status);
        answer_fallback(ctx);
        return;
    }
    ctx->status = status;
}

void api_respond_problem(api_request_ctx *ctx, json_t *problem) {
    json_int_t status = json_integer_value(json_object_get(problem, "status"));
    if (already_answered(ctx, (int)status)) {
        json_decref(problem);
        return;
    }
    if (!json_is_object(problem)) {
        json_decref(problem);
        answer_fallback(ctx);
        return;
    }
    if (status < 400 || status > 599) {
        LOG_ERRORF("a problem without a valid error status (%lld) was answered as 500",
                   (long long)status);
        status = 500;
        if (json_object_set_new(problem, "status", json_integer(status)) != 0) {
            json_decref(problem);
            answer_fallback(ctx);
            return;
        }
    }
    if (json_object_get(problem, "request_id") == NULL && ctx->request_id[0] != '\0' &&
        json_object_set_new(problem, "request_id", json_string(ctx->request_id)) != 0) {
        LOG_WARNF("could not add the request id to a problem");
    }
    answer_body(ctx, (int)status, PROBLEM_CONTENT_TYPE, problem);
}

void api_respond_error(api_request_ctx *ctx, int status, const char *slug, const char *detail) {
    json_t *problem = problem_new(status, slug, detail, ctx->request_id);
    if (problem == NULL) {
        if (!already_answered(ctx, status)) {
            answer_fallback(ctx);
        }
        return;
    }
    api_respond_problem(ctx, problem);
}

void api_respond_empty(api_request_ctx *ctx, int status) {
    if (already_answered(ctx, status)) {
        return;
    }
    if (ulfius_set_empty_body_response(ctx->resp, (unsigned)status) != U_OK) {
        LOG_ERRORF("could not set an empty %d response", status);
        answer_fallback(ctx);
        return;
    }
    ctx->status = status;
}

void api_set_header(api_request_ctx *ctx, const char *name, const char *value) {
    if (ulfius_add_header_to_response(ctx->resp, name, value) != U_OK) {
        LOG_ERRORF("could not set response header %s", name);
    }
}

const char *api_header(const api_request_ctx *ctx, const char *name) {
    if (ctx->req == NULL || ctx->req->map_header == NULL) {
        return NULL;
    }
    return u_map_get_case(ctx->req->map_header, name);
}

void api_respond_field_errors(api_request_ctx *ctx, json_t *errors) {
    size_t n = json_array_size(errors);
    char detail[64];
    snprintf(detail, sizeof detail, "%zu field%s invalid", n, n == 1 ? " is" : "s are");
    /* A NULL problem (out of memory) is answered 500 by api_respond_problem. */
    json_t *problem = problem_new(422, "validation-error", detail, ctx->request_id);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        problem_add_field_error(problem, json_string_value(json_object_get(e, "field")),
                                json_string_value(json_object_get(e, "message")));
    }
    json_decref(errors);
    api_respond_problem(ctx, problem);
}

int api_field_error_add(json_t *errors, const char *field, const char *message) {
    json_t *e = json_pack("{s:s,s:s}", "field", field, "message", message);
    if (e == NULL)
        e = json_pack("{s:s,s:s}", "field", "query", "message", message);
    return e != NULL && json_array_append_new(errors, e) == 0 ? 0 : -1;
}

bool api_respond_if_field_errors(api_request_ctx *ctx, json_t *errors, bool failed) {
    if (errors == NULL || failed) {
        json_decref(errors);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return true;
    }
    if (json_array_size(errors) > 0) {
        api_respond_field_errors(ctx, errors);
        return true;
    }
    json_decref(errors);
    return false;
}
