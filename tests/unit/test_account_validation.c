/*
 * test_account_validation.c: account field rules and body validation
 * (api/account_validation.c).
 *
 * Owns: the boundaries of docs/decisions.md ("Accounts"): e-mail normalisation and shape,
 * password length by code point, display name trimming and limits, and that each body
 * reports every bad field, unknown members included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "api/account_validation.h"
#include "shared/utf8.h"

static json_t *parse(const char *text) {
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    assert_non_null(v);
    return v;
}

/* True when errors holds an entry for field. */
static bool has_error(const json_t *errors, const char *field) {
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            return json_is_string(json_object_get(e, "message"));
    }
    return false;
}

static void email_is_trimmed_and_lowercased(void **state) {
    (void)state;
    char out[ACCOUNT_EMAIL_BUF];
    assert_null(account_normalize_email("  Alice.Smith@Example.COM \t\n", out, sizeof out));
    assert_string_equal(out, "alice.smith@example.com");
    /* Non-ASCII is kept as is (only ASCII is folded). */
    assert_null(account_normalize_email("Ünï@Exämple.de", out, sizeof out));
    assert_string_equal(out, "Ünï@exämple.de");
    assert_null(account_normalize_email("a@b.c", out, sizeof out));
    assert_string_equal(out, "a@b.c");
}

static void bad_emails_are_refused(void **state) {
    (void)state;
    const char *bad[] = {"",
                         "   ",
                         "a@",
                         "@b.c",
                         "ab",
                         "alice",
                         "alice@example",
                         "alice@@example.com",
                         "al@ice@example.com",
                         "alice@.example.com",
                         "alice@example.com.",
                         "alice@example..com",
                         "ali ce@example.com",
                         "alice@exa\tmple.com",
                         "alice\x01@example.com",
                         "alice\x7f@example.com",
                         "alice\xc2\xa0x@example.com", /* no-break space inside */
                         "alice\xe2\x80\xa8@example.com"};
    char out[ACCOUNT_EMAIL_BUF];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = account_normalize_email(bad[i], out, sizeof out);
        if (why == NULL)
            fail_msg("accepted %s", bad[i]);
        assert_string_equal(out, "");
    }
    assert_non_null(account_normalize_email(NULL, out, sizeof out));
}

static void email_length_bounds(void **state) {
    (void)state;
    char out[ACCOUNT_EMAIL_BUF];
    char email[600];
    /* 254 characters exactly: local part of 244 + "@example.c" (10) */
    memset(email, 'a', 244);
    strcpy(email + 244, "@example.c");
    assert_int_equal(strlen(email), 254);
    assert_null(account_normalize_email(email, out, sizeof out));
    memset(email, 'a', 245);
    strcpy(email + 245, "@example.c");
    assert_non_null(account_normalize_email(email, out, sizeof out));
    /* 254 two-byte characters fit the limit (characters, not bytes). */
    size_t n = 0;
    for (int i = 0; i < 244; i++) {
        email[n++] = (char)0xC3;
        email[n++] = (char)0xA9;
    }
    strcpy(email + n, "@example.c");
    assert_null(account_normalize_email(email, out, sizeof out));
    /* A small output buffer is refused, never overrun. */
    char tiny[8];
    assert_non_null(account_normalize_email("alice@example.com", tiny, sizeof tiny));
}

static void password_counts_code_points(void **state) {
    (void)state;
    assert_non_null(account_check_password("123456789"));
    assert_null(account_check_password("1234567890"));
    /* 9 characters but 18 bytes: still too short. */
    assert_non_null(account_check_password("ééééééééé"));
    assert_null(account_check_password("éééééééééé"));
    char long_pw[2100];
    memset(long_pw, 'x', 1024);
    long_pw[1024] = '\0';
    assert_null(account_check_password(long_pw));
    long_pw[1024] = 'x';
    long_pw[1025] = '\0';
    assert_non_null(account_check_password(long_pw));
    assert_non_null(account_check_password(NULL));
    assert_int_equal(utf8_chars("a€😀"), 3);
}

