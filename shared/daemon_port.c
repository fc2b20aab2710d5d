/*
 * daemon_port.c: the port of a daemon's listener (see daemon_port.h).
 *
 * Owns: building the per-daemon variable's name and parsing it. No state.
 */
#include "shared/daemon_port.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/errbuf.h"

#define PORT_MAX 65535

int daemon_port_resolve(const char *service, int offset, int base_port, config_lookup_fn lookup,
                        void *ctx, int *port, char *err, size_t errlen) {
    if (service == NULL || lookup == NULL || port == NULL || offset < 0 || base_port < 0) {
        errbuf_setf(err, errlen, "metrics port: bad arguments");
        return -1;
    }
    char name[64] = "TASKBUS_";
    size_t n = 8;
    for (const char *p = service; *p != '\0' && n + 1 < sizeof name; p++) {
        name[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    int len = snprintf(name + n, sizeof name - n, "_METRICS_PORT");
    if (len < 0 || (size_t)len >= sizeof name - n) {
        errbuf_setf(err, errlen, "metrics port: service name too long");
        return -1;
    }
    const char *text = lookup(name, ctx);
    if (text != NULL && text[0] != '\0') {
        char *end = NULL;
        errno = 0;
        long v = isdigit((unsigned char)text[0]) ? strtol(text, &end, 10) : -1;
        if (v < 0 || errno != 0 || end == NULL || *end != '\0' || v > PORT_MAX) {
            errbuf_setf(err, errlen, "%s: \"%.64s\" is not a port (0..65535; 0: no listener)", name,
                        text);
            return -1;
        }
        *port = (int)v;
        return 0;
    }
    if (base_port == 0) {
        *port = 0;
        return 0;
    }
    if (base_port + offset > PORT_MAX) {
        errbuf_setf(err, errlen,
                    "TASKBUS_METRICS_PORT: %d + %d (the offset of %s) is above 65535; set %s",
                    base_port, offset, service, name);
        return -1;
    }
    *port = base_port + offset;
    return 0;
}
