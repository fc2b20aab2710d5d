/*
 * test_cors.c: the allow-list of browser origins (api/cors.c): which entries are origins,
 * how a list is split, trimmed and folded, and which Origin headers it lists. The headers
 * of answers are checked against the running API (tests/integration/test_cors.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/cors.h"

static cors_origins *parsed(const char *list) {
    cors_origins *o = NULL;
    char err[512] = "";
    if (cors_origins_parse(list, &o, err, sizeof err) != 0)
        fail_msg("cors_origins_parse(\"%s\"): %s", list, err);
    return o;
}

static void refused(const char *list, const char *named) {
    cors_origins *o = (cors_origins *)1;
    char err[512] = "";
    assert_int_equal(cors_origins_parse(list, &o, err, sizeof err), -1);
    assert_null(o);
    if (strstr(err, named) == NULL)
        fail_msg("the error for \"%s\" does not name \"%s\": %s", list, named, err);
}

static void no_list_lists_nothing(void **state) {
    (void)state;
    assert_null(parsed(NULL));
    assert_null(parsed(""));
    assert_null(parsed(" , ,"));
    assert_null(cors_origin_listed(NULL, "https://app.example.com"));
}

static void listed_origins_match_exactly_and_without_case(void **state) {
    (void)state;
    cors_origins *o = parsed(
        " https://App.Example.com ,http://localhost:5173,,http://[::1]:8080, http://10.0.0.7");
    assert_non_null(cors_origin_listed(o, "https://app.example.com"));
    assert_string_equal(cors_origin_listed(o, "HTTPS://APP.EXAMPLE.COM"),
                        "https://app.example.com");
    assert_non_null(cors_origin_listed(o, "http://localhost:5173"));
    assert_non_null(cors_origin_listed(o, "http://[::1]:8080"));
    assert_non_null(cors_origin_listed(o, "http://10.0.0.7"));
    /* Another scheme, port, host or a suffix is another origin. */
    assert_null(cors_origin_listed(o, "http://app.example.com"));
    assert_null(cors_origin_listed(o, "https://app.example.com:443"));
    assert_null(cors_origin_listed(o, "http://localhost:5174"));
    assert_null(cors_origin_listed(o, "http://localhost"));
    assert_null(cors_origin_listed(o, "https://evil.app.example.com"));
    assert_null(cors_origin_listed(o, "https://app.example.com.evil.test"));
    assert_null(cors_origin_listed(o, "null"));
    assert_null(cors_origin_listed(o, ""));
    assert_null(cors_origin_listed(o, NULL));
    cors_origins_free(o);
}

static void entries_that_are_no_origin_are_refused_by_name(void **state) {
    (void)state;
    refused("https://ok.example.com,*", "\"*\"");
    refused("app.example.com", "app.example.com");
    refused("ftp://app.example.com", "ftp://");
    refused("https://app.example.com/", "https://app.example.com/");
    refused("https://app.example.com/path", "/path");
    refused("https://user@app.example.com", "user@");
    refused("https://app.example.com:0", ":0");
    refused("https://app.example.com:65536", ":65536");
    refused("https://app.example.com:443", ":443");
    refused("http://app.example.com:80", ":80");
    refused("https://app.example.com:0443", ":0443");
    refused("https://app.example.com, https://APP.example.com", "listed twice");
    refused("https://app.exa mple.com", "exa mple");
    refused("https://app.example.com:", "app.example.com:");
    refused("https://", "https://");
    refused("https://.example.com", ".example.com");
    refused("https://[::1", "[::1");
    refused("https://*.example.com", "*.example.com");
    refused("null", "null");
}

static void long_lists_are_bounded(void **state) {
    (void)state;
    char list[64 * 40 + 64] = "";
    for (int i = 0; i < 65; i++) {
        char one[40];
        snprintf(one, sizeof one, "%shttps://h%d.example.com", i ? "," : "", i);
        strcat(list, one);
    }
    refused(list, "at most 64");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_list_lists_nothing),
        cmocka_unit_test(listed_origins_match_exactly_and_without_case),
        cmocka_unit_test(entries_that_are_no_origin_are_refused_by_name),
        cmocka_unit_test(long_lists_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
