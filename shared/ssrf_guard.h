/*
 * ssrf_guard.h: deciding whether a webhook URL may be reached (docs/decisions.md "Webhooks").
 *
 * Owns: parsing a webhook URL (libcurl's URL API, the same parser that later sends to it),
 * resolving its host, classifying every address (IPv4 and IPv6: loopback, private,
 * link-local, CGNAT, multicast, unspecified, reserved; IPv4-mapped, NAT64 and 6to4
 * addresses are judged by the IPv4 address they carry) and the TASKBUS_WEBHOOK_ALLOW
 * allow-list (host names, addresses, CIDRs). Rules: EVERY resolved address must be public
 * or allowed, not just the first; the addresses that were checked are handed back as a
 * CURLOPT_RESOLVE entry, so the connection goes to what was checked and a DNS answer that
 * changes in between (rebinding) cannot slip past. Only http and https, no user:password
 * in the URL (it would be shown and logged). Thread-safe: no state beyond the allow-list,
 * which is read-only after ssrf_allow_parse.
 */
#ifndef TASKBUS_SHARED_SSRF_GUARD_H
#define TASKBUS_SHARED_SSRF_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SSRF_URL_MAX 2048
#define SSRF_HOST_MAX 256
#define SSRF_MAX_ADDRS 8
#define SSRF_RESOLVE_MAX (SSRF_HOST_MAX + 16 + SSRF_MAX_ADDRS * 48)

typedef enum {
    SSRF_ADDR_PUBLIC = 0,
    SSRF_ADDR_LOOPBACK,
    SSRF_ADDR_PRIVATE,
    SSRF_ADDR_LINK_LOCAL,
    SSRF_ADDR_CGNAT,
    SSRF_ADDR_MULTICAST,
    SSRF_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    SSRF_ADDR_RESERVED,    /* documentation, benchmarking, broadcast, 240/4, ... */
} ssrf_addr_class;

typedef enum {
    SSRF_OK = 0,
    SSRF_BAD_URL,      /* not an http(s) URL with a host */
    SSRF_UNRESOLVABLE, /* the host has no address */
    SSRF_FORBIDDEN,    /* an address is not public and not allowed */
} ssrf_result;

/* The parsed allow-list; immutable once built. */
typedef struct ssrf_allow ssrf_allow;

/* A checked target. */
typedef struct ssrf_target {
    char scheme[8];           /* "http" or "https" */
    char host[SSRF_HOST_MAX]; /* as curl sees it; an IPv6 literal without brackets */
    int port;
    bool host_is_literal;           /* an IP address: curl does not resolve it */
    char resolve[SSRF_RESOLVE_MAX]; /* "host:port:addr,addr" for CURLOPT_RESOLVE, or "" */
} ssrf_target;

/* Parses "host,10.0.0.0/8,::1,127.0.0.1" (spaces around entries ignored; NULL or "" is
 * an empty list). NULL with err for a malformed CIDR. */
ssrf_allow *ssrf_allow_parse(const char *list, char *err, size_t errlen);
void ssrf_allow_free(ssrf_allow *allow);

/* The class of one address (AF_INET or AF_INET6 sockaddr). */
ssrf_addr_class ssrf_classify(const struct sockaddr *sa);
const char *ssrf_class_name(ssrf_addr_class c);

/* Splits url into scheme, host and port (default port filled). 0, or -1 with err. */
int ssrf_parse_url(const char *url, ssrf_target *out, char *err, size_t errlen);

/* True when the address may be reached: public, or its host or the address is allowed. */
bool ssrf_address_allowed(const ssrf_allow *allow, const char *host, const struct sockaddr *sa);

/* The check after resolution, on its own so it can be tested without DNS: every IPv4 and
 * IPv6 address of res (other families are skipped) must be allowed for out->host (as
 * ssrf_parse_url filled it); the first SSRF_MAX_ADDRS are pinned in out->resolve ("" for
 * a literal host). SSRF_OK, SSRF_FORBIDDEN, SSRF_UNRESOLVABLE (no usable address) or
 * SSRF_BAD_URL (a host too long to pin), with err. */
struct addrinfo;
ssrf_result ssrf_check_addresses(const struct addrinfo *res, const ssrf_allow *allow,
                                 ssrf_target *out, char *err, size_t errlen);

/* Parses, resolves and checks url; fills out (the pinned addresses in out->resolve) on
 * SSRF_OK. err says why otherwise (safe to show the URL's owner). allow may be NULL. */
ssrf_result ssrf_check_url(const char *url, const ssrf_allow *allow, ssrf_target *out, char *err,
                           size_t errlen);

#endif
