/* GPT-2's pre-tokenisation: text is cut into pieces (contractions, letter runs, digit runs,
 * other-symbol runs, each with at most one leading space, and whitespace runs) before BPE
 * merges inside each piece. The pattern is GPT-2's, run by PCRE2 (JIT-compiled) as written,
 * including the \s+(?!\S) look-ahead that leaves the last space of a run to the next word. */
#ifndef POLYMOE_PRETOKENIZE_H
#define POLYMOE_PRETOKENIZE_H

#include <stddef.h>

typedef struct pm_pretok pm_pretok;

/* Called for each piece in order; the pieces tile the text exactly. Returns 0 to go on. */
typedef int (*pm_piece_fn)(void *ctx, const char *piece, size_t len);

pm_pretok *pm_pretok_open(char *err, size_t errlen);
void pm_pretok_free(pm_pretok *p);

/* Cuts text[0..n) into pieces. Invalid UTF-8 never reaches the pattern: each byte that is not
 * part of a valid sequence is a piece of its own, and the valid text between such bytes is
 * cut as if it were a whole text. Returns 0, the callback's non-zero value, or -1 with err
 * filled when PCRE2 fails (it runs out of its match limits or memory). */
int pm_pretok_split(pm_pretok *p, const char *text, size_t n, pm_piece_fn piece, void *ctx, char *err,
                    size_t errlen);

#endif
