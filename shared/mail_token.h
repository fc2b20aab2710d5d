/*
 * mail_token.h: the single-use tokens that travel only inside an e-mail (address
 * verification, password reset).
 *
 * Owns: their form (32 random bytes, base64url without padding: 43 characters) and their
 * stored form (SHA-256, lower-case hex, decoded by the SQL). Rules: the raw token is never
 * stored or logged; a string of any other form was never issued, so a route refuses it
 * exactly as it refuses an unknown token.
 */
#ifndef TASKBUS_SHARED_MAIL_TOKEN_H
#define TASKBUS_SHARED_MAIL_TOKEN_H

#include <stdbool.h>

#define MAIL_TOKEN_CHARS 43
#define MAIL_TOKEN_BUF (MAIL_TOKEN_CHARS + 1)
#define MAIL_TOKEN_HASH_HEX_BUF 65

/* A new token and its SHA-256 in hex. The caller wipes token (sodium_memzero) when sent. */
void mail_token_new(char token[MAIL_TOKEN_BUF], char hash_hex[MAIL_TOKEN_HASH_HEX_BUF]);
/* The SHA-256 of token in lower-case hex. */
void mail_token_hash(const char *token, char hash_hex[MAIL_TOKEN_HASH_HEX_BUF]);
/* Exactly MAIL_TOKEN_CHARS base64url characters. */
bool mail_token_well_formed(const char *token);

#endif
