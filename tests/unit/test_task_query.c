/*
 * test_task_query.c: the list query of GET /api/v1/tasks (api/task_query.c).
 *
 * Owns: the rules of docs/decisions.md "Reads and cache" as the parser applies them
 * (every filter's validation, one error per bad parameter), the cursor (round trip,
 * tampering, reuse with another sort or other filters) and the SQL builder (values only
 * as positional parameters; the ORDER BY and keyset predicate of every sort and
 * direction, due_at nulls last), for each scope: the Inbox, a team project (project=) and
 * the assigned scope (assignee= without project=), and assignee= as a filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/task_query.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
static const unsigned char OTHER_KEY[] = "fedcba9876543210fedcba9876543210-test-key";
#define KEYLEN (sizeof KEY - 1)
#define OWNER "0190f3a2-1111-7000-8000-000000000001"
#define TASK_ID "0190f3a2-2222-7000-8000-000000000002"

/* Parses qs; returns the error count and leaves the errors in *errors_out (or frees them). */
static int parse(const char *qs, task_query *q, json_t **errors_out) {
    json_t *errors = json_array();
    assert_non_null(errors);
    int n = task_query_parse(qs, KEY, KEYLEN, q, errors);
    assert_int_equal((int)json_array_size(errors), n);
    if (errors_out != NULL)
        *errors_out = errors;
    else
        json_decref(errors);
    return n;
}

/* The message for field, or NULL. */
static const char *error_for(const json_t *errors, const char *field) {
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            return json_string_value(json_object_get(e, "message"));
    }
    return NULL;
}

/* Asserts qs is refused with exactly one error, on field. */
static void assert_refused(const char *qs, const char *field) {
    task_query q;
    json_t *errors;
    int n = parse(qs, &q, &errors);
    if (n != 1 || error_for(errors, field) == NULL) {
        char *dump = json_dumps(errors, JSON_COMPACT);
        print_error("query '%s' expected one error on %s, got %s\n", qs, field, dump);
        free(dump);
        fail();
    }
    json_decref(errors);
    task_query_clear(&q);
}

static void assert_accepted(const char *qs) {
    task_query q;
    json_t *errors;
    if (parse(qs, &q, &errors) != 0) {
        char *dump = json_dumps(errors, JSON_COMPACT);
        print_error("query '%s' expected to be accepted, got %s\n", qs, dump);
        free(dump);
        fail();
    }
    json_decref(errors);
    task_query_clear(&q);
}

/* ------------------------------------------------------------------ defaults, filters */

static void defaults(void **state) {
    (void)state;
    task_query q;
    assert_int_equal(parse(NULL, &q, NULL), 0);
    assert_int_equal(q.sort, TASK_SORT_CREATED_AT);
    assert_true(q.descending);
    assert_int_equal(q.limit, 20);
    assert_int_equal(q.status_mask, 0);
    assert_int_equal(q.priority_mask, 0);
    assert_int_equal(q.ntags, 0);
    assert_null(q.q);
    assert_false(q.after.present);
    assert_string_equal(task_query_sort_name(&q), "-created_at");
    task_query_clear(&q);
    assert_int_equal(parse("", &q, NULL), 0);
    task_query_clear(&q);
    assert_int_equal(parse("&&", &q, NULL), 0);
    task_query_clear(&q);
}

static void status_and_priority(void **state) {
    (void)state;
    task_query q;
    assert_int_equal(parse("status=todo,done&priority=urgent&priority=low", &q, NULL), 0);
    assert_int_equal(q.status_mask, 1u << 0 | 1u << 2);
    assert_int_equal(q.priority_mask, 1u << 3 | 1u << 0);
    task_query_clear(&q);
    assert_int_equal(parse("status=in_progress&status=in_progress", &q, NULL), 0);
    assert_int_equal(q.status_mask, 1u << 1);
    task_query_clear(&q);
    assert_refused("status=", "status");
    assert_refused("status=todo,", "status");
    assert_refused("status=,todo", "status");
    assert_refused("status=TODO", "status");
    assert_refused("status=todo,doing", "status");
    assert_refused("status", "status");
    assert_refused("priority=", "priority");
    assert_refused("priority=critical", "priority");
    assert_refused("priority=low,,high", "priority");
    assert_refused("priority=low%20", "priority");
}

static void tags(void **state) {
    (void)state;
    task_query q;
    assert_int_equal(parse("tag=zeta&tag=alpha&tag=zeta&tag=caf%C3%A9", &q, NULL), 0);
    assert_int_equal(q.ntags, 3);
    assert_string_equal(q.tags[0], "alpha");
    assert_string_equal(q.tags[1], "caf\xc3\xa9");
    assert_string_equal(q.tags[2], "zeta");
    task_query_clear(&q);
    assert_int_equal(parse("tag=a,b", &q, NULL), 0); /* commas are part of a tag */
    assert_int_equal(q.ntags, 1);
    assert_string_equal(q.tags[0], "a,b");
    task_query_clear(&q);

    char qs[2048];
    memset(qs, 0, sizeof qs);
    strcpy(qs, "tag=");
    memset(qs + 4, 'x', 50);
    assert_accepted(qs);
    qs[54] = 'x';
    assert_refused(qs, "tag");
    /* 50 two-byte characters are 50 characters. */
    strcpy(qs, "tag=");
    for (int i = 0; i < 50; i++)
        strcat(qs, "%C3%A9");
    assert_accepted(qs);

    qs[0] = '\0';
    for (int i = 0; i < 20; i++)
        sprintf(qs + strlen(qs), "%stag=t%d", i ? "&" : "", i);
    assert_accepted(qs);
    strcat(qs, "&tag=t0"); /* a repeat is not a 21st tag */
    assert_accepted(qs);
    strcat(qs, "&tag=t20");
    assert_refused(qs, "tag");
    assert_refused("tag=", "tag");
    assert_refused("tag=%01x", "tag");
    assert_refused("tag=%FF", "tag");
    assert_refused("tag=%C0%AF", "tag"); /* overlong */
}

static void due_bounds(void **state) {
    (void)state;
    task_query q;
    assert_int_equal(parse("due_after=2026-01-02T03:04:05.123456789%2B02:00&due_before="
                           "2026-01-03T00:00:00Z",
                           &q, NULL),
                     0);
    assert_true(q.has_due_after);
    assert_int_equal(q.due_after_us, 1767315845123456LL);
    assert_true(q.has_due_before);
    task_query_clear(&q);
    /* An unescaped '+' arrives as a space and is read as '+'. */
    assert_int_equal(parse("due_before=2026-01-02T03:04:05.123456+02:00", &q, NULL), 0);
    assert_int_equal(q.due_before_us, 1767315845123456LL);
    task_query_clear(&q);
    assert_accepted("due_before=2024-02-29T23:59:59z");
    assert_accepted("due_before=2026-01-02t03:04:05-11:30");
    assert_refused("due_before=2023-02-29T00:00:00Z", "due_before");
    assert_refused("due_before=2026-01-02", "due_before");
    assert_refused("due_before=2026-01-02T03:04:05", "due_before");
    assert_refused("due_before=2026-13-02T03:04:05Z", "due_before");
    assert_refused("due_before=2026-01-02T24:00:00Z", "due_before");
    assert_refused("due_before=2026-01-02T03:04:05.Z", "due_before");
    assert_refused("due_before=2026-01-02T03:04:05.1234567890Z", "due_before");
    assert_refused("due_before=2026-01-02T03:04:05%2B2:00", "due_before");
    assert_refused("due_before=0000-01-01T00:00:00Z", "due_before");
    assert_refused("due_before=tomorrow", "due_before");
    assert_refused("due_after=", "due_after");
    assert_refused("due_after=2026-01-02T00:00:00Z&due_before=2026-01-02T00:00:00Z", "due_after");
    assert_refused("due_after=2026-01-03T00:00:00Z&due_before=2026-01-02T00:00:00Z", "due_after");
    assert_refused("due_before=2026-01-02T00:00:00Z&due_before=2026-01-03T00:00:00Z", "due_before");
}

