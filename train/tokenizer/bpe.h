/* GPT-2's byte-level BPE: a vocabulary of byte strings and a ranked list of merges, read from
 * the files users have (GPT-2's vocab.json + merges.txt, or a Hugging Face tokenizer.json with
 * a BPE model and the ByteLevel pre-tokenizer). Encoding pre-tokenises the text
 * (pretokenize.h), then merges inside each piece by rank, lowest first, leftmost first among
 * equal ranks. Special tokens (<|endoftext|> and any other added token) are never produced
 * from text: a literal "<|endoftext|>" in a document is plain text. */
#ifndef POLYMOE_BPE_H
#define POLYMOE_BPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_bpe pm_bpe;

/* The files a BPE vocabulary is read from, as found by pm_bpe_locate. */
typedef struct {
    char tokenizer_json[4096]; /* "" when the GPT-2 pair is used */
    char vocab_json[4096], merges_txt[4096];
} pm_bpe_files;

/* path: a folder holding tokenizer.json (preferred) or vocab.json and merges.txt, a
 * tokenizer.json file, or a vocab.json file with merges.txt beside it. */
int pm_bpe_locate(const char *path, pm_bpe_files *files, char *err, size_t errlen);
pm_bpe *pm_bpe_open(const pm_bpe_files *files, char *err, size_t errlen);
void pm_bpe_free(pm_bpe *b);

int pm_bpe_vocab_size(const pm_bpe *b);
int32_t pm_bpe_eot(const pm_bpe *b);
int pm_bpe_is_special(const pm_bpe *b, int32_t id);
/* FNV-1a 64 of the vocabulary (every token's bytes and whether it is special) and the merges
 * in rank order: the same for both file formats of one vocabulary. */
uint64_t pm_bpe_hash(const pm_bpe *b);

/* The bytes of token id (a special token's are its text); NULL outside the vocabulary. */
const uint8_t *pm_bpe_token(const pm_bpe *b, int32_t id, size_t *len);

/* Encodes text[0..n) into out (room for n ids: never more ids than bytes). Returns the
 * number of ids, or -1 with err filled when the regex engine fails. Not thread-safe: it
 * keeps a cache of the pieces it has seen. */
long pm_bpe_encode(pm_bpe *b, const char *text, size_t n, int32_t *out, char *err, size_t errlen);

#endif
