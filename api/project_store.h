/*
 * project_store.h: the Postgres side of projects, members and invitations in the API
 * (docs/decisions.md "Issue 14" / "Slice 1").
 *
 * Owns: calling migration 0018's project_* functions and reading their (outcome, doc)
 * answer. Rules: who may do what is decided in those SQL functions, never here; each call
 * is one statement on a pooled primary connection (a guarded one, with If-Match, is one
 * transaction of two); PROJECT_UNAVAILABLE always means Postgres could not answer (the
 * route's 503), never "absent".
 */
#ifndef TASKBUS_API_PROJECT_STORE_H
#define TASKBUS_API_PROJECT_STORE_H

#include <jansson.h>

#include "shared/pg_pool.h"

/* The outcomes of migration 0018's functions, plus UNAVAILABLE. */
typedef enum {
    PROJECT_OK = 0,
    PROJECT_NOT_FOUND,
    PROJECT_FORBIDDEN,
    PROJECT_INBOX,
    PROJECT_LAST_OWNER,
    PROJECT_ALREADY_MEMBER,
    PROJECT_LIMIT,
    PROJECT_UNVERIFIED,
    PROJECT_PRECONDITION,
    PROJECT_UNAVAILABLE,
} project_outcome;

/* The calls, each one SQL function; the values each takes are listed beside it. */
typedef enum {
    PROJECT_OP_CREATE,         /* id, actor, name, description, max projects */
    PROJECT_OP_GET,            /* id, actor */
    PROJECT_OP_PATCH,          /* id, actor, name, description, archived, if version */
    PROJECT_OP_DELETE,         /* id, actor, if version */
    PROJECT_OP_MEMBERS,        /* id, actor */
    PROJECT_OP_SET_ROLE,       /* id, actor, target, role */
    PROJECT_OP_REMOVE_MEMBER,  /* id, actor, target */
    PROJECT_OP_INVITE,         /* invitation id, id, actor, email, role, ttl s, max */
    PROJECT_OP_INVITATIONS,    /* id, actor */
    PROJECT_OP_REVOKE,         /* id, invitation id, actor */
    PROJECT_OP_ACCEPT,         /* id, invitation id, actor, max projects */
    PROJECT_OP_MY_INVITATIONS, /* actor */
} project_op;

/* Runs op with values (text or NULL for SQL NULL, as the op lists them). *doc gets the
 * answer's document (new reference) when the outcome is PROJECT_OK and it has one. */
project_outcome project_store_call(pg_pool *pg, project_op op, const char *const *values,
                                   json_t **doc);

/* PATCH and DELETE with a precondition: in one transaction, locks the project, evaluates
 * if_match (the If-Match header; NULL: none) against its version, and runs op (PATCH or
 * DELETE) with its "if version" value set so that the SQL function refuses with
 * PROJECT_PRECONDITION when the header did not match (after its own role checks, so a
 * non-member still gets NOT_FOUND). values[0] and values[1] are the project id and the
 * actor. */
project_outcome project_store_call_guarded(pg_pool *pg, project_op op, const char **values,
                                           const char *if_match, json_t **doc);

/* PROJECT_OP_INVITE with its e-mail: in one transaction, the invitation and, when it was
 * made or renewed, a "project_invitation" notification to the address through the outbox
 * (shared/notification.h), so the mail goes exactly when the invitation commits.
 * public_url is the base of the link in the mail; request_id and traceparent travel on it. */
project_outcome project_store_invite(pg_pool *pg, const char *const *values, const char *public_url,
                                     const char *request_id, const char *traceparent, json_t **doc);

/* One page of the actor's projects in id order, after cursor (NULL: from the start);
 * archived: "true", "false" or NULL (both). *items (new reference) and next (37 bytes;
 * "" at the end). PROJECT_OK or PROJECT_UNAVAILABLE. */
project_outcome project_store_list(pg_pool *pg, const char *actor, const char *cursor,
                                   const char *archived, int limit, json_t **items, char *next);

#endif
