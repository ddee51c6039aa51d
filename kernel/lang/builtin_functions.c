/* builtin_functions.c — the builtin functions of labbook v0 (len, str, num, int, round, abs,
 * min, max, range, sqrt, exp, log, keys, type), each with the one-line doc that help,
 * inspect and completion show. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/interp.h"
#include "lang/interp_state.h"

#define MAX_RANGE 1000000 /* about 40 MB of numbers */

/* Checks positional count and that only `allowed` keywords (NULL-terminated) were given. */
static int check_args(const char *fname, size_t nargs, size_t min, size_t max, lb_value *kwargs,
                      const char *const *allowed, lb_error *err)
{
    for (size_t i = 0; kwargs && i < kwargs->u.map.len; i++) {
        bool ok = false;
        for (const char *const *a = allowed; a && *a; a++)
            if (strcmp(*a, kwargs->u.map.entries[i].key) == 0)
                ok = true;
        if (!ok)
            return lb_error_set(err, "TypeError", 0, 0, "%s() got an unexpected keyword argument '%s'",
                                fname, kwargs->u.map.entries[i].key);
    }
    if (nargs < min || nargs > max) {
        if (min == max)
            return lb_error_set(err, "TypeError", 0, 0, "%s() takes %zu argument%s (got %zu)", fname,
                                min, min == 1 ? "" : "s", nargs);
        if (nargs < min)
            return lb_error_set(err, "TypeError", 0, 0, "%s() takes at least %zu argument%s (got %zu)",
                                fname, min, min == 1 ? "" : "s", nargs);
        return lb_error_set(err, "TypeError", 0, 0, "%s() takes at most %zu arguments (got %zu)",
                            fname, max, nargs);
    }
    return 0;
}

static int want_num(const char *fname, const lb_value *v, const char *what, double *out,
                    lb_error *err)
{
    if (v->kind != LB_NUM)
        return lb_error_set(err, "TypeError", 0, 0, "%s() needs a number%s%s, got %s", fname,
                            what ? " for " : "", what ? what : "", lb_type_name(v));
    *out = v->u.num;
    return 0;
}

static lb_value *num_or_oom(double x, lb_error *err)
{
    lb_value *v = lb_num(x);
    return v ? v : lb_oom_null(err);
}

static lb_value *fn_len(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    if (check_args("len", n, 1, 1, kw, NULL, err) < 0)
        return NULL;
    switch (a[0]->kind) {
    case LB_STR: return num_or_oom((double)lb_str_codepoints(a[0]->u.str.s, a[0]->u.str.len), err);
    case LB_LIST: return num_or_oom((double)a[0]->u.list.len, err);
    case LB_MAP: return num_or_oom((double)a[0]->u.map.len, err);
    default:
        lb_error_set(err, "TypeError", 0, 0, "%s has no length", lb_type_name(a[0]));
        return NULL;
    }
}

static lb_value *fn_str(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    if (check_args("str", n, 1, 1, kw, NULL, err) < 0)
        return NULL;
    if (a[0]->kind == LB_STR)
        return lb_incref(a[0]);
    /* a value may stand for far more text than a string may hold: built only that far */
    char *text;
    int whole = lb_text_within(a[0], true, SIZE_MAX, LB_MAX_ITEMS, true, &text, err);
    if (whole < 0)
        return NULL;
    if (whole == 0) {
        free(text);
        char max[32], what[80];
        lb_format_count(LB_MAX_ITEMS, max, sizeof max);
        lb_describe_size(a[0], what, sizeof what);
        lb_error_set(err, "ValueError", 0, 0,
                     "str(): the text of %s is longer than %s bytes, the limit of a string", what,
                     max);
        return NULL;
    }
    lb_value *v = lb_str_take(text);
    return v ? v : lb_oom_null(err);
}

/* Parses a whole string as a number (surrounding spaces allowed). */
static int parse_number(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s)
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (*end)
        return -1;
    *out = x;
    return 0;
}

