/*
 * client_ip.h: which address a request is charged to and logged under.
 *
 * Owns: the TCP peer as text and, behind a trusted proxy (TASKBUS_TRUST_PROXY=1), the last
 * X-Forwarded-For hop, which is the address our own proxy saw. Rules: a forwarded value
 * is used only when it parses as an IPv4 or IPv6 address, and it is written in canonical
 * form (so "::FFFF:1.2.3.4" and "::ffff:1.2.3.4" share one rate-limit bucket); anything
 * else falls back to the peer. Earlier hops are client-controlled and never used.
 */
#ifndef TASKBUS_API_CLIENT_IP_H
#define TASKBUS_API_CLIENT_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The peer address as text ("unknown" when it is missing or not IP). */
void client_ip_from_peer(const struct sockaddr *peer, char *out, size_t outlen);
/* The last hop of an X-Forwarded-For value, canonical. 0, or -1 when it is not an IP. */
int client_ip_last_forwarded(const char *forwarded_for, char *out, size_t outlen);
/* The address of the request as described above. */
void client_ip_resolve(const struct sockaddr *peer, const char *forwarded_for, bool trust_proxy,
                       char *out, size_t outlen);

#endif
