/* Training a GPT-2 byte-level BPE vocabulary from documents, by the rules of Hugging Face
 * tokenizers' BpeTrainer (ByteLevel pre-tokenizer without prefix space, the whole byte
 * alphabet, special token <|endoftext|>, min_frequency 0), so that the same documents give
 * the same merges in the same order and the same ids:
 *   - words: every document is cut into pieces (pretokenize.h); equal pieces are one word
 *     with a count over all documents;
 *   - ids: <|endoftext|> is 0, the 256 bytes follow in the order of the code points that
 *     spell them (byte_unicode.h), then each merge adds the token it forms;
 *   - each merge joins the most frequent adjacent pair of tokens, the smaller pair of ids
 *     (left id, then right id) first among equal counts; pair counts are kept up to date
 *     incrementally, and a pair's words are those recorded when it was last found;
 *   - training stops at vocab_size tokens, or earlier when no pair is left.
 * A byte that is not part of valid UTF-8 is a piece of its own (tokenizers takes only valid
 * text, so it has no rule there). */
#ifndef POLYMOE_BPE_TRAIN_H
#define POLYMOE_BPE_TRAIN_H

#include <stddef.h>

#define PM_BPE_TRAIN_MIN_VOCAB 257 /* <|endoftext|> and the 256 bytes */

/* Called after each merge with the merges done and the most there can be. */
typedef void (*pm_bpe_train_progress)(void *ctx, int merges_done, int merges_total);

typedef struct {
    int vocab_size;    /* tokens trained: vocab_size asked, or fewer when no pair was left */
    int merges;        /* lines of merges.txt after its header */
    size_t words;      /* distinct pieces the documents were cut into */
    size_t pieces;     /* pieces in all */
} pm_bpe_train_result;

/* Trains on docs[i][0..lens[i]) and writes out_dir/vocab.json, out_dir/merges.txt (GPT-2's
 * files, as tokenizers saves them) and out_dir/tokenizer.json (tokenizers' format, as it
 * saves a tokenizer with the ByteLevel pre-tokenizer and decoder), each atomically, creating
 * out_dir as needed. progress may be NULL; result may be NULL. Returns 0, or -1 with err
 * filled: vocab_size below PM_BPE_TRAIN_MIN_VOCAB, no text at all, out of memory, the
 * pre-tokenizer failing, a file that cannot be written. */
int pm_bpe_train(const char *const *docs, const size_t *lens, size_t n_docs, int vocab_size, const char *out_dir,
                 pm_bpe_train_progress progress, void *ctx, pm_bpe_train_result *result, char *err,
                 size_t errlen);

#endif
