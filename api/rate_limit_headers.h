/*
 * rate_limit_headers.h: the RateLimit-Policy and RateLimit fields of one answer
 * (draft-ietf-httpapi-ratelimit-headers-11; docs/decisions.md, "Rate limits").
 *
 * Owns: what a request learned about each rate-limit policy it paid into (at most one
 * entry per policy, in a fixed order), which of them the headers describe, and the
 * fields' text as RFC 9651 structured fields:
 *   RateLimit-Policy: "ip";q=600;w=60, "user";q=300;w=60   (every policy that applied)
 *   RateLimit: "user";r=12;t=1                              (the one closest to its limit)
 * Rules: pure (no I/O, no allocation: the state lives in the request context, the text in
 * the caller's buffer); a buffer too small gives -1 and nothing is half written.
 */
#ifndef TASKBUS_API_RATE_LIMIT_HEADERS_H
#define TASKBUS_API_RATE_LIMIT_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

/* The policies, in the order RateLimit-Policy lists them. Their names are the `bucket`
 * label of taskbus_ratelimit_limited_total. */
typedef enum rate_policy_id {
    RATE_POLICY_IP = 0, /* TASKBUS_RATELIMIT_IP: every request, per client address */
    RATE_POLICY_USER,   /* TASKBUS_RATELIMIT_USER: authenticated requests, per user */
    RATE_POLICY_AUTH,   /* TASKBUS_RATELIMIT_AUTH: sign-in and mail-token routes, per address */
    RATE_POLICY_LOGIN_ACCOUNT, /* TASKBUS_RATELIMIT_LOGIN_ACCOUNT: login, per e-mail */
    RATE_POLICY_MAIL_ADDRESS,  /* TASKBUS_RATELIMIT_MAIL_ADDRESS: mail to an address */
    RATE_POLICY_COUNT
} rate_policy_id;

typedef struct rate_policy_state {
    int quota;     /* q: requests per window */
    int window_s;  /* w: the window in seconds */
    int remaining; /* r: requests left */
    int next_s;    /* t: seconds until one more request than r is admitted */
} rate_policy_state;

/* Zeroed (memset or = {0}) it is empty. */
typedef struct rate_limit_headers {
    rate_policy_state policy[RATE_POLICY_COUNT];
    unsigned present; /* bit (1u << id) for each policy noted */
    bool refused;     /* the limiter answered this request 429: Retry-After = t */
} rate_limit_headers;

/* Room for either field with every policy at its largest numbers. */
#define RATE_LIMIT_HEADER_MAX 192

/* The policy's name in the fields ("ip", "user", "auth", "login_account",
 * "mail_address"); NULL when id
 * is out of range. */
const char *rate_policy_name(rate_policy_id id);

/* Records (or replaces) what one policy said about this request. Negative numbers are
 * stored as 0; an id out of range is ignored. */
void rate_limit_headers_note(rate_limit_headers *h, rate_policy_id id, int quota, int window_s,
                             int remaining, int next_s);

/* The policy the RateLimit field describes: the fewest requests left; on a tie, the
 * longest t; on a tie again, the first listed. -1 when none was noted. */
int rate_limit_headers_pick(const rate_limit_headers *h);

/* The RateLimit-Policy value: every noted policy. Length written (NUL excluded), or -1
 * when none was noted or it does not fit (buf then holds ""). */
int rate_limit_headers_format_policy(const rate_limit_headers *h, char *buf, size_t len);

/* The RateLimit value for policy `id`. Length written, or -1 when id was not noted or it
 * does not fit (buf then holds ""). */
int rate_limit_headers_format_limit(const rate_limit_headers *h, int id, char *buf, size_t len);

#endif
