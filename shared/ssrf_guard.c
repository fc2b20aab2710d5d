/*
 * ssrf_guard.c: the SSRF guard of webhooks (see ssrf_guard.h).
 *
 * Owns: the address tables (RFC 6890 special-purpose ranges, the ones a webhook must never
 * reach), the allow-list matcher and the resolve-and-check step. Rules: an address is
 * judged on its bytes, never on how the URL spelled it (curl's parser normalises
 * "0x7f.1" and "2130706433" to 127.0.0.1 and getaddrinfo resolves what is left); addresses
 * that carry an IPv4 address (mapped, NAT64, 6to4) are judged by that address.
 */
#include "shared/ssrf_guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/errbuf.h"

#define ALLOW_MAX_ENTRIES 64

typedef struct allow_entry {
    bool is_host;
    char host[SSRF_HOST_MAX]; /* lower-case, is_host */
    int family;               /* AF_INET or AF_INET6, !is_host */
    unsigned char addr[16];
    int prefix;
} allow_entry;

struct ssrf_allow {
    allow_entry entries[ALLOW_MAX_ENTRIES];
    size_t count;
};

/* One address as plain bytes: 4 for IPv4 (mapped IPv6 folded to IPv4), else 16. */
typedef struct raw_addr {
    int family;
    unsigned char b[16];
} raw_addr;

static int raw_from_sockaddr(const struct sockaddr *sa, raw_addr *out) {
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->b, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(in6->sin6_addr.s6_addr, mapped, 12) == 0) {
            out->family = AF_INET;
            memcpy(out->b, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->b, in6->sin6_addr.s6_addr, 16);
        }
        return 0;
    }
    return -1;
}

static bool prefix_match(const unsigned char *a, const unsigned char *net, int prefix) {
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, (size_t)full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

typedef struct v4_range {
    uint8_t a, b, c, d;
    int prefix;
    ssrf_addr_class cls;
} v4_range;

/* RFC 6890 and friends: every IPv4 range that is not the public Internet. */
static const v4_range V4_RANGES[] = {
    {0, 0, 0, 0, 8, SSRF_ADDR_UNSPECIFIED},     {10, 0, 0, 0, 8, SSRF_ADDR_PRIVATE},
    {100, 64, 0, 0, 10, SSRF_ADDR_CGNAT},       {127, 0, 0, 0, 8, SSRF_ADDR_LOOPBACK},
    {169, 254, 0, 0, 16, SSRF_ADDR_LINK_LOCAL}, {172, 16, 0, 0, 12, SSRF_ADDR_PRIVATE},
    {192, 0, 0, 0, 24, SSRF_ADDR_RESERVED},     {192, 0, 2, 0, 24, SSRF_ADDR_RESERVED},
    {192, 88, 99, 0, 24, SSRF_ADDR_RESERVED},   {192, 168, 0, 0, 16, SSRF_ADDR_PRIVATE},
    {198, 18, 0, 0, 15, SSRF_ADDR_RESERVED},    {198, 51, 100, 0, 24, SSRF_ADDR_RESERVED},
    {203, 0, 113, 0, 24, SSRF_ADDR_RESERVED},   {224, 0, 0, 0, 4, SSRF_ADDR_MULTICAST},
    {240, 0, 0, 0, 4, SSRF_ADDR_RESERVED}, /* includes 255.255.255.255 */
};

static ssrf_addr_class classify_v4(const unsigned char *b) {
    for (size_t i = 0; i < sizeof V4_RANGES / sizeof V4_RANGES[0]; i++) {
        const v4_range *r = &V4_RANGES[i];
        const unsigned char net[4] = {r->a, r->b, r->c, r->d};
        if (prefix_match(b, net, r->prefix)) {
            return r->cls;
        }
    }
    return SSRF_ADDR_PUBLIC;
}

typedef struct v6_range {
    unsigned char net[4]; /* the first 32 bits are enough for every range below */
    int prefix;
    ssrf_addr_class cls;
} v6_range;

static const v6_range V6_RANGES[] = {
    {{0xfc, 0, 0, 0}, 7, SSRF_ADDR_PRIVATE},            /* unique local */
    {{0xfe, 0x80, 0, 0}, 10, SSRF_ADDR_LINK_LOCAL},     /* link-local */
    {{0xfe, 0xc0, 0, 0}, 10, SSRF_ADDR_PRIVATE},        /* site-local (deprecated) */
    {{0xff, 0, 0, 0}, 8, SSRF_ADDR_MULTICAST},          /* multicast */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, SSRF_ADDR_RESERVED}, /* documentation */
    {{0x20, 0x01, 0, 0}, 32, SSRF_ADDR_RESERVED},       /* Teredo: hides an IPv4 peer */
    {{0x01, 0, 0, 0}, 16, SSRF_ADDR_RESERVED},          /* 100::/64 discard, and the rest */
};

