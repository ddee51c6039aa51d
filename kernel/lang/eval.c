/* eval.c — the tree-walking evaluator: expressions (arithmetic, comparisons, logic, literals,
 * calls, members, indexing) and statements (assignment, commands, bare expressions). Every
 * error is positioned at the node that caused it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/parser.h"

static void locate(lb_error *err, const lb_node *n)
{
    if (n)
        lb_error_locate(err, n->line, n->col, n->span);
}

int lb_node_error(lb_error *err, const lb_node *node, const char *ename, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lb_error_vset(err, ename, node ? node->line : 0, node ? node->col : 0, fmt, ap);
    va_end(ap);
    if (err && node)
        err->span = node->span > 0 ? node->span : 1;
    return -1;
}

lb_value *lb_lookup(lb_interp *in, const char *name)
{
    lb_value *v = lb_map_get(in->globals, name);
    return v ? v : lb_map_get(in->builtins, name);
}

int lb_name_error(lb_interp *in, const char *name, const lb_node *at, lb_error *err)
{
    size_t ng = lb_map_len(in->globals), nb = lb_map_len(in->builtins);
    const char **cands = malloc((ng + nb + 1) * sizeof *cands);
    const char *s = NULL;
    if (cands) {
        for (size_t i = 0; i < ng; i++)
            cands[i] = in->globals->u.map.entries[i].key;
        for (size_t i = 0; i < nb; i++)
            cands[ng + i] = in->builtins->u.map.entries[i].key;
        s = lb_suggest(name, cands, ng + nb);
    }
    int r;
    if (lb_commands_find(in->cmds, name))
        r = lb_node_error(err, at, "NameError",
                          "name '%s' is not defined ('%s' is a command: write it at the start of "
                          "a line, as in `%s ...`)",
                          name, name, name);
    else if (s)
        r = lb_node_error(err, at, "NameError", "name '%s' is not defined (did you mean '%s'?)",
                          name, s);
    else
        r = lb_node_error(err, at, "NameError", "name '%s' is not defined", name);
    free(cands);
    return r;
}

/* ---- operators --------------------------------------------------------------------------- */

static const char *op_text(lb_tok_kind k)
{
    switch (k) {
    case TK_PLUS: return "+";
    case TK_MINUS: return "-";
    case TK_STAR: return "*";
    case TK_SLASH: return "/";
    case TK_DSLASH: return "//";
    case TK_PERCENT: return "%";
    case TK_POW: return "**";
    case TK_EQ: return "==";
    case TK_NE: return "!=";
    case TK_LT: return "<";
    case TK_LE: return "<=";
    case TK_GT: return ">";
    case TK_GE: return ">=";
    default: return "?";
    }
}

const char *lb_op_text(lb_tok_kind k) { return op_text(k); }

static lb_value *operand_error(const lb_node *n, lb_tok_kind op, const lb_value *a,
                               const lb_value *b, lb_error *err)
{
    lb_node_error(err, n, "TypeError", "unsupported operand types for %s: %s and %s", op_text(op),
                  lb_type_name(a), lb_type_name(b));
    return NULL;
}

/* The refusal of a list or string longer than LB_MAX_ITEMS items (bytes for a string). */
static lb_value *too_large(const lb_node *n, const lb_value *seq, double count, lb_error *err)
{
    char max[32], got[40];
    lb_format_count(LB_MAX_ITEMS, max, sizeof max);
    if (count < 1e15)
        lb_format_count((int64_t)count, got, sizeof got);
    else
        snprintf(got, sizeof got, "%.3g", count);
    bool str = seq->kind == LB_STR;
    lb_node_error(err, n, "ValueError",
                  "result too large: the %s would have %s %s, more than the limit of %s",
                  str ? "string" : "list", got, str ? "bytes" : "items", max);
    return NULL;
}

