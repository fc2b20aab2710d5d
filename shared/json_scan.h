/*
 * json_scan.h: reading a few members of a JSON document without building a tree, for the
 * consumers of task-events (a jansson tree of every event was most of their CPU).
 *
 * Owns: one pass over the document that validates all of it and picks out the members a
 * caller asks for, by key, at the top level or inside a wanted object member (the event's
 * "data"). Rules:
 * - Strict: RFC 8259 JSON with a top-level object; UTF-8 checked (no overlong forms, no
 *   surrogates, nothing past U+10FFFF); no \u0000 and no unpaired \uD800-\uDFFF escape;
 *   nesting at most JSON_SCAN_MAX_DEPTH; a number at most JSON_SCAN_MAX_NUMBER characters
 *   with an exponent of at most 3 digits. So whatever it accepts, jansson and Postgres
 *   (json, jsonb) accept too, and a raw span can go to Postgres as it is.
 * - A wanted key present twice in one object makes the document unreadable (as
 *   JSON_REJECT_DUPLICATES would); other repeated keys are not looked at.
 * - Allocation-free: decoded strings go into the caller's buffer (json_scan_buffer_size
 *   bytes for the input), NUL-terminated; results point into it or into the input.
 */
#ifndef TASKBUS_SHARED_JSON_SCAN_H
#define TASKBUS_SHARED_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 64
#define JSON_SCAN_MAX_NUMBER 64

typedef enum {
    JSON_SCAN_ABSENT = 0,
    JSON_SCAN_NULL,
    JSON_SCAN_FALSE,
    JSON_SCAN_TRUE,
    JSON_SCAN_NUMBER,
    JSON_SCAN_STRING,
    JSON_SCAN_ARRAY,
    JSON_SCAN_OBJECT,
} json_scan_type;

/* One member the caller wants; the scan fills the results. */
typedef struct json_scan_field {
    const char *key; /* the member's name (shorter than 64 bytes) */
    int parent;      /* index (in the same array) of the object member it is in; -1: top */
    /* results */
    json_scan_type type;
    const char *raw; /* the value's text in the input (a string with its quotes) */
    size_t raw_len;
    const char *str; /* a string's decoded value, NUL-terminated; NULL for other types */
    size_t str_len;  /* its length in bytes (it holds no NUL: \u0000 is refused) */
} json_scan_field;

/* Bytes of buffer json_scan needs for an input of len bytes. */
size_t json_scan_buffer_size(size_t len);

/* Scans text[0..len) filling fields[0..nfields) (a field's parent comes before it).
 * 0 when the document is readable, else -1 (results undefined). */
int json_scan(const char *text, size_t len, json_scan_field *fields, size_t nfields, char *buffer,
              size_t buflen);

#endif