static ssrf_addr_class classify_v6(const unsigned char *b) {
    static const unsigned char zero[16] = {0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, zero, 15) == 0) {
        return b[15] == 1   ? SSRF_ADDR_LOOPBACK
               : b[15] == 0 ? SSRF_ADDR_UNSPECIFIED
                            : SSRF_ADDR_RESERVED;
    }
    if (memcmp(b, zero, 12) == 0) {
        return SSRF_ADDR_RESERVED; /* IPv4-compatible (deprecated) */
    }
    if (memcmp(b, nat64, 12) == 0) {
        return classify_v4(b + 12);
    }
    if (b[0] == 0x20 && b[1] == 0x02) {
        return classify_v4(b + 2); /* 6to4 carries the IPv4 address in bits 16-47 */
    }
    for (size_t i = 0; i < sizeof V6_RANGES / sizeof V6_RANGES[0]; i++) {
        if (prefix_match(b, V6_RANGES[i].net, V6_RANGES[i].prefix)) {
            return V6_RANGES[i].cls;
        }
    }
    /* Only 2000::/3 is global unicast. The rest of ::/8 (IPv4-translated ::ffff:0:0/96,
     * the local-use NAT64 prefix 64:ff9b:1::/48, which may translate to internal IPv4) and
     * the unallocated space reach no public host. */
    if ((b[0] & 0xe0) != 0x20) {
        return SSRF_ADDR_RESERVED;
    }
    return SSRF_ADDR_PUBLIC;
}

ssrf_addr_class ssrf_classify(const struct sockaddr *sa) {
    raw_addr a;
    if (raw_from_sockaddr(sa, &a) != 0) {
        return SSRF_ADDR_RESERVED;
    }
    return a.family == AF_INET ? classify_v4(a.b) : classify_v6(a.b);
}

const char *ssrf_class_name(ssrf_addr_class c) {
    switch (c) {
    case SSRF_ADDR_PUBLIC:
        return "public";
    case SSRF_ADDR_LOOPBACK:
        return "loopback";
    case SSRF_ADDR_PRIVATE:
        return "private";
    case SSRF_ADDR_LINK_LOCAL:
        return "link-local";
    case SSRF_ADDR_CGNAT:
        return "carrier-grade NAT";
    case SSRF_ADDR_MULTICAST:
        return "multicast";
    case SSRF_ADDR_UNSPECIFIED:
        return "unspecified";
    case SSRF_ADDR_RESERVED:
        return "reserved";
    }
    return "reserved";
}

/* --- the allow-list ------------------------------------------------------------------- */

static void lower_copy(char *dst, size_t cap, const char *src, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        dst[i] = (char)tolower((unsigned char)src[i]);
    }
    dst[n] = '\0';
}

/* "a.b.c.d", "a.b.c.d/n", "v6", "v6/n"; a host name otherwise. -1 for a bad prefix. */
static int parse_entry(const char *text, allow_entry *e) {
    char buf[SSRF_HOST_MAX];
    lower_copy(buf, sizeof buf, text, strlen(text));
    char *slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    int max = 0;
    if (inet_pton(AF_INET, buf, e->addr) == 1) {
        e->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
        e->family = AF_INET6;
        max = 128;
    } else {
        if (slash != NULL || buf[0] == '\0') {
            return -1;
        }
        e->is_host = true;
        snprintf(e->host, sizeof e->host, "%s", buf);
        return 0;
    }
    e->prefix = max;
    if (slash != NULL) {
        char *end = NULL;
        long p = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || p < 0 || p > max) {
            return -1;
        }
        e->prefix = (int)p;
    }
    return 0;
}

