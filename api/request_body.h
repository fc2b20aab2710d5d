/*
 * request_body.h: the checks every JSON request body passes before a handler sees it.
 *
 * Owns: the size limit (413), the media type (415) and the parse into a JSON object
 * (400). Rules: pure functions over bytes and header values, no ulfius, no answering: the
 * dispatcher (router.c) turns a verdict into the problem response. Nesting is bounded by
 * REQUEST_BODY_MAX_DEPTH and checked on the raw bytes BEFORE jansson parses, because
 * jansson's parser recurses and a connection thread's stack is small.
 */
#ifndef TASKBUS_API_REQUEST_BODY_H
#define TASKBUS_API_REQUEST_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define REQUEST_BODY_MAX_DEPTH 32

typedef enum {
    BODY_OK = 0,
    BODY_TOO_LARGE = 413,         /* payload-too-large */
    BODY_UNSUPPORTED_MEDIA = 415, /* unsupported-media-type */
    BODY_MALFORMED = 400,         /* malformed-json */
} body_verdict;

/* 413 when the declared Content-Length (may be NULL) or the received byte count exceeds
 * limit. A Content-Length that is not a plain decimal number is ignored here (the HTTP
 * layer already refused it) and the received count decides. */
body_verdict request_body_check_size(const char *content_length, size_t received, long limit);

/* True for "application/json" in any case, with optional parameters; a charset parameter
 * must name UTF-8. */
bool request_body_is_json_type(const char *content_type);

/* The deepest nesting of arrays and objects in data, counted outside strings; stops
 * counting once the depth passes limit (then returns limit + 1). */
int request_body_json_depth(const char *data, size_t len, int limit);
/* The number of elements of the top-level JSON array in data, counted from its commas
 * without parsing (meaningful only for text that then parses), once it passes stop_after
 * any larger number: a body of millions of tiny items is refused before it is built. */
size_t request_body_json_top_items(const char *data, size_t len, size_t stop_after);
/* Parses any JSON document nested at most max_depth deep (duplicate members refused).
 * The document (caller decrefs), or NULL with a printable reason in detail. */
json_t *request_body_load_json(const char *data, size_t len, int max_depth, char *detail,
                               size_t detaillen);
/* Replaces bytes outside printable ASCII with '?': jansson quotes the offending token,
 * which may hold any byte, and a detail goes into a JSON string and a log line. */
void request_body_printable(char *text);

/* Parses data as one JSON object. On BODY_OK *out is a new reference; otherwise *out is
 * NULL and detail says why (for the problem's detail). */
body_verdict request_body_parse_object(const void *data, size_t len, json_t **out, char *detail,
                                       size_t detaillen);

#endif
