/*
 * problem.h: RFC 9457 problem details.
 *
 * Owns: the JSON shape of every error the API answers: type ("/problems/<slug>"), title,
 * status, detail, request_id and, for validation, errors: [{field, message}].
 * Rules: the caller owns the returned json_t. Titles are fixed per slug; details are
 * for humans and never echo secrets.
 */
#ifndef TASKBUS_SHARED_PROBLEM_H
#define TASKBUS_SHARED_PROBLEM_H

#include <jansson.h>

#define PROBLEM_CONTENT_TYPE "application/problem+json"

/* A new problem object; detail and request_id may be NULL. */
json_t *problem_new(int status, const char *slug, const char *detail, const char *request_id);
/* Appends {field, message} to the problem's "errors" array (created on first use). */
void problem_add_field_error(json_t *problem, const char *field, const char *message);
/* The fixed title for a slug ("Validation failed" for "validation-error"). */
const char *problem_title(const char *slug);

#endif
