/*
 * importer_throttle.c: AIMD rate of the importer and the fair split of a grant (see
 * importer_throttle.h). Rules: pure arithmetic on the caller's state; every input out of
 * range (negative times, counts) is read as the safe side (no growth, no grant).
 */
#include "workers/importer/importer_throttle.h"

#include <math.h>
#include <string.h>

#define NS_PER_S 1e9

importer_throttle_config importer_throttle_defaults(double min_rate, double max_rate,
                                                    int64_t max_delay_ns, int64_t max_lag) {
    importer_throttle_config c = {
        .start_rate = 1000,
        .min_rate = min_rate,
        .max_rate = max_rate,
        .increase = 500,
        .decrease = 0.5,
        .interval_ns = 100 * 1000000LL,
        .max_delay_ns = max_delay_ns,
        .base_bucket_ns = 60 * 1000000000LL,
        .max_lag = max_lag,
        .max_tick_ns = 100 * 1000000LL,
    };
    return c;
}

static double clamp(double v, double lo, double hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

static double start_rate(const importer_throttle_config *c) {
    return clamp(c->start_rate, c->min_rate, c->max_rate);
}

void importer_throttle_init(importer_throttle *t, const importer_throttle_config *cfg) {
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    if (t->cfg.min_rate < 1) {
        t->cfg.min_rate = 1;
    }
    if (t->cfg.max_rate < t->cfg.min_rate) {
        t->cfg.max_rate = t->cfg.min_rate;
    }
    if (!(t->cfg.decrease > 0 && t->cfg.decrease < 1)) {
        t->cfg.decrease = 0.5;
    }
    if (t->cfg.interval_ns < 1) {
        t->cfg.interval_ns = 1;
    }
    if (t->cfg.max_tick_ns < 1) {
        t->cfg.max_tick_ns = 1;
    }
    if (t->cfg.base_bucket_ns < 1) {
        t->cfg.base_bucket_ns = 1;
    }
    for (int i = 0; i < IMPORTER_THROTTLE_BASE_BUCKETS; i++) {
        t->base_min_ns[i] = -1;
    }
    importer_throttle_idle(t);
}

/* Moves the minimum filter to now_ns (buckets that ended are dropped, oldest first) and
 * adds the sample seen_ns (-1: none). */
static void base_add(importer_throttle *t, int64_t seen_ns, int64_t now_ns) {
    if (!t->base_started) {
        t->base_started = true;
        t->base_bucket_start_ns = now_ns;
    }
    int64_t ended = now_ns > t->base_bucket_start_ns
                        ? (now_ns - t->base_bucket_start_ns) / t->cfg.base_bucket_ns
                        : 0;
    if (ended > IMPORTER_THROTTLE_BASE_BUCKETS) {
        ended = IMPORTER_THROTTLE_BASE_BUCKETS;
    }
    for (int64_t k = 0; k < ended; k++) {
        t->base_current = (t->base_current + 1) % IMPORTER_THROTTLE_BASE_BUCKETS;
        t->base_min_ns[t->base_current] = -1;
    }
    if (ended > 0) {
        t->base_bucket_start_ns = now_ns;
    }
    int64_t *cur = &t->base_min_ns[t->base_current];
    if (seen_ns >= 0 && (*cur < 0 || seen_ns < *cur)) {
        *cur = seen_ns;
    }
}

int64_t importer_throttle_base_ns(const importer_throttle *t) {
    int64_t base = -1;
    for (int i = 0; i < IMPORTER_THROTTLE_BASE_BUCKETS; i++) {
        if (t->base_min_ns[i] >= 0 && (base < 0 || t->base_min_ns[i] < base)) {
            base = t->base_min_ns[i];
        }
    }
    return base < 0 ? 0 : base;
}

void importer_throttle_idle(importer_throttle *t) {
    t->rate = start_rate(&t->cfg);
    t->ssthresh = t->cfg.max_rate;
    t->carry = 0;
    t->started = false;
    t->has_cut = false;
    t->verdict = THROTTLE_START;
}

/* True when congestion seen now was already answered by the latest decrease: less than a
 * round ago, or traffic produced before the decrease is still unapplied. */
static bool answered(const importer_throttle *t, const importer_signals *s, int64_t now_ns) {
    if (!t->has_cut) {
        return false;
    }
    if (now_ns - t->cut_ns < t->cfg.interval_ns) {
        return true;
    }
    return s->oldest_unapplied_ns >= 0 && s->oldest_unapplied_ns < t->cut_ns;
}

static void move_rate(importer_throttle *t, const importer_signals *s, int64_t now_ns,
                      int64_t real_dt, int64_t dt) {
    const importer_throttle_config *c = &t->cfg;
    int64_t limit_ns = importer_throttle_base_ns(t) + c->max_delay_ns;
    bool late = s->oldest_unapplied_ns >= 0 && now_ns - s->oldest_unapplied_ns > limit_ns;
    bool lagging = s->lag > c->max_lag;
    if (late || lagging) {
        if (answered(t, s, now_ns)) {
            t->verdict = THROTTLE_HOLD;
            return;
        }
        t->rate = clamp(t->rate * c->decrease, c->min_rate, c->max_rate);
        t->ssthresh = t->rate;
        t->cut_ns = now_ns;
        t->has_cut = true;
        t->cuts++;
        t->verdict = THROTTLE_DECREASE;
        return;
    }
    /* Grow only a rate that is used: what the rate allowed over the time that passed. */
    double allowed = t->rate * (double)real_dt / NS_PER_S;
    if (s->lag < 0 || (double)s->produced < 0.5 * allowed || dt <= 0) {
        t->verdict = THROTTLE_HOLD;
        return;
    }
    double rounds = (double)dt / (double)c->interval_ns;
    if (t->rate < t->ssthresh) {
        t->rate = fmin(t->ssthresh, t->rate * exp2(rounds));
    } else {
        t->rate += c->increase * rounds;
    }
    t->rate = clamp(t->rate, c->min_rate, c->max_rate);
    t->verdict = THROTTLE_GROW;
}

int64_t importer_throttle_update(importer_throttle *t, const importer_signals *s, int64_t now_ns) {
    int64_t dt;
    base_add(t, s->seen_min_ns, now_ns);
    if (!t->started) {
        t->started = true;
        t->verdict = THROTTLE_START;
        dt = t->cfg.max_tick_ns;
    } else {
        int64_t real_dt = now_ns > t->last_ns ? now_ns - t->last_ns : 0;
        dt = real_dt < t->cfg.max_tick_ns ? real_dt : t->cfg.max_tick_ns;
        move_rate(t, s, now_ns, real_dt, dt);
    }
    t->last_ns = now_ns;
    double want = t->rate * (double)dt / NS_PER_S + t->carry;
    int64_t grant = (int64_t)floor(want);
    t->carry = want - (double)grant;
    int64_t in_flight = s->in_flight > 0 ? s->in_flight : 0;
    int64_t window = t->cfg.max_lag - in_flight;
    if (grant > window) {
        grant = window > 0 ? window : 0;
        t->carry = 0; /* a full window is no reason to burst later */
    }
    return grant;
}

/* Water-filling of budget over n demands: equal parts, what a demand cannot use goes to
 * the others, leftover single items one each from index turn % n among those still
 * wanting. out[] is added to (the caller zeroes it). */
static void fill(int64_t budget, const int64_t *want, int n, unsigned turn, int64_t *out) {
    int64_t left_want = 0;
    for (int i = 0; i < n; i++) {
        left_want += want[i] > 0 ? want[i] : 0;
    }
    while (budget > 0 && left_want > 0) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            active += want[i] > out[i];
        }
        int64_t part = budget / active;
        bool settled = false;
        for (int i = 0; i < n; i++) {
            int64_t need = want[i] - out[i];
            if (need > 0 && need <= part) {
                out[i] += need;
                budget -= need;
                left_want -= need;
                settled = true;
            }
        }
        if (settled) {
            continue; /* parts grow for the rest */
        }
        for (int i = 0; i < n; i++) {
            if (want[i] > out[i]) {
                out[i] += part;
                budget -= part;
                left_want -= part;
            }
        }
        for (int k = 0; k < n && budget > 0; k++) {
            int i = (int)((turn + (unsigned)k) % (unsigned)n);
            if (want[i] > out[i]) {
                out[i]++;
                budget--;
                left_want--;
            }
        }
    }
}

