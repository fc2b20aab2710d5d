/*
 * fuzz_ssrf_guard.c: libFuzzer target for the webhook SSRF guard (shared/ssrf_guard.c):
 * the allow-list parser, the URL parser, the classification of addresses and the check
 * of a resolved address list with its CURLOPT_RESOLVE pins. No DNS: the address list is
 * built from the input (ssrf_check_addresses), and ssrf_check_url runs only on literal
 * hosts, which getaddrinfo answers without a lookup (AI_NUMERICHOST).
 *
 * Input: line 1 a TASKBUS_WEBHOOK_ALLOW list, line 2 a webhook URL, the rest addresses:
 * one selector byte each (selector % 8: 0-3 IPv4, 4-6 IPv6, 7 a family the guard skips)
 * followed by 4 or 16 address bytes, at most 12.
 * Invariants: an IPv4 address is judged the same when carried in an IPv4-mapped, NAT64
 * or 6to4 address; outside 2000::/3 (global unicast) only IPv6 addresses that carry an
 * IPv4 address (mapped, NAT64) may be public; public addresses are always allowed and,
 * without an allow-list, nothing else is; a parsed URL is http(s) with a lower-case host
 * and a port in range; the list check passes only when every address is allowed, pins
 * min(8, n) of them and never overflows its buffer; the full check of a literal host
 * agrees with the address check; every error is printable.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz_util.h"
#include "shared/ssrf_guard.h"

#define FUZZ_MAX_ADDRS 12

typedef struct addr_list {
    struct addrinfo ai[FUZZ_MAX_ADDRS];
    struct sockaddr_storage ss[FUZZ_MAX_ADDRS];
    int n;     /* entries */
    int ninet; /* of them IPv4 or IPv6 */
} addr_list;

static const struct sockaddr *v4(struct sockaddr_storage *ss, const uint8_t b[4]) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, b, 4);
    return (const struct sockaddr *)ss;
}

static const struct sockaddr *v6(struct sockaddr_storage *ss, const uint8_t b[16]) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    memcpy(in6->sin6_addr.s6_addr, b, 16);
    return (const struct sockaddr *)ss;
}

static bool valid_class(ssrf_addr_class c) {
    return c >= SSRF_ADDR_PUBLIC && c <= SSRF_ADDR_RESERVED && strcmp(ssrf_class_name(c), "") != 0;
}

/* The same IPv4 address, bare and inside the three IPv6 forms that carry one. */
static void check_embedded(const uint8_t b[4]) {
    struct sockaddr_storage ss;
    ssrf_addr_class want = ssrf_classify(v4(&ss, b));
    FUZZ_CHECK(valid_class(want));
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(mapped + 12, b, 4);
    FUZZ_CHECK(ssrf_classify(v6(&ss, mapped)) == want);
    uint8_t nat64[16] = {0, 0x64, 0xff, 0x9b};
    memcpy(nat64 + 12, b, 4);
    FUZZ_CHECK(ssrf_classify(v6(&ss, nat64)) == want);
    uint8_t six_to_four[16] = {0x20, 0x02};
    memcpy(six_to_four + 2, b, 4);
    FUZZ_CHECK(ssrf_classify(v6(&ss, six_to_four)) == want);
}

/* Only 2000::/3 is global unicast: an IPv6 address elsewhere that carries no IPv4
 * address (mapped, NAT64) reaches no public host. */
static bool outside_global_unicast(const struct sockaddr *sa) {
    if (sa->sa_family != AF_INET6) {
        return false;
    }
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    return (b[0] & 0xe0) != 0x20 && memcmp(b, mapped, 12) != 0 && memcmp(b, nat64, 12) != 0;
}

static void check_address(const ssrf_allow *allow, const char *host, const struct sockaddr *sa) {
    ssrf_addr_class c = ssrf_classify(sa);
    FUZZ_CHECK(valid_class(c));
    FUZZ_CHECK(!(c == SSRF_ADDR_PUBLIC && outside_global_unicast(sa)));
    bool bare = ssrf_address_allowed(NULL, host, sa);
    FUZZ_CHECK(bare == (c == SSRF_ADDR_PUBLIC));
    if (bare) {
        FUZZ_CHECK(ssrf_address_allowed(allow, host, sa));
    }
}

