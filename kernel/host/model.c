/* model.c — layer values (`conv2d(1, 16, 3)`, `sequential(...)`), models built from them
 * (layers with their parameters in one parameter block, output shapes found by a dry run on
 * a zero batch), the model forward used by training, and the commands `model` and `params`. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/memory.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/parser.h"
#include "host/plugin_impl.h"
#include "render/table.h"


/* ---- layer values ------------------------------------------------------------------------------ */

static void layer_spec_free(void *data)
{
    layer_spec *s = data;
    if (!s)
        return;
    lb_args_clear(&s->args);
    for (size_t i = 0; i < s->nkids; i++)
        lb_decref(s->kids[i]);
    free(s->kids);
    free(s->text);
    lb_plugin_unref(s->plugin);
    free(s);
}

static char *layer_spec_repr(const lb_value *self)
{
    layer_spec *s = self->u.obj.data;
    return strdup(s->text ? s->text : "layer");
}

static lb_value *layer_spec_member(lb_value *self, const char *name, lb_error *err)
{
    layer_spec *s = self->u.obj.data;
    if (strcmp(name, "type") == 0)
        return lb_str(s->type ? s->type->name : "sequential");
    if (strcmp(name, "args") == 0)
        return s->args.values ? lb_incref(s->args.values) : lb_map_new();
    if (strcmp(name, "layers") == 0) {
        lb_value *l = lb_list_new();
        for (size_t i = 0; l && i < s->nkids; i++)
            lb_list_append(l, s->kids[i]);
        return l;
    }
    lb_error_set(err, "AttributeError", 0, 0, "a layer has no member '%s' (members: type, args, layers)",
                 name);
    return NULL;
}

static json_t *layer_spec_members(const lb_value *self)
{
    (void)self;
    return json_pack("[sss]", "args", "layers", "type");
}

static const lb_class layer_class = {
    .name = "layer",
    .free = layer_spec_free,
    .repr = layer_spec_repr,
    .member = layer_spec_member,
    .members = layer_spec_members,
};

layer_spec *lb_layer_spec(const lb_value *v)
{
    return lb_object_data(v, &layer_class);
}


lb_value *lb_layer_value_new(lb_interp *in, const lbp_type *t, struct lbp_args *args_take,
                             lb_value **children, size_t nchildren, lb_error *err)
{
    layer_spec *s = calloc(1, sizeof *s);
    if (!s) {
        lb_args_clear(args_take);
        lb_oom(err);
        return NULL;
    }
    s->type = t;
    if (args_take) {
        s->args = *args_take;
        memset(args_take, 0, sizeof *args_take);
    }
    if (t) {
        type_rec *r = lb_registry_type_rec(lb_interp_registry(in), t->name);
        s->plugin = r ? r->p : NULL;
        lb_plugin_ref(s->plugin);
        s->text = lb_args_text(&s->args);
    } else {
        s->kids = calloc(nchildren + 1, sizeof *s->kids);
        size_t len = 16;
        for (size_t i = 0; s->kids && i < nchildren; i++) {
            s->kids[i] = lb_incref(children[i]);
            s->nkids++;
            len += strlen(lb_layer_spec(children[i])->text) + 2;
        }
        s->text = malloc(len);
        if (s->text) {
            strcpy(s->text, "sequential(");
            for (size_t i = 0; i < s->nkids; i++) {
                if (i)
                    strcat(s->text, ", ");
                strcat(s->text, lb_layer_spec(s->kids[i])->text);
            }
            strcat(s->text, ")");
        }
        if (!s->kids) {
            layer_spec_free(s);
            lb_oom(err);
            return NULL;
        }
    }
    if (!s->text) {
        layer_spec_free(s);
        lb_oom(err);
        return NULL;
    }
    lb_value *v = lb_object_new(&layer_class, s);
    if (!v)
        lb_oom(err);
    return v;
}

static lb_value *fn_sequential(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs,
                               void *data, lb_error *err)
{
    (void)data;
    if (kwargs && lb_map_len(kwargs)) {
        lb_error_set(err, "TypeError", 0, 0, "sequential takes only layers, not key=value parameters "
                                             "(got '%s')",
                     kwargs->u.map.entries[0].key);
        return NULL;
    }
    for (size_t i = 0; i < nargs; i++) {
        if (!lb_layer_spec(args[i])) {
            lb_error_set(err, "TypeError", 0, 0,
                         "sequential takes layers, as in sequential(linear(784, 10), relu()); "
                         "argument %zu is a %s",
                         i + 1, lb_type_name(args[i]));
            return NULL;
        }
    }
    return lb_layer_value_new(in, NULL, NULL, args, nargs, err);
}

/* ---- building ------------------------------------------------------------------------------------- */

static void layer_free(lbp_layer *L)
{
    if (!L)
        return;
    for (int i = 0; i < L->nkids; i++)
        layer_free(L->kids[i]);
    free(L->kids);
    if (L->state && L->type && L->type->free_state && !lb_plugin_disabled(L->plugin)) {
        int sig; /* a crash here: the state leaks, the plugin is disabled */
        LB_PLUGIN_CALL(sig, L->plugin, "layer type", L->type->name, "free_state", L->type->free_state(L->state));
        (void)sig;
    }
    for (int i = 0; i < L->nparams; i++)
        free(L->params[i].name);
    free(L->params);
    lb_args_clear(&L->args);
    free(L->path);
    free(L->text);
    lb_plugin_unref(L->plugin);
    free(L);
}

int lb_layer_fail(lbp_layer *L, const char *fmt, ...)
{
    if (!L || !L->m)
        return -1;
    lb_model *m = L->m;
    if (m->failed)
        return -1; /* the first error wins */
    m->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char in[96];
    lb_format_shape(L->cur_ndim, L->cur_shape, in, sizeof in);
    /* a plugin that crashed just now or earlier: the plugin's error, not the model's */
    const char *ename = lb_fault_pending() || lb_plugin_disabled(L->plugin) ? "PluginError" : "ModelError";
    if (L->path[0])
        lb_error_set(m->err, ename, 0, 0, "layer %s, %s (input %s): %s", L->path, L->text, in, msg);
    else
        lb_error_set(m->err, ename, 0, 0, "%s (input %s): %s", L->text, in, msg);
    return -1;
}

/* A layer of the builtin layers plugin's type `name`. Such a conv2d layer is exactly one
 * lb_conv2d call, so the runner may ask that call to apply the relu (and maxpool2d(2)) layers
 * after it (lb_graph_fuse): the same values and gradients, without the passes over memory of
 * the full-size activations. */
static bool is_builtin(const lbp_layer *L, const char *name)
{
    return L->type && strcmp(L->type->name, name) == 0 && L->plugin && L->plugin->name &&
           strcmp(L->plugin->name, "layers") == 0;
}

