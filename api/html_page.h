/*
 * html_page.h: the small HTML pages the API itself answers to a browser (the outcome of a
 * mailed link it redeems on GET), and the one rule that decides a browser wants one.
 *
 * Owns: content negotiation between HTML and JSON on the routes that offer both, and the
 * page's markup.
 * Rules: JSON stays the default: HTML only when the Accept header ranks text/html above
 * application/json (a browser's navigation does; curl's "*" "/" "*", a missing header and
 * "application/json" do not). Every text put in a page is HTML-escaped. A page carries the
 * web client's headers (api/web_files.h) and links to the web client (/app/).
 */
#ifndef TASKBUS_API_HTML_PAGE_H
#define TASKBUS_API_HTML_PAGE_H

#include <stdbool.h>

#include "api/http_context.h"

/* True when accept (may be NULL) ranks text/html above application/json (RFC 9110 §12.5.1
 * q-values; the most specific range that matches a type gives its weight). */
bool html_page_preferred(const char *accept);

/* Answers status with a page titled heading (plain text) saying message (plain text). */
void html_page_respond(api_request_ctx *ctx, int status, const char *heading, const char *message);

#endif