static lb_value *repeat(const lb_node *n, const lb_value *seq, double times, lb_error *err)
{
    if (times != floor(times)) {
        lb_node_error(err, n, "TypeError", "can only repeat a %s an integer number of times",
                      lb_type_name(seq));
        return NULL;
    }
    size_t k = times < 0 ? 0 : (size_t)fmin(times, (double)LB_MAX_ITEMS + 1);
    size_t unit = seq->kind == LB_STR ? seq->u.str.len : seq->u.list.len;
    if (unit && k > LB_MAX_ITEMS / unit)
        return too_large(n, seq, (double)unit * times, err);
    if (seq->kind == LB_STR) {
        char *s = malloc(unit * k + 1);
        if (!s)
            return lb_oom_null(err);
        for (size_t i = 0; i < k; i++)
            memcpy(s + i * unit, seq->u.str.s, unit);
        s[unit * k] = '\0';
        return lb_str_take(s);
    }
    lb_value *l = lb_list_new();
    if (!l || lb_list_reserve(l, unit * k) < 0) {
        lb_decref(l);
        return lb_oom_null(err);
    }
    for (size_t i = 0; i < k; i++) {
        if (i % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0) {
            lb_decref(l);
            return NULL;
        }
        for (size_t j = 0; j < unit; j++)
            lb_list_append(l, seq->u.list.items[j]); /* room reserved: cannot fail */
    }
    return l;
}

static lb_value *arith(const lb_node *n, lb_tok_kind op, lb_value *a, lb_value *b, lb_error *err)
{
    if (a->kind == LB_NUM && b->kind == LB_NUM) {
        double x = a->u.num, y = b->u.num, r;
        switch (op) {
        case TK_PLUS: r = x + y; break;
        case TK_MINUS: r = x - y; break;
        case TK_STAR: r = x * y; break;
        case TK_SLASH:
            if (y == 0) {
                lb_node_error(err, n, "ZeroDivisionError", "division by zero");
                return NULL;
            }
            r = x / y;
            break;
        case TK_DSLASH:
            if (y == 0) {
                lb_node_error(err, n, "ZeroDivisionError", "integer division by zero");
                return NULL;
            }
            r = floor(x / y);
            break;
        case TK_PERCENT:
            if (y == 0) {
                lb_node_error(err, n, "ZeroDivisionError", "modulo by zero");
                return NULL;
            }
            r = fmod(x, y);
            if (r != 0 && ((r < 0) != (y < 0)))
                r += y;
            break;
        case TK_POW:
            if (x == 0 && y < 0) {
                lb_node_error(err, n, "ZeroDivisionError", "0 cannot be raised to a negative power");
                return NULL;
            }
            if (x < 0 && y != floor(y)) {
                lb_node_error(err, n, "ValueError",
                              "a negative number cannot be raised to a fractional power");
                return NULL;
            }
            r = pow(x, y);
            break;
        default:
            return operand_error(n, op, a, b, err);
        }
        lb_value *v = lb_num(r);
        return v ? v : lb_oom_null(err);
    }
    if (op == TK_PLUS && a->kind == b->kind && (a->kind == LB_STR || a->kind == LB_LIST)) {
        size_t len = a->kind == LB_STR ? a->u.str.len + b->u.str.len
                                       : a->u.list.len + b->u.list.len;
        if (len > LB_MAX_ITEMS)
            return too_large(n, a, (double)len, err);
    }
    if (op == TK_PLUS && a->kind == LB_STR && b->kind == LB_STR) {
        size_t len = a->u.str.len + b->u.str.len;
        char *s = malloc(len + 1);
        if (!s)
            return lb_oom_null(err);
        memcpy(s, a->u.str.s, a->u.str.len);
        memcpy(s + a->u.str.len, b->u.str.s, b->u.str.len);
        s[len] = '\0';
        lb_value *v = lb_strn(s, len);
        free(s);
        return v ? v : lb_oom_null(err);
    }
    if (op == TK_PLUS && a->kind == LB_LIST && b->kind == LB_LIST) {
        lb_value *l = lb_list_new();
        if (!l || lb_list_reserve(l, a->u.list.len + b->u.list.len) < 0) {
            lb_decref(l);
            return lb_oom_null(err);
        }
        for (size_t i = 0; i < a->u.list.len + b->u.list.len; i++) {
            if (i % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0) {
                lb_decref(l);
                return NULL;
            }
            size_t na = a->u.list.len;
            lb_list_append(l, i < na ? a->u.list.items[i] : b->u.list.items[i - na]); /* room reserved */
        }
        return l;
    }
    if (op == TK_STAR && (a->kind == LB_STR || a->kind == LB_LIST) && b->kind == LB_NUM)
        return repeat(n, a, b->u.num, err);
    if (op == TK_STAR && (b->kind == LB_STR || b->kind == LB_LIST) && a->kind == LB_NUM)
        return repeat(n, b, a->u.num, err);
    if (op == TK_PLUS && (a->kind == LB_STR || b->kind == LB_STR)) {
        lb_node_error(err, n, "TypeError",
                      "cannot add %s and %s (convert with str(...) to join text)",
                      lb_type_name(a), lb_type_name(b));
        return NULL;
    }
    return operand_error(n, op, a, b, err);
}

