/*
 * trace_context.c: W3C Trace Context level 1 `traceparent` values (see trace_context.h).
 *
 * Owns: the grammar of traceparent and the making of ids. Rules: upper-case hex is
 * refused (the spec allows only lower case); ids come from libsodium's randombytes_buf
 * (thread-safe; sodium_init runs once here, guarded by pthread_once); no allocation
 * anywhere.
 */
#include "shared/trace_context.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HEX[] = "0123456789abcdef";

static int lower_hex(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* True when text[0..n) is lower-case hex and, if nonzero, not all '0'. */
static bool hex_field(const char *text, size_t n, bool nonzero) {
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        int v = lower_hex(text[i]);
        if (v < 0) {
            return false;
        }
        any = any || v != 0;
    }
    return any || !nonzero;
}

bool trace_context_parse(const char *text, size_t len, trace_context *out) {
    if (text == NULL || len < TRACEPARENT_LEN) {
        return false;
    }
    if (!hex_field(text, 2, false) || (text[0] == 'f' && text[1] == 'f')) {
        return false;
    }
    bool v00 = text[0] == '0' && text[1] == '0';
    if (v00 ? len != TRACEPARENT_LEN : (len > TRACEPARENT_LEN && text[TRACEPARENT_LEN] != '-')) {
        return false;
    }
    if (text[2] != '-' || text[35] != '-' || text[52] != '-') {
        return false;
    }
    if (!hex_field(text + 3, TRACE_ID_HEX, true) || !hex_field(text + 36, TRACE_SPAN_HEX, true) ||
        !hex_field(text + 53, 2, false)) {
        return false;
    }
    if (out != NULL) {
        memcpy(out->trace_id, text + 3, TRACE_ID_HEX);
        out->trace_id[TRACE_ID_HEX] = '\0';
        memcpy(out->span_id, text + 36, TRACE_SPAN_HEX);
        out->span_id[TRACE_SPAN_HEX] = '\0';
        out->flags = (uint8_t)(lower_hex(text[53]) * 16 + lower_hex(text[54]));
    }
    return true;
}

bool trace_context_parse_str(const char *text, trace_context *out) {
    return text != NULL && trace_context_parse(text, strlen(text), out);
}

static pthread_once_t g_sodium_once = PTHREAD_ONCE_INIT;

static void sodium_init_once(void) {
    if (sodium_init() < 0) {
        /* libsodium cannot seed itself: nothing sensible is left to do. */
        fputs("trace_context: sodium_init failed\n", stderr);
        abort();
    }
}

/* raw[0..n) as 2n lower-case hex into out, NUL-terminated. */
static void to_hex(const unsigned char *raw, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[raw[i] >> 4];
        out[2 * i + 1] = HEX[raw[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static bool all_zero(const unsigned char *raw, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (raw[i] != 0) {
            return false;
        }
    }
    return true;
}

/* n random bytes (one randombytes_buf call: a getrandom(2) at most), whose first `head`
 * and last n - head bytes are each not all zero (redrawn otherwise: 2^-64 odds). */
static void random_ids(unsigned char *raw, size_t n, size_t head) {
    (void)pthread_once(&g_sodium_once, sodium_init_once);
    do {
        randombytes_buf(raw, n);
    } while ((head > 0 && all_zero(raw, head)) || all_zero(raw + head, n - head));
}

void trace_context_start(trace_context *out) {
    unsigned char raw[TRACE_ID_HEX / 2 + TRACE_SPAN_HEX / 2];
    random_ids(raw, sizeof raw, TRACE_ID_HEX / 2);
    to_hex(raw, TRACE_ID_HEX / 2, out->trace_id);
    to_hex(raw + TRACE_ID_HEX / 2, TRACE_SPAN_HEX / 2, out->span_id);
    out->flags = 0;
}

void trace_context_child(const trace_context *parent, trace_context *out) {
    if (out != parent) {
        memcpy(out->trace_id, parent->trace_id, sizeof out->trace_id);
    }
    out->flags = parent->flags;
    unsigned char raw[TRACE_SPAN_HEX / 2];
    random_ids(raw, sizeof raw, 0);
    to_hex(raw, sizeof raw, out->span_id);
}

void trace_context_format(const trace_context *tc, char out[TRACEPARENT_LEN + 1]) {
    memcpy(out, "00-", 3);
    memcpy(out + 3, tc->trace_id, TRACE_ID_HEX);
    out[35] = '-';
    memcpy(out + 36, tc->span_id, TRACE_SPAN_HEX);
    out[52] = '-';
    out[53] = HEX[tc->flags >> 4];
    out[54] = HEX[tc->flags & 0x0f];
    out[TRACEPARENT_LEN] = '\0';
}

bool trace_context_trace_id(const char *traceparent, char out[TRACE_ID_HEX + 1]) {
    out[0] = '\0';
    if (traceparent == NULL) {
        return false;
    }
    trace_context tc;
    if (!trace_context_parse_str(traceparent, &tc)) {
        return false;
    }
    memcpy(out, tc.trace_id, sizeof tc.trace_id);
    return true;
}

void trace_context_from_header(const char *header, trace_context *out) {
    trace_context parent;
    if (trace_context_parse_str(header, &parent)) {
        trace_context_child(&parent, out);
    } else {
        trace_context_start(out);
    }
}

bool trace_context_from_uuid(const char *uuid, trace_context *out) {
    char hex[TRACE_ID_HEX];
    size_t n = 0;
    for (size_t i = 0; uuid != NULL && uuid[i] != '\0'; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? uuid[i] != '-' : (n >= TRACE_ID_HEX || lower_hex(uuid[i]) < 0)) {
            return false;
        }
        if (!dash) {
            hex[n++] = uuid[i];
        }
    }
    if (n != TRACE_ID_HEX || !hex_field(hex, TRACE_ID_HEX, true) ||
        !hex_field(hex + TRACE_ID_HEX - TRACE_SPAN_HEX, TRACE_SPAN_HEX, true)) {
        return false;
    }
    memcpy(out->trace_id, hex, TRACE_ID_HEX);
    out->trace_id[TRACE_ID_HEX] = '\0';
    memcpy(out->span_id, hex + TRACE_ID_HEX - TRACE_SPAN_HEX, TRACE_SPAN_HEX);
    out->span_id[TRACE_SPAN_HEX] = '\0';
    out->flags = 0;
    return true;
}
