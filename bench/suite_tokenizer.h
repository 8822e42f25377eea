/* The tokenizer suite: encode throughput of one tokenizer on the documents of a manifest, on
 * one thread, each round with a freshly opened tokenizer (so no round starts with the pieces
 * of the one before cached). Only the encoding is timed, one call per document, as the peers
 * are timed by bench/compare_tokenizers.py. */
#ifndef POLYMOE_BENCH_SUITE_TOKENIZER_H
#define POLYMOE_BENCH_SUITE_TOKENIZER_H

#include <stdio.h>

/* Prints a summary line and writes one JSON line (suite "tokenizer": bytes, documents, tokens,
 * rounds, mb_per_s (median), mb_per_s_min, mb_per_s_max, seconds per round, host, commit) to
 * json (stdout when NULL). Returns 0, or -1 with err filled. */
int pm_bench_tokenizer(const char *spec, const char *manifest, int rounds, FILE *json, char *err, size_t errlen);

#endif
