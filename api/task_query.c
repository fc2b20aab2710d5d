/*
 * task_query.c: the query of GET /api/v1/tasks (see task_query.h for the rules it keeps).
 *
 * Sections: text and time helpers (the UTF-8, RFC 3339 and percent-decoding rules
 * themselves are shared/utf8.h, shared/time_util.h and shared/percent_decode.h); the
 * query-string walk and one checker per parameter; normalised hashes; the cursor; the SQL
 * builder (one path for every scope: Inbox, team project, assigned; see put_scope).
 * Everything here is pure so the unit tests reach every branch without a database.
 */
#include "api/task_query.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/percent_decode.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "shared/utf8.h"

const char *const TASK_QUERY_STATUSES[3] = {"todo", "in_progress", "done"};
const char *const TASK_QUERY_PRIORITIES[4] = {"low", "medium", "high", "urgent"};

#define US_PER_S 1000000LL
#define S_PER_DAY 86400LL
#define MAX_PARAMS_IN_QUERY 64
#define MAX_DECODED_LEN 2048
#define CURSOR_MAC_BYTES 16
#define CURSOR_DOMAIN "taskbus list cursor v1"
#define NPARAMS 11 /* the entries of PARAMS */

/* ------------------------------------------------------------------ text */

static bool all_space(const char *s) {
    for (; *s != '\0'; s++) {
        if (*s != ' ' && *s != '\t')
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ time */

/* The years Postgres and four-digit RFC 3339 both hold, in microseconds. */
static long long min_timestamp_us(void) {
    return TIME_YEAR_1_UNIX_MS * 1000LL;
}

static long long max_timestamp_us(void) {
    return TIME_YEAR_10000_UNIX_MS * 1000LL - 1;
}

/* The one parser (shared/time_util.c) with a space for '+', cut to the microsecond. */
int task_query_parse_rfc3339(const char *text, long long *us_out) {
    time_rfc3339 t;
    if (time_rfc3339_parse(text, TIME_RFC3339_SPACE_IS_PLUS, &t) != 0)
        return -1;
    long long us = t.unix_s * US_PER_S + t.micros;
    if (us < min_timestamp_us() || us > max_timestamp_us())
        return -1;
    *us_out = us;
    return 0;
}

int task_query_format_timestamp(long long us, char *out, size_t outlen) {
    if (us < min_timestamp_us() || us > max_timestamp_us())
        return -1;
    long long secs = us / US_PER_S;
    long long frac = us % US_PER_S;
    if (frac < 0) {
        frac += US_PER_S;
        secs -= 1;
    }
    long long days = secs / S_PER_DAY;
    long long rem = secs % S_PER_DAY;
    if (rem < 0) {
        rem += S_PER_DAY;
        days -= 1;
    }
    long long y;
    int m, d;
    time_civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, outlen, "%04lld-%02d-%02d %02lld:%02lld:%02lld.%06lld+00", y, m, d,
                     rem / 3600, rem / 60 % 60, rem % 60, frac);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* ------------------------------------------------------------------ query-string walk */

typedef struct parse_state {
    task_query *q;
    json_t *errors;
    int nerrors;
    bool oom;
    int seen[NPARAMS]; /* times each entry of PARAMS was given */
    char *cursor_text;
} parse_state;

/* One error per field: the first problem found is the one reported. */
static void add_error(parse_state *st, const char *field, const char *message) {
    size_t i;
    json_t *e;
    json_array_foreach(st->errors, i, e) {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f != NULL && strcmp(f, field) == 0)
            return;
    }
    json_t *obj = json_pack("{s:s,s:s}", "field", field, "message", message);
    if (obj == NULL || json_array_append_new(st->errors, obj) != 0) {
        st->oom = true;
        return;
    }
    st->nerrors++;
}

/* Form-decodes [s, s+len) ('+' is a space, %XX a byte, %00 kept for the UTF-8 check to
 * refuse). 0 with a new string in *out and its length in *outlen; -1 for a malformed
 * escape or a value over MAX_DECODED_LEN; -2 when out of memory. */
static int form_decode(const char *s, size_t len, char **out, size_t *outlen) {
    if (len > MAX_DECODED_LEN * 3)
        return -1;
    size_t cap = (len < MAX_DECODED_LEN ? len : MAX_DECODED_LEN) + 1;
    char *buf = malloc(cap);
    if (buf == NULL)
        return -2;
    if (percent_decode(s, len, PCT_PLUS_IS_SPACE, buf, cap, outlen) != PCT_OK) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

/* ------------------------------------------------------------------ one checker each */

/* A comma list of names into a bit mask; false when an item is empty or unknown. */
static bool parse_enum_list(const char *value, const char *const *names, int nnames,
                            unsigned *mask) {
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < nnames && found < 0; i++) {
            if (strlen(names[i]) == len && strncmp(names[i], p, len) == 0)
                found = i;
        }
        if (found < 0)
            return false;
        *mask |= 1u << found;
        if (comma == NULL)
            return true;
        p = comma + 1;
    }
}

static void on_status(parse_state *st, const char *value) {
    if (!parse_enum_list(value, TASK_QUERY_STATUSES, 3, &st->q->status_mask))
        add_error(st, "status", "must be todo, in_progress or done (comma-separated for several)");
}

static void on_priority(parse_state *st, const char *value) {
    if (!parse_enum_list(value, TASK_QUERY_PRIORITIES, 4, &st->q->priority_mask))
        add_error(st, "priority",
                  "must be low, medium, high or urgent (comma-separated for several)");
}

