/* interp.c — the interpreter object behind interp.h: creation (the language's own commands
 * and functions registered; the modules come from the entry point, module.h), running cells
 * statement by statement with safe points, the value of the last bare expression,
 * user_expressions, and the services commands use (commands.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/parser.h"
#include "render/table.h"

struct lb_state {
    char *key;
    void *state;
    void (*free_fn)(void *);
    struct lb_state *next;
};

lb_interp *lb_interp_new(const lb_output *out)
{
    lb_interp *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    if (out)
        in->out = *out;
    in->globals = lb_map_new();
    in->builtins = lb_map_new();
    in->cmds = lb_commands_new();
    in->versions = json_object();
    if (!in->globals || !in->builtins || !in->cmds || !in->versions)
        goto fail;
    lb_error err = {0};
    if (lb_interp_add_version(in, "labbook", LB_VERSION) < 0 ||
        lb_interp_add_version(in, "labbook language", LB_LANGUAGE_VERSION) < 0 ||
        lb_interp_add_version(in, "jansson", jansson_version_str()) < 0 ||
        lb_register_builtin_functions(in, &err) < 0 || lb_register_builtin_commands(in, &err) < 0 ||
        lb_register_expect_command(in, &err) < 0) {
        lb_error_clear(&err);
        goto fail;
    }
    return in;
fail:
    lb_interp_free(in);
    return NULL;
}

void lb_interp_free(lb_interp *in)
{
    if (!in)
        return;
    lb_decref(in->globals);
    lb_decref(in->builtins);
    lb_commands_free(in->cmds);
    /* the modules' states after the values that may depend on them (plugin code), newest
     * first */
    for (struct lb_state *st = in->states, *next; st; st = next) {
        next = st->next;
        if (st->free_fn)
            st->free_fn(st->state);
        free(st->key);
        free(st);
    }
    json_decref(in->versions);
    free(in);
}

int lb_interp_add_modules(lb_interp *in, const lb_module *const *modules, size_t n, lb_error *err)
{
    in->modules = modules;
    in->nmodules = n;
    for (size_t i = 0; i < n; i++)
        if (modules[i]->init && modules[i]->init(in, err) < 0)
            return -1;
    return 0;
}

bool lb_modules_doc(lb_interp *in, const char *name, char **plain, char **markdown)
{
    for (size_t i = 0; i < in->nmodules; i++)
        if (in->modules[i]->doc && in->modules[i]->doc(in, name, plain, markdown))
            return true;
    return false;
}

json_t *lb_modules_complete_arg(lb_interp *in, const char *command)
{
    json_t *all = json_array();
    for (size_t i = 0; all && i < in->nmodules; i++) {
        json_t *w = in->modules[i]->complete_arg ? in->modules[i]->complete_arg(in, command) : NULL;
        if (w)
            json_array_extend(all, w);
        json_decref(w);
    }
    return all;
}

json_t *lb_modules_call_params(lb_interp *in, const char *fname)
{
    for (size_t i = 0; i < in->nmodules; i++) {
        json_t *p = in->modules[i]->call_params ? in->modules[i]->call_params(in, fname) : NULL;
        if (p)
            return p;
    }
    return NULL;
}

const lb_module *lb_modules_cell(const lb_interp *in, const char *code)
{
    if (!in || !code)
        return NULL;
    const char *p = code; /* the first non-blank line, its indentation skipped */
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    for (size_t i = 0; i < in->nmodules; i++) {
        const char *m = in->modules[i]->cell_magic;
        size_t n = m ? strlen(m) : 0;
        if (n && in->modules[i]->run_cell && strncmp(p, m, n) == 0 &&
            (p[n] == '\0' || p[n] == ' ' || p[n] == '\t' || p[n] == '\r' || p[n] == '\n'))
            return in->modules[i];
    }
    return NULL;
}

int lb_interp_set_state(lb_interp *in, const char *key, void *state, void (*free_fn)(void *))
{
    struct lb_state *st = calloc(1, sizeof *st);
    if (!st || !(st->key = strdup(key))) {
        free(st);
        return -1;
    }
    st->state = state;
    st->free_fn = free_fn;
    st->next = in->states;
    in->states = st;
    return 0;
}

void *lb_interp_state(const lb_interp *in, const char *key)
{
    for (const struct lb_state *st = in ? in->states : NULL; st; st = st->next)
        if (strcmp(st->key, key) == 0)
            return st->state;
    return NULL;
}

void lb_interp_set_output(lb_interp *in, const lb_output *out)
{
    if (!in)
        return;
    if (out)
        in->out = *out;
    else
        memset(&in->out, 0, sizeof in->out);
}

static int emit_result(lb_interp *in, lb_value *v, lb_error *err)
{
    if (!in->out.result || v->kind == LB_NONE)
        return 0;
    json_t *meta = NULL;
    json_t *bundle = lb_value_bundle(v, &meta, err);
    if (!bundle)
        return -1;
    in->out.result(in->out.ctx, bundle, meta);
    json_decref(bundle);
    json_decref(meta);
    return 0;
}

