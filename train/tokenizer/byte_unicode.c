#include "train/tokenizer/byte_unicode.h"

/* Bytes that print as themselves: '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF. */
static int prints_as_itself(int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae; }

/* The others, in byte order: 0x00..0x20 (33 bytes), 0x7f..0xa0 (34) and 0xad. */
uint32_t pm_byte_to_unicode(uint8_t b) {
    if (prints_as_itself(b)) return b;
    return 256u + (b <= 0x20 ? b : b <= 0xa0 ? 33u + (b - 0x7fu) : 67u);
}

static int unicode_to_byte(uint32_t cp) {
    if (cp < 256) return prints_as_itself((int)cp) ? (int)cp : -1;
    uint32_t n = cp - 256;
    return n < 33 ? (int)n : n < 67 ? 0x7f + (int)(n - 33) : n == 67 ? 0xad : -1;
}

int pm_utf8_sequence(const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    /* the second byte's range excludes overlong forms, surrogates and code points > U+10FFFF */
    uint8_t lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80, hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

static uint32_t decode_one(const uint8_t *s, int len) {
    if (len == 1) return s[0];
    uint32_t cp = s[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) cp = cp << 6 | (s[i] & 0x3f);
    return cp;
}

long pm_unicode_to_bytes(const char *s, size_t n, uint8_t *out, size_t cap) {
    const uint8_t *u = (const uint8_t *)s;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        int len = pm_utf8_sequence(u + i, n - i);
        int b = len ? unicode_to_byte(decode_one(u + i, len)) : -1;
        if (b < 0 || w == cap) return -1;
        out[w++] = (uint8_t)b;
        i += (size_t)len;
    }
    return (long)w;
}

size_t pm_bytes_to_unicode(const uint8_t *bytes, size_t n, char *out) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = pm_byte_to_unicode(bytes[i]);
        if (cp < 0x80) out[w++] = (char)cp;
        else { /* every spelling is below U+0800: two bytes */
            out[w++] = (char)(0xc0 | cp >> 6);
            out[w++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return w;
}
