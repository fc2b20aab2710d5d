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

#define PAGE_MAX 4096

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

/* Appends text to out (of cap, at *len) HTML-escaped; false when it does not fit. */
static bool append_escaped(char *out, size_t cap, size_t *len, const char *text) {
    for (const char *c = text; *c != '\0'; c++) {
        const char *rep = NULL;
        switch (*c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        size_t n = rep != NULL ? strlen(rep) : 1;
        if (*len + n >= cap)
            return false;
        memcpy(out + *len, rep != NULL ? rep : c, n);
        *len += n;
    }
    out[*len] = '\0';
    return true;
}

static bool append_raw(char *out, size_t cap, size_t *len, const char *text) {
    size_t n = strlen(text);
    if (*len + n >= cap)
        return false;
    memcpy(out + *len, text, n + 1);
    *len += n;
    return true;
}

void html_page_respond(api_request_ctx *ctx, int status, const char *heading, const char *message) {
    char page[PAGE_MAX];
    size_t len = 0;
    bool ok = append_raw(page, sizeof page, &len,
                         "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                         "<link rel=\"stylesheet\" href=\"/app/app.css\"><title>") &&
              append_escaped(page, sizeof page, &len, heading) &&
              append_raw(page, sizeof page, &len,
                         " - taskbus</title></head><body><main class=\"link-page\"><h1>") &&
              append_escaped(page, sizeof page, &len, heading) &&
              append_raw(page, sizeof page, &len, "</h1><p id=\"link-outcome\">") &&
              append_escaped(page, sizeof page, &len, message) &&
              append_raw(page, sizeof page, &len,
                         "</p><p><a href=\"/app/\">Open taskbus</a></p></main></body></html>\n");
    if (!ok) {
        LOG_ERRORF("an HTML page of %d did not fit in %d bytes", status, PAGE_MAX);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    web_files_set_page_headers(ctx, WEB_APP);
    api_respond_bytes(ctx, status, "text/html; charset=utf-8", page, len);
}