ssrf_allow *ssrf_allow_parse(const char *list, char *err, size_t errlen) {
    ssrf_allow *allow = calloc(1, sizeof *allow);
    if (allow == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = list != NULL ? list : "";
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)p[len - 1])) {
            len--;
        }
        if (len > 0) {
            char item[SSRF_HOST_MAX];
            if (len >= sizeof item || allow->count == ALLOW_MAX_ENTRIES ||
                (lower_copy(item, sizeof item, p, len),
                 parse_entry(item, &allow->entries[allow->count])) != 0) {
                errbuf_setf(err, errlen, "TASKBUS_WEBHOOK_ALLOW: bad entry '%.*s'",
                            (int)(len > 64 ? 64 : len), p);
                free(allow);
                return NULL;
            }
            allow->count++;
        }
        p = end != NULL ? end + 1 : p + len;
    }
    return allow;
}

void ssrf_allow_free(ssrf_allow *allow) {
    free(allow);
}

static bool entry_matches_addr(const allow_entry *e, const raw_addr *a) {
    return !e->is_host && e->family == a->family && prefix_match(a->b, e->addr, e->prefix);
}

bool ssrf_address_allowed(const ssrf_allow *allow, const char *host, const struct sockaddr *sa) {
    raw_addr a;
    if (raw_from_sockaddr(sa, &a) != 0) {
        return false;
    }
    if (ssrf_classify(sa) == SSRF_ADDR_PUBLIC) {
        return true;
    }
    for (size_t i = 0; allow != NULL && i < allow->count; i++) {
        const allow_entry *e = &allow->entries[i];
        if (e->is_host ? (host != NULL && strcasecmp(e->host, host) == 0)
                       : entry_matches_addr(e, &a)) {
            return true;
        }
    }
    return false;
}

/* --- the URL ---------------------------------------------------------------------------- */

/* Copies one part of the URL into dst. 0, or -1 (missing or too long). */
static int url_part(CURLU *u, CURLUPart part, unsigned flags, char *dst, size_t cap) {
    char *value = NULL;
    if (curl_url_get(u, part, &value, flags) != CURLUE_OK || value == NULL) {
        return -1;
    }
    size_t len = strlen(value);
    int rc = len > 0 && len < cap ? 0 : -1;
    if (rc == 0) {
        memcpy(dst, value, len + 1);
    }
    curl_free(value);
    return rc;
}

static bool url_has_part(CURLU *u, CURLUPart part) {
    char *value = NULL;
    CURLUcode rc = curl_url_get(u, part, &value, 0);
    bool has = rc == CURLUE_OK && value != NULL && value[0] != '\0';
    curl_free(value);
    return has;
}

/* Fills scheme, host (brackets of an IPv6 literal removed) and port from a parsed URL. */
static int url_fields(CURLU *u, ssrf_target *out, char *err, size_t errlen) {
    char port[8];
    if (url_part(u, CURLUPART_SCHEME, 0, out->scheme, sizeof out->scheme) != 0 ||
        (strcmp(out->scheme, "http") != 0 && strcmp(out->scheme, "https") != 0)) {
        errbuf_setf(err, errlen, "the URL must start with http:// or https://");
        return -1;
    }
    if (url_has_part(u, CURLUPART_USER) || url_has_part(u, CURLUPART_PASSWORD)) {
        errbuf_setf(err, errlen, "the URL must not carry a user name or password");
        return -1;
    }
    char host[SSRF_HOST_MAX + 2];
    if (url_part(u, CURLUPART_HOST, 0, host, sizeof host) != 0) {
        errbuf_setf(err, errlen, "the URL has no host (or one that is too long)");
        return -1;
    }
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        lower_copy(out->host, sizeof out->host, host + 1, hl - 2);
    } else {
        lower_copy(out->host, sizeof out->host, host, hl);
    }
    if (url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof port) != 0) {
        errbuf_setf(err, errlen, "the URL has no usable port");
        return -1;
    }
    out->port = atoi(port);
    if (out->port < 1 || out->port > 65535) {
        errbuf_setf(err, errlen, "the URL's port is out of range");
        return -1;
    }
    unsigned char tmp[16];
    out->host_is_literal =
        inet_pton(AF_INET, out->host, tmp) == 1 || inet_pton(AF_INET6, out->host, tmp) == 1;
    return 0;
}

