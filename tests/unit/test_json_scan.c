/*
 * test_json_scan.c: reading wanted members of a JSON document in one pass
 * (shared/json_scan.c).
 *
 * Covers: a CloudEvent's members at the top level and inside "data" (strings decoded,
 * raw spans exact, types, absent members), escapes and UTF-8 (decoded as jansson decodes
 * them), what must be refused (malformed JSON, a non-object document, bad UTF-8, \u0000,
 * unpaired surrogates, too deep, numbers Postgres could not store, a wanted key twice,
 * trailing text), a repeated key that nobody wants, a wanted "object" that is not one,
 * and a buffer too small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/json_scan.h"

enum { F_ID, F_TYPE, F_DATA, F_USER, F_TITLE, F_VERSION, F_MISSING, NF };

static void fields_init(json_scan_field *f) {
    const json_scan_field init[NF] = {
        [F_ID] = {.key = "id", .parent = -1},
        [F_TYPE] = {.key = "type", .parent = -1},
        [F_DATA] = {.key = "data", .parent = -1},
        [F_USER] = {.key = "user_id", .parent = F_DATA},
        [F_TITLE] = {.key = "title", .parent = F_DATA},
        [F_VERSION] = {.key = "version", .parent = F_DATA},
        [F_MISSING] = {.key = "nope", .parent = -1},
    };
    memcpy(f, init, sizeof init);
}

/* Scans text with the event fields; the return code of json_scan. */
static int scan(const char *text, json_scan_field *f, char **buf) {
    fields_init(f);
    size_t n = strlen(text);
    *buf = malloc(json_scan_buffer_size(n));
    assert_non_null(*buf);
    return json_scan(text, n, f, NF, *buf, json_scan_buffer_size(n));
}

static void assert_refused(const char *text) {
    json_scan_field f[NF];
    char *buf;
    int rc = scan(text, f, &buf);
    if (rc != -1) {
        fail_msg("accepted: %s", text);
    }
    free(buf);
}

static void assert_accepted(const char *text) {
    json_scan_field f[NF];
    char *buf;
    int rc = scan(text, f, &buf);
    if (rc != 0) {
        fail_msg("refused: %s", text);
    }
    free(buf);
}

static void test_event_members(void **state) {
    (void)state;
    const char *ev =
        "{\"id\": \"01a2\", \"data\": {\"id\": \"inner\", \"tags\": [\"x\", {\"title\": 1}],"
        " \"title\": \"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\", \"user_id\": \"u1\","
        " \"version\": 12, \"due_at\": null}, \"time\": \"t\", \"type\": \"created\"}";
    json_scan_field f[NF];
    char *buf;
    assert_int_equal(scan(ev, f, &buf), 0);
    assert_int_equal(f[F_ID].type, JSON_SCAN_STRING);
    assert_string_equal(f[F_ID].str, "01a2"); /* the top-level id, not data's */
    assert_string_equal(f[F_TYPE].str, "created");
    assert_int_equal(f[F_DATA].type, JSON_SCAN_OBJECT);
    assert_int_equal(f[F_DATA].raw[0], '{');
    assert_int_equal(f[F_DATA].raw[f[F_DATA].raw_len - 1], '}');
    json_error_t jerr;
    json_t *data = json_loadb(f[F_DATA].raw, f[F_DATA].raw_len, 0, &jerr);
    assert_non_null(data); /* the raw span is the whole object */
    assert_string_equal(f[F_USER].str, "u1");
    assert_string_equal(f[F_TITLE].str, json_string_value(json_object_get(data, "title")));
    assert_string_equal(f[F_TITLE].str, "caf\xc3\xa9 \"q\" \xf0\x9f\x98\x80");
    assert_int_equal(f[F_TITLE].str_len, strlen(f[F_TITLE].str));
    assert_int_equal(f[F_VERSION].type, JSON_SCAN_NUMBER);
    assert_int_equal(f[F_VERSION].raw_len, 2);
    assert_memory_equal(f[F_VERSION].raw, "12", 2);
    assert_null(f[F_VERSION].str);
    assert_int_equal(f[F_MISSING].type, JSON_SCAN_ABSENT);
    assert_null(f[F_MISSING].raw);
    json_decref(data);
    free(buf);
}

static void test_types_and_spans(void **state) {
    (void)state;
    json_scan_field f[NF];
    char *buf;
    assert_int_equal(
        scan(" {\"id\":null,\"type\":true,\"data\":[1,2],\"nope\":-0.5e+10} ", f, &buf), 0);
    assert_int_equal(f[F_ID].type, JSON_SCAN_NULL);
    assert_int_equal(f[F_TYPE].type, JSON_SCAN_TRUE);
    assert_int_equal(f[F_DATA].type, JSON_SCAN_ARRAY); /* not an object: no member inside */
    assert_int_equal(f[F_USER].type, JSON_SCAN_ABSENT);
    assert_int_equal(f[F_MISSING].type, JSON_SCAN_NUMBER);
    assert_int_equal(f[F_MISSING].raw_len, strlen("-0.5e+10"));
    free(buf);
    assert_int_equal(scan("{\"data\":{},\"type\":\"\"}", f, &buf), 0);
    assert_int_equal(f[F_DATA].type, JSON_SCAN_OBJECT);
    assert_int_equal(f[F_DATA].raw_len, 2);
    assert_string_equal(f[F_TYPE].str, "");
    assert_int_equal(f[F_USER].type, JSON_SCAN_ABSENT);
    free(buf);
}

