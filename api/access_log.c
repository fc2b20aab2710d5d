/*
 * access_log.c: access log line and request metrics (see access_log.h).
 */
#include "api/access_log.h"

#include <stdio.h>
#include <string.h>

#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/time_util.h"

#define LOGGED_PATH_MAX 256

static const char *method_label(const char *method) {
    static const char *const KNOWN[] = {"GET",   "HEAD",   "POST",    "PUT",
                                        "PATCH", "DELETE", "OPTIONS", NULL};
    for (size_t i = 0; method != NULL && KNOWN[i] != NULL; i++) {
        if (strcmp(KNOWN[i], method) == 0) {
            return KNOWN[i];
        }
    }
    return "OTHER";
}

/* The path as printable ASCII, cut at LOGGED_PATH_MAX: it comes straight off the wire. */
static void printable_path(const char *path, char *out, size_t outlen) {
    size_t n = 0;
    for (; path != NULL && path[n] != '\0' && n + 1 < outlen; n++) {
        unsigned char c = (unsigned char)path[n];
        out[n] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    out[n] = '\0';
}

static void count_request(const char *method, const char *route, int status, double seconds) {
    char labels[256];
    snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",status=\"%d\"", method, route,
             status);
    metrics_counter_add("taskbus_http_requests_total",
                        "HTTP requests answered, by route and status", labels, 1.0);
    snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", method, route);
    metrics_histogram_observe("taskbus_http_request_duration_seconds",
                              "Time from dispatch to answer, by route", labels, seconds);
}

void access_log_record(const api_request_ctx *ctx, const char *method, const char *path,
                       int64_t start_ns) {
    int64_t elapsed_ns = time_monotonic_ns() - start_ns;
    if (elapsed_ns < 0) {
        elapsed_ns = 0;
    }
    double seconds = (double)elapsed_ns / 1e9;
    const char *route = ctx->route != NULL ? ctx->route : "unmatched";
    const char *mlabel = method_label(method);
    count_request(mlabel, route, ctx->status, seconds);

    char logged_path[LOGGED_PATH_MAX];
    printable_path(path, logged_path, sizeof logged_path);
    /* Every value is plain already: a fixed label, a route pattern, the printable path,
     * inet_ntop's address and a UUID; so the members are written as they are. */
    char members[LOGGED_PATH_MAX + 384];
    snprintf(members, sizeof members,
             "\"method\":\"%s\",\"route\":\"%s\",\"path\":\"%s\",\"status\":%d,"
             "\"duration_ms\":%.3f,\"client_ip\":\"%s\"%s%s%s",
             mlabel, route, logged_path, ctx->status, seconds * 1e3, ctx->client_ip,
             ctx->authenticated ? ",\"user_id\":\"" : "", ctx->authenticated ? ctx->user_id : "",
             ctx->authenticated ? "\"" : "");
    log_members(ctx->status >= 500 ? LOG_ERROR : LOG_INFO, "request", members);
}
