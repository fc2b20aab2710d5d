/*
 * test_utf8.c: the one UTF-8 module (shared/utf8.c) and proof that each former copy's
 * caller gets the same answer from it.
 *
 * The four helpers it replaced are kept here, verbatim from commit db2bb38, as reference
 * oracles: account_utf8_chars (api/account_validation.c), task_text_length
 * (shared/task_model.c), next_cp (api/task_validation.c) and utf8_clean_chars
 * (api/task_query.c). What is proved:
 *  - utf8_clean_chars (query strings: bytes nobody checked) equals the old one on EVERY
 *    input: all strings of 0-3 bytes exhaustively and a million random ones of 4-12
 *    bytes drawn from the bytes that matter.
 *  - utf8_next/utf8_chars equal the three old lenient readers, code point by code point,
 *    on every well-formed string: each of the 1 112 064 scalar values alone, and random
 *    strings of them. Their callers only ever see jansson strings, which are well-formed
 *    (jansson refuses overlongs, surrogates, > U+10FFFF, truncations); on malformed
 *    bytes the old readers disagreed with each other, the module's rule is the one
 *    tested in malformed_bytes_decode_as_replacement.
 * utf8_encode (moved here from shared/json_scan.c) is checked on every scalar value by
 * decoding what it wrote. Plus the edge cases by name: overlong, surrogate, > U+10FFFF,
 * truncated, NUL, C0/C1 controls, a 4-byte emoji.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shared/utf8.h"
#include "tests/unit/xorshift.h"

/* ---- the former copies (db2bb38), reference only ---- */

static uint32_t old_account_next(const char **p) {
    const unsigned char *s = (const unsigned char *)*p;
    uint32_t cp;
    int extra;
    if (s[0] < 0x80) {
        cp = s[0];
        extra = 0;
    } else if ((s[0] & 0xE0) == 0xC0) {
        cp = s[0] & 0x1F;
        extra = 1;
    } else if ((s[0] & 0xF0) == 0xE0) {
        cp = s[0] & 0x0F;
        extra = 2;
    } else if ((s[0] & 0xF8) == 0xF0) {
        cp = s[0] & 0x07;
        extra = 3;
    } else {
        *p += 1;
        return 0xFFFD;
    }
    for (int i = 1; i <= extra; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p += 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *p += 1 + extra;
    return cp;
}

static size_t old_account_utf8_chars(const char *text) {
    size_t n = 0;
    for (const char *p = text; *p != '\0'; n++)
        (void)old_account_next(&p);
    return n;
}

static size_t old_task_text_length(const char *utf8) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)utf8; p != NULL && *p; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
    }
    return n;
}

static uint32_t old_task_next_cp(const char **p) {
    const unsigned char *s = (const unsigned char *)*p;
    int extra = s[0] < 0x80 ? 0 : (s[0] & 0xE0) == 0xC0 ? 1 : (s[0] & 0xF0) == 0xE0 ? 2 : 3;
    uint32_t cp = extra == 0 ? s[0] : (uint32_t)(s[0] & (0x3F >> extra));
    int used = 1;
    for (; used <= extra && s[used] != '\0'; used++)
        cp = (cp << 6) | (s[used] & 0x3F);
    *p += used;
    return cp;
}

