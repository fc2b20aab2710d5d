/*
 * routes_webhooks.c: POST|GET /api/v1/webhooks, PATCH|DELETE /api/v1/webhooks/:id,
 * POST /api/v1/webhooks/:id/rotate-secret, POST /api/v1/webhooks/:id/test (a ping),
 * GET /api/v1/webhooks/:id/deliveries and POST .../deliveries/:delivery_id/redeliver
 * (docs/decisions.md "Webhooks" and "Managing a webhook").
 *
 * Owns: validating a registration ({url, event_types, project_id?}; other members are 422;
 * a user's webhook takes the v1 types, a project's the .v2 types; a project's webhook is
 * its owners' to register: 404 to a non-member, 403 below owner), the SSRF
 * check of the URL at registration (shared/ssrf_guard.h with TASKBUS_WEBHOOK_ALLOW: a
 * URL that is not http(s), does not resolve, or reaches a non-public address that is not
 * allowed is 422 naming `url`), the secret (32 random bytes, base64url, shown only in the
 * 201 and in the answer to a rotation), the merge patch of url, event_types and enabled
 * (each checked as at registration, every bad member listed; null or any other member is
 * 422), the ping event of a test delivery, and the answers. Rules: another user's webhook
 * is 404 on every verb; a disabled webhook is neither pinged nor redelivered (409); the
 * secret never appears in a list, a log line or an error. A project's webhook is managed
 * by the user who registered it, like their own; it lives while they own the project
 * (0025_project_webhooks.sql deletes it when they stop). The deliveries log is keyset
 * paginated on the delivery id (a UUIDv7, so newest first is id order); its cursor is the
 * last id of the page. A registration whose user was deleted while it ran is 401.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/auth_sessions.h"
#include "api/list_query.h"
#include "api/patch_body.h"
#include "api/project_access.h"
#include "api/request_body.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/webhook_store.h"
#include "shared/cloudevent.h"
#include "shared/log.h"
#include "shared/project_roles.h"
#include "shared/ssrf_guard.h"
#include "shared/task_event_types.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define SECRET_BYTES 32
#define EVENT_TYPES_MAX 20
#define DELIVERIES_LIMIT_DEFAULT 20
#define DELIVERIES_LIMIT_MAX 100

/* The types a webhook may subscribe to, by scope: a user's webhook takes the v1 types (the
 * task-events facts of what the user did), a project's the v2 types (the task-events.v2
 * facts of every task in it). Index i of one is the twin of index i of the other. */
static const char *const EVENT_TYPES_V1[] = {TASK_EVENT_ANY, TASK_EVENT_CREATED, TASK_EVENT_UPDATED,
                                             TASK_EVENT_COMPLETED, TASK_EVENT_DELETED};
static const char *const EVENT_TYPES_V2[] = {TASK_EVENT_ANY_V2, TASK_EVENT_CREATED_V2,
                                             TASK_EVENT_UPDATED_V2, TASK_EVENT_COMPLETED_V2,
                                             TASK_EVENT_DELETED_V2};
#define EVENT_TYPE_COUNT (sizeof EVENT_TYPES_V1 / sizeof EVENT_TYPES_V1[0])

typedef enum { TYPES_UNKNOWN, TYPES_V1, TYPES_V2 } types_version;

static types_version version_of(const char *t) {
    for (size_t i = 0; i < EVENT_TYPE_COUNT; i++) {
        if (strcmp(t, EVENT_TYPES_V1[i]) == 0) {
            return TYPES_V1;
        }
        if (strcmp(t, EVENT_TYPES_V2[i]) == 0) {
            return TYPES_V2;
        }
    }
    return TYPES_UNKNOWN;
}

