/*
 * utf8.c: the one UTF-8 decoder and the character classes (see utf8.h for the rules).
 *
 * Owns: the byte table of RFC 3629 (the bounds of the second byte after 0xE0, 0xED, 0xF0
 * and 0xF4 are what exclude overlongs, surrogates and code points past U+10FFFF).
 * Rules: every other UTF-8 reader in the tree calls utf8_decode or utf8_next.
 */
#include "shared/utf8.h"

#include <string.h>

size_t utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const unsigned char *b = (const unsigned char *)s;
    if (len == 0)
        return 0;
    unsigned char c = b[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0Fu;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong 3-byte forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07u;
        lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong 4-byte forms */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing past U+10FFFF */
    } else {
        return 0; /* a continuation byte, an overlong lead 0xC0/0xC1, or 0xF5-0xFF */
    }
    if (len < n || b[1] < lo || b[1] > hi)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i] < 0x80 || b[i] > 0xBF)
            return 0;
        v = (v << 6) | (b[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

long utf8_clean_chars(const char *s, size_t len) {
    long n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp);
        if (k == 0 || utf8_is_control(cp))
            return -1;
        i += k;
    }
    return n;
}

uint32_t utf8_next(const char **p) {
    /* A NUL is never a continuation byte, so a sequence cut by the terminator is refused
     * by utf8_decode before anything past it is read: at most four bytes are looked at and
     * the first NUL among them ends the window. */
    const char *s = *p;
    size_t avail = strnlen(s, 4);
    uint32_t cp;
    size_t k = utf8_decode(s, avail, &cp);
    if (k == 0) {
        *p += 1;
        return UTF8_REPLACEMENT;
    }
    *p += k;
    return cp;
}

size_t utf8_chars(const char *text) {
    size_t n = 0;
    for (const char *p = text; p != NULL && *p != '\0'; n++)
        (void)utf8_next(&p);
    return n;
}

size_t utf8_encode(uint32_t cp, char *out) {
    unsigned char *b = (unsigned char *)out;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

bool utf8_is_control(uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

bool utf8_is_space(uint32_t cp) {
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

bool utf8_is_line_separator(uint32_t cp) {
    return cp == 0x2028 || cp == 0x2029;
}
