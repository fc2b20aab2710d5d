/*
 * project_store.h: the Postgres side of projects, members and invitations in the API
 * (docs/decisions.md "Issue 14" / "Slice 1").
 *
 * Owns: calling migration 0018's project_* functions, reading their (outcome, doc)
 * answer, and the transaction a write runs in. Rules: who may do what is decided in those
 * SQL functions, never here; a read is one statement on a pooled primary connection, a
 * write one transaction with its effects; PROJECT_UNAVAILABLE always means Postgres
 * could not answer (the route's 503), never "absent".
 */
#ifndef TASKBUS_API_PROJECT_STORE_H
#define TASKBUS_API_PROJECT_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "shared/pg_pool.h"

/* The outcomes of migration 0018's functions (project_delete's 'not_empty': 0020), plus
 * UNAVAILABLE. */
typedef enum {
    PROJECT_OK = 0,
    PROJECT_NOT_FOUND,
    PROJECT_FORBIDDEN,
    PROJECT_INBOX,
    PROJECT_NOT_EMPTY,
    PROJECT_LAST_OWNER,
    PROJECT_ALREADY_MEMBER,
    PROJECT_LIMIT,
    PROJECT_UNVERIFIED,
    PROJECT_PRECONDITION,
    PROJECT_UNAVAILABLE,
    PROJECT_QUIET, /* inside the store only: 'ok' with nothing to announce; callers see OK */
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

/* What a write needs besides its values; every member may be NULL. */
typedef struct project_request {
    const char *request_id;  /* travels on the change's event or mail */
    const char *traceparent; /* likewise */
    const char *public_url;  /* the base of the links in the invitation mail */
    const char *if_match;    /* PATCH and DELETE of a project: the If-Match header */
} project_request;

/* Runs op with values (text or NULL for SQL NULL, as the op lists them; the if-version
 * slot of PATCH and DELETE is filled here). A write runs in one transaction with its
 * effects (api/project_effects.h: its event, the invitation mail), so they commit
 * together. With req->if_match, PATCH and DELETE first lock the project and evaluate the
 * header against its version; the SQL function then refuses a mismatch with
 * PROJECT_PRECONDITION after its own role checks (a non-member still gets NOT_FOUND), and
 * *current (may be NULL) gets that version for the 412's ETag (-1 when none). *doc gets
 * the answer's document (new reference) when the outcome is PROJECT_OK and it has one.
 * req may be NULL for the reads. */
project_outcome project_store_call(pg_pool *pg, project_op op, const char **values,
                                   const project_request *req, json_t **doc, long long *current);

/* One page of the actor's projects in id order, after cursor (NULL: from the start);
 * archived: "true", "false" or NULL (both). *items (new reference) and next (37 bytes;
 * "" at the end). PROJECT_OK or PROJECT_UNAVAILABLE. */
project_outcome project_store_list(pg_pool *pg, const char *actor, const char *cursor,
                                   const char *archived, int limit, json_t **items, char *next);

/* The actor's role rank in project (project_role_rank: viewer 1, editor 2, owner 3) and
 * whether the project is an Inbox: PROJECT_OK, PROJECT_NOT_FOUND (no such project, or
 * the actor is not a member: the same answer) or PROJECT_UNAVAILABLE. A read of the
 * primary, for a write that names a project (the writer checks again when it applies). */
project_outcome project_store_role_rank(pg_pool *pg, const char *project, const char *actor,
                                        int *rank, bool *inbox);

#endif
