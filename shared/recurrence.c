/*
 * recurrence.c: the RRULE subset and the next occurrence (see recurrence.h for the rules
 * it keeps).
 *
 * libical (3.0.16 in Debian 12) keeps its table of built-in zones in a global array that
 * it fills on first use and appends to, both without a lock, and loads a zone's rules
 * into that zone on first use: so every libical call of this file holds g_ical_lock, and
 * a zone is looked up only among the names of the table (zone.tab), never by a path, so
 * the table never grows and a name means the same zone on every host.
 */
#include "shared/recurrence.h"

#include <ctype.h>
#include <libical/ical.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERVAL_MAX 1000
#define COUNT_MAX 10000
#define ITERATIONS_MAX 1000   /* occurrences looked at for the next one after the due time */
#define LIST_ITEMS_MAX 31     /* items of a BYDAY or BYMONTHDAY list (libical holds 32) */
#define MONTHLY_ORDINAL_MAX 5 /* a month has at most five of a weekday */

/* Held around every libical call (see the top of the file). */
static pthread_mutex_t g_ical_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const FREQS[] = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"};
enum { FREQ_DAILY, FREQ_WEEKLY, FREQ_MONTHLY, FREQ_YEARLY };
static const char *const DAYS[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
/* The parts of the subset. A refusal's *part points here (static), never into the text
 * being parsed, so it outlives the call. */
static const char *const PART_NAMES[] = {"FREQ",       "INTERVAL", "BYDAY",
                                         "BYMONTHDAY", "COUNT",    "UNTIL"};
#define PART_COUNT (sizeof PART_NAMES / sizeof PART_NAMES[0])

/* A parsed rule: each part as its canonical text ("" when absent). */
typedef struct rule {
    int freq; /* index into FREQS, -1 when absent */
    char interval[8];
    char byday[128];
    char bymonthday[128];
    long count; /* 0 when absent */
    char until[20];
    bool ordinal_days; /* BYDAY has an ordinal (1MO, -1FR) */
    long ordinal_max;  /* the largest |ordinal| of BYDAY */
} rule;

/* A decimal integer in [lo, hi] filling all of s. */
static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    if (*s == '\0' || (!isdigit((unsigned char)*s) && *s != '-' && *s != '+')) {
        return false;
    }
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

static bool is_day(const char *s) {
    for (size_t i = 0; i < sizeof DAYS / sizeof DAYS[0]; i++) {
        if (strcmp(s, DAYS[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks a comma list with item() per element; the text is kept as given (upper case). */
static const char *check_list(char *value, char *out, size_t outlen, rule *r,
                              const char *(*item)(const char *, rule *)) {
    if (strlen(value) >= outlen) {
        return "is too long";
    }
    snprintf(out, outlen, "%s", value);
    int items = 0;
    for (char *save = NULL, *e = strtok_r(value, ",", &save); e != NULL;
         e = strtok_r(NULL, ",", &save)) {
        const char *why = ++items > LIST_ITEMS_MAX ? "must list at most 31 items" : item(e, r);
        if (why != NULL) {
            return why;
        }
    }
    return out[0] == '\0' || out[0] == ',' || out[strlen(out) - 1] == ',' ||
                   strstr(out, ",,") != NULL
               ? "must be a comma-separated list without empty items"
               : NULL;
}

static const char *byday_item(const char *e, rule *r) {
    size_t len = strlen(e);
    if (len < 2 || !is_day(e + len - 2)) {
        return "each day must be MO, TU, WE, TH, FR, SA or SU, optionally after an ordinal "
               "such as 1 or -1";
    }
    if (len > 2) {
        char ord[8];
        long v;
        if (len - 2 >= sizeof ord) {
            return "an ordinal must be from -53 to 53, not 0";
        }
        memcpy(ord, e, len - 2);
        ord[len - 2] = '\0';
        if (!parse_int(ord, -53, 53, &v) || v == 0) {
            return "an ordinal must be from -53 to 53, not 0";
        }
        r->ordinal_days = true;
        r->ordinal_max = labs(v) > r->ordinal_max ? labs(v) : r->ordinal_max;
    }
    return NULL;
}

static const char *bymonthday_item(const char *e, rule *r) {
    (void)r;
    long v;
    return parse_int(e, -31, 31, &v) && v != 0 ? NULL
                                               : "each day of the month must be from 1 to 31 "
                                                 "or -31 to -1";
}

/* YYYYMMDD or YYYYMMDDTHHMMSSZ (UTC), a real date and time. */
static bool valid_until(const char *v) {
    size_t len = strlen(v);
    if (len != 8 && !(len == 16 && v[8] == 'T' && v[15] == 'Z')) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (i != 8 && i != 15 && !isdigit((unsigned char)v[i])) {
            return false;
        }
    }
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (sscanf(v, "%4d%2d%2d", &y, &mo, &d) != 3 ||
        (len == 16 && sscanf(v + 9, "%2d%2d%2d", &h, &mi, &s) != 3)) {
        return false;
    }
    return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= icaltime_days_in_month(mo, y) &&
           h < 24 && mi < 60 && s < 60;
}

/* Sets one NAME=VALUE part (name: one of PART_NAMES); the message when it is refused
 * (*part names it). */
static const char *set_part(rule *r, const char *name, char *value, const char **part) {
    long v;
    *part = name;
    if (strcmp(name, "FREQ") == 0) {
        for (int i = 0; i < 4; i++) {
            r->freq = strcmp(value, FREQS[i]) == 0 ? i : r->freq;
        }
        return r->freq >= 0 ? NULL : "must be DAILY, WEEKLY, MONTHLY or YEARLY";
    }
    if (strcmp(name, "INTERVAL") == 0) {
        if (!parse_int(value, 1, INTERVAL_MAX, &v)) {
            return "must be an integer from 1 to 1000";
        }
        snprintf(r->interval, sizeof r->interval, "%ld", v);
        return NULL;
    }
    if (strcmp(name, "BYDAY") == 0) {
        return check_list(value, r->byday, sizeof r->byday, r, byday_item);
    }
    if (strcmp(name, "BYMONTHDAY") == 0) {
        return check_list(value, r->bymonthday, sizeof r->bymonthday, r, bymonthday_item);
    }
    if (strcmp(name, "COUNT") == 0) {
        return parse_int(value, 1, COUNT_MAX, &r->count) ? NULL
                                                         : "must be an integer from 1 to 10000";
    }
    if (strcmp(name, "UNTIL") == 0) {
        if (!valid_until(value)) {
            return "must be a date (YYYYMMDD) or a UTC date-time (YYYYMMDDTHHMMSSZ)";
        }
        snprintf(r->until, sizeof r->until, "%s", value);
    }
    return NULL;
}

/* The rule as a whole, after its parts: what depends on FREQ. */
static const char *check_whole(const rule *r, const char **part) {
    *part = "FREQ";
    if (r->freq < 0) {
        return "is required";
    }
    *part = "BYDAY";
    if (r->ordinal_days && r->freq != FREQ_MONTHLY && r->freq != FREQ_YEARLY) {
        return "takes an ordinal (1MO, -1FR) only with FREQ=MONTHLY or YEARLY";
    }
    if (r->freq == FREQ_MONTHLY && r->ordinal_max > MONTHLY_ORDINAL_MAX) {
        return "takes ordinals from -5 to 5 with FREQ=MONTHLY (a month has at most five of a "
               "weekday)";
    }
    *part = "BYMONTHDAY";
    if (r->ordinal_days && r->bymonthday[0] != '\0') {
        return "cannot be combined with an ordinal BYDAY (1MO, -1FR): the two can exclude "
               "each other (the first Monday is never the 31st)";
    }
    *part = "BYMONTHDAY";
    if (r->bymonthday[0] != '\0' && r->freq == FREQ_WEEKLY) {
        return "cannot be used with FREQ=WEEKLY";
    }
    *part = "COUNT";
    if (r->count > 0 && r->until[0] != '\0') {
        return "and UNTIL cannot both be given";
    }
    return NULL;
}

/* Parses text (upper-cased, an optional "RRULE:" prefix) into r. */
static const char *parse_rule(const char *text, rule *r, const char **part) {
    memset(r, 0, sizeof *r);
    r->freq = -1;
    *part = "rule";
    size_t len = text != NULL ? strlen(text) : 0;
    if (len == 0 || len > RECURRENCE_RULE_MAX) {
        return "must be an RRULE of 1 to 200 characters, such as FREQ=WEEKLY;BYDAY=MO";
    }
    char buf[RECURRENCE_RULE_MAX + 1];
    for (size_t i = 0; i <= len; i++) {
        buf[i] = (char)toupper((unsigned char)text[i]);
    }
    char *body = strncmp(buf, "RRULE:", 6) == 0 ? buf + 6 : buf;
    unsigned seen = 0;
    for (char *save = NULL, *p = strtok_r(body, ";", &save); p != NULL;
         p = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(p, '=');
        if (eq == NULL || eq == p) {
            return "must be NAME=VALUE parts separated by ';'";
        }
        *eq = '\0';
        const char *name = NULL;
        for (unsigned i = 0; i < PART_COUNT; i++) {
            if (strcmp(p, PART_NAMES[i]) == 0) {
                name = PART_NAMES[i];
                *part = name;
                if ((seen & (1u << i)) != 0) {
                    return "appears twice";
                }
                seen |= 1u << i;
            }
        }
        if (name == NULL) {
            *part = "rule";
            return "has a part this API does not take: only FREQ, INTERVAL, BYDAY, BYMONTHDAY, "
                   "COUNT and UNTIL";
        }
        const char *why = set_part(r, name, eq + 1, part);
        if (why != NULL) {
            return why;
        }
    }
    return check_whole(r, part);
}

/* The zone of an IANA name of the built-in table (zone.tab), or UTC; NULL for any other
 * name. The caller holds g_ical_lock. */
static icaltimezone *zone_of(const char *name) {
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > RECURRENCE_TIME_ZONE_MAX) {
        return NULL;
    }
    if (strcmp(name, "UTC") == 0) {
        return icaltimezone_get_utc_timezone();
    }
    icalarray *zones = icaltimezone_get_builtin_timezones();
    for (size_t i = 0; zones != NULL && i < zones->num_elements; i++) {
        icaltimezone *z = icalarray_element_at(zones, i);
        const char *location = icaltimezone_get_location(z);
        if (location != NULL && strcmp(location, name) == 0) {
            return z;
        }
    }
    return NULL;
}

const char *recurrence_check(const char *rule_text, const char *time_zone, const char **part) {
    rule r;
    const char *why = parse_rule(rule_text, &r, part);
    if (why != NULL) {
        return why;
    }
    pthread_mutex_lock(&g_ical_lock);
    bool known = zone_of(time_zone) != NULL;
    pthread_mutex_unlock(&g_ical_lock);
    if (!known) {
        *part = "time_zone";
        return "must be an IANA time zone name of the tz database's zone.tab, such as "
               "Europe/Berlin or America/New_York, or UTC";
    }
    return NULL;
}

/* The canonical text of r with count (0: none). */
static void rule_text(const rule *r, long count, char *out, size_t outlen) {
    char c[32] = "";
    if (count > 0) {
        snprintf(c, sizeof c, ";COUNT=%ld", count);
    }
    snprintf(out, outlen, "FREQ=%s%s%s%s%s%s%s%s%s", FREQS[r->freq],
             r->interval[0] ? ";INTERVAL=" : "", r->interval, r->byday[0] ? ";BYDAY=" : "",
             r->byday, r->bymonthday[0] ? ";BYMONTHDAY=" : "", r->bymonthday, c,
             r->until[0] ? ";UNTIL=" : "");
    if (r->until[0] != '\0') {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s", r->until);
    }
}

int recurrence_canonical(const char *rule_in, char *out, size_t outlen) {
    rule r;
    const char *part;
    if (parse_rule(rule_in, &r, &part) != NULL) {
        return -1;
    }
    rule_text(&r, r.count, out, outlen);
    return 0;
}

/* The first occurrence of r strictly after due_ms in tz: 1 with *next_ms, 0 when there is
 * none (past UNTIL, or none among ITERATIONS_MAX), -1 when libical cannot expand it (a
 * time past its range). The caller holds g_ical_lock. */
static int first_after(const rule *r, icaltimezone *tz, int64_t due_ms, int64_t *next_ms) {
    /* COUNT is ours (occurrences left); libical expands the rule without it. */
    char text[RECURRENCE_RULE_MAX + 64];
    rule_text(r, 0, text, sizeof text);
    struct icalrecurrencetype rr = icalrecurrencetype_from_string(text);
    int64_t due_s = due_ms >= 0 ? due_ms / 1000 : -((-due_ms + 999) / 1000);
    struct icaltimetype start = icaltime_from_timet_with_zone((time_t)due_s, 0, tz);
    icalrecur_iterator *it =
        rr.freq != ICAL_NO_RECURRENCE ? icalrecur_iterator_new(rr, start) : NULL;
    if (it == NULL) {
        return -1;
    }
    int found = 0;
    for (int i = 0; i < ITERATIONS_MAX && found == 0; i++) {
        struct icaltimetype n = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(n)) {
            break; /* past UNTIL */
        }
        int64_t t = (int64_t)icaltime_as_timet_with_zone(n, tz);
        if (t > due_s) {
            *next_ms = t * 1000 + (due_ms - due_s * 1000);
            found = 1;
        }
    }
    icalrecur_iterator_free(it);
    return found;
}

int recurrence_next(const char *rule_in, const char *time_zone, int64_t due_ms, int64_t *next_ms,
                    char *next_rule, size_t next_rule_len) {
    rule r;
    const char *part;
    if (parse_rule(rule_in, &r, &part) != NULL) {
        return -1;
    }
    pthread_mutex_lock(&g_ical_lock);
    icaltimezone *tz = zone_of(time_zone);
    int found = tz == NULL ? -1 : r.count == 1 ? 0 : first_after(&r, tz, due_ms, next_ms);
    pthread_mutex_unlock(&g_ical_lock);
    if (found == 1) {
        rule_text(&r, r.count > 0 ? r.count - 1 : 0, next_rule, next_rule_len);
    }
    return found;
}
