/*
 * auth_token_memo.h: access tokens this process has already verified, and their claims.
 *
 * Owns: a fixed table of AUTH_TOKEN_MEMO_SLOTS entries (direct-mapped by a hash of the
 * token; a collision replaces the older entry), each the exact token text and the claims
 * auth_jwt_verify read from it. Rules: only tokens that passed auth_jwt_verify with this
 * process's key, issuer and audience (all fixed for the process) are remembered; a hit
 * needs the whole token to be equal, byte for byte, and its time checks
 * (auth_jwt_check_times) are made again at every use, so a remembered token expires on
 * time. Whether its session is still current is NOT remembered here (that is the session
 * check's, kept exact by the near cache). Thread-safe: a mutex per stripe of slots.
 */
#ifndef TASKBUS_API_AUTH_TOKEN_MEMO_H
#define TASKBUS_API_AUTH_TOKEN_MEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "api/auth_jwt.h"

#define AUTH_TOKEN_MEMO_SLOTS 4096

/* True with *out filled when token was remembered and is still within its times. */
bool auth_token_memo_get(const char *token, int64_t now, auth_jwt_claims *out);
/* Remembers a token that has just been verified. */
void auth_token_memo_put(const char *token, const auth_jwt_claims *claims);

#endif