/* Checks event_types: 1-20 distinct known types of one version, written to *version. */
static int check_event_types(const json_t *types, json_t *errors, types_version *version) {
    *version = TYPES_UNKNOWN;
    if (!json_is_array(types) || json_array_size(types) == 0 ||
        json_array_size(types) > EVENT_TYPES_MAX) {
        return api_field_error_add(
            errors, "event_types",
            "must be an array of 1 to 20 event types (\"taskbus.task.*\" or exact "
            "types such as \"taskbus.task.created\"; a project's webhook takes the .v2 types)");
    }
    size_t i;
    json_t *t;
    json_array_foreach(types, i, t) {
        types_version v = json_is_string(t) ? version_of(json_string_value(t)) : TYPES_UNKNOWN;
        if (v == TYPES_UNKNOWN) {
            return api_field_error_add(
                errors, "event_types",
                "each must be taskbus.task.*, taskbus.task.created, taskbus.task.updated, "
                "taskbus.task.completed or taskbus.task.deleted, or (a project's webhook) "
                "one of these followed by .v2");
        }
        if (i > 0 && v != *version) {
            return api_field_error_add(errors, "event_types",
                                       "must not mix v1 types and .v2 types");
        }
        *version = v;
        for (size_t j = 0; j < i; j++) {
            if (json_equal(t, json_array_get(types, j))) {
                return api_field_error_add(errors, "event_types", "must not repeat a type");
            }
        }
    }
    return 0;
}

/* The 422 of types that are not the scope's. */
static int scope_types_error(json_t *errors, bool project) {
    return api_field_error_add(
        errors, "event_types",
        project ? "a project's webhook takes the .v2 types (taskbus.task.*.v2, "
                  "taskbus.task.created.v2, ...): its events carry the project and the actor"
                : "a webhook without project_id takes the v1 types; the .v2 types are for a "
                  "project's webhook (give project_id)");
}

/* Checks the URL against the SSRF guard. 0 (maybe with an error added), or -1 (the
 * allow-list itself is broken: a server fault). */
static int check_url(const api_request_ctx *ctx, const json_t *url, json_t *errors) {
    if (!json_is_string(url)) {
        return api_field_error_add(errors, "url",
                                   "is required: the http or https URL to deliver to");
    }
    char err[320];
    ssrf_allow *allow = ssrf_allow_parse(ctx->app->cfg->webhook_allow, err, sizeof err);
    if (allow == NULL) {
        LOG_ERRORF("webhooks: %s", err);
        return -1;
    }
    ssrf_target target;
    ssrf_result rc = ssrf_check_url(json_string_value(url), allow, &target, err, sizeof err);
    ssrf_allow_free(allow);
    return rc == SSRF_OK ? 0 : api_field_error_add(errors, "url", err);
}

/* Checks the project_id of a registration (absent: the user's own webhook) into
 * project ("" when absent). */
static int check_project(const json_t *value, json_t *errors, char project[UUID_STR_LEN]) {
    project[0] = '\0';
    if (value == NULL) {
        return 0;
    }
    if (!json_is_string(value) || !uuid_canonical(json_string_value(value), project)) {
        project[0] = '\0';
        return api_field_error_add(errors, "project_id",
                                   "must be a project id (a UUID); leave it out for a webhook "
                                   "of your own actions");
    }
    return 0;
}

/* Validates the registration body, the project it names (if any) into project. 0 when
 * valid; 1 after answering. */
static int validate(api_request_ctx *ctx, char project[UUID_STR_LEN]) {
    project[0] = '\0';
    json_t *errors = json_array();
    int rc = errors != NULL ? 0 : -1;
    const char *key;
    json_t *value;
    json_object_foreach(ctx->body, key, value) {
        if (rc == 0 && strcmp(key, "url") != 0 && strcmp(key, "event_types") != 0 &&
            strcmp(key, "project_id") != 0) {
            rc = api_field_error_add(errors, key, "is not a field of a webhook");
        }
    }
    if (rc == 0) {
        rc = check_project(json_object_get(ctx->body, "project_id"), errors, project);
    }
    types_version version = TYPES_UNKNOWN;
    if (rc == 0) {
        rc = check_event_types(json_object_get(ctx->body, "event_types"), errors, &version);
    }
    bool project_read = project[0] != '\0' || json_object_get(ctx->body, "project_id") == NULL;
    if (rc == 0 && project_read && version != TYPES_UNKNOWN &&
        (version == TYPES_V2) != (project[0] != '\0')) {
        rc = scope_types_error(errors, project[0] != '\0');
    }
    if (rc == 0) {
        rc = check_url(ctx, json_object_get(ctx->body, "url"), errors);
    }
    return api_respond_if_field_errors(ctx, errors, rc != 0) ? 1 : 0;
}

static void respond_unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable", "webhooks cannot be reached; retry shortly");
}

static void respond_not_owner(api_request_ctx *ctx) {
    api_respond_error(ctx, 403, "forbidden",
                      "a project's webhooks are its owners' to register: your role there is "
                      "lower than owner");
}

