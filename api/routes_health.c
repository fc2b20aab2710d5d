/*
 * routes_health.c: the operational routes (ROUTES_HEALTH in routes.h).
 *
 * Owns: GET /health (the process answers), GET /ready (Postgres, Redis and Kafka answer
 * within READY_TIMEOUT_MS, probed at the same time; the read replica is reported but
 * optional), GET /metrics (Prometheus text) and
 * GET /openapi.json and GET /asyncapi.json (<TASKBUS_SCHEMAS_DIR>/openapi.json and
 * asyncapi.json, bundled: api/schema_docs.h). Rules: none of these need a
 * token; /ready says which dependency failed and why, never a secret (connection strings
 * are not echoed; the pools' error texts name host and port only).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/schema_docs.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/problem.h"

#define READY_TIMEOUT_MS 1000
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void handle_health(api_request_ctx *ctx) {
    api_respond_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
}

typedef bool (*ready_probe)(const api_app *app, char *err, size_t errlen);

typedef struct ready_check {
    const char *name;
    ready_probe probe;
    const api_app *app;
    bool ok;
    char err[256];
    pthread_t thread;
    bool threaded;
    bool optional; /* reported, but its failure leaves the instance ready */
} ready_check;

static bool probe_postgres(const api_app *app, char *err, size_t errlen) {
    return pg_pool_ping(app->pg, READY_TIMEOUT_MS, err, errlen);
}

static bool probe_postgres_read(const api_app *app, char *err, size_t errlen) {
    return pg_pool_ping(app->pg_read, READY_TIMEOUT_MS, err, errlen);
}

static bool probe_redis(const api_app *app, char *err, size_t errlen) {
    return redis_pool_ping(app->redis, err, errlen);
}

static bool probe_kafka(const api_app *app, char *err, size_t errlen) {
    return kafka_producer_ping(app->producer, READY_TIMEOUT_MS, err, errlen);
}

static void *run_check(void *arg) {
    ready_check *c = arg;
    c->err[0] = '\0';
    c->ok = c->probe(c->app, c->err, sizeof c->err);
    if (!c->ok && c->err[0] == '\0') {
        snprintf(c->err, sizeof c->err, "unavailable");
    }
    return NULL;
}

/* Runs every check at once: the slowest dependency bounds /ready, not their sum. */
static void run_checks(ready_check *checks, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        checks[i].threaded = pthread_create(&checks[i].thread, NULL, run_check, &checks[i]) == 0;
        if (!checks[i].threaded) {
            run_check(&checks[i]);
        }
    }
    run_check(&checks[n - 1]);
    for (size_t i = 0; i + 1 < n; i++) {
        if (checks[i].threaded && pthread_join(checks[i].thread, NULL) != 0) {
            LOG_ERRORF("pthread_join of the %s readiness check failed", checks[i].name);
        }
    }
}

static void handle_ready(api_request_ctx *ctx) {
    const api_app *app = ctx->app;
    ready_check checks[4] = {
        {.name = "postgres", .probe = probe_postgres, .app = app},
        {.name = "kafka", .probe = probe_kafka, .app = app},
        {.name = "redis", .probe = probe_redis, .app = app},
        /* The replica is optional: every read falls back to the primary without it
         * (api/read_replica.h), so a stopped replica must not take the API out of the
         * load balancer. */
        {.name = "postgres_read", .probe = probe_postgres_read, .app = app, .optional = true},
    };
    size_t n = app->pg_read != NULL && app->pg_read != app->pg ? 4 : 3;
    run_checks(checks, n);

    json_t *results = json_object();
    if (results == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    char failed[96] = "";
    for (size_t i = 0; i < n; i++) {
        json_t *value = json_string(checks[i].ok ? "ok" : checks[i].err);
        if (value == NULL) {
            value = json_string("unavailable"); /* an error text that was not UTF-8 */
        }
        if (json_object_set_new(results, checks[i].name, value) != 0) {
            LOG_WARNF("could not report the %s readiness check", checks[i].name);
        }
        if (!checks[i].ok && !checks[i].optional) {
            size_t used = strlen(failed);
            snprintf(failed + used, sizeof failed - used, "%s%s", used > 0 ? ", " : "",
                     checks[i].name);
        }
    }
    if (failed[0] == '\0') {
        api_respond_json(ctx, 200, json_pack("{s:s,s:o}", "status", "ready", "checks", results));
        return;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "not ready: %s unavailable", failed);
    json_t *problem = problem_new(503, "service-unavailable", detail, ctx->request_id);
    if (problem == NULL || json_object_set_new(problem, "checks", results) != 0) {
        json_decref(problem);
        api_respond_error(ctx, 503, "service-unavailable", detail);
        return;
    }
    api_respond_problem(ctx, problem);
}

static void handle_metrics(api_request_ctx *ctx) {
    char *text = metrics_render();
    if (text == NULL) {
        api_respond_error(ctx, 500, "internal-error", "the metrics could not be rendered");
        return;
    }
    int rc = ulfius_set_binary_body_response(ctx->resp, 200, text, strlen(text));
    free(text);
    if (rc != U_OK) {
        api_respond_error(ctx, 500, "internal-error", "the metrics could not be answered");
        return;
    }
    api_set_header(ctx, "Content-Type", METRICS_CONTENT_TYPE);
    ctx->status = 200;
}

static void handle_openapi(api_request_ctx *ctx) {
    schema_docs_serve(ctx, "openapi.json", "the OpenAPI document");
}

static void handle_asyncapi(api_request_ctx *ctx) {
    schema_docs_serve(ctx, "asyncapi.json", "the AsyncAPI document");
}

const api_route ROUTES_HEALTH[] = {
    {"GET", "/health", handle_health, 0, API_SCOPE_PUBLIC},
    {"GET", "/ready", handle_ready, 0, API_SCOPE_PUBLIC},
    {"GET", "/metrics", handle_metrics, 0, API_SCOPE_PUBLIC},
    {"GET", "/openapi.json", handle_openapi, 0, API_SCOPE_PUBLIC},
    {"GET", "/asyncapi.json", handle_asyncapi, 0, API_SCOPE_PUBLIC},
    {NULL, NULL, NULL, 0, 0},
};
