/*
 * task_event_types.h: the CloudEvent types of a task's life and the subject they carry.
 *
 * Owns: the one C spelling of taskbus.task.created/.updated/.completed/.deleted (the
 * types on task-events, and the values on task-state; schemas/events/ holds their
 * schemas), of their version-2 twins on task-events.v2 (the v1 type followed by
 * TASK_EVENT_V2_SUFFIX), of the webhook subscription patterns and of the subject prefix
 * "tasks/" ("tasks/<task id>").
 * Rules: C code that writes or compares these types or builds a task's subject uses these
 * names, never a literal of its own. Header only: constants, no state.
 */
#ifndef TASKBUS_SHARED_TASK_EVENT_TYPES_H
#define TASKBUS_SHARED_TASK_EVENT_TYPES_H

#define TASK_EVENT_CREATED "taskbus.task.created"
#define TASK_EVENT_UPDATED "taskbus.task.updated"
#define TASK_EVENT_COMPLETED "taskbus.task.completed"
#define TASK_EVENT_DELETED "taskbus.task.deleted"
/* A version-2 type is its v1 type followed by this (docs/event-schemas.md, "Task events
 * v2"). */
#define TASK_EVENT_V2_SUFFIX ".v2"
#define TASK_EVENT_CREATED_V2 TASK_EVENT_CREATED TASK_EVENT_V2_SUFFIX
#define TASK_EVENT_UPDATED_V2 TASK_EVENT_UPDATED TASK_EVENT_V2_SUFFIX
#define TASK_EVENT_COMPLETED_V2 TASK_EVENT_COMPLETED TASK_EVENT_V2_SUFFIX
#define TASK_EVENT_DELETED_V2 TASK_EVENT_DELETED TASK_EVENT_V2_SUFFIX
/* The webhook subscription patterns for every task event of a user's webhook (v1) and of
 * a project's webhook (v2) (api/routes_webhooks.c, workers/webhooks/webhooks_ingest.c). */
#define TASK_EVENT_ANY "taskbus.task.*"
#define TASK_EVENT_ANY_V2 TASK_EVENT_ANY TASK_EVENT_V2_SUFFIX

/* A task event's subject is TASK_SUBJECT_PREFIX followed by the task's id. */
#define TASK_SUBJECT_PREFIX "tasks/"

#endif
