/*
 * json_bundle.h: one self-contained JSON document from a document and the files it $refs.
 *
 * Owns: inlining the file references of a JSON document (AsyncAPI, JSON Schema) so a client
 * that fetches one URL gets everything (schemas/asyncapi.json served at /asyncapi.json).
 * Rules: a "$ref" whose value does not start with '#' names a file relative to the file that
 * holds it, and must stay inside the root folder (no "..", no symlink out); it is replaced
 * by that file's document, whole: a fragment ("x.json#/a") or a sibling keyword beside an
 * external "$ref" is refused, not guessed at. Inside an inlined file, a local reference
 * ("#/$defs/task") is rewritten to point at the same place in the bundle ("#/<where the
 * file went>/$defs/task"), and the file's "$id" becomes a "$comment" naming its source
 * file and $id: a kept "$id" would make JSON Schema tools resolve the rewritten reference
 * against that $id instead of the bundle. Files nest at most JSON_BUNDLE_MAX_DEPTH deep
 * (a cycle is refused there). Local references of the root document stay as they are.
 */
#ifndef TASKBUS_SHARED_JSON_BUNDLE_H
#define TASKBUS_SHARED_JSON_BUNDLE_H

#include <jansson.h>
#include <stddef.h>

#define JSON_BUNDLE_MAX_DEPTH 8

/* The document of <root_dir>/<name> with every file reference inlined (a new reference the
 * caller owns), or NULL with err (a missing or unreadable file, invalid JSON, a reference
 * that leaves root_dir, a fragment, a cycle). *missing is set when the root document
 * itself does not exist (the caller's 404), else cleared; missing may be NULL. */
json_t *json_bundle_load(const char *root_dir, const char *name, int *missing, char *err,
                         size_t errlen);

#endif
