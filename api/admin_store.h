/*
 * admin_store.h: what the admin API reads (GET /api/v1/admin/users, .../users/{id},
 * /api/v1/admin/audit).
 *
 * Owns: those queries. Rules: the primary only (an admin acts on what is committed, not
 * on a replica's past); the documents are the SQL functions' of migration 0032
 * (admin_user_doc, admin_user_detail, admin_audit_doc), never the password hash; pages are
 * keyset pages by id (users oldest first, audit rows newest first), and *next is the last
 * id of a page only when another page follows ("" otherwise).
 */
#ifndef TASKBUS_API_ADMIN_STORE_H
#define TASKBUS_API_ADMIN_STORE_H

#include <jansson.h>

#include "api/http_context.h"
#include "api/store_result.h"
#include "shared/uuid7.h"

#define ADMIN_LIST_LIMIT_DEFAULT 50
#define ADMIN_LIST_LIMIT_MAX 200

typedef struct admin_user_filter {
    const char *email_prefix; /* NULL: every user */
    const char *after;        /* the cursor (a user id), NULL: the first page */
} admin_user_filter;

typedef struct admin_audit_filter {
    const char *target_id; /* NULL: any */
    const char *actor_id;  /* NULL: any */
    const char *before;    /* the cursor (an audit id), NULL: the newest page */
} admin_audit_filter;

/* FOUND with *items (caller owns) and next, or UNAVAILABLE. */
store_result admin_store_users(const api_app *app, const admin_user_filter *f, int limit,
                               json_t **items, char next[UUID_STR_LEN]);
/* FOUND with *doc (caller owns), NOT_FOUND, or UNAVAILABLE. */
store_result admin_store_user(const api_app *app, const char *id, json_t **doc);
/* FOUND with *items (caller owns) and next, or UNAVAILABLE. */
store_result admin_store_audit(const api_app *app, const admin_audit_filter *f, int limit,
                               json_t **items, char next[UUID_STR_LEN]);

#endif
