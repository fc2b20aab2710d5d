/*
 * mail_token.c: single-use e-mail tokens (see mail_token.h).
 *
 * Owns: generating, hashing and recognising them. Rules: the random bytes are wiped once
 * encoded; libsodium must be initialised (taskbus-api and taskbus-notifier do it at start).
 */
#include "shared/mail_token.h"

#include <sodium.h>
#include <string.h>

#define MAIL_TOKEN_BYTES 32

_Static_assert(MAIL_TOKEN_BUF ==
                   sodium_base64_ENCODED_LEN(MAIL_TOKEN_BYTES,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "43 base64url characters and the NUL hold 32 bytes");

void mail_token_hash(const char *token, char hash_hex[MAIL_TOKEN_HASH_HEX_BUF]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hash_hex, MAIL_TOKEN_HASH_HEX_BUF, digest, sizeof digest);
}

void mail_token_new(char token[MAIL_TOKEN_BUF], char hash_hex[MAIL_TOKEN_HASH_HEX_BUF]) {
    unsigned char raw[MAIL_TOKEN_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, MAIL_TOKEN_BUF, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    mail_token_hash(token, hash_hex);
}

bool mail_token_well_formed(const char *token) {
    if (token == NULL || strlen(token) != MAIL_TOKEN_CHARS)
        return false;
    for (const char *p = token; *p != '\0'; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}
