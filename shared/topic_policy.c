/*
 * topic_policy.c: the class of each topic and the Kafka configs of each class (see
 * topic_policy.h for the table).
 *
 * Owns: CLASSES (topic -> class) and the mapping of a class to its configs. Rules: the
 * values are decimal milliseconds as Kafka takes them; "forever" is retention.ms=-1;
 * cleanup.policy is always set, so a topic that someone made compacted (or not) is put
 * back to what its readers rely on.
 */
#include "shared/topic_policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"

static const struct {
    const char *topic;
    topic_class cls;
} CLASSES[] = {
    {TASK_COMMANDS_TOPIC, TOPIC_CLASS_COMMANDS}, {TASK_COMMANDS_DLQ_TOPIC, TOPIC_CLASS_DLQ},
    {TASK_EVENTS_TOPIC, TOPIC_CLASS_EVENTS},     {TASK_STATE_TOPIC, TOPIC_CLASS_STATE},
    {USER_EVENTS_TOPIC, TOPIC_CLASS_EVENTS},     {NOTIFICATIONS_TOPIC, TOPIC_CLASS_COMMANDS},
    {NOTIFICATIONS_DLQ_TOPIC, TOPIC_CLASS_DLQ},  {REPORTS_TOPIC, TOPIC_CLASS_COMMANDS},
};

#define RETENTION_MS "retention.ms"
#define CLEANUP_POLICY "cleanup.policy"
#define DELETE_RETENTION_MS "delete.retention.ms"
#define MIN_INSYNC_REPLICAS "min.insync.replicas"

const char *const TOPIC_MANAGED_CONFIGS[] = {
    RETENTION_MS, CLEANUP_POLICY, DELETE_RETENTION_MS, MIN_INSYNC_REPLICAS, NULL,
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

static void add(topic_policy *p, const char *name, int64_t value) {
    topic_config *c = &p->configs[p->n_configs++];
    c->name = name;
    snprintf(c->value, sizeof c->value, "%" PRId64, value);
}

static void add_text(topic_policy *p, const char *name, const char *value) {
    topic_config *c = &p->configs[p->n_configs++];
    c->name = name;
    snprintf(c->value, sizeof c->value, "%s", value);
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
    switch (cls) {
    case TOPIC_CLASS_EVENTS:
        add(out, RETENTION_MS, cfg->events_retention_ms);
        add_text(out, CLEANUP_POLICY, "delete");
        break;
    case TOPIC_CLASS_COMMANDS:
        add(out, RETENTION_MS, cfg->commands_retention_ms);
        add_text(out, CLEANUP_POLICY, "delete");
        break;
    case TOPIC_CLASS_DLQ:
        add(out, RETENTION_MS, cfg->dlq_retention_ms);
        add_text(out, CLEANUP_POLICY, "delete");
        break;
    case TOPIC_CLASS_STATE:
        add(out, RETENTION_MS, CONFIG_DURATION_FOREVER);
        add_text(out, CLEANUP_POLICY, "compact");
        add(out, DELETE_RETENTION_MS, cfg->state_tombstone_retention_ms);
        break;
    }
    add(out, MIN_INSYNC_REPLICAS, cfg->kafka_min_insync_replicas);
    return 0;
}

const char *topic_policy_value(const topic_policy *p, const char *name) {
    for (size_t i = 0; p != NULL && name != NULL && i < p->n_configs; i++) {
        if (strcmp(p->configs[i].name, name) == 0) {
            return p->configs[i].value;
        }
    }
    return NULL;
}
