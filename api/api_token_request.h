/*
 * api_token_request.h: the body of POST /api/v1/tokens.
 *
 * Owns: its rules: name (1-100 characters, trimmed), scopes (a non-empty array of known
 * scope names, each at most once) and expires_at (optional: an RFC 3339 time in the
 * future, at most API_TOKEN_MAX_DAYS away; null or absent: the token does not expire).
 * Every other member is refused. Rules: pure; errors are appended as {field, message}.
 */
#ifndef TASKBUS_API_API_TOKEN_REQUEST_H
#define TASKBUS_API_API_TOKEN_REQUEST_H

#include <jansson.h>
#include <stdbool.h>

#define API_TOKEN_NAME_MAX_CHARS 100
#define API_TOKEN_NAME_BUF (API_TOKEN_NAME_MAX_CHARS * 4 + 1)
#define API_TOKEN_MAX_DAYS 366

typedef struct api_token_create_input {
    char name[API_TOKEN_NAME_BUF];
    unsigned scopes;
    bool expires;
    long long expires_unix_ms;
} api_token_create_input;

/* The number of errors appended (0: valid). now_ms: the current time (Unix ms). */
int api_token_validate_create(const json_t *body, long long now_ms, api_token_create_input *out,
                              json_t *errors);

#endif