/* What the convolution of child i of L may apply itself: relu when child i + 1 is relu, and
 * 2x2 stride-2 max pooling when child i + 2 is maxpool2d(2) (lb_graph_fuse). */
static unsigned fusion_after(const lbp_layer *L, int i)
{
    if (i + 1 >= L->nkids || !is_builtin(L->kids[i], "conv2d") || !is_builtin(L->kids[i + 1], "relu"))
        return 0;
    unsigned want = LB_FUSE_RELU;
    if (i + 2 < L->nkids && is_builtin(L->kids[i + 2], "maxpool2d")) {
        const lbp_host *h = lb_plugin_host_table();
        const lbp_args *a = &L->kids[i + 2]->args;
        if (h->arg_int(a, "kernel") == 2 && h->arg_int(a, "pad") == 0 &&
            (h->arg_none(a, "stride") || h->arg_int(a, "stride") == 2))
            want |= LB_FUSE_MAXPOOL2;
    }
    return want;
}

/* Whether L's plugin may run (not disabled by an earlier crash); else g's error says why. */
static bool runnable(const lbp_layer *L, lb_graph *g)
{
    char buf[600];
    const char *why = lb_plugin_disabled_text(L->plugin, buf, sizeof buf);
    if (why && !lb_graph_error(g))
        lb_status_set(lb_graph_status(g), LB_EVALUE, "%s", why);
    return !why;
}

/* A crash of the plugin's forward was caught (plugins.h): g's error is the message (also left
 * pending, for the trainer to end the cell with). */
static lb_tensor *crashed(lb_graph *g)
{
    const char *msg = lb_fault_pending();
    lb_status_set(lb_graph_status(g), LB_EVALUE, "%s", msg ? msg : "a plugin crashed");
    return NULL;
}

/* The forward of L's plugin type, guarded. */
static lb_tensor *run_type(lbp_layer *L, lb_graph *g, lb_tensor *x)
{
    if (!runnable(L, g))
        return NULL;
    lbp_tensor *volatile y = NULL;
    int sig;
    LB_PLUGIN_CALL(sig, L->plugin, "layer type", L->type->name, "forward",
                   y = L->type->forward(lb_plugin_host_table(), L, (lbp_graph *)g, (lbp_tensor *)x));
    if (sig)
        return crashed(g);
    if (!y && !lb_graph_error(g))
        lb_status_set(lb_graph_status(g), LB_EVALUE, "%s: forward gave no output", L->text);
    return (lb_tensor *)y;
}

lb_tensor *lb_layer_run(lbp_layer *L, lb_graph *g, lb_tensor *x)
{
    if (!L || !x)
        return NULL;
    if (L->type && L->type->forward)
        return run_type(L, g, x);
    for (int i = 0; i < L->nkids && x; i++) {
        unsigned want = fusion_after(L, i);
        if (want)
            lb_graph_fuse(g, want);
        x = lb_layer_run(L->kids[i], g, x);
        if (!want)
            continue;
        lb_tensor *out;
        unsigned done = lb_graph_fused(g, &out);
        if (done && out == x) {
            i += (done & LB_FUSE_RELU ? 1 : 0) + (done & LB_FUSE_MAXPOOL2 ? 1 : 0); /* layers it applied */
        } else if (done && x) { /* went to a convolution inside the layer: not its output */
            lb_status_set(lb_graph_status(g), LB_EVALUE, "%s: cannot fuse the layers after it", L->kids[i]->text);
            return NULL;
        }
    }
    return x;
}

/* A layer of several named inputs: its type's forward_inputs on xs. */
lb_tensor *lb_layer_run_inputs(lbp_layer *L, lb_graph *g, lb_tensor *const *xs, int n)
{
    lb_forward_inputs_fn fwd = L ? lb_type_forward_inputs(L->type) : NULL;
    if (!L || !xs || n != L->nin)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!xs[i])
            return NULL;
    if (!fwd) {
        lb_status_set(lb_graph_status(g), LB_EVALUE, "%s: it has no forward_inputs", L->text);
        return NULL;
    }
    if (!runnable(L, g))
        return NULL;
    lbp_tensor *volatile y = NULL;
    int sig;
    LB_PLUGIN_CALL(sig, L->plugin, "layer type", L->type->name, "forward_inputs",
                   y = fwd(lb_plugin_host_table(), L, (lbp_graph *)g, (lbp_tensor *const *)xs, n));
    if (sig)
        return crashed(g);
    if (!y && !lb_graph_error(g))
        lb_status_set(lb_graph_status(g), LB_EVALUE, "%s: forward_inputs gave no output", L->text);
    return (lb_tensor *)y;
}

/* A new layer of m for spec s at path, on the inputs xs (dry-run tensors [1, ...]; nin > 1
 * only for a root type with several named inputs). NULL on failure (m->err set). */
static lbp_layer *layer_new(lb_model *m, const layer_spec *s, const char *path, lb_tensor *const *xs,
                            int nin)
{
    lbp_layer *L = calloc(1, sizeof *L);
    if (L) {
        L->m = m;
        L->type = s->type;
        L->plugin = s->plugin;
        lb_plugin_ref(L->plugin);
        lb_args_copy(&L->args, &s->args);
        L->path = strdup(path);
        L->text = strdup(s->text);
        L->nin = nin;
        for (int k = 0; k < nin; k++) {
            L->cur_xs[k] = xs[k];
            L->ins_ndim[k] = xs[k]->ndim - 1;
            for (int i = 1; i < xs[k]->ndim; i++)
                L->ins_shape[k][i - 1] = xs[k]->shape[i];
        }
        L->in_ndim = L->cur_ndim = L->ins_ndim[0];
        memcpy(L->in_shape, L->ins_shape[0], sizeof L->in_shape);
        memcpy(L->cur_shape, L->ins_shape[0], sizeof L->cur_shape);
        L->cur_x = xs[0];
    }
    if (!L || !L->path || !L->text) {
        layer_free(L);
        lb_oom(m->err);
        m->failed = true;
        return NULL;
    }
    return L;
}

/* Appends the built child K (dry output ky) to L: the next child is built on its output. -1
 * (K freed, the build failed) when out of memory. */
static int append_child(lbp_layer *L, lbp_layer *K, lb_tensor *ky)
{
    lbp_layer **nk = realloc(L->kids, (size_t)(L->nkids + 1) * sizeof *nk);
    if (!nk) {
        layer_free(K);
        return lb_layer_fail(L, "out of memory");
    }
    L->kids = nk;
    L->kids[L->nkids++] = K;
    L->cur_x = ky;
    L->cur_ndim = K->out_ndim;
    memcpy(L->cur_shape, K->out_shape, sizeof L->cur_shape);
    return 0;
}

static lbp_layer *build_layer(lb_model *m, const lb_value *specv, const char *path,
                              lb_tensor *const *xs, int nin, lb_tensor **y);

/* The layers of a sequential, each built on the previous one's output; its dry output, or NULL
 * (m->err). */
