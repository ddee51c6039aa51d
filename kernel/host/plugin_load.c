/* plugin_load.c — loading plugins (spec/plugin-abi.md): finding NAME.so, dlopen, the magic
 * block compared field by field, lbp_init with the host table, registration of types, ops and
 * commands (duplicates refused), rollback and dlclose on failure, unload and replace; the
 * `use` and `plugins` commands and the documentation hooks for help / inspect / completion. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#include "base/sha256.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/parser.h"
#include "host/plugin_impl.h"
#include "render/table.h"

#ifndef LB_PREFIX
#define LB_PREFIX "/usr/local"
#endif
#ifndef LB_BUILD_PLUGIN_DIR
#define LB_BUILD_PLUGIN_DIR ""
#endif


/* ---- plugin records ------------------------------------------------------------------------ */

void lb_plugin_ref(lbp_plugin *p)
{
    if (p)
        p->refs++;
}

void lb_plugin_unref(lbp_plugin *p)
{
    if (!p || --p->refs > 0)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->name);
    free(p->version);
    free(p->description);
    free(p->path);
    free(p->crashed);
    free(p);
}

/* The registry is the plugins module's state in the interpreter (lang/module.h). */
#define REGISTRY_KEY "plugins"
lb_registry *lb_interp_registry(lb_interp *in) { return in ? lb_interp_state(in, REGISTRY_KEY) : NULL; }

static lb_registry *registry_new(lb_interp *in)
{
    lb_registry *r = calloc(1, sizeof *r);
    if (r)
        r->in = in;
    return r;
}