/* Compares for < <= > >=: -1 on type error. */
static int order(const lb_node *n, lb_tok_kind op, const lb_value *a, const lb_value *b, bool *out,
                 lb_error *err)
{
    int c;
    if (a->kind == LB_NUM && b->kind == LB_NUM) {
        double x = a->u.num, y = b->u.num;
        switch (op) {
        case TK_LT: *out = x < y; return 0;
        case TK_LE: *out = x <= y; return 0;
        case TK_GT: *out = x > y; return 0;
        default: *out = x >= y; return 0;
        }
    }
    if (a->kind == LB_STR && b->kind == LB_STR) {
        c = strcmp(a->u.str.s, b->u.str.s);
    } else if (a->kind == LB_BOOL && b->kind == LB_BOOL) {
        c = (int)a->u.b - (int)b->u.b;
    } else {
        lb_node_error(err, n, "TypeError", "cannot compare %s and %s with %s", lb_type_name(a),
                      lb_type_name(b), op_text(op));
        return -1;
    }
    switch (op) {
    case TK_LT: *out = c < 0; break;
    case TK_LE: *out = c <= 0; break;
    case TK_GT: *out = c > 0; break;
    default: *out = c >= 0; break;
    }
    return 0;
}

int lb_compare(const lb_node *n, lb_tok_kind op, const lb_value *a, const lb_value *b, bool *out,
               lb_error *err)
{
    if (op == TK_EQ || op == TK_NE) {
        int eq = lb_equal(a, b, err);
        if (eq < 0) {
            lb_error_locate(err, n->line, n->col, n->span);
            return -1;
        }
        *out = op == TK_EQ ? eq : !eq;
        return 0;
    }
    return order(n, op, a, b, out, err);
}

static lb_value *eval_compare(lb_interp *in, const lb_node *n, lb_error *err)
{
    lb_value *left = lb_eval(in, n->kids[0], err);
    if (!left)
        return NULL;
    bool result = true;
    for (size_t i = 1; i < n->nkids && result; i++) {
        lb_value *right = lb_eval(in, n->kids[i], err);
        if (!right) {
            lb_decref(left);
            return NULL;
        }
        if (lb_compare(n, n->ops[i - 1], left, right, &result, err) < 0) {
            lb_decref(left);
            lb_decref(right);
            return NULL;
        }
        lb_decref(left);
        left = right;
    }
    lb_decref(left);
    return lb_bool(result);
}

/* ---- indexing and members ------------------------------------------------------------------ */