static void text_search(void **state) {
    (void)state;
    task_query q;
    assert_int_equal(parse("q=buy+milk%20%22or%22+-eggs", &q, NULL), 0);
    assert_string_equal(q.q, "buy milk \"or\" -eggs");
    task_query_clear(&q);
    assert_refused("q=", "q");
    assert_refused("q=+++", "q");
    assert_refused("q=a%0Ab", "q");
    assert_refused("q=a&q=b", "q");
    char qs[512] = "q=";
    memset(qs + 2, 'w', 200);
    assert_accepted(qs);
    qs[202] = 'w';
    assert_refused(qs, "q");
}

static void sort_and_limit(void **state) {
    (void)state;
    static const char *const SORTS[] = {"created_at", "updated_at", "due_at", "priority"};
    for (int i = 0; i < 4; i++) {
        for (int desc = 0; desc < 2; desc++) {
            char qs[64];
            snprintf(qs, sizeof qs, "sort=%s%s", desc ? "-" : "", SORTS[i]);
            task_query q;
            assert_int_equal(parse(qs, &q, NULL), 0);
            assert_int_equal(q.sort, i);
            assert_int_equal(q.descending, desc);
            assert_string_equal(task_query_sort_name(&q), qs + 5);
            task_query_clear(&q);
        }
    }
    assert_refused("sort=title", "sort");
    assert_refused("sort=%2Bcreated_at", "sort");
    assert_refused("sort=--created_at", "sort");
    assert_refused("sort=created_at&sort=due_at", "sort");
    task_query q;
    assert_int_equal(parse("limit=100", &q, NULL), 0);
    assert_int_equal(q.limit, 100);
    task_query_clear(&q);
    assert_int_equal(parse("limit=1", &q, NULL), 0);
    assert_int_equal(q.limit, 1);
    task_query_clear(&q);
    assert_refused("limit=0", "limit");
    assert_refused("limit=101", "limit");
    assert_refused("limit=-1", "limit");
    assert_refused("limit=1.5", "limit");
    assert_refused("limit=abc", "limit");
    assert_refused("limit=", "limit");
    assert_refused("limit=99999999999999999999", "limit");
    assert_refused("limit=10&limit=10", "limit");
}

static void unknown_and_malformed(void **state) {
    (void)state;
    assert_refused("statuss=todo", "statuss");
    assert_refused("status=todo&page=2", "page");
    assert_refused("q=%ZZ", "q");
    assert_refused("q=%4", "q");
    assert_refused("%ZZ=1", "query");
    /* Every bad parameter is listed, each once. */
    task_query q;
    json_t *errors;
    assert_int_equal(
        parse("status=x&priority=y&limit=0&sort=z&due_before=no&foo=1&status=w", &q, &errors), 6);
    assert_non_null(error_for(errors, "status"));
    assert_non_null(error_for(errors, "priority"));
    assert_non_null(error_for(errors, "limit"));
    assert_non_null(error_for(errors, "sort"));
    assert_non_null(error_for(errors, "due_before"));
    assert_non_null(error_for(errors, "foo"));
    json_decref(errors);
    task_query_clear(&q);
}

/* ------------------------------------------------------------------ cursor */

/* Encodes a cursor for the query qs at pos. */
static void cursor_for(const char *qs, const task_cursor *pos, char *out, size_t outlen) {
    task_query q;
    assert_int_equal(parse(qs, &q, NULL), 0);
    assert_int_equal(task_cursor_encode(&q, pos, KEY, KEYLEN, out, outlen), 0);
    task_query_clear(&q);
}

static void cursor_round_trip(void **state) {
    (void)state;
    task_cursor positions[] = {
        {.present = true, .key = 1767315845123456LL, .id = TASK_ID},
        {.present = true, .key = -86400000000LL, .id = TASK_ID}, /* before 1970 */
        {.present = true, .key_null = true, .id = TASK_ID},
        {.present = true, .key = 3, .id = TASK_ID},
    };
    const char *queries[] = {"status=todo,done&tag=b&tag=a&q=milk", "sort=-updated_at",
                             "sort=due_at&priority=high", "sort=-priority&limit=5"};
    for (int i = 0; i < 4; i++) {
        char cursor[TASK_CURSOR_MAX];
        cursor_for(queries[i], &positions[i], cursor, sizeof cursor);
        for (const char *p = cursor; *p; p++) /* opaque and URL-safe as it is */
            assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_.",
                                   *p));
        char qs[2048];
        snprintf(qs, sizeof qs, "%s&limit=7&cursor=%s", queries[i], cursor);
        if (i == 3)
            snprintf(qs, sizeof qs, "sort=-priority&cursor=%s&limit=9", cursor);
        task_query q;
        assert_int_equal(parse(qs, &q, NULL), 0);
        assert_true(q.after.present);
        assert_int_equal(q.after.key_null, positions[i].key_null);
        assert_true(q.after.key == positions[i].key);
        assert_string_equal(q.after.id, TASK_ID);
        task_query_clear(&q);
    }
    /* The same filters written differently are the same filters. */
    char cursor[TASK_CURSOR_MAX], qs[2048];
    cursor_for("status=todo,done&tag=b&tag=a", &positions[0], cursor, sizeof cursor);
    snprintf(qs, sizeof qs, "tag=a&status=done&tag=b&status=todo&tag=a&cursor=%s", cursor);
    assert_accepted(qs);
    /* A key no row can have is not encoded. */
    task_query q;
    assert_int_equal(parse("sort=priority", &q, NULL), 0);
    task_cursor bad = {.present = true, .key = 4, .id = TASK_ID};
    assert_int_equal(task_cursor_encode(&q, &bad, KEY, KEYLEN, cursor, sizeof cursor), -1);
    bad.key_null = true; /* only due_at has rows without a key */
    assert_int_equal(task_cursor_encode(&q, &bad, KEY, KEYLEN, cursor, sizeof cursor), -1);
    assert_int_equal(task_cursor_encode(&q, &positions[3], KEY, KEYLEN, cursor, 20), -1);
    task_query_clear(&q);
}

