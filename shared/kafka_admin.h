/*
 * kafka_admin.h: topic creation through librdkafka's Admin API.
 *
 * Owns: creating the bus's topics idempotently (an existing topic is fine) and waiting
 * for a broker to answer. Rules: blocking calls with explicit timeouts; used by
 * taskbus-admin and by tests, never on a request path.
 */
#ifndef TASKBUS_SHARED_KAFKA_ADMIN_H
#define TASKBUS_SHARED_KAFKA_ADMIN_H

#include <stddef.h>

/* Creates each topic that is missing. 0 when all exist afterwards, else -1 with err. */
int kafka_admin_create_topics(const char *brokers, const char *const *topics, int partitions,
                              int replication, int timeout_ms, char *err, size_t errlen);

/* Waits until broker metadata can be read. 0, or -1 after timeout_ms. */
int kafka_admin_wait_ready(const char *brokers, int timeout_ms, char *err, size_t errlen);

#endif