static bool is_ident(const char *s)
{
    if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static lbp_plugin *find_plugin(lb_registry *reg, const char *name)
{
    for (size_t i = 0; reg && i < reg->n; i++)
        if (strcmp(reg->plugins[i]->name, name) == 0)
            return reg->plugins[i];
    return NULL;
}

type_rec *lb_registry_type_rec(lb_registry *reg, const char *name)
{
    for (size_t i = 0; reg && i < reg->ntypes; i++)
        if (!reg->types[i]->dead && strcmp(reg->types[i]->name, name) == 0)
            return reg->types[i];
    return NULL;
}

const lbp_type *lb_registry_type(lb_interp *in, const char *name)
{
    type_rec *r = lb_registry_type_rec(lb_interp_registry(in), name);
    return r ? r->t : NULL;
}

size_t lb_registry_ntypes(lb_interp *in)
{
    lb_registry *reg = lb_interp_registry(in);
    size_t n = 0;
    for (size_t i = 0; reg && i < reg->ntypes; i++)
        n += !reg->types[i]->dead;
    return n;
}

const lbp_type *lb_registry_type_at(lb_interp *in, size_t k)
{
    lb_registry *reg = lb_interp_registry(in);
    for (size_t i = 0; reg && i < reg->ntypes; i++)
        if (!reg->types[i]->dead && k-- == 0)
            return reg->types[i]->t;
    return NULL;
}

/* ---- calling a type: `conv2d(1, 16, 3, pad=1)` ------------------------------------------------ */

static lb_value *type_call(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs,
                           void *data, lb_error *err)
{
    type_rec *r = data;
    if (r->dead) {
        lb_error_set(err, "NameError", 0, 0,
                     "%s came from a plugin that has been unloaded (`use` it again)", r->name);
        return NULL;
    }
    struct lbp_args a;
    if (lb_args_check(&a, r->t->params, r->name, args, nargs, kwargs, err) < 0)
        return NULL;
    (void)in;
    return lb_layer_value_new(in, r->t, &a, NULL, 0, err);
}

/* ---- registration (host table entries) -------------------------------------------------------- */

int lb_reg_fail(lbp_plugin *p, const char *fmt, ...)
{
    p->failed = true;
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Whether `name` is free for a new type or command; else writes the reason. */
int lb_reg_name_free(lbp_plugin *p, const char *what, const char *name)
{
    lb_registry *reg = p->reg;
    if (!is_ident(name) || lb_is_keyword(name))
        return lb_reg_fail(p, "cannot register %s '%s': the name must be an identifier", what,
                        name ? name : "(null)");
    type_rec *t = lb_registry_type_rec(reg, name);
    if (t) {
        if (t->p == p)
            return lb_reg_fail(p, "cannot register %s '%s': %s registers it twice", what, name, p->name);
        return lb_reg_fail(p, "cannot register %s '%s': a type named '%s' is already registered by "
                           "plugin %s (%s)",
                        what, name, name, t->p->name, t->p->path);
    }
    for (size_t i = 0; i < reg->nops; i++)
        if (strcmp(reg->ops[i].op->name, name) == 0)
            return lb_reg_fail(p, "cannot register %s '%s': an op named '%s' is already registered by "
                               "plugin %s",
                            what, name, name, reg->ops[i].p->name);
    if (lb_interp_builtin(reg->in, name))
        return lb_reg_fail(p, "cannot register %s '%s': it would hide the builtin function %s()", what,
                        name, name);
    const lb_command *c = lb_commands_find(lb_interp_commands(reg->in), name);
    if (c) {
        for (size_t i = 0; i < reg->ncmds; i++)
            if (&reg->cmds[i]->cmd == c && reg->cmds[i]->p)
                return lb_reg_fail(p, "cannot register %s '%s': a command named '%s' is already "
                                   "registered by plugin %s",
                                what, name, name, reg->cmds[i]->p->name);
        bool dead_plugin_cmd = false;
        for (size_t i = 0; i < reg->ncmds; i++)
            if (&reg->cmds[i]->cmd == c)
                dead_plugin_cmd = true;
        if (!dead_plugin_cmd)
            return lb_reg_fail(p, "cannot register %s '%s': it is a labbook command", what, name);
    }
    return 0;
}

char *lb_first_line(const char *s)
{
    if (!s)
        return strdup("");
    size_t n = strcspn(s, "\n");
    return strndup(s, n);
}

/* ---- the fields appended to lbp_type after ABI 1 ----------------------------------------------- */

_Static_assert(LBP_MAXINPUTS == LB_MODEL_MAXINPUTS, "the ABI's and the model's limits of inputs");

int lb_type_ninputs(const lbp_type *t)
{
    int n = 0;
    if (t && LBP_TYPE_HAS(t, inputs) && t->inputs)
        while (n < LBP_MAXINPUTS && t->inputs[n])
            n++;
    return n ? n : 1;
}

const char *lb_type_input_name(const lbp_type *t, int i)
{
    if (i < 0 || i >= lb_type_ninputs(t))
        return NULL;
    return t && LBP_TYPE_HAS(t, inputs) && t->inputs && t->inputs[0] ? t->inputs[i] : "x";
}

const char *lb_type_output_name(const lbp_type *t)
{
    return t && LBP_TYPE_HAS(t, output) && t->output ? t->output : "y";
}

lb_forward_inputs_fn lb_type_forward_inputs(const lbp_type *t)
{
    return t && LBP_TYPE_HAS(t, forward_inputs) ? t->forward_inputs : NULL;
}

int lb_type_default_inputs(const lbp_type *t, lbp_plugin *p, const lbp_args *a, int i, int64_t shape[LB_MAXDIM])
{
    if (!t || !LBP_TYPE_HAS(t, default_inputs) || !t->default_inputs || lb_plugin_disabled(p))
        return 0;
    volatile int nd = 0;
    int sig;
    LB_PLUGIN_CALL(sig, p, "model type", t->name, "default_inputs", nd = t->default_inputs(lb_plugin_host_table(), a, i, shape));
    return !sig && nd > 0 && nd <= LB_MAXDIM - 1 ? nd : 0;
}

/* The named inputs and output of a type being registered: identifiers, unique, at most
 * LBP_MAXINPUTS, and forward_inputs for several. */
static int check_type_inputs(lbp_plugin *p, const lbp_type *t)
{
    if (!LBP_TYPE_HAS(t, inputs) || !t->inputs)
        return 0;
    int n = 0;
    for (; n <= LBP_MAXINPUTS && t->inputs[n]; n++) {
        if (n == LBP_MAXINPUTS)
            return lb_reg_fail(p, "cannot register type '%s': it names more than %d inputs", t->name,
                            LBP_MAXINPUTS);
        if (!is_ident(t->inputs[n]))
            return lb_reg_fail(p, "cannot register type '%s': input name '%s' is not an identifier",
                            t->name, t->inputs[n]);
        for (int j = 0; j < n; j++)
            if (strcmp(t->inputs[j], t->inputs[n]) == 0)
                return lb_reg_fail(p, "cannot register type '%s': it names input '%s' twice", t->name,
                                t->inputs[n]);
    }
    if (n == 0)
        return lb_reg_fail(p, "cannot register type '%s': its inputs list is empty (NULL for one "
                           "input \"x\")", t->name);
    if (n > 1 && !lb_type_forward_inputs(t))
        return lb_reg_fail(p, "cannot register type '%s': it has %d inputs but no forward_inputs", t->name,
                        n);
    return 0;
}

int lb_host_register_type(lbp_plugin *p, const lbp_type *t)
{
    if (!p || !p->reg)
        return -1;
    if (!t)
        return lb_reg_fail(p, "register_type: no type given");
    if (t->size < LB_TYPE_SIZE_ABI1 || t->size > sizeof(lbp_type))
        return lb_reg_fail(p, "cannot register type '%s': its size field is %zu, labbook %s expects %zu "
                           "to %zu (set .size = sizeof(lbp_type))%s",
                        t->name ? t->name : "?", t->size, LB_VERSION, (size_t)LB_TYPE_SIZE_ABI1,
                        sizeof(lbp_type),
                        t->size > sizeof(lbp_type) ? "; the plugin was built for a newer labbook" : "");
    if (lb_reg_name_free(p, "type", t->name) < 0)
        return -1;
    if (check_type_inputs(p, t) < 0)
        return -1;
    if (LBP_TYPE_HAS(t, output) && t->output && !is_ident(t->output))
        return lb_reg_fail(p, "cannot register type '%s': output name '%s' is not an identifier",
                        t->name, t->output);
    if (!t->build)
        return lb_reg_fail(p, "cannot register type '%s': it has no build function", t->name);
    if (t->kind != LBP_KIND_LAYER && t->kind != LBP_KIND_MODEL)
        return lb_reg_fail(p, "cannot register type '%s': kind %d is neither LBP_KIND_LAYER nor "
                           "LBP_KIND_MODEL",
                        t->name, t->kind);
    char msg[400];
    if (lb_schema_validate(t->params, t->name, msg, sizeof msg) < 0)
        return lb_reg_fail(p, "cannot register type '%s': %s", t->name, msg);
    lb_registry *reg = p->reg;
    type_rec *r = calloc(1, sizeof *r);
    if (!r)
        return lb_reg_fail(p, "out of memory");
    r->t = t;
    r->p = p;
    r->name = strdup(t->name);
    r->signature = lb_schema_signature(t->name, t->params);
    r->summary = lb_first_line(t->summary);
    if (!r->name || !r->signature || !r->summary) {
        free(r->name);
        free(r->signature);
        free(r->summary);
        free(r);
        return lb_reg_fail(p, "out of memory");
    }
    if (reg->ntypes == reg->tcap) {
        size_t cap = reg->tcap ? reg->tcap * 2 : 32;
        type_rec **nt = realloc(reg->types, cap * sizeof *nt);
        if (!nt) {
            free(r->name);
            free(r->signature);
            free(r->summary);
            free(r);
            return lb_reg_fail(p, "out of memory");
        }
        reg->types = nt;
        reg->tcap = cap;
    }
    reg->types[reg->ntypes++] = r; /* owned by the registry even if what follows fails */
    lb_error err = {0};
    if (lb_interp_register_function(reg->in, r->name, r->signature, r->summary, type_call, r, &err) <
        0) {
        r->dead = true;
        lb_reg_fail(p, "cannot register type '%s': %s", t->name, err.evalue ? err.evalue : "?");
        lb_error_clear(&err);
        return -1;
    }
    return 0;
}

int lb_host_register_op(lbp_plugin *p, const lbp_op *op)
{
    if (!p || !p->reg)
        return -1;
    if (!op)
        return lb_reg_fail(p, "register_op: no op given");
    if (op->size != sizeof(lbp_op))
        return lb_reg_fail(p, "cannot register op '%s': its size field is %zu, labbook expects %zu",
                        op->name ? op->name : "?", op->size, sizeof(lbp_op));
    if (lb_reg_name_free(p, "op", op->name) < 0)
        return -1;
    if (!op->forward || op->nin < 1 || op->nin > 4)
        return lb_reg_fail(p, "cannot register op '%s': it needs a forward function and 1 to 4 inputs",
                        op->name);
    lb_registry *reg = p->reg;
    if (reg->nops == reg->ocap) {
        size_t cap = reg->ocap ? reg->ocap * 2 : 8;
        op_rec *no = realloc(reg->ops, cap * sizeof *no);
        if (!no)
            return lb_reg_fail(p, "out of memory");
        reg->ops = no;
        reg->ocap = cap;
    }
    reg->ops[reg->nops].op = op;
    reg->ops[reg->nops].p = p;
    reg->nops++;
    return 0;
}

/* ---- plugin commands ----------------------------------------------------------------------------- */

struct lbp_call {
    lb_cmd_call *call;
    cmd_rec *rec;
    struct lbp_args args;
    lb_value **vals; /* positional values, evaluated */
    size_t nvals;
    lb_error *err;
};

/* The command's run under a fault guard: its result, or -2 when it crashed. */
static int run_guarded(cmd_rec *r, lbp_call *c)
{
    volatile int rc = -1;
    int sig;
    LB_PLUGIN_CALL(sig, r->p, "command", r->name, "run", rc = r->pc->run(lb_plugin_host_table(), c));
    return sig ? -2 : rc;
}

static int plugin_cmd_handler(lb_cmd_call *call, lb_error *err)
{
    cmd_rec *r = call->cmd->data;
    if (!r->p)
        return lb_node_error(err, call->node, "NameError",
                             "command '%s' came from a plugin that has been unloaded", r->name);
    struct lbp_call c = {.call = call, .rec = r, .err = err};
    lb_value *kw = lb_map_new();
    if (!kw)
        return lb_oom(err);
    int rc = -1;
    for (size_t i = 0; i < call->nkwargs; i++) {
        lb_value *v = lb_call_eval(call, call->kwargs[i]->kids[0], err);
        if (!v || lb_map_set_take(kw, call->kwargs[i]->text, v) < 0)
            goto done;
    }
    if (lb_args_check(&c.args, r->pc->params, r->name, NULL, 0, kw, err) < 0) {
        lb_error_locate(err, call->node->line, call->node->col, call->node->span);
        goto done;
    }
    c.vals = calloc(call->nargs + 1, sizeof *c.vals);
    if (!c.vals) {
        lb_oom(err);
        goto done;
    }
    for (size_t i = 0; i < call->nargs; i++) {
        c.vals[i] = lb_call_arg(call, i, err);
        if (!c.vals[i])
            goto done;
        c.nvals++;
    }
    lbp_plugin *p = r->p;
    if (lb_plugin_disabled(p)) {
        lb_plugin_disabled_error(p, err);
        lb_error_locate(err, call->node->line, call->node->col, call->node->span);
        goto done;
    }
    lb_plugin_ref(p);
    rc = run_guarded(r, &c);
    lb_plugin_unref(p);
    if (rc == -2) {
        lb_error_clear(err);
        lb_fault_error(err);
        lb_error_locate(err, call->node->line, call->node->col, call->node->span);
        rc = -1;
    } else if (rc != 0) {
        rc = -1;
        if (!lb_error_is_set(err))
            lb_node_error(err, call->node, "PluginError", "%s failed (no reason given)", r->name);
        else
            lb_error_locate(err, call->node->line, call->node->col, call->node->span);
    }
done:
    for (size_t i = 0; i < c.nvals; i++)
        lb_decref(c.vals[i]);
    free(c.vals);
    lb_args_clear(&c.args);
    lb_decref(kw);
    return rc;
}

const lbp_args *lb_host_call_args(lbp_call *c) { return c ? &c->args : NULL; }
size_t lb_host_call_nargs(lbp_call *c) { return c ? c->nvals : 0; }

int lb_host_call_num(lbp_call *c, size_t i, double *out)
{
    if (!c || i >= c->nvals || c->vals[i]->kind != LB_NUM) {
        if (c)
            lb_error_set(c->err, "TypeError", 0, 0, "%s: argument %zu must be a number", c->rec->name,
                         i + 1);
        return -1;
    }
    *out = c->vals[i]->u.num;
    return 0;
}

const char *lb_host_call_str(lbp_call *c, size_t i)
{
    if (!c || i >= c->nvals || c->vals[i]->kind != LB_STR) {
        if (c)
            lb_error_set(c->err, "TypeError", 0, 0, "%s: argument %zu must be a string", c->rec->name,
                         i + 1);
        return NULL;
    }
    return c->vals[i]->u.str.s;
}

void lb_host_call_print(lbp_call *c, const char *fmt, ...)
{
    if (!c)
        return;
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0)
        lb_emit_stream(c->call->in, LB_STDOUT, s, (size_t)n);
    free(s);
}

int lb_host_call_fail(lbp_call *c, const char *fmt, ...)
{
    if (!c)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lb_error_set(c->err, "PluginError", 0, 0, "%s: %s", c->rec->name, msg);
    return -1;
}

int64_t lb_host_call_model_params(lbp_call *c, size_t i)
{
    lb_model *m = c && i < c->nvals ? lb_model_from_value(c->vals[i]) : NULL;
    if (!m) {
        if (c)
            lb_error_set(c->err, "TypeError", 0, 0, "%s: argument %zu must be a model", c->rec->name,
                         i + 1);
        return -1;
    }
    return lb_params_numel(lb_model_params(m), 1);
}

static lb_param_type cmd_param_type(lbp_ptype t)
{
    switch (t) {
    case LBP_T_INT: return LB_PARAM_INT;
    case LBP_T_NUM: return LB_PARAM_NUMBER;
    case LBP_T_BOOL: return LB_PARAM_BOOL;
    case LBP_T_STR: return LB_PARAM_STRING;
    default: return LB_PARAM_ANY;
    }
}

int lb_host_register_command(lbp_plugin *p, const lbp_command *pc)
{
    if (!p || !p->reg)
        return -1;
    if (!pc)
        return lb_reg_fail(p, "register_command: no command given");
    if (pc->size != sizeof(lbp_command))
        return lb_reg_fail(p, "cannot register command '%s': its size field is %zu, labbook expects %zu",
                        pc->name ? pc->name : "?", pc->size, sizeof(lbp_command));
    if (lb_reg_name_free(p, "command", pc->name) < 0)
        return -1;
    if (!pc->run)
        return lb_reg_fail(p, "cannot register command '%s': it has no run function", pc->name);
    char msg[400];
    if (lb_schema_validate(pc->params, pc->name, msg, sizeof msg) < 0)
        return lb_reg_fail(p, "cannot register command '%s': %s", pc->name, msg);
    lb_registry *reg = p->reg;
    /* a command of a plugin unloaded earlier is taken over (the command table cannot drop it) */
    for (size_t i = 0; i < reg->ncmds; i++) {
        cmd_rec *r = reg->cmds[i];
        if (!r->p && strcmp(r->name, pc->name) == 0) {
            r->p = p;
            r->pc = pc;
            return 0;
        }
    }
    cmd_rec *r = calloc(1, sizeof *r);
    size_t np = 0;
    while (pc->params && pc->params[np].name)
        np++;
    if (r)
        r->params = calloc(np + 1, sizeof *r->params);
    if (r)
        r->name = strdup(pc->name);
    if (!r || !r->params || !r->name) {
        if (r) {
            free(r->params);
            free(r->name);
        }
        free(r);
        return lb_reg_fail(p, "out of memory");
    }
    for (size_t i = 0; i < np; i++) {
        r->params[i].name = pc->params[i].name;
        r->params[i].type = cmd_param_type(pc->params[i].type);
        r->params[i].def = pc->params[i].def;
        r->params[i].doc = pc->params[i].doc;
    }
    r->p = p;
    r->pc = pc;
    r->cmd.name = r->name;
    r->cmd.synopsis = pc->synopsis;
    r->cmd.doc = pc->doc;
    r->cmd.example = pc->example;
    r->cmd.params = r->params;
    r->cmd.min_args = pc->min_args;
    r->cmd.max_args = pc->max_args;
    r->cmd.hint = LB_ARGS_VALUES;
    r->cmd.flags = LB_CMD_OPEN_KEYWORDS; /* checked by lb_args_check (ranges, choices) */
    r->cmd.handler = plugin_cmd_handler;
    r->cmd.data = r;
    if (reg->ncmds == reg->ccap) {
        size_t cap = reg->ccap ? reg->ccap * 2 : 8;
        cmd_rec **nc = realloc(reg->cmds, cap * sizeof *nc);
        if (!nc) {
            free(r->params);
            free(r->name);
            free(r);
            return lb_reg_fail(p, "out of memory");
        }
        reg->cmds = nc;
        reg->ccap = cap;
    }
    lb_error err = {0};
    if (lb_interp_register_command(reg->in, &r->cmd, &err) < 0) {
        lb_reg_fail(p, "cannot register command '%s': %s", pc->name, err.evalue ? err.evalue : "?");
        lb_error_clear(&err);
        free(r->params);
        free(r->name);
        free(r);
        return -1;
    }
    reg->cmds[reg->ncmds++] = r;
    return 0;
}

/* ---- finding and loading -------------------------------------------------------------------------- */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Whether the program runs from a build tree (build/labbook, build/asan/labbook): the tree
 * this binary was built in (LB_BUILD_PLUGIN_DIR's parent) holds it, or it sits next to a
 * plugins/ folder outside a bin/ directory. */
static bool from_build(const char *exe_dir)
{
    char top[PATH_MAX];
    snprintf(top, sizeof top, "%s", LB_BUILD_PLUGIN_DIR);
    char *slash = strrchr(top, '/');
    if (slash && slash != top) {
        *slash = '\0';
        size_t n = strlen(top);
        if (strncmp(exe_dir, top, n) == 0 && (exe_dir[n] == '\0' || exe_dir[n] == '/'))
            return true;
    }
    const char *base = strrchr(exe_dir, '/');
    char plugins[PATH_MAX + 16];
    snprintf(plugins, sizeof plugins, "%s/plugins", exe_dir);
    struct stat st;
    return (!base || strcmp(base + 1, "bin") != 0) && stat(plugins, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directories searched for NAME.so, in order (each malloc'd): LABBOOK_PLUGIN_PATH; then,
 * when the program runs from a build tree, that tree's plugins (so that a build never runs the
 * stale plugins of an earlier `make install`); then the install directories; then the build
 * tree's for an installed program. */
static size_t search_dirs(char **dirs, size_t max)
{
    size_t n = 0;
    const char *env = getenv("LABBOOK_PLUGIN_PATH");
    if (env) {
        const char *p = env;
        while (*p && n < max) {
            size_t len = strcspn(p, ":");
            if (len)
                dirs[n++] = strndup(p, len);
            p += len;
            if (*p == ':')
                p++;
        }
    }
    char exe[PATH_MAX] = "";
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = len > 0 ? (exe[len] = '\0', strrchr(exe, '/')) : NULL;
    if (slash)
        *slash = '\0';
    bool build = slash && from_build(exe);
    for (int pass = 0; pass < 2; pass++) {
        bool builds = (pass == 0) == build; /* the build tree's directories in this pass */
        char *d = NULL;
        if (builds) {
            /* the build tree: B/labbook next to B/plugins, and the tree it was built in */
            if (slash && n < max && asprintf(&d, "%s/plugins", exe) >= 0)
                dirs[n++] = d;
            if (LB_BUILD_PLUGIN_DIR[0] && n < max)
                dirs[n++] = strdup(LB_BUILD_PLUGIN_DIR);
        } else {
            if (n < max)
                dirs[n++] = strdup(LB_PREFIX "/lib/labbook/plugins");
            /* an installed binary PREFIX/bin/labbook: PREFIX/lib/labbook/plugins */
            if (slash && n < max && asprintf(&d, "%s/../lib/labbook/plugins", exe) >= 0)
                dirs[n++] = d;
        }
    }
    return n;
}

char *lb_plugin_find(const char *name, lb_error *err)
{
    char *dirs[32];
    size_t n = search_dirs(dirs, 32);
    char *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        char *cand = NULL;
        if (dirs[i] && asprintf(&cand, "%s/%s.so", dirs[i], name) >= 0) {
            if (is_file(cand))
                found = cand;
            else
                free(cand);
        }
    }
    if (!found) {
        char list[2048] = "";
        for (size_t i = 0; i < n; i++) {
            if (!dirs[i])
                continue;
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", dirs[i]);
        }
        lb_error_set(err, "PluginError", 0, 0,
                     "no plugin named '%s' (looked for %s.so in LABBOOK_PLUGIN_PATH, the install "
                     "directory and the build tree: %s)",
                     name, name, list);
    } else {
        char *real = realpath(found, NULL);
        if (real) {
            free(found);
            found = real;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    return found;
}

static int sha256_file(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    lb_sha256 *h = lb_sha256_begin();
    unsigned char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        lb_sha256_add(h, buf, k);
    bool ok = !ferror(f) && lb_sha256_end(h, NULL, out);
    fclose(f);
    return ok ? 0 : -1;
}

/* Compares the plugin's magic block with the host's, field by field. */
static int check_magic(const lbp_magic *m, const char *file, lb_error *err)
{
    static const lbp_magic host = LBP_MAGIC_INIT("labbook", LB_VERSION, "");
    if (m->magic != host.magic)
        return lb_error_set(err, "PluginError", 0, 0,
                            "cannot load %s: ABI magic block mismatch: field 'magic' is 0x%08x in "
                            "the plugin, 0x%08x in labbook (not a labbook plugin)",
                            file, m->magic, host.magic);
    struct {
        const char *field;
        size_t off;
    } fields[] = {
        {"size", offsetof(lbp_magic, size)},
        {"abi_version", offsetof(lbp_magic, abi_version)},
        {"maxdim", offsetof(lbp_magic, maxdim)},
        {"sizeof_pointer", offsetof(lbp_magic, sizeof_pointer)},
        {"sizeof_size_t", offsetof(lbp_magic, sizeof_size_t)},
        {"sizeof_param", offsetof(lbp_magic, sizeof_param)},
        {"sizeof_type", offsetof(lbp_magic, sizeof_type)},
        {"sizeof_op", offsetof(lbp_magic, sizeof_op)},
        {"sizeof_command", offsetof(lbp_magic, sizeof_command)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint32_t a, b;
        memcpy(&a, (const char *)m + fields[i].off, sizeof a);
        memcpy(&b, (const char *)&host + fields[i].off, sizeof b);
        /* lbp_type grows at the end: a plugin built against an older header of this ABI (a
         * smaller lbp_type, down to ABI 1's) loads; one built for a newer labbook does not */
        bool type_ok = fields[i].off == offsetof(lbp_magic, sizeof_type) && a >= LB_TYPE_SIZE_ABI1 &&
                       a <= b;
        if (a != b && !type_ok)
            return lb_error_set(err, "PluginError", 0, 0,
                                "cannot load %s: ABI magic block mismatch: field '%s' is %u in the "
                                "plugin, %u in labbook %s (%s)",
                                file, fields[i].field, a, b, LB_VERSION,
                                fields[i].off == offsetof(lbp_magic, sizeof_type) && a > b
                                    ? "the plugin was built for a newer labbook; rebuild it against "
                                      "this labbook's labbook_plugin.h"
                                    : "rebuild the plugin against this labbook's labbook_plugin.h");
    }
    if (!m->name || !is_ident(m->name))
        return lb_error_set(err, "PluginError", 0, 0,
                            "cannot load %s: the magic block's name must be an identifier (got %s%s%s)",
                            file, m->name ? "'" : "", m->name ? m->name : "none", m->name ? "'" : "");
    return 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Removes everything p registered (types, ops; commands are detached). */
static void drop_items(lb_registry *reg, lbp_plugin *p)
{
    for (size_t i = 0; i < reg->ntypes; i++) {
        type_rec *r = reg->types[i];
        if (r->p == p) {
            r->dead = true;
            r->p = NULL; /* the record outlives the plugin (function values point at it) */
            lb_value *f = lb_interp_builtin(reg->in, r->name);
            if (f && f->kind == LB_FUNC && f->u.func.data == r)
                lb_map_del(lb_interp_builtins(reg->in), r->name);
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < reg->nops; i++)
        if (reg->ops[i].p != p)
            reg->ops[k++] = reg->ops[i];
    reg->nops = k;
    for (size_t i = 0; i < reg->ncmds; i++)
        if (reg->cmds[i]->p == p) {
            reg->cmds[i]->p = NULL;
            reg->cmds[i]->pc = NULL;
        }
    lb_plugin_items_drop(reg, p);
}

static void announce(lb_interp *in, lbp_plugin *p)
{
    lb_registry *reg = p->reg;
    char line[1024];
    size_t used = (size_t)snprintf(line, sizeof line, "loaded %s %s", p->name, p->version);
    int nt = 0;
    for (size_t i = 0; i < reg->ntypes && used < sizeof line; i++)
        if (reg->types[i]->p == p && !reg->types[i]->dead)
            used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", nt++ ? ", " : ": ",
                                     reg->types[i]->name);
    for (size_t i = 0; i < reg->ncmds && used < sizeof line; i++)
        if (reg->cmds[i]->p == p)
            used += (size_t)snprintf(line + used, sizeof line - used, "%scommand %s",
                                     nt++ ? ", " : ": ", reg->cmds[i]->name);
    lb_plugin_items_announce(reg, p, line, sizeof line, &used, &nt);
    if (used < sizeof line - 1)
        snprintf(line + used, sizeof line - used, "\n");
    else
        line[sizeof line - 2] = '\n';
    lb_emit_stream(in, LB_STDOUT, line, strlen(line));
}

/* ---- the scan: a crashing plugin must not take the kernel down -------------------------------
 * Before a plugin is opened in the kernel, a forked child (silent: no output reaches the front
 * end) opens it and runs its init; the child writes one byte to a pipe when that is over,
 * whatever the outcome. If the pipe closes without the byte, the plugin crashed (a signal, or
 * a sanitizer's exit) and it is not loaded. Clean failures are left to the real load, which
 * reports them. LABBOOK_PLUGIN_SCAN=0 turns the scan off. */

static bool in_scan_child;
/* The library at real (file: its name for messages) opened, with its ABI magic block checked
 * and its init function; NULL (closed again) when it is no plugin of this ABI, or when a
 * plugin of its name is already loaded or being loaded (a cycle of require), or when
 * requires nest too deep. */
static void *open_plugin(lb_registry *reg, const char *real, const char *file,
                         const lbp_magic **mp, lbp_init_fn *initp, lb_error *err)
{
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        lb_error_set(err, "PluginError", 0, 0, "cannot load %s: %s", file, e ? e : "dlopen failed");
        return NULL;
    }
    const lbp_magic *m = dlsym(h, LBP_MAGIC_SYMBOL);
    if (!m) {
        lb_error_set(err, "PluginError", 0, 0,
                     "cannot load %s: it has no ABI magic block (the symbol %s; a plugin declares "
                     "it with LBP_MODULE_MAGIC(name, version, description))",
                     file, LBP_MAGIC_SYMBOL);
        goto fail;
    }
    if (check_magic(m, file, err) < 0)
        goto fail;
    lbp_init_fn init;
    *(void **)&init = dlsym(h, LBP_INIT_SYMBOL);
    if (!init) {
        lb_error_set(err, "PluginError", 0, 0,
                     "cannot load %s (plugin %s): it exports no init function %s (expected "
                     "`int %s(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)`)",
                     file, m->name, LBP_INIT_SYMBOL, LBP_INIT_SYMBOL);
        goto fail;
    }
    lbp_plugin *old = find_plugin(reg, m->name);
    if (old) {
        lb_error_set(err, "PluginError", 0, 0,
                     "cannot load %s: a plugin named '%s' is already loaded from %s", file, m->name,
                     old->path);
        goto fail;
    }
    for (int i = 0; i < reg->nloading; i++)
        if (strcmp(reg->loading[i], m->name) == 0) {
            lb_error_set(err, "PluginError", 0, 0, "cannot load %s: plugin '%s' requires itself "
                                                   "(a cycle of require)", file, m->name);
            goto fail;
        }
    if (reg->nloading >= 16) {
        lb_error_set(err, "PluginError", 0, 0, "cannot load %s: plugins require each other too deeply",
                     file);
        goto fail;
    }
    *mp = m;
    *initp = init;
    return h;
fail:
    dlclose(h);
    return NULL;
}

/* The plugin record of the opened library h (magic block m) loaded from real, which it takes
 * (as it takes h: both are released when it cannot be made); its init reports errors into
 * errbuf. */
static lbp_plugin *new_plugin(lb_registry *reg, const lbp_magic *m, void *h, char *real,
                              char *errbuf, size_t errlen, lb_error *err)
{
    lbp_plugin *p = calloc(1, sizeof *p);
    if (p) {
        p->refs = 1;
        p->name = strdup(m->name);
        p->version = strdup(m->version ? m->version : "?");
        p->description = strdup(m->description ? m->description : "");
        p->path = real;
        real = NULL;
        p->handle = h;
        p->reg = reg;
        p->err = errbuf;
        p->errlen = errlen;
    }
    if (!p || !p->name || !p->version || !p->description) {
        if (p) {
            p->handle = NULL;
            lb_plugin_unref(p);
        }
        free(real);
        dlclose(h);
        lb_oom(err);
        return NULL;
    }
    if (sha256_file(p->path, p->sha256) < 0)
        snprintf(p->sha256, sizeof p->sha256, "?");
    return p;
}

static int load_file(lb_interp *in, const char *path, bool *loaded, lb_error *err);

static int scan_in_child(lb_interp *in, const char *real, lb_error *err)
{
    const char *env = getenv("LABBOOK_PLUGIN_SCAN");
    if (in_scan_child || (env && strcmp(env, "0") == 0))
        return 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return 0; /* no scan possible: load directly */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid == 0) {
        close(fds[0]);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* a crash here leaves no core file behind */
        /* a crash is the plugin's, reported by the parent: no sanitizer report from here */
        const int crash[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
        for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
            signal(crash[i], SIG_DFL);
        lb_fault_disable(); /* a crash here must end this process: the parent reports it */
        in_scan_child = true;
        lb_interp_set_output(in, NULL);
        lb_error e = {0};
        load_file(in, real, NULL, &e);
        char done = 'k';
        ssize_t w = write(fds[1], &done, 1);
        (void)w;
        _exit(0);
    }
    close(fds[1]);
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int timeout_ms = 60000, rc;
    do
        rc = poll(&pfd, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    char done = 0;
    bool ok = rc > 0 && read(fds[0], &done, 1) == 1 && done == 'k';
    bool timed_out = rc == 0;
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    if (ok)
        return 0;
    const char *file = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    char how[128];
    if (timed_out)
        snprintf(how, sizeof how, "did not finish loading within %d s", timeout_ms / 1000);
    else if (w == pid && WIFSIGNALED(status))
        snprintf(how, sizeof how, "crashed while loading (%s)", strsignal(WTERMSIG(status)));
    else if (w == pid && WIFEXITED(status))
        snprintf(how, sizeof how, "crashed while loading (the process exited with status %d)",
                 WEXITSTATUS(status));
    else
        snprintf(how, sizeof how, "crashed while loading");
    return lb_error_set(err, "PluginError", 0, 0,
                        "cannot load %s: it %s in a scan process, so it was not loaded into the "
                        "kernel (your variables are intact)",
                        file, how);
}

/* `use` of a plugin that is loaded but disabled by a crash enables it again (the same library:
 * what it keeps in its own static data is as the crash left it). */
static void enable_again(lb_interp *in, lbp_plugin *p)
{
    if (!p->crashed)
        return;
    char *line = NULL;
    if (asprintf(&line, "plugin %s enabled again (disabled after: %s)\n", p->name, p->crashed) >= 0)
        lb_emit_stream(in, LB_STDOUT, line, strlen(line));
    free(line);
    free(p->crashed);
    p->crashed = NULL;
}

int lb_plugin_load_file(lb_interp *in, const char *path, bool *loaded, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    if (loaded)
        *loaded = false;
    if (!reg)
        return lb_error_set(err, "PluginError", 0, 0, "plugins are not available");
    char *real = realpath(path, NULL);
    if (!real)
        return lb_error_set(err, "PluginError", 0, 0, "cannot load plugin %s: %s", path,
                            strerror(errno));
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->plugins[i]->path, real) == 0) {
            free(real);
            enable_again(in, reg->plugins[i]);
            return 0; /* already loaded */
        }
    int rc = reg->nloading == 0 ? scan_in_child(in, real, err) : 0;
    if (rc == 0)
        rc = load_file(in, real, loaded, err);
    free(real);
    return rc;
}

/* The plugin's init under a fault guard: a crash (after the scan in a child passed) is a
 * failure with the signal as the reason. */
static int init_guarded(lbp_plugin *p, lbp_init_fn init, char *errbuf, size_t n)
{
    volatile int rc = -1;
    int sig;
    LB_PLUGIN_CALL(sig, p, "plugin", p->name, "lbp_init", rc = init(lb_plugin_host_table(), p, errbuf, n));
    if (!sig)
        return rc;
    lb_fault_take(NULL, 0);
    snprintf(errbuf, n, "its lbp_init crashed with %s", lb_fault_signal_name(sig));
    return -1;
}

static int load_file(lb_interp *in, const char *path, bool *loaded, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    if (!reg)
        return lb_error_set(err, "PluginError", 0, 0, "plugins are not available");
    if (loaded)
        *loaded = false;
    char *real = realpath(path, NULL);
    if (!real)
        return lb_error_set(err, "PluginError", 0, 0, "cannot load plugin %s: %s", path,
                            strerror(errno));
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->plugins[i]->path, real) == 0) {
            free(real);
            return 0; /* already loaded */
        }
    const char *file = base_name(real);
    const lbp_magic *m;
    lbp_init_fn init;
    void *h = open_plugin(reg, real, file, &m, &init, err);
    if (!h) {
        free(real);
        return -1;
    }
    char errbuf[512] = "";
    lbp_plugin *p = new_plugin(reg, m, h, real, errbuf, sizeof errbuf, err);
    if (!p)
        return -1;
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 8;
        lbp_plugin **np = realloc(reg->plugins, cap * sizeof *np);
        if (!np) {
            lb_plugin_unref(p);
            return lb_oom(err);
        }
        reg->plugins = np;
        reg->cap = cap;
    }
    reg->loading[reg->nloading++] = p->name;
    int rc = init_guarded(p, init, errbuf, sizeof errbuf);
    reg->nloading--;
    if (rc != 0 || p->failed) {
        errbuf[sizeof errbuf - 1] = '\0';
        if (rc == 0)
            lb_error_set(err, "PluginError", 0, 0,
                         "plugin %s (%s) failed to initialise: %s (its init ignored the error)",
                         p->name, file, errbuf[0] ? errbuf : "a registration failed");
        else
            lb_error_set(err, "PluginError", 0, 0, "plugin %s (%s) failed to initialise: %s", p->name,
                         file, errbuf[0] ? errbuf : "its init returned an error without a reason");
        drop_items(reg, p);
        p->reg = NULL;
        p->err = NULL;
        lb_plugin_unref(p); /* closes the library */
        return -1;
    }
    p->err = NULL;
    p->errlen = 0;
    reg->plugins[reg->n++] = p;
    if (loaded)
        *loaded = true;
    announce(in, p);
    return 0;
}

int lb_plugin_use(lb_interp *in, const char *name, bool *loaded, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    if (loaded)
        *loaded = false;
    lbp_plugin *had = find_plugin(reg, name);
    if (had) {
        enable_again(in, had);
        return 0;
    }
    for (int i = 0; reg && i < reg->nloading; i++)
        if (strcmp(reg->loading[i], name) == 0)
            return lb_error_set(err, "PluginError", 0, 0,
                                "plugin '%s' requires itself (a cycle of require)", name);
    char *path = lb_plugin_find(name, err);
    if (!path)
        return -1;
    int rc = lb_plugin_load_file(in, path, loaded, err);
    free(path);
    return rc;
}

int lb_host_require(lbp_plugin *p, const char *name)
{
    if (!p || !p->reg)
        return -1;
    lb_error err = {0};
    if (!name || lb_plugin_use(p->reg->in, name, NULL, &err) < 0) {
        lb_reg_fail(p, "requires plugin '%s', which cannot be loaded: %s", name ? name : "(null)",
                 err.evalue ? err.evalue : "no name given");
        lb_error_clear(&err);
        return -1;
    }
    return 0;
}

int lb_plugin_unload(lb_interp *in, const char *name, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    for (size_t i = 0; reg && i < reg->n; i++) {
        lbp_plugin *p = reg->plugins[i];
        if (strcmp(p->name, name) != 0)
            continue;
        drop_items(reg, p);
        memmove(reg->plugins + i, reg->plugins + i + 1, (reg->n - i - 1) * sizeof *reg->plugins);
        reg->n--;
        p->reg = NULL;
        lb_plugin_unref(p);
        return 0;
    }
    return lb_error_set(err, "PluginError", 0, 0, "no plugin named '%s' is loaded", name);
}

int lb_plugin_replace(lb_interp *in, const char *name, const char *path, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    lbp_plugin *old = find_plugin(reg, name);
    char *old_path = old ? strdup(old->path) : NULL;
    if (old && !old_path)
        return lb_oom(err);
    if (old)
        lb_plugin_unload(in, name, NULL);
    if (lb_plugin_load_file(in, path, NULL, err) < 0) {
        if (old_path)
            lb_plugin_load_file(in, old_path, NULL, NULL);
        free(old_path);
        return -1;
    }
    free(old_path);
    return 0;
}

void lb_registry_free(lb_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++) {
        reg->plugins[i]->reg = NULL;
        lb_plugin_unref(reg->plugins[i]);
    }
    free(reg->plugins);
    for (size_t i = 0; i < reg->ntypes; i++) {
        free(reg->types[i]->name);
        free(reg->types[i]->signature);
        free(reg->types[i]->summary);
        free(reg->types[i]);
    }
    free(reg->types);
    free(reg->ops);
    for (size_t i = 0; i < reg->ncmds; i++) {
        free(reg->cmds[i]->params);
        free(reg->cmds[i]->name);
        free(reg->cmds[i]);
    }
    free(reg->cmds);
    lb_plugin_items_free(reg);
    lb_plugin_cell_cleanup(reg);
    free(reg);
}

/* ---- help, inspection, completion -------------------------------------------------------------- */

static bool plugins_doc(lb_interp *in, const char *name, char **plain, char **markdown)
{
    type_rec *r = lb_registry_type_rec(lb_interp_registry(in), name);
    if (!r)
        return false;
    const lbp_type *t = r->t;
    const char *kind = t->kind == LBP_KIND_MODEL ? "model type" : "layer type";
    char *pp = lb_schema_doc_plain(t->params), *pm = lb_schema_doc_markdown(t->params);
    char *ex_plain = NULL;
    if (t->example) {
        /* indent every example line by two spaces */
        size_t n = strlen(t->example), lines = 1;
        for (size_t i = 0; i < n; i++)
            lines += t->example[i] == '\n';
        ex_plain = malloc(n + 2 * lines + 1);
        if (ex_plain) {
            char *o = ex_plain;
            *o++ = ' ', *o++ = ' ';
            for (size_t i = 0; i < n; i++) {
                *o++ = t->example[i];
                if (t->example[i] == '\n' && i + 1 < n)
                    *o++ = ' ', *o++ = ' ';
            }
            *o = '\0';
        }
    }
    if (asprintf(plain, "%s\n\n%s from plugin %s %s (%s)\n%s\n%s%s%s\nparameters:\n%s%s%s%s", r->signature,
                 kind, r->p->name, r->p->version, r->p->path, t->summary ? t->summary : "",
                 t->doc ? "\n" : "", t->doc ? t->doc : "", t->doc ? "\n" : "", pp ? pp : "",
                 ex_plain ? "\nexample:\n" : "", ex_plain ? ex_plain : "", ex_plain ? "\n" : "") < 0)
        *plain = NULL;
    if (asprintf(markdown, "`%s`\n\n*%s from plugin %s %s*\n\n%s\n\n%s%s%s%s%s%s", r->signature,
                 kind, r->p->name, r->p->version, t->summary ? t->summary : "", t->doc ? t->doc : "",
                 t->doc ? "\n\n" : "", pm ? pm : "", t->example ? "\n```\n" : "",
                 t->example ? t->example : "", t->example ? "\n```\n" : "") < 0)
        *markdown = NULL;
    free(pp);
    free(pm);
    free(ex_plain);
    return *plain != NULL;
}

static json_t *call_params(lb_interp *in, const char *fname)
{
    type_rec *r = lb_registry_type_rec(lb_interp_registry(in), fname);
    if (!r)
        return NULL;
    json_t *names = json_array();
    for (const lbp_param *p = r->t->params; names && p && p->name; p++)
        json_array_append_new(names, json_string(p->name));
    return names;
}

static json_t *complete_arg(lb_interp *in, const char *command)
{
    (void)in;
    if (!command || strcmp(command, "use") != 0)
        return NULL;
    json_t *names = json_array();
    char *dirs[32];
    size_t n = search_dirs(dirs, 32);
    for (size_t i = 0; i < n && names; i++) {
        DIR *d = dirs[i] ? opendir(dirs[i]) : NULL;
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len > 3 && strcmp(e->d_name + len - 3, ".so") == 0) {
                char *nm = strndup(e->d_name, len - 3);
                if (nm && is_ident(nm))
                    json_array_append_new(names, json_string(nm));
                free(nm);
            }
        }
        if (d)
            closedir(d);
        free(dirs[i]);
    }
    return names;
}

