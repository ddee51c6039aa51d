/* lexer.h — turns a cell's text into tokens (names, numbers, strings, operators, brackets,
 * newlines), each with its byte offset, line and column (code points, 1-based). Newlines
 * inside open ( [ { are dropped, a trailing backslash joins lines, # starts a comment. */
#ifndef LB_LEXER_H
#define LB_LEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef enum {
    TK_EOF,
    TK_NEWLINE,
    TK_NAME,
    TK_NUMBER,
    TK_STRING,
    /* operators and punctuation */
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_DSLASH, TK_PERCENT, TK_POW,
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_ASSIGN, TK_COMMA, TK_DOT, TK_COLON,
    TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE
} lb_tok_kind;

typedef struct lb_token {
    lb_tok_kind kind;
    size_t start, len;   /* bytes in the source */
    int line, col;       /* 1-based; col in code points */
    int width;           /* width in code points (for carets) */
    bool space_before;   /* whitespace (or line start) precedes the token */
    double num;          /* TK_NUMBER */
    char *text;          /* TK_NAME: the name; TK_STRING: the decoded value (malloc'd) */
    size_t text_len;
} lb_token;

typedef struct lb_tokens {
    lb_token *items;
    size_t len, cap;
} lb_tokens;

/* Tokenizes code. Returns 0, or -1 with *err set; then *incomplete (optional) tells whether
 * the input merely ended too early (unterminated string, open bracket, trailing backslash),
 * which is_complete reports as "incomplete". Always ends with a TK_EOF token on success. */
int lb_lex(const char *code, lb_tokens *out, lb_error *err, bool *incomplete);
void lb_tokens_free(lb_tokens *toks);

const char *lb_tok_kind_name(lb_tok_kind k); /* "name", "number", "'+'", ... */

/* true for the reserved words true, false, none, and, or, not (the lexer's keywords: they can
 * name no variable, command or parameter) */
bool lb_is_keyword(const char *name);

#endif