static void tampered_cursor_is_refused(void **state) {
    (void)state;
    task_cursor pos = {.present = true, .key = 1767315845123456LL, .id = TASK_ID};
    char cursor[TASK_CURSOR_MAX], qs[2048];
    cursor_for("", &pos, cursor, sizeof cursor);
    size_t len = strlen(cursor);
    /* Change each character in turn: every change is caught. */
    for (size_t i = 0; i < len; i++) {
        if (cursor[i] == '.')
            continue;
        char saved = cursor[i];
        cursor[i] = saved == 'A' ? 'B' : 'A';
        snprintf(qs, sizeof qs, "cursor=%s", cursor);
        assert_refused(qs, "cursor");
        cursor[i] = saved;
    }
    /* A payload of our own making with a MAC under another key. */
    task_query q;
    assert_int_equal(parse("", &q, NULL), 0);
    char forged[TASK_CURSOR_MAX];
    assert_int_equal(
        task_cursor_encode(&q, &pos, OTHER_KEY, sizeof OTHER_KEY - 1, forged, sizeof forged), 0);
    task_query_clear(&q);
    snprintf(qs, sizeof qs, "cursor=%s", forged);
    assert_refused(qs, "cursor");
    /* Mixing the payload of one cursor with the MAC of another. */
    task_cursor pos2 = pos;
    pos2.key += 1;
    char other[TASK_CURSOR_MAX];
    cursor_for("", &pos2, other, sizeof other);
    snprintf(qs, sizeof qs, "cursor=%.*s%s", (int)(strchr(cursor, '.') - cursor), cursor,
             strchr(other, '.'));
    assert_refused(qs, "cursor");
    const char *garbage[] = {"cursor=",        "cursor=abc", "cursor=.",
                             "cursor=abc.def", "cursor=%00", "cursor=eyJ2IjoxfQ"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        assert_refused(garbage[i], "cursor");
    char huge[TASK_CURSOR_MAX + 16] = "cursor=";
    memset(huge + 7, 'A', TASK_CURSOR_MAX);
    assert_refused(huge, "cursor");
    snprintf(qs, sizeof qs, "cursor=%s&cursor=%s", cursor, cursor);
    assert_refused(qs, "cursor");
}

static void cursor_with_other_filters_is_refused(void **state) {
    (void)state;
    task_cursor pos = {.present = true, .key = 1767315845123456LL, .id = TASK_ID};
    char cursor[TASK_CURSOR_MAX], qs[2048];
    cursor_for("status=todo&tag=a&due_before=2027-01-01T00:00:00Z", &pos, cursor, sizeof cursor);
    const char *others[] = {
        "status=done&tag=a&due_before=2027-01-01T00:00:00Z",
        "status=todo&tag=a",
        "status=todo&tag=a&tag=b&due_before=2027-01-01T00:00:00Z",
        "status=todo,done&tag=a&due_before=2027-01-01T00:00:00Z",
        "status=todo&tag=a&due_before=2027-01-01T00:00:00.000001Z",
        "status=todo&tag=a&due_before=2027-01-01T00:00:00Z&q=x",
        "status=todo&tag=a&due_before=2027-01-01T00:00:00Z&priority=low",
        "status=todo&tag=a&due_before=2027-01-01T00:00:00Z&due_after=2020-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        snprintf(qs, sizeof qs, "%s&cursor=%s", others[i], cursor);
        task_query q;
        json_t *errors;
        assert_int_equal(parse(qs, &q, &errors), 1);
        assert_non_null(strstr(error_for(errors, "cursor"), "other filters"));
        json_decref(errors);
        task_query_clear(&q);
    }
    /* Another sort, or the same sort in the other direction. */
    const char *sorts[] = {"sort=created_at", "sort=-updated_at", "sort=-due_at"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(qs, sizeof qs, "status=todo&tag=a&due_before=2027-01-01T00:00:00Z&%s&cursor=%s",
                 sorts[i], cursor);
        task_query q;
        json_t *errors;
        assert_int_equal(parse(qs, &q, &errors), 1);
        assert_non_null(strstr(error_for(errors, "cursor"), "sort"));
        json_decref(errors);
        task_query_clear(&q);
    }
    /* With the same filters and another limit it is fine. */
    snprintf(qs, sizeof qs,
             "limit=3&due_before=2027-01-01T00:00:00%%2B00:00&tag=a&status=todo&cursor=%s", cursor);
    assert_accepted(qs);
}

static void hashes(void **state) {
    (void)state;
    task_query a, b;
    char ha[TASK_QUERY_HASH_HEX], hb[TASK_QUERY_HASH_HEX];
    assert_int_equal(parse("status=todo,done&tag=x&tag=y&limit=5", &a, NULL), 0);
    assert_int_equal(parse("tag=y&status=done&limit=5&tag=x&status=todo", &b, NULL), 0);
    task_query_page_hash(&a, ha);
    task_query_page_hash(&b, hb);
    assert_string_equal(ha, hb);
    assert_int_equal(strlen(ha), 64);
    b.limit = 6;
    task_query_page_hash(&b, hb);
    assert_string_not_equal(ha, hb);
    task_query_filter_hash(&a, ha);
    task_query_filter_hash(&b, hb);
    assert_string_equal(ha, hb); /* limit is not a filter */
    b.limit = 5;
    b.after.present = true;
    snprintf(b.after.id, sizeof b.after.id, "%s", TASK_ID);
    task_query_page_hash(&a, ha);
    task_query_page_hash(&b, hb);
    assert_string_not_equal(ha, hb);
    b.descending = false;
    task_query_filter_hash(&b, hb);
    task_query_filter_hash(&a, ha);
    assert_string_equal(ha, hb);
    task_query_clear(&a);
    task_query_clear(&b);
    /* Tag boundaries are part of the hash: {"ab"} is not {"a","b"}. */
    assert_int_equal(parse("tag=ab", &a, NULL), 0);
    assert_int_equal(parse("tag=a&tag=b", &b, NULL), 0);
    task_query_filter_hash(&a, ha);
    task_query_filter_hash(&b, hb);
    assert_string_not_equal(ha, hb);
    task_query_clear(&a);
    task_query_clear(&b);
}

/* ------------------------------------------------------------------ SQL */

/* Builds the SQL of qs (with an optional cursor position for it). */
static void build(const char *qs, const task_cursor *pos, task_query *q, task_sql *sql) {
    char full[2048];
    if (pos != NULL) {
        char cursor[TASK_CURSOR_MAX];
        cursor_for(qs, pos, cursor, sizeof cursor);
        snprintf(full, sizeof full, "%s&cursor=%s", qs, cursor);
    } else {
        snprintf(full, sizeof full, "%s", qs);
    }
    assert_int_equal(parse(full, q, NULL), 0);
    assert_int_equal(task_query_build_sql(q, OWNER, sql), 0);
}

static void assert_contains(const char *text, const char *part) {
    if (strstr(text, part) == NULL) {
        print_error("expected \"%s\" in:\n%s\n", part, text);
        fail();
    }
}

/* Times text occurs in sql. */
static int occurrences(const char *sql, const char *text) {
    int n = 0;
    for (const char *p = strstr(sql, text); p != NULL; p = strstr(p + 1, text))
        n++;
    return n;
}

static void sql_has_parameters_only(void **state) {
    (void)state;
    task_query q;
    task_sql sql;
    build("q=x%27%29%3B+DROP+TABLE+tasks%3B+--&tag=evil%27tag&tag=t2&status=todo,done&"
          "priority=urgent&due_before=2027-01-01T00:00:00Z&due_after=2026-01-01T00:00:00Z&"
          "limit=7",
          &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID}, &q, &sql);
    /* No value of the request is in the text; each is a parameter. */
    assert_null(strstr(sql.text, "DROP"));
    assert_null(strstr(sql.text, "evil"));
    assert_null(strstr(sql.text, "todo"));
    assert_null(strstr(sql.text, "urgent"));
    assert_null(strstr(sql.text, "2027"));
    assert_null(strstr(sql.text, TASK_ID));
    assert_null(strstr(sql.text, OWNER));
    assert_null(strchr(sql.text + strlen("SELECT"), ';'));
    /* owner, 2 statuses, 1 priority, 2 tags, q, 2 due bounds, cursor key and id, limit */
    assert_int_equal(sql.nparams, 12);
    assert_string_equal(sql.values[0], OWNER);
    assert_contains(sql.text, "WHERE owner_id = $1::uuid");
    assert_contains(sql.text, " AND status IN ($2::text, $3::text)");
    assert_string_equal(sql.values[1], "todo");
    assert_string_equal(sql.values[2], "done");
    assert_contains(sql.text, " AND priority IN ($4::text)");
    assert_string_equal(sql.values[3], "urgent");
    assert_contains(sql.text, " AND tags @> ARRAY[$5::text, $6::text]");
    assert_string_equal(sql.values[4], "evil'tag");
    assert_string_equal(sql.values[5], "t2");
    assert_contains(sql.text, " AND search @@ websearch_to_tsquery('simple', $7::text)");
    assert_string_equal(sql.values[6], "x'); DROP TABLE tasks; --");
    assert_contains(sql.text, " AND due_at < $8::timestamptz");
    assert_string_equal(sql.values[7], "2027-01-01 00:00:00.000000+00");
    assert_contains(sql.text, " AND due_at >= $9::timestamptz");
    assert_string_equal(sql.values[8], "2026-01-01 00:00:00.000000+00");
    assert_contains(sql.text, " AND (created_at, id) < ($10::timestamptz, $11::uuid) ORDER BY");
    assert_string_equal(sql.values[9], "2026-01-02 01:04:05.123456+00");
    assert_string_equal(sql.values[10], TASK_ID);
    assert_contains(sql.text, " LIMIT $12::int");
    assert_string_equal(sql.values[11], "8"); /* limit + 1: is there another page? */
    task_query_clear(&q);
}

