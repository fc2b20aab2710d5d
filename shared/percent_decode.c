/*
 * percent_decode.c: the one percent-decoder (see percent_decode.h for the modes).
 *
 * Owns: the byte loop. Rules: reads only [s, s+len), writes only out[0..outcap).
 */
#include "shared/percent_decode.h"

#include <stdbool.h>

#include "shared/hex.h"

static bool refused(unsigned char c, unsigned mode) {
    if ((mode & PCT_REFUSE_CONTROLS) != 0 && (c < 0x20 || c == 0x7F))
        return true;
    return (mode & PCT_REFUSE_NUL) != 0 && c == 0;
}

pct_result percent_decode(const char *s, size_t len, unsigned mode, char *out, size_t outcap,
                          size_t *outlen) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+' && (mode & PCT_PLUS_IS_SPACE) != 0) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return PCT_MALFORMED;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (refused(c, mode))
            return PCT_REFUSED;
        if (n + 1 >= outcap)
            return PCT_TOO_LONG;
        out[n++] = (char)c;
    }
    if (outcap == 0)
        return PCT_TOO_LONG;
    out[n] = '\0';
    if (outlen != NULL)
        *outlen = n;
    return PCT_OK;
}
