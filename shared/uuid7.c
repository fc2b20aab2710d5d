/*
 * uuid7.c: UUIDv7 (RFC 9562, method 1: fixed-length dedicated counter) and UUID text checks.
 *
 * Owns: the layout unix_ts_ms(48) | ver=7(4) | counter(12) | var=10(2) | random(62).
 * Rules: (timestamp, counter) strictly increases within the process, so ids sort in the
 * order they were made. A new millisecond seeds the counter with 11 random bits (the top
 * bit stays clear, leaving at least 2048 ids of headroom in that millisecond); when the
 * counter would pass 0xFFF, the timestamp is borrowed one millisecond forward. A clock
 * that steps back keeps using the last timestamp, so order survives NTP corrections.
 * Randomness comes from libsodium, initialised once (pthread_once).
 */
#include "shared/uuid7.h"

#include <ctype.h>

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/time_util.h"
#include "shared/hex.h"

/* Last (timestamp, counter) handed out; guarded by g_lock. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_last_ms;
static uint32_t g_counter;

static pthread_once_t g_sodium_once = PTHREAD_ONCE_INIT;

static void sodium_init_once(void) {
    if (sodium_init() < 0) {
        /* Without a CSPRNG there are no safe ids; nothing sensible can continue. */
        fputs("uuid7: sodium_init failed\n", stderr);
        abort();
    }
}

/* Picks the (timestamp, counter) pair for the next id under the lock. */
static void next_ts_counter(uint64_t unix_ms, uint16_t seed, uint64_t *ts, uint32_t *counter) {
    if (pthread_mutex_lock(&g_lock) != 0)
        abort();
    if (unix_ms > g_last_ms) {
        g_last_ms = unix_ms;
        g_counter = seed & 0x7FFu;
    } else if (g_counter >= 0xFFFu) {
        g_last_ms += 1;
        g_counter = seed & 0x7FFu;
    } else {
        g_counter += 1;
    }
    *ts = g_last_ms;
    *counter = g_counter;
    pthread_mutex_unlock(&g_lock);
}

/* The 8-4-4-4-12 lower-case text of 16 bytes. */
static void format_uuid(const unsigned char b[16], char out[UUID_STR_LEN]) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0xF];
    }
    out[o] = '\0';
}

void uuid7_generate_at(char out[UUID_STR_LEN], uint64_t unix_ms) {
    if (pthread_once(&g_sodium_once, sodium_init_once) != 0)
        abort();
    unsigned char rnd[10];
    randombytes_buf(rnd, sizeof rnd);

    uint64_t ts;
    uint32_t counter;
    next_ts_counter(unix_ms & 0xFFFFFFFFFFFFull, (uint16_t)(rnd[0] | rnd[1] << 8), &ts, &counter);

    unsigned char b[16];
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ts >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (counter >> 8));
    b[7] = (unsigned char)(counter & 0xFF);
    b[8] = (unsigned char)(0x80 | (rnd[2] & 0x3F));
    for (int i = 9; i < 16; i++)
        b[i] = rnd[i - 6];

    format_uuid(b, out);
}

void uuid7_derive(const char *from, const char *label, char out[UUID_STR_LEN]) {
    if (pthread_once(&g_sodium_once, sodium_init_once) != 0)
        abort();
    uint64_t ms = uuid7_unix_ms(from);
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)label, strlen(label));
    crypto_hash_sha256_update(&st, (const unsigned char *)":", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)from, strlen(from));
    crypto_hash_sha256_final(&st, hash);
    unsigned char b[16];
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    memcpy(b + 6, hash, 10);
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0F));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    format_uuid(b, out);
}

void uuid7_generate(char out[UUID_STR_LEN]) {
    int64_t now = time_now_unix_ms();
    uuid7_generate_at(out, now > 0 ? (uint64_t)now : 0);
}

bool uuid_is_valid(const char *text) {
    if (text == NULL)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash_pos = (i == 8 || i == 13 || i == 18 || i == 23);
        if (text[i] == '\0')
            return false;
        if (dash_pos ? text[i] != '-' : hex_digit_value(text[i]) < 0)
            return false;
    }
    return text[36] == '\0';
}

uint64_t uuid7_unix_ms(const char *text) {
    if (!uuid_is_valid(text) || text[14] != '7')
        return 0;
    int variant = hex_digit_value(text[19]);
    if ((variant & 0xC) != 0x8)
        return 0;
    uint64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (i == 8)
            continue; /* the dash between the first two groups */
        ms = ms << 4 | (uint64_t)hex_digit_value(text[i]);
    }
    return ms;
}

bool uuid_canonical(const char *text, char out[UUID_STR_LEN]) {
    if (!uuid_is_valid(text)) {
        return false;
    }
    for (size_t i = 0; i < UUID_STR_LEN; i++) {
        out[i] = (char)tolower((unsigned char)text[i]);
    }
    return true;
}
