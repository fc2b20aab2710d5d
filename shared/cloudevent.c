/*
 * cloudevent.c: CloudEvents 1.0 envelopes in structured JSON mode.
 *
 * Owns: the envelope fields and their order (specversion, id, source, type, time, subject,
 * datacontenttype, dataschema, traceparent when given, data), and the type -> dataschema
 * rule (cloudevent_dataschema: its only home; the schema files' $id follow it). Rules: the
 * id is a fresh UUIDv7 (also the outbox event_id, so consumers de-duplicate on it); time is
 * RFC 3339 UTC with milliseconds; on any failure data is still released and NULL is
 * returned. The envelope is written once, as text (cloudevent_text, which the writer uses
 * for every event); cloudevent_new reads that text back for callers that want a tree.
 */
#include "shared/cloudevent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/json_text.h"
#include "shared/strbuf.h"
#include "shared/time_util.h"
#include "shared/trace_context.h"

/* The N of a ".v<N>" suffix (N >= 2, no leading zero, at most 4 digits) ending type,
 * with *family_len the length before it; 1 and the whole length otherwise. */
static unsigned type_version(const char *type, size_t len, size_t *family_len) {
    size_t d = len;
    while (d > 0 && type[d - 1] >= '0' && type[d - 1] <= '9') {
        d--;
    }
    size_t digits = len - d;
    *family_len = len;
    if (digits == 0 || digits > 4 || type[d] == '0' || d < 3 || type[d - 1] != 'v' ||
        type[d - 2] != '.') {
        return 1;
    }
    unsigned n = 0;
    for (size_t i = d; i < len; i++) {
        n = n * 10 + (unsigned)(type[i] - '0');
    }
    if (n < 2) {
        return 1;
    }
    *family_len = d - 2;
    return n;
}

size_t cloudevent_dataschema(const char *type, char *out, size_t outlen) {
    size_t len = type != NULL ? strlen(type) : 0;
    if (out == NULL || outlen == 0) {
        return 0;
    }
    out[0] = '\0';
    if (len == 0 || len > CLOUDEVENT_TYPE_MAX) {
        return 0;
    }
    size_t family_len;
    unsigned version = type_version(type, len, &family_len);
    int n = snprintf(out, outlen, "%s%.*s/v%u.json", CLOUDEVENT_DATASCHEMA_BASE, (int)family_len,
                     type, version);
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

char *cloudevent_text(const char *type, const char *subject, const char *data,
                      const char *traceparent, char id_out[UUID_STR_LEN]) {
    bool traced = traceparent != NULL && traceparent[0] != '\0';
    trace_context tc;
    char dataschema[CLOUDEVENT_DATASCHEMA_LEN];
    if (type == NULL || subject == NULL || (traced && !trace_context_parse_str(traceparent, &tc)) ||
        cloudevent_dataschema(type, dataschema, sizeof dataschema) == 0) {
        return NULL;
    }
    /* Written as version 00 from its parsed parts: a later version may carry any bytes
     * after its fields, and the event schemas promise the 00 form. */
    char normal[TRACEPARENT_LEN + 1];
    if (traced) {
        trace_context_format(&tc, normal);
    }
    char id[UUID_STR_LEN];
    char time_text[32];
    uuid7_generate(id);
    time_format_rfc3339_ms(time_now_unix_ms(), time_text, sizeof time_text);
    strbuf b = {0};
    strbuf_puts(&b, "{\"specversion\":\"1.0\",\"id\":");
    json_text_string(&b, id);
    strbuf_puts(&b, ",\"source\":");
    json_text_string(&b, CLOUDEVENT_SOURCE);
    strbuf_puts(&b, ",\"type\":");
    json_text_string(&b, type);
    strbuf_puts(&b, ",\"time\":");
    json_text_string(&b, time_text);
    strbuf_puts(&b, ",\"subject\":");
    json_text_string(&b, subject);
    strbuf_puts(&b, ",\"datacontenttype\":\"application/json\",\"dataschema\":");
    json_text_string(&b, dataschema);
    if (traced) {
        strbuf_puts(&b, ",\"traceparent\":");
        json_text_string(&b, normal);
    }
    strbuf_puts(&b, ",\"data\":");
    strbuf_puts(&b, data != NULL ? data : "{}");
    strbuf_puts(&b, "}");
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    if (id_out != NULL) {
        memcpy(id_out, id, UUID_STR_LEN);
    }
    return b.data;
}

json_t *cloudevent_new(const char *type, const char *subject, json_t *data, const char *traceparent,
                       char id_out[UUID_STR_LEN]) {
    char *data_text = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
    bool failed = data != NULL && data_text == NULL;
    json_decref(data);
    if (failed) {
        return NULL;
    }
    char *text = cloudevent_text(type, subject, data_text, traceparent, id_out);
    free(data_text);
    json_t *ev = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return ev;
}
