/*
 * html_page.c: HTML pages of mailed links, and the negotiation (see html_page.h).
 */
#include "api/html_page.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/web_files.h"
#include "shared/log.h"
#include "shared/strbuf.h"

/* How specifically range (type/subtype, lower case, no parameters) matches type: 3 exact,
 * 2 type/star, 1 star/star, 0 not at all. */
static int match_specificity(const char *range, size_t len, const char *type) {
    size_t tlen = strlen(type);
    if (len == tlen && strncasecmp(range, type, len) == 0)
        return 3;
    const char *slash = strchr(type, '/');
    size_t major = (size_t)(slash - type);
    if (len == major + 2 && strncasecmp(range, type, major + 1) == 0 && range[major + 1] == '*')
        return 2;
    return len == 3 && strncmp(range, "*/*", 3) == 0 ? 1 : 0;
}

/* The q of one element's parameters (text after the range, up to the comma): 1 when none. */
static double element_q(const char *params, const char *end) {
    for (const char *p = params; p < end; p++) {
        if (*p != ';')
            continue;
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char *stop = NULL;
            double q = strtod(p + 2, &stop);
            return stop != NULL && stop > p + 2 && q >= 0 && q <= 1 ? q : 0;
        }
    }
    return 1;
}

/* The weight accept gives type: the q of its most specific matching range, 0 when none. */
static double weight_of(const char *accept, const char *type) {
    int best = 0;
    double q_best = 0;
    const char *p = accept;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        size_t len = 0;
        while (p + len < end && p[len] != ';' && !isspace((unsigned char)p[len]))
            len++;
        int spec = match_specificity(p, len, type);
        if (spec > best) {
            best = spec;
            q_best = element_q(p + len, end);
        }
        p = *end == ',' ? end + 1 : end;
    }
    return q_best;
}

bool html_page_preferred(const char *accept) {
    if (accept == NULL)
        return false;
    return weight_of(accept, "text/html") > weight_of(accept, "application/json");
}

void html_page_respond(api_request_ctx *ctx, int status, const char *heading, const char *message) {
    strbuf page = {0};
    strbuf_puts(&page, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                       "<link rel=\"stylesheet\" href=\"/app/app.css\"><title>");
    strbuf_puts_html(&page, heading);
    strbuf_puts(&page, " - taskbus</title></head><body><main class=\"link-page\"><h1>");
    strbuf_puts_html(&page, heading);
    strbuf_puts(&page, "</h1><p id=\"link-outcome\">");
    strbuf_puts_html(&page, message);
    strbuf_puts(&page, "</p><p><a href=\"/app/\">Open taskbus</a></p></main></body></html>\n");
    if (page.failed || page.data == NULL) {
        LOG_ERRORF("no memory for an HTML page of %d", status);
        free(page.data);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    web_files_set_page_headers(ctx, WEB_APP);
    api_respond_bytes(ctx, status, "text/html; charset=utf-8", page.data, page.len);
    free(page.data);
}
