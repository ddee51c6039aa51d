/* parser.c — recursive-descent parser of the labbook language (grammar in spec/language.md):
 * one statement per line: `name = expr`, a command `verb arg ... key=value ...` (verbs come
 * from the command table), or a bare expression. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/commands.h"
#include "lang/parser.h"

#define MAX_DEPTH 200

typedef struct {
    lb_tokens toks;
    size_t i;
    const lb_commands *cmds;
    lb_error *err;
    bool *incomplete;
    bool cmd_mode; /* parsing a command argument at bracket depth 0 */
    int depth;
} parser;

void lb_node_free(lb_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        lb_node_free(n->kids[i]);
    free(n->kids);
    free(n->ops);
    free(n->text);
    free(n);
}

static lb_token *cur(parser *p) { return &p->toks.items[p->i]; }
static lb_token *peek(parser *p, size_t k)
{
    size_t j = p->i + k;
    return j < p->toks.len ? &p->toks.items[j] : &p->toks.items[p->toks.len - 1];
}
static bool at(parser *p, lb_tok_kind k) { return cur(p)->kind == k; }
static bool at_name(parser *p, const char *name)
{
    return cur(p)->kind == TK_NAME && strcmp(cur(p)->text, name) == 0;
}
static lb_token *next(parser *p)
{
    lb_token *t = cur(p);
    if (t->kind != TK_EOF)
        p->i++;
    return t;
}

static void describe(const lb_token *t, char *buf, size_t size)
{
    if (t->kind == TK_NAME)
        snprintf(buf, size, "%s '%s'", lb_is_keyword(t->text) ? "keyword" : "name", t->text);
    else if (t->kind == TK_NUMBER || t->kind == TK_STRING)
        snprintf(buf, size, "%s", lb_tok_kind_name(t->kind));
    else
        snprintf(buf, size, "%s", lb_tok_kind_name(t->kind));
}

static int syntax_at(parser *p, const lb_token *t, const char *fmt, const char *arg)
{
    lb_error_set(p->err, "SyntaxError", t->line, t->col, fmt, arg);
    if (p->err)
        p->err->span = t->width;
    return -1;
}

static int unexpected(parser *p, const char *context)
{
    char what[96], msg[200];
    describe(cur(p), what, sizeof what);
    if (context)
        snprintf(msg, sizeof msg, "unexpected %s %s", what, context);
    else
        snprintf(msg, sizeof msg, "unexpected %s", what);
    return syntax_at(p, cur(p), "%s", msg);
}

