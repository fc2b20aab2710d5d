/*
 * web_files.h: the browser's files under TASKBUS_WEB_DIR: the web client (app/), the API
 * reference page (docs/) and the Swagger UI it runs (node_modules/swagger-ui-dist, vendored
 * from npm by compose/local), and the headers every page of the API carries.
 *
 * Owns: turning one URL file name into one file of one of those folders, and answering it.
 * Rules: a name is one path segment of [A-Za-z0-9._-] that does not start with '.' and has
 * an extension of the table in web_files.c (which gives its Content-Type); anything else
 * is 404 before the disk is touched, so no request reaches outside the folders (the name
 * is checked after percent-decoding, so "%2F" is refused too). The file is opened with
 * O_NOFOLLOW, must be a regular file of at most WEB_FILE_MAX_BYTES, and is read whole per
 * request (a handful of small files; no cache to go stale on a deploy). A missing file is
 * 404. Every answer carries ETag (strong: size and mtime, so a 304 reads nothing),
 * Cache-Control: no-cache, and the page headers below; If-None-Match answers 304.
 */
#ifndef TASKBUS_API_WEB_FILES_H
#define TASKBUS_API_WEB_FILES_H

#include "api/http_context.h"

#define WEB_FILE_MAX_BYTES (8L * 1024 * 1024)

typedef enum web_folder {
    WEB_APP,         /* <web>/app: the web client */
    WEB_DOCS,        /* <web>/docs: the API reference page */
    WEB_DOCS_VENDOR, /* <web>/node_modules/swagger-ui-dist */
} web_folder;

/* Answers ctx with the file name of folder (200, 304 or 404). */
void web_files_serve(api_request_ctx *ctx, web_folder folder, const char *name);

/* The headers of every page and file the API serves to a browser: a Content-Security-Policy
 * that allows only this origin's scripts and styles (the reference page's Swagger UI also
 * needs inline styles and data: images) and no framing, no Referer (the mailed links carry
 * tokens in their query), and no content sniffing. */
void web_files_set_page_headers(api_request_ctx *ctx, web_folder folder);

/* True when name may be served (the rules above); its Content-Type in *content_type. */
bool web_file_name_allowed(const char *name, const char **content_type);

#endif
