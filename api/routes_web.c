/*
 * routes_web.c: the pages a browser opens (ROUTES_WEB in routes.h).
 *
 * Owns: the URLs of the web client (/app/), of the API reference (/docs/, with the Swagger
 * UI it runs under /docs/vendor/: the files it loads, no others), of the mailed links' pages, and
 * the redirects from the bare names. Rules: the mailed links (shared/notification.h's pages and
 * email_change.c's confirm page) open the web client's index.html, which picks its view by path and
 * acts only when the user submits (a mail scanner that opens a link changes nothing). Every file
 * comes from api/web_files.h, which keeps requests inside the web folders. Nothing here
 * needs a credential; each request is charged to the caller's address like any other.
 */
#include <string.h>

#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/web_files.h"
#include "shared/notification.h"

static void redirect(api_request_ctx *ctx, const char *location) {
    api_set_header(ctx, "Location", location);
    api_respond_empty(ctx, 301);
}

static void handle_root(api_request_ctx *ctx) {
    api_set_header(ctx, "Location", "/app/");
    api_respond_empty(ctx, 302); /* the home page may move; /app/ is where it is today */
}

static void handle_app_bare(api_request_ctx *ctx) {
    redirect(ctx, "/app/");
}

static void handle_docs_bare(api_request_ctx *ctx) {
    redirect(ctx, "/docs/");
}

static void handle_app_index(api_request_ctx *ctx) {
    web_files_serve(ctx, WEB_APP, "index.html");
}

static void handle_app_file(api_request_ctx *ctx) {
    web_files_serve(ctx, WEB_APP, ctx->path_params[0]);
}

static void handle_docs_index(api_request_ctx *ctx) {
    web_files_serve(ctx, WEB_DOCS, "index.html");
}

static void handle_docs_file(api_request_ctx *ctx) {
    web_files_serve(ctx, WEB_DOCS, ctx->path_params[0]);
}

/* Of the vendored package, only what the reference page loads (its stock index.html and
 * initializer point at an example API, and nothing else is needed). */
static const char *const DOCS_VENDOR_FILES[] = {"swagger-ui-bundle.js", "swagger-ui.css",
                                                "favicon-32x32.png", "favicon-16x16.png", NULL};

static void handle_docs_vendor(api_request_ctx *ctx) {
    for (size_t i = 0; DOCS_VENDOR_FILES[i] != NULL; i++) {
        if (strcmp(ctx->path_params[0], DOCS_VENDOR_FILES[i]) == 0) {
            web_files_serve(ctx, WEB_DOCS_VENDOR, DOCS_VENDOR_FILES[i]);
            return;
        }
    }
    web_files_serve(ctx, WEB_DOCS_VENDOR, NULL); /* 404, with the page headers */
}

const api_route ROUTES_WEB[] = {
    {"GET", "/", handle_root, 0, API_SCOPE_PUBLIC},
    {"GET", "/app", handle_app_bare, 0, API_SCOPE_PUBLIC},
    {"GET", "/app/", handle_app_index, 0, API_SCOPE_PUBLIC},
    {"GET", "/app/:file", handle_app_file, 0, API_SCOPE_PUBLIC},
    {"GET", "/docs", handle_docs_bare, 0, API_SCOPE_PUBLIC},
    {"GET", "/docs/", handle_docs_index, 0, API_SCOPE_PUBLIC},
    {"GET", "/docs/:file", handle_docs_file, 0, API_SCOPE_PUBLIC},
    {"GET", "/docs/vendor/:file", handle_docs_vendor, 0, API_SCOPE_PUBLIC},
    {"GET", NOTIFICATION_REGISTER_PAGE, handle_app_index, 0, API_SCOPE_PUBLIC},
    {"GET", NOTIFICATION_RESET_PAGE, handle_app_index, 0, API_SCOPE_PUBLIC},
    {"GET", NOTIFICATION_REVERT_PAGE, handle_app_index, 0, API_SCOPE_PUBLIC},
    {"GET", NOTIFICATION_EMAIL_CHANGE_PAGE, handle_app_index, 0, API_SCOPE_PUBLIC},
    {NULL, NULL, NULL, 0, 0},
};