static int to_number(const char *fname, const lb_value *v, double *out, lb_error *err)
{
    switch (v->kind) {
    case LB_NUM: *out = v->u.num; return 0;
    case LB_BOOL: *out = v->u.b ? 1 : 0; return 0;
    case LB_STR:
        if (parse_number(v->u.str.s, out) == 0)
            return 0;
        {
            char *r = lb_repr_short(v, 40);
            lb_error_set(err, "ValueError", 0, 0, "%s(): cannot convert %s to a number", fname,
                         r ? r : "string");
            free(r);
        }
        return -1;
    default:
        return lb_error_set(err, "TypeError", 0, 0, "%s(): cannot convert %s to a number", fname,
                            lb_type_name(v));
    }
}

static lb_value *fn_num(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    double x = 0;
    if (check_args("num", n, 1, 1, kw, NULL, err) < 0 || to_number("num", a[0], &x, err) < 0)
        return NULL;
    return num_or_oom(x, err);
}

static lb_value *fn_int(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    double x = 0;
    if (check_args("int", n, 1, 1, kw, NULL, err) < 0 || to_number("int", a[0], &x, err) < 0)
        return NULL;
    if (!isfinite(x)) {
        lb_error_set(err, "ValueError", 0, 0, "int(): cannot convert %s to an integer",
                     isnan(x) ? "nan" : "infinity");
        return NULL;
    }
    return num_or_oom(trunc(x), err);
}

static lb_value *fn_round(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    static const char *const allowed[] = {"digits", NULL};
    double x = 0, digits = 0;
    if (check_args("round", n, 1, 2, kw, allowed, err) < 0 || want_num("round", a[0], NULL, &x, err) < 0)
        return NULL;
    lb_value *dv = n > 1 ? a[1] : lb_map_get(kw, "digits");
    if (n > 1 && lb_map_get(kw, "digits")) {
        lb_error_set(err, "TypeError", 0, 0, "round(): digits given twice");
        return NULL;
    }
    if (dv && (want_num("round", dv, "digits", &digits, err) < 0))
        return NULL;
    if (digits != floor(digits) || digits < -300 || digits > 300) {
        lb_error_set(err, "ValueError", 0, 0, "round(): digits must be an integer between -300 and 300");
        return NULL;
    }
    if (!isfinite(x))
        return num_or_oom(x, err);
    if (digits == 0)
        return num_or_oom(round(x), err);
    if (digits > 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)digits, x);
        return num_or_oom(strtod(buf, NULL), err);
    }
    double p = pow(10, -digits);
    return num_or_oom(round(x / p) * p, err);
}

static lb_value *fn_abs(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    double x = 0;
    if (check_args("abs", n, 1, 1, kw, NULL, err) < 0 || want_num("abs", a[0], NULL, &x, err) < 0)
        return NULL;
    return num_or_oom(fabs(x), err);
}

static lb_value *extreme(const char *fname, lb_value **a, size_t n, lb_value *kw, int sign,
                         lb_error *err)
{
    if (check_args(fname, n, 1, (size_t)-1, kw, NULL, err) < 0)
        return NULL;
    lb_value **items = a;
    size_t len = n;
    if (n == 1) {
        if (a[0]->kind != LB_LIST) {
            lb_error_set(err, "TypeError", 0, 0, "%s() needs a list or several values, got one %s",
                         fname, lb_type_name(a[0]));
            return NULL;
        }
        items = a[0]->u.list.items;
        len = a[0]->u.list.len;
    }
    if (len == 0) {
        lb_error_set(err, "ValueError", 0, 0, "%s() of an empty list", fname);
        return NULL;
    }
    lb_value *best = items[0];
    for (size_t i = 0; i < len; i++) {
        if (i % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0)
            return NULL;
        lb_value *v = items[i];
        if (v->kind == LB_NUM && best->kind == LB_NUM) {
            if (isnan(v->u.num))
                continue;
            if (isnan(best->u.num) || (sign < 0 ? v->u.num < best->u.num : v->u.num > best->u.num))
                best = v;
        } else if (v->kind == LB_STR && best->kind == LB_STR) {
            int c = strcmp(v->u.str.s, best->u.str.s);
            if (sign < 0 ? c < 0 : c > 0)
                best = v;
        } else {
            lb_error_set(err, "TypeError", 0, 0, "%s(): cannot compare %s and %s", fname,
                         lb_type_name(best), lb_type_name(v));
            return NULL;
        }
    }
    return lb_incref(best);
}

