/*
 * test_webhooks_signing.c: what taskbus-webhooks computes before it sends
 * (workers/webhooks/webhooks_http.c, webhooks_backoff.c): the Webhook-Signature is the hex
 * HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret (vectors computed independently
 * with Python's hmac), it changes with the timestamp, the body and the secret, and signs
 * body_len bytes, not up to a NUL; during a rotation's grace period the header value
 * carries the new secret's v1= first and the previous secret's second; the retry schedule doubles
 * from 1 s per failed attempt up to the one-hour cap, and every jittered wait lies in the upper
 * half of its ceiling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "workers/webhooks/webhooks_backoff.h"
#include "workers/webhooks/webhooks_http.h"

#define BODY "{\"id\":\"e1\"}"

static void test_signature_matches_hmac_sha256(void **state) {
    (void)state;
    char sig[WEBHOOK_SIGNATURE_HEX];
    assert_int_equal(webhooks_sign("whsec_test", "1700000000", BODY, strlen(BODY), sig), 0);
    assert_string_equal(sig, "6a85cb117c993612a34c72b4cfb5a16baed25a80d26e298ce0e6671320fd07c8");
    assert_int_equal(webhooks_sign("whsec_test", "1700000001", BODY, strlen(BODY), sig), 0);
    assert_string_equal(sig, "4bb7de33600c8753f17a427586f6558172d28e866aa5dc883b51158a15511698");
    /* An empty secret and body still sign "<timestamp>." */
    assert_int_equal(webhooks_sign("", "0", "", 0, sig), 0);
    assert_string_equal(sig, "b849d5a581847b281957065739df36df2463d1977ea8d6e1e4e6cf33fadc68c3");
}

static void test_signature_covers_secret_and_length(void **state) {
    (void)state;
    char a[WEBHOOK_SIGNATURE_HEX], b[WEBHOOK_SIGNATURE_HEX];
    assert_int_equal(webhooks_sign("whsec_test", "1700000000", BODY, strlen(BODY), a), 0);
    assert_int_equal(webhooks_sign("whsec_other", "1700000000", BODY, strlen(BODY), b), 0);
    assert_string_not_equal(a, b);
    /* body_len bytes are signed: a longer buffer signed short equals the short body. */
    const char longer[] = BODY "trailing bytes";
    assert_int_equal(webhooks_sign("whsec_test", "1700000000", longer, strlen(BODY), b), 0);
    assert_string_equal(a, b);
    assert_int_equal(webhooks_sign("whsec_test", "1700000000", longer, strlen(longer), b), 0);
    assert_string_not_equal(a, b);
}

static void test_signature_value_with_and_without_a_previous_secret(void **state) {
    (void)state;
    char value[WEBHOOK_SIGNATURE_VALUE_MAX], want[WEBHOOK_SIGNATURE_VALUE_MAX];
    assert_int_equal(
        webhooks_signature_value("whsec_test", NULL, "1700000000", BODY, strlen(BODY), value), 0);
    assert_string_equal(value,
                        "v1=6a85cb117c993612a34c72b4cfb5a16baed25a80d26e298ce0e6671320fd07c8");
    char a[WEBHOOK_SIGNATURE_HEX], b[WEBHOOK_SIGNATURE_HEX];
    assert_int_equal(webhooks_sign("whsec_new", "1700000000", BODY, strlen(BODY), a), 0);
    assert_int_equal(webhooks_sign("whsec_test", "1700000000", BODY, strlen(BODY), b), 0);
    snprintf(want, sizeof want, "v1=%s v1=%s", a, b);
    assert_int_equal(webhooks_signature_value("whsec_new", "whsec_test", "1700000000", BODY,
                                              strlen(BODY), value),
                     0);
    assert_string_equal(value, want);
    assert_int_equal(strlen(value), 2 * (3 + 64) + 1);
}

static void test_backoff_ceilings_double_up_to_an_hour(void **state) {
    (void)state;
    assert_int_equal(webhooks_backoff_ceiling_ms(0), 1000);
    assert_int_equal(webhooks_backoff_ceiling_ms(1), 1000);
    assert_int_equal(webhooks_backoff_ceiling_ms(2), 2000);
    assert_int_equal(webhooks_backoff_ceiling_ms(3), 4000);
    assert_int_equal(webhooks_backoff_ceiling_ms(12), 2048000);
    assert_int_equal(webhooks_backoff_ceiling_ms(13), WEBHOOKS_BACKOFF_MAX_MS);
    assert_int_equal(webhooks_backoff_ceiling_ms(1000), WEBHOOKS_BACKOFF_MAX_MS);
    assert_int_equal(webhooks_backoff_ceiling_ms(2147483647), WEBHOOKS_BACKOFF_MAX_MS);
}

/* Every wait lies in [ceiling/2, ceiling]; over many draws both halves of that range are
 * reached (a constant would fail: the jitter is what keeps retries out of lockstep). */
static void test_backoff_jitter_stays_in_upper_half(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    for (int attempt = 1; attempt <= 20; attempt++) {
        int ceiling = webhooks_backoff_ceiling_ms(attempt);
        int lowest = ceiling, highest = 0;
        for (int i = 0; i < 2000; i++) {
            int w = webhooks_backoff_ms(attempt);
            assert_in_range(w, ceiling / 2, ceiling);
            lowest = w < lowest ? w : lowest;
            highest = w > highest ? w : highest;
        }
        /* No draw in the lowest (or highest) quarter of the range: probability (3/4)^2000. */
        assert_true(lowest < ceiling / 2 + ceiling / 8);
        assert_true(highest > ceiling - ceiling / 8);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_matches_hmac_sha256),
        cmocka_unit_test(test_signature_covers_secret_and_length),
        cmocka_unit_test(test_signature_value_with_and_without_a_previous_secret),
        cmocka_unit_test(test_backoff_ceilings_double_up_to_an_hour),
        cmocka_unit_test(test_backoff_jitter_stays_in_upper_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