static void display_name_rules(void **state) {
    (void)state;
    char out[ACCOUNT_DISPLAY_NAME_BUF];
    assert_null(account_normalize_display_name("  Alice Smith  ", out, sizeof out));
    assert_string_equal(out, "Alice Smith");
    assert_non_null(account_normalize_display_name("   ", out, sizeof out));
    assert_non_null(account_normalize_display_name("", out, sizeof out));
    assert_non_null(account_normalize_display_name("Al\nice", out, sizeof out));
    assert_non_null(account_normalize_display_name("Al\x1bice", out, sizeof out));
    char name[500];
    memset(name, 'n', 100);
    name[100] = '\0';
    assert_null(account_normalize_display_name(name, out, sizeof out));
    name[100] = 'n';
    name[101] = '\0';
    assert_non_null(account_normalize_display_name(name, out, sizeof out));
    /* 100 four-byte characters fit. */
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        memcpy(name + n, "😀", 4);
        n += 4;
    }
    name[n] = '\0';
    assert_null(account_normalize_display_name(name, out, sizeof out));
    assert_int_equal(utf8_chars(out), 100);
}

static void default_display_name_is_the_local_part(void **state) {
    (void)state;
    char out[ACCOUNT_DISPLAY_NAME_BUF];
    account_default_display_name("alice.smith@example.com", out, sizeof out);
    assert_string_equal(out, "alice.smith");
    char email[300];
    memset(email, 'a', 150);
    strcpy(email + 150, "@x.io");
    account_default_display_name(email, out, sizeof out);
    assert_int_equal(strlen(out), 100);
}

