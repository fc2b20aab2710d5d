/*
 * test_json_bundle.c: inlining a document's file references (shared/json_bundle.c).
 *
 * Covers: a file reference replaced by the file (nested files relative to the file that
 * names them), an inlined file's local references rebased into the bundle and its $id made
 * a $comment, the root's local references kept, a missing root (missing set) and every
 * refusal: a missing file, a reference leaving the root folder, a fragment, a sibling
 * keyword, a cycle, invalid JSON. Each case writes its files under a fresh mkdtemp folder.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/json_bundle.h"

typedef struct tree {
    char root[64];
    char files[8][PATH_MAX];
    int nfiles;
} tree;

static void put(tree *t, const char *rel, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    char *slash = strrchr(path, '/');
    if (slash > path + strlen(t->root)) {
        *slash = '\0';
        mkdir(path, 0700); /* one level of sub-folder is all the cases need */
        *slash = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    snprintf(t->files[t->nfiles++], PATH_MAX, "%s", path);
}

static void tree_new(tree *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/taskbus-bundle-XXXXXX");
    assert_non_null(mkdtemp(t->root));
}

static void tree_free(tree *t) {
    for (int i = t->nfiles - 1; i >= 0; i--) {
        unlink(t->files[i]);
    }
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/events", t->root);
    rmdir(sub);
    rmdir(t->root);
}

static json_t *bundle(tree *t, const char *name, int *missing, char *err, size_t errlen) {
    return json_bundle_load(t->root, name, missing, err, errlen);
}

static void test_inlines_and_rebases(void **state) {
    (void)state;
    tree t;
    tree_new(&t);
    put(&t, "doc.json",
        "{\"components\":{\"schemas\":{\"cmd\":{\"$ref\":\"events/cmd.json\"},"
        "\"a/b\":{\"$ref\":\"events/cmd.json\"}}},"
        "\"msg\":{\"$ref\":\"#/components/schemas/cmd\"},\"list\":[{\"$ref\":\"leaf.json\"}]}");
    put(&t, "events/cmd.json",
        "{\"$id\":\"https://x.example/cmd.json\",\"$defs\":{\"task\":{\"type\":\"object\"}},"
        "\"properties\":{\"task\":{\"$ref\":\"#/$defs/task\"},\"leaf\":{\"$ref\":\"../"
        "leaf.json\"}}}");
    put(&t, "leaf.json", "{\"type\":\"string\",\"self\":{\"$ref\":\"#\"}}");
    char err[256] = "";
    int missing = -1;
    json_t *doc = bundle(&t, "doc.json", &missing, err, sizeof err);
    assert_non_null(doc);
    assert_int_equal(missing, 0);
    json_t *cmd =
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "cmd");
    assert_null(json_object_get(cmd, "$id"));
    assert_string_equal(json_string_value(json_object_get(cmd, "$comment")),
                        "bundled from events/cmd.json; $id https://x.example/cmd.json");
    json_t *props = json_object_get(cmd, "properties");
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "task"), "$ref")),
                        "#/components/schemas/cmd/$defs/task");
    json_t *leaf = json_object_get(props, "leaf");
    assert_string_equal(json_string_value(json_object_get(leaf, "type")), "string");
    assert_string_equal(json_string_value(json_object_get(json_object_get(leaf, "self"), "$ref")),
                        "#/components/schemas/cmd/properties/leaf");
    /* A key with a '/' is escaped as ~1 in the pointer. */
    json_t *ab =
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "a/b");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(ab, "properties"), "task"), "$ref")),
                        "#/components/schemas/a~1b/$defs/task");
    /* The root document's own local reference stays. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "msg"), "$ref")),
                        "#/components/schemas/cmd");
    json_t *item = json_array_get(json_object_get(doc, "list"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(item, "self"), "$ref")),
                        "#/list/0");
    json_decref(doc);
    tree_free(&t);
}

static void assert_refused(const char *doc_text, const char *other_name, const char *other_text,
                           const char *needle) {
    tree t;
    tree_new(&t);
    put(&t, "doc.json", doc_text);
    if (other_name != NULL) {
        put(&t, other_name, other_text);
    }
    char err[512] = "";
    int missing = -1;
    json_t *doc = bundle(&t, "doc.json", &missing, err, sizeof err);
    assert_null(doc);
    assert_int_equal(missing, 0);
    if (strstr(err, needle) == NULL) {
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    }
    tree_free(&t);
}

static void test_refusals(void **state) {
    (void)state;
    assert_refused("{\"a\":{\"$ref\":\"nope.json\"}}", NULL, NULL, "No such file");
    assert_refused("{\"a\":{\"$ref\":\"../../etc/passwd\"}}", NULL, NULL, "leaves");
    assert_refused("{\"a\":{\"$ref\":\"/etc/hostname\"}}", NULL, NULL, "relative file");
    assert_refused("{\"a\":{\"$ref\":\"b.json#/x\"}}", "b.json", "{\"x\":1}", "relative file");
    assert_refused("{\"a\":{\"$ref\":\"https://x.example/b.json\"}}", NULL, NULL, "relative file");
    assert_refused("{\"a\":{\"$ref\":\"b.json\",\"description\":\"x\"}}", "b.json", "{}",
                   "stand alone");
    assert_refused("{\"a\":{\"$ref\":\"b.json\"}}", "b.json", "{\"b\":{\"$ref\":\"b.json\"}}",
                   "nest deeper");
    assert_refused("{\"a\":{\"$ref\":\"b.json\"}}", "b.json", "{\"b\":", "b.json: line");
    assert_refused("{\"a\":1,\"a\":2}", NULL, NULL, "duplicate");
}

static void test_missing_root(void **state) {
    (void)state;
    tree t;
    tree_new(&t);
    char err[256] = "";
    int missing = 0;
    assert_null(bundle(&t, "absent.json", &missing, err, sizeof err));
    assert_int_equal(missing, 1);
    missing = 0;
    assert_null(
        json_bundle_load("/nonexistent-taskbus-folder", "x.json", &missing, err, sizeof err));
    assert_int_equal(missing, 1);
    tree_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inlines_and_rebases),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_missing_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
