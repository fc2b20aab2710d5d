/*
 * fuzz_import_parse.c: libFuzzer target for splitting a bulk import body into items
 * (api/import_parse.c), both the JSON array and the NDJSON format, and for validating
 * each item the way the import handler does.
 *
 * Input: line 1 the Content-Type, the rest the body. A type that names no import format
 * tries both formats.
 * Invariants: OK holds 1..max_items items numbered in increasing order, each with either
 * a value or a printable error (never both); an array's items are its elements in order,
 * and the pre-parse count agrees with the parsed array; anything but OK leaves no items;
 * the limit is enforced exactly (a small limit here so it is reached).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/import_parse.h"
#include "api/request_body.h"
#include "api/task_validation.h"
#include "fuzz_util.h"

#define FUZZ_IMPORT_MAX 8

static size_t count_lines(const char *data, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++) {
        n += data[i] == '\n';
    }
    return n;
}

static void check_items(import_format format, const char *body, size_t len,
                        const import_items *items) {
    FUZZ_CHECK(items->count >= 1 && items->count <= FUZZ_IMPORT_MAX);
    long last = 0;
    for (size_t i = 0; i < items->count; i++) {
        const import_item *it = &items->items[i];
        FUZZ_CHECK(it->line > last);
        last = it->line;
        FUZZ_CHECK((it->value == NULL) != (it->error[0] == '\0'));
        FUZZ_CHECK(fuzz_printable(it->error));
        if (it->value != NULL && json_is_object(it->value)) {
            json_t *errors = json_array();
            json_t *fields = NULL;
            FUZZ_CHECK(errors != NULL);
            int n = task_validate_import(it->value, &fields, errors);
            FUZZ_CHECK((n == 0) == (fields != NULL));
            json_decref(fields);
            json_decref(errors);
        }
    }
    if (format == IMPORT_FORMAT_JSON_ARRAY) {
        FUZZ_CHECK(items->items[items->count - 1].line == (long)items->count);
        FUZZ_CHECK(request_body_json_top_items(body, len, (size_t)-1 / 2) == items->count);
    } else {
        FUZZ_CHECK((size_t)last <= count_lines(body, len));
    }
}

static void check_format(import_format format, const char *body, size_t len) {
    import_items items;
    char detail[256];
    import_parse_result rc =
        import_parse(format, body, len, FUZZ_IMPORT_MAX, &items, detail, sizeof detail);
    if (rc == IMPORT_PARSE_OK) {
        check_items(format, body, len, &items);
        import_items_free(&items);
        FUZZ_CHECK(items.items == NULL && items.count == 0);
        return;
    }
    FUZZ_CHECK(rc == IMPORT_PARSE_MALFORMED || rc == IMPORT_PARSE_EMPTY ||
               rc == IMPORT_PARSE_TOO_MANY);
    FUZZ_CHECK(items.items == NULL && items.count == 0);
    FUZZ_CHECK(detail[0] != '\0' && fuzz_printable(detail));
    if (format == IMPORT_FORMAT_JSON_ARRAY && rc == IMPORT_PARSE_TOO_MANY) {
        /* Refused for its size: it must really hold more items than allowed, or not be
         * an array that parses at all. */
        json_t *doc = json_loadb(body, len, 0, NULL);
        FUZZ_CHECK(doc == NULL || !json_is_array(doc) || json_array_size(doc) > FUZZ_IMPORT_MAX);
        json_decref(doc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *content_type = fuzz_take_line(&in, NULL);
    size_t len;
    char *body = fuzz_take_rest(&in, &len);

    import_format format = import_format_from_content_type(content_type);
    if (format == IMPORT_FORMAT_UNSUPPORTED) {
        check_format(IMPORT_FORMAT_JSON_ARRAY, body, len);
        check_format(IMPORT_FORMAT_NDJSON, body, len);
    } else {
        check_format(format, body, len);
    }
    free(body);
    free(content_type);
    return 0;
}
