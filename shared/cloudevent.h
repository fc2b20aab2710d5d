/*
 * cloudevent.h: CloudEvents 1.0 envelopes in structured JSON mode.
 *
 * Owns: the envelope every taskbus event wears (specversion, id, source, type, time,
 * subject, datacontenttype, traceparent when known (the distributed-tracing extension),
 * data). Rules: the id is a fresh UUIDv7; time is RFC 3339 UTC with milliseconds; the
 * caller owns the returned object. Structured mode on Kafka: the relay publishes the
 * envelope as the value with the header content-type: CLOUDEVENT_CONTENT_TYPE.
 */
#ifndef TASKBUS_SHARED_CLOUDEVENT_H
#define TASKBUS_SHARED_CLOUDEVENT_H

#include <jansson.h>

#include "shared/uuid7.h"

#define CLOUDEVENT_SOURCE "/taskbus/api"
#define CLOUDEVENT_CONTENT_TYPE "application/cloudevents+json"

/* The envelope as compact JSON text (caller frees), data being the JSON text of an object
 * (NULL: {}). traceparent (may be NULL or "": left out) is the W3C traceparent of the
 * request that caused the event; it must be a valid one (shared/trace_context.h), as it
 * is written unescaped. id_out (may be NULL) receives the event id. NULL when out of
 * memory or when traceparent is not valid. */
char *cloudevent_text(const char *type, const char *subject, const char *data,
                      const char *traceparent, char id_out[UUID_STR_LEN]);
/* The same envelope as a tree; data is stolen. id_out (may be NULL) receives the event id. */
json_t *cloudevent_new(const char *type, const char *subject, json_t *data, const char *traceparent,
                       char id_out[UUID_STR_LEN]);

#endif
