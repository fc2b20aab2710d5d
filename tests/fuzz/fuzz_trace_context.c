/*
 * fuzz_trace_context.c: libFuzzer target for W3C traceparent parsing
 * (shared/trace_context.c) and the id lists of a batch's log line (shared/log_ids.c).
 *
 * Input: line 1 a traceparent header value (as bytes, with its length), line 2 a
 * request id as a Kafka header would bring it; the rest a UUID-like text.
 * Invariants: a value that parses has lower-case hex ids, not all zero; formatting it
 * gives a version-00 value of 55 characters that parses to the same ids and flags; a
 * version-00 input of 55 characters formats back to itself; a child keeps the trace id
 * and flags; the trace id read from the input agrees with the parse; a header that does
 * not parse still yields a valid new trace (never an error); the log id lists are valid
 * JSON holding printable text only; a trace made from a UUID is a valid traceparent.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "shared/log_ids.h"
#include "shared/trace_context.h"

static bool lower_hex(const char *s, size_t n) {
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
        nonzero = nonzero || s[i] != '0';
    }
    return nonzero;
}

static void check_valid(const trace_context *tc) {
    FUZZ_CHECK(strlen(tc->trace_id) == TRACE_ID_HEX && lower_hex(tc->trace_id, TRACE_ID_HEX));
    FUZZ_CHECK(strlen(tc->span_id) == TRACE_SPAN_HEX && lower_hex(tc->span_id, TRACE_SPAN_HEX));
    char text[TRACEPARENT_LEN + 1];
    trace_context_format(tc, text);
    FUZZ_CHECK(strlen(text) == TRACEPARENT_LEN && memcmp(text, "00-", 3) == 0);
    trace_context again;
    FUZZ_CHECK(trace_context_parse_str(text, &again));
    FUZZ_CHECK(strcmp(again.trace_id, tc->trace_id) == 0);
    FUZZ_CHECK(strcmp(again.span_id, tc->span_id) == 0);
    FUZZ_CHECK(again.flags == tc->flags);
}

static void check_header(const char *header, size_t len) {
    trace_context tc;
    bool ok = trace_context_parse(header, len, &tc);
    if (ok) {
        check_valid(&tc);
        if (len == TRACEPARENT_LEN && header[0] == '0' && header[1] == '0') {
            char text[TRACEPARENT_LEN + 1];
            trace_context_format(&tc, text);
            FUZZ_CHECK(memcmp(text, header, TRACEPARENT_LEN) == 0);
        }
        trace_context child;
        trace_context_child(&tc, &child);
        check_valid(&child);
        FUZZ_CHECK(strcmp(child.trace_id, tc.trace_id) == 0 && child.flags == tc.flags);
    }
    /* What a C string sees of the header (it may hold a NUL). */
    char tid[TRACE_ID_HEX + 1];
    bool has_tid = trace_context_trace_id(header, tid);
    if (strlen(header) == len) {
        FUZZ_CHECK(has_tid == ok);
        FUZZ_CHECK(!ok || strcmp(tid, tc.trace_id) == 0);
    }
    FUZZ_CHECK(has_tid || tid[0] == '\0');
    trace_context served;
    trace_context_from_header(header, &served);
    check_valid(&served);
    FUZZ_CHECK(!(ok && strlen(header) == len) || strcmp(served.trace_id, tc.trace_id) == 0);
}

static void check_lists(const char *request_id, const char *traceparent) {
    log_ids ids = LOG_IDS_INIT;
    log_ids_add(&ids, request_id, traceparent);
    log_ids_add(&ids, request_id, NULL);
    log_ids_add(&ids, "r", traceparent);
    const char *members = log_ids_members(&ids);
    FUZZ_CHECK(fuzz_printable(members));
    size_t n = strlen(members);
    char *doc = malloc(n + 3);
    FUZZ_CHECK(doc != NULL);
    doc[0] = '{';
    memcpy(doc + 1, members, n);
    doc[n + 1] = '}';
    doc[n + 2] = '\0';
    json_t *o = json_loads(doc, 0, NULL);
    FUZZ_CHECK(o != NULL);
    FUZZ_CHECK(json_is_array(json_object_get(o, "request_ids")));
    FUZZ_CHECK(json_is_array(json_object_get(o, "trace_ids")));
    json_decref(o);
    free(doc);
    log_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    size_t hlen = 0;
    char *header = fuzz_take_line(&in, &hlen);
    char *rid = fuzz_take_line(&in, NULL);
    char *uuid = fuzz_take_rest(&in, NULL);
    check_header(header, hlen);
    check_lists(rid, header);
    trace_context tc;
    if (trace_context_from_uuid(uuid, &tc)) {
        check_valid(&tc);
        FUZZ_CHECK(tc.flags == 0);
    }
    free(header);
    free(rid);
    free(uuid);
    return 0;
}
