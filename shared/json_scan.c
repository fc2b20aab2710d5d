/*
 * json_scan.c: one validating pass over a JSON document picking out wanted members (see
 * json_scan.h).
 *
 * Owns: a recursive-descent reader of RFC 8259 (depth bounded by JSON_SCAN_MAX_DEPTH, so
 * the recursion is too) and the decoding of wanted strings. Rules: every byte of the input
 * is checked whether wanted or not; a key is compared with the wanted keys of its object
 * only (decoded into a small buffer first; a longer key cannot be a wanted one). Raw
 * UTF-8 in strings is checked, and escapes encoded, by shared/utf8.h.
 */
#include "shared/json_scan.h"

#include <stdint.h>
#include <string.h>

#include "shared/utf8.h"

#define KEY_MAX 64

typedef struct scanner {
    const unsigned char *s;
    size_t len;
    size_t pos;
    int depth;
    json_scan_field *fields;
    size_t nfields;
    char *out; /* decoded strings */
    size_t outcap;
    size_t outlen;
} scanner;

/* The object a value is being read for: NO_FIELDS when no wanted member can be in it. */
#define NO_FIELDS (-2)
#define TOP (-1)

static int read_value(scanner *sc, int object_of, json_scan_field *field);

static void skip_ws(scanner *sc) {
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        sc->pos++;
    }
}

static int hex4(scanner *sc, uint32_t *out) {
    if (sc->len - sc->pos < 4) {
        return -1;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = sc->s[sc->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* Appends n bytes to the decoded string being built in dst (when there is room; *fits goes
 * false otherwise). */
static void put(char *dst, size_t cap, size_t *n, bool *fits, const void *src, size_t len) {
    if (dst == NULL || !*fits) {
        return;
    }
    if (cap - *n < len + 1) { /* + the NUL */
        *fits = false;
        return;
    }
    memcpy(dst + *n, src, len);
    *n += len;
}

/* An escape after the backslash; the code point it stands for into *cp. */
static int read_escape(scanner *sc, uint32_t *cp) {
    if (sc->pos >= sc->len) {
        return -1;
    }
    unsigned char c = sc->s[sc->pos++];
    switch (c) {
    case '"':
    case '\\':
    case '/':
        *cp = c;
        return 0;
    case 'b':
        *cp = '\b';
        return 0;
    case 'f':
        *cp = '\f';
        return 0;
    case 'n':
        *cp = '\n';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case 't':
        *cp = '\t';
        return 0;
    case 'u':
        break;
    default:
        return -1;
    }
    uint32_t u;
    if (hex4(sc, &u) != 0 || u == 0 || (u >= 0xDC00 && u <= 0xDFFF)) {
        return -1; /* \u0000 cannot be text in Postgres; a low surrogate cannot start */
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
        uint32_t low;
        if (sc->len - sc->pos < 6 || sc->s[sc->pos] != '\\' || sc->s[sc->pos + 1] != 'u') {
            return -1;
        }
        sc->pos += 2;
        if (hex4(sc, &low) != 0 || low < 0xDC00 || low > 0xDFFF) {
            return -1;
        }
        u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
    }
    *cp = u;
    return 0;
}

/* A string at the opening quote. Its decoded value goes into dst[0..cap) with a NUL when
 * dst is not NULL and it fits (*fits says whether it did). */
static int read_string(scanner *sc, char *dst, size_t cap, size_t *n, bool *fits) {
    *n = 0;
    *fits = true;
    sc->pos++; /* the quote */
    for (;;) {
        size_t run = sc->pos;
        while (sc->pos < sc->len) {
            unsigned char c = sc->s[sc->pos];
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
                break;
            }
            sc->pos++;
        }
        put(dst, cap, n, fits, sc->s + run, sc->pos - run);
        if (sc->pos >= sc->len) {
            return -1;
        }
        unsigned char c = sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            if (dst != NULL && *fits) {
                dst[*n] = '\0';
            }
            return 0;
        }
        if (c < 0x20) {
            return -1;
        }
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = utf8_decode((const char *)sc->s + sc->pos, sc->len - sc->pos, &cp);
            if (k == 0) {
                return -1;
            }
            put(dst, cap, n, fits, sc->s + sc->pos, k);
            sc->pos += k;
            continue;
        }
        sc->pos++; /* the backslash */
        uint32_t cp;
        if (read_escape(sc, &cp) != 0) {
            return -1;
        }
        char b[4];
        put(dst, cap, n, fits, b, utf8_encode(cp, b));
    }
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static size_t digits(scanner *sc) {
    size_t start = sc->pos;
    while (sc->pos < sc->len && is_digit(sc->s[sc->pos])) {
        sc->pos++;
    }
    return sc->pos - start;
}

static int read_number(scanner *sc) {
    size_t start = sc->pos;
    if (sc->s[sc->pos] == '-') {
        sc->pos++;
    }
    if (sc->pos >= sc->len) {
        return -1;
    }
    if (sc->s[sc->pos] == '0') {
        sc->pos++;
    } else if (digits(sc) == 0) {
        return -1;
    }
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        if (digits(sc) == 0) {
            return -1;
        }
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
        sc->pos++;
        if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-')) {
            sc->pos++;
        }
        size_t e = digits(sc);
        if (e == 0 || e > 3) {
            return -1;
        }
    }
    return sc->pos - start <= JSON_SCAN_MAX_NUMBER ? 0 : -1;
}

static int literal(scanner *sc, const char *word) {
    size_t n = strlen(word);
    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0) {
        return -1;
    }
    sc->pos += n;
    return 0;
}

