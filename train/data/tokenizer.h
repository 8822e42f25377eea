/* The byte-level tokenizer: tokens 0..255 are bytes, 256 is end-of-text. */
#ifndef POLYMOE_TOKENIZER_H
#define POLYMOE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define PM_TOK_EOT 256
#define PM_TOK_VOCAB 257

/* Writes n tokens for n bytes; returns n. */
size_t pm_tok_encode(const char *text, size_t n, int32_t *out);
/* Appends the bytes of tokens (skipping end-of-text) to out, at most cap bytes; returns the
 * bytes written. */
size_t pm_tok_decode(const int32_t *tokens, size_t n, char *out, size_t cap);

#endif
