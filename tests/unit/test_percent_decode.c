/*
 * test_percent_decode.c: the one percent-decoder (shared/percent_decode.c), its modes, and
 * proof that each former copy's caller gets the same answer from the mode it now passes.
 *
 * The three decoders it replaced are kept here, verbatim from commit db2bb38 but for
 * their names, as reference oracles: percent_decode of api/task_query.c (query strings
 * of the task list and reports: '+' a space, %00 kept, 2048 bytes at most), decode_part
 * of api/routes_insights.c, now api/consumer_reads.c (the analytics and activity
 * queries: '+' a space, no control byte, 128 bytes at most) and decode_param of api/route_match.c
 * (path parameters: '+' itself, no %00, the parameter buffer's size). Each caller's call is
 * repeated here with its mode and compared with its oracle on every string of up to four characters
 * from the bytes where the rules turn, and on long random strings around the size limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shared/hex.h"
#include "shared/percent_decode.h"
#include "tests/unit/xorshift.h"

/* ---- the former decoders (db2bb38), reference only ---- */

#define MAX_DECODED_LEN 2048 /* api/task_query.c */
#define PARAM_VALUE_MAX 128  /* api/consumer_reads.h CONSUMER_QUERY_VALUE_MAX */
#define ROUTE_PARAM_BUF 64   /* a route_match parameter buffer (any size: it is passed in) */

static int old_query_decode(const char *s, size_t len, char **out, size_t *outlen) {
    if (len > MAX_DECODED_LEN * 3)
        return -1;
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return -2;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            buf[n++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < len ? hex_digit_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(buf);
                return -1;
            }
            buf[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            buf[n++] = s[i];
        }
    }
    buf[n] = '\0';
    if (n > MAX_DECODED_LEN) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

