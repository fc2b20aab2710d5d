/*
 * redis_keys.c: the Redis keys and channels of tasks, in one place.
 *
 * Owns: the spelling of every per-user task key (see cache_keys.h for the list). Rules:
 * each starts with the hash tag {u:<user id>} so all keys of one user share a Redis
 * Cluster slot; ids are copied as given (callers pass canonical lower-case UUIDs); a name
 * that would not fit REDIS_KEY_MAX bytes comes back empty, never truncated, so a bad id
 * can never alias another user's key.
 */
#include "shared/redis_keys.h"

#include <stdarg.h>
#include <stdio.h>

static char *format_key(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *format_key(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, REDIS_KEY_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= REDIS_KEY_MAX) {
        out[0] = '\0';
    }
    return out;
}

char *redis_key_task(char *out, const char *user_id, const char *task_id) {
    return format_key(out, "{u:%s}:task:%s", user_id, task_id);
}

char *redis_key_generation(char *out, const char *user_id) {
    return format_key(out, "{u:%s}:gen", user_id);
}

char *redis_key_list(char *out, const char *user_id, long long generation, const char *query_hash) {
    return format_key(out, "{u:%s}:list:%lld:%s", user_id, generation, query_hash);
}

char *redis_key_command(char *out, const char *user_id, const char *command_id) {
    return format_key(out, "{u:%s}:cmd:%s", user_id, command_id);
}

char *redis_key_events_log(char *out, const char *user_id) {
    return format_key(out, "{u:%s}:events:log", user_id);
}

char *redis_key_events_channel(char *out, const char *user_id) {
    return format_key(out, "{u:%s}:events", user_id);
}
