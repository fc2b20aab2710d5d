/*
 * webhooks_http.c: one signed webhook POST (see webhooks_http.h).
 */
#include "workers/webhooks/webhooks_http.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shared/time_util.h"

#define RESPONSE_MAX 65536
#define CONNECT_TIMEOUT_MAX_MS 3000
#define HEADER_MAX 200

int webhooks_sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                  char out[WEBHOOK_SIGNATURE_HEX]) {
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    if (crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret)) != 0 ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)timestamp, strlen(timestamp)) !=
            0 ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1) != 0 ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len) != 0 ||
        crypto_auth_hmacsha256_final(&st, mac) != 0) {
        sodium_memzero(&st, sizeof st);
        return -1;
    }
    sodium_bin2hex(out, WEBHOOK_SIGNATURE_HEX, mac, sizeof mac);
    return 0;
}

int webhooks_signature_value(const char *secret, const char *previous_secret, const char *timestamp,
                             const char *body, size_t body_len,
                             char out[WEBHOOK_SIGNATURE_VALUE_MAX]) {
    char sig[WEBHOOK_SIGNATURE_HEX], old[WEBHOOK_SIGNATURE_HEX];
    if (webhooks_sign(secret, timestamp, body, body_len, sig) != 0) {
        return -1;
    }
    if (previous_secret == NULL) {
        snprintf(out, WEBHOOK_SIGNATURE_VALUE_MAX, "v1=%s", sig);
        return 0;
    }
    if (webhooks_sign(previous_secret, timestamp, body, body_len, old) != 0) {
        return -1;
    }
    snprintf(out, WEBHOOK_SIGNATURE_VALUE_MAX, "v1=%s v1=%s", sig, old);
    return 0;
}

/* Reads and drops the answer's body; stops a receiver that sends without end. */
static size_t drop_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    (void)ptr;
    size_t *seen = userdata;
    *seen += size * nmemb;
    return *seen > RESPONSE_MAX ? 0 : size * nmemb;
}

/* The request headers (caller frees with curl_slist_free_all), or NULL. */
static struct curl_slist *build_headers(const webhook_request *req) {
    char ts[32], sigs[WEBHOOK_SIGNATURE_VALUE_MAX], line[HEADER_MAX];
    snprintf(ts, sizeof ts, "%lld", (long long)(time_now_unix_ms() / 1000));
    if (webhooks_signature_value(req->secret, req->previous_secret, ts, req->body, req->body_len,
                                 sigs) != 0) {
        return NULL;
    }
    struct curl_slist *h = NULL, *next = NULL;
    const char *fixed[3] = {"Content-Type: application/cloudevents+json",
                            "Expect:", "User-Agent: taskbus-webhooks/1"};
    for (size_t i = 0; i < 3; i++) {
        if ((next = curl_slist_append(h, fixed[i])) == NULL) {
            goto fail;
        }
        h = next;
    }
    const char *fmts[3] = {"Webhook-Id: %s", "Webhook-Timestamp: %s", "Webhook-Signature: %s"};
    const char *vals[3] = {req->event_id, ts, sigs};
    for (size_t i = 0; i < 3; i++) {
        snprintf(line, sizeof line, fmts[i], vals[i]);
        if ((next = curl_slist_append(h, line)) == NULL) {
            goto fail;
        }
        h = next;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

static int set_options(CURL *c, const webhook_request *req, struct curl_slist *headers,
                       struct curl_slist *resolve, size_t *seen) {
    long connect_ms =
        req->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? req->timeout_ms : CONNECT_TIMEOUT_MAX_MS;
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(c, CURLOPT_URL, req->url);
    rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never via an environment proxy */
    rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    rc |= curl_easy_setopt(c, CURLOPT_POST, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, seen);
    if (resolve != NULL) {
        rc |= curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    }
    return rc == CURLE_OK ? 0 : -1;
}

static int perform(CURL *c, webhook_response *resp) {
    char errbuf[CURL_ERROR_SIZE] = "";
    if (curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
        snprintf(resp->error, sizeof resp->error, "curl: cannot set the error buffer");
        return -1;
    }
    int64_t start = time_monotonic_ns();
    CURLcode rc = curl_easy_perform(c);
    resp->duration_ms = (int)((time_monotonic_ns() - start) / 1000000);
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof resp->error, "%s",
                 errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
        return -1;
    }
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status) != CURLE_OK ||
        resp->status == 0) {
        snprintf(resp->error, sizeof resp->error, "no HTTP status in the answer");
        resp->status = 0;
        return -1;
    }
    return 0;
}

int webhooks_http_post(const webhook_request *req, webhook_response *resp) {
    memset(resp, 0, sizeof *resp);
    struct curl_slist *headers = build_headers(req);
    struct curl_slist *resolve = NULL;
    if (req->resolve[0] != '\0') {
        resolve = curl_slist_append(NULL, req->resolve);
    }
    CURL *c = curl_easy_init();
    size_t seen = 0;
    int rc = -1;
    if (headers == NULL || c == NULL || (req->resolve[0] != '\0' && resolve == NULL)) {
        snprintf(resp->error, sizeof resp->error, "out of memory building the request");
    } else if (set_options(c, req, headers, resolve, &seen) != 0) {
        snprintf(resp->error, sizeof resp->error, "curl refused an option");
    } else {
        rc = perform(c, resp);
    }
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(resolve);
    curl_slist_free_all(headers);
    return rc;
}
