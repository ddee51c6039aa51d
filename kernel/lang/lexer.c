/* lexer.c — the tokenizer of the labbook language (see lexer.h and spec/language.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "lang/lexer.h"

typedef struct {
    const char *src;
    size_t pos;
    int line, col;
    lb_tokens *out;
    lb_error *err;
    bool *incomplete;
    /* open brackets: kind and position of each */
    char stack[256];
    int stack_line[256], stack_col[256];
    int depth;
} lexer;

const char *lb_tok_kind_name(lb_tok_kind k)
{
    switch (k) {
    case TK_EOF: return "end of input";
    case TK_NEWLINE: return "end of line";
    case TK_NAME: return "name";
    case TK_NUMBER: return "number";
    case TK_STRING: return "string";
    case TK_PLUS: return "'+'";
    case TK_MINUS: return "'-'";
    case TK_STAR: return "'*'";
    case TK_SLASH: return "'/'";
    case TK_DSLASH: return "'//'";
    case TK_PERCENT: return "'%'";
    case TK_POW: return "'**'";
    case TK_EQ: return "'=='";
    case TK_NE: return "'!='";
    case TK_LT: return "'<'";
    case TK_LE: return "'<='";
    case TK_GT: return "'>'";
    case TK_GE: return "'>='";
    case TK_ASSIGN: return "'='";
    case TK_COMMA: return "','";
    case TK_DOT: return "'.'";
    case TK_COLON: return "':'";
    case TK_LPAREN: return "'('";
    case TK_RPAREN: return "')'";
    case TK_LBRACKET: return "'['";
    case TK_RBRACKET: return "']'";
    case TK_LBRACE: return "'{'";
    case TK_RBRACE: return "'}'";
    }
    return "token";
}

void lb_tokens_free(lb_tokens *toks)
{
    if (!toks)
        return;
    for (size_t i = 0; i < toks->len; i++)
        free(toks->items[i].text);
    free(toks->items);
    memset(toks, 0, sizeof *toks);
}

static int cp_width(const char *s, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static lb_token *push(lexer *lx, lb_tok_kind kind, size_t start, int line, int col, bool space)
{
    lb_tokens *t = lx->out;
    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        lb_token *items = realloc(t->items, cap * sizeof *items);
        if (!items) {
            lb_error_set(lx->err, "MemoryError", line, col, "out of memory");
            return NULL;
        }
        t->items = items;
        t->cap = cap;
    }
    lb_token *tok = &t->items[t->len++];
    memset(tok, 0, sizeof *tok);
    tok->kind = kind;
    tok->start = start;
    tok->len = lx->pos - start;
    tok->line = line;
    tok->col = col;
    tok->width = cp_width(lx->src + start, tok->len);
    if (tok->width < 1)
        tok->width = 1;
    tok->space_before = space;
    return tok;
}

/* Advances one byte, keeping line/col (code points) right. */
static void adv(lexer *lx)
{
    char c = lx->src[lx->pos];
    if (!c)
        return;
    lx->pos++;
    if (c == '\n') {
        lx->line++;
        lx->col = 1;
    } else if (((unsigned char)lx->src[lx->pos] & 0xC0) != 0x80) {
        /* the next byte starts a new code point: this one is finished */
        lx->col++;
    }
}

static int fail_at(lexer *lx, int line, int col, int span, bool incomplete, const char *fmt,
                   const char *arg)
{
    lb_error_set(lx->err, "SyntaxError", line, col, fmt, arg);
    if (lx->err)
        lx->err->span = span > 0 ? span : 1;
    if (lx->incomplete)
        *lx->incomplete = incomplete;
    return -1;
}

/* Source text is UTF-8 (spec/language.md §1): the first byte that does not start a valid
 * sequence is a SyntaxError at its place, before any token is made, so that no invalid text
 * reaches a value, an error message or the JSON of a reply (a Latin-1 file given to
 * `labbook run`, say). */
