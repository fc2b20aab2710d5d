/*
 * log.c: JSON-lines logging to stderr.
 *
 * Owns: the line format {"ts","level","service","msg","request_id","trace_id",...fields}.
 * Rules: each line is built in memory with jansson and written with one write(2) call
 * (or handed whole to the write-behind buffer of log_buffer.h, when a process started it),
 * so lines from concurrent threads never interleave (POSIX keeps a single write to a
 * pipe atomic up to PIPE_BUF, and Docker/journald collect per write). Core keys win over
 * caller fields of the same name. Text that is not UTF-8 is made safe, never dropped.
 */
#include "shared/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shared/log_buffer.h"
#include "shared/time_util.h"
#include "shared/trace_context.h"

/* Set once by log_init before any thread starts, read-only afterwards (no lock needed). */
static char g_service[64] = "taskbus";
static log_level g_min_level = LOG_INFO;

/* Per thread: the API serves each connection on its own thread; a daemon sets them around
 * the work on one record. */
static _Thread_local char tl_request_id[129];
static _Thread_local int tl_has_request_id;
static _Thread_local char tl_trace_id[TRACE_ID_HEX + 1];

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, log_level min_level) {
    if (service != NULL)
        snprintf(g_service, sizeof g_service, "%s", service);
    if (min_level >= LOG_DEBUG && min_level <= LOG_ERROR)
        g_min_level = min_level;
}

bool log_enabled(log_level level) {
    return level >= g_min_level;
}

int log_level_parse(const char *text, log_level *out) {
    if (text == NULL)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, LEVEL_NAMES[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_set_request_id(const char *request_id) {
    if (request_id == NULL || request_id[0] == '\0') {
        tl_has_request_id = 0;
        tl_request_id[0] = '\0';
        return;
    }
    snprintf(tl_request_id, sizeof tl_request_id, "%s", request_id);
    tl_has_request_id = 1;
}

const char *log_request_id(void) {
    return tl_has_request_id ? tl_request_id : NULL;
}

/* Only 32 lower-case hex digits are kept: the trace id goes into lines unescaped. */
void log_set_trace_id(const char *trace_id) {
    size_t n = 0;
    while (
        trace_id != NULL && n < TRACE_ID_HEX &&
        ((trace_id[n] >= '0' && trace_id[n] <= '9') || (trace_id[n] >= 'a' && trace_id[n] <= 'f')))
        n++;
    if (n != TRACE_ID_HEX || trace_id[n] != '\0') {
        tl_trace_id[0] = '\0';
        return;
    }
    memcpy(tl_trace_id, trace_id, TRACE_ID_HEX + 1);
}

const char *log_trace_id(void) {
    return tl_trace_id[0] != '\0' ? tl_trace_id : NULL;
}

void log_set_context(const char *request_id, const char *traceparent) {
    log_set_request_id(request_id);
    if (!trace_context_trace_id(traceparent, tl_trace_id))
        tl_trace_id[0] = '\0';
}

/* A JSON string for text, replacing bytes jansson rejects (invalid UTF-8) with '?'. */
static json_t *string_lossy(const char *text) {
    json_t *s = json_string(text);
    if (s != NULL)
        return s;
    char *copy = strdup(text);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    s = json_string(copy);
    free(copy);
    return s;
}

static json_t *build_line(log_level level, const char *msg, json_t *fields) {
    char ts[32];
    time_format_rfc3339_ms(time_now_unix_ms(), ts, sizeof ts);
    json_t *line = json_object();
    if (line == NULL)
        return NULL;
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(LEVEL_NAMES[level]));
    json_object_set_new(line, "service", string_lossy(g_service));
    json_object_set_new(line, "msg", string_lossy(msg != NULL ? msg : ""));
    if (tl_has_request_id)
        json_object_set_new(line, "request_id", string_lossy(tl_request_id));
    if (tl_trace_id[0] != '\0')
        json_object_set_new(line, "trace_id", json_string(tl_trace_id));
    if (json_is_object(fields))
        json_object_update_missing(line, fields);
    else if (fields != NULL)
        json_object_set(line, "data", fields);
    return line;
}

void log_json(log_level level, const char *msg, json_t *fields) {
    if (level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_ERROR;
    if (level < g_min_level) {
        json_decref(fields);
        return;
    }
    json_t *line = build_line(level, msg, fields);
    json_decref(fields);
    if (line == NULL)
        return;
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(line);
    if (text == NULL)
        return;
    size_t len = strlen(text);
    char *buf = realloc(text, len + 2);
    if (buf == NULL) {
        free(text);
        return;
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
    if (!log_buffer_write(buf, len + 1, level >= LOG_ERROR))
        log_buffer_write_all(buf, len + 1);
    free(buf);
}

/* Text that needs no JSON escaping: printable ASCII without '"' and '\\'. */
static bool plain_text(const char *s) {
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* The head of log_members' line, up to and without the members: its length, or the length
 * it would need (>= cap) when it does not fit, or -1. */
static int members_head(char *buf, size_t cap, log_level level, const char *ts, const char *msg,
                        const char *rid) {
    const char *tid = tl_trace_id[0] != '\0' ? tl_trace_id : NULL;
    return snprintf(
        buf, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"%s\"%s%s%s%s%s%s",
        ts, LEVEL_NAMES[level], g_service, msg, rid != NULL ? ",\"request_id\":\"" : "",
        rid != NULL ? rid : "", rid != NULL ? "\"" : "", tid != NULL ? ",\"trace_id\":\"" : "",
        tid != NULL ? tid : "", tid != NULL ? "\"" : "");
}

void log_members(log_level level, const char *msg, const char *members) {
    if (level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_ERROR;
    if (level < g_min_level)
        return;
    const char *rid = tl_has_request_id ? tl_request_id : NULL;
    if (!plain_text(msg) || !plain_text(g_service) || (rid != NULL && !plain_text(rid))) {
        /* Text that needs escaping: the general path. */
        char *doc = malloc(strlen(members) + 3);
        if (doc == NULL)
            return;
        sprintf(doc, "{%s}", members);
        log_json(level, msg, json_loads(doc, 0, NULL));
        free(doc);
        return;
    }
    char ts[32];
    time_format_rfc3339_ms(time_now_unix_ms(), ts, sizeof ts);
    char line[LOG_MEMBERS_LINE_MAX];
    int head = members_head(line, sizeof line, level, ts, msg, rid);
    if (head < 0 || (size_t)head >= sizeof line)
        return; /* msg is a literal of the caller's: never this long */
    size_t mlen = strlen(members);
    size_t len = (size_t)head + (mlen > 0 ? 1 + mlen : 0) + 2; /* ",members" "}\n" */
    /* A long line (a batch's id lists): one allocation, copied, never formatted. */
    char *out = len < sizeof line ? line : malloc(len);
    if (out == NULL)
        return;
    if (out != line)
        memcpy(out, line, (size_t)head);
    size_t at = (size_t)head;
    if (mlen > 0) {
        out[at++] = ',';
        memcpy(out + at, members, mlen);
        at += mlen;
    }
    out[at++] = '}';
    out[at++] = '\n';
    if (!log_buffer_write(out, at, level >= LOG_ERROR))
        log_buffer_write_all(out, at);
    if (out != line)
        free(out);
}

void log_msgf(log_level level, const char *fmt, ...) {
    if (level < g_min_level)
        return;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        log_json(level, small, NULL);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        log_json(level, small, NULL); /* truncated beats nothing */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    log_json(level, big, NULL);
    free(big);
}
