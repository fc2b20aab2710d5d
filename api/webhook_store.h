/*
 * webhook_store.h: the Postgres side of webhooks in the API (docs/decisions.md "Webhooks").
 *
 * Owns: inserting a webhook (0006_webhooks.sql; a project's: 0025_project_webhooks.sql), listing,
 * patching, rotating the secret of (0015_webhook_management.sql) and deleting a user's webhooks,
 * queueing a ping and redelivering a delivery, and the keyset-paginated deliveries log of one
 * webhook (newest first, each delivery with its attempts). Rules: every lookup is by (webhook id,
 * user id), so another user's webhook is "not found". The documents are built by Postgres in one
 * place (timestamps RFC 3339 UTC with milliseconds) and never contain the secret: the secret leaves
 * the API only in the answer to the registration, which the route adds itself.
 */
#ifndef TASKBUS_API_WEBHOOK_STORE_H
#define TASKBUS_API_WEBHOOK_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/store_result.h"
#include "shared/pg_pool.h"
#include "shared/uuid7.h"

#define WEBHOOK_LIST_MAX 100                     /* webhooks listed (and allowed) per user */
#define WEBHOOK_PING_TYPE "taskbus.webhook.ping" /* the event type of a test delivery */

/* Inserts an enabled webhook, the user's (project_id NULL) or a project's. *out: its
 * document without the secret (new reference). STORE_NOT_FOUND or STORE_FORBIDDEN: the
 * user is not a member, or not an owner, of the project (checked under the project's lock:
 * 0025_project_webhooks.sql); STORE_OWNER_GONE, STORE_LIMIT as their names say. */
store_result webhook_store_create(pg_pool *pg, const char *id, const char *user_id,
                                  const char *project_id, const char *url,
                                  const json_t *event_types, const char *secret, json_t **out,
                                  char *err, size_t errlen);

/* The user's webhooks, oldest first (*items: new reference). */
store_result webhook_store_list(pg_pool *pg, const char *user_id, json_t **items);

/* Deletes the user's webhook (its deliveries go with it). */
store_result webhook_store_delete(pg_pool *pg, const char *id, const char *user_id);

/* Applies a merge patch to the user's webhook: url and event_types (a JSON array, v2 types
 * when types_v2) when not NULL, enabled when 0 or 1 (-1 keeps it; 1 on a disabled webhook
 * re-enables it and clears disabled_at, disabled_reason and failing_since). *out: the new
 * document. STORE_MISMATCH (nothing changed): the types are not of the webhook's scope (a
 * project's webhook takes v2 types, a user's v1). */
store_result webhook_store_patch(pg_pool *pg, const char *id, const char *user_id, const char *url,
                                 const json_t *event_types, bool types_v2, int enabled,
                                 json_t **out);

/* Makes secret the user's webhook's secret; the one it replaces stays valid (deliveries are
 * signed with both) for grace_s seconds. *out: the new document (without secrets). */
store_result webhook_store_rotate(pg_pool *pg, const char *id, const char *user_id,
                                  const char *secret, int grace_s, json_t **out);

/* Queues a ping: a delivery of event (a CloudEvent of type WEBHOOK_PING_TYPE whose id is
 * event_id) to the user's webhook, sent by taskbus-webhooks like any other. *out: the
 * delivery's document. STORE_NOT_FOUND with *disabled set when the webhook exists but is
 * disabled (nothing queued). */
store_result webhook_store_ping(pg_pool *pg, const char *webhook_id, const char *user_id,
                                const char *delivery_id, const char *event_id, const json_t *event,
                                json_t **out, bool *disabled);

/* Why webhook_store_redeliver answered STORE_NOT_FOUND. */
typedef enum redeliver_refusal {
    REDELIVER_NO_SUCH,  /* no such webhook of the user, or no such delivery of it */
    REDELIVER_DISABLED, /* the webhook is disabled */
    REDELIVER_PENDING,  /* the delivery is not final yet (it is being tried) */
} redeliver_refusal;

/* Makes a delivered or failed delivery of the user's enabled webhook pending and due now,
 * with a fresh retry budget (its attempts and log keep counting). *out: its document;
 * STORE_NOT_FOUND with *why when nothing changed. */
store_result webhook_store_redeliver(pg_pool *pg, const char *webhook_id, const char *user_id,
                                     const char *delivery_id, json_t **out, redeliver_refusal *why);

/* Up to limit deliveries of the user's webhook with ids below before (NULL: from the
 * newest). *items: new reference; next (UUID_STR_LEN) receives the last id when a further
 * page may exist, else "". */
store_result webhook_store_deliveries(pg_pool *pg, const char *webhook_id, const char *user_id,
                                      const char *before, int limit, json_t **items, char *next);

#endif
