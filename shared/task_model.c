/*
 * task_model.c: a task, its JSON form and its Postgres row.
 *
 * Owns: the mapping from a TASK_SELECT_COLUMNS row to the task JSON, the enumerations,
 * and RFC 3339 parsing. Rules: keys are set in one fixed order (id, title, description,
 * status, priority, due_at, tags, created_at, updated_at, completed_at, version), so the
 * same task always serialises to the same text in the API, the cache and the events;
 * absent times are JSON null, present ones millisecond RFC 3339 UTC (shared/time_util.h).
 */
#include "shared/task_model.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/time_util.h"

enum {
    COL_ID,
    COL_OWNER,
    COL_TITLE,
    COL_DESCRIPTION,
    COL_STATUS,
    COL_PRIORITY,
    COL_DUE,
    COL_TAGS,
    COL_CREATED,
    COL_UPDATED,
    COL_COMPLETED,
    COL_VERSION,
    COL_COUNT
};

bool task_status_valid(const char *s) {
    return s != NULL &&
           (strcmp(s, "todo") == 0 || strcmp(s, "in_progress") == 0 || strcmp(s, "done") == 0);
}

bool task_priority_valid(const char *s) {
    return s != NULL && (strcmp(s, "low") == 0 || strcmp(s, "medium") == 0 ||
                         strcmp(s, "high") == 0 || strcmp(s, "urgent") == 0);
}