static lb_tensor *build_sequential(lb_model *m, lbp_layer *L, const layer_spec *s)
{
    for (size_t i = 0; i < s->nkids; i++) {
        char *kp = NULL;
        if (asprintf(&kp, "%s%s%zu", L->path, L->path[0] ? "." : "", i) < 0) {
            lb_layer_fail(L, "out of memory");
            return NULL;
        }
        lb_tensor *ky = NULL;
        lbp_layer *K = build_layer(m, s->kids[i], kp, &L->cur_x, 1, &ky);
        free(kp);
        if (!K || append_child(L, K, ky) < 0)
            return NULL;
    }
    return L->cur_x;
}

/* A layer of a plugin type: its build, then the dry run of its forward (forward_inputs with
 * several inputs) on the original inputs; its dry output, or NULL (m->err). */
static lb_tensor *build_typed(lb_model *m, lbp_layer *L, const layer_spec *s, lb_tensor *const *xs,
                              int nin)
{
    char buf[600];
    const char *why = lb_plugin_disabled_text(L->plugin, buf, sizeof buf);
    if (why) {
        lb_layer_fail(L, "%s", why);
        return NULL;
    }
    volatile int rc = -1;
    int sig;
    LB_PLUGIN_CALL(sig, L->plugin, "layer type", s->type->name, "build", rc = s->type->build(lb_plugin_host_table(), L));
    if (sig) {
        const char *msg = lb_fault_pending();
        lb_layer_fail(L, "%s", msg ? msg : "its build crashed");
        return NULL;
    }
    if (rc != 0 || m->failed) {
        if (!m->failed)
            lb_layer_fail(L, "build failed (no reason given)");
        return NULL;
    }
    if (!s->type->forward && nin == 1)
        return L->cur_x; /* its children ran their dry runs */
    int saved = m->training;
    m->training = 0;
    L->cur_ndim = L->in_ndim;
    memcpy(L->cur_shape, L->in_shape, sizeof L->cur_shape);
    lb_tensor *out = nin > 1 ? lb_layer_run_inputs(L, m->dry, xs, nin) : lb_layer_run(L, m->dry, xs[0]);
    m->training = saved;
    if (!out) {
        const char *ge = lb_graph_error(m->dry);
        lb_layer_fail(L, "%s", ge ? ge : "forward failed");
    }
    return out;
}

/* "a, b": the input names of a type, for messages. */
static void input_names_text(const lbp_type *t, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < lb_type_ninputs(t) && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", lb_type_input_name(t, i));
}

/* Builds spec as a layer of m on the inputs xs (the dry-run tensors [1, ...]; several only at
 * the root). *y receives the dry output. NULL on failure (m->err set). */
static lbp_layer *build_layer(lb_model *m, const lb_value *specv, const char *path,
                              lb_tensor *const *xs, int nin, lb_tensor **y)
{
    layer_spec *s = lb_layer_spec(specv);
    lbp_layer *L = layer_new(m, s, path, xs, nin);
    if (!L)
        return NULL;
    lb_tensor *out = NULL;
    if (s->type && lb_type_ninputs(s->type) > 1 && path[0]) {
        char names[128];
        input_names_text(s->type, names, sizeof names);
        lb_layer_fail(L, "%s has %d named inputs (%s): a type with several inputs can only be a "
                         "model's root, as in `model NAME = %s`, not a layer of sequential or a "
                         "child layer", s->type->name, lb_type_ninputs(s->type), names, s->text);
    } else if (!s->type) {
        out = build_sequential(m, L, s);
    } else {
        out = build_typed(m, L, s, xs, nin);
    }
    if (out && (out->ndim < 1 || out->shape[0] != 1)) {
        lb_layer_fail(L, "forward changed the batch dimension");
        out = NULL;
    }
    if (!out) {
        if (!m->failed)
            lb_layer_fail(L, "build failed");
        layer_free(L);
        return NULL;
    }
    L->out_ndim = out->ndim - 1;
    for (int i = 1; i < out->ndim; i++)
        L->out_shape[i - 1] = out->shape[i];
    L->cur_x = NULL;
    memset(L->cur_xs, 0, sizeof L->cur_xs);
    *y = out;
    return L;
}

int lb_layer_add_child(lbp_layer *L, const char *src)
{
    lb_model *m = L->m;
    if (m->failed || !m->dry || !L->cur_x)
        return -1; /* only while the model is being built */
    if (L->nin > 1)
        return lb_layer_fail(L, "child layer `%s`: a layer with several inputs cannot add children "
                                "(create its parameters with h->param and run host ops in "
                                "forward_inputs)", src);
    lb_error e = {0};
    lb_node *n = lb_parse_expression(src, &e);
    /* evaluated without the user's variables: a variable named `relu` or `linear` must not
     * hide the layer types a plugin composes */
    lb_value *user = m->in->globals, *none = lb_map_new();
    lb_value *v = NULL;
    if (n && none) {
        m->in->globals = none;
        v = lb_eval(m->in, n, &e);
        m->in->globals = user;
    } else if (n) {
        lb_oom(&e);
    }
    lb_decref(none);
    lb_node_free(n);
    if (!v) {
        lb_layer_fail(L, "child layer `%s`: %s", src, e.evalue ? e.evalue : "cannot evaluate");
        lb_error_clear(&e);
        return -1;
    }
    if (!lb_layer_spec(v)) {
        lb_layer_fail(L, "child layer `%s` is a %s, not a layer", src, lb_type_name(v));
        lb_decref(v);
        return -1;
    }
    char *kp = NULL;
    if (asprintf(&kp, "%s%s%d", L->path, L->path[0] ? "." : "", L->nkids) < 0) {
        lb_decref(v);
        return lb_layer_fail(L, "out of memory");
    }
    lb_tensor *ky = NULL;
    lbp_layer *K = build_layer(m, v, kp, &L->cur_x, 1, &ky);
    free(kp);
    lb_decref(v);
    if (!K)
        return -1;
    return append_child(L, K, ky);
}

/* ---- models --------------------------------------------------------------------------------------- */

static void model_free(void *data)
{
    lb_model *m = data;
    if (!m)
        return;
    layer_free(m->root);
    lb_params_free(m->params);
    lb_decref(m->spec);
    for (int i = 0; i < LB_MODEL_MAXINPUTS; i++)
        free(m->input_names[i]);
    free(m->output_name);
    free(m->name);
    free(m);
}

/* The shapes of the inputs: "[1, 28, 28]" for one, "{a: [8], b: [4]}" for several. */
static void inputs_text(const lb_model *m, char *buf, size_t n)
{
    const lbp_layer *R = m->root;
    if (m->ninputs <= 1) {
        lb_format_shape(R->in_ndim, R->in_shape, buf, n);
        return;
    }
    size_t used = (size_t)snprintf(buf, n, "{");
    for (int i = 0; i < m->ninputs && used < n; i++) {
        char shp[96];
        lb_format_shape(R->ins_ndim[i], R->ins_shape[i], shp, sizeof shp);
        used += (size_t)snprintf(buf + used, n - used, "%s%s: %s", i ? ", " : "", m->input_names[i], shp);
    }
    if (used < n)
        snprintf(buf + used, n - used, "}");
}