static void take_addresses(fuzz_input *in, addr_list *list) {
    memset(list, 0, sizeof *list);
    while (in->size > 0 && list->n < FUZZ_MAX_ADDRS) {
        uint8_t sel = fuzz_take_byte(in) % 8;
        size_t want = sel < 4 ? 4 : 16;
        uint8_t b[16] = {0};
        for (size_t i = 0; i < want; i++) {
            b[i] = fuzz_take_byte(in);
        }
        struct addrinfo *ai = &list->ai[list->n];
        struct sockaddr_storage *ss = &list->ss[list->n];
        if (sel < 4) {
            ai->ai_addr = (struct sockaddr *)v4(ss, b);
            ai->ai_addrlen = sizeof(struct sockaddr_in);
            check_embedded(b);
            list->ninet++;
        } else if (sel < 7) {
            ai->ai_addr = (struct sockaddr *)v6(ss, b);
            ai->ai_addrlen = sizeof(struct sockaddr_in6);
            list->ninet++;
        } else {
            memset(ss, 0, sizeof *ss);
            ss->ss_family = AF_UNIX;
            ai->ai_addr = (struct sockaddr *)ss;
            ai->ai_addrlen = sizeof(struct sockaddr_un);
        }
        ai->ai_family = ai->ai_addr->sa_family;
        ai->ai_socktype = SOCK_STREAM;
        if (list->n > 0) {
            list->ai[list->n - 1].ai_next = ai;
        }
        list->n++;
    }
}

static int count_pins(const char *resolve) {
    /* "host:port:a,b,...": the addresses follow the second ':' after the host. */
    const char *p = strchr(resolve, ':');
    FUZZ_CHECK(p != NULL);
    p = strchr(p + 1, ':');
    FUZZ_CHECK(p != NULL);
    p++;
    if (*p == '\0') {
        return 0;
    }
    int n = 1;
    for (; *p != '\0'; p++) {
        n += *p == ',';
    }
    return n;
}

static void check_list(const ssrf_allow *allow, const ssrf_target *parsed, const addr_list *list) {
    ssrf_target t = *parsed;
    char err[256] = "";
    ssrf_result rc =
        ssrf_check_addresses(list->n > 0 ? &list->ai[0] : NULL, allow, &t, err, sizeof err);
    FUZZ_CHECK(strlen(t.resolve) < sizeof t.resolve);
    bool all_allowed = true;
    for (int i = 0; i < list->n; i++) {
        const struct sockaddr *sa = list->ai[i].ai_addr;
        if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
            check_address(allow, t.host, sa);
            all_allowed = all_allowed && ssrf_address_allowed(allow, t.host, sa);
        }
    }
    switch (rc) {
    case SSRF_OK:
        FUZZ_CHECK(all_allowed && list->ninet > 0);
        if (t.host_is_literal) {
            FUZZ_CHECK(t.resolve[0] == '\0');
        } else {
            int want = list->ninet < SSRF_MAX_ADDRS ? list->ninet : SSRF_MAX_ADDRS;
            FUZZ_CHECK(count_pins(t.resolve) == want);
        }
        break;
    case SSRF_FORBIDDEN:
        FUZZ_CHECK(!all_allowed);
        break;
    case SSRF_UNRESOLVABLE:
        FUZZ_CHECK(list->ninet == 0);
        break;
    case SSRF_BAD_URL:
        break;
    }
    if (rc != SSRF_OK) {
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
    }
}

static void check_url(const char *url, const ssrf_allow *allow, const addr_list *list) {
    ssrf_target t;
    char err[256] = "";
    if (ssrf_parse_url(url, &t, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
        return;
    }
    FUZZ_CHECK(strcmp(t.scheme, "http") == 0 || strcmp(t.scheme, "https") == 0);
    FUZZ_CHECK(t.port >= 1 && t.port <= 65535);
    FUZZ_CHECK(t.host[0] != '\0' && strlen(t.host) < sizeof t.host);
    for (const char *c = t.host; *c != '\0'; c++) {
        FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'));
    }
    uint8_t b[16];
    bool is_v4 = inet_pton(AF_INET, t.host, b) == 1;
    bool is_v6 = !is_v4 && inet_pton(AF_INET6, t.host, b) == 1;
    FUZZ_CHECK(t.host_is_literal == (is_v4 || is_v6));

    check_list(allow, &t, list);

    if (t.host_is_literal) {
        struct sockaddr_storage ss;
        const struct sockaddr *sa = is_v4 ? v4(&ss, b) : v6(&ss, b);
        check_address(allow, t.host, sa);
        ssrf_target full;
        ssrf_result rc = ssrf_check_url(url, allow, &full, err, sizeof err);
        FUZZ_CHECK((rc == SSRF_OK) == ssrf_address_allowed(allow, t.host, sa));
        FUZZ_CHECK(rc == SSRF_OK || rc == SSRF_FORBIDDEN);
        if (rc == SSRF_OK) {
            FUZZ_CHECK(full.resolve[0] == '\0');
        } else {
            FUZZ_CHECK(fuzz_printable(err));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *allow_text = fuzz_take_line(&in, NULL);
    char *url = fuzz_take_line(&in, NULL);
    addr_list *list = malloc(sizeof *list);
    FUZZ_CHECK(list != NULL);
    take_addresses(&in, list);

    char err[256] = "";
    ssrf_allow *allow = ssrf_allow_parse(allow_text, err, sizeof err);
    if (allow == NULL) {
        FUZZ_CHECK(err[0] != '\0');
    }
    check_url(url, allow, list);

    ssrf_allow_free(allow);
    free(list);
    free(url);
    free(allow_text);
    return 0;
}
