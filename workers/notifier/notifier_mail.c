/*
 * notifier_mail.c: MIME building and the libcurl SMTP send.
 *
 * Owns: the message text and one curl easy handle per send (no handle is shared between
 * threads; curl_global_init is the caller's, once, in main). Rules: every header value
 * that came from data is checked for CR/LF (header injection); a non-ASCII subject is
 * sent as an RFC 2047 encoded word; the handle and recipient list are freed on every path.
 */
#include "workers/notifier/notifier_mail.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/errbuf.h"

#define CONNECT_TIMEOUT_MS 5000L
#define SEND_TIMEOUT_MS 30000L

typedef struct outbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} outbuf;

static void out_add(outbuf *o, const char *s, size_t n) {
    if (o->failed) {
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap == 0 ? 4096 : o->cap;
        while (cap < o->len + n + 1) {
            cap *= 2;
        }
        char *grown = realloc(o->data, cap);
        if (grown == NULL) {
            o->failed = true;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_str(outbuf *o, const char *s) {
    out_add(o, s, strlen(s));
}

static bool has_crlf(const char *s) {
    return strpbrk(s, "\r\n") != NULL;
}

static bool is_ascii(const char *s) {
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s > 126) {
            return false;
        }
    }
    return true;
}

/* Base64 of bytes in lines of 76 characters, each ending CRLF. */
static void out_base64(outbuf *o, const char *bytes, size_t n) {
    size_t b64len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (b64 == NULL) {
        o->failed = true;
        return;
    }
    sodium_bin2base64(b64, b64len, (const unsigned char *)bytes, n, sodium_base64_VARIANT_ORIGINAL);
    size_t total = strlen(b64);
    for (size_t i = 0; i < total; i += 76) {
        out_add(o, b64 + i, total - i < 76 ? total - i : 76);
        out_str(o, "\r\n");
    }
    free(b64);
}

static void out_subject(outbuf *o, const char *subject) {
    out_str(o, "Subject: ");
    if (is_ascii(subject)) {
        out_str(o, subject);
    } else {
        size_t len = strlen(subject);
        size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64len);
        if (b64 == NULL) {
            o->failed = true;
            return;
        }
        sodium_bin2base64(b64, b64len, (const unsigned char *)subject, len,
                          sodium_base64_VARIANT_ORIGINAL);
        out_str(o, "=?UTF-8?B?");
        out_str(o, b64);
        out_str(o, "?=");
        free(b64);
    }
    out_str(o, "\r\n");
}

static void out_part(outbuf *o, const char *boundary, const char *type, const char *body) {
    out_str(o, "--");
    out_str(o, boundary);
    out_str(o, "\r\nContent-Type: ");
    out_str(o, type);
    out_str(o, "; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    out_base64(o, body, strlen(body));
}

char *notifier_mail_build(const char *notification_id, const char *from, const char *to,
                          const rendered_mail *mail, long long unix_seconds, size_t *len) {
    if (has_crlf(from) || has_crlf(to) || has_crlf(notification_id) || has_crlf(mail->subject)) {
        return NULL;
    }
    char date[64];
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0) {
        return NULL;
    }
    char boundary[80];
    snprintf(boundary, sizeof boundary, "=_taskbus_%s", notification_id);
    outbuf o = {0};
    out_str(&o, "From: ");
    out_str(&o, from);
    out_str(&o, "\r\nTo: ");
    out_str(&o, to);
    out_str(&o, "\r\nDate: ");
    out_str(&o, date);
    out_str(&o, "\r\nMessage-ID: <");
    out_str(&o, notification_id);
    out_str(&o, "@taskbus>\r\n");
    out_subject(&o, mail->subject);
    out_str(&o, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"");
    out_str(&o, boundary);
    out_str(&o, "\"\r\n\r\n");
    out_part(&o, boundary, "text/plain", mail->text);
    out_part(&o, boundary, "text/html", mail->html);
    out_str(&o, "--");
    out_str(&o, boundary);
    out_str(&o, "--\r\n");
    if (o.failed) {
        free(o.data);
        return NULL;
    }
    *len = o.len;
    return o.data;
}

int notifier_mail_address(const char *from, char *out, size_t outlen) {
    const char *lt = strrchr(from, '<');
    const char *start = lt != NULL ? lt + 1 : from;
    const char *end = lt != NULL ? strchr(start, '>') : start + strlen(start);
    if (end == NULL || end == start || (size_t)(end - start) >= outlen) {
        return -1;
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return has_crlf(out) || strchr(out, '@') == NULL ? -1 : 0;
}

typedef struct upload {
    const char *data;
    size_t len;
    size_t pos;
} upload;

static size_t read_cb(char *buffer, size_t size, size_t nitems, void *userdata) {
    upload *u = userdata;
    size_t room = size * nitems;
    size_t n = u->len - u->pos < room ? u->len - u->pos : room;
    memcpy(buffer, u->data + u->pos, n);
    u->pos += n;
    return n;
}

static mail_outcome classify(CURLcode rc, long smtp_code) {
    if (rc == CURLE_OK) {
        return MAIL_SENT;
    }
    if (smtp_code >= 500 && smtp_code < 600) {
        return MAIL_PERMANENT;
    }
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
        return MAIL_PERMANENT;
    }
    return MAIL_TRANSIENT; /* 4xx, refused, timeouts, resets: worth another attempt */
}

static CURLcode set_options(CURL *c, const char *url, const char *from, struct curl_slist *rcpt,
                            upload *u) {
    CURLcode rc = curl_easy_setopt(c, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_READDATA, u);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u->len);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, SEND_TIMEOUT_MS);
    return rc;
}

mail_outcome notifier_mail_send(const char *smtp_url, const char *from_addr, const char *to,
                                const char *msg, size_t len, char *err, size_t errlen) {
    if (has_crlf(to) || has_crlf(from_addr)) {
        errbuf_setf(err, errlen, "address holds CR or LF");
        return MAIL_PERMANENT;
    }
    CURL *c = curl_easy_init();
    struct curl_slist *rcpt = c != NULL ? curl_slist_append(NULL, to) : NULL;
    if (rcpt == NULL) {
        curl_easy_cleanup(c);
        errbuf_setf(err, errlen, "curl: out of memory");
        return MAIL_TRANSIENT;
    }
    upload u = {.data = msg, .len = len};
    char curl_err[CURL_ERROR_SIZE] = "";
    CURLcode rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    if (rc == CURLE_OK) {
        rc = set_options(c, smtp_url, from_addr, rcpt, &u);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_perform(c);
    }
    long code = 0;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) {
        code = 0;
    }
    mail_outcome outcome = classify(rc, code);
    if (outcome != MAIL_SENT) {
        errbuf_setf(err, errlen, "smtp %ld: %s", code,
                    curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    return outcome;
}
