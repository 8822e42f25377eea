/* A tokenizer: text <-> token ids, with the end-of-text token that separates documents.
 * Two kinds: "byte" (ids 0..255 are the bytes, 256 is end-of-text) and "bpe:PATH" (GPT-2's
 * byte-level BPE read from PATH, see bpe.h). Data, eval, generate, the report and
 * checkpoints all go through this object. */
#ifndef POLYMOE_TOKENIZER_H
#define POLYMOE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_tokenizer pm_tokenizer;

/* spec: "byte", or "bpe:PATH" with PATH a folder holding tokenizer.json or vocab.json and
 * merges.txt, or one of those files. NULL with err filled on any problem with the files. */
pm_tokenizer *pm_tokenizer_open(const char *spec, char *err, size_t errlen);
void pm_tokenizer_free(pm_tokenizer *t);

const char *pm_tokenizer_kind(const pm_tokenizer *t); /* "byte" or "bpe" */
int pm_tokenizer_vocab_size(const pm_tokenizer *t);
int32_t pm_tokenizer_eot(const pm_tokenizer *t);
/* A stable identity: equal for the same vocabulary whichever files it was read from. */
#define PM_TOKENIZER_BYTE_HASH 0x62797465ull /* the byte tokenizer's ("byte") */
uint64_t pm_tokenizer_hash(const pm_tokenizer *t);

/* Encodes text[0..n) into out, which must have room for n ids (no tokenizer makes more ids
 * than bytes); a literal "<|endoftext|>" is text, never the special token. Returns the
 * number of ids, or -1 with err filled. */
long pm_tokenizer_encode(pm_tokenizer *t, const char *text, size_t n, int32_t *out, char *err, size_t errlen);

/* The bytes token id stands for: NULL (and *len 0) for end-of-text, other special tokens and
 * ids outside the vocabulary. */
const char *pm_tokenizer_token(const pm_tokenizer *t, int32_t id, size_t *len);

/* Appends the bytes of ids (special tokens skipped) to out, at most cap bytes; returns the
 * bytes written. */
size_t pm_tokenizer_decode(const pm_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t cap);

/* A model's vocabulary for tokenizer `spec`: *vocab_size 0 becomes the tokenizer's size; a
 * size below it is an error (a larger one pads the output layer). 0, or -1 with err. */
int pm_tokenizer_resolve_vocab(const char *spec, int *vocab_size, char *err, size_t errlen);

/* The files a checkpoint copies to be self-contained: source paths and the names they take
 * there (tokenizer.json, or vocab.json and merges.txt). Returns how many (0 for bytes). */
int pm_tokenizer_files(const pm_tokenizer *t, const char *const **paths, const char *const **names);

#endif
