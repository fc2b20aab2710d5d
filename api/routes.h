/*
 * routes.h: the route tables, one per concern, joined by router.c.
 * Each table ends with a {NULL} sentinel.
 */
#ifndef TASKBUS_API_ROUTES_H
#define TASKBUS_API_ROUTES_H

#include "api/http_context.h"

extern const api_route ROUTES_HEALTH[]; /* routes_health.c: /health, /ready, /metrics */
extern const api_route ROUTES_AUTH[];   /* routes_auth.c: /api/v1/auth/... */
extern const api_route ROUTES_USERS[];  /* routes_users.c: /api/v1/users/me */
/* routes_tasks_write.c: POST /api/v1/tasks, PATCH|DELETE /api/v1/tasks/:id,
 * GET /api/v1/commands/:id */
extern const api_route ROUTES_TASKS_WRITE[];
/* routes_tasks_read.c: GET /api/v1/tasks, /api/v1/tasks/:id, /api/v1/tasks/stats */
extern const api_route ROUTES_TASKS_READ[];
/* routes_import.c: POST /api/v1/tasks/import, GET /api/v1/tasks/import/:id */
extern const api_route ROUTES_IMPORT[];
/* routes_events.c: GET /api/v1/events (Server-Sent Events) */
extern const api_route ROUTES_EVENTS[];
/* routes_verify.c: GET /api/v1/auth/verify?token=, POST /api/v1/auth/verify/resend */
extern const api_route ROUTES_VERIFY[];
/* routes_password_reset.c: POST /api/v1/auth/password-reset, .../password-reset/confirm */
extern const api_route ROUTES_PASSWORD_RESET[];
/* email_change.c: POST /api/v1/auth/email-change/confirm */
extern const api_route ROUTES_EMAIL_CHANGE[];
/* routes_webhooks.c: POST|GET /api/v1/webhooks, DELETE /api/v1/webhooks/:id,
 * GET /api/v1/webhooks/:id/deliveries */
extern const api_route ROUTES_WEBHOOKS[];
/* routes_reports.c: POST|GET /api/v1/reports, GET /api/v1/reports/:id,
 * GET /api/v1/reports/:id/download */
extern const api_route ROUTES_REPORTS[];
/* routes_analytics.c: GET /api/v1/analytics/daily */
extern const api_route ROUTES_ANALYTICS[];
/* routes_activity.c: GET /api/v1/activity */
extern const api_route ROUTES_ACTIVITY[];
/* routes_projects.c: /api/v1/projects, its members and invitations, /api/v1/invitations */
extern const api_route ROUTES_PROJECTS[];
/* routes_tokens.c: POST|GET /api/v1/tokens, DELETE /api/v1/tokens/:id */
extern const api_route ROUTES_TOKENS[];
/* email_change_revert.c: POST /api/v1/auth/email-change/revert */
extern const api_route ROUTES_EMAIL_REVERT[];
/* routes_register.c: POST /api/v1/auth/register, POST /api/v1/auth/register/confirm */
extern const api_route ROUTES_REGISTER[];
/* routes_admin.c: /api/v1/admin/users[/...], /api/v1/admin/audit (admins only) */
extern const api_route ROUTES_ADMIN[];
/* routes_web.c: /, /app/..., /docs/..., and the mailed links' pages (the web client) */
extern const api_route ROUTES_WEB[];

#endif
