/*
 * redis_keys.h: the Redis keys and channels of tasks, in one place.
 *
 * Owns: key names. Rules: every key of one user carries the hash tag {u:<user id>}, so
 * the writer's and the API's multi-key scripts stay in one Redis Cluster slot.
 *   {u:<uid>}:task:<tid>        the task JSON (with version), written through by the writer
 *   {u:<uid>}:gen               the user's list generation, INCR'd by the writer
 *   {u:<uid>}:list:<gen>:<h>    a cached list page for query hash h under generation gen
 *   {u:<uid>}:cmd:<cid>         a command's status JSON ({"status":"pending"} from the API,
 *                               then applied/rejected from the writer), 24 h
 *   {u:<uid>}:events:log        a Redis stream (XADD MAXLEN ~ 1000) of the user's task
 *                               events; Last-Event-ID is the stream entry id
 *   {u:<uid>}:events            the pub/sub channel the writer PUBLISHes each event on
 *                               ({"id": stream id, "event": CloudEvent}) for live SSE
 * out must hold REDIS_KEY_MAX bytes; the functions return out.
 */
#ifndef TASKBUS_SHARED_REDIS_KEYS_H
#define TASKBUS_SHARED_REDIS_KEYS_H

#define REDIS_KEY_MAX 256
#define CACHE_TASK_TTL_S 3600
#define CACHE_LIST_TTL_S 300
#define CACHE_COMMAND_TTL_S 86400
#define CACHE_EVENTS_STREAM_MAXLEN 1000

char *redis_key_task(char *out, const char *user_id, const char *task_id);
char *redis_key_generation(char *out, const char *user_id);
char *redis_key_list(char *out, const char *user_id, long long generation,
                     const char *query_hash);
char *redis_key_command(char *out, const char *user_id, const char *command_id);
char *redis_key_events_log(char *out, const char *user_id);
char *redis_key_events_channel(char *out, const char *user_id);

#endif
