/*
 * test_api_token.c: the text of a personal API token and the body that asks for one
 * (api/api_token_format.h, api/api_token_request.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "api/api_token_format.h"
#include "api/api_token_request.h"
#include "api/api_token_scope.h"

#define UID "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b"
#define NOW_MS 1800000000000LL

static void a_token_names_its_owner_and_hashes_stably(void **state) {
    (void)state;
    char token[API_TOKEN_BUF], hash[API_TOKEN_HASH_HEX_BUF], again[API_TOKEN_HASH_HEX_BUF];
    char uid[UUID_STR_LEN];
    assert_int_equal(api_token_new(UID, token, hash), 0);
    assert_int_equal(strlen(token), API_TOKEN_CHARS);
    assert_memory_equal(token, "tb_", 3);
    assert_true(api_token_looks_like(token));
    assert_true(api_token_parse(token, uid, again));
    assert_string_equal(uid, UID);
    assert_string_equal(hash, again);
    assert_int_equal(strlen(hash), 64);

    char other[API_TOKEN_BUF], other_hash[API_TOKEN_HASH_HEX_BUF];
    assert_int_equal(api_token_new(UID, other, other_hash), 0);
    assert_string_not_equal(token, other); /* the secret part differs */
    assert_string_not_equal(hash, other_hash);
    assert_int_equal(api_token_new("not-a-uuid", other, other_hash), -1);
}

static void anything_else_is_refused(void **state) {
    (void)state;
    char token[API_TOKEN_BUF], hash[API_TOKEN_HASH_HEX_BUF], uid[UUID_STR_LEN];
    assert_int_equal(api_token_new(UID, token, hash), 0);
    char bad[API_TOKEN_BUF + 2];
    strcpy(bad, token);
    bad[API_TOKEN_CHARS - 1] = '\0'; /* one short */
    assert_false(api_token_parse(bad, uid, hash));
    strcpy(bad, token);
    strcat(bad, "A"); /* one long */
    assert_false(api_token_parse(bad, uid, hash));
    strcpy(bad, token);
    bad[10] = '+'; /* not base64url */
    assert_false(api_token_parse(bad, uid, hash));
    strcpy(bad, token);
    bad[0] = 'T'; /* another prefix */
    assert_false(api_token_parse(bad, uid, hash));
    assert_false(api_token_looks_like("eyJhbGciOi"));
    assert_false(api_token_parse("", uid, hash));
}

static json_t *parse(const char *text) {
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    return v;
}

static int errors_of(const char *body_text, api_token_create_input *in) {
    json_t *body = parse(body_text), *errors = json_array();
    int n = api_token_validate_create(body, NOW_MS, in, errors);
    assert_int_equal((int)json_array_size(errors), n);
    json_decref(errors);
    json_decref(body);
    return n;
}

static void the_create_body(void **state) {
    (void)state;
    api_token_create_input in;
    assert_int_equal(
        errors_of("{\"name\":\"  ci  \",\"scopes\":[\"tasks:read\",\"reports\"]}", &in), 0);
    assert_string_equal(in.name, "ci");
    assert_int_equal(in.scopes, API_SCOPE_TASKS_READ | API_SCOPE_REPORTS);
    assert_false(in.expires);
    assert_int_equal(errors_of("{\"name\":\"x\",\"scopes\":[\"tasks:write\"],"
                               "\"expires_at\":\"2027-02-01T00:00:00Z\"}",
                               &in),
                     0);
    assert_true(in.expires);
    assert_int_equal(in.expires_unix_ms, 1801440000000LL);
    assert_int_equal(
        errors_of("{\"name\":\"x\",\"scopes\":[\"tasks:read\"],\"expires_at\":null}", &in), 0);

    assert_int_equal(errors_of("{}", &in), 2);                            /* both needed */
    assert_int_equal(errors_of("{\"name\":\"\",\"scopes\":[]}", &in), 2); /* both empty */
    assert_int_equal(errors_of("{\"name\":\"x\",\"scopes\":[\"admin\"]}", &in), 1); /* unknown */
    assert_int_equal(errors_of("{\"name\":\"x\",\"scopes\":[\"reports\",\"reports\"]}", &in), 1);
    assert_int_equal(errors_of("{\"name\":\"x\",\"scopes\":[\"reports\"],\"role\":\"admin\"}", &in),
                     1);
    assert_int_equal(errors_of("{\"name\":\"x\",\"scopes\":[\"reports\"],"
                               "\"expires_at\":\"2020-01-01T00:00:00Z\"}",
                               &in),
                     1); /* in the past */
    assert_int_equal(errors_of("{\"name\":\"x\",\"scopes\":[\"reports\"],"
                               "\"expires_at\":\"2030-01-01T00:00:00Z\"}",
                               &in),
                     1); /* more than 366 days away */
    assert_int_equal(
        errors_of("{\"name\":\"x\",\"scopes\":[\"reports\"],\"expires_at\":\"soon\"}", &in), 1);
    char long_name[200];
    memset(long_name, 'n', 101);
    long_name[101] = '\0';
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"scopes\":[\"reports\"]}", long_name);
    assert_int_equal(errors_of(body, &in), 1);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_token_names_its_owner_and_hashes_stably),
        cmocka_unit_test(anything_else_is_refused),
        cmocka_unit_test(the_create_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