static int check_utf8(lexer *lx)
{
    const unsigned char *s = (const unsigned char *)lx->src;
    size_t n = strlen(lx->src);
    for (size_t i = 0; i < n;) {
        size_t k = lb_utf8_seq_len(s + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        while (lx->pos < i)
            adv(lx);
        char byte[8];
        snprintf(byte, sizeof byte, "0x%02X", s[i]);
        return fail_at(lx, lx->line, lx->col, 1, false,
                       "invalid UTF-8 (byte %s): labbook source text is UTF-8", byte);
    }
    return 0;
}

static void put_utf8(char *buf, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        buf[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        buf[(*n)++] = (char)(0xC0 | (cp >> 6));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*n)++] = (char)(0xE0 | (cp >> 12));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int lex_string(lexer *lx, bool space)
{
    size_t start = lx->pos;
    int line = lx->line, col = lx->col;
    char quote = lx->src[lx->pos];
    adv(lx);
    /* decoded text is never longer than the source bytes */
    char *buf = malloc(strlen(lx->src + lx->pos) + 1);
    size_t n = 0;
    if (!buf)
        return lb_error_set(lx->err, "MemoryError", line, col, "out of memory");
    for (;;) {
        char c = lx->src[lx->pos];
        if (c == '\0') {
            free(buf);
            return fail_at(lx, line, col, 1, true, "unterminated string (the closing %s is missing)",
                           quote == '"' ? "'\"'" : "\"'\"");
        }
        if (c == '\n') {
            size_t rest = lx->pos;
            while (lx->src[rest] == ' ' || lx->src[rest] == '\t' || lx->src[rest] == '\r' ||
                   lx->src[rest] == '\n')
                rest++;
            free(buf);
            return fail_at(lx, line, col, 1, lx->src[rest] == '\0',
                           "unterminated string: a string cannot span lines (the closing %s is missing)",
                           quote == '"' ? "'\"'" : "\"'\"");
        }
        if (c == quote) {
            adv(lx);
            break;
        }
        if (c != '\\') {
            buf[n++] = c;
            adv(lx);
            continue;
        }
        int eline = lx->line, ecol = lx->col;
        adv(lx);
        char e = lx->src[lx->pos];
        switch (e) {
        case 'n': buf[n++] = '\n'; adv(lx); break;
        case 't': buf[n++] = '\t'; adv(lx); break;
        case 'r': buf[n++] = '\r'; adv(lx); break;
        case '\\': buf[n++] = '\\'; adv(lx); break;
        case '"': buf[n++] = '"'; adv(lx); break;
        case '\'': buf[n++] = '\''; adv(lx); break;
        case '\n': adv(lx); break; /* backslash-newline continues the string */
        case '\0':
            free(buf);
            return fail_at(lx, line, col, 1, true, "unterminated string (the closing %s is missing)",
                           quote == '"' ? "'\"'" : "\"'\"");
        case 'u': {
            unsigned cp = 0;
            adv(lx);
            for (int i = 0; i < 4; i++) {
                int h = hexval(lx->src[lx->pos]);
                if (h < 0) {
                    free(buf);
                    return fail_at(lx, eline, ecol, 2 + i, false,
                                   "invalid \\u escape: expected 4 hex digits%s", "");
                }
                cp = cp * 16 + (unsigned)h;
                adv(lx);
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                free(buf);
                return fail_at(lx, eline, ecol, 6, false,
                               "invalid \\u escape: %s is not an allowed character",
                               cp == 0 ? "\\u0000" : "a surrogate");
            }
            put_utf8(buf, &n, cp);
            break;
        }
        default: {
            char what[8] = {0};
            size_t k = 0;
            what[k++] = e;
            while (k < 4 && ((unsigned char)lx->src[lx->pos + k] & 0xC0) == 0x80)
                what[k] = lx->src[lx->pos + k], k++;
            free(buf);
            return fail_at(lx, eline, ecol, 2, false,
                           "invalid escape '\\%s' in string (use \\\\ for a backslash)", what);
        }
        }
    }
    buf[n] = '\0';
    lb_token *t = push(lx, TK_STRING, start, line, col, space);
    if (!t) {
        free(buf);
        return -1;
    }
    t->text = buf;
    t->text_len = n;
    return 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

static int lex_number(lexer *lx, bool space)
{
    size_t start = lx->pos;
    int line = lx->line, col = lx->col;
    while (is_digit(lx->src[lx->pos]))
        adv(lx);
    if (lx->src[lx->pos] == '.' && !is_name_start(lx->src[lx->pos + 1])) {
        adv(lx);
        while (is_digit(lx->src[lx->pos]))
            adv(lx);
    }
    char c = lx->src[lx->pos];
    if (c == 'e' || c == 'E') {
        size_t save = lx->pos;
        int sl = lx->line, sc = lx->col;
        adv(lx);
        if (lx->src[lx->pos] == '+' || lx->src[lx->pos] == '-')
            adv(lx);
        if (!is_digit(lx->src[lx->pos])) {
            lx->pos = save;
            lx->line = sl;
            lx->col = sc;
        } else {
            while (is_digit(lx->src[lx->pos]))
                adv(lx);
        }
    }
    if (is_name_char(lx->src[lx->pos]) || lx->src[lx->pos] == '.') {
        size_t e = lx->pos;
        while (is_name_char(lx->src[e]) || lx->src[e] == '.')
            e++;
        char text[64];
        snprintf(text, sizeof text, "%.*s", (int)(e - start > 40 ? 40 : e - start), lx->src + start);
        return fail_at(lx, line, col, (int)(e - start), false, "invalid number '%s'", text);
    }
    char buf[128];
    size_t len = lx->pos - start;
    if (len >= sizeof buf)
        return fail_at(lx, line, col, (int)len, false, "number too long%s", "");
    memcpy(buf, lx->src + start, len);
    buf[len] = '\0';
    lb_token *t = push(lx, TK_NUMBER, start, line, col, space);
    if (!t)
        return -1;
    t->num = strtod(buf, NULL);
    return 0;
}

static const char *closer_for(char open)
{
    return open == '(' ? "')'" : open == '[' ? "']'" : "'}'";
}

/* A backslash ending the line (before optional blanks): the line goes on. */
static int lex_continuation(lexer *lx)
{
    int line = lx->line, col = lx->col;
    size_t p = lx->pos + 1;
    while (lx->src[p] == ' ' || lx->src[p] == '\t' || lx->src[p] == '\r')
        p++;
    if (lx->src[p] == '\0')
        return fail_at(lx, line, col, 1, true, "unexpected end of input after '\\'%s", "");
    if (lx->src[p] != '\n')
        return fail_at(lx, line, col, 1, false,
                       "unexpected character after line continuation '\\'%s", "");
    while (lx->pos <= p)
        adv(lx);
    return 0;
}

/* A line break: a NEWLINE token outside brackets, unless the last token already is one. */
static int lex_newline(lexer *lx, bool space)
{
    lb_tokens *out = lx->out;
    size_t start = lx->pos;
    int line = lx->line, col = lx->col;
    adv(lx);
    if (lx->depth == 0) {
        /* collapse blank lines: never two NEWLINEs in a row, none at the start */
        if (out->len > 0 && out->items[out->len - 1].kind != TK_NEWLINE) {
            lb_token *t = push(lx, TK_NEWLINE, start, line, col, space);
            if (!t)
                return -1;
            t->len = 1;
            t->width = 1;
        }
    }
    return 0;
}

/* A name (keywords too: the parser tells them apart), its text kept. */
static int lex_name(lexer *lx, bool space)
{
    size_t start = lx->pos;
    int line = lx->line, col = lx->col;
    while (is_name_char(lx->src[lx->pos]))
        adv(lx);
    lb_token *t = push(lx, TK_NAME, start, line, col, space);
    if (!t)
        return -1;
    t->text = strndup(lx->src + start, lx->pos - start);
    if (!t->text) {
        lb_error_set(lx->err, "MemoryError", line, col, "out of memory");
        return -1;
    }
    t->text_len = lx->pos - start;
    return 0;
}

/* The error for a character no token starts with (its whole code point quoted, a control
 * character as \xNN). */
static int unexpected_char(lexer *lx, int line, int col)
{
    char c = lx->src[lx->pos];
    char what[8] = {0};
    size_t m = 0;
    what[m++] = c;
    while (m < 4 && ((unsigned char)lx->src[lx->pos + m] & 0xC0) == 0x80)
        what[m] = lx->src[lx->pos + m], m++;
    if ((unsigned char)c < 0x20)
        snprintf(what, sizeof what, "\\x%02x", (unsigned char)c);
    return fail_at(lx, line, col, 1, false, "unexpected character '%s'", what);
}

/* Keeps the stack of open brackets for the bracket c of kind k at (line, col): a closer must
 * match the last opener. */
static int track_bracket(lexer *lx, char c, lb_tok_kind k, int line, int col)
{
    if (k == TK_LPAREN || k == TK_LBRACKET || k == TK_LBRACE) {
        if (lx->depth >= (int)sizeof lx->stack)
            return fail_at(lx, line, col, 1, false, "too many nested brackets%s", "");
        lx->stack[lx->depth] = c;
        lx->stack_line[lx->depth] = line;
        lx->stack_col[lx->depth] = col;
        lx->depth++;
    } else if (k == TK_RPAREN || k == TK_RBRACKET || k == TK_RBRACE) {
        if (lx->depth > 0) {
            char open = lx->stack[lx->depth - 1];
            char want = open == '(' ? ')' : open == '[' ? ']' : '}';
            if (c != want) {
                char msg[32];
                snprintf(msg, sizeof msg, "%c", c);
                lb_error_set(lx->err, "SyntaxError", line, col,
                             "closing '%s' does not match '%c' opened at line %d, column %d",
                             msg, open, lx->stack_line[lx->depth - 1], lx->stack_col[lx->depth - 1]);
                return -1;
            }
            lx->depth--;
        }
        /* an unmatched closer is left to the parser ("unexpected ')'") */
    }
    return 0;
}

/* An operator or a bracket. */
static int lex_operator(lexer *lx, bool space)
{
    char c = lx->src[lx->pos];
    size_t start = lx->pos;
    int line = lx->line, col = lx->col;
    char n1 = lx->src[lx->pos + 1];
    lb_tok_kind k;
    int len = 1;
    switch (c) {
    case '+': k = TK_PLUS; break;
    case '-': k = TK_MINUS; break;
    case '*': if (n1 == '*') { k = TK_POW; len = 2; } else k = TK_STAR; break;
    case '/': if (n1 == '/') { k = TK_DSLASH; len = 2; } else k = TK_SLASH; break;
    case '%': k = TK_PERCENT; break;
    case '=': if (n1 == '=') { k = TK_EQ; len = 2; } else k = TK_ASSIGN; break;
    case '!':
        if (n1 != '=')
            return fail_at(lx, line, col, 1, false,
                           "unexpected character '!' (use 'not' for negation, '!=' for inequality)%s", "");
        k = TK_NE; len = 2; break;
    case '<': if (n1 == '=') { k = TK_LE; len = 2; } else k = TK_LT; break;
    case '>': if (n1 == '=') { k = TK_GE; len = 2; } else k = TK_GT; break;
    case ',': k = TK_COMMA; break;
    case '.': k = TK_DOT; break;
    case ':': k = TK_COLON; break;
    case '(': k = TK_LPAREN; break;
    case ')': k = TK_RPAREN; break;
    case '[': k = TK_LBRACKET; break;
    case ']': k = TK_RBRACKET; break;
    case '{': k = TK_LBRACE; break;
    case '}': k = TK_RBRACE; break;
    default:
        return unexpected_char(lx, line, col);
    }
    for (int i = 0; i < len; i++)
        adv(lx);
    if (track_bracket(lx, c, k, line, col) < 0)
        return -1;
    return push(lx, k, start, line, col, space) ? 0 : -1;
}

/* The end of the input: every bracket closed (else the cell is incomplete), then a last
 * NEWLINE and EOF. */
static int lex_end(lexer *lx, bool space)
{
    lb_tokens *out = lx->out;
    if (lx->depth > 0) {
        int d = lx->depth - 1;
        char open[2] = {lx->stack[d], 0};
        lb_error_set(lx->err, "SyntaxError", lx->stack_line[d], lx->stack_col[d],
                     "'%s' was never closed (expected %s)", open, closer_for(lx->stack[d]));
        if (lx->incomplete)
            *lx->incomplete = true;
        return -1;
    }
    if (out->len > 0 && out->items[out->len - 1].kind != TK_NEWLINE) {
        lb_token *t = push(lx, TK_NEWLINE, lx->pos, lx->line, lx->col, space);
        if (!t)
            return -1;
    }
    if (!push(lx, TK_EOF, lx->pos, lx->line, lx->col, space))
        return -1;
    return 0;
}

int lb_lex(const char *code, lb_tokens *out, lb_error *err, bool *incomplete)
{
    lexer lx = {.src = code ? code : "", .line = 1, .col = 1, .out = out, .err = err,
                .incomplete = incomplete};
    memset(out, 0, sizeof *out);
    if (incomplete)
        *incomplete = false;
    if (check_utf8(&lx) < 0)
        return -1;
    bool space = true;
    for (;;) {
        char c = lx.src[lx.pos];
        if (c == '\0')
            break;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
            adv(&lx);
            space = true;
            continue;
        }
        if (c == '#') {
            while (lx.src[lx.pos] && lx.src[lx.pos] != '\n')
                adv(&lx);
            continue;
        }
        int rc;
        if (c == '\\')
            rc = lex_continuation(&lx);
        else if (c == '\n')
            rc = lex_newline(&lx, space);
        else if (c == '"' || c == '\'')
            rc = lex_string(&lx, space);
        else if (is_digit(c) || (c == '.' && is_digit(lx.src[lx.pos + 1])))
            rc = lex_number(&lx, space);
        else if (is_name_start(c))
            rc = lex_name(&lx, space);
        else
            rc = lex_operator(&lx, space);
        if (rc < 0)
            goto fail;
        /* the token after a line break has space before it */
        space = c == '\\' || c == '\n';
    }
    if (lex_end(&lx, space) < 0)
        goto fail;
    return 0;
fail:
    lb_tokens_free(out);
    return -1;
}

bool lb_is_keyword(const char *name)
{
    static const char *const kw[] = {"true", "false", "none", "and", "or", "not"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strcmp(name, kw[i]) == 0)
            return true;
    return false;
}