/* The wanted field named key in the object read for object_of, or NULL. */
static json_scan_field *wanted(scanner *sc, int object_of, const char *key, size_t keylen) {
    for (size_t i = 0; i < sc->nfields; i++) {
        json_scan_field *f = &sc->fields[i];
        if (f->parent == object_of && strlen(f->key) == keylen &&
            memcmp(f->key, key, keylen) == 0) {
            return f;
        }
    }
    return NULL;
}

/* Whether some wanted field lives in the object value of field index i. */
static bool has_children(const scanner *sc, int i) {
    for (size_t k = 0; k < sc->nfields; k++) {
        if (sc->fields[k].parent == i) {
            return true;
        }
    }
    return false;
}

static int read_members(scanner *sc, int object_of) {
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
        sc->pos++;
        return 0;
    }
    for (;;) {
        if (sc->pos >= sc->len || sc->s[sc->pos] != '"') {
            return -1;
        }
        char key[KEY_MAX];
        size_t keylen = 0;
        bool fits = false;
        if (read_string(sc, object_of == NO_FIELDS ? NULL : key, sizeof key, &keylen, &fits) != 0) {
            return -1;
        }
        json_scan_field *f =
            object_of != NO_FIELDS && fits ? wanted(sc, object_of, key, keylen) : NULL;
        if (f != NULL && f->type != JSON_SCAN_ABSENT) {
            return -1; /* a wanted key twice */
        }
        skip_ws(sc);
        if (sc->pos >= sc->len || sc->s[sc->pos] != ':') {
            return -1;
        }
        sc->pos++;
        skip_ws(sc);
        int inner = f != NULL && has_children(sc, (int)(f - sc->fields)) ? (int)(f - sc->fields)
                                                                         : NO_FIELDS;
        if (read_value(sc, inner, f) != 0) {
            return -1;
        }
        skip_ws(sc);
        if (sc->pos >= sc->len) {
            return -1;
        }
        unsigned char c = sc->s[sc->pos++];
        if (c == '}') {
            return 0;
        }
        if (c != ',') {
            return -1;
        }
        skip_ws(sc);
    }
}

static int read_elements(scanner *sc) {
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
        sc->pos++;
        return 0;
    }
    for (;;) {
        if (read_value(sc, NO_FIELDS, NULL) != 0) {
            return -1;
        }
        skip_ws(sc);
        if (sc->pos >= sc->len) {
            return -1;
        }
        unsigned char c = sc->s[sc->pos++];
        if (c == ']') {
            return 0;
        }
        if (c != ',') {
            return -1;
        }
        skip_ws(sc);
    }
}

/* A value at sc->pos (no leading space). object_of: the wanted object an object value is
 * (NO_FIELDS: none); field (may be NULL): where to record it. */
static int read_value(scanner *sc, int object_of, json_scan_field *field) {
    if (sc->pos >= sc->len) {
        return -1;
    }
    size_t start = sc->pos;
    unsigned char c = sc->s[sc->pos];
    json_scan_type type;
    int rc;
    if (c == '{' || c == '[') {
        if (++sc->depth > JSON_SCAN_MAX_DEPTH) {
            return -1;
        }
        sc->pos++;
        rc = c == '{' ? read_members(sc, object_of) : read_elements(sc);
        sc->depth--;
        type = c == '{' ? JSON_SCAN_OBJECT : JSON_SCAN_ARRAY;
    } else if (c == '"') {
        type = JSON_SCAN_STRING;
        char *dst = field != NULL ? sc->out + sc->outlen : NULL;
        size_t n = 0;
        bool fits = false;
        rc = read_string(sc, dst, field != NULL ? sc->outcap - sc->outlen : 0, &n, &fits);
        if (rc == 0 && field != NULL) {
            if (!fits) {
                return -1; /* the buffer is smaller than json_scan_buffer_size asked */
            }
            field->str = dst;
            field->str_len = n;
            sc->outlen += n + 1;
        }
    } else if (c == '-' || is_digit(c)) {
        type = JSON_SCAN_NUMBER;
        rc = read_number(sc);
    } else if (c == 't') {
        type = JSON_SCAN_TRUE;
        rc = literal(sc, "true");
    } else if (c == 'f') {
        type = JSON_SCAN_FALSE;
        rc = literal(sc, "false");
    } else if (c == 'n') {
        type = JSON_SCAN_NULL;
        rc = literal(sc, "null");
    } else {
        return -1;
    }
    if (rc == 0 && field != NULL) {
        field->type = type;
        field->raw = (const char *)sc->s + start;
        field->raw_len = sc->pos - start;
    }
    return rc;
}

size_t json_scan_buffer_size(size_t len) {
    return len + 1;
}

int json_scan(const char *text, size_t len, json_scan_field *fields, size_t nfields, char *buffer,
              size_t buflen) {
    for (size_t i = 0; i < nfields; i++) {
        fields[i].type = JSON_SCAN_ABSENT;
        fields[i].raw = NULL;
        fields[i].raw_len = 0;
        fields[i].str = NULL;
        fields[i].str_len = 0;
        if (fields[i].parent >= (int)i || fields[i].parent < TOP) {
            return -1; /* a parent comes first */
        }
    }
    if (text == NULL || buffer == NULL || buflen < json_scan_buffer_size(len)) {
        return -1;
    }
    scanner sc = {.s = (const unsigned char *)text,
                  .len = len,
                  .fields = fields,
                  .nfields = nfields,
                  .out = buffer,
                  .outcap = buflen};
    skip_ws(&sc);
    if (sc.pos >= sc.len || sc.s[sc.pos] != '{' || read_value(&sc, TOP, NULL) != 0) {
        return -1;
    }
    skip_ws(&sc);
    return sc.pos == sc.len ? 0 : -1;
}
