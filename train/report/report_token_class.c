#include "train/report/report_token_class.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { CODE_KEYWORD, CODE_IDENT, CODE_NUMBER, CODE_OPERATOR, CODE_PUNCT, CODE_STRING, CODE_COMMENT,
       CODE_INDENT, CODE_SPACE, CODE_NEWLINE, CODE_OTHER };
static const char *const code_names[] = {"keyword", "identifier", "number", "operator", "punctuation", "string",
                                         "comment", "indentation", "space", "newline", "other"};
enum { MATH_DIGIT, MATH_OPERATOR, MATH_VARIABLE, MATH_WORD, MATH_PUNCT, MATH_SPACE, MATH_NEWLINE,
       MATH_OTHER };
static const char *const math_names[] = {"digit", "operator", "variable", "word", "punctuation",
                                         "space", "newline", "other"};
enum { PROSE_FUNCTION, PROSE_CONTENT, PROSE_NUMBER, PROSE_PUNCT, PROSE_SPACE, PROSE_NEWLINE,
       PROSE_OTHER };
static const char *const prose_names[] = {"function word", "content word", "number", "punctuation",
                                          "space", "newline", "other"};

static const char *const python_keywords[] = {
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
    "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield"};

/* English closed-class words (articles, pronouns, prepositions, conjunctions, auxiliaries),
 * with the archaic forms of the King James text. */
static const char *const function_words[] = {
    "a", "an", "the", "and", "or", "but", "nor", "if", "then", "so", "for", "yet", "as", "than",
    "that", "which", "who", "whom", "whose", "what", "when", "where", "whither", "whence", "why",
    "how", "of", "to", "in", "into", "on", "upon", "at", "by", "with", "from", "unto", "out", "up",
    "down", "over", "under", "about", "before", "after", "against", "among", "through", "without",
    "within", "between", "because", "i", "me", "my", "mine", "we", "us", "our", "ours", "you",
    "your", "yours", "thou", "thee", "thy", "thine", "ye", "he", "him", "his", "she", "her", "hers",
    "it", "its", "they", "them", "their", "theirs", "this", "these", "those", "there", "here",
    "is", "are", "was", "were", "be", "been", "being", "am", "art", "have", "has", "had", "hath",
    "hast", "do", "does", "did", "doth", "not", "no", "shall", "shalt", "will", "wilt", "would",
    "should", "may", "might", "must", "can", "could", "all", "any", "every", "each", "some",
    "also", "even", "again", "very", "lo", "o"};

static int in_list(const char *word, const char *const *list, size_t n, int ignore_case) {
    for (size_t i = 0; i < n; i++)
        if (ignore_case ? !strcasecmp(word, list[i]) : !strcmp(word, list[i])) return 1;
    return 0;
}
#define IN_LIST(w, list, ic) in_list(w, list, sizeof list / sizeof list[0], ic)

pm_lexer pm_lexer_for_domain(const char *name) {
    if (strstr(name, "code") || strstr(name, "python")) return PM_LEX_CODE;
    if (strstr(name, "math")) return PM_LEX_MATH;
    return PM_LEX_PROSE;
}

int pm_token_class_names(pm_lexer lx, const char *const **names) {
    switch (lx) {
    case PM_LEX_CODE: *names = code_names; return sizeof code_names / sizeof *code_names;
    case PM_LEX_MATH: *names = math_names; return sizeof math_names / sizeof *math_names;
    default: *names = prose_names; return sizeof prose_names / sizeof *prose_names;
    }
}

#define NOT_A_BYTE 256 /* end-of-text or another special token in the decoded text */

/* The byte at i, or -1 past the end and for tokens that are no ASCII byte. */
static int at(const int32_t *t, size_t n, size_t i) { return i < n && t[i] >= 0 && t[i] < 128 ? t[i] : -1; }
static int is_word_start(int c) { return c >= 0 && (isalpha(c) || c == '_'); }
static int is_word_char(int c) { return c >= 0 && (isalnum(c) || c == '_'); }
static int is_number_char(int c) { return is_word_char(c) || c == '.'; } /* 1.5e3, 0x1f, 1_000 */

/* The word of `is_char` bytes starting at i: copies it (truncated) into w, returns its end. */
static size_t scan_word(const int32_t *t, size_t n, size_t i, int (*is_char)(int), char *w, size_t cap) {
    size_t j = i;
    while (is_char(at(t, n, j))) {
        if (j - i + 1 < cap) w[j - i] = (char)t[j];
        j++;
    }
    w[j - i < cap ? j - i : cap - 1] = 0;
    return j;
}

static void fill(uint8_t *cls, size_t from, size_t to, int c) { memset(cls + from, c, to - from); }

/* A Python string opening at i (after an optional prefix): its end, past the closing quote. */
static size_t scan_string(const int32_t *t, size_t n, size_t i) {
    int q = at(t, n, i), triple = at(t, n, i + 1) == q && at(t, n, i + 2) == q;
    size_t j = i + (triple ? 3 : 1);
    while (j < n && t[j] >= 0 && t[j] < 256) {
        if (t[j] == '\\') j += 2;
        else if (t[j] == q && (!triple || (at(t, n, j + 1) == q && at(t, n, j + 2) == q))) return j + (triple ? 3 : 1);
        else if (t[j] == '\n' && !triple) return j; /* an unterminated one-line string */
        else j++;
    }
    return j < n ? j : n;
}

static int is_string_prefix(const char *w) {
    static const char *const prefixes[] = {"r", "b", "f", "u", "rb", "br", "fr", "rf"};
    return IN_LIST(w, prefixes, 1);
}

