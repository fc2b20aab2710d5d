/*
 * bus.h: the names on the Kafka bus, in one place.
 *
 * Owns: every topic, dead-letter topic, consumer group and client id taskbus uses
 * (docs/decisions.md, "One home for names"), and the rule that names a dead-letter
 * topic. Rules: no other file spells one of these names (tests may: they check the
 * contract); a process that makes a name configurable (TASKBUS_WRITER_TOPIC, _GROUP,
 * TASKBUS_IMPORT_TOPIC in shared/config.c) takes its default from here.
 *   topic              producers                          consumers (group)
 *   task-commands      API, importer                      writer (taskbus-writer)
 *   task-commands.dlq  writer: a command it cannot apply  taskbus-admin replay-dlq
 *   task-events        writer, through outbox and relay   webhooks (taskbus-webhooks),
 *                                                         analytics (taskbus-analytics),
 *                                                         activity (taskbus-activity)
 *   task-events.v2     writer, through outbox and relay:   nobody of ours yet (consumers
 *                      the same facts as v2 types, keyed   move to it before the v1
 *                      like task-events                    types retire)
 *   task-state         relay, derived from each task-events  new consumers bootstrapping
 *                      row (compacted; key = task id;      (no group of ours)
 *                      tombstone when the task is gone)
 *   user-events        API (auth), through the outbox     activity, analytics (erasures)
 *   project-events     API (projects, members), through   nobody yet
 *                      the outbox; key = project id
 *   notifications      API, scheduler, reporter and       notifier (taskbus-notifier)
 *                      webhooks, through the outbox
 *   notifications.dlq  notifier: undeliverable mail       taskbus-admin replay-dlq
 *   reports            API, through the outbox            reporter (taskbus-reporter)
 * taskbus-admin replay-dlq keeps its progress as group taskbus-dlq-replay. A client id is
 * what the broker shows (logs, quotas) for a connection: taskbus-<process>, and a consumer
 * uses its group name (replay-dlq's short-lived consumer sets none: librdkafka's default).
 */
#ifndef TASKBUS_SHARED_BUS_H
#define TASKBUS_SHARED_BUS_H

#include <stddef.h>

/* A dead-letter topic is its topic's name with this suffix (bus_dlq_topic). */
#define BUS_DLQ_SUFFIX ".dlq"

#define TASK_COMMANDS_TOPIC "task-commands"
#define TASK_COMMANDS_DLQ_TOPIC TASK_COMMANDS_TOPIC BUS_DLQ_SUFFIX
#define TASK_EVENTS_TOPIC "task-events"
/* Version 2 of the task events (taskbus.task.*.v2: docs/event-schemas.md, "Task events
 * v2"): a topic of their own beside task-events for the v1 types' retirement period. */
#define TASK_EVENTS_V2_TOPIC TASK_EVENTS_TOPIC ".v2"
#define TASK_STATE_TOPIC "task-state"
#define USER_EVENTS_TOPIC "user-events"
#define PROJECT_EVENTS_TOPIC "project-events"
#define NOTIFICATIONS_TOPIC "notifications"
#define NOTIFICATIONS_DLQ_TOPIC NOTIFICATIONS_TOPIC BUS_DLQ_SUFFIX
#define REPORTS_TOPIC "reports"

#define WRITER_GROUP "taskbus-writer"
#define NOTIFIER_GROUP "taskbus-notifier"
#define WEBHOOKS_GROUP "taskbus-webhooks"
#define REPORTER_GROUP "taskbus-reporter"
#define ANALYTICS_GROUP "taskbus-analytics"
#define ACTIVITY_GROUP "taskbus-activity"
#define DLQ_REPLAY_GROUP "taskbus-dlq-replay"

#define API_CLIENT_ID "taskbus-api"
#define RELAY_CLIENT_ID "taskbus-relay"
#define WRITER_CLIENT_ID "taskbus-writer"
#define IMPORTER_CLIENT_ID "taskbus-importer"
#define IMPORTER_LAG_CLIENT_ID "taskbus-importer-lag"
#define SCHEDULER_LAG_CLIENT_ID "taskbus-scheduler-lag"
#define NOTIFIER_CLIENT_ID "taskbus-notifier"
#define ADMIN_CLIENT_ID "taskbus-admin"
/* The /ready probe's own Kafka client of a daemon (shared/daemon_probes.c): printf format of
 * "taskbus-<service>-probe", so the broker tells it from the daemon's working clients. */
#define PROBE_CLIENT_ID_FMT "taskbus-%s-probe"
/* A producer created without a client id. */
#define DEFAULT_CLIENT_ID "taskbus"

/* Every topic of the bus (the ones taskbus-admin create-topics makes), NULL-terminated. */
extern const char *const BUS_TOPICS[];

/* Writes topic's dead-letter topic, "<topic>.dlq", into out. 0, or -1 when it does not fit
 * outlen (out is then ""). */
int bus_dlq_topic(char *out, size_t outlen, const char *topic);

#endif
