/*
 * auth_token_memo.c: the verified-token table (auth_token_memo.h).
 *
 * Owns: g_slots and g_locks, process-wide (one table for every connection thread). Rules:
 * a slot is read and written only under its stripe's mutex; its token text is malloc'd
 * and replaced, never shared outside the lock (claims are copied out).
 */
#include "api/auth_token_memo.h"

#include <pthread.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "shared/fnv1a.h"

#define STRIPES 64

typedef struct memo_slot {
    char *token; /* NULL when empty */
    size_t len;  /* strlen(token) */
    auth_jwt_claims claims;
} memo_slot;

static memo_slot g_slots[AUTH_TOKEN_MEMO_SLOTS];
static pthread_mutex_t g_locks[STRIPES] = {[0 ... STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

bool auth_token_memo_get(const char *token, int64_t now, auth_jwt_claims *out) {
    size_t i = fnv1a64(token) % AUTH_TOKEN_MEMO_SLOTS;
    size_t len = strlen(token);
    pthread_mutex_t *mu = &g_locks[i % STRIPES];
    pthread_mutex_lock(mu);
    /* Constant time for equal lengths: the slot may hold another user's token. */
    bool hit = g_slots[i].token != NULL && g_slots[i].len == len &&
               sodium_memcmp(g_slots[i].token, token, len) == 0;
    if (hit)
        *out = g_slots[i].claims;
    pthread_mutex_unlock(mu);
    return hit && auth_jwt_check_times(out, now) == AUTH_JWT_OK;
}

void auth_token_memo_put(const char *token, const auth_jwt_claims *claims) {
    char *copy = strdup(token);
    if (copy == NULL)
        return;
    size_t i = fnv1a64(token) % AUTH_TOKEN_MEMO_SLOTS;
    pthread_mutex_t *mu = &g_locks[i % STRIPES];
    pthread_mutex_lock(mu);
    char *old = g_slots[i].token;
    g_slots[i].token = copy;
    g_slots[i].len = strlen(copy);
    g_slots[i].claims = *claims;
    pthread_mutex_unlock(mu);
    free(old);
}
