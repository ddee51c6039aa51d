/* complete.c — the front-end tools of the language: is_complete (complete / incomplete /
 * invalid), tab completion (commands, variables, builtin functions, keywords, members after
 * `name.`, key= parameters of a command) and inspection (the same docs `help` pages). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/parser.h"

lb_code_status lb_interp_is_complete(lb_interp *in, const char *code)
{
    if (lb_modules_cell(in, code))
        return LB_CODE_COMPLETE; /* C for the compiler, not labbook: never held back */
    lb_error err = {0};
    bool incomplete = false;
    lb_node *block = lb_parse(code ? code : "", in ? in->cmds : NULL, &err, &incomplete);
    lb_code_status st;
    if (block)
        st = LB_CODE_COMPLETE;
    else if (incomplete)
        st = LB_CODE_INCOMPLETE;
    else if (strcmp(err.ename, "SyntaxError") == 0)
        st = LB_CODE_INVALID;
    else
        st = LB_CODE_COMPLETE; /* e.g. an unknown command: let it run and report */
    lb_node_free(block);
    lb_error_clear(&err);
    return st;
}

/* ---- completion ---------------------------------------------------------------------------- */

static bool name_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

typedef struct {
    json_t *set; /* object used as a set of matches */
    const char *prefix;
    size_t plen;
} matches;

static void offer(matches *m, const char *cand)
{
    if (cand && strncmp(cand, m->prefix, m->plen) == 0)
        json_object_set_new(m->set, cand, json_true());
}

static void offer_variables(matches *m, lb_interp *in)
{
    for (size_t i = 0; i < lb_map_len(in->globals); i++)
        offer(m, in->globals->u.map.entries[i].key);
}

static void offer_functions(matches *m, lb_interp *in)
{
    for (size_t i = 0; i < lb_map_len(in->builtins); i++)
        offer(m, in->builtins->u.map.entries[i].key);
}

static void offer_commands(matches *m, lb_interp *in)
{
    for (size_t i = 0; i < lb_commands_count(in->cmds); i++)
        offer(m, lb_commands_at(in->cmds, i)->name);
}

static void offer_keywords(matches *m, bool operators)
{
    static const char *const lits[] = {"true", "false", "none", "not"};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++)
        offer(m, lits[i]);
    if (operators) {
        offer(m, "and");
        offer(m, "or");
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *sorted(json_t *set)
{
    size_t n = json_object_size(set), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    json_t *arr = json_array();
    if (!keys || !arr) {
        free(keys);
        return arr;
    }
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof *keys, cmp_str);
    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_string(keys[i]));
    free(keys);
    return arr;
}

/* Start of the logical line holding position pos (continuations and open brackets join). */
static size_t line_start(const char *code, size_t pos)
{
    int depth = 0;
    size_t i = pos;
    while (i > 0) {
        char c = code[i - 1];
        if (c == ')' || c == ']' || c == '}')
            depth++;
        else if (c == '(' || c == '[' || c == '{')
            depth = depth > 0 ? depth - 1 : 0;
        else if (c == '\n' && depth == 0 && !(i >= 2 && code[i - 2] == '\\'))
            break;
        i--;
    }
    return i;
}

/* Whether pos is inside a string literal or a comment on its line. */
static bool in_string_or_comment(const char *code, size_t from, size_t pos)
{
    char quote = 0;
    for (size_t i = from; i < pos; i++) {
        char c = code[i];
        if (quote) {
            if (c == '\\' && i + 1 < pos)
                i++;
            else if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '#') {
            return true;
        }
    }
    return quote != 0;
}

/* Resolves a dotted chain of names ending just before `end` (e.g. "a.b" in "a.b.|"), without
 * calling anything: variables, map keys and object members only. Borrowed or new ref in *own. */
