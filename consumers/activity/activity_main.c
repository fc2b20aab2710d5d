/*
 * activity_main.c: the taskbus-activity process (task-events to the activity log).
 *
 * Owns: the row of this consumer for shared/task_events_consumer.h (program, service,
 * group taskbus-activity, the batch handler of activity_batch.h); start-up, the loop,
 * offsets, signals and exit codes are that runner's (see its head).
 */
#include "consumers/activity/activity_batch.h"
#include "shared/bus.h"
#include "shared/daemon_port.h"
#include "shared/task_events_consumer.h"

static const task_events_consumer ACTIVITY = {
    .identity =
        {
            .program = "taskbus-activity",
            .service = "activity",
            .summary = "keeps the activity log of every user from task-events",
        },
    .port_offset = DAEMON_PORT_ACTIVITY,
    .group = ACTIVITY_GROUP,
    .on_batch = activity_on_batch,
};

int main(int argc, char **argv) {
    return task_events_consumer_main(&ACTIVITY, argc, argv);
}
