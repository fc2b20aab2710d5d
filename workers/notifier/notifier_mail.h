/*
 * notifier_mail.h: the RFC 5322 message of a notification and its SMTP send.
 *
 * Owns: the MIME form (multipart/alternative: text/plain then text/html, both UTF-8,
 * base64 with 76-character lines, CRLF everywhere; Message-ID <notification_id@taskbus>,
 * so a receiver can spot the one duplicate a crash can cause) and the libcurl SMTP
 * conversation (CURLOPT_MAIL_FROM / MAIL_RCPT / READFUNCTION). Rules: the outcome of a
 * send is classified for the retry policy: accepted; transient (cannot connect, timeouts,
 * broken connection, SMTP 4xx: retry); permanent (SMTP 5xx, a malformed URL or address:
 * dead letter at once). The SMTP URL may hold a password and is never logged.
 */
#ifndef TASKBUS_WORKERS_NOTIFIER_NOTIFIER_MAIL_H
#define TASKBUS_WORKERS_NOTIFIER_NOTIFIER_MAIL_H

#include <stddef.h>

#include "workers/notifier/notifier_template.h"

typedef enum { MAIL_SENT = 0, MAIL_TRANSIENT = 1, MAIL_PERMANENT = 2 } mail_outcome;

/* Builds the whole message (caller frees; *len set), or NULL on bad input/memory. from
 * is the From: header ("name <addr>" or "addr"); to one address without CR/LF. */
char *notifier_mail_build(const char *notification_id, const char *from, const char *to,
                          const rendered_mail *mail, long long unix_seconds, size_t *len);

/* The bare address of a From value ("taskbus <a@b>" -> "a@b") into out. 0, or -1. */
int notifier_mail_address(const char *from, char *out, size_t outlen);

/* One SMTP conversation delivering msg from envelope address from_addr to to. err gets
 * a short reason (SMTP code and curl's text) when the outcome is not MAIL_SENT. */
mail_outcome notifier_mail_send(const char *smtp_url, const char *from_addr, const char *to,
                                const char *msg, size_t len, char *err, size_t errlen);

#endif
