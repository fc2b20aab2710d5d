/*
 * outbox.h: writing events to the transactional outbox.
 *
 * Owns: the INSERT into outbox and the NOTIFY that wakes the relay. Rules: call inside
 * the caller's open transaction, so the event commits with the state it describes; the
 * relay (workers/relay_*.c) publishes it after the commit.
 */
#ifndef TASKBUS_SHARED_OUTBOX_H
#define TASKBUS_SHARED_OUTBOX_H

#include <jansson.h>
#include <stddef.h>

#include "shared/pg_pool.h"

/* Inserts event (a CloudEvent; borrowed) for topic, keyed by key, carrying request_id
 * (may be NULL) as a Kafka header. 0, or -1 with err. */
int outbox_add(pg_conn *conn, const char *topic, const char *key, const json_t *event,
               const char *request_id, char *err, size_t errlen);

#endif
