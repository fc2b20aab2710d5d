/*
 * fuzz_request_body.c: libFuzzer target for the checks every JSON request body passes
 * (api/request_body.c): Content-Type, Content-Length against the received size, the
 * depth scan and the parse into one object.
 *
 * Input: line 1 the Content-Type, line 2 the Content-Length, the rest the body.
 * Invariants: a body the depth scan lets through is never nested deeper than the bound
 * once parsed (jansson recurses: the scan is the stack's only guard); BODY_OK holds an
 * object and nothing else; a refusal carries a printable detail; the top-level item count
 * of a parsed array is the array's size; the received size alone decides 413 when it
 * exceeds the limit.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/request_body.h"
#include "fuzz_util.h"

#define FUZZ_BODY_LIMIT 4096L

/* The real nesting of a parsed document (arrays and objects count one level each). */
static int tree_depth(const json_t *v) {
    int deepest = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) {
            int d = tree_depth(item);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_object(v)) {
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            int d = tree_depth(item);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

static void check_headers(const char *content_type, const char *content_length, size_t received) {
    (void)request_body_is_json_type(content_type);
    body_verdict v = request_body_check_size(content_length, received, FUZZ_BODY_LIMIT);
    FUZZ_CHECK(v == BODY_OK || v == BODY_TOO_LARGE);
    if (received > (size_t)FUZZ_BODY_LIMIT) {
        FUZZ_CHECK(v == BODY_TOO_LARGE);
    }
    /* Without a declared length only the received size counts. */
    FUZZ_CHECK(request_body_check_size(NULL, received, FUZZ_BODY_LIMIT) ==
               (received > (size_t)FUZZ_BODY_LIMIT ? BODY_TOO_LARGE : BODY_OK));
}

static void check_body(const char *body, size_t len) {
    char detail[256];
    json_t *obj = NULL;
    body_verdict v = request_body_parse_object(body, len, &obj, detail, sizeof detail);
    if (v == BODY_OK) {
        FUZZ_CHECK(json_is_object(obj));
        FUZZ_CHECK(tree_depth(obj) <= REQUEST_BODY_MAX_DEPTH);
        json_decref(obj);
    } else {
        FUZZ_CHECK(v == BODY_MALFORMED && obj == NULL);
        FUZZ_CHECK(detail[0] != '\0' && fuzz_printable(detail));
    }

    /* Any document (the import's array path), one level deeper allowed. */
    json_t *doc =
        request_body_load_json(body, len, REQUEST_BODY_MAX_DEPTH + 1, detail, sizeof detail);
    if (doc == NULL) {
        FUZZ_CHECK(fuzz_printable(detail));
        return;
    }
    FUZZ_CHECK(tree_depth(doc) <= REQUEST_BODY_MAX_DEPTH + 1);
    FUZZ_CHECK(request_body_json_depth(body, len, 1000) == tree_depth(doc));
    if (json_is_array(doc)) {
        FUZZ_CHECK(request_body_json_top_items(body, len, (size_t)-1 / 2) == json_array_size(doc));
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *content_type = fuzz_take_line(&in, NULL);
    char *content_length = fuzz_take_line(&in, NULL);
    size_t len;
    char *body = fuzz_take_rest(&in, &len);

    check_headers(content_type, content_length, len);
    check_body(body, len);

    char *printable = strdup(content_type);
    FUZZ_CHECK(printable != NULL);
    request_body_printable(printable);
    FUZZ_CHECK(fuzz_printable(printable));

    free(printable);
    free(body);
    free(content_length);
    free(content_type);
    return 0;
}