static int count_leaves(const lbp_layer *L)
{
    if (!L)
        return 0;
    if (L->nkids == 0)
        return 1;
    int n = 0;
    for (int i = 0; i < L->nkids; i++)
        n += count_leaves(L->kids[i]);
    return n;
}

static char *model_repr(const lb_value *self)
{
    lb_model *m = self->u.obj.data;
    char in[400], out[96], cnt[32];
    inputs_text(m, in, sizeof in);
    lb_format_shape(m->root->out_ndim, m->root->out_shape, out, sizeof out);
    lb_format_count(lb_params_numel(m->params, 1), cnt, sizeof cnt);
    int nl = count_leaves(m->root);
    char *s = NULL;
    if (asprintf(&s, "<model %s = %s: %d layer%s, %s parameters, %s -> %s>", m->name, m->root->text,
                 nl, nl == 1 ? "" : "s", cnt, in, out) < 0)
        return NULL;
    return s;
}

static void collect_layers(const lbp_layer *L, lb_value *list)
{
    if (L->nkids == 0) {
        lb_value *e = lb_map_new();
        if (!e)
            return;
        int64_t n = 0;
        for (int i = 0; i < L->nparams; i++)
            if (L->params[i].t->trainable)
                n += L->params[i].t->numel;
        lb_map_set_take(e, "name", lb_str(L->path[0] ? L->path : "0"));
        lb_map_set_take(e, "layer", lb_str(L->text));
        lb_map_set_take(e, "type", lb_str(L->type ? L->type->name : "sequential"));
        lb_map_set_take(e, "output", lb_shape_list(L->out_ndim, L->out_shape));
        lb_map_set_take(e, "params", lb_num((double)n));
        lb_list_append_take(list, e);
        return;
    }
    for (int i = 0; i < L->nkids; i++)
        collect_layers(L->kids[i], list);
}

static lb_value *model_member(lb_value *self, const char *name, lb_error *err)
{
    lb_model *m = self->u.obj.data;
    if (strcmp(name, "params") == 0)
        return lb_num((double)lb_params_numel(m->params, 1));
    if (strcmp(name, "layers") == 0) {
        lb_value *l = lb_list_new();
        if (l)
            collect_layers(m->root, l);
        return l;
    }
    if (strcmp(name, "input") == 0)
        return lb_shape_list(m->root->in_ndim, m->root->in_shape);
    if (strcmp(name, "output") == 0)
        return lb_shape_list(m->root->out_ndim, m->root->out_shape);
    if (strcmp(name, "inputs") == 0 || strcmp(name, "outputs") == 0) {
        lb_value *map = lb_map_new();
        if (map && name[0] == 'i') {
            for (int i = 0; i < m->ninputs; i++)
                lb_map_set_take(map, m->input_names[i],
                                lb_shape_list(m->root->ins_ndim[i], m->root->ins_shape[i]));
        } else if (map) {
            lb_map_set_take(map, m->output_name, lb_shape_list(m->root->out_ndim, m->root->out_shape));
        }
        return map;
    }
    if (strcmp(name, "type") == 0)
        return lb_str(m->root->type ? m->root->type->name : "sequential");
    if (strcmp(name, "spec") == 0)
        return lb_incref(m->spec);
    if (strcmp(name, "seed") == 0)
        return lb_num((double)m->seed);
    if (strcmp(name, "name") == 0)
        return lb_str(m->name);
    lb_error_set(err, "AttributeError", 0, 0,
                 "a model has no member '%s' (members: input, inputs, layers, name, output, outputs, "
                 "params, seed, spec, type)",
                 name);
    return NULL;
}

static json_t *model_members(const lb_value *self)
{
    (void)self;
    return json_pack("[ssssssssss]", "input", "inputs", "layers", "name", "output", "outputs", "params",
                     "seed", "spec", "type");
}

static void add_rows(lb_table *t, const lbp_layer *L)
{
    if (L->nkids) {
        for (int i = 0; i < L->nkids; i++)
            add_rows(t, L->kids[i]);
        return;
    }
    long r = lb_table_add_row(t);
    if (r < 0)
        return;
    int64_t n = 0;
    for (int i = 0; i < L->nparams; i++)
        if (L->params[i].t->trainable)
            n += L->params[i].t->numel;
    char shp[96], cnt[32];
    lb_format_shape(L->out_ndim, L->out_shape, shp, sizeof shp);
    lb_format_count(n, cnt, sizeof cnt);
    lb_table_set(t, (size_t)r, 0, L->path[0] ? L->path : "0", false);
    lb_table_set(t, (size_t)r, 1, L->text, false);
    lb_table_set(t, (size_t)r, 2, shp, false);
    lb_table_set(t, (size_t)r, 3, cnt, true);
}

static lb_table *params_table(const lb_model *m)
{
    lb_table *t = lb_table_new();
    if (!t)
        return NULL;
    const char *hdr[] = {"#", "layer", "output shape", "parameters"};
    for (size_t i = 0; i < 4; i++)
        lb_table_set_header(t, i, hdr[i]);
    char shp[96], cnt[32];
    long r = 0;
    for (int i = 0; i < m->ninputs && r >= 0; i++) { /* one row per input: "input", or "input a" */
        r = lb_table_add_row(t);
        if (r < 0)
            break;
        char what[80];
        snprintf(what, sizeof what, "input%s%s", m->ninputs > 1 ? " " : "",
                 m->ninputs > 1 ? m->input_names[i] : "");
        lb_format_shape(m->root->ins_ndim[i], m->root->ins_shape[i], shp, sizeof shp);
        lb_table_set(t, (size_t)r, 0, "", false);
        lb_table_set(t, (size_t)r, 1, what, false);
        lb_table_set(t, (size_t)r, 2, shp, false);
        lb_table_set(t, (size_t)r, 3, "", true);
    }
    add_rows(t, m->root);
    r = lb_table_add_row(t);
    if (r >= 0) {
        lb_format_count(lb_params_numel(m->params, 1), cnt, sizeof cnt);
        lb_format_shape(m->root->out_ndim, m->root->out_shape, shp, sizeof shp);
        lb_table_set(t, (size_t)r, 0, "", false);
        lb_table_set(t, (size_t)r, 1, "total", false);
        lb_table_set(t, (size_t)r, 2, shp, false);
        lb_table_set(t, (size_t)r, 3, cnt, true);
        lb_table_emphasize(t, (size_t)r, 3, true);
    }
    return t;
}