typedef struct sort_case {
    const char *qs;
    task_cursor pos;
    const char *select_key;
    const char *first_page; /* the tail of the first page's SQL */
    const char *next_page;  /* the tail of the SQL after the cursor pos */
} sort_case;

#define SCOPE "FROM tasks WHERE owner_id = $1::uuid"
#define KEY(col) "(extract(epoch from " col ") * 1000000)::bigint AS sort_key "

/* Without filters a page is one statement over one index range (due_at: two, nulls last),
 * ordered as the index is, with the sort key named sort_key. */
static void sql_order_and_keyset_per_sort(void **state) {
    (void)state;
    static const sort_case CASES[] = {
        {"",
         {true, false, 0, TASK_ID},
         KEY("created_at"),
         KEY("created_at") SCOPE " ORDER BY created_at DESC, id DESC LIMIT $2::int",
         KEY("created_at") SCOPE " AND (created_at, id) < ($2::timestamptz, $3::uuid)"
                                 " ORDER BY created_at DESC, id DESC LIMIT $4::int"},
        {"sort=created_at",
         {true, false, 0, TASK_ID},
         KEY("created_at"),
         SCOPE " ORDER BY created_at ASC, id ASC LIMIT $2::int",
         SCOPE " AND (created_at, id) > ($2::timestamptz, $3::uuid)"
               " ORDER BY created_at ASC, id ASC LIMIT $4::int"},
        {"sort=-updated_at",
         {true, false, 0, TASK_ID},
         KEY("updated_at"),
         SCOPE " ORDER BY updated_at DESC, id DESC LIMIT $2::int",
         SCOPE " AND (updated_at, id) < ($2::timestamptz, $3::uuid)"
               " ORDER BY updated_at DESC, id DESC LIMIT $4::int"},
        {"sort=updated_at",
         {true, false, 0, TASK_ID},
         KEY("updated_at"),
         SCOPE " ORDER BY updated_at ASC, id ASC LIMIT $2::int",
         SCOPE " AND (updated_at, id) > ($2::timestamptz, $3::uuid)"
               " ORDER BY updated_at ASC, id ASC LIMIT $4::int"},
        /* due_at: the dated tasks after the cursor, then the undated ones (nulls last);
         * the undated branch is ordered (due_at, id) like its index, not by id alone. */
        {"sort=due_at",
         {true, false, 0, TASK_ID},
         KEY("due_at"),
         "(SELECT tasks.*, 0 AS page_phase " SCOPE " AND due_at IS NOT NULL"
         " ORDER BY due_at ASC, id ASC LIMIT $2::int) UNION ALL"
         " (SELECT tasks.*, 1 AS page_phase " SCOPE " AND due_at IS NULL"
         " ORDER BY due_at ASC, id ASC LIMIT $2::int)) AS tasks"
         " ORDER BY page_phase, due_at ASC, id ASC LIMIT $2::int",
         "(SELECT tasks.*, 0 AS page_phase " SCOPE " AND (due_at, id) > ($2::timestamptz, $3::uuid)"
         " ORDER BY due_at ASC, id ASC LIMIT $4::int) UNION ALL"
         " (SELECT tasks.*, 1 AS page_phase " SCOPE " AND due_at IS NULL"
         " ORDER BY due_at ASC, id ASC LIMIT $4::int)) AS tasks"
         " ORDER BY page_phase, due_at ASC, id ASC LIMIT $4::int"},
        {"sort=-due_at",
         {true, false, 0, TASK_ID},
         KEY("due_at"),
         "(SELECT tasks.*, 0 AS page_phase " SCOPE " AND due_at IS NOT NULL"
         " ORDER BY due_at DESC, id DESC LIMIT $2::int) UNION ALL"
         " (SELECT tasks.*, 1 AS page_phase " SCOPE " AND due_at IS NULL"
         " ORDER BY due_at DESC, id DESC LIMIT $2::int)) AS tasks"
         " ORDER BY page_phase, due_at DESC, id DESC LIMIT $2::int",
         "(SELECT tasks.*, 0 AS page_phase " SCOPE " AND (due_at, id) < ($2::timestamptz, $3::uuid)"
         " ORDER BY due_at DESC, id DESC LIMIT $4::int) UNION ALL"
         " (SELECT tasks.*, 1 AS page_phase " SCOPE " AND due_at IS NULL"
         " ORDER BY due_at DESC, id DESC LIMIT $4::int)) AS tasks"
         " ORDER BY page_phase, due_at DESC, id DESC LIMIT $4::int"},
        /* A cursor among the undated tasks: only they remain, by id, in the index's order
         * ("DESC NULLS LAST" would sort all of them). */
        {"sort=due_at",
         {true, true, 0, TASK_ID},
         KEY("due_at"),
         "AS tasks ORDER BY page_phase, due_at ASC, id ASC LIMIT $2::int",
         SCOPE " AND due_at IS NULL AND id > $2::uuid ORDER BY due_at ASC, id ASC LIMIT $3::int"},
        {"sort=-due_at",
         {true, true, 0, TASK_ID},
         KEY("due_at"),
         "AS tasks ORDER BY page_phase, due_at DESC, id DESC LIMIT $2::int",
         SCOPE " AND due_at IS NULL AND id < $2::uuid ORDER BY due_at DESC, id DESC"
               " LIMIT $3::int"},
        /* The key column is sort_key, so ORDER BY priority_rank is the indexed column. */
        {"sort=priority",
         {true, false, 2, TASK_ID},
         "priority_rank::bigint AS sort_key " SCOPE,
         SCOPE " ORDER BY priority_rank ASC, id ASC LIMIT $2::int",
         SCOPE " AND (priority_rank, id) > ($2::smallint, $3::uuid)"
               " ORDER BY priority_rank ASC, id ASC LIMIT $4::int"},
        {"sort=-priority",
         {true, false, 2, TASK_ID},
         "priority_rank::bigint AS sort_key " SCOPE,
         SCOPE " ORDER BY priority_rank DESC, id DESC LIMIT $2::int",
         SCOPE " AND (priority_rank, id) < ($2::smallint, $3::uuid)"
               " ORDER BY priority_rank DESC, id DESC LIMIT $4::int"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const sort_case *c = &CASES[i];
        task_query q;
        task_sql sql;
        build(c->qs, NULL, &q, &sql); /* the first page has no keyset predicate */
        assert_contains(sql.text, c->select_key);
        assert_true(strlen(sql.text) >= strlen(c->first_page));
        assert_string_equal(sql.text + strlen(sql.text) - strlen(c->first_page), c->first_page);
        assert_null(strstr(sql.text, ", id) <"));
        assert_null(strstr(sql.text, ", id) >"));
        assert_null(strstr(sql.text, "probe"));
        assert_int_equal(sql.nparams, 2);
        assert_string_equal(sql.values[0], OWNER);
        assert_string_equal(sql.values[1], "21");
        task_query_clear(&q);

        build(c->qs, &c->pos, &q, &sql);
        assert_true(strlen(sql.text) >= strlen(c->next_page));
        assert_string_equal(sql.text + strlen(sql.text) - strlen(c->next_page), c->next_page);
        assert_string_equal(sql.values[sql.nparams - 2], TASK_ID);
        if (q.sort == TASK_SORT_PRIORITY)
            assert_string_equal(sql.values[1], "2");
        else if (!c->pos.key_null)
            assert_string_equal(sql.values[1], "1970-01-01 00:00:00.000000+00");
        assert_string_equal(sql.values[sql.nparams - 1], "21");
        task_query_clear(&q);
    }
}

/* A page with filters: the probe (the first rows of the range in sort order, filtered by
 * the plain tests) answers when it fills the page; else the filtered range, where the
 * owner-scoped GIN conditions sit beside the same plain tests. Every copy of a fragment
 * names the same parameters. */
static void sql_filtered_page_probes_then_falls_back(void **state) {
    (void)state;
    task_query q;
    task_sql sql;
    build("status=todo&priority=low,high&tag=t&q=milk", NULL, &q, &sql);
    /* owner, status, 2 priorities, tag, q, limit */
    assert_int_equal(sql.nparams, 7);
    assert_string_equal(sql.values[6], "21");
    static const char PLAIN[] = " AND status IN ($2::text) AND priority IN ($3::text, $4::text)"
                                " AND tags @> ARRAY[$5::text]"
                                " AND search @@ websearch_to_tsquery('simple', $6::text)";
    assert_contains(sql.text, "WITH probe AS MATERIALIZED (SELECT * FROM (SELECT * FROM tasks"
                              " WHERE owner_id = $1::uuid ORDER BY created_at DESC, id DESC"
                              " LIMIT 2000) AS tasks WHERE TRUE");
    assert_contains(sql.text, PLAIN);
    assert_contains(sql.text, "FROM probe WHERE (SELECT count(*) FROM probe) = $7::int");
    assert_contains(sql.text, " AND (SELECT count(*) FROM probe) < $7::int");
    static const char *const INDEXED[] = {
        " AND task_owner_index_keys(owner_id, status, priority, tags, search)"
        " && task_owner_keys($1::uuid, 's', ARRAY[$2::text]) AND status IN ($2::text)",
        " AND task_owner_index_keys(owner_id, status, priority, tags, search)"
        " && task_owner_keys($1::uuid, 'p', ARRAY[$3::text, $4::text])"
        " AND priority IN ($3::text, $4::text)",
        " AND task_owner_index_keys(owner_id, status, priority, tags, search)"
        " @> task_owner_keys($1::uuid, 't', ARRAY[$5::text]) AND tags @> ARRAY[$5::text]",
        " AND task_owner_index_keys(owner_id, status, priority, tags, search)"
        " @> task_owner_all_words($1::uuid, websearch_to_tsquery('simple', $6::text))",
        " AND task_owner_index_keys(owner_id, status, priority, tags, search)"
        " && task_owner_any_words($1::uuid, websearch_to_tsquery('simple', $6::text))"
        " AND search @@ websearch_to_tsquery('simple', $6::text)",
    };
    for (size_t i = 0; i < sizeof INDEXED / sizeof INDEXED[0]; i++)
        assert_int_equal(occurrences(sql.text, INDEXED[i]), 1);
    assert_contains(sql.text, ")) AS tasks ORDER BY created_at DESC, id DESC LIMIT $7::int");
    task_query_clear(&q);

    /* due_at: each branch probes on its own, with the same filters. */
    build("sort=-due_at&status=todo&tag=t&q=milk",
          &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID}, &q, &sql);
    assert_int_equal(sql.nparams, 7); /* owner, status, tag, q, key, id, limit */
    assert_int_equal(occurrences(sql.text, "WITH probe AS MATERIALIZED"), 2);
    assert_int_equal(occurrences(sql.text, " AND status IN ($2::text) AND tags @> ARRAY[$3::text]"
                                           " AND search @@ websearch_to_tsquery('simple', $4::text)"
                                           " ORDER BY due_at DESC"),
                     2);
    assert_int_equal(occurrences(sql.text, " AND (due_at, id) < ($5::timestamptz, $6::uuid)"), 2);
    assert_int_equal(occurrences(sql.text, " AND due_at IS NULL"), 2);
    assert_contains(sql.text, "AS tasks ORDER BY page_phase, due_at DESC, id DESC LIMIT $7::int");
    task_query_clear(&q);
}

