/*
 * webhook_store.h: the Postgres side of webhooks in the API (docs/decisions.md "Webhooks").
 *
 * Owns: inserting a webhook (0006_webhooks.sql), listing and deleting a user's webhooks,
 * and the keyset-paginated deliveries log of one webhook (newest first, each delivery with
 * its attempts). Rules: every lookup is by (webhook id, user id), so another user's
 * webhook is "not found". The documents are built by Postgres in one place (timestamps
 * RFC 3339 UTC with milliseconds) and never contain the secret: the secret leaves the API
 * only in the answer to the registration, which the route adds itself.
 */
#ifndef TASKBUS_API_WEBHOOK_STORE_H
#define TASKBUS_API_WEBHOOK_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "api/store_result.h"
#include "shared/pg_pool.h"
#include "shared/uuid7.h"

#define WEBHOOK_LIST_MAX 100 /* webhooks listed (and allowed) per user */

/* Inserts an enabled webhook. *out: its document without the secret (new reference). */
store_result webhook_store_create(pg_pool *pg, const char *id, const char *user_id, const char *url,
                                  const json_t *event_types, const char *secret, json_t **out,
                                  char *err, size_t errlen);

/* The user's webhooks, oldest first (*items: new reference). */
store_result webhook_store_list(pg_pool *pg, const char *user_id, json_t **items);

/* Deletes the user's webhook (its deliveries go with it). */
store_result webhook_store_delete(pg_pool *pg, const char *id, const char *user_id);

/* Up to limit deliveries of the user's webhook with ids below before (NULL: from the
 * newest). *items: new reference; next (UUID_STR_LEN) receives the last id when a further
 * page may exist, else "". */
store_result webhook_store_deliveries(pg_pool *pg, const char *webhook_id, const char *user_id,
                                      const char *before, int limit, json_t **items, char *next);

#endif