static int model_display(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err)
{
    (void)metadata;
    (void)err;
    lb_table *t = params_table(self->u.obj.data);
    if (!t)
        return 0;
    char *html = lb_table_html(t);
    char *repr = model_repr(self);
    if (html && repr) {
        char *esc = NULL;
        /* the summary line above the table (HTML-escaped: '<' and '>' of the repr) */
        size_t n = strlen(repr);
        esc = malloc(6 * n + 1);
        if (esc) {
            char *o = esc;
            for (size_t i = 0; i < n; i++) {
                if (repr[i] == '<')
                    o += sprintf(o, "&lt;");
                else if (repr[i] == '>')
                    o += sprintf(o, "&gt;");
                else if (repr[i] == '&')
                    o += sprintf(o, "&amp;");
                else if (repr[i] == '"')
                    o += sprintf(o, "&quot;");
                else
                    *o++ = repr[i];
            }
            *o = '\0';
            char *full = NULL;
            if (asprintf(&full, "<p><code>%s</code></p>\n%s", esc, html) >= 0) {
                json_object_set_new(bundle, "text/html", json_string(full));
                free(full);
            }
            free(esc);
        }
    }
    free(html);
    free(repr);
    lb_table_free(t);
    return 0;
}

const lb_class lb_model_class = {
    .name = "model",
    .free = model_free,
    .repr = model_repr,
    .display = model_display,
    .member = model_member,
    .members = model_members,
    .save = lb_checkpoint_save_value,
};

lb_model *lb_model_from_value(const lb_value *v)
{
    return lb_object_data(v, &lb_model_class);
}

lb_params *lb_model_params(lb_model *m) { return m ? m->params : NULL; }
const char *lb_model_name(const lb_model *m) { return m ? m->name : NULL; }

const char *lb_model_spec_text(const lb_model *m) { return m->root->text; }
uint64_t lb_model_seed(const lb_model *m) { return m->seed; }
void lb_model_seed_run(lb_model *m, uint64_t seed) { lb_rng_seed(&m->run_rng, seed); }

/* Each plugin the built layers come from, once, in order of first use (a model type such as
 * cnn first, then the plugin of the layers it builds). */
static void add_plugins(const lbp_layer *L, json_t *out)
{
    if (!L)
        return;
    const lbp_plugin *p = L->plugin;
    if (p) {
        bool seen = false;
        for (size_t i = 0; i < json_array_size(out) && !seen; i++)
            seen = strcmp(json_string_value(json_object_get(json_array_get(out, i), "name")),
                          p->name) == 0;
        if (!seen)
            json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "name", p->name,
                                                 "version", p->version ? p->version : "",
                                                 "sha256", p->sha256, "file", p->path ? p->path : ""));
    }
    for (int i = 0; i < L->nkids; i++)
        add_plugins(L->kids[i], out);
}

json_t *lb_model_plugins(const lb_model *m)
{
    json_t *out = json_array();
    if (out)
        add_plugins(m->root, out);
    return out;
}

int lb_model_input_shape(const lb_model *m, int64_t shape[LB_MAXDIM])
{
    memcpy(shape, m->root->in_shape, sizeof m->root->in_shape);
    return m->root->in_ndim;
}

int lb_model_output_shape(const lb_model *m, int64_t shape[LB_MAXDIM])
{
    memcpy(shape, m->root->out_shape, sizeof m->root->out_shape);
    return m->root->out_ndim;
}

/* Whether x is a batch [N, *shape of input i]; otherwise g's status says what was expected. */
static bool input_fits(lb_model *m, lb_graph *g, int i, const lb_tensor *x)
{
    const lbp_layer *R = m->root;
    int nd = R->ins_ndim[i];
    const int64_t *shape = R->ins_shape[i];
    bool ok = x->ndim == nd + 1;
    for (int d = 0; ok && d < nd; d++)
        ok = x->shape[d + 1] == shape[d];
    if (!ok) {
        char want[96], got[96], which[80] = "";
        lb_format_shape(nd, shape, want, sizeof want);
        lb_format_shape(x->ndim, x->shape, got, sizeof got);
        if (m->ninputs > 1)
            snprintf(which, sizeof which, " %s", m->input_names[i]);
        lb_status_set(lb_graph_status(g), LB_ESHAPE, "model %s expects input%s [N, %s, got %s", m->name,
                      which, want + 1, got);
    }
    return ok;
}

/* Runs the root on its inputs, in training mode or not, dropout drawing from rng. */
static lb_tensor *run_root(lb_model *m, lb_graph *g, lb_tensor *const *xs, int n, int training,
                           lb_rng *rng)
{
    int saved = m->training;
    lb_rng *saved_rng = m->rng;
    m->training = training;
    m->rng = rng ? rng : &m->run_rng;
    lb_tensor *y = m->ninputs > 1 ? lb_layer_run_inputs(m->root, g, xs, n) : lb_layer_run(m->root, g, xs[0]);
    m->training = saved;
    m->rng = saved_rng;
    return y;
}

lb_tensor *lb_model_forward(lb_model *m, lb_graph *g, lb_tensor *x, int training, lb_rng *rng)
{
    if (!m || !g)
        return NULL;
    if (m->ninputs > 1) {
        if (!lb_graph_error(g)) {
            char names[400];
            inputs_text(m, names, sizeof names);
            lb_status_set(lb_graph_status(g), LB_EVALUE,
                          "model %s has %d named inputs %s: it needs one tensor for each "
                          "(lb_model_forward_inputs), not one input",
                          m->name, m->ninputs, names);
        }
        return NULL;
    }
    if (!x) {
        if (!lb_graph_error(g))
            lb_status_set(lb_graph_status(g), LB_EVALUE, "model %s: no input", m->name);
        return NULL;
    }
    if (!input_fits(m, g, 0, x))
        return NULL;
    return run_root(m, g, &x, 1, training, rng);
}

int lb_model_ninputs(const lb_model *m) { return m ? m->ninputs : 0; }

const char *lb_model_input_name(const lb_model *m, int i)
{
    return m && i >= 0 && i < m->ninputs ? m->input_names[i] : NULL;
}

const char *lb_model_output_name(const lb_model *m) { return m ? m->output_name : NULL; }

int lb_model_input_shape_at(const lb_model *m, int i, int64_t shape[LB_MAXDIM])
{
    if (!m || i < 0 || i >= m->ninputs)
        return -1;
    memcpy(shape, m->root->ins_shape[i], sizeof m->root->ins_shape[i]);
    return m->root->ins_ndim[i];
}

lb_tensor *lb_model_forward_inputs(lb_model *m, lb_graph *g, lb_tensor *const *xs, int n, int training,
                                   lb_rng *rng)
{
    if (!m || !g)
        return NULL;
    if (n != m->ninputs || !xs) {
        if (!lb_graph_error(g)) {
            char names[400];
            inputs_text(m, names, sizeof names);
            lb_status_set(lb_graph_status(g), LB_EVALUE, "model %s takes %d input%s %s, got %d",
                          m->name, m->ninputs, m->ninputs == 1 ? "" : "s", names, xs ? n : 0);
        }
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            if (!lb_graph_error(g))
                lb_status_set(lb_graph_status(g), LB_EVALUE, "model %s: no input %s", m->name,
                              m->input_names[i]);
            return NULL;
        }
        if (!input_fits(m, g, i, xs[i]))
            return NULL;
    }
    return run_root(m, g, xs, n, training, rng);
}

