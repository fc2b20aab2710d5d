/*
 * near_cache_keys.c: the keys of the near cache's entries (see near_cache_keys.h).
 */
#include "api/near_cache_keys.h"

#include <stdio.h>

static char *near_key(char *out, const char *user_id, char family, const char *id) {
    int n = snprintf(out, NEAR_CACHE_KEY_MAX, "%s:%c:%s", user_id, family, id);
    if (n < 0 || n >= NEAR_CACHE_KEY_MAX) {
        out[0] = '\0';
    }
    return out;
}

char *near_cache_key_task(char *out, const char *user_id, const char *task_id) {
    return near_key(out, user_id, 't', task_id);
}

char *near_cache_key_page(char *out, const char *user_id, const char *page_hash) {
    return near_key(out, user_id, 'l', page_hash);
}

char *near_cache_key_session(char *out, const char *user_id, const char *session_id) {
    return near_key(out, user_id, 's', session_id);
}

char *near_cache_key_api_token(char *out, const char *user_id, const char *token_hash) {
    return near_key(out, user_id, 'k', token_hash);
}