/* ---- commands: use, plugins --------------------------------------------------------------------- */

static int cmd_use(lb_cmd_call *call, lb_error *err)
{
    for (size_t i = 0; i < call->nargs; i++) {
        const lb_node *a = call->args[i];
        int rc;
        if (a->kind == LB_N_NAME) {
            rc = lb_plugin_use(call->in, a->text, NULL, err);
        } else if (a->kind == LB_N_STR) {
            bool path = strchr(a->text, '/') || (strlen(a->text) > 3 &&
                                                 strcmp(a->text + strlen(a->text) - 3, ".so") == 0);
            rc = path ? lb_plugin_load_file(call->in, a->text, NULL, err)
                      : lb_plugin_use(call->in, a->text, NULL, err);
        } else {
            return lb_node_error(err, a, "TypeError",
                                 "use takes plugin names or paths, as in `use cnn` or "
                                 "`use \"./myplugin.so\"`");
        }
        if (rc < 0) {
            lb_error_locate(err, a->line, a->col, a->span);
            return -1;
        }
    }
    return 0;
}

json_t *lb_plugins_json(lb_interp *in, const lb_model *m)
{
    lb_registry *reg = lb_interp_registry(in);
    json_t *used = m ? lb_model_plugins(m) : NULL;
    json_t *out = json_array();
    for (size_t i = 0; out && reg && i < reg->n; i++) {
        lbp_plugin *p = reg->plugins[i];
        bool u = false;
        for (size_t k = 0; k < json_array_size(used) && !u; k++)
            u = strcmp(json_string_value(json_object_get(json_array_get(used, k), "name")), p->name) == 0;
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", p->name, "version",
                                             p->version ? p->version : "", "sha256", p->sha256,
                                             "file", p->path ? p->path : "", "used", u));
    }
    json_decref(used);
    return out;
}

