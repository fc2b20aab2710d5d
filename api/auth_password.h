/*
 * auth_password.h: argon2id password hashes (libsodium crypto_pwhash_str).
 *
 * Owns: hashing with TASKBUS_ARGON2_OPSLIMIT / TASKBUS_ARGON2_MEMLIMIT_KIB, verifying,
 * the rehash decision when those settings change, and the dummy verification that makes
 * a login for an unknown e-mail cost what a real one costs. Rules: at most
 * TASKBUS_ARGON2_CONCURRENCY hashes or verifications run at once in the process (a
 * counting semaphore), so memory stays bounded at concurrency x memlimit whatever the
 * request rate; callers hold no pooled connection while hashing.
 */
#ifndef TASKBUS_API_AUTH_PASSWORD_H
#define TASKBUS_API_AUTH_PASSWORD_H

#include <sodium.h>
#include <stdbool.h>

#include "shared/config.h"

#define AUTH_PASSWORD_HASH_BUF crypto_pwhash_STRBYTES

typedef enum {
    AUTH_PASSWORD_MATCH = 0,
    AUTH_PASSWORD_MISMATCH = 1,
    AUTH_PASSWORD_ERROR = -1, /* out of memory, bad settings or a malformed stored hash */
} auth_password_result;

/* Applies cfg's settings on first use (later calls keep the first settings). 0, or -1
 * when libsodium cannot start or the settings are out of its range. */
int auth_password_setup(const taskbus_config *cfg);

/* Hashes password into out. 0, or -1. */
int auth_password_hash(const taskbus_config *cfg, const char *password,
                       char out[AUTH_PASSWORD_HASH_BUF]);
auth_password_result auth_password_verify(const taskbus_config *cfg, const char *stored_hash,
                                          const char *password);
/* Verifies against a fixed dummy hash made with the same settings; always a mismatch. */
void auth_password_verify_dummy(const taskbus_config *cfg, const char *password);
/* True when stored_hash (argon2id) was made with other settings than the live ones. */
bool auth_password_needs_rehash(const taskbus_config *cfg, const char *stored_hash);

#endif