/* Filters that are not filters, and filters the sort's index range already is. */
static void sql_filters_folded_into_the_range(void **state) {
    (void)state;
    task_query q;
    task_sql sql;
    /* Every status, every priority: no test at all. */
    build("status=todo,in_progress,done&priority=low,medium,high,urgent", NULL, &q, &sql);
    assert_null(strstr(sql.text, "probe"));
    assert_null(strstr(sql.text, " IN ("));
    assert_int_equal(sql.nparams, 2);
    task_query_clear(&q);
    /* sort=priority with contiguous priorities: a range of the priority index. */
    build("sort=-priority&priority=medium,high", NULL, &q, &sql);
    assert_contains(sql.text, SCOPE " AND priority_rank BETWEEN $2::smallint AND $3::smallint"
                                    " ORDER BY priority_rank DESC, id DESC LIMIT $4::int");
    assert_string_equal(sql.values[1], "1");
    assert_string_equal(sql.values[2], "2");
    assert_null(strstr(sql.text, "probe"));
    task_query_clear(&q);
    /* ... and with a gap: the range, then the exact list. */
    build("sort=priority&priority=medium,urgent", NULL, &q, &sql);
    assert_contains(sql.text, "WHERE owner_id = $1::uuid AND priority_rank BETWEEN $2::smallint"
                              " AND $3::smallint ORDER BY priority_rank ASC, id ASC LIMIT 2000");
    assert_contains(sql.text, " AND priority IN ($4::text, $5::text)");
    assert_string_equal(sql.values[1], "1");
    assert_string_equal(sql.values[2], "3");
    task_query_clear(&q);
    /* low and urgent: the range would be every rank; only the list remains. */
    build("sort=priority&priority=low,urgent", NULL, &q, &sql);
    assert_null(strstr(sql.text, "BETWEEN"));
    assert_contains(sql.text, " AND priority IN ($2::text, $3::text)");
    task_query_clear(&q);
    /* sort=due_at with a due bound: no undated task can match, one range, no probe. */
    build("sort=-due_at&due_before=2027-01-01T00:00:00Z",
          &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID}, &q, &sql);
    assert_contains(sql.text, KEY("due_at") SCOPE " AND due_at < $2::timestamptz"
                                                  " AND (due_at, id) < ($3::timestamptz, $4::uuid)"
                                                  " ORDER BY due_at DESC, id DESC LIMIT $5::int");
    assert_null(strstr(sql.text, "UNION"));
    assert_null(strstr(sql.text, "probe"));
    task_query_clear(&q);
}

