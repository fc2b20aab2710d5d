/*
 * analytics_main.c: the taskbus-analytics process (task-events to daily aggregates).
 *
 * Owns: the row of this consumer for shared/task_events_consumer.h (program, service,
 * group taskbus-analytics, the batch handler of analytics_batch.h); start-up, the loop,
 * offsets, signals and exit codes are that runner's (see its head).
 */
#include "consumers/analytics/analytics_batch.h"
#include "shared/bus.h"
#include "shared/daemon_port.h"
#include "shared/task_events_consumer.h"

static const task_events_consumer ANALYTICS = {
    .identity =
        {
            .program = "taskbus-analytics",
            .service = "analytics",
            .summary = "keeps per-user daily task aggregates from task-events",
        },
    .port_offset = DAEMON_PORT_ANALYTICS,
    .group = ANALYTICS_GROUP,
    .on_batch = analytics_on_batch,
};

int main(int argc, char **argv) {
    return task_events_consumer_main(&ANALYTICS, argc, argv);
}
