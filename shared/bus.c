/*
 * bus.c: the list of the bus's topics and the dead-letter naming rule (see bus.h).
 *
 * Owns: BUS_TOPICS and bus_dlq_topic. Rules: the names themselves are bus.h's macros; a
 * dead-letter name that would not fit is refused whole, never cut (a cut name could be
 * another topic).
 */
#include "shared/bus.h"

#include <stdio.h>

const char *const BUS_TOPICS[] = {
    TASK_COMMANDS_TOPIC,
    TASK_COMMANDS_DLQ_TOPIC,
    TASK_EVENTS_TOPIC,
    TASK_EVENTS_V2_TOPIC,
    TASK_STATE_TOPIC,
    USER_EVENTS_TOPIC,
    PROJECT_EVENTS_TOPIC,
    NOTIFICATIONS_TOPIC,
    NOTIFICATIONS_DLQ_TOPIC,
    REPORTS_TOPIC,
    NULL,
};

int bus_dlq_topic(char *out, size_t outlen, const char *topic) {
    if (out == NULL || outlen == 0) {
        return -1;
    }
    int n = snprintf(out, outlen, "%s" BUS_DLQ_SUFFIX, topic != NULL ? topic : "");
    if (topic == NULL || n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
