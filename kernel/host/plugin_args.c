/* plugin_args.c — parameter schemas of plugin types and commands (lbp_param): checking a
 * call's arguments (positional in schema order, key=value with "did you mean", types, ranges,
 * choices, defaults), the canonical text of a call, and the documentation the schema gives
 * to help and inspection. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/commands.h"
#include "lang/parser.h"
#include "host/plugins.h"
#include "base/strbuf.h"

/* ---- defaults: literal labbook source ----------------------------------------------------- */

static lb_value *literal(const lb_node *n)
{
    switch (n->kind) {
    case LB_N_NUM:
        return lb_num(n->num);
    case LB_N_STR:
        return lb_strn(n->text, n->text_len);
    case LB_N_BOOL:
        return lb_bool(n->num != 0);
    case LB_N_NONE:
        return lb_none();
    case LB_N_NAME:
        if (strcmp(n->text, "inf") == 0)
            return lb_num(INFINITY);
        return NULL;
    case LB_N_UNARY: {
        lb_value *v = literal(n->kids[0]);
        if (!v || v->kind != LB_NUM) {
            lb_decref(v);
            return NULL;
        }
        double x = n->op == TK_MINUS ? -v->u.num : v->u.num;
        lb_decref(v);
        return lb_num(x);
    }
    case LB_N_LIST: {
        lb_value *l = lb_list_new();
        for (size_t i = 0; l && i < n->nkids; i++) {
            lb_value *it = literal(n->kids[i]);
            if (!it || lb_list_append_take(l, it) < 0) {
                lb_decref(l);
                return NULL;
            }
        }
        return l;
    }
    default:
        return NULL;
    }
}

static lb_value *parse_default(const char *src)
{
    lb_error err = {0};
    lb_node *n = lb_parse_expression(src, &err);
    lb_error_clear(&err);
    if (!n)
        return NULL;
    lb_value *v = literal(n);
    lb_node_free(n);
    return v;
}

/* ---- describing a parameter ---------------------------------------------------------------- */

static const char *type_word(lbp_ptype t)
{
    switch (t) {
    case LBP_T_INT: return "int";
    case LBP_T_NUM: return "number";
    case LBP_T_BOOL: return "bool";
    case LBP_T_STR: return "string";
    case LBP_T_INTS: return "list of int";
    case LBP_T_NUMS: return "list of number";
    case LBP_T_ANY: return "any";
    }
    return "?";
}

static void fmt_num(double x, char *buf, size_t n)
{
    if (isinf(x))
        snprintf(buf, n, "%sinf", x < 0 ? "-" : "");
    else
        lb_format_number(x, buf, n);
}

/* "in [0, 1)", ">= 1", "<= 5" or "" */
static void range_text(const lbp_param *p, char *buf, size_t n)
{
    char lo[40], hi[40];
    fmt_num(p->lo, lo, sizeof lo);
    fmt_num(p->hi, hi, sizeof hi);
    bool L = p->flags & LBP_LO, H = p->flags & LBP_HI;
    if (L && H)
        snprintf(buf, n, "in %s%s, %s%s", p->flags & LBP_LO_OPEN ? "(" : "[", lo, hi,
                 p->flags & LBP_HI_OPEN ? ")" : "]");
    else if (L)
        snprintf(buf, n, "%s %s", p->flags & LBP_LO_OPEN ? ">" : ">=", lo);
    else if (H)
        snprintf(buf, n, "%s %s", p->flags & LBP_HI_OPEN ? "<" : "<=", hi);
    else
        buf[0] = '\0';
}

/* '"max", "stride"' */
static void choices_text(const char *choices, char *buf, size_t n)
{
    buf[0] = '\0';
    const char *p = choices;
    while (p && *p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        size_t used = strlen(buf);
        snprintf(buf + used, n - used, "%s\"%.*s\"", used ? ", " : "", (int)len, p);
        p = e ? e + 1 : NULL;
    }
}

