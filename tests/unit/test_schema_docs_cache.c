/*
 * test_schema_docs_cache.c: the kept answers of the schema documents
 * (api/schema_docs_cache.c).
 *
 * Covers: a document is bundled once and handed out again while the folder is unchanged
 * (the same entry, the same tag); an edit of the root document or of a file it $refs
 * rebuilds it with a new tag; the tag depends on the text only (two folders with the same
 * document agree); a missing document is 404 and one that appears later is served; a broken
 * one is 500 with its cause, logged once; a reference held across a rebuild stays valid;
 * within the recheck interval the folder is not looked at (an edit is not seen yet).
 * Each case writes its files under a fresh mkdtemp folder.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/schema_docs_cache.h"

static void put(const char *dir, const char *rel, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void drop(const char *dir, const char *rel) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    unlink(path);
}

static void make_dir(char *out, size_t len) {
    snprintf(out, len, "/tmp/test_schema_docs_XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void remove_dir(const char *dir) {
    drop(dir, "doc.json");
    drop(dir, "part.json");
    rmdir(dir);
}

static void test_built_once_then_rebuilt_on_change(void **state) {
    (void)state;
    schema_docs_cache c = SCHEMA_DOCS_CACHE_INIT(0);
    char dir[64];
    make_dir(dir, sizeof dir);
    put(dir, "doc.json", "{\"a\": {\"$ref\": \"part.json\"}}");
    put(dir, "part.json", "{\"b\": 1}");

    schema_doc *first = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(first);
    assert_int_equal(first->status, 200);
    assert_string_equal(first->text, "{\"a\":{\"b\":1}}");
    assert_int_equal(first->len, strlen(first->text));
    assert_int_equal(strlen(first->etag), 18);
    assert_int_equal(first->etag[0], '"');

    schema_doc *again = schema_docs_cache_get(&c, dir, "doc.json");
    assert_ptr_equal(again, first); /* not rebuilt */
    schema_docs_cache_release(&c, again);

    /* The referenced file changes (another size): rebuilt, new tag. first stays readable. */
    put(dir, "part.json", "{\"b\": 22}");
    schema_doc *edited = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(edited);
    assert_ptr_not_equal(edited, first);
    assert_string_equal(edited->text, "{\"a\":{\"b\":22}}");
    assert_string_not_equal(edited->etag, first->etag);
    assert_string_equal(first->text, "{\"a\":{\"b\":1}}");
    schema_docs_cache_release(&c, first);

    /* The same text in another folder: the same tag. */
    char other[64];
    make_dir(other, sizeof other);
    put(other, "doc.json", "{\"a\": {\"b\": 22}}");
    schema_doc *twin = schema_docs_cache_get(&c, other, "doc.json");
    assert_non_null(twin);
    assert_string_equal(twin->text, edited->text);
    assert_string_equal(twin->etag, edited->etag);
    schema_docs_cache_release(&c, twin);
    schema_docs_cache_release(&c, edited);

    schema_docs_cache_clear(&c);
    remove_dir(dir);
    remove_dir(other);
}

static void test_missing_then_present(void **state) {
    (void)state;
    schema_docs_cache c = SCHEMA_DOCS_CACHE_INIT(0);
    char dir[64];
    make_dir(dir, sizeof dir);
    schema_doc *doc = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(doc);
    assert_int_equal(doc->status, 404);
    assert_null(doc->text);
    schema_docs_cache_release(&c, doc);

    put(dir, "doc.json", "{\"x\": true}");
    doc = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(doc);
    assert_int_equal(doc->status, 200);
    assert_string_equal(doc->text, "{\"x\":true}");
    schema_docs_cache_release(&c, doc);

    drop(dir, "doc.json");
    doc = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(doc);
    assert_int_equal(doc->status, 404);
    schema_docs_cache_release(&c, doc);

    schema_docs_cache_clear(&c);
    remove_dir(dir);
}

static void test_broken_is_500_logged_once(void **state) {
    (void)state;
    schema_docs_cache c = SCHEMA_DOCS_CACHE_INIT(0);
    char dir[64];
    make_dir(dir, sizeof dir);
    put(dir, "doc.json", "{\"a\": {\"$ref\": \"part.json\"}}"); /* part.json is missing */
    schema_doc *doc = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(doc);
    assert_int_equal(doc->status, 500);
    assert_null(doc->text);
    assert_non_null(strstr(doc->error, "part.json"));
    assert_true(schema_docs_cache_claim_log(&c, doc));
    schema_docs_cache_release(&c, doc);

    doc = schema_docs_cache_get(&c, dir, "doc.json");
    assert_int_equal(doc->status, 500);
    assert_false(schema_docs_cache_claim_log(&c, doc)); /* the same failure: logged already */
    schema_docs_cache_release(&c, doc);

    put(dir, "doc.json", "{not json");
    doc = schema_docs_cache_get(&c, dir, "doc.json");
    assert_int_equal(doc->status, 500);
    assert_true(schema_docs_cache_claim_log(&c, doc)); /* a new failure */
    schema_docs_cache_release(&c, doc);

    schema_docs_cache_clear(&c);
    remove_dir(dir);
}

static void test_recheck_interval(void **state) {
    (void)state;
    schema_docs_cache c = SCHEMA_DOCS_CACHE_INIT(3600 * 1000);
    char dir[64];
    make_dir(dir, sizeof dir);
    put(dir, "doc.json", "{\"v\": 1}");
    schema_doc *first = schema_docs_cache_get(&c, dir, "doc.json");
    assert_non_null(first);
    put(dir, "doc.json", "{\"v\": 222}");
    schema_doc *again = schema_docs_cache_get(&c, dir, "doc.json");
    assert_ptr_equal(again, first); /* an hour's interval: not looked at */
    assert_string_equal(again->text, "{\"v\":1}");
    schema_docs_cache_release(&c, again);
    schema_docs_cache_release(&c, first);
    c.recheck_ms = 0;
    again = schema_docs_cache_get(&c, dir, "doc.json");
    assert_string_equal(again->text, "{\"v\":222}");
    schema_docs_cache_release(&c, again);
    schema_docs_cache_clear(&c);
    remove_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_built_once_then_rebuilt_on_change),
        cmocka_unit_test(test_missing_then_present),
        cmocka_unit_test(test_broken_is_500_logged_once),
        cmocka_unit_test(test_recheck_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
