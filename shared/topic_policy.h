/*
 * topic_policy.h: what each topic of the bus keeps, as Kafka topic configs.
 *
 * Owns: the class of every topic in BUS_TOPICS (events, commands, dlq, state) and, from
 * the configuration, the topic configs taskbus manages for each class (docs/decisions.md,
 * "Issue 12": "Retention per topic"). Rules: the topic names stay in bus.h; a topic not
 * in the class table has no policy (topic_policy_for fails), so a topic added to
 * BUS_TOPICS without a class fails the unit test, not a deployment. taskbus-admin topics
 * sets only the configs of a topic's policy (all among TOPIC_MANAGED_CONFIGS); every other
 * config an operator sets on the topic is left as it is.
 *   class     topics                                   retention.ms                cleanup
 *   events    task-events, task-events.v2, user-events, project-events
 *                                                    TASKBUS_EVENTS_RETENTION   delete
 *   commands  task-commands, notifications, reports    TASKBUS_COMMANDS_RETENTION  delete
 *   dlq       task-commands.dlq, notifications.dlq     TASKBUS_DLQ_RETENTION       delete
 *   state     task-state                               -1 (forever)                compact
 *             (+ delete.retention.ms = TASKBUS_STATE_TOMBSTONE_RETENTION)
 *   every topic: min.insync.replicas = TASKBUS_KAFKA_MIN_INSYNC_REPLICAS,
 *                retention.bytes = -1 (no size limit; an operator's value is overridden)
 */
#ifndef TASKBUS_SHARED_TOPIC_POLICY_H
#define TASKBUS_SHARED_TOPIC_POLICY_H

#include <stddef.h>

#include "shared/config.h"

typedef enum {
    TOPIC_CLASS_EVENTS,
    TOPIC_CLASS_COMMANDS,
    TOPIC_CLASS_DLQ,
    TOPIC_CLASS_STATE,
} topic_class;

#define TOPIC_POLICY_MAX_CONFIGS 5
#define TOPIC_CONFIG_VALUE_MAX 24 /* "-9223372036854775808" fits */

typedef struct topic_config {
    const char *name; /* static: one of TOPIC_MANAGED_CONFIGS */
    char value[TOPIC_CONFIG_VALUE_MAX];
} topic_config;

typedef struct topic_policy {
    const char *topic; /* static: the bus.h name */
    topic_class cls;
    size_t n_configs;
    topic_config configs[TOPIC_POLICY_MAX_CONFIGS];
} topic_policy;

/* Every config name any policy sets, NULL-terminated. */
extern const char *const TOPIC_MANAGED_CONFIGS[];

/* The class of a topic of the bus. 0, or -1 when topic is not one of BUS_TOPICS. */
int topic_class_of(const char *topic, topic_class *out);

/* "events", "commands", "dlq" or "state". */
const char *topic_class_name(topic_class cls);

/* Fills out with topic's configs under cfg. 0, or -1 with err for an unknown topic. */
int topic_policy_for(const char *topic, const taskbus_config *cfg, topic_policy *out, char *err,
                     size_t errlen);

/* 0 when a topic whose partitions have `replicas` replicas (the fewest of any partition)
 * can take p's min.insync.replicas; -1 with err naming the topic when it is below, as
 * every acks=all produce would then fail with NOT_ENOUGH_REPLICAS. */
int topic_policy_check_replicas(const topic_policy *p, int replicas, char *err, size_t errlen);

/* The value out sets for config name, or NULL when the policy does not manage it. */
const char *topic_policy_value(const topic_policy *p, const char *name);

#endif