static bool in_choices(const char *choices, const char *s)
{
    size_t sl = strlen(s);
    const char *p = choices;
    while (p && *p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == sl && strncmp(p, s, len) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static bool in_range(const lbp_param *p, double x)
{
    if (isnan(x))
        return !(p->flags & (LBP_LO | LBP_HI));
    if (p->flags & LBP_LO) {
        if (p->flags & LBP_LO_OPEN ? !(x > p->lo) : !(x >= p->lo))
            return false;
    }
    if (p->flags & LBP_HI) {
        if (p->flags & LBP_HI_OPEN ? !(x < p->hi) : !(x <= p->hi))
            return false;
    }
    return true;
}

/* Checks (and normalises) one value against p: a new reference, or NULL with *err. */
static lb_value *check_value(const lbp_param *p, const char *owner, lb_value *v, lb_error *err)
{
    char got[96];
    char *r = lb_repr_short(v, 40);
    snprintf(got, sizeof got, "%s", r ? r : "?");
    free(r);
    if (v->kind == LB_NONE) {
        if (p->flags & LBP_NONE_OK)
            return lb_incref(v);
        lb_error_set(err, "TypeError", 0, 0, "parameter '%s' of %s must be %s %s, not none",
                     p->name, owner, p->type == LBP_T_INT ? "an" : "a", type_word(p->type));
        return NULL;
    }
    char rng[96];
    range_text(p, rng, sizeof rng);
    switch (p->type) {
    case LBP_T_INT:
    case LBP_T_NUM:
        if (v->kind != LB_NUM || (p->type == LBP_T_INT && !lb_is_int(v))) {
            lb_error_set(err, "TypeError", 0, 0, "parameter '%s' of %s must be %s (got %s)",
                         p->name, owner, p->type == LBP_T_INT ? "an integer" : "a number", got);
            return NULL;
        }
        if (!in_range(p, v->u.num)) {
            lb_error_set(err, "ValueError", 0, 0, "parameter '%s' of %s must be %s (got %s)", p->name,
                         owner, rng, got);
            return NULL;
        }
        return lb_incref(v);
    case LBP_T_BOOL:
        if (v->kind != LB_BOOL) {
            lb_error_set(err, "TypeError", 0, 0, "parameter '%s' of %s must be true or false (got %s)",
                         p->name, owner, got);
            return NULL;
        }
        return lb_incref(v);
    case LBP_T_STR:
        if (v->kind != LB_STR) {
            lb_error_set(err, "TypeError", 0, 0, "parameter '%s' of %s must be a string (got %s)",
                         p->name, owner, got);
            return NULL;
        }
        if (p->choices && !in_choices(p->choices, v->u.str.s)) {
            char ch[256];
            choices_text(p->choices, ch, sizeof ch);
            const char *cands[32];
            char words[32][64];
            size_t nc = 0;
            for (const char *q = p->choices; q && *q && nc < 32;) {
                const char *e = strchr(q, '|');
                size_t len = e ? (size_t)(e - q) : strlen(q);
                snprintf(words[nc], sizeof words[nc], "%.*s", (int)len, q);
                cands[nc] = words[nc];
                nc++;
                q = e ? e + 1 : NULL;
            }
            const char *s = lb_suggest(v->u.str.s, cands, nc);
            if (s)
                lb_error_set(err, "ValueError", 0, 0,
                             "parameter '%s' of %s must be one of %s (got %s; did you mean \"%s\"?)",
                             p->name, owner, ch, got, s);
            else
                lb_error_set(err, "ValueError", 0, 0, "parameter '%s' of %s must be one of %s (got %s)",
                             p->name, owner, ch, got);
            return NULL;
        }
        return lb_incref(v);
    case LBP_T_INTS:
    case LBP_T_NUMS: {
        bool ints = p->type == LBP_T_INTS;
        lb_value *list;
        if (v->kind == LB_NUM) {
            list = lb_list_new();
            if (!list || lb_list_append(list, v) < 0) {
                lb_decref(list);
                lb_oom(err);
                return NULL;
            }
        } else if (v->kind == LB_LIST) {
            list = lb_incref(v);
        } else {
            lb_error_set(err, "TypeError", 0, 0, "parameter '%s' of %s must be a list of %s (got %s)",
                         p->name, owner, ints ? "integers" : "numbers", got);
            return NULL;
        }
        if ((p->flags & LBP_NONEMPTY) && lb_list_len(list) == 0) {
            lb_decref(list);
            lb_error_set(err, "ValueError", 0, 0, "parameter '%s' of %s must not be empty", p->name,
                         owner);
            return NULL;
        }
        for (size_t i = 0; i < lb_list_len(list); i++) {
            lb_value *it = lb_list_get(list, i);
            if (it->kind != LB_NUM || (ints && !lb_is_int(it))) {
                lb_decref(list);
                lb_error_set(err, "TypeError", 0, 0,
                             "parameter '%s' of %s must be a list of %s (item %zu is %s)", p->name,
                             owner, ints ? "integers" : "numbers", i, lb_type_name(it));
                return NULL;
            }
            if (!in_range(p, it->u.num)) {
                char x[40];
                fmt_num(it->u.num, x, sizeof x);
                lb_decref(list);
                lb_error_set(err, "ValueError", 0, 0,
                             "parameter '%s' of %s: every item must be %s (item %zu is %s)", p->name,
                             owner, rng, i, x);
                return NULL;
            }
        }
        return list;
    }
    case LBP_T_ANY:
        return lb_incref(v);
    }
    return lb_incref(v);
}

static size_t nparams(const lbp_param *params)
{
    size_t n = 0;
    while (params && params[n].name)
        n++;
    return n;
}

void lb_args_clear(struct lbp_args *a)
{
    if (!a)
        return;
    lb_decref(a->values);
    memset(a, 0, sizeof *a);
}

int lb_args_copy(struct lbp_args *dst, const struct lbp_args *src)
{
    *dst = *src;
    lb_incref(dst->values);
    return 0;
}

int lb_args_check(struct lbp_args *a, const lbp_param *params, const char *owner, lb_value **args,
                  size_t nargs, lb_value *kwargs, lb_error *err)
{
    memset(a, 0, sizeof *a);
    a->params = params;
    a->owner = owner;
    size_t np = nparams(params);
    if (np > 64)
        return lb_error_set(err, "TypeError", 0, 0, "%s has more than 64 parameters", owner);
    if (nargs > np) {
        char *sig = lb_schema_signature(owner, params);
        lb_error_set(err, "TypeError", 0, 0, "%s takes at most %zu positional argument%s (%zu given); usage: %s",
                     owner, np, np == 1 ? "" : "s", nargs, sig ? sig : owner);
        free(sig);
        return -1;
    }
    lb_value *given[64] = {0};
    for (size_t i = 0; i < nargs; i++)
        given[i] = args[i];
    for (size_t k = 0; kwargs && k < lb_map_len(kwargs); k++) {
        const char *key = kwargs->u.map.entries[k].key;
        size_t i = 0;
        while (i < np && strcmp(params[i].name, key) != 0)
            i++;
        if (i == np) {
            const char *names[64];
            for (size_t j = 0; j < np; j++)
                names[j] = params[j].name;
            const char *s = lb_suggest(key, names, np);
            if (s)
                return lb_error_set(err, "TypeError", 0, 0,
                                    "unknown parameter '%s' for %s (did you mean '%s'?)", key, owner, s);
            char *sig = lb_schema_signature(owner, params);
            lb_error_set(err, "TypeError", 0, 0, "unknown parameter '%s' for %s; usage: %s", key,
                         owner, sig ? sig : owner);
            free(sig);
            return -1;
        }
        if (given[i])
            return lb_error_set(err, "TypeError", 0, 0,
                                "%s got parameter '%s' twice (by position and by name)", owner, key);
        given[i] = kwargs->u.map.entries[k].value;
    }
    a->values = lb_map_new();
    if (!a->values)
        return lb_oom(err);
    for (size_t i = 0; i < np; i++) {
        const lbp_param *p = &params[i];
        lb_value *v;
        if (given[i]) {
            v = check_value(p, owner, given[i], err);
            a->given |= (uint64_t)1 << i;
        } else if (p->def) {
            lb_value *d = parse_default(p->def);
            if (!d) {
                lb_args_clear(a);
                return lb_error_set(err, "RuntimeError", 0, 0,
                                    "%s: the default of parameter '%s' (%s) is not a literal", owner,
                                    p->name, p->def);
            }
            v = check_value(p, owner, d, err);
            lb_decref(d);
        } else {
            char *sig = lb_schema_signature(owner, params);
            lb_error_set(err, "TypeError", 0, 0, "%s needs parameter '%s' (%s); usage: %s", owner,
                         p->name, p->doc ? p->doc : type_word(p->type), sig ? sig : owner);
            free(sig);
            lb_args_clear(a);
            return -1;
        }
        if (!v || lb_map_set_take(a->values, p->name, v) < 0) {
            lb_args_clear(a);
            if (!lb_error_is_set(err))
                lb_oom(err);
            return -1;
        }
    }
    return 0;
}

char *lb_args_text(const struct lbp_args *a)
{
    lb_strbuf b = {0};
    lb_sb_add(&b, a->owner ? a->owner : "?");
    lb_sb_add(&b, "(");
    bool first = true, positional = true;
    for (size_t i = 0; a->params && a->params[i].name; i++) {
        const lbp_param *p = &a->params[i];
        lb_value *v = a->values ? lb_map_get(a->values, p->name) : NULL;
        if (!v)
            continue;
        bool req = p->def == NULL;
        if (!req) {
            positional = false;
            if (!(a->given & ((uint64_t)1 << i)))
                continue;
        }
        char *r = lb_repr(v);
        if (!first)
            lb_sb_add(&b, ", ");
        first = false;
        if (!positional)
            lb_sb_printf(&b, "%s=", p->name);
        lb_sb_add(&b, r ? r : "?");
        free(r);
    }
    lb_sb_add(&b, ")");
    return lb_sb_take(&b);
}

int lb_schema_validate(const lbp_param *params, const char *owner, char *msg, size_t size)
{
    size_t np = nparams(params);
    if (np > 64) {
        snprintf(msg, size, "%s has more than 64 parameters", owner);
        return -1;
    }
    for (size_t i = 0; i < np; i++) {
        const lbp_param *p = &params[i];
        const char *s = p->name;
        bool ok = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_';
        for (; *s && ok; s++)
            ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                 *s == '_';
        if (!ok || lb_is_keyword(p->name)) {
            snprintf(msg, size, "%s: parameter name '%s' is not an identifier", owner, p->name);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(params[j].name, p->name) == 0) {
                snprintf(msg, size, "%s: parameter '%s' is listed twice", owner, p->name);
                return -1;
            }
        if (p->type < LBP_T_INT || p->type > LBP_T_ANY) {
            snprintf(msg, size, "%s: parameter '%s' has an unknown type %d", owner, p->name, (int)p->type);
            return -1;
        }
        if (p->def) {
            lb_value *d = parse_default(p->def);
            lb_error err = {0};
            lb_value *c = d ? check_value(p, owner, d, &err) : NULL;
            if (!c) {
                snprintf(msg, size, "%s: the default of parameter '%s' (%s) is invalid%s%s", owner,
                         p->name, p->def, err.evalue ? ": " : "", err.evalue ? err.evalue : "");
                lb_error_clear(&err);
                lb_decref(d);
                return -1;
            }
            lb_decref(c);
            lb_decref(d);
        }
    }
    return 0;
}

char *lb_schema_signature(const char *name, const lbp_param *params)
{
    lb_strbuf b = {0};
    lb_sb_add(&b, name);
    lb_sb_add(&b, "(");
    for (size_t i = 0; params && params[i].name; i++) {
        if (i)
            lb_sb_add(&b, ", ");
        lb_sb_add(&b, params[i].name);
        if (params[i].def) {
            lb_sb_add(&b, "=");
            lb_sb_add(&b, params[i].def);
        }
    }
    lb_sb_add(&b, ")");
    return lb_sb_take(&b);
}

/* "int = 1, >= 1" / "string = \"max\", one of \"max\", \"stride\"" */
static void describe(const lbp_param *p, char *buf, size_t n)
{
    char rng[96], ch[256];
    range_text(p, rng, sizeof rng);
    choices_text(p->choices, ch, sizeof ch);
    snprintf(buf, n, "%s%s%s%s%s%s%s%s", type_word(p->type), p->def ? " = " : ", required",
             p->def ? p->def : "", rng[0] ? ", " : "", rng, ch[0] ? ", one of " : "", ch,
             (p->flags & LBP_NONE_OK) && !(p->def && strcmp(p->def, "none") == 0) ? ", or none" : "");
}

char *lb_schema_doc_plain(const lbp_param *params)
{
    lb_strbuf b = {0};
    size_t w = 0;
    for (size_t i = 0; params && params[i].name; i++)
        if (strlen(params[i].name) > w)
            w = strlen(params[i].name);
    for (size_t i = 0; params && params[i].name; i++) {
        char d[512];
        describe(&params[i], d, sizeof d);
        lb_sb_printf(&b, "  %-*s  %s\n  %-*s  %s\n", (int)w, params[i].name,
                  params[i].doc ? params[i].doc : "", (int)w, "", d);
    }
    return lb_sb_take(&b);
}

char *lb_schema_doc_markdown(const lbp_param *params)
{
    lb_strbuf b = {0};
    lb_sb_add(&b, "| parameter | type, default, range | meaning |\n|---|---|---|\n");
    for (size_t i = 0; params && params[i].name; i++) {
        char d[512];
        describe(&params[i], d, sizeof d);
        lb_sb_printf(&b, "| `%s` | %s | %s |\n", params[i].name, d, params[i].doc ? params[i].doc : "");
    }
    return lb_sb_take(&b);
}
