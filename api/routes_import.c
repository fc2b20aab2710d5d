/*
 * routes_import.c: POST /api/v1/tasks/import and GET /api/v1/tasks/import/:id
 * (docs/decisions.md "Import").
 *
 * Owns: the HTTP side of bulk imports: the media type (application/json array or NDJSON,
 * else 415), the item split (import_parse.c), validating each item exactly like a create
 * (task_validation.h) into the report [{line, field, message}] (field null when the line
 * is not a JSON object), assigning each accepted item its command id and task id
 * (UUIDv7), storing it all in one transaction (import_store.c), and the answers:
 * 202 {import_id, status, total, accepted, rejected, errors} with Location, and the
 * progress document. Idempotency-Key is honoured over the raw body bytes.
 * Rules: the body is not a JSON object, so the route does not take API_ROUTE_JSON_BODY
 * and reads the raw body itself. Nothing is produced to Kafka here: taskbus-importer
 * produces the stored items as fast as the writer keeps up, so an import never floods it.
 * Another user's import is 404.
 */
#include <stdio.h>
#include <string.h>

#include "api/idempotency.h"
#include "api/import_parse.h"
#include "api/import_store.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/task_validation.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/uuid7.h"

typedef struct import_report {
    json_t *errors;   /* [{line, field, message}] */
    json_t *accepted; /* [{command_id, task_id, fields}] */
    int rejected;
} import_report;

static int add_error(json_t *errors, long line, const char *field, const char *message) {
    json_t *e = json_pack("{s:I,s:o,s:s}", "line", (json_int_t)line, "field",
                          field != NULL ? json_string(field) : json_null(), "message",
                          message != NULL ? message : "invalid");
    return e != NULL ? json_array_append_new(errors, e) : -1;
}

/* Accepts the validated fields (stolen) of one item under fresh ids. */
static int accept_item(import_report *rep, json_t *fields) {
    char command_id[UUID_STR_LEN], task_id[UUID_STR_LEN];
    uuid7_generate(command_id);
    uuid7_generate(task_id);
    json_t *row =
        json_pack("{s:s,s:s,s:o}", "command_id", command_id, "task_id", task_id, "fields", fields);
    return row != NULL ? json_array_append_new(rep->accepted, row) : -1;
}

/* Validates one object item like a create body. 0, or -1 out of memory. */
static int check_object(import_report *rep, const import_item *item) {
    json_t *errs = json_array();
    json_t *fields = NULL;
    if (errs == NULL) {
        return -1;
    }
    int nerr = task_validate_import(item->value, &fields, errs);
    int rc = 0;
    if (nerr == 0 && fields != NULL) {
        rc = accept_item(rep, fields);
    } else {
        rep->rejected++;
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e) {
            rc |= add_error(rep->errors, item->line, json_string_value(json_object_get(e, "field")),
                            json_string_value(json_object_get(e, "message")));
        }
        if (json_array_size(errs) == 0) {
            rc |= add_error(rep->errors, item->line, NULL, "the task is invalid");
        }
        json_decref(fields);
    }
    json_decref(errs);
    return rc;
}

