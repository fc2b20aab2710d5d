/*
 * account_validation.c: account field rules and account body validation.
 *
 * Owns: what docs/decisions.md ("Accounts") says a valid e-mail, password and display
 * name are, and the per-body checks of register, login, password change, profile patch
 * and refresh/logout. Rules: no I/O; every bad field gets its own error (so one 422 lists
 * them all); unknown members are errors too, so a typo never passes silently. Only ASCII
 * is case-folded: lower-casing other scripts depends on locale tables we do not want in
 * an identity key. Length limits hold for the text as sent as well as for the trimmed
 * text, so the maxLength of the OpenAPI document is exactly the server's rule. A member
 * that is present must hold a value: null is refused, never taken as "absent".
 */
#include "api/account_validation.h"

#include <stdint.h>
#include <string.h>

#include "shared/utf8.h"

/* Finds the [start, end) byte range of text without leading and trailing spaces. */
static void trim_range(const char *text, const char **start, const char **end) {
    const char *p = text;
    const char *first = NULL;
    const char *last_end = text;
    while (*p != '\0') {
        const char *here = p;
        uint32_t cp = utf8_next(&p);
        if (!utf8_is_space(cp)) {
            if (first == NULL)
                first = here;
            last_end = p;
        }
    }
    *start = first != NULL ? first : text;
    *end = first != NULL ? last_end : text;
}

/* Copies the trimmed text into out, ASCII lower-cased when fold. False if it does not fit. */
static bool copy_trimmed(const char *in, bool fold, char *out, size_t outlen) {
    const char *start;
    const char *end;
    trim_range(in, &start, &end);
    size_t n = (size_t)(end - start);
    if (outlen == 0 || n >= outlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = start[i];
        out[i] = (fold && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return true;
}

static const char *check_email_shape(const char *email) {
    size_t chars = utf8_chars(email);
    if (chars < ACCOUNT_EMAIL_MIN_CHARS || chars > ACCOUNT_EMAIL_MAX_CHARS)
        return "must be 3 to 254 characters long";
    for (const char *p = email; *p != '\0';) {
        uint32_t cp = utf8_next(&p);
        if (utf8_is_control(cp) || utf8_is_space(cp) || cp == UTF8_REPLACEMENT)
            return "must not contain whitespace or control characters";
    }
    const char *at = strchr(email, '@');
    if (at == NULL || strchr(at + 1, '@') != NULL)
        return "must contain exactly one @";
    if (at == email)
        return "must have a local part before the @";
    const char *domain = at + 1;
    size_t dlen = strlen(domain);
    if (strchr(domain, '.') == NULL || domain[0] == '.' || domain[dlen - 1] == '.' ||
        strstr(domain, "..") != NULL)
        return "must have a dotted domain after the @";
    return NULL;
}

const char *account_normalize_email(const char *in, char *out, size_t outlen) {
    if (outlen > 0)
        out[0] = '\0';
    if (in == NULL)
        return "is required";
    if (utf8_chars(in) > ACCOUNT_EMAIL_MAX_CHARS || !copy_trimmed(in, true, out, outlen)) {
        if (outlen > 0)
            out[0] = '\0';
        return "must be 3 to 254 characters long";
    }
    const char *why = check_email_shape(out);
    if (why != NULL)
        out[0] = '\0';
    return why;
}

void account_fold_email(const char *in, char *out, size_t outlen) {
    if (outlen == 0)
        return;
    if (in == NULL || !copy_trimmed(in, true, out, outlen))
        out[0] = '\0';
}

const char *account_check_password(const char *password) {
    if (password == NULL)
        return "is required";
    size_t chars = utf8_chars(password);
    if (chars < ACCOUNT_PASSWORD_MIN_CHARS)
        return "must be at least 10 characters long";
    if (chars > ACCOUNT_PASSWORD_MAX_CHARS)
        return "must be at most 1024 characters long";
    return NULL;
}

const char *account_normalize_display_name(const char *in, char *out, size_t outlen) {
    if (outlen > 0)
        out[0] = '\0';
    if (in == NULL)
        return "is required";
    if (utf8_chars(in) > ACCOUNT_DISPLAY_NAME_MAX_CHARS)
        return "must be at most 100 characters long";
    const char *start;
    const char *end;
    trim_range(in, &start, &end);
    size_t n = (size_t)(end - start);
    if (n == 0)
        return "must not be empty";
    for (const char *p = start; p < end;) {
        uint32_t cp = utf8_next(&p);
        if (utf8_is_control(cp) || utf8_is_line_separator(cp))
            return "must not contain control characters";
    }
    if (!copy_trimmed(in, false, out, outlen) || utf8_chars(out) > ACCOUNT_DISPLAY_NAME_MAX_CHARS) {
        if (outlen > 0)
            out[0] = '\0';
        return "must be at most 100 characters long";
    }
    return NULL;
}

void account_default_display_name(const char *email, char *out, size_t outlen) {
    if (outlen == 0)
        return;
    size_t n = 0;
    size_t chars = 0;
    const char *p = email != NULL ? email : "";
    while (*p != '\0' && *p != '@' && chars < ACCOUNT_DISPLAY_NAME_MAX_CHARS) {
        const char *here = p;
        (void)utf8_next(&p);
        size_t len = (size_t)(p - here);
        if (n + len >= outlen)
            break;
        memcpy(out + n, here, len);
        n += len;
        chars++;
    }
    out[n] = '\0';
}

void account_field_error(json_t *errors, const char *field, const char *message) {
    /* Out of memory loses one message, never the 422 itself; append_new frees e (or
     * refuses a NULL one) on failure, so there is nothing left to release. */
    if (json_array_append_new(errors,
                              json_pack("{s:s, s:s}", "field", field, "message", message)) != 0)
        return;
}

/* Reports every member of body that is not in allowed (NULL-terminated). */
static int reject_unknown(const json_t *body, const char *const *allowed, json_t *errors) {
    int n = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        (void)value;
        bool known = false;
        for (const char *const *a = allowed; *a != NULL && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            account_field_error(errors, key, "is not an allowed field");
            n++;
        }
    }
    return n;
}

enum { FIELD_ABSENT, FIELD_NULL, FIELD_STRING, FIELD_BAD };

/* Reads body[field] as a string without embedded NULs; reports wrong types. */
static int string_field(const json_t *body, const char *field, const char **out, json_t *errors) {
    *out = NULL;
    json_t *v = json_object_get(body, field);
    if (v == NULL)
        return FIELD_ABSENT;
    if (json_is_null(v))
        return FIELD_NULL;
    if (!json_is_string(v)) {
        account_field_error(errors, field, "must be a string");
        return FIELD_BAD;
    }
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        account_field_error(errors, field, "must not contain NUL characters");
        return FIELD_BAD;
    }
    *out = s;
    return FIELD_STRING;
}

