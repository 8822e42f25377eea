/* Training data: a JSON manifest of domains, each split into train and eval at the document
 * level, documents packed with end-of-text separators into fixed-length sequences, batches
 * that mix domains, and a domain label for every token. Deterministic for a seed. */
#ifndef POLYMOE_DATA_H
#define POLYMOE_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "train/tokenizer/tokenizer.h"

#define PM_MAX_DOMAINS 16
#define PM_DATA_STATE_LEN (PM_MAX_DOMAINS + 2)

typedef struct pm_dataset pm_dataset;

typedef struct {
    int seq_len;            /* T: each packed sequence holds T+1 tokens (inputs and targets) */
    double eval_fraction;   /* share of each domain's documents held out, e.g. 0.1 */
    uint64_t seed;
    int natural_mix;        /* 0: every batch balanced over domains; 1: natural proportions */
    pm_tokenizer *tokenizer; /* borrowed; NULL: the byte tokenizer */
} pm_data_options;

/* Reads the manifest and every file it names, tokenizes (through the token cache, see
 * token_cache.h), splits and packs.
 * NULL with `err` filled on any problem: unreadable manifest, bad JSON, missing or empty
 * files, a domain with too little text for one train and one eval sequence. */
pm_dataset *pm_data_open(const char *manifest_path, const pm_data_options *opt, char *err,
                         size_t errlen);
void pm_data_close(pm_dataset *ds);

int pm_data_domains(const pm_dataset *ds);
/* The tokenizer the dataset was encoded with. */
pm_tokenizer *pm_data_tokenizer(const pm_dataset *ds);
const char *pm_data_domain_name(const pm_dataset *ds, int d);
/* Tokens in the train / eval split of domain d (after packing), and documents in each. */
size_t pm_data_tokens(const pm_dataset *ds, int d, int eval);
size_t pm_data_documents(const pm_dataset *ds, int d, int eval);

/* The next training batch of B sequences: inputs and targets [B,T] (targets are inputs
 * shifted by one), domains [B,T] the domain index of every token. Advances the stream. */
void pm_data_next_batch(pm_dataset *ds, int B, int32_t *inputs, int32_t *targets,
                        int32_t *domains);

/* The stream position, to save in a checkpoint and restore on --resume: after set_state
 * the stream yields exactly the batches it would have yielded. set_state returns 0, or -1
 * (stream unchanged) when the state cannot belong to this dataset. */
void pm_data_get_state(const pm_dataset *ds, uint64_t state[PM_DATA_STATE_LEN]);
int pm_data_set_state(pm_dataset *ds, const uint64_t state[PM_DATA_STATE_LEN]);

/* Held-out sequences of domain d: how many there are, and the i-th of `count` of them spread
 * evenly over the split (inputs and targets [T]; count above the total means all). */
size_t pm_data_eval_count(const pm_dataset *ds, int d);
void pm_data_eval_sequence(const pm_dataset *ds, int d, size_t i, size_t count, int32_t *inputs,
                           int32_t *targets);

/* The whole token stream of domain d's split: its documents in manifest order, each followed
 * by end-of-text. Sequence k is tokens [k(T+1), (k+1)(T+1)); a tail shorter than T+1 is
 * unused. For tests and tools. */
const int32_t *pm_data_stream(const pm_dataset *ds, int d, int eval, size_t *n_tokens);

/* Unigram entropy of domain d's train split in nats per token: the loss of a model that
 * knows only token frequencies, the baseline an eval loss must beat. */
double pm_data_unigram_loss(const pm_dataset *ds, int d);
/* The held-out loss (nats per token) of a Kneser-Ney trigram fitted on domain d's train split
 * (train/data/ngram.h): the n-gram baseline. */
double pm_data_ngram_loss(const pm_dataset *ds, int d);
/* The same trigram over bytes, in nats per token of the dataset's tokenizer (equal to the
 * token trigram for the byte tokenizer): the baseline a BPE model is held to as well, since
 * a trigram over its own tokens sees more text than a byte trigram does. */
double pm_data_byte_ngram_loss(const pm_dataset *ds, int d);

/* One line per domain: documents and tokens of the train and eval splits. */
void pm_data_print_summary(const pm_dataset *ds, FILE *out);

#endif
