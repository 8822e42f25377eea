/* libFuzzer target: GPT-2 byte-level BPE. For any bytes (valid UTF-8 or not), encoding gives
 * at most one id per byte, every id inside the vocabulary and none special, decoding gives the
 * bytes back exactly, and encoding again (now from the piece cache) gives the same ids. The
 * vocabulary is the 4096-token fixture (POLYMOE_BPE_FIXTURE, set by the build). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/tokenizer/tokenizer.h"

static pm_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[4800];
    if (!tok && !(tok = pm_tokenizer_open("bpe:" POLYMOE_BPE_FIXTURE, err, sizeof err))) __builtin_trap();
    int32_t *ids = malloc((size + 1) * sizeof *ids), *again = malloc((size + 1) * sizeof *again);
    char *back = malloc(size + 1);
    if (!ids || !again || !back) __builtin_trap();
    long n = pm_tokenizer_encode(tok, (const char *)data, size, ids, err, sizeof err);
    long m = pm_tokenizer_encode(tok, (const char *)data, size, again, err, sizeof err);
    if (n < 0 || (size_t)n > size || m != n || memcmp(ids, again, (size_t)n * sizeof *ids)) __builtin_trap();
    for (long i = 0; i < n; i++) {
        size_t len;
        if (ids[i] < 0 || ids[i] >= pm_tokenizer_vocab_size(tok) || !pm_tokenizer_token(tok, ids[i], &len)) __builtin_trap();
    }
    if (pm_tokenizer_decode(tok, ids, (size_t)n, back, size) != size || memcmp(back, data, size)) __builtin_trap();
    free(ids);
    free(again);
    free(back);
    return 0;
}