static int check_items(import_report *rep, const import_items *items) {
    for (size_t i = 0; i < items->count; i++) {
        const import_item *item = &items->items[i];
        int rc = 0;
        if (item->value == NULL || !json_is_object(item->value)) {
            rep->rejected++;
            rc = add_error(rep->errors, item->line, NULL,
                           item->value == NULL ? item->error : "must be a JSON object (a task)");
        } else {
            rc = check_object(rep, item);
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

static void answer_parse_failure(api_request_ctx *ctx, import_parse_result rc, const char *detail) {
    if (rc == IMPORT_PARSE_MALFORMED) {
        api_respond_error(ctx, 400, "malformed-json", detail);
    } else if (rc == IMPORT_PARSE_EMPTY || rc == IMPORT_PARSE_TOO_MANY) {
        api_respond_error(ctx, 422, "validation-error", detail);
    } else {
        api_respond_error(ctx, 500, "internal-error", NULL);
    }
}

static void answer_accepted(api_request_ctx *ctx, const char *import_id, size_t total,
                            import_report *rep) {
    size_t accepted = json_array_size(rep->accepted);
    log_json(LOG_INFO, "import stored",
             json_pack("{s:s,s:s,s:I,s:I,s:i}", "import_id", import_id, "user_id", ctx->user_id,
                       "total", (json_int_t)total, "accepted", (json_int_t)accepted, "rejected",
                       rep->rejected));
    char location[96];
    snprintf(location, sizeof location, "/api/v1/tasks/import/%s", import_id);
    json_t *body =
        json_pack("{s:s,s:s,s:I,s:I,s:i,s:O}", "import_id", import_id, "status",
                  accepted > 0 ? "queued" : "done", "total", (json_int_t)total, "accepted",
                  (json_int_t)accepted, "rejected", rep->rejected, "errors", rep->errors);
    if (body == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_set_header(ctx, "Location", location);
    api_respond_json(ctx, 202, body);
}

/* import_id comes from the idempotency plan: a retry that took over a crashed attempt's
 * claim stores under the same id, which import_store_create makes a no-op. */
static void import_parsed(api_request_ctx *ctx, const import_items *items, const char *import_id) {
    import_report rep = {.errors = json_array(), .accepted = json_array(), .rejected = 0};
    char err[512];
    if (rep.errors == NULL || rep.accepted == NULL || check_items(&rep, items) != 0) {
        api_respond_error(ctx, 500, "internal-error", NULL);
    } else if (import_store_create(ctx->app->pg, import_id, ctx->user_id, (int)items->count,
                                   rep.rejected, rep.accepted, rep.errors, err, sizeof err) != 0) {
        log_json(LOG_ERROR, "import not stored", json_pack("{s:s}", "error", err));
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "the import could not be stored; retry shortly");
    } else {
        answer_accepted(ctx, import_id, items->count, &rep);
    }
    json_decref(rep.errors);
    json_decref(rep.accepted);
}

static void import_body(api_request_ctx *ctx, import_format format, const char *import_id) {
    char detail[320];
    import_items items;
    import_parse_result rc =
        import_parse(format, ctx->req->binary_body, ctx->req->binary_body_length, IMPORT_MAX_ITEMS,
                     &items, detail, sizeof detail);
    if (rc != IMPORT_PARSE_OK) {
        answer_parse_failure(ctx, rc, detail);
        return;
    }
    import_parsed(ctx, &items, import_id);
    import_items_free(&items);
}

static void post_import(api_request_ctx *ctx) {
    import_format format = import_format_from_content_type(api_header(ctx, "Content-Type"));
    if (format == IMPORT_FORMAT_UNSUPPORTED) {
        api_respond_error(ctx, 415, "unsupported-media-type",
                          "send the tasks as Content-Type: application/json (an array) or "
                          "application/x-ndjson (one task per line)");
        return;
    }
    char fresh_id[UUID_STR_LEN];
    uuid7_generate(fresh_id);
    json_t *plan = json_pack("{s:s}", "import_id", fresh_id);
    idempotency_claim claim;
    if (plan == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    if (idempotency_begin(ctx, ctx->req->binary_body, ctx->req->binary_body_length, plan, &claim) ==
        IDEMPOTENCY_PROCEED) {
        const char *import_id = json_string_value(json_object_get(claim.plan, "import_id"));
        /* Storing under the same id again is a no-op, so after any 5xx (a lost commit
         * reply included) the retry must reuse the id: keep the plan. */
        claim.in_doubt = true;
        if (uuid_is_valid(import_id)) {
            import_body(ctx, format, import_id);
        } else {
            LOG_ERRORF("import: an idempotency plan is not an import plan");
            api_respond_error(ctx, 500, "internal-error", NULL);
        }
    }
    idempotency_finish(ctx, &claim);
    json_decref(plan);
}

static void get_import(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    json_t *progress = NULL;
    import_store_result rc = uuid_is_valid(id)
                                 ? import_store_get(ctx->app->pg, id, ctx->user_id, &progress)
                                 : IMPORT_STORE_NOT_FOUND;
    if (rc == IMPORT_STORE_FOUND) {
        api_respond_json(ctx, 200, progress);
    } else if (rc == IMPORT_STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such import");
    } else {
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "the import's progress could not be read; retry shortly");
    }
}

const api_route ROUTES_IMPORT[] = {
    {"POST", "/api/v1/tasks/import", post_import, API_ROUTE_AUTH | API_ROUTE_LARGE_BODY,
     API_SCOPE_TASKS_WRITE},
    {"GET", "/api/v1/tasks/import/:id", get_import, API_ROUTE_AUTH, API_SCOPE_TASKS_READ},
    {NULL, NULL, NULL, 0, 0},
};
