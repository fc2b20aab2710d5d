/*
 * web_files.c: the browser's files (see web_files.h).
 */
#include "api/web_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/if_match.h"
#include "shared/log.h"

/* The web client's pages: this origin only. */
#define CSP_APP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
/* Swagger UI sets style attributes and draws data: images; its "Try it out" calls this origin. */
#define CSP_DOCS                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "          \
    "form-action 'self'"

static const struct {
    const char *ext;
    const char *content_type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *folder_path(web_folder folder) {
    switch (folder) {
    case WEB_APP:
        return "app";
    case WEB_DOCS:
        return "docs";
    case WEB_DOCS_VENDOR:
        return "node_modules/swagger-ui-dist";
    }
    return NULL;
}

bool web_file_name_allowed(const char *name, const char **content_type) {
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > 128 || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        size_t elen = strlen(TYPES[i].ext);
        if (len > elen && strcmp(name + len - elen, TYPES[i].ext) == 0) {
            *content_type = TYPES[i].content_type;
            return true;
        }
    }
    return false;
}

void web_files_set_page_headers(api_request_ctx *ctx, web_folder folder) {
    api_set_header(ctx, "Content-Security-Policy", folder == WEB_APP ? CSP_APP : CSP_DOCS);
    api_set_header(ctx, "Referrer-Policy", "no-referrer");
    api_set_header(ctx, "X-Content-Type-Options", "nosniff");
    api_set_header(ctx, "X-Frame-Options", "DENY");
}

static void respond_missing(api_request_ctx *ctx) {
    api_respond_error(ctx, 404, "not-found", "no resource at this path");
}

/* Reads the open regular file fd of size bytes into a new buffer; NULL (logged) on error. */
static char *read_whole(int fd, size_t size, const char *path) {
    char *data = malloc(size > 0 ? size : 1);
    size_t got = 0;
    while (data != NULL && got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            LOG_ERRORF("web file %s: read: %s", path, n < 0 ? strerror(errno) : "short file");
            free(data);
            return NULL;
        }
        got += (size_t)n;
    }
    if (data == NULL)
        LOG_ERRORF("web file %s: no memory for %zu bytes", path, size);
    return data;
}

/* Answers the open file fd (closed by the caller): 304, 200, or 404/500. */
static void answer_file(api_request_ctx *ctx, int fd, const char *path, const char *type) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        respond_missing(ctx);
        return;
    }
    if (st.st_size > WEB_FILE_MAX_BYTES) {
        LOG_WARNF("web file %s: %lld bytes, over %ld: not served", path, (long long)st.st_size,
                  WEB_FILE_MAX_BYTES);
        respond_missing(ctx);
        return;
    }
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx.%lx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
    bool fresh = if_match_etag_list_matches(api_header(ctx, "If-None-Match"), etag, true);
    char *data = fresh ? NULL : read_whole(fd, (size_t)st.st_size, path);
    if (!fresh && data == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_set_header(ctx, "ETag", etag);
    api_set_header(ctx, "Cache-Control", "no-cache");
    if (fresh)
        api_respond_empty(ctx, 304);
    else
        api_respond_bytes(ctx, 200, type, data, (size_t)st.st_size);
    free(data);
}

void web_files_serve(api_request_ctx *ctx, web_folder folder, const char *name) {
    const char *type = NULL;
    web_files_set_page_headers(ctx, folder);
    if (!web_file_name_allowed(name, &type)) {
        respond_missing(ctx);
        return;
    }
    char path[4096 + 256];
    int n =
        snprintf(path, sizeof path, "%s/%s/%s", ctx->app->cfg->web_dir, folder_path(folder), name);
    if (n < 0 || (size_t)n >= sizeof path) {
        respond_missing(ctx);
        return;
    }
    /* O_NONBLOCK: a FIFO with a served name must not hold a worker (fstat refuses it). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            LOG_WARNF("web file %s: open: %s", path, strerror(errno));
        respond_missing(ctx);
        return;
    }
    answer_file(ctx, fd, path, type);
    if (close(fd) != 0)
        LOG_WARNF("web file %s: close: %s", path, strerror(errno));
}