/* The input shape when `model` is given none: the type's default_input, recursively through
 * the first layer of a sequential; else Fashion-MNIST's [1, 28, 28]. */
static int default_input(const lb_value *specv, int64_t shape[LB_MAXDIM])
{
    layer_spec *s = lb_layer_spec(specv);
    if (!s)
        return 0;
    if (!s->type)
        return s->nkids ? default_input(s->kids[0], shape) : 0;
    if (s->type->default_input && !lb_plugin_disabled(s->plugin)) {
        volatile int nd = 0;
        int sig; /* a crash: no default (the build that follows reports the disabled plugin) */
        LB_PLUGIN_CALL(sig, s->plugin, "layer type", s->type->name, "default_input",
                       nd = s->type->default_input(lb_plugin_host_table(), &s->args, shape));
        if (!sig && nd > 0 && nd <= LB_MAXDIM - 1)
            return nd;
    }
    return 0;
}

static uint64_t fresh_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
        s = (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ULL;
    return s & ((1ULL << 53) - 1); /* exact as a labbook number */
}

/* The shapes of a model's inputs (batch excluded), in the order of its root type's names. */
typedef struct model_inputs {
    int n;
    int ndim[LB_MODEL_MAXINPUTS];
    int64_t shape[LB_MODEL_MAXINPUTS][LB_MAXDIM];
} model_inputs;

/* The root's type (NULL for sequential): it names the model's inputs and output. */
static const lbp_type *root_type(const lb_value *spec)
{
    const layer_spec *s = lb_layer_spec(spec);
    return s ? s->type : NULL;
}

/* The names of m's inputs and output, from its root type. -1 when out of memory. */
static int model_names(lb_model *m)
{
    const lbp_type *t = root_type(m->spec);
    m->ninputs = m->root->nin;
    for (int i = 0; i < m->ninputs; i++)
        if (!(m->input_names[i] = strdup(lb_type_input_name(t, i))))
            return -1;
    m->output_name = strdup(lb_type_output_name(t));
    return m->output_name ? 0 : -1;
}

/* Builds a model from a layer value on the inputs `ins`. NULL with *err on failure. */
static lb_value *model_build(lb_interp *in, const char *name, lb_value *spec, const model_inputs *ins,
                             uint64_t seed, lb_error *err)
{
    lb_model *m = calloc(1, sizeof *m);
    if (!m) {
        lb_oom(err);
        return NULL;
    }
    m->in = in;
    m->name = strdup(name);
    m->spec = lb_incref(spec);
    m->params = lb_params_new();
    m->dry = lb_graph_new();
    m->seed = seed;
    m->err = err;
    if (!m->name || !m->params || !m->dry) {
        lb_graph_free(m->dry);
        model_free(m);
        lb_oom(err);
        return NULL;
    }
    lb_rng_seed(&m->init_rng, seed);
    lb_rng_seed(&m->run_rng, seed ^ 0x5bd1e9955bd1e995ULL);
    m->rng = &m->run_rng;
    lb_graph_set_grad(m->dry, 0);
    lb_tensor *xs[LB_MODEL_MAXINPUTS] = {0}, *y = NULL;
    bool made = ins->n >= 1 && ins->n <= LB_MODEL_MAXINPUTS, fits = true;
    for (int k = 0; made && fits && k < ins->n; k++) {
        int64_t shp[LB_MAXDIM] = {1};
        double bytes = 4;
        for (int i = 0; i < ins->ndim[k]; i++)
            bytes *= (double)(shp[i + 1] = ins->shape[k][i]);
        /* one sample of the input, before anything is allocated (a typo's 4 GB zero batch) */
        int64_t avail = lb_mem_available();
        if (!(fits = bytes <= (double)avail / 16)) {
            char need[32], have[32];
            lb_format_bytes(bytes > 9e18 ? (int64_t)9e18 : (int64_t)bytes, need, sizeof need);
            lb_format_bytes(avail, have, sizeof have);
            lb_error_set(err, "ModelError", 0, 0, "model %s: one sample of its input takes %s, more than a sixteenth "
                         "of the %s this machine has available", name, need, have);
            break;
        }
        made = (xs[k] = lb_zeros(m->dry, ins->ndim[k] + 1, shp)) != NULL;
    }
    if (!fits)
        made = false;
    else if (made)
        m->root = build_layer(m, spec, "", xs, ins->n, &y);
    else if (fits)
        lb_error_set(err, "ModelError", 0, 0, "model %s: cannot make the input: %s", name,
                     lb_graph_error(m->dry) ? lb_graph_error(m->dry) : "?");
    lb_graph_free(m->dry);
    m->dry = NULL;
    m->err = NULL;
    if (!m->root) {
        if (!lb_error_is_set(err))
            lb_error_set(err, "ModelError", 0, 0, "model %s could not be built", name);
        model_free(m);
        return NULL;
    }
    if (model_names(m) < 0) {
        model_free(m);
        lb_oom(err);
        return NULL;
    }
    lb_params_zero_grad(m->params);
    lb_value *v = lb_object_new(&lb_model_class, m);
    if (!v)
        lb_oom(err);
    return v;
}

/* ---- commands: model, params ------------------------------------------------------------------------ */

/* The layers of `model NAME = LAYERS` evaluated to a layer or a model type (a model's own
 * spec), a new reference; NULL with *err, naming the plugin to `use` for an undefined type. */
static lb_value *model_spec(lb_cmd_call *call, const lb_node *def, lb_error *err)
{
    const char *name = def->text;
    lb_value *v = lb_call_eval(call, def->kids[0], err);
    if (!v) {
        /* `model m = mlp()` before `use mlp`: say which plugin would provide it */
        const lb_node *e = def->kids[0];
        if (strcmp(err->ename, "NameError") == 0 && e->kind == LB_N_CALL && e->nkids &&
            e->kids[0]->kind == LB_N_NAME && !lb_lookup(call->in, e->kids[0]->text)) {
            lb_error quiet = {0};
            char *path = lb_plugin_find(e->kids[0]->text, &quiet);
            lb_error_clear(&quiet);
            if (path) {
                lb_node_error(err, e->kids[0], "NameError",
                              "name '%s' is not defined (the plugin %s provides it: `use %s` first)",
                              e->kids[0]->text, e->kids[0]->text, e->kids[0]->text);
                free(path);
            }
        }
        return NULL;
    }
    lb_value *spec = NULL;
    lb_model *src = lb_model_from_value(v);
    if (src)
        spec = lb_incref(src->spec);
    else if (lb_layer_spec(v))
        spec = lb_incref(v);
    lb_decref(v);
    if (!spec)
        lb_node_error(err, def->kids[0], "TypeError",
                      "model needs a layer or a model type, as in `model %s = "
                      "cnn(channels=[16, 32])` or `model %s = sequential(linear(784, 10))`",
                      name, name);
    return spec;
}

