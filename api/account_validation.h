/*
 * account_validation.h: the rules of account fields and of the account request bodies.
 *
 * Owns: e-mail normalisation (trimmed, ASCII lower-cased, 3-254 characters, one '@', a
 * dotted domain, no whitespace or control characters), the password rule (10-1024
 * characters, counted by code point), the display name rule (1-100 characters after
 * trimming, no control characters), and the validation of each account body, including
 * "unknown field" errors. Rules: pure functions, no I/O; every bad field is reported, not
 * only the first, as {field, message} objects appended to a caller's JSON array (the
 * route turns them into a problem). Strings in the *_input structs that are not arrays
 * are borrowed from the body and live as long as it does.
 */
#ifndef TASKBUS_API_ACCOUNT_VALIDATION_H
#define TASKBUS_API_ACCOUNT_VALIDATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ACCOUNT_EMAIL_MIN_CHARS 3
#define ACCOUNT_EMAIL_MAX_CHARS 254
#define ACCOUNT_PASSWORD_MIN_CHARS 10
#define ACCOUNT_PASSWORD_MAX_CHARS 1024
#define ACCOUNT_DISPLAY_NAME_MAX_CHARS 100
/* Buffers hold the longest valid value in UTF-8 (4 bytes per character) and the NUL. */
#define ACCOUNT_EMAIL_BUF (ACCOUNT_EMAIL_MAX_CHARS * 4 + 1)
#define ACCOUNT_DISPLAY_NAME_BUF (ACCOUNT_DISPLAY_NAME_MAX_CHARS * 4 + 1)

/* Writes the normalised address into out. NULL when valid, else why not (a message). */
const char *account_normalize_email(const char *in, char *out, size_t outlen);
/* Login's lenient form: trimmed and lower-cased only, so any input maps to one key. */
void account_fold_email(const char *in, char *out, size_t outlen);
/* NULL when the password is acceptable, else why not. */
const char *account_check_password(const char *password);
/* Writes the trimmed name into out. NULL when valid, else why not. */
const char *account_normalize_display_name(const char *in, char *out, size_t outlen);
/* The e-mail's local part, cut to the display name limit: the default display name. */
void account_default_display_name(const char *email, char *out, size_t outlen);

/* Appends {field, message} to errors (a JSON array). */
void account_field_error(json_t *errors, const char *field, const char *message);

typedef struct account_register_input {
    char email[ACCOUNT_EMAIL_BUF];
    const char *password;
    char display_name[ACCOUNT_DISPLAY_NAME_BUF]; /* the default when absent */
} account_register_input;

typedef struct account_login_input {
    char email[ACCOUNT_EMAIL_BUF]; /* folded, not validated: see account_fold_email */
    const char *password;
} account_login_input;

typedef struct account_password_change_input {
    const char *current_password;
    const char *new_password;
} account_password_change_input;

/* POST /api/v1/auth/password-reset: {email}, folded like login's (any input maps to one
 * key, so the per-address limit cannot be dodged by spelling). */
typedef struct account_reset_request_input {
    char email[ACCOUNT_EMAIL_BUF];
} account_reset_request_input;

/* POST /api/v1/auth/password-reset/confirm: {token, new_password}; the token's form is
 * checked by the route (a malformed one is the same 400 as an unknown one). */
typedef struct account_reset_confirm_input {
    const char *token;
    const char *new_password;
} account_reset_confirm_input;

/* PATCH /api/v1/users/me: display_name and/or email (at least one); email, a change that
 * waits for the new address's link, needs current_password. */
typedef struct account_profile_patch {
    bool set_display_name;
    char display_name[ACCOUNT_DISPLAY_NAME_BUF];
    bool set_email;
    char email[ACCOUNT_EMAIL_BUF]; /* normalised */
    const char *current_password;  /* with set_email */
} account_profile_patch;

/* Each returns the number of errors appended (0 when the body is valid). body is an
 * object; out is filled as far as the fields allow. */
int account_validate_register(const json_t *body, account_register_input *out, json_t *errors);
int account_validate_login(const json_t *body, account_login_input *out, json_t *errors);
int account_validate_password_change(const json_t *body, account_password_change_input *out,
                                     json_t *errors);
int account_validate_reset_request(const json_t *body, account_reset_request_input *out,
                                   json_t *errors);
int account_validate_reset_confirm(const json_t *body, account_reset_confirm_input *out,
                                   json_t *errors);
int account_validate_profile_patch(const json_t *body, account_profile_patch *out, json_t *errors);
/* {token} (POST /api/v1/auth/email-change/confirm); the token's form is the route's. */
int account_validate_token_body(const json_t *body, const char **token, json_t *errors);
/* {token, password} (POST /api/v1/auth/register/confirm): the password is checked against
 * the registration's, not against the password rules (it met them at registration). */
int account_validate_registration_confirm(const json_t *body, const char **token,
                                          const char **password, json_t *errors);
/* {current_password} (DELETE /api/v1/users/me). */
int account_validate_deletion(const json_t *body, const char **current_password, json_t *errors);
/* {refresh_token}; required selects refresh (true) or logout (false, member optional).
 * *token is NULL when absent. */
int account_validate_refresh_body(const json_t *body, bool required, const char **token,
                                  json_t *errors);

#endif
