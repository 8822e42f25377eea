/* PCRE2 was chosen for the pattern because it runs it exactly as written (look-ahead and
 * Unicode properties included), Debian ships it, and its JIT makes the regex a small part of
 * encoding; utf8proc would have meant writing the matcher ourselves. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "train/tokenizer/pretokenize.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>

#include "train/tokenizer/byte_unicode.h"
#include "train/util/error_text.h"

/* \s as the reference implementations mean it (Unicode White_Space: tab to CR, U+0085 and the
 * Z categories); PCRE2's own \s leaves out U+0085. */
#define WS "\\t-\\r\\x{85}\\p{Z}"
static const char pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
                              "|[" WS "]+(?![^" WS "])|[" WS "]+";

struct pm_pretok {
    pcre2_code *code;
    pcre2_match_data *match;
    int jit; /* 1 when the JIT compiled the pattern */
};

pm_pretok *pm_pretok_open(char *err, size_t errlen) {
    pm_pretok *p = calloc(1, sizeof *p);
    int code;
    PCRE2_SIZE at;
    if (!p) {
        pm_errorf(err, errlen, "out of memory");
        return NULL;
    }
    p->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!p->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        pm_errorf(err, errlen, "PCRE2 cannot compile the GPT-2 pattern at %zu: %s", (size_t)at, (char *)msg);
        free(p);
        return NULL;
    }
    p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0; /* without a JIT it still matches */
    p->match = pcre2_match_data_create_from_pattern(p->code, NULL);
    if (!p->match) {
        pm_pretok_free(p);
        pm_errorf(err, errlen, "out of memory");
        return NULL;
    }
    return p;
}

void pm_pretok_free(pm_pretok *p) {
    if (!p) return;
    pcre2_match_data_free(p->match);
    pcre2_code_free(p->code);
    free(p);
}

/* The pieces of a valid UTF-8 text; the pattern matches every character, but a gap would
 * still be passed on as a piece so that the pieces tile the text. */
static int split_valid(pm_pretok *p, const char *text, size_t n, pm_piece_fn piece, void *ctx, char *err,
                       size_t errlen) {
    size_t pos = 0;
    while (pos < n) {
        int rc = p->jit ? pcre2_jit_match(p->code, (PCRE2_SPTR)text, n, pos, 0, p->match, NULL)
                        : pcre2_match(p->code, (PCRE2_SPTR)text, n, pos, PCRE2_NO_UTF_CHECK, p->match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) return piece(ctx, text + pos, n - pos);
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return pm_errorf(err, errlen, "pre-tokenising: PCRE2: %s", (char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->match);
        if (ov[1] <= ov[0]) return pm_errorf(err, errlen, "pre-tokenising: empty match at byte %zu", pos);
        int stop = ov[0] > pos ? piece(ctx, text + pos, ov[0] - pos) : 0;
        if (!stop) stop = piece(ctx, text + ov[0], ov[1] - ov[0]);
        if (stop) return stop;
        pos = ov[1];
    }
    return 0;
}

int pm_pretok_split(pm_pretok *p, const char *text, size_t n, pm_piece_fn piece, void *ctx, char *err,
                    size_t errlen) {
    const uint8_t *u = (const uint8_t *)text;
    size_t start = 0, i = 0;
    while (i < n) {
        if (u[i] < 0x80) { /* ASCII: the common case, no table needed */
            i++;
            continue;
        }
        int len = pm_utf8_sequence(u + i, n - i);
        if (len) {
            i += (size_t)len;
            continue;
        }
        int rc = start < i ? split_valid(p, text + start, i - start, piece, ctx, err, errlen) : 0;
        if (!rc) rc = piece(ctx, text + i, 1);
        if (rc) return rc;
        start = ++i;
    }
    return start < n ? split_valid(p, text + start, n - start, piece, ctx, err, errlen) : 0;
}
