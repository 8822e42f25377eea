/* The n-gram baseline a language model must beat: an interpolated Kneser-Ney trigram fitted on
 * a domain's train split and scored on its held-out split. Kneser-Ney (absolute discount 0.75
 * at each order, continuation counts below the top order) is the standard smoothed n-gram;
 * the unigram floor adds one to every continuation count, so no token has probability 0. */
#ifndef POLYMOE_NGRAM_H
#define POLYMOE_NGRAM_H

#include <stddef.h>
#include <stdint.h>

/* Mean negative log-likelihood in nats per token of eval[2..n_eval) under the trigram fitted
 * on train (both streams of ids in 0..vocab-1; documents joined as the data pipeline joins
 * them), NAN when out of memory or when either stream is shorter than 3 tokens. vocab is at
 * most 2^21. */
double pm_ngram_heldout_loss(const int32_t *train, size_t n_train, const int32_t *eval, size_t n_eval, int vocab);

#endif
