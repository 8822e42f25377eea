/* Tokenised documents cached on disk, so that a second run with the same corpus and the same
 * tokenizer does not encode again. One file per domain, named by a key that hashes the
 * tokenizer's identity and every document's bytes; any change to either makes a new key. The
 * cache folder is $POLYMOE_CACHE_DIR, else $XDG_CACHE_HOME/polymoe/tokens, else
 * ~/.cache/polymoe/tokens. A cache that cannot be read or written is only a note on stderr:
 * the documents are then encoded as if there were none. */
#ifndef POLYMOE_TOKEN_CACHE_H
#define POLYMOE_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* The key of a domain's documents (text[0..ends[n-1]), document i ending at ends[i]) under a
 * tokenizer with identity `tokenizer_hash`. */
uint64_t pm_token_cache_key(uint64_t tokenizer_hash, const char *text, const size_t *ends, size_t n_docs);

/* The cached ids of the n_docs documents: *ids (malloc'd) with document i's ids ending at
 * id_ends[i]. 1 when found and whole, 0 when not cached. */
int pm_token_cache_load(const char *domain, uint64_t key, size_t n_docs, int32_t **ids, size_t *id_ends);

/* Stores them; failures are a note on stderr. */
void pm_token_cache_store(const char *domain, uint64_t key, size_t n_docs, const int32_t *ids, const size_t *id_ends);

#endif
