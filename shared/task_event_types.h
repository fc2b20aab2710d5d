/*
 * task_event_types.h: the CloudEvent types of a task's life and the subject they carry.
 *
 * Owns: the one C spelling of taskbus.task.created/.updated/.completed/.deleted (the
 * types on task-events, and the values on task-state; schemas/events/ holds their
 * schemas) and of the subject prefix "tasks/" ("tasks/<task id>").
 * Rules: C code that writes or compares these types or builds a task's subject uses these
 * names, never a literal of its own. Header only: constants, no state.
 */
#ifndef TASKBUS_SHARED_TASK_EVENT_TYPES_H
#define TASKBUS_SHARED_TASK_EVENT_TYPES_H

#define TASK_EVENT_CREATED "taskbus.task.created"
#define TASK_EVENT_UPDATED "taskbus.task.updated"
#define TASK_EVENT_COMPLETED "taskbus.task.completed"
#define TASK_EVENT_DELETED "taskbus.task.deleted"
/* The webhook subscription pattern for every task event (api/routes_webhooks.c). */
#define TASK_EVENT_ANY "taskbus.task.*"

/* A task event's subject is TASK_SUBJECT_PREFIX followed by the task's id. */
#define TASK_SUBJECT_PREFIX "tasks/"

#endif
