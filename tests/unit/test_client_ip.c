/*
 * test_client_ip.c: the client address of a request: the TCP peer, and the last
 * X-Forwarded-For hop only behind a trusted proxy and only when it is an IP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "api/client_ip.h"

static struct sockaddr_in peer_v4(const char *text) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET, text, &sin.sin_addr), 1);
    return sin;
}

static void test_peer(void **state) {
    (void)state;
    char out[64];
    struct sockaddr_in sin = peer_v4("10.1.2.3");
    client_ip_from_peer((struct sockaddr *)&sin, out, sizeof out);
    assert_string_equal(out, "10.1.2.3");
    client_ip_from_peer(NULL, out, sizeof out);
    assert_string_equal(out, "unknown");
}

static void test_last_hop(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(client_ip_last_forwarded("1.1.1.1, 198.18.0.7", out, sizeof out), 0);
    assert_string_equal(out, "198.18.0.7");
    assert_int_equal(client_ip_last_forwarded("  198.18.0.9\t", out, sizeof out), 0);
    assert_string_equal(out, "198.18.0.9");
    assert_int_equal(client_ip_last_forwarded("spoofed,2001:DB8:0::1", out, sizeof out), 0);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(client_ip_last_forwarded("::FFFF:1.2.3.4", out, sizeof out), 0);
    assert_string_equal(out, "::ffff:1.2.3.4");
}

static void test_last_hop_rejects_non_ips(void **state) {
    (void)state;
    char out[64] = "untouched";
    const char *bad[] = {"",          "evil",  "1.2.3.4:80",      "1.2.3.4,", "1.2.3",
                         "256.1.1.1", "[::1]", "1.2.3.4 5.6.7.8", "::1%eth0", "1.2.3.4\r\nX: y"};
    assert_int_equal(client_ip_last_forwarded(NULL, out, sizeof out), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(client_ip_last_forwarded(bad[i], out, sizeof out), -1);
    }
    assert_string_equal(out, "untouched");
}

static void test_resolve(void **state) {
    (void)state;
    char out[64];
    struct sockaddr_in sin = peer_v4("127.0.0.1");
    client_ip_resolve((struct sockaddr *)&sin, "198.18.0.5", false, out, sizeof out);
    assert_string_equal(out, "127.0.0.1"); /* not trusted: the header is ignored */
    client_ip_resolve((struct sockaddr *)&sin, "198.18.0.5", true, out, sizeof out);
    assert_string_equal(out, "198.18.0.5");
    client_ip_resolve((struct sockaddr *)&sin, "garbage", true, out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
    client_ip_resolve((struct sockaddr *)&sin, NULL, true, out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer),
        cmocka_unit_test(test_last_hop),
        cmocka_unit_test(test_last_hop_rejects_non_ips),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