/* The most a request can ask for still fits the statement and its parameters. */
static void sql_largest_query_fits(void **state) {
    (void)state;
    char qs[1536] = "sort=-due_at&status=todo,done&priority=low,high,urgent&q=a+b+c"
                    "&due_after=2026-01-01T00:00:00Z&due_before=2027-01-01T00:00:00Z&limit=100";
    for (int i = 0; i < TASK_QUERY_TAGS_MAX; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "&tag=%050d", i);
        strcat(qs, tag);
    }
    task_query q;
    task_sql sql;
    build(qs, &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID}, &q, &sql);
    /* owner, 2 due bounds, 2 statuses, 3 priorities, 20 tags, q, key, id, limit */
    assert_int_equal(sql.nparams, 32);
    task_query_clear(&q);
    build(qs, &(task_cursor){.present = true, .key_null = true, .id = TASK_ID}, &q, &sql);
    task_query_clear(&q);
    /* sort=-due_at without due bounds: two ranges, each with its probe */
    char *bounds = strstr(qs, "&due_after");
    memmove(bounds,
            bounds + strlen("&due_after=2026-01-01T00:00:00Z&due_before=2027-01-01T00:00:00Z"),
            strlen(bounds) -
                strlen("&due_after=2026-01-01T00:00:00Z&due_before=2027-01-01T00:00:00Z") + 1);
    build(qs, &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID}, &q, &sql);
    assert_int_equal(sql.nparams, 30);
    assert_int_equal(occurrences(sql.text, "WITH probe"), 2);
    task_query_clear(&q);
    /* sort=-created_at: the due bounds are filters, copied into both fragments */
    build(qs + strlen("sort=-due_at&"), NULL, &q, &sql);
    assert_int_equal(sql.nparams, 28); /* no due bounds left, no cursor */
    task_query_clear(&q);
}

/* ... and so does it in every scope with an assignee: the team scopes' ranges are longer
 * (the membership), and the filter form has one more parameter. */
