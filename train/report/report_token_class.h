/* Byte-level token classes for the routing analysis: every byte of a domain's text gets a
 * class from its context (the word, string, comment or line it belongs to). The domain's
 * name picks the lexer: "code" (Python), "math", anything else prose. */
#ifndef POLYMOE_REPORT_TOKEN_CLASS_H
#define POLYMOE_REPORT_TOKEN_CLASS_H

#include <stddef.h>
#include <stdint.h>

#define PM_MAX_CLASSES 12

typedef enum { PM_LEX_CODE, PM_LEX_MATH, PM_LEX_PROSE } pm_lexer;

pm_lexer pm_lexer_for_domain(const char *domain_name);

/* The lexer's class names; returns how many (at most PM_MAX_CLASSES). */
int pm_token_class_names(pm_lexer lx, const char *const **names);

/* cls[i] = the class of tokens[i] (byte tokens; other tokens, such as end-of-text, and
 * non-ASCII bytes get the last class, "other"). */
void pm_classify_tokens(pm_lexer lx, const int32_t *tokens, size_t n, uint8_t *cls);

#endif
