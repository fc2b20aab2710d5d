/*
 * client_ip.c: the client address of a request (see client_ip.h).
 * Rules: inet_pton/inet_ntop do the parsing; nothing here trusts header text as is.
 */
#include "api/client_ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void copy_text(char *out, size_t outlen, const char *text) {
    snprintf(out, outlen, "%s", text);
}

void client_ip_from_peer(const struct sockaddr *peer, char *out, size_t outlen) {
    char buf[INET6_ADDRSTRLEN];
    const char *text = NULL;
    if (peer != NULL && peer->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, peer, sizeof sin);
        text = inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf);
    }
    copy_text(out, outlen, text != NULL ? text : "unknown");
}

int client_ip_last_forwarded(const char *forwarded_for, char *out, size_t outlen) {
    if (forwarded_for == NULL) {
        return -1;
    }
    const char *hop = strrchr(forwarded_for, ',');
    hop = hop != NULL ? hop + 1 : forwarded_for;
    while (*hop == ' ' || *hop == '\t') {
        hop++;
    }
    size_t len = strlen(hop);
    while (len > 0 && (hop[len - 1] == ' ' || hop[len - 1] == '\t')) {
        len--;
    }
    char text[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof text) {
        return -1;
    }
    memcpy(text, hop, len);
    text[len] = '\0';

    unsigned char addr[sizeof(struct in6_addr)];
    char canon[INET6_ADDRSTRLEN];
    int family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
    if (inet_pton(family, text, addr) != 1 ||
        inet_ntop(family, addr, canon, sizeof canon) == NULL) {
        return -1;
    }
    copy_text(out, outlen, canon);
    return 0;
}

void client_ip_resolve(const struct sockaddr *peer, const char *forwarded_for, bool trust_proxy,
                       char *out, size_t outlen) {
    if (trust_proxy && client_ip_last_forwarded(forwarded_for, out, outlen) == 0) {
        return;
    }
    client_ip_from_peer(peer, out, outlen);
}