#define SECRET_TEXT_LEN                                                                            \
    sodium_base64_ENCODED_LEN(SECRET_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)

/* A new secret: 32 random bytes as base64url text (the caller wipes it). */
static void new_secret(char secret[SECRET_TEXT_LEN]) {
    unsigned char raw[SECRET_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(secret, SECRET_TEXT_LEN, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

/* A project's webhook is its owners' to register: 1, or the request was answered (404
 * not a member, 403 a lower role, 503). */
static int project_owner(api_request_ctx *ctx, const char *project) {
    project_access access;
    if (project_access_check(ctx, project, &access) != 1) {
        return 0;
    }
    if (access.rank < PROJECT_RANK_OWNER) {
        respond_not_owner(ctx);
        return 0;
    }
    return 1;
}

static void create_webhook(api_request_ctx *ctx) {
    char project[UUID_STR_LEN];
    if (validate(ctx, project) != 0 || (project[0] != '\0' && project_owner(ctx, project) != 1)) {
        return;
    }
    char secret[SECRET_TEXT_LEN];
    new_secret(secret);
    char id[UUID_STR_LEN], err[256];
    uuid7_generate(id);
    json_t *doc = NULL;
    store_result rc = webhook_store_create(
        ctx->app->pg, id, ctx->user_id, project[0] != '\0' ? project : NULL,
        json_string_value(json_object_get(ctx->body, "url")),
        json_object_get(ctx->body, "event_types"), secret, &doc, err, sizeof err);
    if (rc == STORE_OWNER_GONE) {
        auth_respond_account_gone(ctx);
    } else if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such project");
    } else if (rc == STORE_FORBIDDEN) {
        respond_not_owner(ctx);
    } else if (rc == STORE_LIMIT) {
        json_t *errors = json_array();
        api_field_error_add(errors, "url",
                            "a user may register at most 100 webhooks; delete one first");
        api_respond_field_errors(ctx, errors);
    } else if (rc != STORE_FOUND || json_object_set_new(doc, "secret", json_string(secret))) {
        json_decref(doc);
        respond_unavailable(ctx);
    } else {
        log_json(LOG_INFO, "webhook registered",
                 json_pack("{s:s,s:s}", "webhook_id", id, "user_id", ctx->user_id));
        api_respond_json(ctx, 201, doc);
    }
    sodium_memzero(secret, sizeof secret);
}

static void list_webhooks(api_request_ctx *ctx) {
    json_t *items = NULL;
    if (webhook_store_list(ctx->app->pg, ctx->user_id, &items) != STORE_FOUND) {
        respond_unavailable(ctx);
        return;
    }
    api_respond_json(ctx, 200, json_pack("{s:o}", "items", items));
}

static void delete_webhook(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    store_result rc =
        uuid_is_valid(id) ? webhook_store_delete(ctx->app->pg, id, ctx->user_id) : STORE_NOT_FOUND;
    if (rc == STORE_FOUND) {
        api_respond_empty(ctx, 204);
    } else if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
    } else {
        respond_unavailable(ctx);
    }
}

/* --- PATCH /api/v1/webhooks/:id ----------------------------------------------------- */

/* Checks every member of the patch (each bad one listed), the version of its types (if
 * any) into *version. 0 when valid; 1 after answering. */
static int validate_patch(api_request_ctx *ctx, types_version *version) {
    *version = TYPES_UNKNOWN;
    json_t *errors = json_array();
    int rc = errors != NULL ? 0 : -1;
    const char *key;
    json_t *value;
    json_object_foreach(ctx->body, key, value) {
        if (rc != 0) {
            break;
        }
        if (strcmp(key, "url") != 0 && strcmp(key, "event_types") != 0 &&
            strcmp(key, "enabled") != 0) {
            rc = api_field_error_add(errors, key, "is not a field a patch may change");
        } else if (json_is_null(value)) {
            rc = api_field_error_add(errors, key, "cannot be removed; leave it out to keep it");
        } else if (strcmp(key, "url") == 0) {
            rc = check_url(ctx, value, errors);
        } else if (strcmp(key, "event_types") == 0) {
            rc = check_event_types(value, errors, version);
        } else if (!json_is_boolean(value)) {
            rc = api_field_error_add(errors, key,
                                     "must be true (deliver; re-enables a disabled webhook) or "
                                     "false (stop delivering)");
        }
    }
    return api_respond_if_field_errors(ctx, errors, rc != 0) ? 1 : 0;
}

static void patch_webhook(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    if (!uuid_is_valid(id)) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
        return;
    }
    types_version version = TYPES_UNKNOWN;
    if (patch_body_parse(ctx) != 0 || validate_patch(ctx, &version) != 0) {
        return;
    }
    const json_t *url = json_object_get(ctx->body, "url");
    const json_t *enabled = json_object_get(ctx->body, "enabled");
    json_t *doc = NULL;
    store_result rc = webhook_store_patch(
        ctx->app->pg, id, ctx->user_id, url != NULL ? json_string_value(url) : NULL,
        json_object_get(ctx->body, "event_types"), version == TYPES_V2,
        enabled != NULL ? json_is_true(enabled) : -1, &doc);
    if (rc == STORE_MISMATCH) {
        json_t *errors = json_array();
        scope_types_error(errors, version == TYPES_V1);
        api_respond_field_errors(ctx, errors);
    } else if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
    } else if (rc != STORE_FOUND) {
        respond_unavailable(ctx);
    } else {
        log_json(LOG_INFO, "webhook changed",
                 json_pack("{s:s,s:s,s:b}", "webhook_id", id, "user_id", ctx->user_id, "enabled",
                           json_is_true(json_object_get(doc, "enabled"))));
        api_respond_json(ctx, 200, doc);
    }
}

