/*
 * json_bundle.c: inlining a JSON document's file references (see json_bundle.h).
 *
 * Owns: the walk that replaces each external "$ref" by its file's document and rewrites
 * the local references of an inlined file into bundle pointers. Rules: every node the walk
 * returns is a new reference (the unchanged node is increfed), so the caller's document
 * and the files' documents are released the same way on success and on error; the
 * pointer being built (where the walk is in the bundle) is one strbuf, cut back after each
 * child.
 */
#define _DEFAULT_SOURCE /* realpath */
#include "shared/json_bundle.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/strbuf.h"

typedef struct bundler {
    char root[PATH_MAX];
    size_t root_len;
    strbuf where; /* the JSON Pointer of the node being walked, as a URI fragment */
    char *err;
    size_t errlen;
} bundler;

/* base: the pointer where the file being walked was inlined, NULL in the root document. */
static json_t *expand(bundler *b, json_t *node, const char *dir, const char *base, int depth);

/* True for the bytes a URI fragment may hold as they are (RFC 3986 pchar, '/' and '?'). */
static bool fragment_safe(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@/?", c) != NULL;
}

/* Appends "/" and key as a JSON Pointer token (~0, ~1) in a URI fragment (percent-encoded). */
static void where_push(strbuf *w, const char *key) {
    strbuf_puts(w, "/");
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        char enc[4];
        if (*p == '~') {
            strbuf_puts(w, "~0");
        } else if (*p == '/') {
            strbuf_puts(w, "~1");
        } else if (fragment_safe(*p)) {
            strbuf_append(w, (const char *)p, 1);
        } else {
            snprintf(enc, sizeof enc, "%%%02X", *p);
            strbuf_puts(w, enc);
        }
    }
}

static void where_cut(strbuf *w, size_t len) {
    if (!w->failed && w->data != NULL) {
        w->len = len;
        w->data[len] = '\0';
    }
}

static const char *where_text(const bundler *b) {
    return b->where.data != NULL ? b->where.data : "";
}

/* The real path of ref relative to dir into out; -1 with err when it cannot be resolved or
 * leaves the root folder. */