static bool old_insights_decode(const char *s, size_t len, char out[PARAM_VALUE_MAX + 1]) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || n == PARAM_VALUE_MAX) {
            return false;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

static bool old_route_decode(const char *seg, size_t len, char *out, size_t outlen) {
    size_t n = 0;
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = seg[i];
        if (c == '%') {
            if (i + 2 >= len) {
                return false;
            }
            int hi = hex_digit_value(seg[i + 1]);
            int lo = hex_digit_value(seg[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= outlen) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* ---- each caller's call now (the same lines as in its file) ---- */

/* form_decode of api/task_query.c: the query mode, at most 2 048 decoded bytes, 6 144
 * raw ones. */
static int query_decode(const char *s, size_t len, char *out, size_t *outlen) {
    if (len > MAX_DECODED_LEN * 3)
        return -1;
    pct_result rc = percent_decode(s, len, PCT_PLUS_IS_SPACE, out, MAX_DECODED_LEN + 1, outlen);
    return rc == PCT_OK ? 0 : -1;
}

static bool insights_decode(const char *s, size_t len, char out[PARAM_VALUE_MAX + 1]) {
    return percent_decode(s, len, PCT_PLUS_IS_SPACE | PCT_REFUSE_CONTROLS, out, PARAM_VALUE_MAX + 1,
                          NULL) == PCT_OK;
}

static bool route_decode(const char *seg, size_t len, char *out, size_t outlen) {
    return len > 0 &&
           percent_decode(seg, len, PCT_PATH | PCT_REFUSE_NUL, out, outlen, NULL) == PCT_OK;
}

/* All three agree with their oracles on [s, s+len), output included. */
static void assert_callers_agree(const char *s, size_t len) {
    static char b[MAX_DECODED_LEN + 1];
    char *a = NULL;
    size_t alen = 0, blen = 0;
    int arc = old_query_decode(s, len, &a, &alen);
    int brc = query_decode(s, len, b, &blen);
    assert_int_equal(arc, brc);
    if (arc == 0) {
        assert_int_equal(alen, blen);
        assert_memory_equal(a, b, alen + 1);
    }
    free(a);
    char x[PARAM_VALUE_MAX + 1], y[PARAM_VALUE_MAX + 1];
    bool ok = old_insights_decode(s, len, x);
    assert_int_equal(ok, insights_decode(s, len, y));
    if (ok)
        assert_string_equal(x, y);
    char p[ROUTE_PARAM_BUF], q[ROUTE_PARAM_BUF];
    ok = old_route_decode(s, len, p, sizeof p);
    assert_int_equal(ok, route_decode(s, len, q, sizeof q));
    if (ok)
        assert_string_equal(p, q);
}

/* ---- the modes, by name ---- */

static void modes(void **state) {
    (void)state;
    char out[32];
    size_t n = 99;
    assert_int_equal(percent_decode("a+b%20c", 7, PCT_PLUS_IS_SPACE, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "a b c");
    assert_int_equal(n, 5);
    assert_int_equal(percent_decode("a+b%2Bc", 7, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "a+b+c");
    assert_int_equal(percent_decode("%c3%A9", 6, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "\xc3\xa9");
    /* %00 kept (length says where the text ends) unless refused. */
    assert_int_equal(percent_decode("a%00b", 5, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 4);
    assert_int_equal(percent_decode("a%00b", 5, PCT_REFUSE_NUL, out, sizeof out, &n), PCT_REFUSED);
    /* Controls, escaped or raw, when refused; 0x80-0x9F are not controls here. */
    assert_int_equal(percent_decode("a%0Ab", 5, PCT_REFUSE_CONTROLS, out, sizeof out, &n),
                     PCT_REFUSED);
    assert_int_equal(percent_decode("a\tb", 3, PCT_REFUSE_CONTROLS, out, sizeof out, &n),
                     PCT_REFUSED);
    assert_int_equal(percent_decode("%7f", 3, PCT_REFUSE_CONTROLS, out, sizeof out, &n),
                     PCT_REFUSED);
    assert_int_equal(percent_decode("%C2%85", 6, PCT_REFUSE_CONTROLS, out, sizeof out, &n), PCT_OK);
    assert_int_equal(percent_decode("a%0Ab", 5, PCT_REFUSE_NUL, out, sizeof out, &n), PCT_OK);
    /* Malformed escapes. */
    static const char *const BAD[] = {"%", "%4", "a%", "%G0", "%0g", "%%41", "% 41", "%+1"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_int_equal(
            percent_decode(BAD[i], strlen(BAD[i]), PCT_PLUS_IS_SPACE, out, sizeof out, &n),
            PCT_MALFORMED);
    /* Only len bytes are read. */
    assert_int_equal(percent_decode("%41%", 3, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "A");
    assert_int_equal(percent_decode("", 0, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
}

static void sizes(void **state) {
    (void)state;
    char out[4];
    size_t n;
    assert_int_equal(percent_decode("abc", 3, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_int_equal(percent_decode("abcd", 4, PCT_PATH, out, sizeof out, &n), PCT_TOO_LONG);
    assert_int_equal(percent_decode("%41%42%43", 9, PCT_PATH, out, sizeof out, &n), PCT_OK);
    assert_string_equal(out, "ABC");
    assert_int_equal(percent_decode("", 0, PCT_PATH, out, 0, &n), PCT_TOO_LONG);
    /* The first problem met, left to right, is the one returned. */
    assert_int_equal(percent_decode("abcd%zz", 7, PCT_PATH, out, sizeof out, &n), PCT_TOO_LONG);
    assert_int_equal(percent_decode("%zzabcd", 7, PCT_PATH, out, sizeof out, &n), PCT_MALFORMED);
    assert_int_equal(percent_decode("%00%zz", 6, PCT_REFUSE_NUL, out, sizeof out, &n), PCT_REFUSED);
}

/* ---- the proof against the former decoders ---- */

static void callers_agree_on_every_short_string(void **state) {
    (void)state;
    static const char POOL[] = {'a', '+', '%', '0',  '2',    'f',   'F',
                                'g', '7', ' ', '\t', '\x7f', '\x80'};
    enum { K = sizeof POOL };
    char s[4];
    assert_callers_agree("", 0);
    for (size_t len = 1; len <= 4; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= K;
        for (size_t code = 0; code < total; code++) {
            size_t c = code;
            for (size_t i = 0; i < len; i++, c /= K)
                s[i] = POOL[c % K];
            assert_callers_agree(s, len);
        }
    }
}

/* A fixed sequence, so a failure repeats. */
static uint64_t rng_state = 0xD1B54A32D192ED03ull;
static uint64_t rnd(void) {
    return xorshift64(&rng_state);
}

static void callers_agree_around_the_limits(void **state) {
    (void)state;
    static const char *const PIECES[] = {"a", "+", "%41", "%00", "%0a", "%7F", "%e9", "%", "%g1"};
    enum { LONG = MAX_DECODED_LEN * 3 + 8 };
    char *s = malloc(LONG);
    assert_non_null(s);
    static const size_t TARGETS[] = {
        ROUTE_PARAM_BUF - 2, ROUTE_PARAM_BUF + 2, PARAM_VALUE_MAX - 2,     PARAM_VALUE_MAX + 3,
        MAX_DECODED_LEN - 3, MAX_DECODED_LEN + 3, MAX_DECODED_LEN * 3 - 2, MAX_DECODED_LEN * 3 + 2};
    for (int round = 0; round < 4000; round++) {
        size_t target = TARGETS[rnd() % (sizeof TARGETS / sizeof TARGETS[0])];
        size_t len = 0;
        /* Mostly clean pieces, so the size limit is what decides. */
        while (len + 3 <= target) {
            const char *piece = rnd() % 64 == 0 ? PIECES[rnd() % 9] : PIECES[rnd() % 3];
            size_t k = strlen(piece);
            memcpy(s + len, piece, k);
            len += k;
        }
        assert_callers_agree(s, len);
    }
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(modes),
        cmocka_unit_test(sizes),
        cmocka_unit_test(callers_agree_on_every_short_string),
        cmocka_unit_test(callers_agree_around_the_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