void importer_throttle_share(int64_t grant, const int64_t *want, const int *user, int n,
                             unsigned turn, int64_t *out) {
    if (n <= 0) {
        return;
    }
    for (int i = 0; i < n; i++) {
        out[i] = 0;
    }
    /* Users in order of first appearance; one slot of user_want per distinct user. */
    int64_t user_want[IMPORTER_THROTTLE_MAX_SHARES];
    int64_t user_part[IMPORTER_THROTTLE_MAX_SHARES];
    int user_of[IMPORTER_THROTTLE_MAX_SHARES]; /* index of the first import of each user */
    int nusers = 0;
    int m = n < IMPORTER_THROTTLE_MAX_SHARES ? n : IMPORTER_THROTTLE_MAX_SHARES;
    for (int i = 0; i < m; i++) {
        int u = 0;
        while (u < nusers && user[user_of[u]] != user[i]) {
            u++;
        }
        if (u == nusers) {
            user_of[nusers] = i;
            user_want[nusers] = 0;
            user_part[nusers] = 0;
            nusers++;
        }
        user_want[u] += want[i] > 0 ? want[i] : 0;
    }
    fill(grant, user_want, nusers, turn, user_part);
    int64_t sub_want[IMPORTER_THROTTLE_MAX_SHARES];
    int64_t sub_out[IMPORTER_THROTTLE_MAX_SHARES];
    int sub_index[IMPORTER_THROTTLE_MAX_SHARES];
    for (int u = 0; u < nusers; u++) {
        int k = 0;
        for (int i = 0; i < m; i++) {
            if (user[i] == user[user_of[u]]) {
                sub_index[k] = i;
                sub_want[k] = want[i] > 0 ? want[i] : 0;
                sub_out[k] = 0;
                k++;
            }
        }
        fill(user_part[u], sub_want, k, turn, sub_out);
        for (int j = 0; j < k; j++) {
            out[sub_index[j]] = sub_out[j];
        }
    }
}
