/*
 * kafka_producer.h: the idempotent Kafka producer every writer of the bus uses.
 *
 * Owns: one rd_kafka_t with enable.idempotence=true (acks=all), a small linger.ms, and a
 * poller thread that serves delivery reports. Rules: a send is done only when its
 * delivery report says so; callers wait for it (kafka_producer_send) or for a whole
 * group (kafka_delivery_group). A group is reference counted, so a caller that gives up
 * waiting can drop it while reports are still due. destroy flushes before it frees.
 */
#ifndef TASKBUS_SHARED_KAFKA_PRODUCER_H
#define TASKBUS_SHARED_KAFKA_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kafka_producer kafka_producer;
typedef struct kafka_delivery_group kafka_delivery_group;

typedef struct kafka_header {
    const char *name;
    const char *value; /* NUL-terminated text */
} kafka_header;

typedef struct kafka_message {
    const char *topic;
    const char *key; /* may be NULL */
    size_t key_len;
    const void *value;
    size_t value_len;
    const kafka_header *headers;
    size_t nheaders;
} kafka_message;

/* librdkafka's own bound on retrying one message, for producers that can wait. */
#define KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS 30000

/* message_timeout_ms is message.timeout.ms: every message has its report within it
 * (<= 0: KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS). */
kafka_producer *kafka_producer_create(const char *brokers, const char *client_id,
                                      int message_timeout_ms, char *err, size_t errlen);
/* Flushes (up to timeout_ms), stops the poller and frees. */
void kafka_producer_destroy(kafka_producer *producer, int timeout_ms);

/* Produces one message and waits for its delivery report. 0 when durable, else -1. */
int kafka_producer_send(kafka_producer *producer, const kafka_message *msg, int timeout_ms,
                        char *err, size_t errlen);
/* The same; on -1, *in_doubt says whether the message may still reach (or have reached)
 * the broker: any failed report but a broker's "not persisted", or no report within
 * timeout_ms. */
int kafka_producer_send_doubt(kafka_producer *producer, const kafka_message *msg, int timeout_ms,
                              bool *in_doubt, char *err, size_t errlen);

kafka_delivery_group *kafka_delivery_group_new(void);
/* Enqueues without waiting; the report counts into group. 0, or -1 when it could not even
 * be enqueued (then it does not count). */
int kafka_producer_enqueue(kafka_producer *producer, kafka_delivery_group *group,
                           const kafka_message *msg, char *err, size_t errlen);
/* Waits until every enqueued message has a report. 0 when all were delivered; -1 on a
 * failed delivery or a timeout (err says which). */
int kafka_delivery_group_wait(kafka_delivery_group *group, int timeout_ms, char *err,
                              size_t errlen);
/* The same, with *in_doubt (may be NULL) as for kafka_producer_send_doubt. */
int kafka_delivery_group_wait_doubt(kafka_delivery_group *group, int timeout_ms, bool *in_doubt,
                                    char *err, size_t errlen);
void kafka_delivery_group_release(kafka_delivery_group *group);

int kafka_producer_flush(kafka_producer *producer, int timeout_ms);
/* When (time_monotonic_ns() / 1000000) the last failed delivery report came, 0 if none did.
 * A failed report may be "possibly persisted": a flush that returned 0 after it does not
 * prove that nothing of this producer can still land. */
int64_t kafka_producer_last_failure_ms(kafka_producer *producer);
/* Broker metadata within timeout; for /ready. */
bool kafka_producer_ping(kafka_producer *producer, int timeout_ms, char *err, size_t errlen);

#endif
