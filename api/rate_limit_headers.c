/*
 * rate_limit_headers.c: the RateLimit-Policy and RateLimit fields (rate_limit_headers.h).
 *
 * Owns: choosing the policy the headers describe and writing the two fields as RFC 9651
 * Lists of Items: a String naming the policy (the draft requires a String) with Integer
 * parameters, members separated by ", " as RFC 9651 serialises a List. No partition key
 * (pk) is sent: every partition is the caller's own address or account, which it knows.
 * Rules: snprintf into the caller's buffer only; -1 and an empty buffer when it does not
 * fit, so a truncated (malformed) field is never sent.
 */
#include "api/rate_limit_headers.h"

#include <stdio.h>

static const char *const NAMES[RATE_POLICY_COUNT] = {
    [RATE_POLICY_IP] = "ip",
    [RATE_POLICY_USER] = "user",
    [RATE_POLICY_AUTH] = "auth",
    [RATE_POLICY_LOGIN_ACCOUNT] = "login_account",
    [RATE_POLICY_MAIL_ADDRESS] = "mail_address",
};

const char *rate_policy_name(rate_policy_id id) {
    return (unsigned)id < RATE_POLICY_COUNT ? NAMES[id] : NULL;
}

static int non_negative(int v) {
    return v < 0 ? 0 : v;
}

void rate_limit_headers_note(rate_limit_headers *h, rate_policy_id id, int quota, int window_s,
                             int remaining, int next_s) {
    if ((unsigned)id >= RATE_POLICY_COUNT)
        return;
    h->policy[id] = (rate_policy_state){.quota = non_negative(quota),
                                        .window_s = non_negative(window_s),
                                        .remaining = non_negative(remaining),
                                        .next_s = non_negative(next_s)};
    h->present |= 1u << id;
}

static bool has(const rate_limit_headers *h, int id) {
    return id >= 0 && id < RATE_POLICY_COUNT && (h->present & (1u << id)) != 0;
}

int rate_limit_headers_pick(const rate_limit_headers *h) {
    int best = -1;
    for (int id = 0; id < RATE_POLICY_COUNT; id++) {
        if (!has(h, id))
            continue;
        const rate_policy_state *p = &h->policy[id];
        if (best < 0 || p->remaining < h->policy[best].remaining ||
            (p->remaining == h->policy[best].remaining && p->next_s > h->policy[best].next_s))
            best = id;
    }
    return best;
}

/* Appends with snprintf; false (and *at past len) once something did not fit. */
static bool fits(int wrote, size_t *at, size_t len) {
    if (wrote < 0 || (size_t)wrote >= len - *at) {
        *at = len;
        return false;
    }
    *at += (size_t)wrote;
    return true;
}

int rate_limit_headers_format_policy(const rate_limit_headers *h, char *buf, size_t len) {
    if (buf == NULL || len == 0)
        return -1;
    buf[0] = '\0';
    size_t at = 0;
    bool any = false;
    for (int id = 0; id < RATE_POLICY_COUNT; id++) {
        if (!has(h, id))
            continue;
        const rate_policy_state *p = &h->policy[id];
        if (!fits(snprintf(buf + at, len - at, "%s\"%s\";q=%d;w=%d", any ? ", " : "", NAMES[id],
                           p->quota, p->window_s),
                  &at, len)) {
            buf[0] = '\0';
            return -1;
        }
        any = true;
    }
    return any ? (int)at : -1;
}

int rate_limit_headers_format_limit(const rate_limit_headers *h, int id, char *buf, size_t len) {
    if (buf == NULL || len == 0)
        return -1;
    buf[0] = '\0';
    if (!has(h, id))
        return -1;
    const rate_policy_state *p = &h->policy[id];
    size_t at = 0;
    if (!fits(snprintf(buf, len, "\"%s\";r=%d;t=%d", NAMES[id], p->remaining, p->next_s), &at,
              len)) {
        buf[0] = '\0';
        return -1;
    }
    return (int)at;
}
