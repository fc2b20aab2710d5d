/*
 * report_filters.h: the filters of POST /api/v1/reports, checked by the task list's rules.
 *
 * Owns: turning the JSON object {status, priority, tag, due_before, due_after, q, project}
 * into the
 * list's query string and parsing it with task_query_parse (api/task_query.h), so a report
 * accepts exactly the filters GET /api/v1/tasks accepts, with the same messages; and the
 * normalised form stored in reports.filters and read by taskbus-reporter:
 * {status?: [names], priority?: [names], tag?: [sorted tags], due_before?: RFC 3339 with
 * microseconds, due_after?: same, q?: text, project?: a project id, lower-cased (the route
 * checks the membership: docs/decisions.md "Stats per project (slice 6)")}.
 * Rules: status, priority and tag take a string (commas allowed for status/priority, as
 * in the list) or an array of strings; due_before, due_after, q and project take a
 * string; sort,
 * limit and cursor are refused (a report lists every matching task in the list's default
 * order, newest first); an unknown key is refused. Error fields are "filters.<name>".
 */
#ifndef TASKBUS_API_REPORT_FILTERS_H
#define TASKBUS_API_REPORT_FILTERS_H

#include <jansson.h>
#include <stddef.h>

/* filters may be NULL or JSON null (no filters). Appends {field, message} to errors and
 * returns how many; *out (a new object) is set only when 0 is returned; -1 out of memory. */
int report_filters_parse(const json_t *filters, json_t **out, json_t *errors);

/* The query string the filters stand for (caller frees), or NULL when a value has the
 * wrong type (errors appended) or memory runs out. Exposed for the unit tests. */
char *report_filters_query_string(const json_t *filters, json_t *errors);

#endif