int lb_interp_execute(lb_interp *in, const char *code, bool want_result, lb_error *err)
{
    if (!in)
        return lb_error_set(err, "RuntimeError", 0, 0, "no interpreter");
    const lb_module *magic = lb_modules_cell(in, code);
    if (magic) /* `%%plugin NAME`: the rest of the cell is C (host/plugin_cell.c) */
        return magic->run_cell(in, code, err);
    lb_node *block = lb_parse(code ? code : "", in->cmds, err, NULL);
    if (!block)
        return -1;
    int r = 0;
    for (size_t i = 0; i < block->nkids; i++) {
        const lb_node *s = block->kids[i];
        if (lb_safe_point(in, err) < 0) {
            lb_error_locate(err, s->line, s->col, s->span);
            r = -1;
            break;
        }
        bool last = i + 1 == block->nkids;
        lb_value *v = NULL;
        if (lb_exec(in, s, last && want_result ? &v : NULL, err) < 0) {
            r = -1;
            break;
        }
        if (lb_fault_pending()) { /* a plugin crashed in a call that could not say so */
            lb_decref(v);
            lb_safe_point(in, err);
            lb_error_locate(err, s->line, s->col, s->span);
            r = -1;
            break;
        }
        if (v) {
            int e = emit_result(in, v, err);
            lb_decref(v);
            if (e < 0) {
                lb_error_locate(err, s->line, s->col, s->span);
                r = -1;
                break;
            }
        }
    }
    lb_node_free(block);
    lb_fault_take(NULL, 0); /* reported, or part of the error the cell ends with */
    return r;
}

json_t *lb_interp_eval_bundle(lb_interp *in, const char *expr, lb_error *err)
{
    if (!in) {
        lb_error_set(err, "RuntimeError", 0, 0, "no interpreter");
        return NULL;
    }
    lb_node *n = lb_parse_expression(expr ? expr : "", err);
    if (!n)
        return NULL;
    lb_value *v = lb_eval(in, n, err);
    lb_node_free(n);
    if (!v)
        return NULL;
    json_t *bundle = lb_value_bundle(v, NULL, err);
    lb_decref(v);
    return bundle;
}

/* ---- services (commands.h) --------------------------------------------------------------- */

lb_commands *lb_interp_commands(lb_interp *in) { return in ? in->cmds : NULL; }

int lb_interp_register_command(lb_interp *in, const lb_command *cmd, lb_error *err)
{
    if (!in)
        return lb_error_set(err, "RegistrationError", 0, 0, "no interpreter");
    return lb_commands_register(in->cmds, cmd, err);
}

int lb_interp_register_commands(lb_interp *in, const lb_command *cmds, size_t n, lb_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (lb_interp_register_command(in, &cmds[i], err) < 0)
            return -1;
    return 0;
}

int lb_interp_register_function(lb_interp *in, const char *name, const char *signature,
                                const char *doc, lb_builtin_fn fn, void *data, lb_error *err)
{
    if (!in || !name || !fn)
        return lb_error_set(err, "RegistrationError", 0, 0, "cannot register a function without a "
                                                            "name or implementation");
    if (lb_is_keyword(name))
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register function '%s': it is a keyword", name);
    if (lb_map_get(in->builtins, name))
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register function '%s': a function of that name is already "
                            "registered",
                            name);
    lb_value *f = lb_func_new(name, signature, doc, fn, data);
    if (!f || lb_map_set_take(in->builtins, name, f) < 0)
        return lb_oom(err);
    return 0;
}

lb_value *lb_interp_builtin(lb_interp *in, const char *name)
{
    return in ? lb_map_get(in->builtins, name) : NULL;
}

lb_value *lb_interp_builtins(lb_interp *in) { return in ? in->builtins : NULL; }

lb_value *lb_interp_get(lb_interp *in, const char *name)
{
    return in ? lb_map_get(in->globals, name) : NULL;
}

int lb_interp_set(lb_interp *in, const char *name, lb_value *value)
{
    if (!in || !name || !value)
        return -1;
    return lb_map_set(in->globals, name, value);
}

bool lb_interp_del(lb_interp *in, const char *name)
{
    return in && lb_map_del(in->globals, name);
}

lb_value *lb_interp_globals(lb_interp *in) { return in ? in->globals : NULL; }

double lb_interp_seed(lb_interp *in, bool *is_set)
{
    if (is_set)
        *is_set = in && in->seed_set;
    return in && in->seed_set ? in->seed : 0;
}

void lb_interp_set_seed(lb_interp *in, double seed)
{
    if (!in)
        return;
    in->seed = seed;
    in->seed_set = true;
}

int lb_interp_add_version(lb_interp *in, const char *library, const char *version)
{
    if (!in || !library || !version)
        return -1;
    return json_object_set_new(in->versions, library, json_string(version));
}

json_t *lb_interp_versions(lb_interp *in) { return in ? in->versions : NULL; }

const lb_output *lb_interp_output(lb_interp *in) { return in ? &in->out : NULL; }

void lb_emit_stream(lb_interp *in, lb_stream which, const char *text, size_t len)
{
    if (in && in->out.stream && len)
        in->out.stream(in->out.ctx, which, text, len);
}

void lb_emit_display(lb_interp *in, json_t *data, json_t *metadata, const char *display_id,
                     bool update)
{
    if (in && in->out.display)
        in->out.display(in->out.ctx, data, metadata, display_id, update);
}

int lb_emit_table(lb_interp *in, lb_table *t, lb_error *err)
{
    json_t *b = lb_table_bundle(t);
    lb_table_free(t);
    if (!b)
        return lb_oom(err);
    lb_emit_display(in, b, NULL, NULL, false);
    json_decref(b);
    return 0;
}

void lb_emit_clear(lb_interp *in, bool wait)
{
    if (in && in->out.clear)
        in->out.clear(in->out.ctx, wait);
}

void lb_emit_page(lb_interp *in, json_t *data)
{
    if (in && in->out.page)
        in->out.page(in->out.ctx, data);
}
