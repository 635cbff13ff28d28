/*
 * utf8.h - strict UTF-8 decoding shared by the util modules.
 *
 * Strict means what lib0 and browsers accept with a fatal decoder: no
 * overlong forms, no surrogates (U+D800-U+DFFF), nothing past U+10FFFF, no
 * truncated sequence.
 */
#ifndef VN_UTF8_H
#define VN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[i] (i < len) into *cp and returns its length
 * in bytes (1..4), or returns 0 if the bytes there are not valid UTF-8. */
size_t utf8_decode(const unsigned char *s, size_t len, size_t i, uint32_t *cp);

#endif /* VN_UTF8_H */