/* A required string: absent or null is "is required". 1 when an error was reported. */
static int required_string(const json_t *body, const char *field, const char **out,
                           json_t *errors) {
    int kind = string_field(body, field, out, errors);
    if (kind == FIELD_BAD)
        return 1;
    if (kind != FIELD_STRING) {
        account_field_error(errors, field, "is required");
        return 1;
    }
    return 0;
}

/* display_name, normalised into out: FIELD_ABSENT, FIELD_STRING (valid) or FIELD_BAD (an
 * error appended; a null member is refused with null_message). */
static int display_name_member(const json_t *body, const char *null_message, char *out,
                               size_t outlen, json_t *errors) {
    const char *s;
    int kind = string_field(body, "display_name", &s, errors);
    if (kind == FIELD_NULL) {
        account_field_error(errors, "display_name", null_message);
        return FIELD_BAD;
    }
    if (kind != FIELD_STRING)
        return kind;
    const char *why = account_normalize_display_name(s, out, outlen);
    if (why == NULL)
        return FIELD_STRING;
    account_field_error(errors, "display_name", why);
    return FIELD_BAD;
}

int account_validate_register(const json_t *body, account_register_input *out, json_t *errors) {
    static const char *const allowed[] = {"email", "password", "display_name", NULL};
    memset(out, 0, sizeof *out);
    int n = reject_unknown(body, allowed, errors);
    const char *s;
    bool email_ok = false;
    if (required_string(body, "email", &s, errors) != 0) {
        n++;
    } else {
        const char *why = account_normalize_email(s, out->email, sizeof out->email);
        if (why != NULL) {
            account_field_error(errors, "email", why);
            n++;
        } else {
            email_ok = true;
        }
    }
    if (required_string(body, "password", &out->password, errors) != 0) {
        n++;
    } else {
        const char *why = account_check_password(out->password);
        if (why != NULL) {
            account_field_error(errors, "password", why);
            n++;
        }
    }
    /* leave the member out for the default; null is not a display name */
    int kind = display_name_member(body, "must be a string (omit it for the default)",
                                   out->display_name, sizeof out->display_name, errors);
    if (kind == FIELD_BAD)
        n++;
    else if (kind == FIELD_ABSENT && email_ok)
        account_default_display_name(out->email, out->display_name, sizeof out->display_name);
    return n;
}

int account_validate_login(const json_t *body, account_login_input *out, json_t *errors) {
    static const char *const allowed[] = {"email", "password", NULL};
    memset(out, 0, sizeof *out);
    int n = reject_unknown(body, allowed, errors);
    const char *s;
    if (required_string(body, "email", &s, errors) != 0)
        n++;
    else
        account_fold_email(s, out->email, sizeof out->email);
    if (required_string(body, "password", &out->password, errors) != 0)
        n++;
    return n;
}

int account_validate_password_change(const json_t *body, account_password_change_input *out,
                                     json_t *errors) {
    static const char *const allowed[] = {"current_password", "new_password", NULL};
    memset(out, 0, sizeof *out);
    int n = reject_unknown(body, allowed, errors);
    if (required_string(body, "current_password", &out->current_password, errors) != 0)
        n++;
    if (required_string(body, "new_password", &out->new_password, errors) != 0) {
        n++;
    } else {
        const char *why = account_check_password(out->new_password);
        if (why == NULL && out->current_password != NULL &&
            strcmp(out->current_password, out->new_password) == 0)
            why = "must differ from current_password";
        if (why != NULL) {
            account_field_error(errors, "new_password", why);
            n++;
        }
    }
    return n;
}