long long task_json_version(const json_t *task) {
    json_t *v = json_object_get(task, "version");
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

size_t task_text_length(const char *utf8) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)utf8; p != NULL && *p; p++) {
        /* Continuation bytes (10xxxxxx) do not start a code point. */
        if ((*p & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* Parses a decimal integer column; false when it is not one. */
static bool parse_ll(const char *text, long long *out) {
    if (text == NULL || *text == '\0') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

/* A timestamp column (epoch ms or NULL) as an RFC 3339 string or JSON null. */
static json_t *time_column(const PGresult *res, int row, int col, bool *ok) {
    if (PQgetisnull(res, row, col)) {
        return json_null();
    }
    long long ms;
    if (!parse_ll(PQgetvalue(res, row, col), &ms)) {
        *ok = false;
        return NULL;
    }
    char text[32];
    time_format_rfc3339_ms((int64_t)ms, text, sizeof text);
    return json_string(text);
}

/* The tags column (array_to_json text) as a JSON array of strings, or NULL. */
static json_t *tags_column(const PGresult *res, int row) {
    json_error_t jerr;
    const char *text = PQgetvalue(res, row, COL_TAGS);
    json_t *tags = json_loads(text, 0, &jerr);
    if (!json_is_array(tags)) {
        json_decref(tags);
        return NULL;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (!json_is_string(t)) {
            json_decref(tags);
            return NULL;
        }
    }
    return tags;
}

static bool required_present(const PGresult *res, int row) {
    static const int required[] = {COL_ID,      COL_OWNER,    COL_TITLE, COL_DESCRIPTION,
                                   COL_STATUS,  COL_PRIORITY, COL_TAGS,  COL_CREATED,
                                   COL_UPDATED, COL_VERSION};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (PQgetisnull(res, row, required[i])) {
            return false;
        }
    }
    return true;
}

json_t *task_from_row(const PGresult *res, int row, char *owner_out) {
    if (res == NULL || row < 0 || row >= PQntuples(res) || PQnfields(res) < COL_COUNT ||
        !required_present(res, row)) {
        return NULL;
    }
    long long version;
    if (!parse_ll(PQgetvalue(res, row, COL_VERSION), &version)) {
        return NULL;
    }
    bool ok = true;
    json_t *task = json_object();
    if (task == NULL) {
        return NULL;
    }
    int rc = json_object_set_new(task, "id", json_string(PQgetvalue(res, row, COL_ID)));
    rc |= json_object_set_new(task, "title", json_string(PQgetvalue(res, row, COL_TITLE)));
    rc |= json_object_set_new(task, "description",
                              json_string(PQgetvalue(res, row, COL_DESCRIPTION)));
    rc |= json_object_set_new(task, "status", json_string(PQgetvalue(res, row, COL_STATUS)));
    rc |= json_object_set_new(task, "priority", json_string(PQgetvalue(res, row, COL_PRIORITY)));
    rc |= json_object_set_new(task, "due_at", time_column(res, row, COL_DUE, &ok));
    rc |= json_object_set_new(task, "tags", tags_column(res, row));
    rc |= json_object_set_new(task, "created_at", time_column(res, row, COL_CREATED, &ok));
    rc |= json_object_set_new(task, "updated_at", time_column(res, row, COL_UPDATED, &ok));
    rc |= json_object_set_new(task, "completed_at", time_column(res, row, COL_COMPLETED, &ok));
    rc |= json_object_set_new(task, "version", json_integer((json_int_t)version));
    /* json_object_set_new fails (and releases nothing) on a NULL value, so rc covers a
     * malformed column or an allocation failure. */
    if (rc != 0 || !ok) {
        json_decref(task);
        return NULL;
    }
    if (owner_out != NULL) {
        const char *owner = PQgetvalue(res, row, COL_OWNER);
        size_t n = strlen(owner);
        if (n >= 37) {
            json_decref(task);
            return NULL;
        }
        memcpy(owner_out, owner, n + 1);
    }
    return task;
}

/* ---- RFC 3339 ---- */

/* Reads exactly n digits at *p into *out and advances; false when they are not digits. */
static bool digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return false;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c) {
    if (**p != c) {
        return false;
    }
    (*p)++;
    return true;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The fraction after '.', in microseconds rounded at the seventh digit (as Postgres
 * stores it); at least one and at most nine digits. May return 1000000. */
static bool fraction_us(const char **p, long long *us) {
    int n = 0;
    long long v = 0;
    int seventh = 0;
    while (isdigit((unsigned char)**p)) {
        if (n < 6) {
            v = v * 10 + (**p - '0');
        } else if (n == 6) {
            seventh = **p - '0';
        }
        n++;
        (*p)++;
    }
    if (n == 0 || n > 9) {
        return false;
    }
    for (int i = n; i < 6; i++) {
        v *= 10;
    }
    *us = v + (seventh >= 5 ? 1 : 0);
    return true;
}

/* "Z" or "+hh:mm"/"-hh:mm" as seconds east of UTC. */
static bool offset_seconds(const char **p, int *secs) {
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *secs = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    int oh, om;
    if (sign == 0) {
        return false;
    }
    (*p)++;
    if (!digits(p, 2, &oh) || !expect(p, ':') || !digits(p, 2, &om) || oh > 23 || om > 59) {
        return false;
    }
    *secs = sign * (oh * 3600 + om * 60);
    return true;
}

int task_time_parse(const char *text, long long *unix_ms_out) {
    if (text == NULL) {
        return -1;
    }
    const char *p = text;
    int y, mo, d, h, mi, s, off = 0;
    long long us = 0;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d) || (*p != 'T' && *p != 't')) {
        return -1;
    }
    p++;
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
        !digits(&p, 2, &s)) {
        return -1;
    }
    if (*p == '.') {
        p++;
        if (!fraction_us(&p, &us)) {
            return -1;
        }
    }
    if (!offset_seconds(&p, &off) || *p != '\0') {
        return -1;
    }
    /* Leap seconds (:60) are refused: Postgres and most clients cannot represent them. */
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59) {
        return -1;
    }
    long long secs = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + s - off;
    long long total_us = secs * 1000000LL + us;
    /* Half away from zero, like Postgres' numeric-to-bigint cast in TASK_SELECT_COLUMNS. */
    long long ms = total_us >= 0 ? (total_us + 500) / 1000 : -((-total_us + 500) / 1000);
    if (unix_ms_out != NULL) {
        *unix_ms_out = ms;
    }
    return 0;
}
