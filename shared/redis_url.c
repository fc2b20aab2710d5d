/*
 * redis_url.c: REDIS_URL parsing and one dedicated connection (see redis_url.h).
 * Rules: percent escapes are decoded in the userinfo only; an IPv6 host is written
 * [addr]:port; a missing port is 6379, a missing db 0; hosts are separated by commas (the
 * userinfo ends at the last '@' before the path, so a password may hold commas).
 */
#include "shared/redis_url.h"
#include "shared/errbuf.h"
#include "shared/hex.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies len bytes of src into out (outlen bytes), decoding %XX. -1 when it does not fit. */
static int decode_into(const char *src, size_t len, char *out, size_t outlen) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%' && i + 2 < len && hex_digit_value(src[i + 1]) >= 0 &&
            hex_digit_value(src[i + 2]) >= 0) {
            c = (char)(hex_digit_value(src[i + 1]) * 16 + hex_digit_value(src[i + 2]));
            i += 2;
        }
        if (o + 1 >= outlen) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_userinfo(const char *p, size_t len, redis_url *out) {
    const char *colon = memchr(p, ':', len);
    size_t ulen = colon != NULL ? (size_t)(colon - p) : len;
    if (decode_into(p, ulen, out->username, sizeof out->username) != 0) {
        return -1;
    }
    if (colon == NULL) {
        return 0;
    }
    return decode_into(colon + 1, len - ulen - 1, out->password, sizeof out->password);
}

static int parse_port(const char *p, size_t len, int *port) {
    if (len == 0 || len > 5) {
        return -1;
    }
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535) {
        return -1;
    }
    *port = v;
    return 0;
}

static int parse_hostport(const char *p, size_t len, redis_url_host *out) {
    const char *host = p, *portp = NULL;
    size_t hostlen = len;
    if (len > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (close == NULL) {
            return -1;
        }
        host = p + 1;
        hostlen = (size_t)(close - host);
        if (close + 1 < p + len) {
            if (close[1] != ':') {
                return -1;
            }
            portp = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', len);
        if (colon != NULL) {
            hostlen = (size_t)(colon - p);
            portp = colon + 1;
        }
    }
    if (hostlen == 0 || hostlen >= sizeof out->host) {
        return -1;
    }
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->port = 6379;
    return portp != NULL ? parse_port(portp, (size_t)(p + len - portp), &out->port) : 0;
}

static int parse_db(const char *path, int *db) {
    if (path[0] == '\0' || strcmp(path, "/") == 0) {
        *db = 0;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(path + 1, &end, 10);
    if (errno != 0 || end == path + 1 || *end != '\0' || v < 0 || v > INT_MAX) {
        return -1;
    }
    *db = (int)v;
    return 0;
}

int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen) {
    static const char SCHEME[] = "redis://";
    memset(out, 0, sizeof *out);
    if (url == NULL || strncmp(url, SCHEME, sizeof SCHEME - 1) != 0) {
        errbuf_setf(err, errlen, "REDIS_URL must start with redis:// (TLS is not supported)");
        return -1;
    }
    const char *p = url + sizeof SCHEME - 1;
    const char *auth_end = p + strcspn(p, "/");
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++) {
        if (*q == '@') {
            at = q; /* the last '@' before the path ends the userinfo */
        }
    }
    const char *hostp = p;
    if (at != NULL) {
        if (parse_userinfo(p, (size_t)(at - p), out) != 0) {
            errbuf_setf(err, errlen, "REDIS_URL has a user name or password that is too long");
            return -1;
        }
        hostp = at + 1;
    }
    for (const char *h = hostp; h <= auth_end;) {
        const char *comma = memchr(h, ',', (size_t)(auth_end - h));
        const char *end = comma != NULL ? comma : auth_end;
        if (out->nseeds == REDIS_URL_MAX_SEEDS) {
            errbuf_setf(err, errlen, "REDIS_URL lists more than %d hosts", REDIS_URL_MAX_SEEDS);
            return -1;
        }
        if (parse_hostport(h, (size_t)(end - h), &out->seeds[out->nseeds]) != 0) {
            errbuf_setf(err, errlen, "REDIS_URL has a bad host or port");
            return -1;
        }
        out->nseeds++;
        h = end + 1;
    }
    memcpy(out->host, out->seeds[0].host, sizeof out->host);
    out->port = out->seeds[0].port;
    if (parse_db(auth_end, &out->db) != 0) {
        errbuf_setf(err, errlen, "REDIS_URL has a bad database number");
        return -1;
    }
    if (out->nseeds > 1 && out->db != 0) {
        errbuf_setf(err, errlen,
                    "REDIS_URL with several hosts (a Redis Cluster) must use database 0");
        return -1;
    }
    return 0;
}

/* Runs one setup command; 0 when it answered without an error. */
static int setup_command(redisContext *c, int argc, const char **argv, const char *what, char *err,
                         size_t errlen) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL) {
        errbuf_setf(err, errlen, "redis %s failed: %s", what, c->err ? c->errstr : "no reply");
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        errbuf_setf(err, errlen, "redis %s refused: %.200s", what, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

static int setup(redisContext *c, const redis_url *url, char *err, size_t errlen) {
    if (url->password[0] != '\0') {
        /* AUTH user password (Redis 6 ACL) or AUTH password */
        const char *argv[3] = {"AUTH", url->username, url->password};
        int argc = 3;
        if (url->username[0] == '\0') {
            argv[1] = url->password;
            argc = 2;
        }
        if (setup_command(c, argc, argv, "AUTH", err, errlen) != 0) {
            return -1;
        }
    }
    if (url->db != 0) {
        char dbtext[16];
        snprintf(dbtext, sizeof dbtext, "%d", url->db);
        const char *argv[2] = {"SELECT", dbtext};
        return setup_command(c, 2, argv, "SELECT", err, errlen);
    }
    return 0;
}

redisContext *redis_url_connect_host(const redis_url *url, const char *host, int port,
                                     int timeout_ms, char *err, size_t errlen) {
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL) {
        errbuf_setf(err, errlen, "redis connect: out of memory");
        return NULL;
    }
    if (c->err) {
        errbuf_setf(err, errlen, "redis connect to %s:%d: %s", host, port, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        errbuf_setf(err, errlen, "redis: could not set the read/write timeout");
        redisFree(c);
        return NULL;
    }
    if (setup(c, url, err, errlen) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *redis_url_connect(const redis_url *url, int timeout_ms, char *err, size_t errlen) {
    redisContext *c = NULL;
    for (int i = 0; i < url->nseeds && c == NULL; i++) {
        c = redis_url_connect_host(url, url->seeds[i].host, url->seeds[i].port, timeout_ms, err,
                                   errlen);
    }
    return c;
}