static int index_of(const lb_node *n, const lb_value *idx, size_t len, const char *what, size_t *out,
                    lb_error *err)
{
    if (idx->kind != LB_NUM || !lb_is_int(idx)) {
        char *r = lb_repr_short(idx, 30);
        lb_node_error(err, n, "TypeError", "%s index must be an integer, got %s %s", what,
                      lb_type_name(idx), r ? r : "");
        free(r);
        return -1;
    }
    double i = idx->u.num;
    if (i < 0)
        i += (double)len;
    if (i < 0 || i >= (double)len) {
        char buf[40];
        lb_format_number(idx->u.num, buf, sizeof buf);
        lb_node_error(err, n, "IndexError", "%s index %s out of range (length %zu)", what, buf, len);
        return -1;
    }
    *out = (size_t)i;
    return 0;
}

static lb_value *key_error(const lb_node *n, const lb_value *map, const char *key, lb_error *err)
{
    size_t len = lb_map_len(map);
    const char **keys = malloc((len + 1) * sizeof *keys);
    const char *s = NULL;
    if (keys) {
        for (size_t i = 0; i < len; i++)
            keys[i] = map->u.map.entries[i].key;
        s = lb_suggest(key, keys, len);
    }
    if (s)
        lb_node_error(err, n, "KeyError", "key '%s' not found (did you mean '%s'?)", key, s);
    else
        lb_node_error(err, n, "KeyError", "key '%s' not found", key);
    free(keys);
    return NULL;
}

static lb_value *eval_index(lb_interp *in, const lb_node *n, lb_error *err)
{
    lb_value *obj = lb_eval(in, n->kids[0], err);
    if (!obj)
        return NULL;
    lb_value *idx = lb_eval(in, n->kids[1], err);
    if (!idx) {
        lb_decref(obj);
        return NULL;
    }
    lb_value *r = NULL;
    size_t i;
    if (obj->kind == LB_LIST) {
        if (index_of(n->kids[1], idx, obj->u.list.len, "list", &i, err) == 0)
            r = lb_incref(obj->u.list.items[i]);
    } else if (obj->kind == LB_STR) {
        size_t cps = lb_str_codepoints(obj->u.str.s, obj->u.str.len);
        if (index_of(n->kids[1], idx, cps, "string", &i, err) == 0) {
            size_t b = 0, k = 0;
            for (; b < obj->u.str.len; b++) {
                if (((unsigned char)obj->u.str.s[b] & 0xC0) != 0x80) {
                    if (k == i)
                        break;
                    k++;
                }
            }
            size_t e = b + 1;
            while (e < obj->u.str.len && ((unsigned char)obj->u.str.s[e] & 0xC0) == 0x80)
                e++;
            r = lb_strn(obj->u.str.s + b, e - b);
            if (!r)
                lb_oom_null(err);
        }
    } else if (obj->kind == LB_MAP) {
        if (idx->kind != LB_STR) {
            lb_node_error(err, n->kids[1], "TypeError", "map keys are strings, got %s",
                          lb_type_name(idx));
        } else {
            lb_value *v = lb_map_get(obj, idx->u.str.s);
            if (v)
                r = lb_incref(v);
            else
                key_error(n->kids[1], obj, idx->u.str.s, err);
        }
    } else {
        lb_node_error(err, n, "TypeError", "%s cannot be indexed", lb_type_name(obj));
    }
    lb_decref(obj);
    lb_decref(idx);
    return r;
}

static lb_value *eval_member(lb_interp *in, const lb_node *n, lb_error *err)
{
    lb_value *obj = lb_eval(in, n->kids[0], err);
    if (!obj)
        return NULL;
    lb_value *r = NULL;
    lb_node at = *n;
    at.line = n->key_line;
    at.col = n->key_col;
    at.span = (int)lb_str_codepoints(n->text, strlen(n->text));
    if (obj->kind == LB_MAP) {
        lb_value *v = lb_map_get(obj, n->text);
        if (v)
            r = lb_incref(v);
        else
            key_error(&at, obj, n->text, err);
    } else if (obj->kind == LB_OBJECT && obj->u.obj.cls && obj->u.obj.cls->member) {
        r = obj->u.obj.cls->member(obj, n->text, err);
        if (!r && !lb_error_is_set(err))
            lb_node_error(err, &at, "AttributeError", "%s has no member '%s'", lb_type_name(obj),
                          n->text);
        locate(err, &at);
    } else {
        lb_node_error(err, &at, "AttributeError", "%s has no member '%s'", lb_type_name(obj),
                      n->text);
    }
    lb_decref(obj);
    return r;
}