static lb_value *fn_min(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    return extreme("min", a, n, kw, -1, err);
}

static lb_value *fn_max(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    return extreme("max", a, n, kw, 1, err);
}

static lb_value *fn_range(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    double start = 0, stop, step = 1;
    if (check_args("range", n, 1, 3, kw, NULL, err) < 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (a[i]->kind != LB_NUM) {
            lb_error_set(err, "TypeError", 0, 0, "range() needs numbers, got %s", lb_type_name(a[i]));
            return NULL;
        }
    if (n == 1) {
        stop = a[0]->u.num;
    } else {
        start = a[0]->u.num;
        stop = a[1]->u.num;
        if (n == 3)
            step = a[2]->u.num;
    }
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(stop)) {
        lb_error_set(err, "ValueError", 0, 0,
                     step == 0 ? "range() step must not be zero" : "range() needs finite numbers");
        return NULL;
    }
    double count = ceil((stop - start) / step);
    if (count < 0)
        count = 0;
    if (count > MAX_RANGE) {
        lb_error_set(err, "ValueError", 0, 0, "range() too large (%.3g items; the limit is %d)", count,
                     MAX_RANGE);
        return NULL;
    }
    lb_value *l = lb_list_new();
    if (!l)
        return lb_oom_null(err);
    for (size_t i = 0; i < (size_t)count; i++) {
        if (i % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0) {
            lb_decref(l);
            return NULL;
        }
        lb_value *x = lb_num(start + (double)i * step);
        if (!x || lb_list_append_take(l, x) < 0) {
            lb_decref(l);
            return lb_oom_null(err);
        }
    }
    return l;
}

static lb_value *fn_sqrt(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    double x = 0;
    if (check_args("sqrt", n, 1, 1, kw, NULL, err) < 0 || want_num("sqrt", a[0], NULL, &x, err) < 0)
        return NULL;
    if (x < 0) {
        lb_error_set(err, "ValueError", 0, 0, "sqrt() of a negative number");
        return NULL;
    }
    return num_or_oom(sqrt(x), err);
}

static lb_value *fn_exp(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    double x = 0;
    if (check_args("exp", n, 1, 1, kw, NULL, err) < 0 || want_num("exp", a[0], NULL, &x, err) < 0)
        return NULL;
    return num_or_oom(exp(x), err);
}

static lb_value *fn_log(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    static const char *const allowed[] = {"base", NULL};
    double x = 0, base = 0;
    if (check_args("log", n, 1, 2, kw, allowed, err) < 0 || want_num("log", a[0], NULL, &x, err) < 0)
        return NULL;
    lb_value *bv = n > 1 ? a[1] : lb_map_get(kw, "base");
    if (bv && want_num("log", bv, "base", &base, err) < 0)
        return NULL;
    if (x <= 0) {
        lb_error_set(err, "ValueError", 0, 0, "log() of a number that is not positive");
        return NULL;
    }
    if (bv && (base <= 0 || base == 1)) {
        lb_error_set(err, "ValueError", 0, 0, "log(): base must be positive and not 1");
        return NULL;
    }
    return num_or_oom(bv ? log(x) / log(base) : log(x), err);
}

