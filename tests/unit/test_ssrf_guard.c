/*
 * test_ssrf_guard.c: the webhook SSRF guard: classification of IPv4 and IPv6 addresses
 * (every special range, IPv4 carried in mapped, NAT64 and 6to4 addresses), the allow-list
 * (hosts, addresses, CIDRs, malformed entries), URL parsing (schemes, credentials, default
 * ports, IPv6 literals) and the full check on literal hosts and on localhost (/etc/hosts),
 * including the pinned CURLOPT_RESOLVE entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "shared/ssrf_guard.h"

/* The class of a textual address. */
static ssrf_addr_class cls(const char *text) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
    }
    return ssrf_classify((const struct sockaddr *)&ss);
}

static bool allowed(const ssrf_allow *allow, const char *host, const char *text) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
    }
    return ssrf_address_allowed(allow, host, (const struct sockaddr *)&ss);
}

static void test_classify_v4(void **state) {
    (void)state;
    assert_int_equal(cls("127.0.0.1"), SSRF_ADDR_LOOPBACK);
    assert_int_equal(cls("127.255.255.254"), SSRF_ADDR_LOOPBACK);
    assert_int_equal(cls("10.1.2.3"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("172.16.0.1"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("172.31.255.255"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("172.32.0.1"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("172.15.255.255"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("192.168.1.1"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("169.254.169.254"), SSRF_ADDR_LINK_LOCAL);
    assert_int_equal(cls("100.64.0.1"), SSRF_ADDR_CGNAT);
    assert_int_equal(cls("100.127.255.255"), SSRF_ADDR_CGNAT);
    assert_int_equal(cls("100.128.0.1"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("224.0.0.1"), SSRF_ADDR_MULTICAST);
    assert_int_equal(cls("239.255.255.250"), SSRF_ADDR_MULTICAST);
    assert_int_equal(cls("0.0.0.0"), SSRF_ADDR_UNSPECIFIED);
    assert_int_equal(cls("0.1.2.3"), SSRF_ADDR_UNSPECIFIED);
    assert_int_equal(cls("255.255.255.255"), SSRF_ADDR_RESERVED);
    assert_int_equal(cls("198.18.0.1"), SSRF_ADDR_RESERVED);
    assert_int_equal(cls("192.0.2.10"), SSRF_ADDR_RESERVED);
    assert_int_equal(cls("8.8.8.8"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("93.184.216.34"), SSRF_ADDR_PUBLIC);
}

static void test_classify_v6(void **state) {
    (void)state;
    assert_int_equal(cls("::1"), SSRF_ADDR_LOOPBACK);
    assert_int_equal(cls("::"), SSRF_ADDR_UNSPECIFIED);
    assert_int_equal(cls("fe80::1"), SSRF_ADDR_LINK_LOCAL);
    assert_int_equal(cls("fd00::1"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("fc12:3456::1"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("fec0::1"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("ff02::1"), SSRF_ADDR_MULTICAST);
    assert_int_equal(cls("2001:db8::1"), SSRF_ADDR_RESERVED);
    assert_int_equal(cls("::ffff:127.0.0.1"), SSRF_ADDR_LOOPBACK);
    assert_int_equal(cls("::ffff:10.0.0.1"), SSRF_ADDR_PRIVATE);
    assert_int_equal(cls("::ffff:169.254.169.254"), SSRF_ADDR_LINK_LOCAL);
    assert_int_equal(cls("::ffff:8.8.8.8"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("64:ff9b::a9fe:a9fe"), SSRF_ADDR_LINK_LOCAL); /* NAT64 169.254... */
    assert_int_equal(cls("2002:7f00:1::1"), SSRF_ADDR_LOOPBACK);       /* 6to4 of 127.0.0.1 */
    assert_int_equal(cls("2002:0808:0808::1"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("::127.0.0.1"), SSRF_ADDR_RESERVED); /* IPv4-compatible */
    assert_int_equal(cls("2606:4700:4700::1111"), SSRF_ADDR_PUBLIC);
    assert_int_equal(cls("2a00:1450:4001::1"), SSRF_ADDR_PUBLIC);
    /* Outside 2000::/3 (found by tests/fuzz/fuzz_ssrf_guard) */
    assert_int_equal(cls("::ffff:0:7f00:1"), SSRF_ADDR_RESERVED);  /* IPv4-translated */
    assert_int_equal(cls("64:ff9b:1::a00:1"), SSRF_ADDR_RESERVED); /* local-use NAT64 */
    assert_int_equal(cls("4000::1"), SSRF_ADDR_RESERVED);
    assert_int_equal(cls("::1:0:0:1"), SSRF_ADDR_RESERVED);
}

static void test_allow_list(void **state) {
    (void)state;
    char err[256];
    ssrf_allow *allow =
        ssrf_allow_parse(" 127.0.0.1 , Hooks.Internal,10.0.0.0/8,fd00::/8,::1", err, sizeof err);
    assert_non_null(allow);
    assert_true(allowed(allow, "127.0.0.1", "127.0.0.1"));
    assert_true(allowed(allow, "x", "::ffff:127.0.0.1")); /* mapped counts as its IPv4 */
    assert_false(allowed(allow, "x", "127.0.0.2"));
    assert_true(allowed(allow, "x", "10.200.3.4"));
    assert_false(allowed(allow, "x", "192.168.0.1"));
    assert_true(allowed(allow, "hooks.internal", "192.168.0.1")); /* by host name */
    assert_true(allowed(allow, "HOOKS.INTERNAL", "192.168.0.1"));
    assert_true(allowed(allow, "x", "fd12::1"));
    assert_true(allowed(allow, "x", "::1"));
    assert_false(allowed(allow, "x", "fe80::1"));
    assert_true(allowed(allow, "x", "8.8.8.8")); /* public needs no entry */
    ssrf_allow_free(allow);

    allow = ssrf_allow_parse(NULL, err, sizeof err);
    assert_non_null(allow);
    assert_false(allowed(allow, "localhost", "127.0.0.1"));
    ssrf_allow_free(allow);
    assert_false(allowed(NULL, "localhost", "127.0.0.1"));
    assert_true(allowed(NULL, "example.com", "93.184.216.34"));

    assert_null(ssrf_allow_parse("10.0.0.0/33", err, sizeof err));
    assert_non_null(strstr(err, "10.0.0.0/33"));
    assert_null(ssrf_allow_parse("10.0.0.0/", err, sizeof err));
    assert_null(ssrf_allow_parse("::1/129", err, sizeof err));
    assert_null(ssrf_allow_parse("host/8", err, sizeof err));
    allow = ssrf_allow_parse(",,", err, sizeof err);
    assert_non_null(allow);
    ssrf_allow_free(allow);
}

static void test_parse_url(void **state) {
    (void)state;
    ssrf_target t;
    char err[256];
    assert_int_equal(ssrf_parse_url("https://Example.COM/hook?x=1", &t, err, sizeof err), 0);
    assert_string_equal(t.scheme, "https");
    assert_string_equal(t.host, "example.com");
    assert_int_equal(t.port, 443);
    assert_false(t.host_is_literal);
    assert_int_equal(ssrf_parse_url("http://127.0.0.1:8081/h", &t, err, sizeof err), 0);
    assert_int_equal(t.port, 8081);
    assert_true(t.host_is_literal);
    assert_int_equal(ssrf_parse_url("http://[::1]:9000/", &t, err, sizeof err), 0);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 9000);
    assert_true(t.host_is_literal);
    assert_int_equal(ssrf_parse_url("HTTP://h", &t, err, sizeof err), 0);
    assert_int_equal(t.port, 80);

    assert_int_equal(ssrf_parse_url("ftp://example.com/", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("file:///etc/passwd", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("gopher://example.com/", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("example.com/hook", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("http://user:pw@example.com/", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "password"));
    assert_int_equal(ssrf_parse_url("http://example.com:99999/", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("http://exa mple.com/", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("", &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url(NULL, &t, err, sizeof err), -1);
    assert_int_equal(ssrf_parse_url("http://:8080/", &t, err, sizeof err), -1);
}

static void test_check_literals(void **state) {
    (void)state;
    ssrf_target t;
    char err[256];
    assert_int_equal(ssrf_check_url("http://127.0.0.1:8080/", NULL, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    assert_non_null(strstr(err, "loopback"));
    assert_int_equal(ssrf_check_url("http://10.1.2.3/", NULL, &t, err, sizeof err), SSRF_FORBIDDEN);
    assert_int_equal(
        ssrf_check_url("http://169.254.169.254/latest/meta-data", NULL, &t, err, sizeof err),
        SSRF_FORBIDDEN);
    assert_non_null(strstr(err, "link-local"));
    assert_int_equal(ssrf_check_url("http://[::ffff:10.0.0.1]/", NULL, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    assert_int_equal(ssrf_check_url("http://[::]/", NULL, &t, err, sizeof err), SSRF_FORBIDDEN);
    assert_int_equal(ssrf_check_url("http://0.0.0.0:80/", NULL, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    /* Other spellings of loopback: curl and getaddrinfo normalise them. */
    assert_int_equal(ssrf_check_url("http://2130706433/", NULL, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    assert_int_equal(ssrf_check_url("http://0x7f.0.0.1/", NULL, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    assert_int_equal(ssrf_check_url("http://127.1/", NULL, &t, err, sizeof err), SSRF_FORBIDDEN);

    assert_int_equal(ssrf_check_url("https://8.8.8.8/hook", NULL, &t, err, sizeof err), SSRF_OK);
    assert_string_equal(t.resolve, ""); /* a literal is never resolved: nothing to pin */

    ssrf_allow *allow = ssrf_allow_parse("127.0.0.1", err, sizeof err);
    assert_non_null(allow);
    assert_int_equal(ssrf_check_url("http://127.0.0.1:8080/", allow, &t, err, sizeof err), SSRF_OK);
    assert_int_equal(ssrf_check_url("http://127.0.0.2/", allow, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    assert_int_equal(ssrf_check_url("ftp://127.0.0.1/", allow, &t, err, sizeof err), SSRF_BAD_URL);
    ssrf_allow_free(allow);
}

/* localhost comes from /etc/hosts: no network needed. */
static void test_check_names(void **state) {
    (void)state;
    ssrf_target t;
    char err[256];
    assert_int_equal(ssrf_check_url("http://localhost:9/", NULL, &t, err, sizeof err),
                     SSRF_FORBIDDEN);
    ssrf_allow *allow = ssrf_allow_parse("localhost", err, sizeof err);
    assert_non_null(allow);
    assert_int_equal(ssrf_check_url("http://localhost:9/x", allow, &t, err, sizeof err), SSRF_OK);
    assert_memory_equal(t.resolve, "localhost:9:", strlen("localhost:9:"));
    assert_true(strstr(t.resolve, "127.0.0.1") != NULL || strstr(t.resolve, "[::1]") != NULL);
    ssrf_allow_free(allow);
    assert_int_equal(ssrf_check_url("http://no-such-host.invalid/", NULL, &t, err, sizeof err),
                     SSRF_UNRESOLVABLE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_v4),    cmocka_unit_test(test_classify_v6),
        cmocka_unit_test(test_allow_list),     cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_check_literals), cmocka_unit_test(test_check_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