/* ---- calls ------------------------------------------------------------------------------- */

static lb_value *eval_call(lb_interp *in, const lb_node *n, lb_error *err)
{
    lb_value *fn = lb_eval(in, n->kids[0], err);
    if (!fn)
        return NULL;
    if (fn->kind != LB_FUNC) {
        lb_node_error(err, n->kids[0], "TypeError", "%s is not callable", lb_type_name(fn));
        lb_decref(fn);
        return NULL;
    }
    size_t nargs = 0;
    lb_value **args = calloc(n->nkids ? n->nkids : 1, sizeof *args);
    lb_value *kwargs = NULL, *r = NULL;
    if (!args) {
        lb_decref(fn);
        return lb_oom_null(err);
    }
    for (size_t i = 1; i < n->nkids; i++) {
        const lb_node *a = n->kids[i];
        if (a->kind == LB_N_KEYWORD) {
            if (!kwargs && !(kwargs = lb_map_new())) {
                lb_oom_null(err);
                goto done;
            }
            if (lb_map_get(kwargs, a->text)) {
                lb_node_error(err, a, "SyntaxError", "keyword argument '%s' given twice", a->text);
                goto done;
            }
            lb_value *v = lb_eval(in, a->kids[0], err);
            if (!v || lb_map_set_take(kwargs, a->text, v) < 0) {
                if (v)
                    lb_oom_null(err);
                goto done;
            }
        } else {
            if (kwargs) {
                lb_node_error(err, a, "SyntaxError",
                              "a positional argument cannot follow a keyword argument");
                goto done;
            }
            lb_value *v = lb_eval(in, a, err);
            if (!v)
                goto done;
            args[nargs++] = v;
        }
    }
    r = fn->u.func.fn(in, args, nargs, kwargs, fn->u.func.data, err);
    if (!r && !lb_error_is_set(err))
        lb_node_error(err, n, "RuntimeError", "%s() returned no value", fn->u.func.name);
    if (!r)
        locate(err, n);
done:
    for (size_t i = 0; i < nargs; i++)
        lb_decref(args[i]);
    free(args);
    lb_decref(kwargs);
    lb_decref(fn);
    return r;
}

/* ---- expressions ------------------------------------------------------------------------- */

