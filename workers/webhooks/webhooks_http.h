/*
 * webhooks_http.h: one signed webhook POST (libcurl).
 *
 * Owns: the signature (Webhook-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>,
 * keyed by the secret's text as the owner saw it; within the grace period after a rotation
 * a second, space-separated v1= value keyed by the previous secret follows the first:
 * "v1=<new> v1=<old>") and the request: Content-Type
 * application/cloudevents+json, Webhook-Id (the event id: the same on every retry, so a
 * receiver de-duplicates by it), Webhook-Timestamp (Unix seconds). Rules: the connection
 * goes only to the addresses the SSRF guard checked (CURLOPT_RESOLVE); no redirects, no
 * proxies from the environment, only http and https, a total timeout and a connect
 * timeout; the answer's body is read and dropped (at most RESPONSE_MAX bytes). A fresh
 * easy handle per request, so no pinned address outlives its check.
 */
#ifndef TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_HTTP_H
#define TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SIGNATURE_HEX 65 /* 64 hex digits and the NUL */
/* "v1=<64 hex> v1=<64 hex>" and the NUL */
#define WEBHOOK_SIGNATURE_VALUE_MAX (2 * (3 + WEBHOOK_SIGNATURE_HEX))

typedef struct webhook_request {
    const char *url;
    const char *resolve; /* CURLOPT_RESOLVE entry, or "" for an address literal */
    const char *secret;
    const char *previous_secret; /* also signs when not NULL (a rotation's grace period) */
    const char *event_id;        /* Webhook-Id */
    const char *body;
    size_t body_len;
    int timeout_ms;
} webhook_request;

typedef struct webhook_response {
    long status;     /* the HTTP status, 0 when none came */
    char error[256]; /* why, when status is 0 */
    int duration_ms;
} webhook_response;

/* Hex HMAC-SHA256 of "<timestamp>.<body>" keyed by secret. 0, or -1. */
int webhooks_sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                  char out[WEBHOOK_SIGNATURE_HEX]);

/* The Webhook-Signature value: "v1=<hex>" of secret, followed by " v1=<hex>" of
 * previous_secret when it is not NULL (a rotation's grace period). 0, or -1. */
int webhooks_signature_value(const char *secret, const char *previous_secret, const char *timestamp,
                             const char *body, size_t body_len,
                             char out[WEBHOOK_SIGNATURE_VALUE_MAX]);

/* Sends one signed POST. 0 when an HTTP answer came (any status), -1 when none did
 * (resp->error says why). */
int webhooks_http_post(const webhook_request *req, webhook_response *resp);

#endif
