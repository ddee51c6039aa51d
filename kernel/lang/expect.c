/* expect.c — the `expect CONDITION ["message"]` command, with which a notebook checks itself.
 * A true condition prints nothing; a false one fails the cell with ExpectationFailed, whose
 * message shows the condition and the values behind it: both sides of the comparison that
 * failed (each operand evaluated once, compared by the evaluator's own lb_compare), or the
 * value of any other condition. The cell's source text is not kept past parsing, so the
 * condition is shown re-printed from its syntax tree, in canonical form. */
#include <stdlib.h>
#include <string.h>

#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/parser.h"
#include "base/strbuf.h"

#define VALUE_CP 400 /* a value shown in the message is cut to this many code points */

/* ---- the condition as text -------------------------------------------------------------- */

/* How tightly a node binds (spec/language.md §2, loosest first): a child printed where a
 * tighter binding is needed gets parentheses. */
enum { P_OR = 1, P_AND, P_NOT, P_CMP, P_SUM, P_TERM, P_UNARY, P_POW, P_POSTFIX, P_ATOM };

static int binding(const lb_node *n)
{
    switch (n->kind) {
    case LB_N_OR: return P_OR;
    case LB_N_AND: return P_AND;
    case LB_N_NOT: return P_NOT;
    case LB_N_COMPARE: return P_CMP;
    case LB_N_BINARY:
        if (n->op == TK_POW)
            return P_POW;
        return n->op == TK_PLUS || n->op == TK_MINUS ? P_SUM : P_TERM;
    case LB_N_UNARY: return P_UNARY;
    case LB_N_CALL:
    case LB_N_MEMBER:
    case LB_N_INDEX: return P_POSTFIX;
    default: return P_ATOM;
    }
}

static void add_quoted(lb_strbuf *b, const char *s, size_t len)
{
    lb_value *v = lb_strn(s, len);
    char *r = v ? lb_repr(v) : NULL;
    lb_decref(v);
    if (!r) {
        b->oom = true;
        return;
    }
    lb_sb_add(b, r);
    free(r);
}