static lb_value *resolve_chain(lb_interp *in, const char *code, size_t from, size_t end,
                               lb_value **own)
{
    *own = NULL;
    size_t s = end;
    while (s > from && (name_char(code[s - 1]) || code[s - 1] == '.'))
        s--;
    if (s == end || code[s] == '.' || isdigit((unsigned char)code[s]))
        return NULL;
    char *chain = strndup(code + s, end - s);
    if (!chain)
        return NULL;
    lb_value *cur = NULL;
    char *save = NULL;
    bool first = true;
    for (char *part = strtok_r(chain, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        if (first) {
            cur = lb_lookup(in, part);
            first = false;
        } else if (cur && cur->kind == LB_MAP) {
            cur = lb_map_get(cur, part);
        } else if (cur && cur->kind == LB_OBJECT && cur->u.obj.cls && cur->u.obj.cls->member) {
            lb_error err = {0};
            lb_value *next = cur->u.obj.cls->member(cur, part, &err);
            lb_error_clear(&err);
            lb_decref(*own);
            *own = next;
            cur = next;
        } else {
            cur = NULL;
        }
        if (!cur)
            break;
    }
    free(chain);
    if (!cur) {
        lb_decref(*own);
        *own = NULL;
    }
    return cur;
}

/* After `name.`: the keys or members of the value the chain before the dot names. */
static void offer_members(matches *m, lb_interp *in, const char *code, size_t ls, size_t ws)
{
    lb_value *own = NULL;
    lb_value *v = resolve_chain(in, code, ls, ws - 1, &own);
    if (v && v->kind == LB_MAP) {
        for (size_t i = 0; i < v->u.map.len; i++)
            offer(m, v->u.map.entries[i].key);
    } else if (v && v->kind == LB_OBJECT && v->u.obj.cls && v->u.obj.cls->members) {
        json_t *names = v->u.obj.cls->members(v);
        size_t i;
        json_t *s;
        json_array_foreach(names, i, s)
        {
            if (json_is_string(s))
                offer(m, json_string_value(s));
        }
        json_decref(names);
    }
    lb_decref(own);
}

/* Inside the line of command cmd (its name ends at fe): at the start of an argument (outside
 * brackets, after a blank or a comma) its key= parameters, the words its module offers and
 * what its argument hint allows. False when ws is inside an expression instead. */
static bool offer_command_args(matches *m, lb_interp *in, const lb_command *cmd, const char *code,
                               size_t fe, size_t ws)
{
    /* the depth of brackets decides between argument and expression */
    int depth = 0;
    for (size_t i = fe; i < ws; i++) {
        if (code[i] == '(' || code[i] == '[' || code[i] == '{')
            depth++;
        else if ((code[i] == ')' || code[i] == ']' || code[i] == '}') && depth > 0)
            depth--;
    }
    bool arg_start = depth == 0 && (code[ws - 1] == ' ' || code[ws - 1] == '\t' || code[ws - 1] == ',');
    if (!arg_start)
        return false;
    for (const lb_param *a = cmd->params; a && a->name; a++) {
        char key[128];
        snprintf(key, sizeof key, "%s=", a->name);
        offer(m, key);
    }
    /* commands of the plugin subsystem with their own words (`use` -> plugin names) */
    json_t *words = lb_modules_complete_arg(in, cmd->name);
    size_t wi;
    json_t *w;
    json_array_foreach(words, wi, w)
    {
        offer(m, json_string_value(w));
    }
    json_decref(words);
    switch (cmd->hint) {
    case LB_ARGS_COMMANDS:
        offer_commands(m, in);
        offer_functions(m, in);
        break;
    case LB_ARGS_VARIABLES:
        offer_variables(m, in);
        break;
    case LB_ARGS_NONE:
        break;
    case LB_ARGS_VALUES:
        offer_variables(m, in);
        offer_functions(m, in);
        offer_keywords(m, false);
        break;
    }
    return true;
}

/* Right after `type(` or `, ` inside the call of a plugin type (`conv2d(1, 16, `): the key=
 * parameters of that type. */
static void offer_call_params(matches *m, lb_interp *in, const char *code, size_t ls, size_t ws)
{
    int depth = 0;
    size_t i = ws;
    while (i > ls) {
        char c = code[i - 1];
        if (c == ')' || c == ']' || c == '}')
            depth++;
        else if ((c == '(' || c == '[' || c == '{') && depth-- == 0)
            break;
        i--;
    }
    size_t k = ws;
    while (k > ls && (code[k - 1] == ' ' || code[k - 1] == '\t'))
        k--;
    if (i > ls && code[i - 1] == '(' && k > ls && (code[k - 1] == '(' || code[k - 1] == ',')) {
        size_t fe2 = i - 1, fs2 = fe2;
        while (fs2 > ls && name_char(code[fs2 - 1]))
            fs2--;
        char *fname = fs2 < fe2 ? strndup(code + fs2, fe2 - fs2) : NULL;
        json_t *pp = fname ? lb_modules_call_params(in, fname) : NULL;
        size_t pi;
        json_t *pn;
        json_array_foreach(pp, pi, pn)
        {
            char key[128];
            snprintf(key, sizeof key, "%s=", json_string_value(pn));
            offer(m, key);
        }
        json_decref(pp);
        free(fname);
    }
}

/* What fits at ws, judged by the words before it on the logical line from ls: everything at
 * the start of a statement, a command's arguments, else what an expression may hold. */
static void offer_in_line(matches *m, lb_interp *in, const char *code, size_t ls, size_t ws)
{
    size_t p = ls;
    while (p < ws && isspace((unsigned char)code[p]))
        p++;
    if (p == ws) {
        /* at the start of a statement */
        offer_commands(m, in);
        offer_variables(m, in);
        offer_functions(m, in);
        offer_keywords(m, true);
        return;
    }
    size_t fe = p;
    while (fe < ws && name_char(code[fe]))
        fe++;
    char *first = strndup(code + p, fe - p);
    if (!first)
        return;
    size_t q = fe;
    while (q < ws && (code[q] == ' ' || code[q] == '\t'))
        q++;
    bool assignment = q < ws && code[q] == '=' && code[q + 1] != '=';
    const lb_command *cmd = fe > p && !assignment ? lb_commands_find(in->cmds, first) : NULL;
    free(first);
    if (cmd && fe < ws && (code[fe] == ' ' || code[fe] == '\t') &&
        offer_command_args(m, in, cmd, code, fe, ws))
        return;
    /* inside an expression */
    offer_call_params(m, in, code, ls, ws);
    offer_variables(m, in);
    offer_functions(m, in);
    offer_keywords(m, true);
}

json_t *lb_interp_complete(lb_interp *in, const char *code, size_t cursor, size_t *start, size_t *end)
{
    if (!code)
        code = "";
    size_t len = strlen(code);
    if (cursor > len)
        cursor = len;
    if (lb_modules_cell(in, code)) {
        *start = *end = cursor; /* a %%plugin cell is C: no labbook completion */
        return json_array();
    }
    size_t ws = cursor;
    while (ws > 0 && name_char(code[ws - 1]))
        ws--;
    size_t we = cursor;
    while (we < len && name_char(code[we]))
        we++;
    if (start)
        *start = ws;
    if (end)
        *end = cursor;
    json_t *set = json_object();
    if (!set || !in)
        return set ? (json_decref(set), json_array()) : json_array();
    char *prefix = strndup(code + ws, cursor - ws);
    if (!prefix) {
        json_decref(set);
        return json_array();
    }
    matches m = {.set = set, .prefix = prefix, .plen = strlen(prefix)};
    size_t ls = line_start(code, ws);
    /* nothing to offer inside a string, a comment or a number */
    if (!in_string_or_comment(code, ls, ws) && !(m.plen && isdigit((unsigned char)prefix[0]))) {
        if (ws > ls && code[ws - 1] == '.')
            offer_members(&m, in, code, ls, ws);
        else
            offer_in_line(&m, in, code, ls, ws);
    }
    free(prefix);
    (void)we;
    json_t *arr = sorted(set);
    json_decref(set);
    return arr;
}

/* ---- inspection ----------------------------------------------------------------------------- */

json_t *lb_interp_inspect(lb_interp *in, const char *code, size_t cursor, int detail_level)
{
    if (!in || !code || lb_modules_cell(in, code))
        return NULL;
    size_t len = strlen(code);
    if (cursor > len)
        cursor = len;
    size_t s = cursor, e = cursor;
    while (s > 0 && name_char(code[s - 1]))
        s--;
    while (e < len && name_char(code[e]))
        e++;
    if (s == e) {
        /* just after `f(` or a space: inspect the word before */
        size_t k = s;
        while (k > 0 && (code[k - 1] == '(' || code[k - 1] == ' '))
            k--;
        e = k;
        s = k;
        while (s > 0 && name_char(code[s - 1]))
            s--;
        if (s == e)
            return NULL;
    }
    size_t ls = line_start(code, s);
    if (s > ls && code[s - 1] == '.') {
        /* a member: `cfg.lr` shows the value of cfg.lr */
        lb_value *own = NULL;
        lb_value *v = resolve_chain(in, code, ls, e, &own);
        json_t *bundle = NULL;
        if (v) {
            char *r = detail_level > 0 ? lb_repr(v) : lb_repr_short(v, 2000);
            char *plain = NULL;
            if (r && asprintf(&plain, "%.*s: %s\n\n%s\n", (int)(e - s), code + s, lb_type_name(v),
                              r) < 0)
                plain = NULL;
            if (plain && (bundle = json_object()))
                json_object_set_new(bundle, "text/plain", json_string(plain));
            free(plain);
            free(r);
        }
        lb_decref(own);
        return bundle;
    }
    char *name = strndup(code + s, e - s);
    if (!name)
        return NULL;
    size_t p = ls;
    while (p < s && isspace((unsigned char)code[p]))
        p++;
    bool first_word = p == s;
    const lb_command *cmd = lb_commands_find(in->cmds, name);
    lb_value *var = lb_interp_get(in, name);
    lb_value *fn = lb_interp_builtin(in, name);
    char *plain = NULL, *md = NULL;
    if (cmd && (first_word || !var)) {
        plain = lb_command_doc_text(cmd);
        md = lb_command_doc_markdown(cmd);
    } else if (!var && lb_modules_doc(in, name, &plain, &md)) {
        /* a layer or model type of a plugin */
    } else if (var) {
        char *r = detail_level > 0 ? lb_repr(var) : lb_repr_short(var, 2000);
        if (r && asprintf(&plain, "%s: %s\n\n%s\n", name, lb_type_name(var), r) < 0)
            plain = NULL;
        free(r);
    } else if (fn) {
        plain = lb_function_doc_text(fn);
        md = lb_function_doc_markdown(fn);
    }
    free(name);
    if (!plain) {
        free(md);
        return NULL;
    }
    json_t *bundle = json_object();
    if (bundle) {
        json_object_set_new(bundle, "text/plain", json_string(plain));
        if (md)
            json_object_set_new(bundle, "text/markdown", json_string(md));
    }
    free(plain);
    free(md);
    return bundle;
}
