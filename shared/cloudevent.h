/*
 * cloudevent.h: CloudEvents 1.0 envelopes in structured JSON mode.
 *
 * Owns: the envelope every taskbus event wears (specversion, id, source, type, time,
 * subject, datacontenttype, data). Rules: the id is a fresh UUIDv7; time is RFC 3339 UTC
 * with milliseconds; the caller owns the returned object.
 */
#ifndef TASKBUS_SHARED_CLOUDEVENT_H
#define TASKBUS_SHARED_CLOUDEVENT_H

#include <jansson.h>

#include "shared/uuid7.h"

#define CLOUDEVENT_SOURCE "/taskbus/api"

/* The envelope as compact JSON text (caller frees), data being the JSON text of an object
 * (NULL: {}). id_out (may be NULL) receives the event id. NULL when out of memory. */
char *cloudevent_text(const char *type, const char *subject, const char *data,
                      char id_out[UUID_STR_LEN]);
/* The same envelope as a tree; data is stolen. id_out (may be NULL) receives the event id. */
json_t *cloudevent_new(const char *type, const char *subject, json_t *data,
                       char id_out[UUID_STR_LEN]);

#endif