static void on_tag(parse_state *st, const char *value) {
    long chars = utf8_clean_chars(value, strlen(value));
    if (chars < 1 || chars > TASK_QUERY_TAG_MAX_CHARS) {
        add_error(st, "tag", "each tag must be 1 to 50 characters");
        return;
    }
    task_query *q = st->q;
    for (int i = 0; i < q->ntags; i++) {
        if (strcmp(q->tags[i], value) == 0)
            return; /* all must match: a repeated tag changes nothing */
    }
    if (q->ntags == TASK_QUERY_TAGS_MAX) {
        add_error(st, "tag", "at most 20 tags");
        return;
    }
    q->tags[q->ntags] = strdup(value);
    if (q->tags[q->ntags] == NULL) {
        st->oom = true;
        return;
    }
    q->ntags++;
}

static void on_due(parse_state *st, const char *field, const char *value, bool *has,
                   long long *us) {
    if (task_query_parse_rfc3339(value, us) != 0) {
        add_error(st, field, "must be an RFC 3339 date-time such as 2026-01-02T03:04:05Z");
        return;
    }
    *has = true;
}

static void on_due_before(parse_state *st, const char *value) {
    on_due(st, "due_before", value, &st->q->has_due_before, &st->q->due_before_us);
}

static void on_due_after(parse_state *st, const char *value) {
    on_due(st, "due_after", value, &st->q->has_due_after, &st->q->due_after_us);
}

static void on_q(parse_state *st, const char *value) {
    long chars = utf8_clean_chars(value, strlen(value));
    if (chars < 1 || chars > TASK_QUERY_Q_MAX_CHARS || all_space(value)) {
        add_error(st, "q", "must be 1 to 200 characters with at least one search term");
        return;
    }
    st->q->q = strdup(value);
    if (st->q->q == NULL)
        st->oom = true;
}

static void on_sort(parse_state *st, const char *value) {
    static const char *const NAMES[] = {"created_at", "updated_at", "due_at", "priority"};
    bool desc = value[0] == '-';
    const char *name = desc ? value + 1 : value;
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, NAMES[i]) == 0) {
            st->q->sort = (task_sort_field)i;
            st->q->descending = desc;
            return;
        }
    }
    add_error(st, "sort",
              "must be created_at, updated_at, due_at or priority, with a leading - for "
              "descending order");
}

static void on_limit(parse_state *st, const char *value) {
    size_t len = strlen(value);
    int v = 0;
    bool ok = len >= 1 && len <= 4;
    for (size_t i = 0; ok && i < len; i++) {
        ok = value[i] >= '0' && value[i] <= '9';
        v = v * 10 + (value[i] - '0');
    }
    if (!ok || v < 1 || v > TASK_QUERY_LIMIT_MAX) {
        add_error(st, "limit", "must be an integer from 1 to 100");
        return;
    }
    st->q->limit = v;
}

static void on_cursor(parse_state *st, const char *value) {
    if (strlen(value) >= TASK_CURSOR_MAX) {
        add_error(st, "cursor", "is not a valid cursor");
        return;
    }
    st->cursor_text = strdup(value);
    if (st->cursor_text == NULL)
        st->oom = true;
}

static void on_project(parse_state *st, const char *value) {
    if (!uuid_canonical(value, st->q->project))
        add_error(st, "project", "must be a project id (a UUID)");
}

/* "me" is kept as given (resolved to the caller only for the SQL), so the hashes and
 * cursors need no caller. */
static void on_assignee(parse_state *st, const char *value) {
    if (strcmp(value, "me") == 0)
        snprintf(st->q->assignee, sizeof st->q->assignee, "%s", "me");
    else if (!uuid_canonical(value, st->q->assignee))
        add_error(st, "assignee", "must be \"me\" or a user id (a UUID)");
}

typedef struct param_spec {
    const char *name;
    void (*check)(parse_state *st, const char *value);
    bool repeatable;
} param_spec;

static const param_spec PARAMS[] = {
    {"status", on_status, true},
    {"priority", on_priority, true},
    {"tag", on_tag, true},
    {"due_before", on_due_before, false},
    {"due_after", on_due_after, false},
    {"q", on_q, false},
    {"sort", on_sort, false},
    {"limit", on_limit, false},
    {"cursor", on_cursor, false},
    {"project", on_project, false},
    {"assignee", on_assignee, false},
};
_Static_assert(sizeof PARAMS / sizeof PARAMS[0] == NPARAMS, "parse_state.seen has one slot each");

static const param_spec *find_param(const char *name, int *index) {
    for (int i = 0; i < (int)(sizeof PARAMS / sizeof PARAMS[0]); i++) {
        if (strcmp(PARAMS[i].name, name) == 0) {
            *index = i;
            return &PARAMS[i];
        }
    }
    return NULL;
}

/* Checks the decoded value of a known parameter. */
static void check_value(parse_state *st, const param_spec *spec, int index, const char *raw,
                        size_t rawlen) {
    char *value;
    size_t len;
    int rc = form_decode(raw, rawlen, &value, &len);
    if (rc == -2) {
        st->oom = true;
        return;
    }
    if (rc != 0 || utf8_clean_chars(value, len) < 0)
        add_error(st, spec->name, "is not well-formed UTF-8 text without control characters");
    else if (!spec->repeatable && st->seen[index] > 0)
        add_error(st, spec->name, "may be given only once");
    else
        spec->check(st, value);
    st->seen[index]++;
    if (rc == 0)
        free(value);
}

