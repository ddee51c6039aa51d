/* plugin_host.c — the host function table handed to every plugin's lbp_init (labbook_plugin.h):
 * thin wrappers that turn the ABI's opaque handles into the engine's types (ops/ops.h) and
 * the kernel's layers and models (plugin_impl.h). Append-only: new entries go at the end of
 * lbp_host and here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "lang/interp.h"
#include "host/plugin_impl.h"
#include "host/plugin_op.h"

#define T(x) ((lb_tensor *)(x))
#define P(x) ((lbp_tensor *)(x))
#define G(x) ((lb_graph *)(x))

/* registration lives in plugin_load.c */
int lb_host_register_type(lbp_plugin *p, const lbp_type *t);
int lb_host_register_op(lbp_plugin *p, const lbp_op *op);
int lb_host_register_command(lbp_plugin *p, const lbp_command *c);
int lb_host_require(lbp_plugin *p, const char *name);
const lbp_args *lb_host_call_args(lbp_call *c);
size_t lb_host_call_nargs(lbp_call *c);
int lb_host_call_num(lbp_call *c, size_t i, double *out);
const char *lb_host_call_str(lbp_call *c, size_t i);
void lb_host_call_print(lbp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lb_host_call_fail(lbp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t lb_host_call_model_params(lbp_call *c, size_t i);

/* ---- arguments ---------------------------------------------------------------------------- */

static const lbp_args *h_args(lbp_layer *L) { return L ? &L->args : NULL; }

static lb_value *argv(const lbp_args *a, const char *name)
{
    return a && a->values ? lb_map_get(a->values, name) : NULL;
}

static int h_arg_given(const lbp_args *a, const char *name)
{
    for (size_t i = 0; a && a->params && a->params[i].name; i++)
        if (strcmp(a->params[i].name, name) == 0)
            return (a->given >> i) & 1;
    return 0;
}

static int h_arg_none(const lbp_args *a, const char *name)
{
    lb_value *v = argv(a, name);
    return !v || v->kind == LB_NONE;
}

static int64_t h_arg_int(const lbp_args *a, const char *name)
{
    lb_value *v = argv(a, name);
    return v && v->kind == LB_NUM ? (int64_t)v->u.num : v && v->kind == LB_BOOL ? v->u.b : 0;
}

static double h_arg_num(const lbp_args *a, const char *name)
{
    lb_value *v = argv(a, name);
    return v && v->kind == LB_NUM ? v->u.num : 0.0;
}

static int h_arg_bool(const lbp_args *a, const char *name)
{
    lb_value *v = argv(a, name);
    return v ? lb_truthy(v) : 0;
}

static const char *h_arg_str(const lbp_args *a, const char *name)
{
    lb_value *v = argv(a, name);
    return v && v->kind == LB_STR ? v->u.str.s : NULL;
}

static size_t h_arg_len(const lbp_args *a, const char *name)
{
    lb_value *v = argv(a, name);
    return v && v->kind == LB_LIST ? lb_list_len(v) : 0;
}

static double h_arg_item(const lbp_args *a, const char *name, size_t i)
{
    lb_value *v = argv(a, name);
    if (!v || v->kind != LB_LIST || i >= lb_list_len(v))
        return 0.0;
    lb_value *it = lb_list_get(v, i);
    return it->kind == LB_NUM ? it->u.num : 0.0;
}

/* ---- building ------------------------------------------------------------------------------ */

static int h_fail(lbp_layer *L, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lb_layer_fail(L, "%s", msg);
}

static int h_in_ndim(lbp_layer *L) { return L ? L->cur_ndim : 0; }

static int64_t h_in_dim(lbp_layer *L, int i)
{
    if (!L)
        return 0;
    if (i < 0)
        i += L->cur_ndim;
    return i >= 0 && i < L->cur_ndim ? L->cur_shape[i] : 0;
}

/* Named inputs: a layer of several (a model's root) has L->nin of them; any other layer one,
 * its current shape. */
static int h_in_count(lbp_layer *L) { return L ? (L->nin > 1 ? L->nin : 1) : 0; }

static int h_in_ndim_at(lbp_layer *L, int input)
{
    if (!L || input < 0 || input >= h_in_count(L))
        return 0;
    return L->nin > 1 ? L->ins_ndim[input] : L->cur_ndim;
}

static int64_t h_in_dim_at(lbp_layer *L, int input, int i)
{
    int nd = h_in_ndim_at(L, input);
    if (i < 0)
        i += nd;
    if (i < 0 || i >= nd)
        return 0;
    return L->nin > 1 ? L->ins_shape[input][i] : L->cur_shape[i];
}

static lbp_tensor *h_param(lbp_layer *L, const char *name, int ndim, const int64_t *shape,
                           int trainable)
{
    if (!L || !name || !L->m || L->m->failed || !L->m->dry)
        return NULL; /* parameters are made while the model is built only */
    for (int i = 0; i < L->nparams; i++)
        if (strcmp(L->params[i].name, name) == 0) {
            lb_layer_fail(L, "parameter '%s' is created twice", name);
            return NULL;
        }
    /* values, gradient and two optimizer states (Adam) of 4 bytes each, for this parameter and
     * the model's so far, against what the machine has available: refused before allocating */
    double numel = 1;
    for (int i = 0; i < ndim && shape; i++)
        numel *= shape[i] > 0 ? (double)shape[i] : 0;
    double need = 16 * (numel + (double)lb_params_numel(L->m->params, 0));
    int64_t avail = lb_mem_available();
    if (need > (double)avail) {
        char n[32], have[32];
        lb_format_bytes(need > 9e18 ? (int64_t)9e18 : (int64_t)need, n, sizeof n);
        lb_format_bytes(avail, have, sizeof have);
        lb_layer_fail(L, "parameter '%s' (%.0f values) would bring the model to %s with its gradients and "
                      "optimizer state, more than the %s this machine has available", name, numel, n, have);
        return NULL;
    }
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", L->path, L->path[0] ? "." : "", name);
    lb_status st = {0};
    lb_tensor *t = lb_params_add(L->m->params, full, ndim, shape, trainable, &st);
    if (!t) {
        lb_layer_fail(L, "cannot create parameter '%s': %s", name, st.msg);
        return NULL;
    }
    layer_param *np = realloc(L->params, (size_t)(L->nparams + 1) * sizeof *np);
    char *nm = strdup(name);
    if (!np || !nm) {
        free(nm);
        if (np)
            L->params = np;
        lb_layer_fail(L, "out of memory");
        return NULL;
    }
    L->params = np;
    L->params[L->nparams].name = nm;
    L->params[L->nparams].t = t;
    L->nparams++;
    return P(t);
}

static int h_child(lbp_layer *L, const char *fmt, ...)
{
    char src[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(src, sizeof src, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof src)
        return lb_layer_fail(L, "child layer source too long");
    return lb_layer_add_child(L, src);
}

static void h_set_state(lbp_layer *L, void *state)
{
    if (L)
        L->state = state;
}

static void *h_state(lbp_layer *L) { return L ? L->state : NULL; }

static void h_init_linear(lbp_layer *L, lbp_tensor *w, lbp_tensor *b)
{
    if (L && w)
        lb_init_linear(T(w), T(b), &L->m->init_rng);
}

static void h_init_uniform(lbp_layer *L, lbp_tensor *t, float lo, float hi)
{
    if (L && t)
        lb_init_uniform(T(t), lo, hi, &L->m->init_rng);
}

static void h_init_normal(lbp_layer *L, lbp_tensor *t, float mean, float std)
{
    if (L && t)
        lb_init_normal(T(t), mean, std, &L->m->init_rng);
}

static void h_init_const(lbp_layer *L, lbp_tensor *t, float v)
{
    (void)L;
    if (t)
        lb_init_const(T(t), v);
}

/* ---- running --------------------------------------------------------------------------------- */

static lbp_tensor *h_get_param(lbp_layer *L, const char *name)
{
    for (int i = 0; L && i < L->nparams; i++)
        if (strcmp(L->params[i].name, name) == 0)
            return P(L->params[i].t);
    return NULL;
}

static int h_nchildren(lbp_layer *L) { return L ? L->nkids : 0; }

static lbp_tensor *h_run_child(lbp_layer *L, int i, lbp_graph *g, lbp_tensor *x)
{
    if (!L || i < 0 || i >= L->nkids) {
        if (g && !lb_graph_error(G(g)))
            lb_status_set(lb_graph_status(G(g)), LB_EINDEX, "run_child: no child %d", i);
        return NULL;
    }
    return P(lb_layer_run(L->kids[i], G(g), T(x)));
}

static int h_training(lbp_layer *L) { return L && L->m ? L->m->training : 0; }

/* ---- tensors --------------------------------------------------------------------------------- */

static int h_ndim(const lbp_tensor *t) { return t ? ((const lb_tensor *)t)->ndim : 0; }

static int64_t h_dim(const lbp_tensor *t, int i)
{
    const lb_tensor *x = (const lb_tensor *)t;
    if (!x)
        return 0;
    if (i < 0)
        i += x->ndim;
    return i >= 0 && i < x->ndim ? x->shape[i] : 0;
}

static int64_t h_numel(const lbp_tensor *t) { return t ? ((const lb_tensor *)t)->numel : 0; }

static lbp_tensor *h_zeros(lbp_graph *g, int ndim, const int64_t *shape)
{
    return P(lb_zeros(G(g), ndim, shape));
}

static lbp_tensor *h_full(lbp_graph *g, int ndim, const int64_t *shape, float v)
{
    return P(lb_full(G(g), ndim, shape, v));
}

static lbp_tensor *h_graph_fail(lbp_graph *g, const char *fmt, ...)
{
    if (!g || lb_graph_error(G(g)))
        return NULL;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lb_status_set(lb_graph_status(G(g)), LB_EVALUE, "%s", msg);
    return NULL;
}

/* ---- ops --------------------------------------------------------------------------------------- */

#define OP1(name, fn) \
    static lbp_tensor *name(lbp_graph *g, lbp_tensor *x) { return P(fn(G(g), T(x))); }
#define OP2(name, fn) \
    static lbp_tensor *name(lbp_graph *g, lbp_tensor *a, lbp_tensor *b) { return P(fn(G(g), T(a), T(b))); }
#define OPF(name, fn) \
    static lbp_tensor *name(lbp_graph *g, lbp_tensor *x, float s) { return P(fn(G(g), T(x), s)); }
#define OPAX(name, fn) \
    static lbp_tensor *name(lbp_graph *g, lbp_tensor *x, int axis, int keep) { return P(fn(G(g), T(x), axis, keep)); }

OP2(h_add, lb_add)
OP2(h_sub, lb_sub)
OP2(h_mul, lb_mul)
OP2(h_div, lb_div)
OPF(h_add_scalar, lb_add_scalar)
OPF(h_mul_scalar, lb_mul_scalar)
OPF(h_pow, lb_pow)
OP1(h_exp, lb_exp)
OP1(h_log, lb_log)
OP1(h_sqrt, lb_sqrt)
OP1(h_tanh, lb_tanh)
OP1(h_sigmoid, lb_sigmoid)
OP1(h_relu, lb_relu)
OPF(h_leaky_relu, lb_leaky_relu)
OP1(h_gelu, lb_gelu)
OPAX(h_sum, lb_sum)
OPAX(h_mean, lb_mean)
OPAX(h_max, lb_max)
OP2(h_matmul, lb_matmul)
OP2(h_embedding, lb_embedding)

static lbp_tensor *h_reshape(lbp_graph *g, lbp_tensor *x, int ndim, const int64_t *shape)
{
    return P(lb_reshape(G(g), T(x), ndim, shape));
}

static lbp_tensor *h_flatten(lbp_graph *g, lbp_tensor *x, int start)
{
    return P(lb_flatten(G(g), T(x), start));
}

static lbp_tensor *h_transpose(lbp_graph *g, lbp_tensor *x, int a0, int a1)
{
    return P(lb_transpose(G(g), T(x), a0, a1));
}

static lbp_tensor *h_slice(lbp_graph *g, lbp_tensor *x, int axis, int64_t s, int64_t e, int64_t st)
{
    return P(lb_slice(G(g), T(x), axis, s, e, st));
}

static lbp_tensor *h_concat(lbp_graph *g, lbp_tensor *const *xs, int n, int axis)
{
    lb_tensor *ts[64];
    if (n < 0 || n > 64)
        return h_graph_fail(g, "concat: at most 64 tensors");
    for (int i = 0; i < n; i++)
        ts[i] = T(xs[i]);
    return P(lb_concat(G(g), ts, n, axis));
}

static lbp_tensor *h_linear(lbp_graph *g, lbp_tensor *x, lbp_tensor *w, lbp_tensor *b)
{
    return P(lb_linear(G(g), T(x), T(w), T(b)));
}

static lbp_tensor *h_conv2d(lbp_graph *g, lbp_tensor *x, lbp_tensor *w, lbp_tensor *b,
                            const lbp_conv *o)
{
    lb_conv_opts opts = {0};
    if (o) {
        opts.stride_h = o->stride_h;
        opts.stride_w = o->stride_w;
        opts.pad_h = o->pad_h;
        opts.pad_w = o->pad_w;
        opts.dil_h = o->dil_h;
        opts.dil_w = o->dil_w;
    }
    return P(lb_conv2d(G(g), T(x), T(w), T(b), &opts));
}

static lbp_tensor *h_maxpool2d(lbp_graph *g, lbp_tensor *x, int k, int s, int p)
{
    return P(lb_maxpool2d(G(g), T(x), k, s, p));
}

static lbp_tensor *h_avgpool2d(lbp_graph *g, lbp_tensor *x, int k, int s, int p)
{
    return P(lb_avgpool2d(G(g), T(x), k, s, p));
}

static lbp_tensor *h_dropout(lbp_layer *L, lbp_graph *g, lbp_tensor *x, float p)
{
    lb_model *m = L ? L->m : NULL;
    return P(lb_dropout(G(g), T(x), p, m ? m->training : 0, m && m->rng ? m->rng : NULL));
}

static lbp_tensor *h_softmax(lbp_graph *g, lbp_tensor *x, int axis)
{
    return P(lb_softmax(G(g), T(x), axis, NULL));
}

static lbp_tensor *h_log_softmax(lbp_graph *g, lbp_tensor *x, int axis)
{
    return P(lb_log_softmax(G(g), T(x), axis, NULL));
}

static lbp_tensor *h_layernorm(lbp_graph *g, lbp_tensor *x, lbp_tensor *w, lbp_tensor *b, float eps)
{
    return P(lb_layernorm(G(g), T(x), T(w), T(b), eps));
}

static lbp_tensor *h_batchnorm(lbp_layer *L, lbp_graph *g, lbp_tensor *x, lbp_tensor *w,
                               lbp_tensor *b, lbp_tensor *rm, lbp_tensor *rv, float momentum,
                               float eps)
{
    int training = L && L->m ? L->m->training : 0;
    return P(lb_batchnorm(G(g), T(x), T(w), T(b), T(rm), T(rv), training, momentum, eps));
}

static lbp_tensor *h_op(lbp_graph *g, const lbp_op *op, lbp_tensor *const *in, int nin,
                        int out_ndim, const int64_t *out_shape, const float *attr, int nattr)
{
    lb_tensor *ts[4] = {0};
    if (nin < 0 || nin > 4)
        return h_graph_fail(g, "custom op: 1 to 4 inputs");
    for (int i = 0; i < nin; i++)
        ts[i] = T(in[i]);
    return P(lb_plugin_custom_op(G(g), op, ts, nin, out_ndim, out_shape, attr, nattr));
}

static const lbp_host host_table = {
    .size = sizeof(lbp_host),
    .abi_version = LBP_ABI_VERSION,
    .host_version = LB_VERSION,
    .register_type = lb_host_register_type,
    .register_op = lb_host_register_op,
    .register_command = lb_host_register_command,
    .require = lb_host_require,
    .args = h_args,
    .arg_given = h_arg_given,
    .arg_none = h_arg_none,
    .arg_int = h_arg_int,
    .arg_num = h_arg_num,
    .arg_bool = h_arg_bool,
    .arg_str = h_arg_str,
    .arg_len = h_arg_len,
    .arg_item = h_arg_item,
    .fail = h_fail,
    .in_ndim = h_in_ndim,
    .in_dim = h_in_dim,
    .param = h_param,
    .child = h_child,
    .set_state = h_set_state,
    .state = h_state,
    .init_linear = h_init_linear,
    .init_uniform = h_init_uniform,
    .init_normal = h_init_normal,
    .init_const = h_init_const,
    .get_param = h_get_param,
    .nchildren = h_nchildren,
    .run_child = h_run_child,
    .training = h_training,
    .ndim = h_ndim,
    .dim = h_dim,
    .numel = h_numel,
    .zeros = h_zeros,
    .full = h_full,
    .graph_fail = h_graph_fail,
    .add = h_add,
    .sub = h_sub,
    .mul = h_mul,
    .div = h_div,
    .add_scalar = h_add_scalar,
    .mul_scalar = h_mul_scalar,
    .pow = h_pow,
    .exp = h_exp,
    .log = h_log,
    .sqrt = h_sqrt,
    .tanh = h_tanh,
    .sigmoid = h_sigmoid,
    .relu = h_relu,
    .leaky_relu = h_leaky_relu,
    .gelu = h_gelu,
    .sum = h_sum,
    .mean = h_mean,
    .max = h_max,
    .reshape = h_reshape,
    .flatten = h_flatten,
    .transpose = h_transpose,
    .slice = h_slice,
    .concat = h_concat,
    .matmul = h_matmul,
    .linear = h_linear,
    .conv2d = h_conv2d,
    .maxpool2d = h_maxpool2d,
    .avgpool2d = h_avgpool2d,
    .embedding = h_embedding,
    .dropout = h_dropout,
    .softmax = h_softmax,
    .log_softmax = h_log_softmax,
    .layernorm = h_layernorm,
    .batchnorm = h_batchnorm,
    .op = h_op,
    .call_args = lb_host_call_args,
    .call_nargs = lb_host_call_nargs,
    .call_num = lb_host_call_num,
    .call_str = lb_host_call_str,
    .call_print = lb_host_call_print,
    .call_fail = lb_host_call_fail,
    .call_model_params = lb_host_call_model_params,
    .in_count = h_in_count,
    .in_ndim_at = h_in_ndim_at,
    .in_dim_at = h_in_dim_at,
    .register_task = lb_host_register_task,
    .register_data = lb_host_register_data,
    .batch_field = lb_host_batch_field,
    .batch_size = lb_host_batch_size,
    .read = lb_host_read,
    .run_classes = lb_host_run_classes,
    .run_output = lb_host_run_output,
    .run_target = lb_host_run_target,
    .register_loss = lb_host_register_loss,
    .register_metric = lb_host_register_metric,
};

const lbp_host *lb_plugin_host_table(void) { return &host_table; }
