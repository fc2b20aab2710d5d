/*
 * outbox.h: writing events to the transactional outbox.
 *
 * Owns: the INSERT into outbox and the NOTIFY that wakes the relay. Rules: call inside
 * the caller's open transaction, so the events commit with the state they describe; the
 * relay (workers/relay/) publishes them after the commit, in insertion order. The Kafka
 * headers of a row: request_id and traceparent (when given) and, on a row with a ce_type
 * (a CloudEvent in structured mode), content-type: application/cloudevents+json (the
 * CloudEvents Kafka protocol binding); never ce_* headers, which mean binary mode.
 */
#ifndef TASKBUS_SHARED_OUTBOX_H
#define TASKBUS_SHARED_OUTBOX_H

#include <jansson.h>
#include <stddef.h>

#include "shared/pg_pool.h"

/* One event for the outbox; every field borrowed. */
typedef struct outbox_row {
    const char *event_id;    /* the message's id (a CloudEvent's id) */
    const char *topic;       /* the Kafka topic */
    const char *key;         /* the Kafka key */
    const char *payload;     /* the message as JSON text */
    const char *ce_type;     /* the CloudEvent's type; NULL: the payload is no CloudEvent */
    const char *request_id;  /* header request_id, or NULL / "" for none */
    const char *traceparent; /* header traceparent, or NULL / "" for none */
} outbox_row;

/* Inserts rows[0..n) in that order with one statement and one NOTIFY (none when n is 0).
 * 0, or -1 with err. */
int outbox_add_many(pg_conn *conn, const outbox_row *rows, size_t n, char *err, size_t errlen);

/* Inserts event (a message with an "id", a CloudEvent when it has a "type"; borrowed) for
 * topic, keyed by key, carrying request_id and traceparent (each may be NULL) as Kafka
 * headers: outbox_add_many of one row. 0, or -1 with err. */
int outbox_add(pg_conn *conn, const char *topic, const char *key, const json_t *event,
               const char *request_id, const char *traceparent, char *err, size_t errlen);

/* A CloudEvent of type about one user (subject "users/<user_id>", data stolen; NULL is
 * an out-of-memory failure) on user-events, keyed by the user, through outbox_add: the one
 * shape of every account event. 0, or -1 with err. */
int outbox_add_user_event(pg_conn *conn, const char *type, const char *user_id, json_t *data,
                          const char *request_id, const char *traceparent, char *err,
                          size_t errlen);

#endif
