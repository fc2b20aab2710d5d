/*
 * fuzz_cursor.c: libFuzzer target for the list query of GET /api/v1/tasks and its opaque
 * cursor (api/task_query.c): the query-string parser, the cursor decoder (MAC, base64url,
 * payload fields), the SQL builder and the timestamp parser.
 *
 * Input: line 1 a query string without a cursor (sort and filters); line 2 the cursor:
 * text starting with '{' is a payload this target signs with the MAC the server uses (so
 * the fuzzer reaches the field checks behind the MAC), anything else is tried as it is.
 * Invariants: a decoded cursor is present, carries a valid id and a key in range for the
 * sort; encoding it again and decoding gives the same position; a cursor refused by the
 * decoder is refused by the query parser too, with a printable message; every valid
 * query builds its SQL; a parsed timestamp formats and parses back to itself.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/task_query.h"
#include "fuzz_util.h"

#define FUZZ_OWNER "01950000-0000-7000-8000-0000000000aa"
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) {
        abort();
    }
    return 0;
}

/* A cursor the server would have written for this payload (NULL when it is too long to
 * be one: the decoder then sees the text as it is). */
static char *sign_payload(const char *payload, size_t len) {
    char *out = malloc(TASK_CURSOR_MAX);
    FUZZ_CHECK(out != NULL);
    if (task_cursor_seal(payload, len, FUZZ_KEY, sizeof FUZZ_KEY, out, TASK_CURSOR_MAX) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void check_timestamp(const char *text) {
    long long us, again;
    if (task_query_parse_rfc3339(text, &us) != 0) {
        return;
    }
    char pg[40];
    FUZZ_CHECK(task_query_format_timestamp(us, pg, sizeof pg) == 0);
    /* "YYYY-MM-DD HH:MM:SS.ffffff+00" back into RFC 3339 */
    char rfc[48];
    FUZZ_CHECK(strlen(pg) == 29);
    snprintf(rfc, sizeof rfc, "%.10sT%.15sZ", pg, pg + 11);
    FUZZ_CHECK(task_query_parse_rfc3339(rfc, &again) == 0);
    FUZZ_CHECK(again == us);
}

static void check_sql(const task_query *q) {
    task_sql *sql = malloc(sizeof *sql);
    FUZZ_CHECK(sql != NULL);
    FUZZ_CHECK(task_query_build_sql(q, FUZZ_OWNER, sql) == 0);
    FUZZ_CHECK(sql->nparams >= 1 && sql->nparams <= TASK_SQL_MAX_PARAMS);
    for (int i = 0; i < sql->nparams; i++) {
        FUZZ_CHECK(sql->values[i] != NULL);
    }
    free(sql);
    char hash[TASK_QUERY_HASH_HEX];
    task_query_filter_hash(q, hash);
    FUZZ_CHECK(strlen(hash) == TASK_QUERY_HASH_HEX - 1);
    task_query_page_hash(q, hash);
    FUZZ_CHECK(strlen(hash) == TASK_QUERY_HASH_HEX - 1);
}

/* A decoded position is well-formed, and survives an encode/decode round trip. */
static void check_position(const task_query *q, const task_cursor *pos) {
    FUZZ_CHECK(pos->present);
    FUZZ_CHECK(uuid_is_valid(pos->id));
    if (pos->key_null) {
        FUZZ_CHECK(q->sort == TASK_SORT_DUE_AT);
    } else if (q->sort == TASK_SORT_PRIORITY) {
        FUZZ_CHECK(pos->key >= 0 && pos->key <= 3);
    } else {
        char text[40];
        FUZZ_CHECK(task_query_format_timestamp(pos->key, text, sizeof text) == 0);
    }
    char encoded[TASK_CURSOR_MAX];
    FUZZ_CHECK(task_cursor_encode(q, pos, FUZZ_KEY, sizeof FUZZ_KEY, encoded, sizeof encoded) == 0);
    task_cursor again;
    char err[128];
    FUZZ_CHECK(task_cursor_decode(q, encoded, FUZZ_KEY, sizeof FUZZ_KEY, &again, err, sizeof err) ==
               0);
    FUZZ_CHECK(again.present == pos->present && again.key_null == pos->key_null &&
               again.key == pos->key && strcmp(again.id, pos->id) == 0);
}

/* The decoder on its own, then the same cursor through the query parser. */
static void check_cursor(const char *qs, const task_query *q, const char *cursor) {
    task_cursor pos;
    char err[128] = "";
    memset(&pos, 0, sizeof pos);
    int rc = task_cursor_decode(q, cursor, FUZZ_KEY, sizeof FUZZ_KEY, &pos, err, sizeof err);
    if (rc == 0) {
        check_position(q, &pos);
    } else {
        FUZZ_CHECK(rc == -1 && err[0] != '\0' && fuzz_printable(err));
    }

    size_t need = strlen(qs) + strlen(cursor) + 16;
    char *full = malloc(need);
    FUZZ_CHECK(full != NULL);
    snprintf(full, need, "%s%scursor=%s", qs, qs[0] != '\0' ? "&" : "", cursor);
    json_t *errors = json_array();
    FUZZ_CHECK(errors != NULL);
    task_query with;
    int n = task_query_parse(full, FUZZ_KEY, sizeof FUZZ_KEY, &with, errors);
    FUZZ_CHECK(n == (int)json_array_size(errors));
    /* For a cursor the server could have written (its alphabet, nothing the query string
     * decodes or splits, shorter than TASK_CURSOR_MAX) and a query without one already,
     * the parser and the decoder agree. */
    static const char ALPHABET[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    if (!q->after.present && strlen(cursor) < TASK_CURSOR_MAX &&
        strspn(cursor, ALPHABET) == strlen(cursor)) {
        FUZZ_CHECK((rc == 0) == (n == 0));
    }
    if (n == 0) {
        FUZZ_CHECK(with.after.present);
        check_position(&with, &with.after);
        check_sql(&with);
    }
    task_query_clear(&with);
    json_decref(errors);
    free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *qs = fuzz_take_line(&in, NULL);
    size_t clen;
    char *cursor_line = fuzz_take_rest(&in, &clen);
    check_timestamp(qs);
    check_timestamp(cursor_line);

    json_t *errors = json_array();
    FUZZ_CHECK(errors != NULL);
    task_query q;
    int n = task_query_parse(qs, FUZZ_KEY, sizeof FUZZ_KEY, &q, errors);
    FUZZ_CHECK(n == (int)json_array_size(errors));
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const char *msg = json_string_value(json_object_get(json_array_get(errors, i), "message"));
        FUZZ_CHECK(msg != NULL && fuzz_printable(msg));
    }
    if (n == 0) {
        check_sql(&q);
        char *cursor = cursor_line[0] == '{' ? sign_payload(cursor_line, clen) : NULL;
        check_cursor(qs, &q, cursor != NULL ? cursor : cursor_line);
        free(cursor);
    }
    task_query_clear(&q);
    json_decref(errors);
    free(cursor_line);
    free(qs);
    return 0;
}