static int cmd_plugins(lb_cmd_call *call, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(call->in);
    if (!reg || reg->n == 0) {
        const char *msg = "no plugins loaded (load one with `use NAME`, e.g. `use cnn`)\n";
        lb_emit_stream(call->in, LB_STDOUT, msg, strlen(msg));
        return 0;
    }
    lb_table *t = lb_table_new();
    if (!t)
        return lb_oom(err);
    const char *hdr[] = {"name", "version", "types", "file", "sha256"};
    for (size_t i = 0; i < 5; i++)
        lb_table_set_header(t, i, hdr[i]);
    for (size_t i = 0; i < reg->n; i++) {
        lbp_plugin *p = reg->plugins[i];
        long row = lb_table_add_row(t);
        if (row < 0)
            break;
        char types[2048] = "";
        for (size_t k = 0; k < reg->ntypes; k++) {
            type_rec *r = reg->types[k];
            if (r->p != p || r->dead)
                continue;
            size_t used = strlen(types);
            snprintf(types + used, sizeof types - used, "%s%s", used ? ", " : "", r->name);
        }
        for (size_t k = 0; k < reg->nops; k++)
            if (reg->ops[k].p == p) {
                size_t used = strlen(types);
                snprintf(types + used, sizeof types - used, "%sop %s", used ? ", " : "",
                         reg->ops[k].op->name);
            }
        for (size_t k = 0; k < reg->ncmds; k++)
            if (reg->cmds[k]->p == p) {
                size_t used = strlen(types);
                snprintf(types + used, sizeof types - used, "%scommand %s", used ? ", " : "",
                         reg->cmds[k]->name);
            }
        lb_table_set(t, (size_t)row, 0, p->name, false);
        lb_table_set(t, (size_t)row, 1, p->version, false);
        lb_table_set(t, (size_t)row, 2, types, false);
        lb_table_set(t, (size_t)row, 3, p->path, false);
        lb_table_set(t, (size_t)row, 4, p->sha256, false);
    }
    return lb_emit_table(call->in, t, err);
}

