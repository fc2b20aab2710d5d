/*
 * cloudevent.c: CloudEvents 1.0 envelopes in structured JSON mode.
 *
 * Owns: the envelope fields and their order (specversion, id, source, type, time, subject,
 * datacontenttype, data). Rules: the id is a fresh UUIDv7 (also the outbox event_id, so
 * consumers de-duplicate on it); time is RFC 3339 UTC with milliseconds; on any failure
 * data is still released and NULL is returned.
 */
#include "shared/cloudevent.h"

#include <string.h>

#include "shared/time_util.h"

json_t *cloudevent_new(const char *type, const char *subject, json_t *data,
                       char id_out[UUID_STR_LEN]) {
    if (type == NULL || subject == NULL) {
        json_decref(data);
        return NULL;
    }
    char id[UUID_STR_LEN];
    char time_text[32];
    uuid7_generate(id);
    time_format_rfc3339_ms(time_now_unix_ms(), time_text, sizeof time_text);

    json_t *ev = json_object();
    if (ev == NULL) {
        json_decref(data);
        return NULL;
    }
    int rc = json_object_set_new(ev, "specversion", json_string("1.0"));
    rc |= json_object_set_new(ev, "id", json_string(id));
    rc |= json_object_set_new(ev, "source", json_string(CLOUDEVENT_SOURCE));
    rc |= json_object_set_new(ev, "type", json_string(type));
    rc |= json_object_set_new(ev, "time", json_string(time_text));
    rc |= json_object_set_new(ev, "subject", json_string(subject));
    rc |= json_object_set_new(ev, "datacontenttype", json_string("application/json"));
    rc |= json_object_set_new(ev, "data", data != NULL ? data : json_object());
    if (rc != 0) {
        json_decref(ev);
        return NULL;
    }
    if (id_out != NULL)
        memcpy(id_out, id, UUID_STR_LEN);
    return ev;
}
