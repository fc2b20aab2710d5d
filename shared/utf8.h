/*
 * utf8.h: the one UTF-8 decoder and encoder, and the character classes the validators
 * share.
 *
 * Owns: what a well-formed UTF-8 sequence is (RFC 3629: no overlong forms, no UTF-16
 * surrogates U+D800-U+DFFF, nothing above U+10FFFF, no truncated sequence), how a code
 * point is written, counting code points, and the classes "control" (C0 and C1) and
 * "space" the account and task rules use. Rules: pure functions, no allocation; every
 * function says what it does with bytes that are not well-formed, with U+0000 and with
 * controls. Two families:
 *  - length-bounded and strict (utf8_decode, utf8_clean_chars): for bytes that nobody has
 *    checked yet (a percent-decoded query value, a JSON string being scanned); a NUL byte
 *    is the code point U+0000 and does not end the text.
 *  - NUL-terminated and lenient (utf8_next, utf8_chars): for text already known to be
 *    valid (jansson refuses strings that are not), where they count exactly as Postgres'
 *    char_length; a byte that does not start a well-formed sequence decodes as U+FFFD and
 *    advances one byte, and nothing is ever read past the NUL.
 */
#ifndef TASKBUS_SHARED_UTF8_H
#define TASKBUS_SHARED_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFDu

/* Decodes the well-formed sequence at s[0..len) into *cp and returns its length (1-4), or
 * 0 when len is 0 or the bytes at s are not one (overlong, surrogate, above U+10FFFF,
 * truncated, a stray continuation byte, a byte 0xF5-0xFF). 0x00 decodes as U+0000. */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Code points of [s, s+len) when it is well-formed UTF-8 holding no control character
 * (utf8_is_control: U+0000 included), else -1. "" counts 0. */
long utf8_clean_chars(const char *s, size_t len);

/* Decodes one code point of the NUL-terminated text at *p (not at its NUL) and advances
 * *p past it; a byte that does not start a well-formed sequence (utf8_decode) decodes as
 * UTF8_REPLACEMENT and advances one byte. */
uint32_t utf8_next(const char **p);

/* Code points of NUL-terminated text as utf8_next walks it (each malformed byte counts
 * one); 0 for NULL. On valid UTF-8 this is Postgres' char_length. */
size_t utf8_chars(const char *text);

/* Writes the UTF-8 form of cp (at most U+10FFFF; the caller excludes surrogates) into
 * out[0..4) and returns its length, 1-4. */
size_t utf8_encode(uint32_t cp, char *out);

/* C0 and C1 controls: U+0000-U+001F and U+007F-U+009F. */
bool utf8_is_control(uint32_t cp);

/* Unicode White_Space, plus the zero-width space (U+200B) and the BOM (U+FEFF) that
 * render as nothing. */
bool utf8_is_space(uint32_t cp);

/* U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: not controls, but line breaks a
 * one-line field must not hold. */
bool utf8_is_line_separator(uint32_t cp);

#endif