static const lb_command plugin_commands[] = {
    {.name = "use", .synopsis = "use NAME... | use \"path/to/plugin.so\"",
     .doc = "Loads plugins: their layer types, model types and commands become available.\n"
            "A NAME is looked up as NAME.so in the directories of LABBOOK_PLUGIN_PATH (separated\n"
            "by ':'), then in labbook's install directory (PREFIX/lib/labbook/plugins), then in\n"
            "the build tree. A quoted path loads that file. Loading a plugin that is already\n"
            "loaded does nothing. `plugins` lists what is loaded.",
     .example = "use cnn\nuse layers mlp\nuse \"./build/plugins/layers.so\"",
     .min_args = 1, .max_args = -1, .hint = LB_ARGS_NONE, .handler = cmd_use},
    {.name = "plugins", .synopsis = "plugins",
     .doc = "Shows a table of the loaded plugins: name, version, the types, ops and commands\n"
            "each registered, the file it was loaded from and the file's SHA-256.",
     .example = "use cnn\nplugins",
     .min_args = 0, .max_args = 0, .hint = LB_ARGS_NONE, .handler = cmd_plugins},
};

static void registry_free(void *reg) { lb_registry_free(reg); }

static int plugins_init(lb_interp *in, lb_error *err)
{
    lb_registry *reg = registry_new(in);
    if (!reg || lb_interp_set_state(in, REGISTRY_KEY, reg, registry_free) < 0) {
        free(reg);
        return lb_oom(err);
    }
    char abi[16];
    snprintf(abi, sizeof abi, "%d", LBP_ABI_VERSION);
    if (lb_interp_add_version(in, "labbook plugin ABI", abi) < 0)
        return lb_oom(err);
    if (lb_interp_register_commands(in, plugin_commands,
                                    sizeof plugin_commands / sizeof plugin_commands[0], err) < 0)
        return -1;
    return lb_register_model_commands(in, err);
}

const lb_module lb_plugins_module = {
    .name = "plugins",
    .init = plugins_init,
    .doc = plugins_doc,
    .complete_arg = complete_arg,
    .call_params = call_params,
    .cell_magic = "%%plugin",
    .run_cell = lb_plugin_cell_execute,
};