int account_validate_reset_request(const json_t *body, account_reset_request_input *out,
                                   json_t *errors) {
    static const char *const allowed[] = {"email", NULL};
    memset(out, 0, sizeof *out);
    int n = reject_unknown(body, allowed, errors);
    const char *s;
    if (required_string(body, "email", &s, errors) != 0) {
        n++;
    } else if (utf8_chars(s) > ACCOUNT_EMAIL_MAX_CHARS) {
        account_field_error(errors, "email", "must be at most 254 characters long");
        n++;
    } else {
        account_fold_email(s, out->email, sizeof out->email);
    }
    return n;
}

int account_validate_reset_confirm(const json_t *body, account_reset_confirm_input *out,
                                   json_t *errors) {
    static const char *const allowed[] = {"token", "new_password", NULL};
    memset(out, 0, sizeof *out);
    int n = reject_unknown(body, allowed, errors);
    if (required_string(body, "token", &out->token, errors) != 0)
        n++;
    if (required_string(body, "new_password", &out->new_password, errors) != 0) {
        n++;
    } else {
        const char *why = account_check_password(out->new_password);
        if (why != NULL) {
            account_field_error(errors, "new_password", why);
            n++;
        }
    }
    return n;
}

/* The email and current_password members of a profile patch. */
static int email_change_members(const json_t *body, account_profile_patch *out, json_t *errors) {
    int n = 0;
    const char *email = NULL, *password = NULL;
    int email_kind = string_field(body, "email", &email, errors);
    int password_kind = string_field(body, "current_password", &password, errors);
    n += (email_kind == FIELD_BAD) + (password_kind == FIELD_BAD);
    if (email_kind == FIELD_NULL) {
        account_field_error(errors, "email", "must not be null");
        n++;
    } else if (email_kind == FIELD_STRING) {
        const char *why = account_normalize_email(email, out->email, sizeof out->email);
        if (why != NULL) {
            account_field_error(errors, "email", why);
            n++;
        } else {
            out->set_email = true;
        }
        if (password_kind != FIELD_STRING && password_kind != FIELD_BAD) {
            account_field_error(errors, "current_password", "is required to change the email");
            n++;
        }
    } else if (email_kind == FIELD_ABSENT && password_kind != FIELD_ABSENT) {
        account_field_error(errors, "current_password", "is allowed only with email");
        n++;
    }
    out->current_password = password;
    return n;
}

int account_validate_profile_patch(const json_t *body, account_profile_patch *out, json_t *errors) {
    static const char *const allowed[] = {"display_name", "email", "current_password", NULL};
    memset(out, 0, sizeof *out);
    int n = reject_unknown(body, allowed, errors);
    n += email_change_members(body, out, errors);
    /* merge-patch null removes a member; a user always has a display name */
    int kind = display_name_member(body, "must not be null", out->display_name,
                                   sizeof out->display_name, errors);
    if (kind == FIELD_BAD) {
        n++;
    } else if (kind == FIELD_STRING) {
        out->set_display_name = true;
    } else if (json_object_get(body, "email") == NULL) {
        /* a patch that changes nothing would answer 200 having done nothing, which hides
         * a client's typo */
        account_field_error(errors, "display_name", "is required when email is not given");
        n++;
    }
    return n;
}

int account_validate_token_body(const json_t *body, const char **token, json_t *errors) {
    static const char *const allowed[] = {"token", NULL};
    int n = reject_unknown(body, allowed, errors);
    return n + required_string(body, "token", token, errors);
}

int account_validate_registration_confirm(const json_t *body, const char **token,
                                          const char **password, json_t *errors) {
    static const char *const allowed[] = {"token", "password", NULL};
    int n = reject_unknown(body, allowed, errors);
    n += required_string(body, "token", token, errors);
    return n + required_string(body, "password", password, errors);
}

int account_validate_deletion(const json_t *body, const char **current_password, json_t *errors) {
    static const char *const allowed[] = {"current_password", NULL};
    int n = reject_unknown(body, allowed, errors);
    return n + required_string(body, "current_password", current_password, errors);
}

int account_validate_refresh_body(const json_t *body, bool required, const char **token,
                                  json_t *errors) {
    static const char *const allowed[] = {"refresh_token", NULL};
    *token = NULL;
    int n = reject_unknown(body, allowed, errors);
    if (required) {
        n += required_string(body, "refresh_token", token, errors);
    } else {
        int kind = string_field(body, "refresh_token", token, errors);
        if (kind == FIELD_NULL)
            account_field_error(errors, "refresh_token", "must be a string (omit it for none)");
        if (kind == FIELD_BAD || kind == FIELD_NULL)
            n++;
    }
    return n;
}