lb_value *lb_eval(lb_interp *in, const lb_node *n, lb_error *err)
{
    lb_value *v = NULL, *a = NULL, *b = NULL;
    switch (n->kind) {
    case LB_N_NUM:
        v = lb_num(n->num);
        return v ? v : lb_oom_null(err);
    case LB_N_STR:
        v = lb_strn(n->text, n->text_len);
        return v ? v : lb_oom_null(err);
    case LB_N_BOOL:
        return lb_bool(n->num != 0);
    case LB_N_NONE:
        return lb_none();
    case LB_N_NAME:
        v = lb_lookup(in, n->text);
        if (!v) {
            lb_name_error(in, n->text, n, err);
            return NULL;
        }
        return lb_incref(v);
    case LB_N_LIST:
        v = lb_list_new();
        if (!v)
            return lb_oom_null(err);
        for (size_t i = 0; i < n->nkids; i++) {
            if (i % LB_POLL_EVERY == LB_POLL_EVERY - 1 && lb_interrupt_check(err) < 0) {
                lb_decref(v);
                return NULL;
            }
            a = lb_eval(in, n->kids[i], err);
            if (!a || lb_list_append_take(v, a) < 0) {
                if (a)
                    lb_oom_null(err);
                lb_decref(v);
                return NULL;
            }
        }
        return v;
    case LB_N_MAP:
        v = lb_map_new();
        if (!v)
            return lb_oom_null(err);
        for (size_t i = 0; i < n->nkids; i++) {
            /* a long literal map is slow to build (each key is looked up): polled */
            if (i % 256 == 255 && lb_interrupt_check(err) < 0) {
                lb_decref(v);
                return NULL;
            }
            const lb_node *kv = n->kids[i];
            a = lb_eval(in, kv->kids[0], err);
            if (!a || lb_map_set_take(v, kv->text, a) < 0) {
                if (a)
                    lb_oom_null(err);
                lb_decref(v);
                return NULL;
            }
        }
        return v;
    case LB_N_UNARY:
        a = lb_eval(in, n->kids[0], err);
        if (!a)
            return NULL;
        if (a->kind != LB_NUM) {
            lb_node_error(err, n, "TypeError", "bad operand type for unary %s: %s",
                          op_text(n->op), lb_type_name(a));
            lb_decref(a);
            return NULL;
        }
        v = lb_num(n->op == TK_MINUS ? -a->u.num : a->u.num);
        lb_decref(a);
        return v ? v : lb_oom_null(err);
    case LB_N_NOT:
        a = lb_eval(in, n->kids[0], err);
        if (!a)
            return NULL;
        v = lb_bool(!lb_truthy(a));
        lb_decref(a);
        return v;
    case LB_N_AND:
    case LB_N_OR:
        a = lb_eval(in, n->kids[0], err);
        if (!a)
            return NULL;
        if (lb_truthy(a) == (n->kind == LB_N_OR))
            return a;
        lb_decref(a);
        return lb_eval(in, n->kids[1], err);
    case LB_N_BINARY:
        a = lb_eval(in, n->kids[0], err);
        if (!a)
            return NULL;
        b = lb_eval(in, n->kids[1], err);
        if (!b) {
            lb_decref(a);
            return NULL;
        }
        v = arith(n, n->op, a, b, err);
        lb_decref(a);
        lb_decref(b);
        return v;
    case LB_N_COMPARE:
        return eval_compare(in, n, err);
    case LB_N_CALL:
        return eval_call(in, n, err);
    case LB_N_MEMBER:
        return eval_member(in, n, err);
    case LB_N_INDEX:
        return eval_index(in, n, err);
    default:
        lb_node_error(err, n, "SyntaxError", "not an expression");
        return NULL;
    }
}

/* ---- commands ---------------------------------------------------------------------------- */

static int check_keywords(lb_interp *in, const lb_command *cmd, const lb_node **kw, size_t nkw,
                          lb_error *err)
{
    (void)in;
    for (size_t i = 0; i < nkw; i++) {
        const lb_node *k = kw[i];
        lb_node at = *k;
        at.line = k->key_line;
        at.col = k->key_col;
        at.span = (int)strlen(k->text);
        for (size_t j = 0; j < i; j++)
            if (strcmp(kw[j]->text, k->text) == 0)
                return lb_node_error(err, &at, "SyntaxError", "parameter '%s' given twice",
                                     k->text);
        if (cmd->flags & LB_CMD_OPEN_KEYWORDS)
            continue;
        if (lb_command_param(cmd, k->text))
            continue;
        size_t np = 0;
        for (const lb_param *p = cmd->params; p && p->name; p++)
            np++;
        if (np == 0)
            return lb_node_error(err, &at, "TypeError",
                                 "unknown parameter '%s' for %s (%s takes no key=value parameters)",
                                 k->text, cmd->name, cmd->name);
        const char **names = malloc(np * sizeof *names);
        if (!names)
            return lb_oom(err);
        for (size_t j = 0; j < np; j++)
            names[j] = cmd->params[j].name;
        const char *s = lb_suggest(k->text, names, np);
        if (s) {
            lb_node_error(err, &at, "TypeError", "unknown parameter '%s' for %s (did you mean '%s'?)",
                          k->text, cmd->name, s);
        } else {
            char list[512] = "";
            for (size_t j = 0; j < np; j++) {
                if (j)
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, names[j], sizeof list - strlen(list) - 1);
            }
            lb_node_error(err, &at, "TypeError", "unknown parameter '%s' for %s (known: %s)",
                          k->text, cmd->name, list);
        }
        free(names);
        return -1;
    }
    return 0;
}