static long old_utf8_clean_chars(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        size_t extra;
        if (p[i] < 0x80) {
            cp = p[i];
            extra = 0;
        } else if (p[i] >= 0xC2 && p[i] <= 0xDF) {
            cp = p[i] & 0x1F;
            extra = 1;
        } else if ((p[i] & 0xF0) == 0xE0) {
            cp = p[i] & 0x0F;
            extra = 2;
        } else if (p[i] >= 0xF0 && p[i] <= 0xF4) {
            cp = p[i] & 0x07;
            extra = 3;
        } else {
            return -1;
        }
        if (i + extra >= len && extra > 0)
            return -1;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        static const uint32_t MIN_FOR_EXTRA[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < MIN_FOR_EXTRA[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return -1;
        i += 1 + extra;
    }
    return n;
}

/* ---- helpers ---- */

/* A fixed sequence, so a failure repeats. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    return xorshift64(&rng_state);
}

/* A scalar value (never a surrogate), spread over the 1-4 byte forms. */
static uint32_t random_scalar(void) {
    static const uint32_t TOP[4] = {0x80, 0x800, 0x10000, 0x110000};
    for (;;) {
        uint32_t cp = (uint32_t)(rnd() % TOP[rnd() % 4]);
        if (cp != 0 && (cp < 0xD800 || cp > 0xDFFF))
            return cp;
    }
}

/* Each of the three old lenient readers and utf8_next walk text to the same code points. */
static void assert_lenient_readers_agree(const char *text) {
    const char *a = text, *b = text, *c = text;
    size_t n = 0;
    while (*a != '\0') {
        uint32_t want = utf8_next(&a);
        assert_int_equal(old_account_next(&b), want);
        assert_int_equal(old_task_next_cp(&c), want);
        assert_ptr_equal(a, b);
        assert_ptr_equal(a, c);
        n++;
    }
    assert_int_equal(utf8_chars(text), n);
    assert_int_equal(old_account_utf8_chars(text), n);
    assert_int_equal(old_task_text_length(text), n);
}

/* ---- the rules, by name ---- */

static void decode_accepts_each_form(void **state) {
    (void)state;
    uint32_t cp;
    assert_int_equal(utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(utf8_decode("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(utf8_decode("\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4); /* 4-byte emoji */
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(utf8_decode("\0", 1, &cp), 1); /* NUL is U+0000 when bounded */
    assert_int_equal(cp, 0);
    assert_int_equal(utf8_decode("A", 0, &cp), 0);
}

static void decode_refuses_malformed(void **state) {
    (void)state;
    uint32_t cp = 12345;
    static const struct {
        const char *bytes;
        size_t len;
    } BAD[] = {
        {"\xc0\xaf", 2},         /* overlong '/' */
        {"\xc1\xbf", 2},         /* overlong */
        {"\xe0\x80\xaf", 3},     /* overlong 3-byte */
        {"\xf0\x80\x80\xaf", 4}, /* overlong 4-byte */
        {"\xed\xa0\x80", 3},     /* U+D800, a surrogate */
        {"\xed\xbf\xbf", 3},     /* U+DFFF */
        {"\xf4\x90\x80\x80", 4}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4}, /* lead above 0xF4 */
        {"\xff", 1},
        {"\x80", 1},         /* a stray continuation byte */
        {"\xe2\x82", 2},     /* truncated */
        {"\xf0\x9f\x98", 3}, /* truncated emoji */
        {"\xe2\x28\xa1", 3}, /* second byte not a continuation */
        {"\xf0\x9f\x98\x41", 4},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_int_equal(utf8_decode(BAD[i].bytes, BAD[i].len, &cp), 0);
    assert_int_equal(cp, 12345); /* untouched */
    /* A sequence that would be whole is refused when len cuts it. */
    assert_int_equal(utf8_decode("\xf0\x9f\x98\x80", 3, &cp), 0);
}

static void clean_chars_rules(void **state) {
    (void)state;
    assert_int_equal(utf8_clean_chars("", 0), 0);
    assert_int_equal(utf8_clean_chars("h\xc3\xa9llo \xf0\x9f\x98\x80", 11), 7);
    assert_int_equal(utf8_clean_chars("a\0b", 3), -1);        /* NUL is a control */
    assert_int_equal(utf8_clean_chars("a\tb", 3), -1);        /* C0 */
    assert_int_equal(utf8_clean_chars("a\x7f", 2), -1);       /* DEL */
    assert_int_equal(utf8_clean_chars("\xc2\x85", 2), -1);    /* C1 NEL */
    assert_int_equal(utf8_clean_chars("\xc2\x9f", 2), -1);    /* C1 */
    assert_int_equal(utf8_clean_chars("\xc2\xa0", 2), 1);     /* NBSP is not a control */
    assert_int_equal(utf8_clean_chars("\xe2\x80\xa8", 3), 1); /* U+2028 is not either */
    assert_int_equal(utf8_clean_chars("\xc0\xaf", 2), -1);
    assert_int_equal(utf8_clean_chars("\xed\xa0\x80", 3), -1);
    assert_int_equal(utf8_clean_chars("\xf4\x90\x80\x80", 4), -1);
    assert_int_equal(utf8_clean_chars("ab\xe2\x82", 4), -1);
    /* Only len bytes are read: the text after it does not count. */
    assert_int_equal(utf8_clean_chars("ab\x01", 2), 2);
}

static void malformed_bytes_decode_as_replacement(void **state) {
    (void)state;
    /* One U+FFFD per byte that does not start a well-formed sequence; the NUL ends it. */
    const char *text = "a\xc0\xaf\xed\xa0\x80\xe2\x82";
    const char *p = text;
    assert_int_equal(utf8_next(&p), 'a');
    for (int i = 0; i < 7; i++) {
        assert_int_equal(utf8_next(&p), UTF8_REPLACEMENT);
        assert_ptr_equal(p, text + 2 + i);
    }
    assert_int_equal(*p, '\0');
    assert_int_equal(utf8_chars(text), 8);
    /* A truncated sequence at the end never reads past the NUL (ASan would say). */
    char *heap = malloc(3);
    assert_non_null(heap);
    memcpy(heap, "\xf0\x9f", 3);
    assert_int_equal(utf8_chars(heap), 2);
    free(heap);
    assert_int_equal(utf8_chars(NULL), 0);
    assert_int_equal(utf8_chars(""), 0);
    assert_int_equal(utf8_chars("a\xe2\x82\xac\xf0\x9f\x98\x80"), 3);
}

static void classes(void **state) {
    (void)state;
    assert_true(utf8_is_control(0));
    assert_true(utf8_is_control(0x1F));
    assert_false(utf8_is_control(' '));
    assert_true(utf8_is_control(0x7F));
    assert_true(utf8_is_control(0x85));
    assert_true(utf8_is_control(0x9F));
    assert_false(utf8_is_control(0xA0));
    assert_false(utf8_is_control(0x2028));
    assert_true(utf8_is_line_separator(0x2028));
    assert_true(utf8_is_line_separator(0x2029));
    assert_false(utf8_is_line_separator('\n'));
    static const uint32_t SPACES[] = {' ',    '\t',   '\n',   0x0B,   0x0C,   '\r',
                                      0x85,   0xA0,   0x1680, 0x2000, 0x200A, 0x200B,
                                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF};
    for (size_t i = 0; i < sizeof SPACES / sizeof SPACES[0]; i++)
        assert_true(utf8_is_space(SPACES[i]));
    assert_false(utf8_is_space('a'));
    assert_false(utf8_is_space(0x200C));
    assert_false(utf8_is_space(0x1F));
}

/* ---- the proofs against the former copies ---- */

static void clean_chars_equals_old_on_every_short_input(void **state) {
    (void)state;
    unsigned char b[3];
    assert_int_equal(utf8_clean_chars("", 0), old_utf8_clean_chars("", 0));
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        assert_int_equal(utf8_clean_chars((char *)b, 1), old_utf8_clean_chars((char *)b, 1));
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            long want2 = old_utf8_clean_chars((char *)b, 2);
            if (utf8_clean_chars((char *)b, 2) != want2)
                fail_msg("differs on %02x %02x", x, y);
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                if (utf8_clean_chars((char *)b, 3) != old_utf8_clean_chars((char *)b, 3))
                    fail_msg("differs on %02x %02x %02x", x, y, z);
            }
        }
    }
}