static int resolve(bundler *b, const char *dir, const char *ref, char out[PATH_MAX]) {
    if (strchr(ref, '#') != NULL || ref[0] == '/' || strstr(ref, "://") != NULL) {
        errbuf_setf(b->err, b->errlen, "%s: $ref \"%s\": only a relative file, whole, is inlined",
                    where_text(b), ref);
        return -1;
    }
    char joined[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", dir, ref);
    if (n < 0 || (size_t)n >= sizeof joined) {
        errbuf_setf(b->err, b->errlen, "%s: $ref \"%s\": path too long", where_text(b), ref);
        return -1;
    }
    if (realpath(joined, out) == NULL) {
        errbuf_setf(b->err, b->errlen, "%s: $ref \"%s\": %s", where_text(b), ref, strerror(errno));
        return -1;
    }
    if (strncmp(out, b->root, b->root_len) != 0 || out[b->root_len] != '/') {
        errbuf_setf(b->err, b->errlen, "%s: $ref \"%s\" leaves %s", where_text(b), ref, b->root);
        return -1;
    }
    return 0;
}

static json_t *load(bundler *b, const char *path) {
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        errbuf_setf(b->err, b->errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
    }
    return doc;
}

/* The folder of path (a real path, so it has a '/'). */
static void dir_of(const char *path, char out[PATH_MAX]) {
    snprintf(out, PATH_MAX, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash == out) {
        slash[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    }
}

/* The document of the file ref names, walked as an inlined file (new reference), or NULL. */
static json_t *inline_file(bundler *b, const char *dir, const char *ref, int depth) {
    if (depth > JSON_BUNDLE_MAX_DEPTH) {
        errbuf_setf(b->err, b->errlen, "%s: $ref \"%s\": files nest deeper than %d (a cycle?)",
                    where_text(b), ref, JSON_BUNDLE_MAX_DEPTH);
        return NULL;
    }
    char path[PATH_MAX];
    char file_dir[PATH_MAX];
    if (resolve(b, dir, ref, path) != 0) {
        return NULL;
    }
    json_t *doc = load(b, path);
    if (doc == NULL) {
        return NULL;
    }
    const char *id = json_string_value(json_object_get(doc, "$id"));
    if (id != NULL) {
        char note[PATH_MAX + 512];
        snprintf(note, sizeof note, "bundled from %s; $id %s", path + b->root_len + 1, id);
        json_t *comment = json_string(note);
        if (comment == NULL || json_object_set_new(doc, "$comment", comment) != 0 ||
            json_object_del(doc, "$id") != 0) {
            errbuf_setf(b->err, b->errlen, "%s: out of memory", path);
            json_decref(doc);
            return NULL;
        }
    }
    dir_of(path, file_dir);
    char *base = strdup(where_text(b)); /* where the file goes: its local references' root */
    json_t *out = base != NULL ? expand(b, doc, file_dir, base, depth) : NULL;
    if (base == NULL) {
        errbuf_setf(b->err, b->errlen, "%s: out of memory", path);
    }
    free(base);
    json_decref(doc);
    return out;
}

/* A local reference "#..." of the file inlined at base, made to point into the bundle. */
static int rebase_local(bundler *b, json_t *node, const char *base, const char *ref) {
    strbuf s = {0};
    strbuf_puts(&s, "#");
    strbuf_puts(&s, base);
    strbuf_puts(&s, ref + 1);
    json_t *value = s.failed ? NULL : json_string(s.data);
    free(s.data);
    if (value == NULL || json_object_set_new(node, "$ref", value) != 0) {
        errbuf_setf(b->err, b->errlen, "%s: could not rewrite $ref \"%s\"", where_text(b), ref);
        return -1;
    }
    return 0;
}

static json_t *expand_object(bundler *b, json_t *node, const char *dir, const char *base,
                             int depth) {
    const char *ref = json_string_value(json_object_get(node, "$ref"));
    if (ref != NULL && ref[0] != '#') {
        if (json_object_size(node) != 1) {
            errbuf_setf(b->err, b->errlen, "%s: an external $ref (\"%s\") must stand alone",
                        where_text(b), ref);
            return NULL;
        }
        return inline_file(b, dir, ref, depth + 1);
    }
    if (ref != NULL && base != NULL && rebase_local(b, node, base, ref) != 0) {
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(node, key, value) {
        size_t len = b->where.len;
        where_push(&b->where, key);
        json_t *child = b->where.failed ? NULL : expand(b, value, dir, base, depth);
        where_cut(&b->where, len);
        if (child == NULL) {
            return NULL;
        }
        /* Replacing the value of an existing key keeps the iteration valid. */
        int rc = child != value ? json_object_set(node, key, child) : 0;
        json_decref(child);
        if (rc != 0) {
            errbuf_setf(b->err, b->errlen, "%s: out of memory", where_text(b));
            return NULL;
        }
    }
    return json_incref(node);
}

static json_t *expand_array(bundler *b, json_t *node, const char *dir, const char *base,
                            int depth) {
    size_t i;
    json_t *value;
    json_array_foreach(node, i, value) {
        char index[24];
        snprintf(index, sizeof index, "%zu", i);
        size_t len = b->where.len;
        where_push(&b->where, index);
        json_t *child = b->where.failed ? NULL : expand(b, value, dir, base, depth);
        where_cut(&b->where, len);
        if (child == NULL) {
            return NULL;
        }
        int rc = child != value ? json_array_set(node, i, child) : 0;
        json_decref(child);
        if (rc != 0) {
            errbuf_setf(b->err, b->errlen, "%s: out of memory", where_text(b));
            return NULL;
        }
    }
    return json_incref(node);
}

static json_t *expand(bundler *b, json_t *node, const char *dir, const char *base, int depth) {
    if (b->where.failed) {
        errbuf_setf(b->err, b->errlen, "out of memory");
        return NULL;
    }
    if (json_is_object(node)) {
        return expand_object(b, node, dir, base, depth);
    }
    if (json_is_array(node)) {
        return expand_array(b, node, dir, base, depth);
    }
    return json_incref(node);
}

json_t *json_bundle_load(const char *root_dir, const char *name, int *missing, char *err,
                         size_t errlen) {
    if (missing != NULL) {
        *missing = 0;
    }
    bundler *b = calloc(1, sizeof *b);
    if (b == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    b->err = err;
    b->errlen = errlen;
    json_t *out = NULL;
    char path[PATH_MAX];
    char dir[PATH_MAX];
    if (realpath(root_dir, b->root) == NULL) {
        errbuf_setf(err, errlen, "%s: %s", root_dir, strerror(errno));
        if (missing != NULL) {
            *missing = errno == ENOENT;
        }
    } else if ((b->root_len = strlen(b->root)) == 1) {
        errbuf_setf(err, errlen, "the root folder may not be /");
    } else if (resolve(b, b->root, name, path) == 0) {
        json_t *doc = load(b, path);
        if (doc != NULL) {
            dir_of(path, dir);
            out = expand(b, doc, dir, NULL, 0);
            json_decref(doc);
        }
    } else if (missing != NULL) {
        char joined[PATH_MAX];
        int n = snprintf(joined, sizeof joined, "%s/%s", b->root, name);
        *missing =
            n > 0 && (size_t)n < sizeof joined && realpath(joined, path) == NULL && errno == ENOENT;
    }
    free(b->where.data);
    free(b);
    return out;
}
