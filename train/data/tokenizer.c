/* The byte-level tokenizer: every byte is its own token, so any text round-trips exactly and
 * the vocabulary is the 256 byte values plus end-of-text. */
#include "train/data/tokenizer.h"

size_t pm_tok_encode(const char *text, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)text[i];
    return n;
}

size_t pm_tok_decode(const int32_t *tokens, size_t n, char *out, size_t cap) {
    size_t written = 0;
    for (size_t i = 0; i < n && written < cap; i++)
        if (tokens[i] >= 0 && tokens[i] < 256) out[written++] = (char)tokens[i];
    return written;
}