static void sql_largest_query_fits_in_every_scope(void **state) {
    (void)state;
    char qs[1536] = "sort=-due_at&status=todo,done&priority=low,high,urgent&q=a+b+c&limit=100"
                    "&assignee=me&project=0190f3a2-3333-7000-8000-0000000000aa";
    for (int i = 0; i < TASK_QUERY_TAGS_MAX; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "&tag=%050d", i);
        strcat(qs, tag);
    }
    char cursor[TASK_CURSOR_MAX], full[2048];
    cursor_for(qs, &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID},
               cursor, sizeof cursor);
    snprintf(full, sizeof full, "%s&cursor=%s", qs, cursor);
    task_query q;
    task_sql sql;
    assert_int_equal(parse(full, &q, NULL), 0);
    /* 2 statuses, 3 priorities, 20 tags, q, key, id, limit: 29, and each scope's own */
    assert_int_equal(task_query_build_sql(&q, OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 29 + 2); /* owner, assignee */
    assert_int_equal(task_query_build_project_sql(&q, q.project, OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 29 + 3); /* project, member, assignee */
    assert_int_equal(occurrences(sql.text, "WITH probe"), 2);
    assert_int_equal(
        task_query_build_assigned_sql(&q, task_query_assignee_for(&q, OWNER), OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 29 + 2); /* assignee, member */
    assert_int_equal(occurrences(sql.text, "WITH probe"), 2);
    task_query_clear(&q);
}

/* ------------------------------------------------------------------ timestamps */

static void timestamps(void **state) {
    (void)state;
    long long us;
    assert_int_equal(task_query_parse_rfc3339("1970-01-01T00:00:00Z", &us), 0);
    assert_true(us == 0);
    assert_int_equal(task_query_parse_rfc3339("2024-02-29T23:59:59Z", &us), 0);
    assert_true(us == 1709251199LL * 1000000);
    assert_int_equal(task_query_parse_rfc3339("0001-01-01T00:00:00Z", &us), 0);
    assert_true(us == -62135596800LL * 1000000);
    assert_int_equal(task_query_parse_rfc3339("0001-01-01T00:30:00+01:00", &us), -1);
    assert_int_equal(task_query_parse_rfc3339("9999-12-31T23:59:59.999999Z", &us), 0);
    char text[40];
    assert_int_equal(task_query_format_timestamp(us, text, sizeof text), 0);
    assert_string_equal(text, "9999-12-31 23:59:59.999999+00");
    assert_int_equal(task_query_format_timestamp(us + 1, text, sizeof text), -1);
    assert_int_equal(task_query_format_timestamp(-1, text, sizeof text), 0);
    assert_string_equal(text, "1969-12-31 23:59:59.999999+00");
    assert_int_equal(task_query_format_timestamp(-62135596800LL * 1000000, text, sizeof text), 0);
    assert_string_equal(text, "0001-01-01 00:00:00.000000+00");
    assert_int_equal(task_query_format_timestamp(1767315845123456LL, text, sizeof text), 0);
    assert_string_equal(text, "2026-01-02 01:04:05.123456+00");
    assert_int_equal(task_query_format_timestamp(0, text, 10), -1);
}

/* project=<id>: parsed lower-case, refused when not a UUID or repeated; part of the filter
 * hash only when given (an Inbox list's hash is what it was); its SQL is scoped to the
 * project's ownerless rows, every filter exact and none through the owner-scoped index. */
static void project_scope(void **state) {
    (void)state;
    task_query q, plain;
    json_t *errors;
    assert_int_equal(parse("project=0190F3A2-3333-7000-8000-0000000000AA", &q, NULL), 0);
    assert_string_equal(q.project, "0190f3a2-3333-7000-8000-0000000000aa");
    assert_int_equal(parse("", &plain, NULL), 0);
    assert_string_equal(plain.project, "");
    char a[TASK_QUERY_HASH_HEX], b[TASK_QUERY_HASH_HEX];
    task_query_filter_hash(&q, a);
    task_query_filter_hash(&plain, b);
    assert_string_not_equal(a, b);
    task_query_clear(&q);
    task_query_clear(&plain);
    assert_int_equal(parse("project=inbox", &q, &errors), 1);
    assert_non_null(error_for(errors, "project"));
    json_decref(errors);
    task_query_clear(&q);
    assert_int_equal(parse("project=0190f3a2-3333-7000-8000-0000000000aa&project="
                           "0190f3a2-3333-7000-8000-0000000000ab",
                           &q, &errors),
                     1);
    json_decref(errors);
    task_query_clear(&q);

    task_sql sql;
    assert_int_equal(
        parse("project=0190f3a2-3333-7000-8000-0000000000aa&status=todo&tag=t&q=w", &q, NULL), 0);
    assert_int_equal(task_query_build_project_sql(&q, q.project, OWNER, &sql), 0);
    assert_contains(sql.text, "project_id = $1::uuid AND owner_id IS NULL AND EXISTS (SELECT 1 FROM"
                              " project_members pm WHERE pm.project_id = $1::uuid AND pm.user_id"
                              " = $2::uuid)");
    assert_null(strstr(sql.text, OWNER));
    assert_string_equal(sql.values[1], OWNER);
    assert_null(strstr(sql.text, "owner_id ="));
    assert_null(strstr(sql.text, "task_owner"));
    assert_contains(sql.text, "status IN (");
    assert_contains(sql.text, "tags @> ARRAY[");
    assert_contains(sql.text, "search @@ websearch_to_tsquery");
    assert_string_equal(sql.values[0], "0190f3a2-3333-7000-8000-0000000000aa");
    assert_int_equal(task_query_build_sql(&q, OWNER, &sql), 0); /* the Inbox, named */
    assert_contains(sql.text, "owner_id = $1::uuid");
    assert_contains(sql.text, "task_owner_index_keys");
    task_query_clear(&q);
}

/* ------------------------------------------------------------------ assignee */

#define ASSIGNEE "0190f3a2-4444-7000-8000-0000000000bb"
#define PROJECT "0190f3a2-3333-7000-8000-0000000000aa"

/* assignee=me or a user id (lower-cased); anything else, or twice, is refused. */
static void assignee_parsing(void **state) {
    (void)state;
    task_query q;
    json_t *errors;
    assert_int_equal(parse("", &q, NULL), 0);
    assert_string_equal(q.assignee, "");
    assert_null(task_query_assignee_for(&q, OWNER));
    task_query_clear(&q);
    assert_int_equal(parse("assignee=me", &q, NULL), 0);
    assert_string_equal(q.assignee, "me");
    assert_string_equal(task_query_assignee_for(&q, OWNER), OWNER);
    task_query_clear(&q);
    assert_int_equal(parse("assignee=0190F3A2-4444-7000-8000-0000000000BB", &q, NULL), 0);
    assert_string_equal(q.assignee, ASSIGNEE);
    assert_string_equal(task_query_assignee_for(&q, OWNER), ASSIGNEE);
    task_query_clear(&q);
    static const char *const BAD[] = {
        "assignee=",
        "assignee",
        "assignee=ME",
        "assignee=me%20",
        "assignee=you",
        "assignee=+me",
        "assignee=me,me",
        "assignee=0190f3a2-4444-7000-8000-0000000000b", /* one digit short */
        "assignee=0190f3a2-4444-7000-8000-0000000000bb%00",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_refused(BAD[i], "assignee");
    assert_int_equal(parse("assignee=you", &q, &errors), 1);
    assert_string_equal(error_for(errors, "assignee"), "must be \"me\" or a user id (a UUID)");
    json_decref(errors);
    task_query_clear(&q);
    assert_int_equal(parse("assignee=me&assignee=me", &q, &errors), 1);
    assert_string_equal(error_for(errors, "assignee"), "may be given only once");
    json_decref(errors);
    task_query_clear(&q);
    assert_refused("assignee=me&assignee=" ASSIGNEE, "assignee");
}

/* The filter hash of qs. */
static void filter_hash_of(const char *qs, char out[TASK_QUERY_HASH_HEX]) {
    task_query q;
    assert_int_equal(parse(qs, &q, NULL), 0);
    task_query_filter_hash(&q, out);
    task_query_clear(&q);
}

/* Without assignee every filter hash is what it was before assignees (the values below
 * are the hashes of the code before them: cursors in use stay valid); the page hash
 * changed once, on purpose ("taskbus page 3": pages now carry assignee_id, and one an API
 * of the release before stored is not read); with an assignee, the filter hash changes
 * with its value as given ("me" is not the caller's id). */
static void assignee_filter_hash(void **state) {
    (void)state;
    char a[TASK_QUERY_HASH_HEX], b[TASK_QUERY_HASH_HEX];
    filter_hash_of("", a);
    assert_string_equal(a, "da343011298c934f629d109129334855b1336d016db39694de2d9e5d30903c53");
    filter_hash_of("status=todo,done&tag=b&tag=a&q=milk&due_before=2027-01-01T00:00:00Z", a);
    assert_string_equal(a, "13344a68f67348eabbd873e9847be7e8e0b1fbd7139fa0ae2cc53bba13635fe6");
    filter_hash_of("project=" PROJECT "&priority=low", a);
    assert_string_equal(a, "b97c55c1b34b63cb68414ea9cde97249e14ce0fa7dd69e6f3233504ff84c78e8");
    task_query q;
    assert_int_equal(parse("", &q, NULL), 0);
    task_query_page_hash(&q, a);
    assert_string_equal(a, "564dbbe76e22c0abe9a26d94421ffaf7bd638b7dcb1caced7b54e6cb805625db");
    task_query_clear(&q);

    filter_hash_of("assignee=me", b);
    assert_string_not_equal(b, "da343011298c934f629d109129334855b1336d016db39694de2d9e5d30903c53");
    filter_hash_of("assignee=" OWNER, a);
    assert_string_not_equal(a, b);
    filter_hash_of("assignee=" ASSIGNEE, b);
    assert_string_not_equal(a, b);
    filter_hash_of("assignee=0190F3A2-4444-7000-8000-0000000000BB", a);
    assert_string_equal(a, b); /* one user however it is written */
    filter_hash_of("project=" PROJECT "&assignee=me", a);
    filter_hash_of("project=" PROJECT, b);
    assert_string_not_equal(a, b);
}

/* A cursor made with one assignee is refused with another, or with none. */
static void cursor_with_other_assignee_is_refused(void **state) {
    (void)state;
    task_cursor pos = {.present = true, .key = 1767315845123456LL, .id = TASK_ID};
    char cursor[TASK_CURSOR_MAX], qs[2048];
    cursor_for("assignee=me&status=todo", &pos, cursor, sizeof cursor);
    snprintf(qs, sizeof qs, "status=todo&assignee=me&cursor=%s", cursor);
    assert_accepted(qs);
    const char *others[] = {"status=todo", "status=todo&assignee=" ASSIGNEE,
                            "status=todo&assignee=" OWNER,
                            "status=todo&assignee=me&project=" PROJECT};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        snprintf(qs, sizeof qs, "%s&cursor=%s", others[i], cursor);
        task_query q;
        json_t *errors;
        assert_int_equal(parse(qs, &q, &errors), 1);
        assert_non_null(strstr(error_for(errors, "cursor"), "other filters"));
        json_decref(errors);
        task_query_clear(&q);
    }
}

/* The assignee as a filter of the Inbox: an exact test in the probe and in the second
 * branch (beside the owner-scoped GIN conditions of the other filters), never in the
 * owner's range; "me" is the owner. */
static void sql_assignee_filters_the_inbox(void **state) {
    (void)state;
    task_query q;
    task_sql sql;
    build("assignee=me", NULL, &q, &sql);
    assert_int_equal(sql.nparams, 3); /* owner, assignee, limit */
    assert_string_equal(sql.values[0], OWNER);
    assert_string_equal(sql.values[1], OWNER);
    assert_string_equal(sql.values[2], "21");
    assert_null(strstr(sql.text, OWNER));
    assert_contains(sql.text, "WITH probe AS MATERIALIZED (SELECT * FROM (SELECT * FROM tasks"
                              " WHERE owner_id = $1::uuid ORDER BY created_at DESC, id DESC"
                              " LIMIT 2000) AS tasks WHERE TRUE AND assignee_id = $2::uuid"
                              " ORDER BY");
    assert_contains(sql.text, " FROM tasks WHERE owner_id = $1::uuid AND assignee_id = $2::uuid"
                              " AND (SELECT count(*) FROM probe) < $3::int");
    assert_int_equal(occurrences(sql.text, "assignee_id ="), 2);
    task_query_clear(&q);

    build("assignee=" ASSIGNEE "&status=todo&q=milk&sort=-due_at",
          &(task_cursor){.present = true, .key = 1767315845123456LL, .id = TASK_ID}, &q, &sql);
    /* owner, assignee, status, q, key, id, limit */
    assert_int_equal(sql.nparams, 7);
    assert_string_equal(sql.values[1], ASSIGNEE);
    assert_null(strstr(sql.text, ASSIGNEE));
    /* two ranges (dated, undated), each a probe and a second branch */
    assert_int_equal(occurrences(sql.text, " AND assignee_id = $2::uuid"), 4);
    assert_int_equal(occurrences(sql.text, " AND assignee_id = $2::uuid AND status IN ($3::text)"
                                           " AND search @@"),
                     2);
    assert_int_equal(occurrences(sql.text, " AND assignee_id = $2::uuid AND "
                                           "task_owner_index_keys(owner_id, status, priority,"
                                           " tags, search) && task_owner_keys($1::uuid, 's',"),
                     2);
    task_query_clear(&q);
}

/* The assignee as a filter of a team project: the same exact test, after the project and
 * the member; "me" is the member. */
static void sql_assignee_filters_a_project(void **state) {
    (void)state;
    task_query q;
    task_sql sql;
    assert_int_equal(parse("project=" PROJECT "&assignee=me&tag=t", &q, NULL), 0);
    assert_int_equal(task_query_build_project_sql(&q, q.project, OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 5); /* project, member, assignee, tag, limit */
    assert_string_equal(sql.values[0], PROJECT);
    assert_string_equal(sql.values[1], OWNER);
    assert_string_equal(sql.values[2], OWNER);
    assert_string_equal(sql.values[3], "t");
    assert_null(strstr(sql.text, OWNER));
    assert_null(strstr(sql.text, "task_owner"));
    assert_contains(sql.text, "WHERE project_id = $1::uuid AND owner_id IS NULL AND EXISTS"
                              " (SELECT 1 FROM project_members pm WHERE pm.project_id = $1::uuid"
                              " AND pm.user_id = $2::uuid) ORDER BY created_at DESC, id DESC"
                              " LIMIT 2000) AS tasks WHERE TRUE AND assignee_id = $3::uuid"
                              " AND tags @> ARRAY[$4::text]");
    assert_contains(sql.text, " AND pm.user_id = $2::uuid) AND assignee_id = $3::uuid"
                              " AND tags @> ARRAY[$4::text] AND (SELECT count(*) FROM probe)");
    assert_int_equal(occurrences(sql.text, "assignee_id ="), 2);
    task_query_clear(&q);
    /* another user's id as given */
    assert_int_equal(parse("project=" PROJECT "&assignee=" ASSIGNEE, &q, NULL), 0);
    assert_int_equal(task_query_build_project_sql(&q, q.project, OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 4);
    assert_string_equal(sql.values[2], ASSIGNEE);
    task_query_clear(&q);
}

/* assignee= without project=: the assignee's tasks in any project of the caller's, the
 * membership in the statement, no owner (a team task has none) and no owner-scoped
 * index; the assignee is the range, not a filter. */
static void sql_assigned_scope(void **state) {
    (void)state;
    task_query q;
    task_sql sql;
    assert_int_equal(parse("assignee=me", &q, NULL), 0);
    assert_int_equal(task_query_build_assigned_sql(&q, NULL, OWNER, &sql), -1);
    assert_int_equal(
        task_query_build_assigned_sql(&q, task_query_assignee_for(&q, OWNER), OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 3); /* assignee, member, limit */
    assert_string_equal(sql.values[0], OWNER);
    assert_string_equal(sql.values[1], OWNER);
    assert_string_equal(sql.values[2], "21");
    assert_contains(sql.text, " FROM tasks WHERE assignee_id = $1::uuid AND EXISTS (SELECT 1"
                              " FROM project_members pm WHERE pm.project_id = tasks.project_id"
                              " AND pm.user_id = $2::uuid) ORDER BY created_at DESC, id DESC"
                              " LIMIT $3::int");
    assert_null(strstr(sql.text, "owner_id ="));
    assert_null(strstr(sql.text, "owner_id IS"));
    assert_null(strstr(sql.text, "task_owner"));
    assert_null(strstr(sql.text, "probe"));
    assert_null(strstr(sql.text, OWNER));
    task_query_clear(&q);

    /* filters: the probe and the second branch, both with the exact tests only */
    assert_int_equal(parse("assignee=" ASSIGNEE "&status=todo&tag=t&q=w&sort=priority", &q, NULL),
                     0);
    assert_int_equal(
        task_query_build_assigned_sql(&q, task_query_assignee_for(&q, OWNER), OWNER, &sql), 0);
    assert_int_equal(sql.nparams, 6); /* assignee, member, status, tag, q, limit */
    assert_string_equal(sql.values[0], ASSIGNEE);
    assert_string_equal(sql.values[1], OWNER);
    assert_null(strstr(sql.text, "owner_id ="));
    assert_null(strstr(sql.text, "owner_id IS"));
    assert_null(strstr(sql.text, "task_owner"));
    assert_null(strstr(sql.text, ASSIGNEE));
    assert_int_equal(occurrences(sql.text, "WHERE assignee_id = $1::uuid AND EXISTS (SELECT 1"
                                           " FROM project_members pm WHERE pm.project_id ="
                                           " tasks.project_id AND pm.user_id = $2::uuid)"
                                           " ORDER BY priority_rank ASC, id ASC"),
                     1);
    assert_int_equal(occurrences(sql.text,
                                 " AND status IN ($3::text) AND tags @> ARRAY[$4::text]"
                                 " AND search @@ websearch_to_tsquery('simple', $5::text)"),
                     2);
    assert_int_equal(occurrences(sql.text, "assignee_id ="), 2); /* the range of each branch */
    assert_int_equal(occurrences(sql.text, "AND assignee_id"), 0);
    task_query_clear(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(project_scope),
        cmocka_unit_test(assignee_parsing),
        cmocka_unit_test(assignee_filter_hash),
        cmocka_unit_test(cursor_with_other_assignee_is_refused),
        cmocka_unit_test(sql_assignee_filters_the_inbox),
        cmocka_unit_test(sql_assignee_filters_a_project),
        cmocka_unit_test(sql_assigned_scope),
        cmocka_unit_test(status_and_priority),
        cmocka_unit_test(tags),
        cmocka_unit_test(due_bounds),
        cmocka_unit_test(text_search),
        cmocka_unit_test(sort_and_limit),
        cmocka_unit_test(unknown_and_malformed),
        cmocka_unit_test(cursor_round_trip),
        cmocka_unit_test(tampered_cursor_is_refused),
        cmocka_unit_test(cursor_with_other_filters_is_refused),
        cmocka_unit_test(hashes),
        cmocka_unit_test(sql_has_parameters_only),
        cmocka_unit_test(sql_order_and_keyset_per_sort),
        cmocka_unit_test(sql_filtered_page_probes_then_falls_back),
        cmocka_unit_test(sql_filters_folded_into_the_range),
        cmocka_unit_test(sql_largest_query_fits),
        cmocka_unit_test(sql_largest_query_fits_in_every_scope),
        cmocka_unit_test(timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
