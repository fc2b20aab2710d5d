/*
 * redis_keys.c: every Redis key and channel name taskbus uses (see redis_keys.h).
 *
 * Owns: the spelling of every key family (redis_keys.h lists them). Rules: each per-user
 * key carries the hash tag {u:<user id>} so all keys of one user share a Redis Cluster
 * slot; ids are copied as given (callers pass canonical lower-case UUIDs and the address
 * the API saw); a name that would not fit REDIS_KEY_MAX bytes comes back empty, never
 * truncated, so a bad id can never alias another user's key.
 */
#include "shared/redis_keys.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

char *redis_key_commit_lsn(char *out, const char *user_id) {
    return format_key(out, "{u:%s}:lsn", user_id);
}

char *redis_key_user_tag(char *out, const char *user_id) {
    return format_key(out, "{u:%s}", user_id);
}

char *redis_key_epoch(char *out, const char *user_id) {
    return format_key(out, "{u:%s}:epoch", user_id);
}

char *redis_key_revoked(char *out, const char *user_id, const char *session_id) {
    return format_key(out, "{u:%s}:revoked:%s", user_id, session_id);
}

char *redis_key_sse_ticket(char *out, const char *ticket_hash_hex) {
    return format_key(out, "sse:ticket:%s", ticket_hash_hex);
}

char *redis_key_rate_ip(char *out, const char *client_ip) {
    return format_key(out, "rl:{ip:%s}:all", client_ip);
}

char *redis_key_rate_user(char *out, const char *user_id) {
    return format_key(out, "rl:{u:%s}:all", user_id);
}

char *redis_key_rate_ip_auth(char *out, const char *client_ip) {
    return format_key(out, "rl:{ip:%s}:auth", client_ip);
}

/* An account bucket: only the SHA-256 of the e-mail is in the key. */
static char *rate_account_key(char *out, const char *email, const char *bucket) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    const char *e = email != NULL ? email : "";
    crypto_hash_sha256(digest, (const unsigned char *)e, strlen(e));
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    return format_key(out, "rl:{acct:%s}:%s", hex, bucket);
}

char *redis_key_rate_login_account(char *out, const char *email) {
    return rate_account_key(out, email, "login");
}

char *redis_key_rate_mail_address(char *out, const char *email) {
    return rate_account_key(out, email, "mail");
}