/* The shape of one example: a positive integer, or a list of 1 to LB_MAXDIM - 1 of them. Its
 * number of dimensions, or 0 when iv is neither. */
static int shape_value(const lb_value *iv, int64_t *shape)
{
    if (iv->kind == LB_NUM && lb_is_int(iv) && iv->u.num >= 1 && iv->u.num <= 1e9) {
        shape[0] = (int64_t)iv->u.num;
        return 1;
    }
    if (iv->kind != LB_LIST || lb_list_len(iv) < 1 || lb_list_len(iv) > LB_MAXDIM - 1)
        return 0;
    for (size_t i = 0; i < lb_list_len(iv); i++) {
        lb_value *it = lb_list_get(iv, i);
        if (!(it->kind == LB_NUM && lb_is_int(it) && it->u.num >= 1 && it->u.num <= 1e9))
            return 0;
        shape[i] = (int64_t)it->u.num;
    }
    return (int)lb_list_len(iv);
}

/* "{a: [...], b: [...]}": how input= names the inputs of type t. */
static void input_example(const lbp_type *t, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "{");
    for (int i = 0; i < lb_type_ninputs(t) && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s: [...]", i ? ", " : "", lb_type_input_name(t, i));
    if (used < n)
        snprintf(buf + used, n - used, "}");
}

/* Without input=: the spec's default shape (through the first layer of a sequential; a type
 * with several inputs: default_inputs for each), else Fashion-MNIST's [1, 28, 28]. */
static int default_inputs(const lb_node *def, lb_value *spec, model_inputs *ins, lb_error *err)
{
    const lbp_type *t = root_type(spec);
    const lbp_args *args = &lb_layer_spec(spec)->args;
    ins->n = lb_type_ninputs(t);
    if (ins->n == 1) {
        int nd = default_input(spec, ins->shape[0]);
        if (nd == 0)
            nd = lb_type_default_inputs(t, lb_layer_spec(spec)->plugin, args, 0, ins->shape[0]);
        if (nd == 0) {
            nd = 3;
            ins->shape[0][0] = 1;
            ins->shape[0][1] = 28;
            ins->shape[0][2] = 28;
        }
        ins->ndim[0] = nd;
        return 0;
    }
    for (int i = 0; i < ins->n; i++) {
        ins->ndim[i] = lb_type_default_inputs(t, lb_layer_spec(spec)->plugin, args, i, ins->shape[i]);
        if (ins->ndim[i] == 0) {
            char ex[200];
            input_example(t, ex, sizeof ex);
            return lb_node_error(err, def->kids[0], "TypeError",
                                 "%s gives no default shape for its input '%s': write the shapes "
                                 "of its inputs, as in `model %s = %s input=%s`",
                                 t->name, lb_type_input_name(t, i), def->text,
                                 lb_layer_spec(spec)->text, ex);
        }
    }
    return 0;
}

/* input={name: shape, ...}: every named input of the spec's root, and nothing else. */
static int input_map(const lb_node *node, const lb_value *iv, const lbp_type *t, model_inputs *ins,
                     lb_error *err)
{
    const char *names[LB_MODEL_MAXINPUTS];
    bool seen[LB_MODEL_MAXINPUTS] = {false};
    char list[160], ex[200];
    const char *tname = t ? t->name : "sequential";
    ins->n = lb_type_ninputs(t);
    for (int i = 0; i < ins->n; i++)
        names[i] = lb_type_input_name(t, i);
    input_names_text(t, list, sizeof list);
    input_example(t, ex, sizeof ex);
    for (size_t e = 0; e < iv->u.map.len; e++) {
        const char *key = iv->u.map.entries[e].key;
        int k = -1;
        for (int i = 0; i < ins->n && k < 0; i++)
            if (strcmp(names[i], key) == 0)
                k = i;
        if (k < 0) {
            const char *s = lb_suggest(key, names, (size_t)ins->n);
            return lb_node_error(err, node, "TypeError",
                                 "input has no '%s'%s%s%s: the input%s of %s %s %s, as in input=%s",
                                 key, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "",
                                 ins->n == 1 ? "" : "s", tname, ins->n == 1 ? "is" : "are", list, ex);
        }
        ins->ndim[k] = shape_value(iv->u.map.entries[e].value, ins->shape[k]);
        if (ins->ndim[k] == 0)
            return lb_node_error(err, node, "TypeError",
                                 "input %s must be the shape of one example (batch excluded), a "
                                 "list of 1 to %d positive integers such as [8]",
                                 key, LB_MAXDIM - 1);
        seen[k] = true;
    }
    for (int i = 0; i < ins->n; i++)
        if (!seen[i])
            return lb_node_error(err, node, "TypeError",
                                 "input gives no shape for '%s': %s needs input=%s (its input%s %s)",
                                 names[i], tname, ex, ins->n == 1 ? "" : "s", list);
    return 0;
}

/* The shapes of the model's inputs: input= (a shape, or a map of named inputs' shapes), else
 * what the spec says. 0, or -1 with *err. */
static int model_input(lb_cmd_call *call, const lb_node *def, const lb_node *input_node,
                       lb_value *spec, model_inputs *ins, lb_error *err)
{
    if (!input_node)
        return default_inputs(def, spec, ins, err);
    const lbp_type *t = root_type(spec);
    lb_value *iv = lb_call_eval(call, input_node, err);
    if (!iv)
        return -1;
    int rc = 0;
    if (iv->kind == LB_MAP) {
        rc = input_map(input_node, iv, t, ins, err);
    } else if (lb_type_ninputs(t) > 1) {
        char list[160], ex[200];
        input_names_text(t, list, sizeof list);
        input_example(t, ex, sizeof ex);
        rc = lb_node_error(err, input_node, "TypeError",
                           "%s has %d named inputs (%s): input must give the shape of each, as "
                           "in input=%s",
                           t->name, lb_type_ninputs(t), list, ex);
    } else {
        ins->n = 1;
        ins->ndim[0] = shape_value(iv, ins->shape[0]);
        if (ins->ndim[0] == 0)
            rc = lb_node_error(err, input_node, "TypeError",
                               "input must be the shape of one example (batch excluded), a list "
                               "of 1 to %d positive integers such as [1, 28, 28]",
                               LB_MAXDIM - 1);
    }
    lb_decref(iv);
    return rc;
}

