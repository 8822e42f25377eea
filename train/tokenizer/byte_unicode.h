/* GPT-2's byte-to-unicode table: byte-level BPE files spell every byte as one printable
 * character (bytes that print as themselves keep their code point, the other 68 take
 * U+0100 onwards in byte order), so vocab.json and merges.txt never hold a space, a
 * control character or invalid UTF-8. */
#ifndef POLYMOE_BYTE_UNICODE_H
#define POLYMOE_BYTE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* The code point that spells byte b. */
uint32_t pm_byte_to_unicode(uint8_t b);

/* Converts a UTF-8 token spelling back to bytes: writes at most cap bytes into out and
 * returns how many, or -1 when the spelling has a character that spells no byte (or is
 * not UTF-8). */
long pm_unicode_to_bytes(const char *s, size_t n, uint8_t *out, size_t cap);

/* Appends the UTF-8 spelling of bytes[0..n) to out (room for 2 n bytes); returns its length. */
size_t pm_bytes_to_unicode(const uint8_t *bytes, size_t n, char *out);

/* The length of the valid UTF-8 sequence starting at s[0..n) (1 to 4), or 0 when the bytes
 * there do not start one (stray continuation, overlong form, surrogate, above U+10FFFF,
 * truncated): the same bytes Python's strict decoder rejects. */
int pm_utf8_sequence(const uint8_t *s, size_t n);

#endif
