/*
 * near_cache_keys.h: the keys of the API's in-process near cache (api/near_cache.h).
 *
 * Owns: the spelling of the three entry families: "<user>:t:<task>" (a task),
 * "<user>:l:<page hash>" (a list page) and "<user>:s:<session>" (a session verdict).
 * These keys never leave the process (Redis keys are shared/redis_keys.h); they only have
 * to be distinct per family and per user. Rules: out must hold NEAR_CACHE_KEY_MAX bytes;
 * callers pass canonical ids (UUIDs, a page hash in hex, the session id of a verified
 * token), which always fit; a key that would not fit comes back empty rather than
 * truncated (a guard: canonical ids cannot reach it).
 */
#ifndef TASKBUS_API_NEAR_CACHE_KEYS_H
#define TASKBUS_API_NEAR_CACHE_KEYS_H

#define NEAR_CACHE_KEY_MAX 160

char *near_cache_key_task(char *out, const char *user_id, const char *task_id);
char *near_cache_key_page(char *out, const char *user_id, const char *page_hash);
char *near_cache_key_session(char *out, const char *user_id, const char *session_id);
/* A personal API token's verdict, by the token's SHA-256 hex (api/api_token_check.h). */
char *near_cache_key_api_token(char *out, const char *user_id, const char *token_hash);

#endif
