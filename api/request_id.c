/*
 * request_id.c: validation and choice of the request id (see request_id.h).
 * Rules: an id that is not valid is replaced, never cleaned up, so a client cannot smuggle
 * bytes into logs or headers through it.
 */
#include "api/request_id.h"

#include <string.h>

#include "shared/uuid7.h"

static bool id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

bool request_id_is_valid(const char *text) {
    if (text == NULL) {
        return false;
    }
    size_t n = 0;
    for (; text[n] != '\0'; n++) {
        if (n >= REQUEST_ID_MAX_LEN || !id_char(text[n])) {
            return false;
        }
    }
    return n > 0;
}

void request_id_choose(const char *incoming, char out[REQUEST_ID_MAX_LEN + 1]) {
    if (request_id_is_valid(incoming)) {
        memcpy(out, incoming, strlen(incoming) + 1);
        return;
    }
    uuid7_generate(out);
}
