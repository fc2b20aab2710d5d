/*
 * api_token_format.c: the text of a personal API token (see api_token_format.h).
 *
 * Rules: libsodium must be initialised (api/main.c does it before serving); the random
 * bytes are wiped once encoded.
 */
#include "api/api_token_format.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "shared/hex.h"

#define PREFIX_LEN (sizeof API_TOKEN_PREFIX - 1)
#define ID_BYTES 16
#define SECRET_BYTES 32
#define BODY_BYTES (ID_BYTES + SECRET_BYTES)
#define BODY_CHARS (API_TOKEN_CHARS - PREFIX_LEN)

_Static_assert(BODY_CHARS + 1 ==
                   sodium_base64_ENCODED_LEN(BODY_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "64 base64url characters hold the id and the secret");

bool api_token_looks_like(const char *bearer) {
    return bearer != NULL && strncmp(bearer, API_TOKEN_PREFIX, PREFIX_LEN) == 0;
}

/* The 16 bytes of a UUID's text. 0, or -1. */
static int uuid_bytes(const char *text, unsigned char out[ID_BYTES]) {
    if (!uuid_is_valid(text))
        return -1;
    size_t n = 0;
    for (const char *p = text; *p != '\0' && n < ID_BYTES; p++) {
        if (*p == '-')
            continue;
        int hi = hex_digit_value(p[0]), lo = hex_digit_value(p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[n++] = (unsigned char)(hi << 4 | lo);
        p++;
    }
    return n == ID_BYTES ? 0 : -1;
}

static void uuid_text(const unsigned char b[ID_BYTES], char out[UUID_STR_LEN]) {
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static void hash_hex(const char *token, char out[API_TOKEN_HASH_HEX_BUF]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, API_TOKEN_HASH_HEX_BUF, digest, sizeof digest);
}

int api_token_new(const char *user_id, char token[API_TOKEN_BUF],
                  char hash[API_TOKEN_HASH_HEX_BUF]) {
    unsigned char body[BODY_BYTES];
    if (uuid_bytes(user_id, body + SECRET_BYTES) != 0)
        return -1;
    randombytes_buf(body, SECRET_BYTES);
    memcpy(token, API_TOKEN_PREFIX, PREFIX_LEN);
    sodium_bin2base64(token + PREFIX_LEN, BODY_CHARS + 1, body, sizeof body,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(body, sizeof body);
    hash_hex(token, hash);
    return 0;
}

bool api_token_parse(const char *token, char user_id[UUID_STR_LEN],
                     char hash[API_TOKEN_HASH_HEX_BUF]) {
    if (!api_token_looks_like(token) || strlen(token) != API_TOKEN_CHARS)
        return false;
    unsigned char body[BODY_BYTES];
    size_t len = 0;
    const char *end = NULL;
    if (sodium_base642bin(body, sizeof body, token + PREFIX_LEN, BODY_CHARS, NULL, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        len != BODY_BYTES || end != token + API_TOKEN_CHARS) {
        sodium_memzero(body, sizeof body);
        return false;
    }
    uuid_text(body + SECRET_BYTES, user_id);
    sodium_memzero(body, sizeof body);
    hash_hex(token, hash);
    return true;
}