static void classify_code(const int32_t *t, size_t n, uint8_t *cls) {
    int line_start = 1;
    for (size_t i = 0; i < n;) {
        int c = at(t, n, i);
        char w[32];
        size_t end = i + 1;
        if (c == '\n') {
            cls[i] = CODE_NEWLINE;
            line_start = 1;
            i++;
            continue;
        }
        if (c == -1 || (c < 32 && c != '\t')) {
            cls[i] = CODE_OTHER;
            line_start = t[i] < 0 || t[i] > 255; /* end-of-text starts a new document */
            i++;
            continue;
        }
        int indent = line_start && (c == ' ' || c == '\t');
        line_start = indent;
        if (indent || c == ' ' || c == '\t') fill(cls, i, end, indent ? CODE_INDENT : CODE_SPACE);
        else if (c == '#') {
            while (end < n && at(t, n, end) != '\n' && t[end] < 256) end++;
            fill(cls, i, end, CODE_COMMENT);
        } else if (c == '\'' || c == '"') {
            end = scan_string(t, n, i);
            fill(cls, i, end, CODE_STRING);
        } else if (is_word_start(c)) {
            end = scan_word(t, n, i, is_word_char, w, sizeof w);
            int q = at(t, n, end);
            if ((q == '\'' || q == '"') && is_string_prefix(w)) { /* r"...", b'...', f"..." */
                end = scan_string(t, n, end);
                fill(cls, i, end, CODE_STRING);
            } else {
                fill(cls, i, end, IN_LIST(w, python_keywords, 0) ? CODE_KEYWORD : CODE_IDENT);
            }
        } else if (isdigit(c)) {
            end = scan_word(t, n, i, is_number_char, w, sizeof w);
            fill(cls, i, end, CODE_NUMBER);
        } else {
            fill(cls, i, end, strchr("+-*/%=<>!&|^~@", c) ? CODE_OPERATOR : CODE_PUNCT);
        }
        i = end;
    }
}

static int is_alpha(int c) { return c >= 0 && isalpha(c); }
static int is_prose_char(int c) { return c >= 0 && (isalpha(c) || c == '\''); }

static void classify_math(const int32_t *t, size_t n, uint8_t *cls) {
    for (size_t i = 0; i < n;) {
        int c = at(t, n, i);
        char w[32];
        size_t end = i + 1;
        int k = MATH_PUNCT;
        if (c == -1 || (c < 32 && c != '\n')) k = MATH_OTHER;
        else if (c == '\n') k = MATH_NEWLINE;
        else if (c == ' ') k = MATH_SPACE;
        else if (isdigit(c)) k = MATH_DIGIT;
        else if (strchr("+-*/=%^<>", c)) k = MATH_OPERATOR;
        else if (is_alpha(c)) {
            /* a lone lower-case letter other than "a" (as in 3x or "solve for x") is a variable */
            end = scan_word(t, n, i, is_alpha, w, sizeof w);
            k = end - i == 1 && islower(c) && c != 'a' ? MATH_VARIABLE : MATH_WORD;
        }
        fill(cls, i, end, k);
        i = end;
    }
}

static void classify_prose(const int32_t *t, size_t n, uint8_t *cls) {
    for (size_t i = 0; i < n;) {
        int c = at(t, n, i);
        char w[32];
        size_t end = i + 1;
        int k = PROSE_PUNCT;
        if (c == -1 || (c < 32 && c != '\n')) k = PROSE_OTHER;
        else if (c == '\n') k = PROSE_NEWLINE;
        else if (c == ' ') k = PROSE_SPACE;
        else if (isdigit(c)) k = PROSE_NUMBER;
        else if (is_alpha(c)) {
            end = scan_word(t, n, i, is_prose_char, w, sizeof w);
            k = IN_LIST(w, function_words, 1) ? PROSE_FUNCTION : PROSE_CONTENT;
        }
        fill(cls, i, end, k);
        i = end;
    }
}

static void classify_bytes(pm_lexer lx, const int32_t *bytes, size_t n, uint8_t *cls) {
    if (lx == PM_LEX_CODE) classify_code(bytes, n, cls);
    else if (lx == PM_LEX_MATH) classify_math(bytes, n, cls);
    else classify_prose(bytes, n, cls);
}

int pm_classify_tokens(pm_lexer lx, const pm_tokenizer *tok, const int32_t *tokens, size_t n, uint8_t *cls) {
    size_t total = 0, len;
    for (size_t i = 0; i < n; i++) {
        pm_tokenizer_token(tok, tokens[i], &len);
        total += len ? len : 1;
    }
    /* the text as the lexers read it: bytes, and NOT_A_BYTE for a special token */
    int32_t *bytes = malloc((total ? total : 1) * sizeof *bytes);
    uint8_t *byte_cls = malloc(total ? total : 1);
    if (!bytes || !byte_cls) {
        free(bytes);
        free(byte_cls);
        return -1;
    }
    for (size_t i = 0, at = 0; i < n; i++) {
        const char *s = pm_tokenizer_token(tok, tokens[i], &len);
        if (!s) bytes[at++] = NOT_A_BYTE;
        for (size_t j = 0; s && j < len; j++) bytes[at++] = (unsigned char)s[j];
    }
    classify_bytes(lx, bytes, total, byte_cls);
    for (size_t i = 0, at = 0; i < n; i++) {
        pm_tokenizer_token(tok, tokens[i], &len);
        size_t k = len ? len : 1, first = 0;
        while (first < k && (bytes[at + first] == ' ' || bytes[at + first] == '\t')) first++;
        cls[i] = byte_cls[at + (first < k ? first : 0)];
        at += k;
    }
    free(bytes);
    free(byte_cls);
    return 0;
}
