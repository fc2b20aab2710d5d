/*
 * fuzz_util.c: input cutting and invariant reports for the fuzz targets (see fuzz_util.h).
 */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const unsigned char FUZZ_KEY[32] = "taskbus-fuzz-key-0123456789abcde";

static char *copy_bytes(const uint8_t *data, size_t len) {
    char *out = malloc(len + 1);
    if (out == NULL) {
        fputs("fuzz: out of memory\n", stderr);
        abort();
    }
    if (len > 0) {
        memcpy(out, data, len);
    }
    out[len] = '\0';
    return out;
}

char *fuzz_take_line(fuzz_input *in, size_t *len) {
    const uint8_t *nl = in->size > 0 ? memchr(in->data, '\n', in->size) : NULL;
    size_t n = nl != NULL ? (size_t)(nl - in->data) : in->size;
    char *out = copy_bytes(in->data, n);
    size_t used = nl != NULL ? n + 1 : n;
    in->data += used;
    in->size -= used;
    if (len != NULL) {
        *len = n;
    }
    return out;
}

char *fuzz_take_rest(fuzz_input *in, size_t *len) {
    char *out = copy_bytes(in->data, in->size);
    if (len != NULL) {
        *len = in->size;
    }
    in->data += in->size;
    in->size = 0;
    return out;
}

uint8_t fuzz_take_byte(fuzz_input *in) {
    if (in->size == 0) {
        return 0;
    }
    uint8_t b = in->data[0];
    in->data++;
    in->size--;
    return b;
}

void fuzz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "fuzz: invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}

bool fuzz_printable(const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p < 0x20 || *p >= 0x7f) {
            return false;
        }
    }
    return true;
}
