/*
 * kafka_admin.h: topic creation and topic configs through librdkafka's Admin API.
 *
 * Owns: creating the bus's topics idempotently (an existing topic is fine), bringing
 * every topic's managed configs (shared/topic_policy.h) to the policy, created or
 * existing, and waiting for a broker to answer. Rules: blocking calls with explicit
 * timeouts; used by taskbus-admin and by tests, never on a request path.
 */
#ifndef TASKBUS_SHARED_KAFKA_ADMIN_H
#define TASKBUS_SHARED_KAFKA_ADMIN_H

#include <stddef.h>

#include "shared/topic_policy.h"

typedef enum {
    KAFKA_TOPIC_CREATED,   /* made now, with the policy's configs */
    KAFKA_TOPIC_ALTERED,   /* existed; its managed configs were changed to the policy's */
    KAFKA_TOPIC_UNCHANGED, /* existed with exactly the policy's configs */
} kafka_topic_action;

typedef struct kafka_topic_outcome {
    kafka_topic_action action;
    int partitions; /* what the topic has (never changed by taskbus) */
    int replicas;   /* the fewest replicas of any of its partitions */
    int kept;       /* operator-set topic configs kept by an alteration */
} kafka_topic_outcome;

/* "created", "altered" or "unchanged". */
const char *kafka_topic_action_name(kafka_topic_action action);

/* Creates each topic that is missing. 0 when all exist afterwards, else -1 with err. */
int kafka_admin_create_topics(const char *brokers, const char *const *topics, int partitions,
                              int replication, int timeout_ms, char *err, size_t errlen);

/* Creates each missing topic of policies[0..n) with its configs, and for each existing
 * one makes its dynamic topic configs the policy's: DescribeConfigs, then AlterConfigs
 * with the policy's configs plus every other dynamic topic config the topic had (Kafka
 * 3.x AlterConfigs replaces the whole set; librdkafka 2.0.2 has no incremental one). A
 * topic that already matches is not altered. Partition counts are never changed: the
 * count each topic has goes to outcomes[i] (n entries). Refuses (-1, nothing altered)
 * when an existing topic has fewer replicas than its policy's min.insync.replicas. 0 when
 * every topic exists with its policy, else -1 with err naming the first failing topic.
 * Bounded by timeout_ms (plus about 1 s for the last answer to arrive). */
int kafka_admin_apply_policies(const char *brokers, const topic_policy *policies, size_t n,
                               int partitions, int replication, int timeout_ms,
                               kafka_topic_outcome *outcomes, char *err, size_t errlen);

/* Waits until broker metadata can be read. 0, or -1 after timeout_ms. */
int kafka_admin_wait_ready(const char *brokers, int timeout_ms, char *err, size_t errlen);

#endif
