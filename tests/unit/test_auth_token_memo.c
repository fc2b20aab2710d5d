/*
 * test_auth_token_memo.c: the table of verified access tokens answers only for the exact
 * token text it was given, checks the times again at every use (an expired token is not
 * answered), and a colliding token replaces the older one without answering for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/auth_token_memo.h"

static auth_jwt_claims claims_until(int64_t exp) {
    auth_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "0190f0a0-0000-7000-8000-00000000000a");
    c.sev = 3;
    c.iat = c.nbf = 1000;
    c.exp = exp;
    return c;
}

static void test_exact_token_only(void **state) {
    (void)state;
    auth_jwt_claims c = claims_until(2000), out;
    auth_token_memo_put("aaa.bbb.ccc", &c);
    assert_true(auth_token_memo_get("aaa.bbb.ccc", 1500, &out));
    assert_int_equal(out.sev, 3);
    assert_string_equal(out.sub, c.sub);
    assert_false(auth_token_memo_get("aaa.bbb.ccd", 1500, &out));
    assert_false(auth_token_memo_get("aaa.bbb.cc", 1500, &out));
}

static void test_times_checked_at_every_use(void **state) {
    (void)state;
    auth_jwt_claims c = claims_until(2000), out;
    auth_token_memo_put("ttt.uuu.vvv", &c);
    assert_true(auth_token_memo_get("ttt.uuu.vvv", 1999, &out));
    assert_false(auth_token_memo_get("ttt.uuu.vvv", 2000, &out)); /* exp <= now */
    assert_false(auth_token_memo_get("ttt.uuu.vvv", 100, &out));  /* not yet valid */
}

/* Far more tokens than slots: every answer is for the token asked, never another one. */
static void test_collisions_never_answer_for_another(void **state) {
    (void)state;
    char token[64];
    for (int i = 0; i < 3 * AUTH_TOKEN_MEMO_SLOTS; i++) {
        snprintf(token, sizeof token, "h.p%d.s", i);
        auth_jwt_claims c = claims_until(5000);
        c.sev = i;
        auth_token_memo_put(token, &c);
    }
    int hits = 0;
    for (int i = 0; i < 3 * AUTH_TOKEN_MEMO_SLOTS; i++) {
        snprintf(token, sizeof token, "h.p%d.s", i);
        auth_jwt_claims out;
        if (auth_token_memo_get(token, 1500, &out)) {
            assert_int_equal(out.sev, i);
            hits++;
        }
    }
    assert_true(hits > 0 && hits <= AUTH_TOKEN_MEMO_SLOTS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_token_only),
        cmocka_unit_test(test_times_checked_at_every_use),
        cmocka_unit_test(test_collisions_never_answer_for_another),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