/* --- POST /api/v1/webhooks/:id/rotate-secret ---------------------------------------- */

static void rotate_secret(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    if (!uuid_is_valid(id)) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
        return;
    }
    char secret[SECRET_TEXT_LEN];
    new_secret(secret);
    json_t *doc = NULL;
    store_result rc = webhook_store_rotate(ctx->app->pg, id, ctx->user_id, secret,
                                           ctx->app->cfg->webhook_secret_grace_s, &doc);
    if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
    } else if (rc != STORE_FOUND || json_object_set_new(doc, "secret", json_string(secret))) {
        json_decref(doc);
        respond_unavailable(ctx);
    } else {
        log_json(LOG_INFO, "webhook secret rotated",
                 json_pack("{s:s,s:s}", "webhook_id", id, "user_id", ctx->user_id));
        api_respond_json(ctx, 200, doc);
    }
    sodium_memzero(secret, sizeof secret);
}

/* --- POST /api/v1/webhooks/:id/test ------------------------------------------------- */

/* The ping CloudEvent (new reference), or NULL when out of memory. */
static json_t *ping_event(const char *event_id, const char *webhook_id) {
    char now[40], subject[128]; /* "webhooks/" and a UUID */
    char dataschema[CLOUDEVENT_DATASCHEMA_LEN];
    time_format_rfc3339_ms(time_now_unix_ms(), now, sizeof now);
    snprintf(subject, sizeof subject, "webhooks/%s", webhook_id);
    if (cloudevent_dataschema(WEBHOOK_PING_TYPE, dataschema, sizeof dataschema) == 0) {
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s}}", "specversion", "1.0", "id",
                     event_id, "source", CLOUDEVENT_SOURCE, "type", WEBHOOK_PING_TYPE, "time", now,
                     "subject", subject, "datacontenttype", "application/json", "dataschema",
                     dataschema, "data", "webhook_id", webhook_id);
}

static void test_webhook(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    if (!uuid_is_valid(id)) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
        return;
    }
    char delivery_id[UUID_STR_LEN], event_id[UUID_STR_LEN];
    uuid7_generate(delivery_id);
    uuid7_generate(event_id);
    json_t *event = ping_event(event_id, id), *doc = NULL;
    bool disabled = false;
    store_result rc = event != NULL
                          ? webhook_store_ping(ctx->app->pg, id, ctx->user_id, delivery_id,
                                               event_id, event, &doc, &disabled)
                          : STORE_UNAVAILABLE;
    json_decref(event);
    if (rc == STORE_NOT_FOUND && disabled) {
        api_respond_error(ctx, 409, "webhook-disabled",
                          "the webhook is disabled; enable it (PATCH with enabled true) first");
    } else if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
    } else if (rc != STORE_FOUND) {
        respond_unavailable(ctx);
    } else {
        log_json(LOG_INFO, "webhook ping queued",
                 json_pack("{s:s,s:s,s:s}", "webhook_id", id, "delivery_id", delivery_id,
                           "event_id", event_id));
        api_respond_json(ctx, 202, doc);
    }
}