/* A map key as written: bare when it is a plain name that is not a keyword, else quoted. */
static void add_key(lb_strbuf *b, const char *k, size_t len)
{
    bool bare = len > 0 && strlen(k) == len && !lb_is_keyword(k) &&
                !(k[0] >= '0' && k[0] <= '9');
    for (size_t i = 0; bare && i < len; i++)
        bare = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
               (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
    if (bare)
        lb_sb_addn(b, k, len);
    else
        add_quoted(b, k, len);
}

static void unparse(lb_strbuf *b, const lb_node *n, int need);

static void unparse_list(lb_strbuf *b, const lb_node *n, size_t from)
{
    for (size_t i = from; i < n->nkids; i++) {
        const lb_node *k = n->kids[i];
        if (i > from)
            lb_sb_add(b, ", ");
        if (k->kind == LB_N_KEYWORD) { /* f(key=value) or a map entry */
            if (n->kind == LB_N_MAP) {
                add_key(b, k->text, k->text_len ? k->text_len : strlen(k->text));
                lb_sb_add(b, ": ");
            } else {
                lb_sb_add(b, k->text);
                lb_sb_add(b, "=");
            }
            unparse(b, k->kids[0], P_OR);
        } else {
            unparse(b, k, P_OR);
        }
    }
}

/* Appends the canonical text of expression n, in parentheses when it binds looser than need.
 * (Tree height is bounded by the parser, so the recursion is too.) */
static void unparse(lb_strbuf *b, const lb_node *n, int need)
{
    int own = binding(n);
    if (own < need)
        lb_sb_add(b, "(");
    char num[40];
    switch (n->kind) {
    case LB_N_NUM:
        lb_format_number(n->num, num, sizeof num);
        lb_sb_add(b, num);
        break;
    case LB_N_STR: add_quoted(b, n->text, n->text_len); break;
    case LB_N_BOOL: lb_sb_add(b, n->num != 0 ? "true" : "false"); break;
    case LB_N_NONE: lb_sb_add(b, "none"); break;
    case LB_N_NAME: lb_sb_add(b, n->text); break;
    case LB_N_LIST:
        lb_sb_add(b, "[");
        unparse_list(b, n, 0);
        lb_sb_add(b, "]");
        break;
    case LB_N_MAP:
        lb_sb_add(b, "{");
        unparse_list(b, n, 0);
        lb_sb_add(b, "}");
        break;
    case LB_N_UNARY:
        lb_sb_add(b, lb_op_text(n->op));
        if (n->kids[0]->kind == LB_N_UNARY) /* `- -x`, not `--x` */
            lb_sb_add(b, " ");
        unparse(b, n->kids[0], P_UNARY);
        break;
    case LB_N_NOT:
        lb_sb_add(b, "not ");
        unparse(b, n->kids[0], P_NOT);
        break;
    case LB_N_AND:
    case LB_N_OR:
        unparse(b, n->kids[0], own);
        lb_sb_add(b, n->kind == LB_N_AND ? " and " : " or ");
        unparse(b, n->kids[1], own + 1);
        break;
    case LB_N_BINARY:
        /* left-associative, except ** whose left side is a postfix and right side a unary */
        unparse(b, n->kids[0], own == P_POW ? P_POSTFIX : own);
        lb_sb_printf(b, " %s ", lb_op_text(n->op));
        unparse(b, n->kids[1], own == P_POW ? P_UNARY : own + 1);
        break;
    case LB_N_COMPARE:
        for (size_t i = 0; i < n->nkids; i++) {
            if (i)
                lb_sb_printf(b, " %s ", lb_op_text(n->ops[i - 1]));
            unparse(b, n->kids[i], P_SUM);
        }
        break;
    case LB_N_CALL:
        unparse(b, n->kids[0], P_POSTFIX);
        lb_sb_add(b, "(");
        unparse_list(b, n, 1);
        lb_sb_add(b, ")");
        break;
    case LB_N_MEMBER:
        /* `3.x` would read as a malformed number: a number gets parentheses */
        unparse(b, n->kids[0], n->kids[0]->kind == LB_N_NUM ? P_ATOM + 1 : P_POSTFIX);
        lb_sb_add(b, ".");
        lb_sb_add(b, n->text);
        break;
    case LB_N_INDEX:
        unparse(b, n->kids[0], P_POSTFIX);
        lb_sb_add(b, "[");
        unparse(b, n->kids[1], P_OR);
        lb_sb_add(b, "]");
        break;
    default: lb_sb_add(b, "?"); break;
    }
    if (own < need)
        lb_sb_add(b, ")");
}

/* "  label: repr" and a newline. */
static void add_value_line(lb_strbuf *b, const char *label, const lb_value *v)
{
    char *r = lb_repr_short(v, VALUE_CP);
    if (!r) {
        b->oom = true;
        return;
    }
    int width = (int)strlen(label) < 7 ? 7 : (int)strlen(label) + 1; /* values line up */
    lb_sb_printf(b, "  %-*s%s\n", width, label, r);
    free(r);
}

/* ---- checking --------------------------------------------------------------------------- */

/* A comparison (chain): evaluates the operands in order, each once, and stops at the first
 * false link, exactly as the evaluator does. When it is false, *failed is set, `link` receives
 * " (LINK is false)" for a chain and `why` both sides' values. */
static int check_compare(lb_cmd_call *call, const lb_node *n, bool *failed, lb_strbuf *link,
                         lb_strbuf *why, lb_error *err)
{
    lb_value *left = lb_call_eval(call, n->kids[0], err);
    if (!left)
        return -1;
    for (size_t i = 1; i < n->nkids; i++) {
        lb_value *right = lb_call_eval(call, n->kids[i], err);
        if (!right) {
            lb_decref(left);
            return -1;
        }
        bool holds;
        if (lb_compare(n, n->ops[i - 1], left, right, &holds, err) < 0) {
            lb_decref(left);
            lb_decref(right);
            return -1;
        }
        if (!holds) {
            *failed = true;
            if (n->nkids > 2) { /* name the link of the chain that failed */
                lb_sb_add(link, " (");
                unparse(link, n->kids[i - 1], P_SUM);
                lb_sb_printf(link, " %s ", lb_op_text(n->ops[i - 1]));
                unparse(link, n->kids[i], P_SUM);
                lb_sb_add(link, " is false)");
            }
            add_value_line(why, "left:", left);
            add_value_line(why, "right:", right);
            lb_decref(left);
            lb_decref(right);
            return 0;
        }
        lb_decref(left);
        left = right;
    }
    lb_decref(left);
    return 0;
}

/* The leftmost operand of an expression (what its text starts with). */
static const lb_node *leftmost(const lb_node *n)
{
    while (n->nkids > 0 && n->kind != LB_N_UNARY && n->kind != LB_N_NOT && n->kind != LB_N_LIST &&
           n->kind != LB_N_MAP)
        n = n->kids[0];
    return n;
}

static int cmd_expect(lb_cmd_call *call, lb_error *err)
{
    const lb_node *cond = call->args[0];
    lb_strbuf link = {0}, why = {0};
    bool failed = false;
    int r = 0;
    if (cond->kind == LB_N_COMPARE) {
        r = check_compare(call, cond, &failed, &link, &why, err);
    } else {
        /* `not X` shows X (the value of `not X` is just false); anything else its value */
        const lb_node *shown = cond->kind == LB_N_NOT ? cond->kids[0] : cond;
        lb_value *v = lb_call_eval(call, shown, err);
        if (!v) {
            r = -1;
        } else {
            failed = lb_truthy(v) == (cond->kind == LB_N_NOT);
            if (failed)
                add_value_line(&why, cond->kind == LB_N_NOT ? "operand:" : "value:", v);
            lb_decref(v);
        }
    }
    /* the message is evaluated every time, so that a mistake in it shows at once */
    lb_value *msg = NULL;
    if (r == 0 && call->nargs > 1) {
        msg = lb_call_eval(call, call->args[1], err);
        if (!msg) {
            r = -1;
        } else if (msg->kind != LB_STR) {
            const lb_node *m = call->args[1];
            r = lb_node_error(err, m, "TypeError", "the message of expect must be a string, got %s%s",
                              lb_type_name(msg),
                              leftmost(m)->kind == LB_N_UNARY
                                  ? " (a sign after a space starts a new argument: `x -1` is "
                                    "two arguments, `x` and `-1`; write `x - 1`)"
                                  : " (expect takes one condition and an optional message)");
        }
    }
    if (r == 0 && failed) {
        lb_strbuf text = {0};
        if (msg) {
            lb_sb_addn(&text, msg->u.str.s, msg->u.str.len);
            lb_sb_add(&text, "\n");
        }
        lb_sb_add(&text, "expect failed: ");
        unparse(&text, cond, P_OR);
        if (link.buf)
            lb_sb_add(&text, link.buf);
        if (why.len) {
            lb_sb_add(&text, "\n");
            lb_sb_addn(&text, why.buf, why.len - 1); /* without the last newline */
        }
        char *evalue = link.oom || why.oom ? NULL : lb_sb_take(&text);
        lb_sb_free(&text);
        if (evalue)
            r = lb_node_error(err, cond, "ExpectationFailed", "%s", evalue);
        else
            r = lb_oom(err);
        free(evalue);
    }
    lb_decref(msg);
    lb_sb_free(&link);
    lb_sb_free(&why);
    return r;
}

static const lb_command expect_command = {
    .name = "expect",
    .synopsis = "expect CONDITION [\"message\"]",
    .doc = "Stops the cell with an error named ExpectationFailed when CONDITION is false; does\n"
           "nothing when it is true. The error shows the condition and, for a comparison, the\n"
           "value of each side (for a chain such as `0.5 <= acc <= 1`, of the link that failed);\n"
           "for `not X`, the value of X; for any other condition, the value it gave (falsy:\n"
           "false, none, 0, nan, \"\", [], {}).\n"
           "Each operand is evaluated once, and compared exactly as the language compares.\n"
           "The optional message, a string evaluated every time, comes first in the error.\n"
           "Errors inside the condition (NameError, TypeError, ...) are reported as they are.",
    .example = "expect runs.best(\"valid.acc\").test.acc > 0.85\n"
               "expect 0.5 <= acc <= 1\n"
               "expect done\n"
               "expect loss < 1, \"the loss should fall below 1\"",
    .min_args = 1,
    .max_args = 2,
    .hint = LB_ARGS_VALUES,
    .handler = cmd_expect,
};

int lb_register_expect_command(lb_interp *in, lb_error *err)
{
    return lb_interp_register_command(in, &expect_command, err);
}