static lb_value *fn_keys(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    if (check_args("keys", n, 1, 1, kw, NULL, err) < 0)
        return NULL;
    lb_value *l = lb_list_new();
    if (!l)
        return lb_oom_null(err);
    if (a[0]->kind == LB_MAP) {
        for (size_t i = 0; i < a[0]->u.map.len; i++)
            if (lb_list_append_take(l, lb_str(a[0]->u.map.entries[i].key)) < 0)
                goto fail;
        return l;
    }
    if (a[0]->kind == LB_OBJECT && a[0]->u.obj.cls && a[0]->u.obj.cls->members) {
        json_t *names = a[0]->u.obj.cls->members(a[0]);
        size_t i;
        json_t *s;
        json_array_foreach(names, i, s)
        {
            if (json_is_string(s) && lb_list_append_take(l, lb_str(json_string_value(s))) < 0) {
                json_decref(names);
                goto fail;
            }
        }
        json_decref(names);
        return l;
    }
    lb_decref(l);
    lb_error_set(err, "TypeError", 0, 0, "keys() needs a map, got %s", lb_type_name(a[0]));
    return NULL;
fail:
    lb_decref(l);
    return lb_oom_null(err);
}

static lb_value *fn_type(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    if (check_args("type", n, 1, 1, kw, NULL, err) < 0)
        return NULL;
    lb_value *v = lb_str(lb_type_name(a[0]));
    return v ? v : lb_oom_null(err);
}

static const struct {
    const char *name, *signature, *doc;
    lb_builtin_fn fn;
} functions[] = {
    {"len", "len(x)", "The length of a string (in characters), a list or a map.", fn_len},
    {"str", "str(x)", "The text of a value, as print shows it: str(0.5) is \"0.5\".", fn_str},
    {"num", "num(x)", "A number from a number, a bool or a text such as \"1e-3\".", fn_num},
    {"int", "int(x)", "The integer part of a number (or numeric text), rounded toward zero.", fn_int},
    {"round", "round(x, digits=0)",
     "x rounded to `digits` decimal places (halfway cases away from zero).", fn_round},
    {"abs", "abs(x)", "The absolute value of a number.", fn_abs},
    {"min", "min(list) or min(a, b, ...)", "The smallest of several numbers or strings.", fn_min},
    {"max", "max(list) or max(a, b, ...)", "The largest of several numbers or strings.", fn_max},
    {"range", "range(stop) or range(start, stop, step=1)",
     "The list of numbers start, start+step, ... up to but excluding stop.", fn_range},
    {"sqrt", "sqrt(x)", "The square root of a non-negative number.", fn_sqrt},
    {"exp", "exp(x)", "e raised to the power x.", fn_exp},
    {"log", "log(x, base=e)", "The logarithm of a positive number (natural unless a base is given).",
     fn_log},
    {"keys", "keys(m)", "The keys of a map (or the members of an object), in order, as a list.",
     fn_keys},
    {"type", "type(x)", "The type name of a value: \"number\", \"string\", \"list\", \"map\", ...",
     fn_type},
};

int lb_register_builtin_functions(lb_interp *in, lb_error *err)
{
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++)
        if (lb_interp_register_function(in, functions[i].name, functions[i].signature,
                                        functions[i].doc, functions[i].fn, NULL, err) < 0)
            return -1;
    return 0;
}

char *lb_function_doc_text(const lb_value *fn)
{
    const char *sig = fn->u.func.signature ? fn->u.func.signature : fn->u.func.name;
    const char *doc = fn->u.func.doc ? fn->u.func.doc : "";
    char *s = NULL;
    if (asprintf(&s, "%s\n\nbuiltin function: %s\n", sig, doc) < 0)
        return NULL;
    return s;
}

char *lb_function_doc_markdown(const lb_value *fn)
{
    const char *sig = fn->u.func.signature ? fn->u.func.signature : fn->u.func.name;
    const char *doc = fn->u.func.doc ? fn->u.func.doc : "";
    char *s = NULL;
    if (asprintf(&s, "`%s`\n\nbuiltin function: %s\n", sig, doc) < 0)
        return NULL;
    return s;
}