/* --- POST /api/v1/webhooks/:id/deliveries/:delivery_id/redeliver ------------------- */

static void redeliver(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0], *delivery_id = ctx->path_params[1];
    if (!uuid_is_valid(id) || !uuid_is_valid(delivery_id)) {
        api_respond_error(ctx, 404, "not-found", "no such webhook or delivery");
        return;
    }
    json_t *doc = NULL;
    redeliver_refusal why = REDELIVER_NO_SUCH;
    store_result rc =
        webhook_store_redeliver(ctx->app->pg, id, ctx->user_id, delivery_id, &doc, &why);
    if (rc == STORE_NOT_FOUND && why == REDELIVER_DISABLED) {
        api_respond_error(ctx, 409, "webhook-disabled",
                          "the webhook is disabled; enable it (PATCH with enabled true) first");
    } else if (rc == STORE_NOT_FOUND && why == REDELIVER_PENDING) {
        api_respond_error(ctx, 409, "conflict",
                          "the delivery is still pending; it is being tried (see its attempt_log)");
    } else if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such webhook or delivery");
    } else if (rc != STORE_FOUND) {
        respond_unavailable(ctx);
    } else {
        log_json(LOG_INFO, "webhook redelivery queued",
                 json_pack("{s:s,s:s}", "webhook_id", id, "delivery_id", delivery_id));
        api_respond_json(ctx, 202, doc);
    }
}

static void list_deliveries(api_request_ctx *ctx) {
    const char *id = ctx->path_params[0];
    int limit = DELIVERIES_LIMIT_DEFAULT;
    const char *cursor = NULL;
    if (!uuid_is_valid(id)) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
        return;
    }
    json_t *errors = json_array();
    int parsed = errors != NULL ? list_query_parse(ctx, DELIVERIES_LIMIT_MAX, &limit,
                                                   list_query_uuid, &cursor, errors)
                                : -1;
    if (api_respond_if_field_errors(ctx, errors, parsed != 0)) {
        return;
    }
    json_t *items = NULL;
    char next[UUID_STR_LEN];
    store_result rc =
        webhook_store_deliveries(ctx->app->pg, id, ctx->user_id, cursor, limit, &items, next);
    if (rc == STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no such webhook");
    } else if (rc != STORE_FOUND) {
        respond_unavailable(ctx);
    } else {
        api_respond_json(ctx, 200,
                         json_pack("{s:o,s:o}", "items", items, "next_cursor",
                                   next[0] != '\0' ? json_string(next) : json_null()));
    }
}

const api_route ROUTES_WEBHOOKS[] = {
    {"POST", "/api/v1/webhooks", create_webhook, API_ROUTE_AUTH | API_ROUTE_JSON_BODY,
     API_SCOPE_WEBHOOKS_MANAGE},
    {"GET", "/api/v1/webhooks", list_webhooks, API_ROUTE_AUTH, API_SCOPE_WEBHOOKS_MANAGE},
    {"PATCH", "/api/v1/webhooks/:id", patch_webhook, API_ROUTE_AUTH, API_SCOPE_WEBHOOKS_MANAGE},
    {"DELETE", "/api/v1/webhooks/:id", delete_webhook, API_ROUTE_AUTH, API_SCOPE_WEBHOOKS_MANAGE},
    {"POST", "/api/v1/webhooks/:id/rotate-secret", rotate_secret, API_ROUTE_AUTH,
     API_SCOPE_WEBHOOKS_MANAGE},
    {"POST", "/api/v1/webhooks/:id/test", test_webhook, API_ROUTE_AUTH, API_SCOPE_WEBHOOKS_MANAGE},
    {"GET", "/api/v1/webhooks/:id/deliveries", list_deliveries, API_ROUTE_AUTH,
     API_SCOPE_WEBHOOKS_MANAGE},
    {"POST", "/api/v1/webhooks/:id/deliveries/:delivery_id/redeliver", redeliver, API_ROUTE_AUTH,
     API_SCOPE_WEBHOOKS_MANAGE},
    {NULL, NULL, NULL, 0, 0},
};
