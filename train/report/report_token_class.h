/* Token classes for the routing analysis. The tokens are decoded to bytes, every byte gets a
 * class from its context (the word, string, comment or line it belongs to), and each token
 * takes the class of its first byte that is not a space (a token of spaces only, that of its
 * first byte): " def" is a keyword, "    " indentation. With the byte tokenizer a token is
 * its byte. The domain's name picks the lexer: "code" (Python), "math", anything else prose. */
#ifndef POLYMOE_REPORT_TOKEN_CLASS_H
#define POLYMOE_REPORT_TOKEN_CLASS_H

#include <stddef.h>
#include <stdint.h>

#include "train/tokenizer/tokenizer.h"

#define PM_MAX_CLASSES 12

typedef enum { PM_LEX_CODE, PM_LEX_MATH, PM_LEX_PROSE } pm_lexer;

pm_lexer pm_lexer_for_domain(const char *domain_name);

/* The lexer's class names; returns how many (at most PM_MAX_CLASSES). */
int pm_token_class_names(pm_lexer lx, const char *const **names);

/* cls[i] = the class of tokens[i] (end-of-text, other special tokens and tokens that start
 * with a non-ASCII byte get the last class, "other"). -1 when out of memory. */
int pm_classify_tokens(pm_lexer lx, const pm_tokenizer *tok, const int32_t *tokens, size_t n, uint8_t *cls);

#endif
