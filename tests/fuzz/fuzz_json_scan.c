/*
 * fuzz_json_scan.c: libFuzzer target for the one-pass member reader of the task-events
 * consumers (shared/json_scan.c), checked against jansson.
 *
 * Input: the whole input is the document (NULs and bad UTF-8 included); the wanted
 * members are a CloudEvent's (id, type, time, data, and user_id, id, title, created_at
 * inside data).
 * Invariants: the scan never reads past the input or writes past its buffer (ASan); when
 * it accepts, jansson accepts the document too (unless jansson only refuses a number too
 * big for its integer or double, which Postgres stores) and every wanted member agrees
 * with jansson's tree: present or absent, its type, a string's decoded bytes, and the raw
 * span reads back as the same value; a wanted key twice is refused; a decoded string
 * holds no NUL.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "shared/json_scan.h"

enum { F_ID, F_TYPE, F_TIME, F_DATA, F_USER, F_TASK, F_TITLE, F_CREATED, NF };

static const json_scan_field FIELDS[NF] = {
    [F_ID] = {.key = "id", .parent = -1},
    [F_TYPE] = {.key = "type", .parent = -1},
    [F_TIME] = {.key = "time", .parent = -1},
    [F_DATA] = {.key = "data", .parent = -1},
    [F_USER] = {.key = "user_id", .parent = F_DATA},
    [F_TASK] = {.key = "id", .parent = F_DATA},
    [F_TITLE] = {.key = "title", .parent = F_DATA},
    [F_CREATED] = {.key = "created_at", .parent = F_DATA},
};

static json_type type_of(json_scan_type t) {
    switch (t) {
    case JSON_SCAN_NULL:
        return JSON_NULL;
    case JSON_SCAN_FALSE:
        return JSON_FALSE;
    case JSON_SCAN_TRUE:
        return JSON_TRUE;
    case JSON_SCAN_STRING:
        return JSON_STRING;
    case JSON_SCAN_ARRAY:
        return JSON_ARRAY;
    case JSON_SCAN_OBJECT:
        return JSON_OBJECT;
    default:
        return JSON_INTEGER; /* numbers: integer or real, checked apart */
    }
}

/* Whether jansson refused only a number it cannot hold (Postgres' numeric can). */
static bool number_overflow(const json_error_t *jerr) {
    return strstr(jerr->text, "too big") != NULL || strstr(jerr->text, "overflow") != NULL;
}

static void check_field(const json_scan_field *f, json_t *value) {
    if (f->type == JSON_SCAN_ABSENT) {
        FUZZ_CHECK(value == NULL);
        return;
    }
    FUZZ_CHECK(value != NULL);
    if (f->type == JSON_SCAN_NUMBER) {
        FUZZ_CHECK(json_is_number(value));
    } else {
        FUZZ_CHECK(json_typeof(value) == type_of(f->type));
    }
    if (f->type == JSON_SCAN_STRING) {
        FUZZ_CHECK(f->str != NULL && f->str[f->str_len] == '\0');
        FUZZ_CHECK(strlen(f->str) == f->str_len);
        FUZZ_CHECK(json_string_length(value) == f->str_len);
        FUZZ_CHECK(memcmp(json_string_value(value), f->str, f->str_len) == 0);
    }
    json_error_t jerr;
    json_t *again = json_loadb(f->raw, f->raw_len, JSON_DECODE_ANY, &jerr);
    FUZZ_CHECK(again != NULL || f->type == JSON_SCAN_NUMBER || f->type == JSON_SCAN_ARRAY ||
               f->type == JSON_SCAN_OBJECT); /* a span may hold a number jansson cannot */
    if (again != NULL) {
        FUZZ_CHECK(json_equal(again, value));
    }
    json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size > 0 ? size : 1);
    char *buf = malloc(json_scan_buffer_size(size));
    FUZZ_CHECK(text != NULL && buf != NULL);
    if (size > 0) {
        memcpy(text, data, size);
    }
    json_scan_field f[NF];
    memcpy(f, FIELDS, sizeof f);
    int rc = json_scan(text, size, f, NF, buf, json_scan_buffer_size(size));
    if (rc == 0) {
        json_error_t jerr;
        json_t *doc = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL) {
            /* Refused for a repeated key that nobody wants, or a number out of its range. */
            json_t *loose = json_loadb(text, size, 0, &jerr);
            FUZZ_CHECK(loose != NULL || number_overflow(&jerr));
            doc = loose;
        }
        if (doc != NULL) {
            FUZZ_CHECK(json_is_object(doc));
            json_t *d = json_object_get(doc, "data");
            json_t *want[NF] = {
                json_object_get(doc, "id"),
                json_object_get(doc, "type"),
                json_object_get(doc, "time"),
                d,
                json_is_object(d) ? json_object_get(d, "user_id") : NULL,
                json_is_object(d) ? json_object_get(d, "id") : NULL,
                json_is_object(d) ? json_object_get(d, "title") : NULL,
                json_is_object(d) ? json_object_get(d, "created_at") : NULL,
            };
            for (int i = 0; i < NF; i++) {
                check_field(&f[i], want[i]);
            }
            json_decref(doc);
        }
    }
    free(buf);
    free(text);
    return 0;
}