static void register_lists_every_bad_field(void **state) {
    (void)state;
    json_t *body = parse("{\"email\":\"nope\",\"password\":\"short\",\"display_name\":42,"
                         "\"role\":\"admin\",\"extra\":1}");
    json_t *errors = json_array();
    account_register_input in;
    assert_int_equal(account_validate_register(body, &in, errors), 5);
    assert_int_equal(json_array_size(errors), 5);
    assert_true(has_error(errors, "email"));
    assert_true(has_error(errors, "password"));
    assert_true(has_error(errors, "display_name"));
    assert_true(has_error(errors, "role"));
    assert_true(has_error(errors, "extra"));
    json_decref(errors);
    json_decref(body);

    body = parse("{}");
    errors = json_array();
    assert_int_equal(account_validate_register(body, &in, errors), 2);
    assert_true(has_error(errors, "email"));
    assert_true(has_error(errors, "password"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"email\":null,\"password\":[\"x\"]}");
    errors = json_array();
    assert_int_equal(account_validate_register(body, &in, errors), 2);
    json_decref(errors);
    json_decref(body);
}

static void register_accepts_and_defaults(void **state) {
    (void)state;
    json_t *body = parse("{\"email\":\" Bob@Example.org \",\"password\":\"correct horse\"}");
    json_t *errors = json_array();
    account_register_input in;
    assert_int_equal(account_validate_register(body, &in, errors), 0);
    assert_int_equal(json_array_size(errors), 0);
    assert_string_equal(in.email, "bob@example.org");
    assert_string_equal(in.password, "correct horse");
    assert_string_equal(in.display_name, "bob");
    json_decref(errors);
    json_decref(body);

    body = parse("{\"email\":\"bob@example.org\",\"password\":\"correct horse\","
                 "\"display_name\":\"  Bobby \"}");
    errors = json_array();
    assert_int_equal(account_validate_register(body, &in, errors), 0);
    assert_string_equal(in.display_name, "Bobby");
    json_decref(errors);
    json_decref(body);
}

static void register_refuses_null_display_name(void **state) {
    (void)state;
    /* null is not "absent": the default applies only when the member is left out */
    json_t *body = parse("{\"email\":\"bob@example.org\",\"password\":\"correct horse\","
                         "\"display_name\":null}");
    json_t *errors = json_array();
    account_register_input in;
    assert_int_equal(account_validate_register(body, &in, errors), 1);
    assert_true(has_error(errors, "display_name"));
    json_decref(errors);
    json_decref(body);
}

static void limits_count_the_text_as_sent(void **state) {
    (void)state;
    char out[ACCOUNT_EMAIL_BUF];
    char text[600];
    /* 100 characters once trimmed, 105 as sent: the documented maxLength is 100. */
    memset(text, ' ', 5);
    memset(text + 5, 'n', 100);
    text[105] = '\0';
    assert_non_null(account_normalize_display_name(text, out, sizeof out));
    assert_null(account_normalize_display_name(text + 5, out, sizeof out));
    /* An address of 250 characters with 5 spaces on each side is 260 as sent. */
    memset(text, ' ', 5);
    memset(text + 5, 'a', 240);
    strcpy(text + 245, "@example.c     ");
    assert_int_equal(strlen(text), 260);
    assert_non_null(account_normalize_email(text, out, sizeof out));
    /* The same address with 2 spaces in front only is 252 as sent. */
    text[255] = '\0';
    assert_int_equal(strlen(text + 3), 252);
    assert_null(account_normalize_email(text + 3, out, sizeof out));
    assert_int_equal(strlen(out), 250);
}

static void register_refuses_embedded_nul(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *body = json_loads("{\"email\":\"a@b.co\",\"password\":\"0123456789\\u0000x\"}",
                              JSON_ALLOW_NUL, &jerr);
    assert_non_null(body);
    json_t *errors = json_array();
    account_register_input in;
    assert_int_equal(account_validate_register(body, &in, errors), 1);
    assert_true(has_error(errors, "password"));
    json_decref(errors);
    json_decref(body);
}

static void login_checks_types_only(void **state) {
    (void)state;
    json_t *body = parse("{\"email\":\" X@Y \",\"password\":\"a\"}");
    json_t *errors = json_array();
    account_login_input in;
    assert_int_equal(account_validate_login(body, &in, errors), 0);
    assert_string_equal(in.email, "x@y");
    json_decref(errors);
    json_decref(body);

    body = parse("{\"email\":1,\"remember\":true}");
    errors = json_array();
    assert_int_equal(account_validate_login(body, &in, errors), 3);
    assert_true(has_error(errors, "email"));
    assert_true(has_error(errors, "password"));
    assert_true(has_error(errors, "remember"));
    json_decref(errors);
    json_decref(body);
}

static void password_change_rules(void **state) {
    (void)state;
    account_password_change_input in;
    json_t *body = parse("{\"current_password\":\"old password\",\"new_password\":\"short\"}");
    json_t *errors = json_array();
    assert_int_equal(account_validate_password_change(body, &in, errors), 1);
    assert_true(has_error(errors, "new_password"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"current_password\":\"same password\",\"new_password\":\"same password\"}");
    errors = json_array();
    assert_int_equal(account_validate_password_change(body, &in, errors), 1);
    assert_true(has_error(errors, "new_password"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"current_password\":\"old password\",\"new_password\":\"new password\"}");
    errors = json_array();
    assert_int_equal(account_validate_password_change(body, &in, errors), 0);
    assert_string_equal(in.current_password, "old password");
    assert_string_equal(in.new_password, "new password");
    json_decref(errors);
    json_decref(body);

    body = parse("{\"password\":\"x\"}");
    errors = json_array();
    assert_int_equal(account_validate_password_change(body, &in, errors), 3);
    json_decref(errors);
    json_decref(body);
}

static void profile_patch_is_merge_patch(void **state) {
    (void)state;
    account_profile_patch p;
    /* An empty patch would change nothing: display_name is required. */
    json_t *body = parse("{}");
    json_t *errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 1);
    assert_true(has_error(errors, "display_name"));
    assert_false(p.set_display_name);
    json_decref(errors);
    json_decref(body);

    body = parse("{\"display_name\":null}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 1);
    assert_true(has_error(errors, "display_name"));
    assert_false(p.set_display_name);
    json_decref(errors);
    json_decref(body);

    body = parse("{\"display_name\":\" Carol \"}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 0);
    assert_true(p.set_display_name);
    assert_false(p.set_email);
    assert_string_equal(p.display_name, "Carol");
    json_decref(errors);
    json_decref(body);

    /* A new e-mail address, normalised, needs the current password; alone it is enough. */
    body = parse("{\"email\":\" New@Example.COM \",\"current_password\":\"pw\"}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 0);
    assert_true(p.set_email);
    assert_false(p.set_display_name);
    assert_string_equal(p.email, "new@example.com");
    assert_string_equal(p.current_password, "pw");
    json_decref(errors);
    json_decref(body);

    body = parse("{\"email\":\"new@example.com\"}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 1);
    assert_true(has_error(errors, "current_password"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"display_name\":\"C\",\"current_password\":\"pw\"}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 1);
    assert_true(has_error(errors, "current_password"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"email\":\"no-at-sign\",\"current_password\":\"pw\"}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 1);
    assert_true(has_error(errors, "email"));
    assert_false(p.set_email);
    json_decref(errors);
    json_decref(body);

    body = parse("{\"display_name\":\"\",\"email\":\"x@y.z\",\"role\":\"admin\"}");
    errors = json_array();
    assert_int_equal(account_validate_profile_patch(body, &p, errors), 3);
    assert_true(has_error(errors, "display_name"));
    assert_true(has_error(errors, "current_password")); /* an address change needs it */
    assert_true(has_error(errors, "role"));
    json_decref(errors);
    json_decref(body);
}

static void refresh_body(void **state) {
    (void)state;
    const char *token = NULL;
    json_t *body = parse("{}");
    json_t *errors = json_array();
    assert_int_equal(account_validate_refresh_body(body, true, &token, errors), 1);
    assert_true(has_error(errors, "refresh_token"));
    json_decref(errors);
    errors = json_array();
    assert_int_equal(account_validate_refresh_body(body, false, &token, errors), 0);
    assert_null(token);
    json_decref(errors);
    json_decref(body);

    body = parse("{\"refresh_token\":\"abc\",\"x\":1}");
    errors = json_array();
    assert_int_equal(account_validate_refresh_body(body, true, &token, errors), 1);
    assert_string_equal(token, "abc");
    assert_true(has_error(errors, "x"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"refresh_token\":5}");
    errors = json_array();
    assert_int_equal(account_validate_refresh_body(body, false, &token, errors), 1);
    json_decref(errors);
    json_decref(body);

    /* Optional is not nullable: logout's member is left out, never null. */
    body = parse("{\"refresh_token\":null}");
    errors = json_array();
    assert_int_equal(account_validate_refresh_body(body, false, &token, errors), 1);
    assert_true(has_error(errors, "refresh_token"));
    assert_null(token);
    json_decref(errors);
    json_decref(body);
}

static void deletion_body(void **state) {
    (void)state;
    const char *pw = NULL;
    json_t *body = parse("{\"current_password\":\"secret\"}");
    json_t *errors = json_array();
    assert_int_equal(account_validate_deletion(body, &pw, errors), 0);
    assert_string_equal(pw, "secret");
    json_decref(errors);
    json_decref(body);

    body = parse("{}");
    errors = json_array();
    assert_int_equal(account_validate_deletion(body, &pw, errors), 1);
    assert_true(has_error(errors, "current_password"));
    json_decref(errors);
    json_decref(body);

    body = parse("{\"current_password\":7,\"email\":\"x@y.z\"}");
    errors = json_array();
    assert_int_equal(account_validate_deletion(body, &pw, errors), 2);
    assert_true(has_error(errors, "current_password"));
    assert_true(has_error(errors, "email"));
    json_decref(errors);
    json_decref(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(email_is_trimmed_and_lowercased),
        cmocka_unit_test(bad_emails_are_refused),
        cmocka_unit_test(email_length_bounds),
        cmocka_unit_test(password_counts_code_points),
        cmocka_unit_test(display_name_rules),
        cmocka_unit_test(default_display_name_is_the_local_part),
        cmocka_unit_test(register_lists_every_bad_field),
        cmocka_unit_test(register_accepts_and_defaults),
        cmocka_unit_test(register_refuses_embedded_nul),
        cmocka_unit_test(login_checks_types_only),
        cmocka_unit_test(password_change_rules),
        cmocka_unit_test(profile_patch_is_merge_patch),
        cmocka_unit_test(register_refuses_null_display_name),
        cmocka_unit_test(limits_count_the_text_as_sent),
        cmocka_unit_test(refresh_body),
        cmocka_unit_test(deletion_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