static void test_escaped_keys_match(void **state) {
    (void)state;
    json_scan_field f[NF];
    char *buf;
    assert_int_equal(scan("{\"\\u0069d\":\"x\",\"t\\u0079pe\":\"y\"}", f, &buf), 0);
    assert_string_equal(f[F_ID].str, "x");
    assert_string_equal(f[F_TYPE].str, "y");
    free(buf);
}

static void test_refused(void **state) {
    (void)state;
    const char *bad[] = {
        "",
        "   ",
        "[]",
        "\"s\"",
        "1",
        "{",
        "{\"id\"}",
        "{\"id\":}",
        "{\"id\":1,}",
        "{,}",
        "{\"id\":1} x",
        "{\"id\":1}{}",
        "{'id':1}",
        "{\"id\":tru}",
        "{\"id\":nul}",
        "{\"id\":01}",
        "{\"id\":1.}",
        "{\"id\":.5}",
        "{\"id\":1e}",
        "{\"id\":+1}",
        "{\"id\":1e1000}",   /* Postgres' numeric refuses |exponent| > 1000 */
        "{\"id\":\"a\tb\"}", /* a raw control character */
        "{\"id\":\"\\x\"}",  /* an unknown escape */
        "{\"id\":\"\\u00zz\"}",
        "{\"id\":\"\\u0000\"}",          /* Postgres cannot hold it in text */
        "{\"id\":\"\\ud800\"}",          /* a high surrogate alone */
        "{\"id\":\"\\ud800\\u0041\"}",   /* followed by no low one */
        "{\"id\":\"\\udc00\"}",          /* a low surrogate first */
        "{\"id\":\"\xc3\"}",             /* truncated UTF-8 */
        "{\"id\":\"\xc0\xaf\"}",         /* overlong */
        "{\"id\":\"\xed\xa0\x80\"}",     /* an encoded surrogate */
        "{\"id\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"id\":\"\xff\"}",
        "{\"id\":\"a\",\"id\":\"b\"}", /* a wanted key twice */
        "{\"data\":{\"title\":\"a\",\"title\":\"b\"}}",
        "{\"id\":\"unterminated}",
        "{\"id\":[1,2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(bad[i]);
    }
    char with_nul[] = "{\"id\":\"a\0b\"}";
    json_scan_field f[NF];
    fields_init(f);
    char buf[64];
    assert_int_equal(json_scan(with_nul, sizeof with_nul - 1, f, NF, buf, sizeof buf), -1);
}

static void test_accepted_edges(void **state) {
    (void)state;
    assert_accepted("{}");
    assert_accepted("{\"x\":1,\"x\":2}"); /* nobody wants x */
    assert_accepted("{\"id\":\"\\/\\b\\f\\n\\r\\t\\\\\"}");
    assert_accepted("{\"id\":-0,\"n\":[0.0,1E+99,-1e-999,123456789012345678901234567890]}");
    assert_accepted(
        "{\"id\":\"\x7f \xc2\x80 \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"}");
    assert_accepted("\t\r\n {\"a\" : [ true , false , null , { } , [ ] ] } \n");
}

static void test_depth_bound(void **state) {
    (void)state;
    char doc[4 * JSON_SCAN_MAX_DEPTH + 16];
    for (int depth = JSON_SCAN_MAX_DEPTH; depth <= JSON_SCAN_MAX_DEPTH + 1; depth++) {
        size_t n = 0;
        doc[n++] = '{';
        doc[n++] = '"';
        doc[n++] = 'a';
        doc[n++] = '"';
        doc[n++] = ':';
        for (int i = 1; i < depth; i++) {
            doc[n++] = '[';
        }
        doc[n++] = '1';
        for (int i = 1; i < depth; i++) {
            doc[n++] = ']';
        }
        doc[n++] = '}';
        doc[n] = '\0';
        json_scan_field f[NF];
        char *buf;
        int rc = scan(doc, f, &buf);
        free(buf);
        assert_int_equal(rc, depth <= JSON_SCAN_MAX_DEPTH ? 0 : -1);
    }
}

static void test_numbers_bounded(void **state) {
    (void)state;
    char doc[JSON_SCAN_MAX_NUMBER + 16];
    for (int digits = JSON_SCAN_MAX_NUMBER; digits <= JSON_SCAN_MAX_NUMBER + 1; digits++) {
        int n = snprintf(doc, sizeof doc, "{\"n\":");
        for (int i = 0; i < digits; i++) {
            doc[n++] = '7';
        }
        doc[n++] = '}';
        doc[n] = '\0';
        json_scan_field f[NF];
        char *buf;
        int rc = scan(doc, f, &buf);
        free(buf);
        assert_int_equal(rc, digits <= JSON_SCAN_MAX_NUMBER ? 0 : -1);
    }
}

static void test_buffer_and_arguments(void **state) {
    (void)state;
    const char *ev = "{\"id\":\"abc\"}";
    json_scan_field f[NF];
    fields_init(f);
    char buf[64];
    assert_int_equal(json_scan(ev, strlen(ev), f, NF, buf, strlen(ev)), -1); /* one byte short */
    assert_int_equal(json_scan(ev, strlen(ev), f, NF, buf, strlen(ev) + 1), 0);
    assert_string_equal(f[F_ID].str, "abc");
    fields_init(f);
    f[F_USER].parent = F_MISSING; /* a parent after its child */
    assert_int_equal(json_scan(ev, strlen(ev), f, NF, buf, sizeof buf), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_members),      cmocka_unit_test(test_types_and_spans),
        cmocka_unit_test(test_escaped_keys_match), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted_edges),     cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_numbers_bounded),    cmocka_unit_test(test_buffer_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
