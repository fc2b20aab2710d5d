/*
 * api_token_request.c: the body of POST /api/v1/tokens (see api_token_request.h).
 */
#include "api/api_token_request.h"

#include <stdio.h>
#include <string.h>

#include "api/account_validation.h"
#include "api/api_token_scope.h"
#include "shared/time_util.h"
#include "shared/utf8.h"

#define DAY_MS 86400000LL

static int check_name(const json_t *body, api_token_create_input *out, json_t *errors) {
    json_t *v = json_object_get(body, "name");
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s == NULL || strlen(s) != json_string_length(v)) {
        account_field_error(errors, "name", v == NULL ? "is required" : "must be a string");
        return 1;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof out->name) {
        account_field_error(errors, "name", "must be 1 to 100 characters");
        return 1;
    }
    memcpy(out->name, s, len);
    out->name[len] = '\0';
    if (utf8_chars(out->name) > API_TOKEN_NAME_MAX_CHARS) {
        account_field_error(errors, "name", "must be 1 to 100 characters");
        return 1;
    }
    return 0;
}

static int check_scopes(const json_t *body, api_token_create_input *out, json_t *errors) {
    json_t *v = json_object_get(body, "scopes");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        account_field_error(errors, "scopes",
                            v == NULL ? "is required" : "must be a non-empty array of scopes");
        return 1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        unsigned bit = json_is_string(item) ? api_scope_parse(json_string_value(item)) : 0;
        char field[32];
        snprintf(field, sizeof field, "scopes/%zu", i);
        if (bit == 0) {
            account_field_error(errors, field, "is not a scope");
            return 1;
        }
        if ((out->scopes & bit) != 0) {
            account_field_error(errors, field, "is listed twice");
            return 1;
        }
        out->scopes |= bit;
    }
    return 0;
}

static int check_expiry(const json_t *body, long long now_ms, api_token_create_input *out,
                        json_t *errors) {
    json_t *v = json_object_get(body, "expires_at");
    if (v == NULL || json_is_null(v))
        return 0;
    long long at = 0;
    if (!json_is_string(v) || time_parse_rfc3339_ms(json_string_value(v), &at) != 0) {
        account_field_error(errors, "expires_at", "must be an RFC 3339 date-time");
        return 1;
    }
    if (at <= now_ms || at > now_ms + API_TOKEN_MAX_DAYS * DAY_MS) {
        account_field_error(errors, "expires_at", "must be in the future, at most 366 days away");
        return 1;
    }
    out->expires = true;
    out->expires_unix_ms = at;
    return 0;
}

int api_token_validate_create(const json_t *body, long long now_ms, api_token_create_input *out,
                              json_t *errors) {
    memset(out, 0, sizeof *out);
    int n = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        (void)value;
        if (strcmp(key, "name") != 0 && strcmp(key, "scopes") != 0 &&
            strcmp(key, "expires_at") != 0) {
            account_field_error(errors, key, "is not an allowed field");
            n++;
        }
    }
    return n + check_name(body, out, errors) + check_scopes(body, out, errors) +
           check_expiry(body, now_ms, out, errors);
}