static void clean_chars_equals_old_on_random_input(void **state) {
    (void)state;
    /* The bytes where the rules turn: ASCII, controls, every lead class, continuations. */
    static const unsigned char POOL[] = {0x00, 0x09, 0x1F, 0x20, 'a',  0x7E, 0x7F, 0x80, 0x85, 0x8F,
                                         0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
                                         0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xF8, 0xFF};
    unsigned char b[12];
    long valid = 0;
    for (int i = 0; i < 1000000; i++) {
        size_t len = 4 + (size_t)(rnd() % 9);
        for (size_t k = 0; k < len; k++)
            b[k] = POOL[rnd() % sizeof POOL];
        long want = old_utf8_clean_chars((char *)b, len);
        assert_int_equal(utf8_clean_chars((char *)b, len), want);
        valid += want >= 0;
    }
    assert_true(valid > 0); /* the sample reached the accepting path too */
}

static void lenient_readers_equal_old_on_every_scalar(void **state) {
    (void)state;
    char text[8];
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        size_t n = utf8_encode(cp, text);
        text[n] = '\0';
        const char *p = text;
        assert_int_equal(utf8_next(&p), cp);
        assert_ptr_equal(p, text + n);
        assert_int_equal(utf8_clean_chars(text, n), utf8_is_control(cp) ? -1 : 1);
        assert_lenient_readers_agree(text);
    }
}

static void lenient_readers_equal_old_on_random_strings(void **state) {
    (void)state;
    char text[64 * 4 + 1];
    for (int i = 0; i < 20000; i++) {
        size_t len = 0, chars = 1 + (size_t)(rnd() % 64);
        for (size_t k = 0; k < chars; k++)
            len += utf8_encode(random_scalar(), text + len);
        text[len] = '\0';
        /* well-formed by construction, and by jansson's judgement: the callers' domain */
        json_t *probe = json_string(text);
        assert_non_null(probe);
        json_decref(probe);
        assert_lenient_readers_agree(text);
        assert_int_equal(utf8_chars(text), chars);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_accepts_each_form),
        cmocka_unit_test(decode_refuses_malformed),
        cmocka_unit_test(clean_chars_rules),
        cmocka_unit_test(malformed_bytes_decode_as_replacement),
        cmocka_unit_test(classes),
        cmocka_unit_test(clean_chars_equals_old_on_every_short_input),
        cmocka_unit_test(clean_chars_equals_old_on_random_input),
        cmocka_unit_test(lenient_readers_equal_old_on_every_scalar),
        cmocka_unit_test(lenient_readers_equal_old_on_random_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
