/*
 * relay_state.c: the task-state record of an outbox row (see relay_state.h).
 *
 * Owns: the four members read from a task-events payload (type, subject, data, data.id)
 * and the type -> kind table. Rules: no allocation; the task id is copied into the record
 * (the scratch buffer is reused by the next row); strings compare as decoded by json_scan.
 */
#include "workers/relay/relay_state.h"

#include <string.h>
#include <strings.h>

#include "shared/bus.h"
#include "shared/json_scan.h"
#include "shared/task_event_types.h"

enum { F_TYPE, F_SUBJECT, F_DATA, F_DATA_ID, F_COUNT };

/* The kind of state an event type leaves behind. */
static relay_state_kind kind_of(const char *type) {
    static const char *const existing[] = {TASK_EVENT_CREATED, TASK_EVENT_UPDATED,
                                           TASK_EVENT_COMPLETED};
    for (size_t i = 0; i < sizeof existing / sizeof existing[0]; i++) {
        if (strcmp(type, existing[i]) == 0) {
            return RELAY_STATE_VALUE;
        }
    }
    return strcmp(type, TASK_EVENT_DELETED) == 0 ? RELAY_STATE_TOMBSTONE : RELAY_STATE_NONE;
}

static bool set_key(relay_state_record *out, const char *key, size_t len) {
    if (len == 0 || len > RELAY_STATE_KEY_MAX) {
        return false;
    }
    memcpy(out->key, key, len);
    out->key[len] = '\0';
    out->key_len = len;
    return true;
}

/* The task id of a scanned event: the subject's "tasks/<id>", else data.id. */
static bool key_of(const json_scan_field *f, relay_state_record *out) {
    const json_scan_field *subject = &f[F_SUBJECT];
    size_t plen = sizeof TASK_SUBJECT_PREFIX - 1;
    if (subject->type == JSON_SCAN_STRING && subject->str_len > plen &&
        memcmp(subject->str, TASK_SUBJECT_PREFIX, plen) == 0) {
        return set_key(out, subject->str + plen, subject->str_len - plen);
    }
    const json_scan_field *id = &f[F_DATA_ID];
    return id->type == JSON_SCAN_STRING && set_key(out, id->str, id->str_len);
}

relay_state_kind relay_state_derive(const char *topic, const char *key, size_t key_len,
                                    const char *payload, size_t len, char *scratch,
                                    size_t scratchlen, relay_state_record *out) {
    *out = (relay_state_record){.kind = RELAY_STATE_NONE};
    if (strcmp(topic, TASK_STATE_TOPIC) == 0) {
        out->is_row = true;
        out->kind = !set_key(out, key, key_len) ? RELAY_STATE_UNREADABLE
                    : payload == NULL           ? RELAY_STATE_TOMBSTONE
                                                : RELAY_STATE_VALUE;
        return out->kind;
    }
    if (strcmp(topic, TASK_EVENTS_TOPIC) != 0) {
        return out->kind;
    }
    json_scan_field f[F_COUNT] = {
        [F_TYPE] = {.key = "type", .parent = -1},
        [F_SUBJECT] = {.key = "subject", .parent = -1},
        [F_DATA] = {.key = "data", .parent = -1},
        [F_DATA_ID] = {.key = "id", .parent = F_DATA},
    };
    if (payload == NULL || json_scan(payload, len, f, F_COUNT, scratch, scratchlen) != 0 ||
        f[F_TYPE].type != JSON_SCAN_STRING) {
        out->kind = RELAY_STATE_UNREADABLE;
        return out->kind;
    }
    relay_state_kind kind = kind_of(f[F_TYPE].str);
    if (kind == RELAY_STATE_NONE) {
        return out->kind;
    }
    out->kind = key_of(f, out) ? kind : RELAY_STATE_UNREADABLE;
    return out->kind;
}

size_t relay_state_tombstone_headers(const kafka_header *in, size_t n, kafka_header *out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(in[i].name, "content-type") != 0) {
            out[m++] = in[i];
        }
    }
    return m;
}
