/*
 * cloudevent.h: CloudEvents 1.0 envelopes in structured JSON mode.
 *
 * Owns: the envelope every taskbus event wears (specversion, id, source, type, time,
 * subject, datacontenttype, dataschema, traceparent when known (the distributed-tracing
 * extension), data), and the one rule that turns an event type into its dataschema URI.
 * Rules: the id is a fresh UUIDv7; time is RFC 3339 UTC with milliseconds; dataschema is
 * cloudevent_dataschema(type), the $id of schemas/events/<type>.json (docs/event-schemas.md);
 * the caller owns the returned object. Structured mode on Kafka: the relay publishes the
 * envelope as the value with the header content-type: CLOUDEVENT_CONTENT_TYPE.
 */
#ifndef TASKBUS_SHARED_CLOUDEVENT_H
#define TASKBUS_SHARED_CLOUDEVENT_H

#include <jansson.h>
#include <stddef.h>

#include "shared/uuid7.h"

#define CLOUDEVENT_SOURCE "/taskbus/api"
#define CLOUDEVENT_CONTENT_TYPE "application/cloudevents+json"

/* Where the event schemas are named: dataschema = BASE "<family>/v<N>.json". */
#define CLOUDEVENT_DATASCHEMA_BASE "https://taskbus.example/schemas/events/"
/* Room for any dataschema of a type up to CLOUDEVENT_TYPE_MAX characters. */
#define CLOUDEVENT_TYPE_MAX 128
#define CLOUDEVENT_DATASCHEMA_LEN (sizeof CLOUDEVENT_DATASCHEMA_BASE + CLOUDEVENT_TYPE_MAX + 8)

/* The dataschema URI of an event type, into out (outlen bytes, NUL-terminated): the type
 * names its family and major version. A type ending in ".v<N>" (N >= 2, no leading zero)
 * is version N of the family before that suffix; any other type is version 1 of itself:
 *   taskbus.task.created    -> CLOUDEVENT_DATASCHEMA_BASE "taskbus.task.created/v1.json"
 *   taskbus.task.created.v2 -> CLOUDEVENT_DATASCHEMA_BASE "taskbus.task.created/v2.json"
 * Only an incompatible change makes a new URI (a new type); compatible changes (new
 * optional fields) keep it. Returns the length, or 0 (out set to "") when type is NULL,
 * empty or longer than CLOUDEVENT_TYPE_MAX, or out is too small. */
size_t cloudevent_dataschema(const char *type, char *out, size_t outlen);

/* The envelope as compact JSON text (caller frees), data being the JSON text of an object
 * (NULL: {}). traceparent (may be NULL or "": left out) is the W3C traceparent of the
 * request that caused the event; it must be a valid one (shared/trace_context.h), as it
 * is written unescaped. id_out (may be NULL) receives the event id. NULL when out of
 * memory, when traceparent is not valid, or when type has no dataschema (empty or longer
 * than CLOUDEVENT_TYPE_MAX). */
char *cloudevent_text(const char *type, const char *subject, const char *data,
                      const char *traceparent, char id_out[UUID_STR_LEN]);
/* The same envelope as a tree; data is stolen. id_out (may be NULL) receives the event id. */
json_t *cloudevent_new(const char *type, const char *subject, json_t *data, const char *traceparent,
                       char id_out[UUID_STR_LEN]);

#endif