int ssrf_parse_url(const char *url, ssrf_target *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (url == NULL || url[0] == '\0' || strlen(url) > SSRF_URL_MAX) {
        errbuf_setf(err, errlen, "the URL must be 1-%d characters", SSRF_URL_MAX);
        return -1;
    }
    for (const char *c = url; *c != '\0'; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
            errbuf_setf(err, errlen, "the URL must not contain spaces, controls or non-ASCII");
            return -1;
        }
    }
    CURLU *u = curl_url();
    if (u == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        errbuf_setf(err, errlen, "not a valid absolute URL");
    } else {
        rc = url_fields(u, out, err, errlen);
    }
    curl_url_cleanup(u);
    return rc;
}

/* --- resolve and check ---------------------------------------------------------------- */

static int addr_text(const struct sockaddr *sa, char *buf, size_t cap) {
    const void *src = sa->sa_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    return inet_ntop(sa->sa_family, src, buf, (socklen_t)cap) != NULL ? 0 : -1;
}

/* Appends one checked address to the CURLOPT_RESOLVE entry "host:port:a,b". */
static int pin_address(ssrf_target *out, const struct sockaddr *sa, int *npinned) {
    char text[INET6_ADDRSTRLEN];
    if (*npinned >= SSRF_MAX_ADDRS || addr_text(sa, text, sizeof text) != 0) {
        return 0; /* enough addresses pinned; the rest were still checked */
    }
    size_t used = strlen(out->resolve);
    const char *fmt = sa->sa_family == AF_INET6 ? "%s[%s]" : "%s%s";
    int n = snprintf(out->resolve + used, sizeof out->resolve - used, fmt, *npinned == 0 ? "" : ",",
                     text);
    if (n < 0 || (size_t)n >= sizeof out->resolve - used) {
        out->resolve[used] = '\0';
        return 0;
    }
    (*npinned)++;
    return 0;
}

ssrf_result ssrf_check_addresses(const struct addrinfo *res, const ssrf_allow *allow,
                                 ssrf_target *out, char *err, size_t errlen) {
    int n = snprintf(out->resolve, sizeof out->resolve, "%s:%d:", out->host, out->port);
    if (n < 0 || (size_t)n >= sizeof out->resolve) {
        errbuf_setf(err, errlen, "the URL's host is too long");
        return SSRF_BAD_URL;
    }
    int npinned = 0;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
            continue;
        }
        if (!ssrf_address_allowed(allow, out->host, ai->ai_addr)) {
            char text[INET6_ADDRSTRLEN] = "?";
            (void)addr_text(ai->ai_addr, text, sizeof text);
            errbuf_setf(err, errlen, "the URL's host resolves to %s, a %s address", text,
                        ssrf_class_name(ssrf_classify(ai->ai_addr)));
            return SSRF_FORBIDDEN;
        }
        pin_address(out, ai->ai_addr, &npinned);
    }
    if (npinned == 0) {
        errbuf_setf(err, errlen, "the URL's host has no IPv4 or IPv6 address");
        return SSRF_UNRESOLVABLE;
    }
    if (out->host_is_literal) {
        out->resolve[0] = '\0'; /* curl does not resolve an address: nothing to pin */
    }
    return SSRF_OK;
}

ssrf_result ssrf_check_url(const char *url, const ssrf_allow *allow, ssrf_target *out, char *err,
                           size_t errlen) {
    if (ssrf_parse_url(url, out, err, errlen) != 0) {
        return SSRF_BAD_URL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (out->host_is_literal) {
        hints.ai_flags = AI_NUMERICHOST;
    }
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(out->host, NULL, &hints, &res);
    if (gai != 0) {
        errbuf_setf(err, errlen, "the URL's host could not be resolved (%s)", gai_strerror(gai));
        return SSRF_UNRESOLVABLE;
    }
    ssrf_result rc = ssrf_check_addresses(res, allow, out, err, errlen);
    freeaddrinfo(res);
    return rc;
}
