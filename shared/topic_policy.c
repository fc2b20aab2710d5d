/*
 * topic_policy.c: the class of each topic and the Kafka configs of each class (see
 * topic_policy.h for the table).
 *
 * Owns: CLASSES (topic -> class) and the mapping of a class to its configs. Rules: the
 * values are decimal milliseconds as Kafka takes them; "forever" is retention.ms=-1;
 * cleanup.policy is always set, so a topic that someone made compacted (or not) is put
 * back to what its readers rely on; retention.bytes is always -1 (no size limit: taskbus
 * keeps records by time only, so an operator's per-topic retention.bytes is overridden and
 * a broker-wide log.retention.bytes cannot delete "forever" events). A policy never holds
 * more than TOPIC_POLICY_MAX_CONFIGS configs: adding one more fails topic_policy_for.
 */
#include "shared/topic_policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"

static const struct {
    const char *topic;
    topic_class cls;
} CLASSES[] = {
    {TASK_COMMANDS_TOPIC, TOPIC_CLASS_COMMANDS}, {TASK_COMMANDS_DLQ_TOPIC, TOPIC_CLASS_DLQ},
    {TASK_EVENTS_TOPIC, TOPIC_CLASS_EVENTS},     {TASK_EVENTS_V2_TOPIC, TOPIC_CLASS_EVENTS},
    {TASK_STATE_TOPIC, TOPIC_CLASS_STATE},       {USER_EVENTS_TOPIC, TOPIC_CLASS_EVENTS},
    {PROJECT_EVENTS_TOPIC, TOPIC_CLASS_EVENTS},  {NOTIFICATIONS_TOPIC, TOPIC_CLASS_COMMANDS},
    {NOTIFICATIONS_DLQ_TOPIC, TOPIC_CLASS_DLQ},  {REPORTS_TOPIC, TOPIC_CLASS_COMMANDS},
};

#define RETENTION_MS "retention.ms"
#define CLEANUP_POLICY "cleanup.policy"
#define DELETE_RETENTION_MS "delete.retention.ms"
#define MIN_INSYNC_REPLICAS "min.insync.replicas"
#define RETENTION_BYTES "retention.bytes"

const char *const TOPIC_MANAGED_CONFIGS[] = {
    RETENTION_MS, RETENTION_BYTES, CLEANUP_POLICY, DELETE_RETENTION_MS, MIN_INSYNC_REPLICAS, NULL,
};

int topic_class_of(const char *topic, topic_class *out) {
    if (topic == NULL || out == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof CLASSES / sizeof CLASSES[0]; i++) {
        if (strcmp(CLASSES[i].topic, topic) == 0) {
            *out = CLASSES[i].cls;
            return 0;
        }
    }
    return -1;
}

const char *topic_class_name(topic_class cls) {
    switch (cls) {
    case TOPIC_CLASS_EVENTS:
        return "events";
    case TOPIC_CLASS_COMMANDS:
        return "commands";
    case TOPIC_CLASS_DLQ:
        return "dlq";
    case TOPIC_CLASS_STATE:
        return "state";
    }
    return "unknown";
}

/* Appends name=value to p. 0, or -1 (nothing written) when p is full. */
static int add_text(topic_policy *p, const char *name, const char *value) {
    if (p->n_configs >= TOPIC_POLICY_MAX_CONFIGS) {
        return -1;
    }
    topic_config *c = &p->configs[p->n_configs++];
    c->name = name;
    snprintf(c->value, sizeof c->value, "%s", value);
    return 0;
}

static int add(topic_policy *p, const char *name, int64_t value) {
    char text[TOPIC_CONFIG_VALUE_MAX];
    snprintf(text, sizeof text, "%" PRId64, value);
    return add_text(p, name, text);
}

int topic_policy_for(const char *topic, const taskbus_config *cfg, topic_policy *out, char *err,
                     size_t errlen) {
    topic_class cls;
    if (cfg == NULL || out == NULL || topic_class_of(topic, &cls) != 0) {
        errbuf_setf(err, errlen, "topic %s has no retention policy (shared/topic_policy.c)",
                    topic != NULL ? topic : "(null)");
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->topic = topic;
    out->cls = cls;
    int rc = 0;
    switch (cls) {
    case TOPIC_CLASS_EVENTS:
        rc |= add(out, RETENTION_MS, cfg->events_retention_ms);
        rc |= add_text(out, CLEANUP_POLICY, "delete");
        break;
    case TOPIC_CLASS_COMMANDS:
        rc |= add(out, RETENTION_MS, cfg->commands_retention_ms);
        rc |= add_text(out, CLEANUP_POLICY, "delete");
        break;
    case TOPIC_CLASS_DLQ:
        rc |= add(out, RETENTION_MS, cfg->dlq_retention_ms);
        rc |= add_text(out, CLEANUP_POLICY, "delete");
        break;
    case TOPIC_CLASS_STATE:
        rc |= add(out, RETENTION_MS, CONFIG_DURATION_FOREVER);
        rc |= add_text(out, CLEANUP_POLICY, "compact");
        rc |= add(out, DELETE_RETENTION_MS, cfg->state_tombstone_retention_ms);
        break;
    }
    rc |= add(out, RETENTION_BYTES, -1); /* no size limit */
    rc |= add(out, MIN_INSYNC_REPLICAS, cfg->kafka_min_insync_replicas);
    if (rc != 0) {
        errbuf_setf(err, errlen,
                    "topic %s: more than %d managed configs (TOPIC_POLICY_MAX_CONFIGS)", topic,
                    TOPIC_POLICY_MAX_CONFIGS);
        return -1;
    }
    return 0;
}

int topic_policy_check_replicas(const topic_policy *p, int replicas, char *err, size_t errlen) {
    const char *min_text = topic_policy_value(p, MIN_INSYNC_REPLICAS);
    long min = min_text != NULL ? strtol(min_text, NULL, 10) : 1;
    if (replicas >= min) {
        return 0;
    }
    errbuf_setf(err, errlen,
                "topic %s has replication factor %d, below min.insync.replicas=%ld "
                "(TASKBUS_KAFKA_MIN_INSYNC_REPLICAS): every acks=all write to it would fail; "
                "raise its replication (kafka-reassign-partitions) or lower the setting",
                p->topic, replicas, min);
    return -1;
}

const char *topic_policy_value(const topic_policy *p, const char *name) {
    for (size_t i = 0; p != NULL && name != NULL && i < p->n_configs; i++) {
        if (strcmp(p->configs[i].name, name) == 0) {
            return p->configs[i].value;
        }
    }
    return NULL;
}