static int run_command(lb_interp *in, const lb_node *s, const lb_command *cmd, lb_value **result,
                       lb_error *err)
{
    size_t n = s->nkids, np = 0, nk = 0;
    const lb_node **pos = calloc(n ? n : 1, sizeof *pos);
    const lb_node **kw = calloc(n ? n : 1, sizeof *kw);
    int r = -1;
    if (!pos || !kw) {
        lb_oom_null(err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (s->kids[i]->kind == LB_N_KEYWORD)
            kw[nk++] = s->kids[i];
        else
            pos[np++] = s->kids[i];
    }
    lb_node verb = *s;
    verb.span = (int)strlen(cmd->name);
    if ((int)np < cmd->min_args) {
        lb_node_error(err, &verb, "TypeError", "%s needs %s%d argument%s (got %zu); usage: %s",
                      cmd->name, cmd->max_args == cmd->min_args ? "" : "at least ", cmd->min_args,
                      cmd->min_args == 1 ? "" : "s", np, cmd->synopsis ? cmd->synopsis : cmd->name);
        goto done;
    }
    if (cmd->max_args >= 0 && (int)np > cmd->max_args) {
        if (cmd->max_args == 0)
            lb_node_error(err, pos[cmd->max_args], "TypeError",
                          "%s takes no positional arguments (got %zu); usage: %s", cmd->name, np,
                          cmd->synopsis ? cmd->synopsis : cmd->name);
        else
            lb_node_error(err, pos[cmd->max_args], "TypeError",
                          "%s takes at most %d argument%s (got %zu); usage: %s", cmd->name,
                          cmd->max_args, cmd->max_args == 1 ? "" : "s", np,
                          cmd->synopsis ? cmd->synopsis : cmd->name);
        goto done;
    }
    if (check_keywords(in, cmd, kw, nk, err) < 0)
        goto done;
    lb_cmd_call call = {.in = in, .cmd = cmd, .node = s, .args = pos, .nargs = np, .kwargs = kw,
                        .nkwargs = nk};
    r = cmd->handler(&call, err);
    /* a failing command may still give a value (an interrupted `train` gives the runs it
     * made): the assignment keeps it, then the error stops the cell */
    if (result)
        *result = call.result;
    else
        lb_decref(call.result);
    if (r < 0) {
        if (!lb_error_is_set(err))
            lb_node_error(err, &verb, "RuntimeError", "%s failed", cmd->name);
        locate(err, &verb);
        r = -1;
    }
done:
    free(pos);
    free(kw);
    return r;
}

int lb_exec(lb_interp *in, const lb_node *s, lb_value **result, lb_error *err)
{
    if (result)
        *result = NULL;
    switch (s->kind) {
    case LB_N_ASSIGN: {
        lb_value *v = NULL;
        if (s->kids[0]->kind == LB_N_COMMAND) { /* `runs = train ...` (LB_CMD_RESULT) */
            const lb_command *cmd = lb_commands_find(in->cmds, s->kids[0]->text);
            if (!cmd)
                return lb_node_error(err, s->kids[0], "NameError", "unknown command '%s'",
                                     s->kids[0]->text);
            int rc = run_command(in, s->kids[0], cmd, &v, err);
            if (rc < 0) {
                if (v && lb_map_set_take(in->globals, s->text, v) < 0)
                    lb_oom_null(err);
                return -1;
            }
            if (!v)
                v = lb_none();
        } else {
            v = lb_eval(in, s->kids[0], err);
        }
        if (!v)
            return -1;
        int r = lb_map_set_take(in->globals, s->text, v);
        if (r < 0)
            return lb_node_error(err, s, "MemoryError", "out of memory");
        return 0;
    }
    case LB_N_EXPR: {
        lb_value *v = lb_eval(in, s->kids[0], err);
        if (!v)
            return -1;
        if (result)
            *result = v;
        else
            lb_decref(v);
        return 0;
    }
    case LB_N_COMMAND: {
        if (s->lone) {
            lb_value *var = lb_map_get(in->globals, s->text);
            if (var) {
                if (result)
                    *result = lb_incref(var);
                return 0;
            }
        }
        const lb_command *cmd = lb_commands_find(in->cmds, s->text);
        if (!cmd)
            return lb_node_error(err, s, "NameError", "unknown command '%s'", s->text);
        return run_command(in, s, cmd, NULL, err);
    }
    default:
        return lb_node_error(err, s, "SyntaxError", "not a statement");
    }
}

/* ---- helpers for command handlers ---------------------------------------------------------- */

lb_value *lb_call_eval(lb_cmd_call *call, const lb_node *expr, lb_error *err)
{
    if (!expr) {
        lb_error_set(err, "TypeError", 0, 0, "missing argument");
        return NULL;
    }
    return lb_eval(call->in, expr, err);
}

lb_value *lb_call_arg(lb_cmd_call *call, size_t i, lb_error *err)
{
    if (i >= call->nargs) {
        lb_error_set(err, "TypeError", 0, 0, "%s: missing argument %zu; usage: %s", call->cmd->name,
                     i + 1, call->cmd->synopsis ? call->cmd->synopsis : call->cmd->name);
        return NULL;
    }
    return lb_eval(call->in, call->args[i], err);
}

const char *lb_call_arg_name(lb_cmd_call *call, size_t i, lb_error *err)
{
    if (i >= call->nargs) {
        lb_error_set(err, "TypeError", 0, 0, "%s: missing a name; usage: %s", call->cmd->name,
                     call->cmd->synopsis ? call->cmd->synopsis : call->cmd->name);
        return NULL;
    }
    const lb_node *a = call->args[i];
    if (a->kind != LB_N_NAME) {
        lb_node_error(err, a, "SyntaxError", "%s expects a variable name here, not an expression",
                      call->cmd->name);
        return NULL;
    }
    return a->text;
}

const lb_node *lb_call_keyword(const lb_cmd_call *call, const char *name)
{
    for (size_t i = 0; i < call->nkwargs; i++)
        if (strcmp(call->kwargs[i]->text, name) == 0)
            return call->kwargs[i];
    return NULL;
}

lb_value *lb_call_param(lb_cmd_call *call, const char *name, lb_error *err)
{
    const lb_param *p = lb_command_param(call->cmd, name);
    const lb_node *k = lb_call_keyword(call, name);
    if (k) {
        lb_value *v = lb_eval(call->in, k->kids[0], err);
        if (!v)
            return NULL;
        if (p && !lb_param_type_ok(p->type, v)) {
            char *r = lb_repr_short(v, 30);
            lb_node_error(err, k->kids[0], "TypeError", "parameter '%s' of %s must be %s %s, got %s %s",
                          name, call->cmd->name, p->type == LB_PARAM_INT ? "an" : "a",
                          lb_param_type_name(p->type), lb_type_name(v), r ? r : "");
            free(r);
            lb_decref(v);
            return NULL;
        }
        return v;
    }
    if (!p || !p->def)
        return lb_none();
    lb_node *def = lb_parse_expression(p->def, err);
    if (!def) {
        lb_error_set(err, "RuntimeError", 0, 0, "bad default '%s' for parameter '%s' of %s", p->def,
                     name, call->cmd->name);
        return NULL;
    }
    lb_value *v = lb_eval(call->in, def, err);
    lb_node_free(def);
    if (v)
        return v;
    lb_error_set(err, "RuntimeError", 0, 0, "bad default '%s' for parameter '%s' of %s", p->def,
                 name, call->cmd->name);
    return NULL;
}
