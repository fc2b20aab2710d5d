/*
 * api_token_format.h: the text of a personal API token.
 *
 * Owns: its form, "tb_" and 64 base64url characters holding 32 random bytes and then the
 * owner's user id (16 bytes), and its stored form (SHA-256 of the whole text, lower-case
 * hex). Rules: the random bytes come first, so a token's first characters (what a list
 * shows) differ from token to token; the owner's id rides in the token so that the check
 * can read the owner's token epoch and key its near-cache entry under the owner before
 * Postgres answers (api/api_token_check.h); it is no secret from whoever holds the token. The raw
 * token is never stored or logged; a text of any other form was never issued and is refused like an
 * unknown token.
 */
#ifndef TASKBUS_API_API_TOKEN_FORMAT_H
#define TASKBUS_API_API_TOKEN_FORMAT_H

#include <stdbool.h>

#include "shared/uuid7.h"

#define API_TOKEN_PREFIX "tb_"
#define API_TOKEN_CHARS 67 /* "tb_" and 64 base64url characters */
#define API_TOKEN_BUF (API_TOKEN_CHARS + 1)
#define API_TOKEN_HASH_HEX_BUF 65
/* What a list shows of a token: its first characters ("tb_" and 9 more). */
#define API_TOKEN_SHOWN_CHARS 12

/* Whether a bearer credential is meant as an API token (else it is a JWT). */
bool api_token_looks_like(const char *bearer);
/* A new token of user_id and its SHA-256 hex. 0, or -1 when user_id is no UUID. The
 * caller wipes token (sodium_memzero) once answered. */
int api_token_new(const char *user_id, char token[API_TOKEN_BUF],
                  char hash_hex[API_TOKEN_HASH_HEX_BUF]);
/* The owner and the SHA-256 hex of a well-formed token; false for anything else. */
bool api_token_parse(const char *token, char user_id[UUID_STR_LEN],
                     char hash_hex[API_TOKEN_HASH_HEX_BUF]);

#endif
