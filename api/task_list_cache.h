/*
 * task_list_cache.h: cached list pages under the user's generation, and the cache metric.
 *
 * Owns: {u:<uid>}:gen reads and {u:<uid>}:list:<gen>:<page hash> pages
 * (shared/redis_keys.h), and taskbus_cache_requests_total{cache,result}.
 * Rules: the writer INCRs the generation after each commit, which retires every page of
 * that user at once; a page is stored only when the generation it was read under is still
 * current (checked and set in one script), so a page built from rows older than a write
 * that was already reported applied is never cached where a later reader looks. A missing
 * generation counts as 0. Redis trouble is never an error for the caller: it is a miss,
 * counted as result="error", and the page comes from Postgres.
 */
#ifndef TASKBUS_API_TASK_LIST_CACHE_H
#define TASKBUS_API_TASK_LIST_CACHE_H

#include "api/http_context.h"
#include "api/read_replica.h"

/* Counts one lookup: cache "task" or "list", result "hit", "miss" or "error". */
void task_cache_count(const char *cache, const char *result);

/* The user's current list generation (>= 0), or -1 when Redis cannot answer (counted as
 * a list error: the caller skips the cache). With the read replica configured, *need gets
 * the user's commit LSN from the same MGET (api/read_replica.h); else it is UNKNOWN. */
long long task_list_cache_generation(const api_app *app, const char *user_id, read_lsn *need);

/* The cached page body (a new string the caller free()s) for page_hash under generation,
 * or NULL for a miss or a Redis failure (each counted). */
char *task_list_cache_get(const api_app *app, const char *user_id, long long generation,
                          const char *page_hash);

/* Stores body for CACHE_LIST_TTL_S if generation is still the user's current one. Best
 * effort: a failure is logged at debug level and otherwise ignored. */
void task_list_cache_put(const api_app *app, const char *user_id, long long generation,
                         const char *page_hash, const char *body);

#endif