static void parse_pair(parse_state *st, const char *pair, size_t len) {
    const char *eq = memchr(pair, '=', len);
    size_t keylen = eq != NULL ? (size_t)(eq - pair) : len;
    char *name;
    size_t namelen;
    int rc = form_decode(pair, keylen, &name, &namelen);
    if (rc == -2) {
        st->oom = true;
        return;
    }
    if (rc != 0 || namelen > 64 || utf8_clean_chars(name, namelen) < 1) {
        add_error(st, "query", "has a malformed or unknown parameter name");
        if (rc == 0)
            free(name);
        return;
    }
    int index;
    const param_spec *spec = find_param(name, &index);
    if (spec == NULL)
        add_error(st, name, "is not a known parameter");
    else if (eq != NULL)
        check_value(st, spec, index, eq + 1, len - keylen - 1);
    else
        check_value(st, spec, index, "", 0);
    free(name);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The checks that need every parameter: the due range, tag order, the cursor. */
static void finish(parse_state *st, const unsigned char *key, size_t keylen) {
    task_query *q = st->q;
    if (q->has_due_before && q->has_due_after && q->due_after_us >= q->due_before_us)
        add_error(st, "due_after", "must be earlier than due_before");
    qsort(q->tags, (size_t)q->ntags, sizeof q->tags[0], compare_strings);
    if (st->cursor_text == NULL || st->nerrors > 0 || st->oom)
        return; /* a cursor is checked against filters that are themselves valid */
    char err[128];
    if (task_cursor_decode(q, st->cursor_text, key, keylen, &q->after, err, sizeof err) != 0)
        add_error(st, "cursor", err);
}

int task_query_parse(const char *query_string, const unsigned char *key, size_t keylen,
                     task_query *out, json_t *errors) {
    memset(out, 0, sizeof *out);
    out->sort = TASK_SORT_CREATED_AT;
    out->descending = true;
    out->limit = TASK_QUERY_LIMIT_DEFAULT;
    parse_state st = {.q = out, .errors = errors};
    const char *p = query_string != NULL ? query_string : "";
    int npairs = 0;
    while (*p != '\0' && !st.oom) {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (len > 0 && ++npairs > MAX_PARAMS_IN_QUERY) {
            add_error(&st, "query", "has too many parameters");
            break;
        }
        if (len > 0)
            parse_pair(&st, p, len);
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    if (!st.oom)
        finish(&st, key, keylen);
    free(st.cursor_text);
    return st.oom ? -1 : st.nerrors;
}

void task_query_clear(task_query *q) {
    for (int i = 0; i < q->ntags; i++)
        free(q->tags[i]);
    q->ntags = 0;
    free(q->q);
    q->q = NULL;
}

const char *task_query_sort_name(const task_query *q) {
    static const char *const NAMES[4][2] = {{"created_at", "-created_at"},
                                            {"updated_at", "-updated_at"},
                                            {"due_at", "-due_at"},
                                            {"priority", "-priority"}};
    return NAMES[q->sort][q->descending ? 1 : 0];
}

/* ------------------------------------------------------------------ hashes */

/* Feeds "name=<len>:<value>\n" (or "name=-\n" for NULL): lengths keep fields apart. */
static void hash_field(crypto_hash_sha256_state *h, const char *name, const char *value) {
    char head[96];
    int n = value != NULL ? snprintf(head, sizeof head, "%s=%zu:", name, strlen(value))
                          : snprintf(head, sizeof head, "%s=-", name);
    (void)crypto_hash_sha256_update(h, (const unsigned char *)head, (size_t)n);
    if (value != NULL)
        (void)crypto_hash_sha256_update(h, (const unsigned char *)value, strlen(value));
    (void)crypto_hash_sha256_update(h, (const unsigned char *)"\n", 1);
}

static void hash_number(crypto_hash_sha256_state *h, const char *name, bool present, long long v) {
    char text[32];
    snprintf(text, sizeof text, "%lld", v);
    hash_field(h, name, present ? text : NULL);
}

static void hash_hex(crypto_hash_sha256_state *h, char out[TASK_QUERY_HASH_HEX]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    (void)crypto_hash_sha256_final(h, digest);
    sodium_bin2hex(out, TASK_QUERY_HASH_HEX, digest, sizeof digest);
}

/* The sha256_* calls of libsodium cannot fail (they return 0 unconditionally). */
void task_query_filter_hash(const task_query *q, char out[TASK_QUERY_HASH_HEX]) {
    crypto_hash_sha256_state h;
    (void)crypto_hash_sha256_init(&h);
    hash_field(&h, "v", "taskbus filters 1");
    hash_number(&h, "status", true, (long long)q->status_mask);
    hash_number(&h, "priority", true, (long long)q->priority_mask);
    hash_number(&h, "tags", true, q->ntags);
    for (int i = 0; i < q->ntags; i++)
        hash_field(&h, "tag", q->tags[i]);
    hash_number(&h, "due_before", q->has_due_before, q->due_before_us);
    hash_number(&h, "due_after", q->has_due_after, q->due_after_us);
    hash_field(&h, "q", q->q);
    if (q->project[0] != '\0') /* only when given: an Inbox list's hash stays what it was */
        hash_field(&h, "project", q->project);
    if (q->assignee[0] != '\0') /* the same: every hash made before assignees stays */
        hash_field(&h, "assignee", q->assignee);
    hash_hex(&h, out);
}

void task_query_page_hash(const task_query *q, char out[TASK_QUERY_HASH_HEX]) {
    char filters[TASK_QUERY_HASH_HEX];
    task_query_filter_hash(q, filters);
    crypto_hash_sha256_state h;
    (void)crypto_hash_sha256_init(&h);
    /* 3: pages carry each task's assignee_id (migration 0023), 2 its project_id (0020); a
     * page stored before (by an API of the release before, during a rolling deploy too) is
     * never read again, and expires. */
    hash_field(&h, "v", "taskbus page 3");
    hash_field(&h, "filters", filters);
    hash_field(&h, "sort", task_query_sort_name(q));
    hash_number(&h, "limit", true, q->limit);
    const task_cursor *c = &q->after;
    hash_number(&h, "after_key", c->present && !c->key_null, c->key);
    hash_field(&h, "after_id", c->present ? c->id : NULL);
    hash_hex(&h, out);
}

/* ------------------------------------------------------------------ cursor */

#define CURSOR_FILTER_HEX 32 /* the cursor carries 128 bits of the filter hash */

static void cursor_mac(const unsigned char *key, size_t keylen, const unsigned char *payload,
                       size_t len, unsigned char out[crypto_auth_hmacsha256_BYTES]) {
    crypto_auth_hmacsha256_state st;
    /* These return 0 unconditionally in libsodium; the domain's NUL separates it. */
    (void)crypto_auth_hmacsha256_init(&st, key, keylen);
    (void)crypto_auth_hmacsha256_update(&st, (const unsigned char *)CURSOR_DOMAIN,
                                        sizeof CURSOR_DOMAIN);
    (void)crypto_auth_hmacsha256_update(&st, payload, len);
    (void)crypto_auth_hmacsha256_final(&st, out);
}

static bool key_in_range(const task_query *q, const task_cursor *pos) {
    if (pos->key_null)
        return q->sort == TASK_SORT_DUE_AT;
    if (q->sort == TASK_SORT_PRIORITY)
        return pos->key >= 0 && pos->key <= 3;
    return pos->key >= min_timestamp_us() && pos->key <= max_timestamp_us();
}

static json_t *cursor_json(const task_query *q, const task_cursor *pos) {
    char filters[TASK_QUERY_HASH_HEX];
    task_query_filter_hash(q, filters);
    filters[CURSOR_FILTER_HEX] = '\0';
    json_t *key = pos->key_null ? json_null() : json_integer(pos->key);
    return json_pack("{s:i,s:s,s:s,s:o,s:s}", "v", 1, "s", task_query_sort_name(q), "f", filters,
                     "k", key, "i", pos->id);
}

/* Appends base64url(bin) at out + *used; false when it does not fit. */
static bool append_b64(char *out, size_t outlen, size_t *used, const unsigned char *bin,
                       size_t len) {
    size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (*used + need > outlen)
        return false;
    sodium_bin2base64(out + *used, outlen - *used, bin, len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *used += strlen(out + *used);
    return true;
}

int task_cursor_seal(const char *payload, size_t len, const unsigned char *key, size_t keylen,
                     char *out, size_t outlen) {
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    cursor_mac(key, keylen, (const unsigned char *)payload, len, mac);
    size_t used = 0;
    bool ok =
        append_b64(out, outlen, &used, (const unsigned char *)payload, len) && used + 1 < outlen;
    if (ok) {
        out[used++] = '.';
        out[used] = '\0';
        ok = append_b64(out, outlen, &used, mac, CURSOR_MAC_BYTES);
    }
    return ok ? 0 : -1;
}

int task_cursor_encode(const task_query *q, const task_cursor *pos, const unsigned char *key,
                       size_t keylen, char *out, size_t outlen) {
    if (!key_in_range(q, pos) || !uuid_is_valid(pos->id))
        return -1;
    json_t *doc = cursor_json(q, pos);
    char *payload = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (payload == NULL)
        return -1;
    int rc = task_cursor_seal(payload, strlen(payload), key, keylen, out, outlen);
    free(payload);
    return rc;
}

/* Base64url-decodes [text, text+len) into bin; the decoded length, or -1. */
static long b64_decode(const char *text, size_t len, unsigned char *bin, size_t cap) {
    size_t binlen;
    const char *end;
    if (sodium_base642bin(bin, cap, text, len, NULL, &binlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != text + len)
        return -1;
    return (long)binlen;
}

/* The authentic payload of a cursor (MAC checked), or NULL. */
static json_t *cursor_payload(const char *text, const unsigned char *key, size_t keylen) {
    const char *dot = strchr(text, '.');
    if (dot == NULL)
        return NULL;
    unsigned char payload[TASK_CURSOR_MAX];
    unsigned char mac[CURSOR_MAC_BYTES + 3];
    long plen = b64_decode(text, (size_t)(dot - text), payload, sizeof payload);
    long mlen = b64_decode(dot + 1, strlen(dot + 1), mac, sizeof mac);
    if (plen <= 0 || mlen != CURSOR_MAC_BYTES)
        return NULL;
    unsigned char expected[crypto_auth_hmacsha256_BYTES];
    cursor_mac(key, keylen, payload, (size_t)plen, expected);
    if (sodium_memcmp(expected, mac, CURSOR_MAC_BYTES) != 0)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)payload, (size_t)plen, JSON_REJECT_DUPLICATES, &jerr);
    if (doc != NULL && !json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Fills pos from an authentic payload for q; NULL, or the message for the client. */
static const char *cursor_fields(const task_query *q, json_t *doc, task_cursor *pos) {
    static const char INVALID[] = "is not a valid cursor";
    json_int_t version;
    const char *sort, *filters, *id;
    json_t *key;
    if (json_unpack(doc, "{s:I,s:s,s:s,s:o,s:s!}", "v", &version, "s", &sort, "f", &filters, "k",
                    &key, "i", &id) != 0 ||
        version != 1 || !uuid_is_valid(id) || (!json_is_integer(key) && !json_is_null(key)))
        return INVALID;
    if (strcmp(sort, task_query_sort_name(q)) != 0)
        return "belongs to another sort order; list again without a cursor";
    char expected[TASK_QUERY_HASH_HEX];
    task_query_filter_hash(q, expected);
    if (strlen(filters) != CURSOR_FILTER_HEX || strncmp(filters, expected, CURSOR_FILTER_HEX) != 0)
        return "belongs to other filters; list again without a cursor";
    memset(pos, 0, sizeof *pos);
    pos->present = true;
    pos->key_null = json_is_null(key);
    pos->key = pos->key_null ? 0 : (long long)json_integer_value(key);
    snprintf(pos->id, sizeof pos->id, "%s", id);
    if (!key_in_range(q, pos)) {
        memset(pos, 0, sizeof *pos);
        return INVALID;
    }
    return NULL;
}

int task_cursor_decode(const task_query *q, const char *text, const unsigned char *key,
                       size_t keylen, task_cursor *pos, char *err, size_t errlen) {
    json_t *doc = cursor_payload(text, key, keylen);
    const char *problem = doc != NULL ? cursor_fields(q, doc, pos) : "is not a valid cursor";
    json_decref(doc);
    if (problem != NULL) {
        errbuf_setf(err, errlen, "%s", problem);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ SQL */

/* The rows a filtered page reads in sort order before it turns to the owner-scoped GIN
 * index (see "A page with filters" in task_query.h). A fixed fragment, never a value. */
#define PROBE_ROWS "2000"

/* The index expression of 0011_task_owner_search.sql, as the planner must see it. */
#define OWNER_KEYS "task_owner_index_keys(owner_id, status, priority, tags, search)"

/* Appends to text; parameters are numbered in s, shared by every builder of one query. */
typedef struct sql_builder {
    task_sql *s;
    char *text;
    size_t cap;
    size_t len;
    bool failed;
} sql_builder;

static sql_builder builder(task_sql *s, char *text, size_t cap) {
    text[0] = '\0';
    return (sql_builder){.s = s, .text = text, .cap = cap};
}

static void put(sql_builder *b, const char *text) {
    size_t n = strlen(text);
    if (b->failed || b->len + n >= b->cap) {
        b->failed = true;
        return;
    }
    memcpy(b->text + b->len, text, n + 1);
    b->len += n;
}

/* Appends "$n<cast>" for parameter n again. */
static void put_ref(sql_builder *b, int n, const char *cast) {
    char ref[16];
    snprintf(ref, sizeof ref, "$%d", n);
    put(b, ref);
    put(b, cast);
}

/* Binds value to a new parameter and appends its "$n<cast>": the only way a value enters
 * the statement. Returns n (0 on failure). */
static int put_param(sql_builder *b, const char *value, const char *cast) {
    if (b->failed || value == NULL || b->s->nparams == TASK_SQL_MAX_PARAMS) {
        b->failed = true;
        return 0;
    }
    b->s->values[b->s->nparams++] = value;
    put_ref(b, b->s->nparams, cast);
    return b->s->nparams;
}

/* Text of a number in the scratch slot of the next parameter. */
static const char *scratch_number(sql_builder *b, long long v) {
    if (b->s->nparams == TASK_SQL_MAX_PARAMS)
        return NULL;
    char *slot = b->s->scratch[b->s->nparams];
    snprintf(slot, sizeof b->s->scratch[0], "%lld", v);
    return slot;
}

static const char *scratch_timestamp(sql_builder *b, long long us) {
    if (b->s->nparams == TASK_SQL_MAX_PARAMS)
        return NULL;
    char *slot = b->s->scratch[b->s->nparams];
    return task_query_format_timestamp(us, slot, sizeof b->s->scratch[0]) == 0 ? slot : NULL;
}

/* ---- the fragments of one query ---- */

/* Each fragment is built once (binding its parameters) and pasted wherever it is needed,
 * so every copy names the same $n. */
typedef struct fragments {
    sql_builder base;    /* the scope ("owner_id = $1"...) and what the sort's range can use */
    sql_builder plain;   /* " AND <filter>"...: the exact tests, cheap row by row */
    sql_builder indexed; /* the same filters with the owner-scoped GIN conditions added */
    sql_builder after;   /* the keyset predicate after the cursor ("" on a first page) */
    bool owner_keys;     /* the owner-scoped GIN index can serve "indexed" (an Inbox) */
    int owner;           /* parameter numbers: the scope's id (the owner in an Inbox) */
    int limit;           /* limit + 1 */
    char limit_text[16];
} fragments;

/* " AND status IN ($a, $b)" in plain, and in indexed the GIN condition on the owner's
 * keys of that kind followed by the same IN list. */
static void put_enum_filter(fragments *f, const char *column, const char *kind, unsigned mask,
                            const char *const *names, int nnames) {
    if (mask == 0)
        return;
    int first = f->plain.s->nparams + 1, n = 0;
    put(&f->plain, " AND ");
    put(&f->plain, column);
    put(&f->plain, " IN (");
    for (int i = 0; i < nnames; i++) {
        if ((mask & (1u << i)) != 0) {
            put(&f->plain, n++ > 0 ? ", " : "");
            put_param(&f->plain, names[i], "::text");
        }
    }
    put(&f->plain, ")");
    if (f->owner_keys) {
        put(&f->indexed, " AND " OWNER_KEYS " && task_owner_keys(");
        put_ref(&f->indexed, f->owner, "::uuid");
        put(&f->indexed, ", '");
        put(&f->indexed, kind);
        put(&f->indexed, "', ARRAY[");
        for (int i = 0; i < n; i++) {
            put(&f->indexed, i > 0 ? ", " : "");
            put_ref(&f->indexed, first + i, "::text");
        }
        put(&f->indexed, "])");
    }
    put(&f->indexed, " AND ");
    put(&f->indexed, column);
    put(&f->indexed, " IN (");
    for (int i = 0; i < n; i++) {
        put(&f->indexed, i > 0 ? ", " : "");
        put_ref(&f->indexed, first + i, "::text");
    }
    put(&f->indexed, ")");
}

static void put_tags(fragments *f, const task_query *q) {
    if (q->ntags == 0)
        return;
    int first = f->plain.s->nparams + 1;
    put(&f->plain, " AND tags @> ARRAY[");
    for (int i = 0; i < q->ntags; i++) {
        put(&f->plain, i > 0 ? ", " : "");
        put_param(&f->plain, q->tags[i], "::text");
    }
    put(&f->plain, "]");
    if (f->owner_keys) {
        put(&f->indexed, " AND " OWNER_KEYS " @> task_owner_keys(");
        put_ref(&f->indexed, f->owner, "::uuid");
        put(&f->indexed, ", 't', ARRAY[");
        for (int i = 0; i < q->ntags; i++) {
            put(&f->indexed, i > 0 ? ", " : "");
            put_ref(&f->indexed, first + i, "::text");
        }
        put(&f->indexed, "])");
    }
    put(&f->indexed, " AND tags @> ARRAY[");
    for (int i = 0; i < q->ntags; i++) {
        put(&f->indexed, i > 0 ? ", " : "");
        put_ref(&f->indexed, first + i, "::text");
    }
    put(&f->indexed, "]");
}

/* One of the GIN conditions of a text search: OWNER_KEYS <op> <fn>($owner, query). */
static void put_words(fragments *f, const char *op, const char *fn, int query) {
    put(&f->indexed, " AND " OWNER_KEYS " ");
    put(&f->indexed, op);
    put(&f->indexed, " ");
    put(&f->indexed, fn);
    put(&f->indexed, "(");
    put_ref(&f->indexed, f->owner, "::uuid");
    put(&f->indexed, ", websearch_to_tsquery('simple', ");
    put_ref(&f->indexed, query, "::text");
    put(&f->indexed, "))");
}

static void put_search(fragments *f, const task_query *q) {
    if (q->q == NULL)
        return;
    put(&f->plain, " AND search @@ websearch_to_tsquery('simple', ");
    int n = put_param(&f->plain, q->q, "::text");
    put(&f->plain, ")");
    if (f->owner_keys) {
        put_words(f, "@>", "task_owner_all_words", n);
        put_words(f, "&&", "task_owner_any_words", n);
    }
    put(&f->indexed, " AND search @@ websearch_to_tsquery('simple', ");
    put_ref(&f->indexed, n, "::text");
    put(&f->indexed, ")");
}

/* " AND due_at < $a AND due_at >= $b" into one builder; the same text into a second one
 * when given (with references). */
static void put_due_bounds(const task_query *q, sql_builder *b, sql_builder *also) {
    int before = 0, after = 0;
    if (q->has_due_before) {
        put(b, " AND due_at < ");
        before = put_param(b, scratch_timestamp(b, q->due_before_us), "::timestamptz");
    }
    if (q->has_due_after) {
        put(b, " AND due_at >= ");
        after = put_param(b, scratch_timestamp(b, q->due_after_us), "::timestamptz");
    }
    if (also == NULL)
        return;
    if (before > 0) {
        put(also, " AND due_at < ");
        put_ref(also, before, "::timestamptz");
    }
    if (after > 0) {
        put(also, " AND due_at >= ");
        put_ref(also, after, "::timestamptz");
    }
}

/* " AND priority_rank BETWEEN $a AND $b": the ranks of the chosen priorities as one range
 * of the (owner_id, priority_rank, id) index, so sort=priority with a priority filter
 * walks only those ranks. Returns whether the range alone is the filter (the chosen
 * ranks are contiguous). Nothing when every priority is chosen. */
static bool put_priority_ranks(sql_builder *b, unsigned mask) {
    if (mask == 0 || mask == 0xF)
        return true;
    int lo = -1, hi = -1;
    for (int i = 0; i < 4; i++) {
        if ((mask & (1u << i)) != 0) {
            lo = lo < 0 ? i : lo;
            hi = i;
        }
    }
    if (lo > 0 || hi < 3) {
        put(b, " AND priority_rank BETWEEN ");
        put_param(b, scratch_number(b, lo), "::smallint");
        put(b, " AND ");
        put_param(b, scratch_number(b, hi), "::smallint");
    }
    return mask == ((1u << (hi + 1)) - (1u << lo));
}

static const char *const SORT_COLUMNS[4] = {"created_at", "updated_at", "due_at", "priority_rank"};

/* " AND (col, id) < ($k, $i)" (> ascending): the rows after the cursor in (key, id)
 * order. A row comparison with a NULL key is never true, so it also excludes tasks
 * without a due date. A cursor among those (key NULL): " AND id < $i" (>). */
static void put_after(sql_builder *b, const task_query *q) {
    const task_cursor *c = &q->after;
    if (!c->present)
        return;
    if (c->key_null) {
        put(b, q->descending ? " AND id < " : " AND id > ");
        put_param(b, c->id, "::uuid");
        return;
    }
    put(b, " AND (");
    put(b, SORT_COLUMNS[q->sort]);
    put(b, ", id)");
    put(b, q->descending ? " < (" : " > (");
    if (q->sort == TASK_SORT_PRIORITY)
        put_param(b, scratch_number(b, c->key), "::smallint");
    else
        put_param(b, scratch_timestamp(b, c->key), "::timestamptz");
    put(b, ", ");
    put_param(b, c->id, "::uuid");
    put(b, ")");
}

/* The rows one statement may list, and the assignee filter within them. */
typedef enum {
    SCOPE_INBOX,    /* id: the owner (the caller) */
    SCOPE_PROJECT,  /* id: a team project; member: the caller */
    SCOPE_ASSIGNED, /* id: the assignee; member: the caller */
} scope_kind;

typedef struct scope {
    scope_kind kind;
    const char *id;
    const char *member;
    const char *assignee; /* the filter "assignee_id = $n", or NULL (never for ASSIGNED) */
} scope;

/* base: the scope's rows. The caller's membership is checked in the same statement, so a
 * removal that commits before it is seen by it. */
static void put_scope(fragments *f, const scope *sc) {
    static const char *const COLUMN[] = {"owner_id = ", "project_id = ", "assignee_id = "};
    put(&f->base, COLUMN[sc->kind]);
    f->owner = put_param(&f->base, sc->id, "::uuid");
    if (sc->kind == SCOPE_PROJECT) {
        /* a team project's tasks have no owner */
        put(&f->base, " AND owner_id IS NULL AND EXISTS (SELECT 1 FROM project_members pm"
                      " WHERE pm.project_id = ");
        put_ref(&f->base, f->owner, "::uuid");
    } else if (sc->kind == SCOPE_ASSIGNED) {
        /* any project of the caller's, the Inbox included (its owner is a member) */
        put(&f->base, " AND EXISTS (SELECT 1 FROM project_members pm"
                      " WHERE pm.project_id = tasks.project_id");
    }
    if (sc->kind != SCOPE_INBOX) {
        put(&f->base, " AND pm.user_id = ");
        put_param(&f->base, sc->member, "::uuid");
        put(&f->base, ")");
    }
}

/* " AND assignee_id = $n" in both branches: an exact test, not part of the range, so the
 * scope's range (and the Inbox's owner-scoped index) serves the page as before. */
static void put_assignee(fragments *f, const char *assignee) {
    if (assignee == NULL)
        return;
    put(&f->plain, " AND assignee_id = ");
    int n = put_param(&f->plain, assignee, "::uuid");
    put(&f->indexed, " AND assignee_id = ");
    put_ref(&f->indexed, n, "::uuid");
}

/* Fills every fragment of q, in the order its parameters are numbered. */
static void build_fragments(fragments *f, const task_query *q, const scope *sc, task_sql *s) {
    f->base = builder(s, s->fragment[0], sizeof s->fragment[0]);
    f->plain = builder(s, s->fragment[1], sizeof s->fragment[1]);
    f->indexed = builder(s, s->fragment[2], sizeof s->fragment[2]);
    f->after = builder(s, s->fragment[3], sizeof s->fragment[3]);
    f->owner_keys = sc->kind == SCOPE_INBOX; /* the GIN index holds the Inbox tasks only */
    put_scope(f, sc);
    bool by_rank = false;
    if (q->sort == TASK_SORT_PRIORITY)
        by_rank = put_priority_ranks(&f->base, q->priority_mask);
    if (q->sort == TASK_SORT_DUE_AT)
        put_due_bounds(q, &f->base, NULL);
    put_assignee(f, sc->assignee);
    if (q->status_mask != 0x7)
        put_enum_filter(f, "status", "s", q->status_mask, TASK_QUERY_STATUSES, 3);
    if (!by_rank && q->priority_mask != 0xF)
        put_enum_filter(f, "priority", "p", q->priority_mask, TASK_QUERY_PRIORITIES, 4);
    put_tags(f, q);
    put_search(f, q);
    if (q->sort != TASK_SORT_DUE_AT)
        put_due_bounds(q, &f->plain, &f->indexed);
    put_after(&f->after, q);
    sql_builder limit = builder(s, f->limit_text, sizeof f->limit_text);
    f->limit = put_param(&limit, scratch_number(&limit, (long long)q->limit + 1), "::int");
    f->base.failed |= limit.failed;
}

/* ---- the statement ---- */

typedef enum {
    RANGE_ALL,     /* every sort but due_at; due_at when no undated task can match */
    RANGE_DATED,   /* due_at, the branch of the dated tasks */
    RANGE_UNDATED, /* due_at, the branch of the tasks without a due date */
} range_kind;

static void put_limit(sql_builder *b, const fragments *f) {
    put(b, " LIMIT ");
    put_ref(b, f->limit, "::int");
}

/* " ORDER BY col dir, id dir": the order of the (owner_id, col, id) index, forwards or
 * backwards ("col DESC" is NULLS FIRST, a backward scan). Within one range due_at is
 * either never or always NULL, so where NULLs would go changes nothing. */
static void put_order(sql_builder *b, const task_query *q, bool phase_first) {
    const char *dir = q->descending ? " DESC" : " ASC";
    put(b, phase_first ? " ORDER BY page_phase, " : " ORDER BY ");
    put(b, SORT_COLUMNS[q->sort]);
    put(b, dir);
    put(b, ", id");
    put(b, dir);
}

/* The rows of one index range: " WHERE <base> <kind's predicate>". */
static void put_range_where(sql_builder *b, const fragments *f, range_kind kind,
                            const task_query *q) {
    put(b, " WHERE ");
    put(b, f->base.text);
    if (kind == RANGE_UNDATED) {
        put(b, " AND due_at IS NULL");
        if (q->after.present && q->after.key_null)
            put(b, f->after.text);
    } else if (kind == RANGE_DATED && !q->after.present) {
        put(b, " AND due_at IS NOT NULL");
    } else {
        put(b, f->after.text);
    }
}

/* One range as a subquery of whole rows plus page_phase, at most limit + 1 of them. With
 * filters: the probe (the first PROBE_ROWS rows of the range, filtered) when it fills a
 * page, else the filtered range itself, where Postgres may use the GIN index. */
static void put_range(sql_builder *b, const fragments *f, range_kind kind, const char *phase,
                      const task_query *q) {
    if (f->plain.len == 0) {
        put(b, "(SELECT tasks.*, ");
        put(b, phase);
        put(b, " AS page_phase FROM tasks");
        put_range_where(b, f, kind, q);
        put_order(b, q, false);
        put_limit(b, f);
        put(b, ")");
        return;
    }
    put(b, "(WITH probe AS MATERIALIZED (SELECT * FROM (SELECT * FROM tasks");
    put_range_where(b, f, kind, q);
    put_order(b, q, false);
    put(b, " LIMIT " PROBE_ROWS ") AS tasks WHERE TRUE");
    put(b, f->plain.text);
    put_order(b, q, false);
    put_limit(b, f);
    put(b, ") SELECT probe.*, ");
    put(b, phase);
    put(b, " AS page_phase FROM probe WHERE (SELECT count(*) FROM probe) = ");
    put_ref(b, f->limit, "::int");
    put(b, " UNION ALL (SELECT tasks.*, ");
    put(b, phase);
    put(b, " FROM tasks");
    put_range_where(b, f, kind, q);
    put(b, f->indexed.text);
    put(b, " AND (SELECT count(*) FROM probe) < ");
    put_ref(b, f->limit, "::int");
    put_order(b, q, false);
    put_limit(b, f);
    put(b, "))");
}

/* "SELECT <TASK_SELECT_COLUMNS>, <exact sort key> AS sort_key". The key column is named
 * sort_key: an output column named like the sort column (which "priority_rank::bigint"
 * is, by its cast) would be what ORDER BY priority_rank means, and an ORDER BY on that
 * expression never uses the (owner_id, priority_rank, id) index. */
static void put_select(sql_builder *b, const task_query *q) {
    put(b, "SELECT " TASK_SELECT_COLUMNS ", ");
    if (q->sort == TASK_SORT_PRIORITY) {
        put(b, "priority_rank::bigint AS sort_key");
        return;
    }
    put(b, "(extract(epoch from ");
    put(b, SORT_COLUMNS[q->sort]);
    put(b, ") * 1000000)::bigint AS sort_key");
}

static int build_sql(const task_query *q, const scope *sc, task_sql *out) {
    memset(out, 0, sizeof *out);
    fragments f;
    build_fragments(&f, q, sc, out);
    bool failed = f.base.failed || f.plain.failed || f.indexed.failed || f.after.failed;
    sql_builder b = builder(out, out->text, sizeof out->text);
    put_select(&b, q);
    bool undated_possible = !q->has_due_before && !q->has_due_after;
    bool in_undated = q->after.present && q->after.key_null;
    range_kind kind = q->sort == TASK_SORT_DUE_AT && in_undated ? RANGE_UNDATED : RANGE_ALL;
    if (q->sort == TASK_SORT_DUE_AT && undated_possible && !in_undated) {
        /* due_at, nulls last in either direction: the dated tasks after the cursor, then
         * the undated ones, each branch limited. */
        put(&b, " FROM (");
        put_range(&b, &f, RANGE_DATED, "0", q);
        put(&b, " UNION ALL ");
        put_range(&b, &f, RANGE_UNDATED, "1", q);
        put(&b, ") AS tasks");
        put_order(&b, q, true);
    } else if (f.plain.len == 0) {
        put(&b, " FROM tasks");
        put_range_where(&b, &f, kind, q);
        put_order(&b, q, false);
    } else {
        put(&b, " FROM ");
        put_range(&b, &f, kind, "0", q);
        put(&b, " AS tasks");
        put_order(&b, q, false);
    }
    put_limit(&b, &f);
    return failed || b.failed ? -1 : 0;
}

const char *task_query_assignee_for(const task_query *q, const char *caller) {
    if (q->assignee[0] == '\0')
        return NULL;
    return strcmp(q->assignee, "me") == 0 ? caller : q->assignee;
}

int task_query_build_sql(const task_query *q, const char *owner_id, task_sql *out) {
    scope sc = {SCOPE_INBOX, owner_id, NULL, task_query_assignee_for(q, owner_id)};
    return build_sql(q, &sc, out);
}

int task_query_build_project_sql(const task_query *q, const char *project_id, const char *member_id,
                                 task_sql *out) {
    scope sc = {SCOPE_PROJECT, project_id, member_id, task_query_assignee_for(q, member_id)};
    return build_sql(q, &sc, out);
}

int task_query_build_assigned_sql(const task_query *q, const char *assignee_id,
                                  const char *member_id, task_sql *out) {
    scope sc = {SCOPE_ASSIGNED, assignee_id, member_id, NULL};
    return build_sql(q, &sc, out);
}