/* The seed of the initial weights: seed=, else the session's seed, else a fresh one. */
static int model_seed(lb_cmd_call *call, const lb_node *seed_node, uint64_t *seed, lb_error *err)
{
    if (!seed_node) {
        bool set = false;
        double s = lb_interp_seed(call->in, &set);
        *seed = set ? (uint64_t)s : fresh_seed();
        return 0;
    }
    lb_value *sv = lb_call_eval(call, seed_node, err);
    if (!sv)
        return -1;
    bool ok = sv->kind == LB_NUM && lb_is_int(sv) && sv->u.num >= 0 && sv->u.num < 9007199254740992.0;
    *seed = ok ? (uint64_t)sv->u.num : 0;
    lb_decref(sv);
    if (!ok)
        return lb_node_error(err, seed_node, "TypeError", "seed must be a non-negative integer");
    return 0;
}

static int cmd_model(lb_cmd_call *call, lb_error *err)
{
    if (call->nargs != 0 || call->nkwargs == 0)
        return lb_node_error(err, call->node, "TypeError",
                             "usage: model NAME = LAYERS input=[...] seed=N, as in `model a = "
                             "cnn(channels=[16, 32])`");
    const lb_node *def = call->kwargs[0];
    const char *name = def->text;
    const lb_node *input_node = NULL, *seed_node = NULL;
    for (size_t i = 1; i < call->nkwargs; i++) {
        const lb_node *k = call->kwargs[i];
        if (strcmp(k->text, "input") == 0)
            input_node = k->kids[0];
        else if (strcmp(k->text, "seed") == 0)
            seed_node = k->kids[0];
        else {
            const char *names[] = {"input", "seed"};
            const char *s = lb_suggest(k->text, names, 2);
            return lb_node_error(err, k, "TypeError", "unknown parameter '%s' for model%s%s%s",
                                 k->text, s ? " (did you mean '" : " (known: input, seed)",
                                 s ? s : "", s ? "'?)" : "");
        }
    }
    lb_value *spec = model_spec(call, def, err);
    if (!spec)
        return -1;
    model_inputs ins = {0};
    uint64_t seed;
    if (model_input(call, def, input_node, spec, &ins, err) < 0 ||
        model_seed(call, seed_node, &seed, err) < 0) {
        lb_decref(spec);
        return -1;
    }
    lb_value *mv = model_build(call->in, name, spec, &ins, seed, err);
    lb_decref(spec);
    if (!mv) {
        lb_error_locate(err, def->kids[0]->line, def->kids[0]->col, def->kids[0]->span);
        return -1;
    }
    if (lb_interp_set(call->in, name, mv) < 0) {
        lb_decref(mv);
        return lb_oom(err);
    }
    char *r = model_repr(mv);
    if (r) {
        /* "a: cnn(...), 4 layers, ..." without the angle brackets */
        size_t n = strlen(r);
        char *line = NULL;
        if (n > 2 && asprintf(&line, "%.*s\n", (int)(n - 8), r + 7) >= 0) {
            lb_emit_stream(call->in, LB_STDOUT, line, strlen(line));
            free(line);
        }
        free(r);
    }
    lb_decref(mv);
    return 0;
}

static int cmd_params(lb_cmd_call *call, lb_error *err)
{
    /* every argument checked first, so a mistake shows nothing */
    for (size_t i = 0; i < call->nargs; i++) {
        lb_value *v = lb_call_arg(call, i, err);
        if (!v)
            return -1;
        bool ok = lb_model_from_value(v) != NULL;
        int rc = ok ? 0
                    : lb_node_error(err, call->args[i], "TypeError",
                                    "params needs models (made with `model NAME = ...`), not a %s",
                                    lb_type_name(v));
        lb_decref(v);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < call->nargs; i++) {
        lb_value *v = lb_call_arg(call, i, err);
        if (!v)
            return -1;
        lb_model *m = lb_model_from_value(v);
        if (call->nargs > 1) { /* several tables: say whose each is */
            char cnt[32], line[300];
            lb_format_count(lb_params_numel(m->params, 1), cnt, sizeof cnt);
            snprintf(line, sizeof line, "%s: %s parameters\n", m->name, cnt);
            lb_emit_stream(call->in, LB_STDOUT, line, strlen(line));
        }
        lb_table *t = params_table(m);
        lb_decref(v);
        if (!t)
            return lb_oom(err);
        if (lb_emit_table(call->in, t, err) < 0)
            return -1;
    }
    return 0;
}

static const lb_param model_params[] = {
    {"input", LB_PARAM_ANY, NULL, "shape of one example, batch excluded (default: the type's, else [1, 28, 28]); "
                                  "a model type with named inputs: a map of their shapes, input={a: [8], b: [4]}"},
    {"seed", LB_PARAM_INT, NULL, "seed of the initialisation (default: the `seed` in force)"},
    {0}};

static const lb_command model_commands[] = {
    {.name = "model", .synopsis = "model NAME = LAYERS input=[1, 28, 28] seed=N",
     .doc = "Builds a model from a layer, a sequential(...) of layers or a model type (after `use`\n"
            "of the plugin that provides it) and stores it in the variable NAME. The parameters are\n"
            "created in one block and initialised as PyTorch does, from the seed set with `seed N`\n"
            "(the same seed gives the same weights) or from seed=N. input is the shape of one\n"
            "example without the batch dimension; by default the type's own (e.g. [784] before a\n"
            "linear layer) or Fashion-MNIST's [1, 28, 28]. A model type with named inputs (such as\n"
            "fuse of the fusion plugin, inputs a and b) takes a map of their shapes,\n"
            "input={a: [8], b: [4]}; `m.inputs` shows them. Output shapes are found by running the\n"
            "model once on a zero batch. `params NAME` shows the layers.",
     .example = "use cnn\nmodel a = cnn(channels=[16, 32], pool=\"max\")\n"
                "model b = sequential(conv2d(1, 16, 3, pad=1), relu(), maxpool2d(2), flatten(), "
                "linear(3136, 10))\nparams a",
     .params = model_params, .min_args = 0, .max_args = 0, .hint = LB_ARGS_VALUES,
     .flags = LB_CMD_OPEN_KEYWORDS, .handler = cmd_model},
    {.name = "params", .synopsis = "params MODEL...",
     .doc = "Shows a table of each model's layers: their output shapes (batch excluded) and\n"
            "numbers of trainable parameters, with the total.",
     .example = "params a\nparams pool stride",
     .min_args = 1, .max_args = -1, .hint = LB_ARGS_VARIABLES, .handler = cmd_params},
};

int lb_register_model_commands(lb_interp *in, lb_error *err)
{
    if (lb_interp_register_commands(in, model_commands,
                                    sizeof model_commands / sizeof model_commands[0], err) < 0)
        return -1;
    if (lb_register_checkpoint_commands(in, err) < 0)
        return -1;
    return lb_interp_register_function(in, "sequential", "sequential(layer, ...)",
                                       "Composes layers: each one's output is the next one's input.",
                                       fn_sequential, NULL, err);
}
