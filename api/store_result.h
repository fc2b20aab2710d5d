/*
 * store_result.h: what a call into one of the API's resource stores (report_store.h,
 * webhook_store.h) found.
 *
 * Owns: the one result type those stores share. Rules: each function says which of these
 * it returns; UNAVAILABLE always means Postgres could not answer (the route's 503), never
 * "absent"; another user's resource is NOT_FOUND, never a distinct result.
 */
#ifndef TASKBUS_API_STORE_RESULT_H
#define TASKBUS_API_STORE_RESULT_H

typedef enum {
    STORE_FOUND = 0,
    STORE_NOT_FOUND,
    STORE_LIMIT, /* create: the user has as many as a user may have already */
    STORE_UNAVAILABLE,
    STORE_OWNER_GONE, /* create: the user row is gone (deleted mid-request) */
    STORE_FORBIDDEN,  /* create: the user's role where it would go is too low */
    STORE_MISMATCH,   /* patch: a value of the other kind (a webhook's types of the other scope) */
} store_result;

#endif