static lb_node *node_at(parser *p, lb_node_kind kind, const lb_token *t)
{
    lb_node *n = calloc(1, sizeof *n);
    if (!n) {
        lb_error_set(p->err, "MemoryError", t->line, t->col, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->height = 1;
    n->line = t->line;
    n->col = t->col;
    n->span = t->width;
    n->start = t->start;
    n->end = t->start + t->len;
    n->end_line = t->line;
    n->end_col = t->col + t->width;
    return n;
}

/* Ends node n at the last consumed token. */
static void finish(parser *p, lb_node *n)
{
    if (p->i == 0)
        return;
    const lb_token *t = &p->toks.items[p->i - 1];
    if (t->start + t->len <= n->start)
        return;
    n->end = t->start + t->len;
    n->end_line = t->line;
    n->end_col = t->col + t->width;
    if (n->end_line == n->line && n->end_col > n->col)
        n->span = n->end_col - n->col;
}

/* Starts node n where child c starts. */
static void start_like(lb_node *n, const lb_node *c)
{
    n->line = c->line;
    n->col = c->col;
    n->start = c->start;
    n->span = c->span;
}

static int add_kid(parser *p, lb_node *n, lb_node *kid)
{
    if (n->kind != LB_N_BLOCK && kid->height + 1 > n->height) {
        n->height = kid->height + 1;
        if (n->height > LB_MAX_TREE_HEIGHT) {
            lb_error_set(p->err, "SyntaxError", kid->line, kid->col,
                         "expression too deeply nested or too long (more than %d levels): split it "
                         "over several statements",
                         LB_MAX_TREE_HEIGHT);
            lb_node_free(kid);
            return -1;
        }
    }
    if (n->nkids == n->kids_cap) {
        size_t cap = n->kids_cap ? n->kids_cap * 2 : 2;
        lb_node **kids = realloc(n->kids, cap * sizeof *kids);
        if (!kids) {
            lb_node_free(kid);
            return lb_error_set(p->err, "MemoryError", n->line, n->col, "out of memory");
        }
        n->kids = kids;
        n->kids_cap = cap;
    }
    n->kids[n->nkids++] = kid;
    return 0;
}

static char *dup_text(parser *p, const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d) {
        lb_oom(p->err);
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* A node of `kind` at token t that carries t's text (names, strings, `NAME =` keys). */
static lb_node *text_node(parser *p, lb_node_kind kind, const lb_token *t)
{
    lb_node *n = node_at(p, kind, t);
    if (!n)
        return NULL;
    n->text = dup_text(p, t->text, t->text_len);
    n->text_len = t->text_len;
    if (!n->text) {
        lb_node_free(n);
        return NULL;
    }
    return n;
}

static lb_node *parse_expr(parser *p);

/* In command mode, `(` or `[` after whitespace starts a new argument instead of a call/index,
 * and `-x` / `+x` after whitespace (with none between sign and operand) too. */
static bool new_arg_starts(parser *p)
{
    if (!p->cmd_mode)
        return false;
    lb_token *t = cur(p);
    if ((t->kind == TK_LPAREN || t->kind == TK_LBRACKET) && t->space_before)
        return true;
    if ((t->kind == TK_MINUS || t->kind == TK_PLUS) && t->space_before && !peek(p, 1)->space_before &&
        peek(p, 1)->kind != TK_NEWLINE && peek(p, 1)->kind != TK_EOF)
        return true;
    return false;
}

/* Parses comma-separated items up to `close`; each item via parse_item. */
static int parse_items(parser *p, lb_node *n, lb_tok_kind close, const char *what,
                       lb_node *(*parse_item)(parser *p))
{
    bool saved = p->cmd_mode;
    p->cmd_mode = false;
    while (!at(p, close)) {
        lb_node *item = parse_item(p);
        if (!item || add_kid(p, n, item) < 0) {
            p->cmd_mode = saved;
            return -1;
        }
        if (at(p, TK_COMMA)) {
            next(p);
            continue;
        }
        if (!at(p, close)) {
            char ctx[64];
            snprintf(ctx, sizeof ctx, "in %s (expected ',' or %s)", what, lb_tok_kind_name(close));
            p->cmd_mode = saved;
            return unexpected(p, ctx);
        }
    }
    next(p);
    p->cmd_mode = saved;
    return 0;
}

static lb_node *parse_map_item(parser *p)
{
    lb_token *k = cur(p);
    if (k->kind != TK_NAME && k->kind != TK_STRING) {
        unexpected(p, "as a map key (expected a name or a string)");
        return NULL;
    }
    if (k->kind == TK_NAME && lb_is_keyword(k->text)) {
        syntax_at(p, k, "keyword '%s' cannot be a bare map key (quote it)", k->text);
        return NULL;
    }
    next(p);
    lb_node *n = node_at(p, LB_N_KEYWORD, k);
    if (!n)
        return NULL;
    n->key_line = k->line;
    n->key_col = k->col;
    n->text = dup_text(p, k->text, k->text_len);
    n->text_len = k->text_len;
    if (!n->text) {
        lb_node_free(n);
        return NULL;
    }
    if (!at(p, TK_COLON)) {
        unexpected(p, "after a map key (expected ':')");
        lb_node_free(n);
        return NULL;
    }
    next(p);
    lb_node *v = parse_expr(p);
    if (!v || add_kid(p, n, v) < 0) {
        lb_node_free(n);
        return NULL;
    }
    finish(p, n);
    return n;
}

/* Consumes `NAME =` at the cursor: a node of the given kind named NAME (its text and key
 * position set, its value still to parse), or NULL. */
static lb_node *name_eq_node(parser *p, lb_node_kind kind)
{
    lb_token *t = next(p);
    next(p);
    lb_node *n = text_node(p, kind, t);
    if (n) {
        n->key_line = t->line;
        n->key_col = t->col;
    }
    return n;
}

static lb_node *parse_call_arg(parser *p)
{
    lb_token *t = cur(p);
    if (t->kind == TK_NAME && peek(p, 1)->kind == TK_ASSIGN && !lb_is_keyword(t->text)) {
        lb_node *n = name_eq_node(p, LB_N_KEYWORD);
        if (!n)
            return NULL;
        lb_node *v = parse_expr(p);
        if (!v || add_kid(p, n, v) < 0) {
            lb_node_free(n);
            return NULL;
        }
        finish(p, n);
        return n;
    }
    return parse_expr(p);
}

/* A list or map literal: the opening bracket at the cursor, then items up to `close`. */
static lb_node *parse_collection(parser *p, lb_node_kind kind, lb_tok_kind close, const char *what,
                                 lb_node *(*parse_item)(parser *p))
{
    lb_token *t = next(p);
    lb_node *n = node_at(p, kind, t);
    if (!n)
        return NULL;
    if (parse_items(p, n, close, what, parse_item) < 0) {
        lb_node_free(n);
        return NULL;
    }
    finish(p, n);
    return n;
}

static lb_node *parse_primary(parser *p)
{
    lb_token *t = cur(p);
    lb_node *n = NULL;
    switch (t->kind) {
    case TK_NUMBER:
        next(p);
        n = node_at(p, LB_N_NUM, t);
        if (n)
            n->num = t->num;
        return n;
    case TK_STRING:
        next(p);
        return text_node(p, LB_N_STR, t);
    case TK_NAME:
        if (strcmp(t->text, "true") == 0 || strcmp(t->text, "false") == 0) {
            next(p);
            n = node_at(p, LB_N_BOOL, t);
            if (n)
                n->num = t->text[0] == 't';
            return n;
        }
        if (strcmp(t->text, "none") == 0) {
            next(p);
            return node_at(p, LB_N_NONE, t);
        }
        if (lb_is_keyword(t->text)) {
            unexpected(p, "(expected an expression)");
            return NULL;
        }
        next(p);
        return text_node(p, LB_N_NAME, t);
    case TK_LPAREN: {
        next(p);
        bool saved = p->cmd_mode;
        p->cmd_mode = false;
        if (at(p, TK_RPAREN)) {
            p->cmd_mode = saved;
            unexpected(p, "(expected an expression inside '( )')");
            return NULL;
        }
        n = parse_expr(p);
        p->cmd_mode = saved;
        if (!n)
            return NULL;
        if (!at(p, TK_RPAREN)) {
            unexpected(p, "(expected ')')");
            lb_node_free(n);
            return NULL;
        }
        next(p);
        /* the parenthesised expression keeps its own position; widen to the brackets */
        n->line = t->line;
        n->col = t->col;
        n->start = t->start;
        n->span = 1;
        finish(p, n);
        return n;
    }
    case TK_LBRACKET:
        return parse_collection(p, LB_N_LIST, TK_RBRACKET, "a list", parse_expr);
    case TK_LBRACE:
        return parse_collection(p, LB_N_MAP, TK_RBRACE, "a map", parse_map_item);
    default:
        unexpected(p, "(expected an expression)");
        return NULL;
    }
}

static lb_node *wrap(parser *p, lb_node_kind kind, lb_node *inner, const lb_token *at_tok)
{
    lb_node *n = node_at(p, kind, at_tok);
    if (!n) {
        lb_node_free(inner);
        return NULL;
    }
    start_like(n, inner);
    if (add_kid(p, n, inner) < 0) {
        lb_node_free(n);
        return NULL;
    }
    return n;
}

static lb_node *parse_postfix(parser *p)
{
    lb_node *n = parse_primary(p);
    while (n) {
        lb_token *t = cur(p);
        if (new_arg_starts(p))
            break;
        if (t->kind == TK_LPAREN) {
            next(p);
            n = wrap(p, LB_N_CALL, n, t);
            if (n && parse_items(p, n, TK_RPAREN, "the arguments of a call", parse_call_arg) < 0) {
                lb_node_free(n);
                return NULL;
            }
        } else if (t->kind == TK_LBRACKET) {
            next(p);
            n = wrap(p, LB_N_INDEX, n, t);
            if (!n)
                return NULL;
            bool saved = p->cmd_mode;
            p->cmd_mode = false;
            lb_node *idx = parse_expr(p);
            p->cmd_mode = saved;
            if (!idx || add_kid(p, n, idx) < 0) {
                lb_node_free(n);
                return NULL;
            }
            if (!at(p, TK_RBRACKET)) {
                unexpected(p, "(expected ']')");
                lb_node_free(n);
                return NULL;
            }
            next(p);
        } else if (t->kind == TK_DOT) {
            next(p);
            lb_token *m = cur(p);
            if (m->kind != TK_NAME) {
                unexpected(p, "after '.' (expected a member name)");
                lb_node_free(n);
                return NULL;
            }
            next(p);
            n = wrap(p, LB_N_MEMBER, n, t);
            if (!n)
                return NULL;
            n->key_line = m->line;
            n->key_col = m->col;
            n->text = dup_text(p, m->text, m->text_len);
            if (!n->text) {
                lb_node_free(n);
                return NULL;
            }
        } else {
            break;
        }
        if (n)
            finish(p, n);
    }
    return n;
}

static lb_node *parse_unary(parser *p);

static lb_node *binary(parser *p, lb_node_kind kind, lb_tok_kind op, lb_node *l, lb_node *r,
                       const lb_token *op_tok)
{
    lb_node *n = node_at(p, kind, op_tok);
    if (!n) {
        lb_node_free(l);
        lb_node_free(r);
        return NULL;
    }
    n->op = op;
    start_like(n, l);
    if (add_kid(p, n, l) < 0) {
        lb_node_free(r);
        lb_node_free(n);
        return NULL;
    }
    if (add_kid(p, n, r) < 0) {
        lb_node_free(n);
        return NULL;
    }
    finish(p, n);
    return n;
}

/* Consumes the operator at the cursor and parses its right operand with `operand`: the node
 * `l op r` of the given kind, or NULL (l freed) when the operand fails. */
static lb_node *binary_rhs(parser *p, lb_node_kind kind, lb_node *l, lb_node *(*operand)(parser *))
{
    lb_token *op = next(p);
    lb_node *r = operand(p);
    if (!r) {
        lb_node_free(l);
        return NULL;
    }
    return binary(p, kind, op->kind, l, r, op);
}

/* A prefix operator (-x, +x, not x): consumes the operator at the cursor, parses its operand
 * with `operand` (nesting bounded like brackets) and returns the node of the given kind. */
static lb_node *prefix(parser *p, lb_node_kind kind, lb_node *(*operand)(parser *))
{
    lb_token *t = next(p);
    if (++p->depth > MAX_DEPTH) {
        syntax_at(p, t, "expression nested too deeply%s", "");
        return NULL;
    }
    lb_node *inner = operand(p);
    p->depth--;
    if (!inner)
        return NULL;
    lb_node *n = node_at(p, kind, t);
    if (!n) {
        lb_node_free(inner);
        return NULL;
    }
    n->op = t->kind;
    if (add_kid(p, n, inner) < 0) {
        lb_node_free(n);
        return NULL;
    }
    finish(p, n);
    return n;
}

static lb_node *parse_power(parser *p)
{
    lb_node *l = parse_postfix(p);
    if (!l || !at(p, TK_POW))
        return l;
    lb_token *op = next(p);
    /* right-associative, so a**b**c recurses: bound it like any other nesting */
    if (++p->depth > MAX_DEPTH) {
        syntax_at(p, op, "expression nested too deeply%s", "");
        lb_node_free(l);
        return NULL;
    }
    lb_node *r = parse_unary(p); /* -x binds looser on the left only */
    p->depth--;
    if (!r) {
        lb_node_free(l);
        return NULL;
    }
    return binary(p, LB_N_BINARY, TK_POW, l, r, op);
}

static lb_node *parse_unary(parser *p)
{
    if (at(p, TK_MINUS) || at(p, TK_PLUS))
        return prefix(p, LB_N_UNARY, parse_unary);
    return parse_power(p);
}

static lb_node *parse_term(parser *p)
{
    lb_node *l = parse_unary(p);
    while (l && (at(p, TK_STAR) || at(p, TK_SLASH) || at(p, TK_DSLASH) || at(p, TK_PERCENT)))
        l = binary_rhs(p, LB_N_BINARY, l, parse_unary);
    return l;
}

static lb_node *parse_sum(parser *p)
{
    lb_node *l = parse_term(p);
    while (l && (at(p, TK_PLUS) || at(p, TK_MINUS)) && !new_arg_starts(p))
        l = binary_rhs(p, LB_N_BINARY, l, parse_term);
    return l;
}

static bool is_compare(lb_tok_kind k)
{
    return k == TK_EQ || k == TK_NE || k == TK_LT || k == TK_LE || k == TK_GT || k == TK_GE;
}

static lb_node *parse_comparison(parser *p)
{
    lb_node *l = parse_sum(p);
    if (!l || !is_compare(cur(p)->kind))
        return l;
    lb_node *n = node_at(p, LB_N_COMPARE, cur(p));
    if (!n) {
        lb_node_free(l);
        return NULL;
    }
    start_like(n, l);
    if (add_kid(p, n, l) < 0) {
        lb_node_free(n);
        return NULL;
    }
    size_t ops_cap = 0;
    while (is_compare(cur(p)->kind)) {
        lb_token *op = next(p);
        if (n->nkids > ops_cap) {
            size_t cap = ops_cap ? ops_cap * 2 : 2;
            lb_tok_kind *ops = realloc(n->ops, cap * sizeof *ops);
            if (!ops) {
                lb_error_set(p->err, "MemoryError", op->line, op->col, "out of memory");
                lb_node_free(n);
                return NULL;
            }
            n->ops = ops;
            ops_cap = cap;
        }
        n->ops[n->nkids - 1] = op->kind;
        lb_node *r = parse_sum(p);
        if (!r || add_kid(p, n, r) < 0) {
            lb_node_free(n);
            return NULL;
        }
    }
    finish(p, n);
    return n;
}

static lb_node *parse_not(parser *p)
{
    if (at_name(p, "not"))
        return prefix(p, LB_N_NOT, parse_not);
    return parse_comparison(p);
}

static lb_node *parse_and(parser *p)
{
    lb_node *l = parse_not(p);
    while (l && at_name(p, "and"))
        l = binary_rhs(p, LB_N_AND, l, parse_not);
    return l;
}

static lb_node *parse_or(parser *p)
{
    lb_node *l = parse_and(p);
    while (l && at_name(p, "or"))
        l = binary_rhs(p, LB_N_OR, l, parse_and);
    return l;
}

static lb_node *parse_expr(parser *p)
{
    if (++p->depth > MAX_DEPTH) {
        syntax_at(p, cur(p), "expression nested too deeply%s", "");
        return NULL;
    }
    lb_node *n = parse_or(p);
    p->depth--;
    return n;
}

static bool at_line_end(parser *p)
{
    return at(p, TK_NEWLINE) || at(p, TK_EOF);
}

/* Can token t begin an expression that could not continue the one before it? Then a line
 * `name t ...` with `name` not a command is an unknown command. */
static bool starts_operand(const lb_token *t)
{
    if (t->kind == TK_STRING || t->kind == TK_NUMBER || t->kind == TK_LBRACE)
        return true;
    if (t->kind == TK_NAME)
        return strcmp(t->text, "and") != 0 && strcmp(t->text, "or") != 0;
    return false;
}

static lb_node *parse_command(parser *p, const lb_token *verb)
{
    lb_node *n = node_at(p, LB_N_COMMAND, verb);
    if (!n)
        return NULL;
    n->text = dup_text(p, verb->text, verb->text_len);
    if (!n->text) {
        lb_node_free(n);
        return NULL;
    }
    if (at_line_end(p)) {
        n->lone = true;
        return n;
    }
    bool first = true;
    while (!at_line_end(p)) {
        if (!first && at(p, TK_COMMA)) {
            next(p);
            if (at_line_end(p)) {
                syntax_at(p, cur(p), "expected an argument after ','%s", "");
                lb_node_free(n);
                return NULL;
            }
        }
        first = false;
        lb_token *t = cur(p);
        lb_node *arg;
        if (t->kind == TK_NAME && peek(p, 1)->kind == TK_ASSIGN && !lb_is_keyword(t->text)) {
            arg = name_eq_node(p, LB_N_KEYWORD);
            if (!arg) {
                lb_node_free(n);
                return NULL;
            }
            if (at_line_end(p)) {
                syntax_at(p, cur(p), "expected a value after '%s='", t->text);
                lb_node_free(arg);
                lb_node_free(n);
                return NULL;
            }
            p->cmd_mode = true;
            lb_node *v = parse_expr(p);
            p->cmd_mode = false;
            if (!v || add_kid(p, arg, v) < 0) {
                lb_node_free(arg);
                lb_node_free(n);
                return NULL;
            }
            finish(p, arg);
        } else {
            p->cmd_mode = true;
            arg = parse_expr(p);
            p->cmd_mode = false;
            if (!arg) {
                lb_node_free(n);
                return NULL;
            }
        }
        if (add_kid(p, n, arg) < 0) {
            lb_node_free(n);
            return NULL;
        }
        if (at(p, TK_ASSIGN)) {
            syntax_at(p, cur(p),
                      "unexpected '=' (key=value needs a plain name before '='; use '==' to compare)%s",
                      "");
            lb_node_free(n);
            return NULL;
        }
    }
    finish(p, n);
    return n;
}

static lb_node *parse_statement(parser *p)
{
    lb_token *t = cur(p);
    if (t->kind == TK_NAME && !lb_is_keyword(t->text)) {
        lb_token *nt = peek(p, 1);
        if (nt->kind == TK_ASSIGN) {
            lb_node *n = name_eq_node(p, LB_N_ASSIGN);
            if (!n)
                return NULL;
            if (at_line_end(p)) {
                syntax_at(p, cur(p), "expected a value after '='%s", "");
                lb_node_free(n);
                return NULL;
            }
            /* `runs = train a on f ...`: a command that gives a value (LB_CMD_RESULT), unless
             * the name is followed by something that makes it an expression (`x = plot(...)`) */
            lb_token *vt = cur(p);
            const lb_command *vc = vt->kind == TK_NAME && p->cmds ? lb_commands_find(p->cmds, vt->text) : NULL;
            lb_node *v;
            if (vc && (vc->flags & LB_CMD_RESULT) && starts_operand(peek(p, 1))) {
                next(p);
                v = parse_command(p, vt);
            } else {
                v = parse_expr(p);
            }
            if (!v || add_kid(p, n, v) < 0) {
                lb_node_free(n);
                return NULL;
            }
            finish(p, n);
            return n;
        }
        /* `runs.best("valid.acc")`: no argument starts with '.', so a command name followed
         * by one is a variable of that name (the value `runs = train ...` gave) */
        if (p->cmds && lb_commands_find(p->cmds, t->text) && nt->kind != TK_DOT) {
            next(p);
            return parse_command(p, t);
        }
        if (starts_operand(nt)) {
            const char *s = p->cmds ? lb_commands_suggest(p->cmds, t->text) : NULL;
            if (s)
                lb_error_set(p->err, "NameError", t->line, t->col,
                             "unknown command '%s' (did you mean '%s'?)", t->text, s);
            else
                lb_error_set(p->err, "NameError", t->line, t->col,
                             "unknown command '%s' (type `help` for the list of commands)", t->text);
            if (p->err)
                p->err->span = t->width;
            return NULL;
        }
    } else if (t->kind == TK_NAME && (strcmp(t->text, "true") == 0 || strcmp(t->text, "false") == 0 ||
                                      strcmp(t->text, "none") == 0) &&
               peek(p, 1)->kind == TK_ASSIGN) {
        syntax_at(p, t, "cannot assign to keyword '%s'", t->text);
        return NULL;
    }
    lb_node *e = parse_expr(p);
    if (!e)
        return NULL;
    if (at(p, TK_ASSIGN)) {
        syntax_at(p, cur(p), "cannot assign to an expression: only `name = value` assigns "
                             "(use '==' to compare)%s", "");
        lb_node_free(e);
        return NULL;
    }
    lb_node *n = wrap(p, LB_N_EXPR, e, t);
    if (n)
        finish(p, n);
    return n;
}

static void setup_incomplete(parser *p, bool v)
{
    if (p->incomplete)
        *p->incomplete = v;
}

lb_node *lb_parse(const char *code, const lb_commands *cmds, lb_error *err, bool *incomplete)
{
    parser p = {.cmds = cmds, .err = err, .incomplete = incomplete};
    setup_incomplete(&p, false);
    if (lb_lex(code, &p.toks, err, incomplete) < 0)
        return NULL;
    lb_token *first = &p.toks.items[0];
    lb_node *block = node_at(&p, LB_N_BLOCK, first);
    if (!block) {
        lb_tokens_free(&p.toks);
        return NULL;
    }
    while (!at(&p, TK_EOF)) {
        if (at(&p, TK_NEWLINE)) {
            next(&p);
            continue;
        }
        lb_node *s = parse_statement(&p);
        if (!s || add_kid(&p, block, s) < 0)
            goto fail;
        if (!at_line_end(&p)) {
            char ctx[96];
            snprintf(ctx, sizeof ctx, "after %s (one statement per line)",
                     s->kind == LB_N_ASSIGN ? "the assigned value" : "the expression");
            unexpected(&p, ctx);
            goto fail;
        }
    }
    lb_tokens_free(&p.toks);
    return block;
fail:
    lb_node_free(block);
    lb_tokens_free(&p.toks);
    return NULL;
}

lb_node *lb_parse_expression(const char *code, lb_error *err)
{
    parser p = {.err = err};
    if (lb_lex(code, &p.toks, err, NULL) < 0)
        return NULL;
    while (at(&p, TK_NEWLINE))
        next(&p);
    if (at(&p, TK_EOF)) {
        syntax_at(&p, cur(&p), "expected an expression%s", "");
        lb_tokens_free(&p.toks);
        return NULL;
    }
    lb_node *e = parse_expr(&p);
    while (e && at(&p, TK_NEWLINE))
        next(&p);
    if (e && !at(&p, TK_EOF)) {
        unexpected(&p, "after the expression");
        lb_node_free(e);
        e = NULL;
    }
    lb_tokens_free(&p.toks);
    return e;
}
