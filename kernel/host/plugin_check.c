/* plugin_check.c — a finite-difference gradient check of a built model (plugins.h): the tape's
 * gradients of a loss with respect to the input and to every trainable parameter, compared with
 * central differences on a sample of entries. Used by %%plugin cells (plugin_cell.c, in a forked
 * child before a freshly compiled plugin is loaded) and by the unit tests of every layer type.
 *
 * The loss is L = sum(y * w) with fixed random weights w (not sum(y), whose gradient can hide
 * errors that cancel), evaluated in double precision from the float32 output. Every forward
 * starts from the same generator state, so dropout draws the same mask each time. Entries near
 * a kink (relu at 0, ties of max pooling) are recognised by their one-sided differences
 * disagreeing and are skipped; they say nothing about the backward pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/format.h"
#include "host/plugin_impl.h"

typedef struct {
    lb_model *m;
    const lb_gradcheck *o;
    lb_graph *g;
    int nin;        /* the model's inputs, each [B, *input i] */
    int ndim[LB_MODEL_MAXINPUTS];
    int64_t shape[LB_MODEL_MAXINPUTS][LB_MAXDIM];
    int64_t off[LB_MODEL_MAXINPUTS + 1]; /* where input i starts in x */
    char name[LB_MODEL_MAXINPUTS][80];   /* "input", or "input a" for named inputs */
    float *x;       /* every input's values, one after the other */
    int64_t nx;
    double *w;      /* loss weights, one per output element */
    int64_t nw;
    char err[300];
} ctx;

static void stage(const ctx *c, const char *fmt, const char *arg)
{
    if (c->o->stage) {
        char buf[200];
        snprintf(buf, sizeof buf, fmt, arg);
        c->o->stage(c->o->ctx, buf);
    }
}

/* The model's forward on the inputs in c->x (xs receives them as tensors of g). */
static lb_tensor *run_forward(ctx *c, lb_rng *rng, int grad_inputs, lb_tensor **xs)
{
    for (int k = 0; k < c->nin; k++) {
        xs[k] = lb_from_data(c->g, c->ndim[k], c->shape[k], c->x + c->off[k]);
        if (!xs[k])
            return NULL;
        if (grad_inputs)
            lb_set_requires_grad(xs[k], 1);
    }
    return lb_model_forward_inputs(c->m, c->g, xs, c->nin, c->o->training, rng);
}

/* The loss for the current input and parameters (no gradients), or NAN with c->err. */
static double loss_at(ctx *c)
{
    lb_graph_reset(c->g);
    lb_graph_set_grad(c->g, 0);
    lb_rng rng;
    lb_rng_seed(&rng, c->o->seed ^ 0xd1b54a32d192ed03ULL);
    lb_tensor *xs[LB_MODEL_MAXINPUTS];
    lb_tensor *y = run_forward(c, &rng, 0, xs);
    if (!y) {
        snprintf(c->err, sizeof c->err, "forward failed: %s",
                 lb_graph_error(c->g) ? lb_graph_error(c->g) : "no output");
        return NAN;
    }
    if (y->numel != c->nw) {
        snprintf(c->err, sizeof c->err, "the output size changed between runs (%lld, then %lld)",
                 (long long)c->nw, (long long)y->numel);
        return NAN;
    }
    float *yd = malloc((size_t)y->numel * sizeof *yd);
    if (!yd) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return NAN;
    }
    lb_copy_out(y, yd);
    double s = 0;
    for (int64_t i = 0; i < y->numel; i++)
        s += (double)yd[i] * c->w[i];
    free(yd);
    return s;
}

static void index_text(int ndim, const int64_t *shape, int64_t flat, char *buf, size_t n)
{
    int64_t idx[LB_MAXDIM] = {0};
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? flat % shape[d] : 0;
        flat = shape[d] ? flat / shape[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

typedef struct {
    const char *name;   /* "input" or the parameter's name */
    float *v;           /* the tensor's values */
    int64_t i;
    int ndim;
    const int64_t *shape;
    double a, n;        /* tape, central differences */
    bool skip;          /* next to a kink */
    int tensor;         /* which tensor (for its scale) */
} entry;

typedef struct {
    entry *e;
    size_t n, cap;
    int ntensors;
} entries;

/* Central difference of entry e with step h, and whether the one-sided slopes disagree. */
static int central(ctx *c, entry *e, double h, double f0, double *num, bool *kink)
{
    float save = e->v[e->i];
    h *= fmax(1.0, fabs((double)save)); /* relative for large values */
    e->v[e->i] = save + (float)h;
    double hp = (double)e->v[e->i] - save; /* the step float32 really took */
    double up = loss_at(c);
    e->v[e->i] = save - (float)h;
    double hm = save - (double)e->v[e->i];
    double down = loss_at(c);
    e->v[e->i] = save;
    if (isnan(up) || isnan(down) || !(hp > 0) || !(hm > 0))
        return -1;
    *num = (up - down) / (hp + hm);
    double dp = (up - f0) / hp, dm = (f0 - down) / hm;
    *kink = fabs(dp - dm) > 0.2 * fmax(fabs(dp), fabs(dm)) + 1e-3;
    return 0;
}

/* Samples entries of one tensor (values v, tape gradient ana) and computes their central
 * differences. Returns 0, or -1 (c->err) when the loss fails. */
static int sample_tensor(ctx *c, entries *E, const char *name, float *v, const float *ana, int ndim,
                         const int64_t *shape, int64_t n, double f0, lb_rng *pick)
{
    int k = c->o->samples > 0 ? c->o->samples : 24;
    double h = c->o->h > 0 ? c->o->h : 1e-2;
    int64_t cnt = n < k ? n : k;
    stage(c, "finite differences of %s", name);
    int tensor = E->ntensors++;
    for (int64_t j = 0; j < cnt; j++) {
        if (E->n == E->cap) {
            size_t nc = E->cap ? E->cap * 2 : 64;
            entry *ne = realloc(E->e, nc * sizeof *ne);
            if (!ne) {
                snprintf(c->err, sizeof c->err, "out of memory");
                return -1;
            }
            E->e = ne;
            E->cap = nc;
        }
        entry *e = &E->e[E->n];
        *e = (entry){.name = name, .v = v, .i = n <= k ? j : (int64_t)lb_rng_below(pick, (uint32_t)n),
                     .ndim = ndim, .shape = shape, .tensor = tensor};
        e->a = ana ? ana[e->i] : 0.0;
        if (central(c, e, h, f0, &e->n, &e->skip) < 0) {
            if (!c->err[0])
                snprintf(c->err, sizeof c->err, "the loss is not finite next to %s", name);
            return -1;
        }
        E->n++;
    }
    return 0;
}

/* Compares every sampled entry: the relative difference |a - n| / max(|a|, |n|, floor), with a
 * floor from the tensor's and the whole model's gradient scale (float32 noise on entries whose
 * gradient is ~0). An entry over tol is tried again with smaller steps (many small kinks, e.g.
 * relu after a convolution, fade with the step; a wrong backward does not). */
static int compare(ctx *c, entries *E, double f0, lb_gradcheck_result *r)
{
    double tol = c->o->tol > 0 ? c->o->tol : 0.1;
    double h = c->o->h > 0 ? c->o->h : 1e-2;
    double *tscale = calloc((size_t)E->ntensors + 1, sizeof *tscale);
    if (!tscale) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return -1;
    }
    double gscale = 0;
    for (size_t j = 0; j < E->n; j++) {
        entry *e = &E->e[j];
        if (e->skip)
            continue;
        double m = fmax(fabs(e->a), fabs(e->n));
        tscale[e->tensor] = fmax(tscale[e->tensor], m);
        gscale = fmax(gscale, m);
    }
    for (size_t j = 0; j < E->n; j++) {
        entry *e = &E->e[j];
        if (e->skip) {
            r->skipped++;
            continue;
        }
        r->checked++;
        double floor = fmax(fmax(0.02 * tscale[e->tensor], 1e-3 * gscale), 1e-7);
        double rel = fabs(e->a - e->n) / fmax(fmax(fabs(e->a), fabs(e->n)), floor);
        for (double hh = h / 10; rel > tol && hh >= h / 100; hh /= 10) {
            double num;
            bool kink;
            if (central(c, e, hh, f0, &num, &kink) < 0)
                break;
            double rr = fabs(e->a - num) / fmax(fmax(fabs(e->a), fabs(num)), floor);
            if (rr < rel) {
                rel = rr;
                e->n = num;
            }
        }
        if (rel > r->worst || !r->tensor[0]) {
            r->worst = rel;
            r->analytic = e->a;
            r->numeric = e->n;
            snprintf(r->tensor, sizeof r->tensor, "%s", e->name);
            index_text(e->ndim, e->shape, e->i, r->index, sizeof r->index);
        }
    }
    free(tscale);
    return 0;
}

/* The inputs' shapes (a batch of o->batch, default 2, of each of the model's input shapes) and
 * the numbers of input and output values. */
static void check_shapes(ctx *c)
{
    int64_t batch = c->o->batch > 0 ? c->o->batch : 2;
    c->nin = lb_model_ninputs(c->m);
    c->nx = 0;
    for (int k = 0; k < c->nin; k++) {
        int64_t in[LB_MAXDIM];
        int nd = lb_model_input_shape_at(c->m, k, in);
        c->ndim[k] = nd + 1;
        c->shape[k][0] = batch;
        int64_t n = batch;
        for (int i = 0; i < nd; i++) {
            c->shape[k][i + 1] = in[i];
            n *= in[i];
        }
        c->off[k] = c->nx;
        c->nx += n;
        snprintf(c->name[k], sizeof c->name[k], "input%s%s", c->nin > 1 ? " " : "",
                 c->nin > 1 ? lb_model_input_name(c->m, k) : "");
    }
    c->off[c->nin] = c->nx;
    int64_t out[LB_MAXDIM];
    int ond = lb_model_output_shape(c->m, out);
    c->nw = batch;
    for (int i = 0; i < ond; i++)
        c->nw *= out[i];
}

/* The tape's gradients of the loss: xgrad (with respect to the input, unless it holds token
 * ids) and grads[i] for every trainable parameter, copied before the finite differences
 * rerun the model. */
static int tape_gradients(ctx *c, lb_params *P, int np, float **grads, float **xgrad,
                          lb_error *err)
{
    const lb_gradcheck *o = c->o;
    char what[160], in[96];
    lb_format_shape(c->ndim[0] - 1, c->shape[0] + 1, in, sizeof in);
    snprintf(what, sizeof what, "forward and backward at batch %lld, input %s (%s mode)", (long long)c->shape[0][0],
             in, o->training ? "training" : "evaluation");
    stage(c, "%s", what);
    lb_params_zero_grad(P);
    lb_graph_reset(c->g);
    lb_graph_set_grad(c->g, 1);
    lb_rng drop;
    lb_rng_seed(&drop, o->seed ^ 0xd1b54a32d192ed03ULL);
    lb_tensor *xs[LB_MODEL_MAXINPUTS] = {0};
    lb_tensor *y = run_forward(c, &drop, o->ids_max <= 0, xs);
    lb_tensor *wt = NULL;
    if (y && y->numel == c->nw) {
        float *wf = lb_arena_alloc(lb_graph_arena(c->g), (size_t)(c->nw ? c->nw : 1) * sizeof *wf);
        for (int64_t i = 0; wf && i < c->nw; i++)
            wf[i] = (float)c->w[i];
        if (wf)
            wt = lb_wrap(c->g, y->ndim, y->shape, wf);
    }
    lb_tensor *loss = wt ? lb_sum_all(c->g, lb_mul(c->g, lb_contiguous(c->g, y), wt)) : NULL;
    if (!loss || lb_backward(c->g, loss) < 0)
        return lb_error_set(err, "GradientCheckError", 0, 0,
                            "forward/backward on a random input failed: %s",
                            lb_graph_error(c->g) ? lb_graph_error(c->g) : "the output has the wrong size");
    if (o->ids_max <= 0) {
        *xgrad = calloc((size_t)(c->nx ? c->nx : 1), sizeof **xgrad);
        if (!*xgrad)
            return lb_oom(err);
        for (int k = 0; k < c->nin; k++)
            if (xs[k]->grad)
                memcpy(*xgrad + c->off[k], xs[k]->grad,
                       (size_t)(c->off[k + 1] - c->off[k]) * sizeof **xgrad);
    }
    for (int i = 0; i < np; i++) {
        lb_tensor *t = lb_params_get(P, i);
        if (!t->trainable || !t->numel)
            continue;
        grads[i] = malloc((size_t)t->numel * sizeof **grads);
        if (!grads[i])
            return lb_oom(err);
        if (t->grad)
            memcpy(grads[i], t->grad, (size_t)t->numel * sizeof **grads);
        else
            memset(grads[i], 0, (size_t)t->numel * sizeof **grads);
    }
    return 0;
}

/* Central differences on a sample of the input's entries (unless token ids) and of every
 * parameter's, compared with the tape's gradients into *r. -1 with c->err when the loss
 * fails. */
static int finite_differences(ctx *c, lb_params *P, int np, float **grads, const float *xgrad,
                              lb_gradcheck_result *r)
{
    double f0 = loss_at(c);
    lb_rng pick;
    lb_rng_seed(&pick, c->o->seed + 17);
    if (isnan(f0))
        return -1;
    entries E = {0};
    for (int k = 0; c->o->ids_max <= 0 && k < c->nin; k++)
        if (sample_tensor(c, &E, c->name[k], c->x + c->off[k], xgrad + c->off[k], c->ndim[k],
                          c->shape[k], c->off[k + 1] - c->off[k], f0, &pick) < 0) {
            free(E.e);
            return -1;
        }
    for (int i = 0; i < np; i++) {
        lb_tensor *t = lb_params_get(P, i);
        if (!grads[i] || !lb_is_contiguous(t)) /* parameters always are contiguous */
            continue;
        if (sample_tensor(c, &E, t->name ? t->name : "parameter", t->data, grads[i], t->ndim,
                          t->shape, t->numel, f0, &pick) < 0) {
            free(E.e);
            return -1;
        }
    }
    stage(c, "comparing%s", "");
    int cr = compare(c, &E, f0, r);
    free(E.e);
    return cr;
}

int lb_gradcheck_model(lb_model *m, const lb_gradcheck *o, lb_gradcheck_result *r, lb_error *err)
{
    memset(r, 0, sizeof *r);
    ctx c = {.m = m, .o = o};
    check_shapes(&c);
    c.g = lb_graph_new();
    c.x = malloc((size_t)c.nx * sizeof *c.x);
    c.w = malloc((size_t)(c.nw ? c.nw : 1) * sizeof *c.w);
    lb_params *P = lb_model_params(m);
    int np = lb_params_count(P);
    float **grads = calloc((size_t)np + 1, sizeof *grads);
    float *xgrad = NULL;
    int rc = -1;
    if (!c.g || !c.x || !c.w || !grads) {
        lb_oom(err);
        goto done;
    }
    lb_rng rng;
    lb_rng_seed(&rng, o->seed);
    for (int64_t i = 0; i < c.nx; i++)
        c.x[i] = o->ids_max > 0 ? (float)lb_rng_below(&rng, (uint32_t)o->ids_max)
                                : (float)lb_rng_normal(&rng);
    for (int64_t i = 0; i < c.nw; i++)
        c.w[i] = lb_rng_normal(&rng);
    if (tape_gradients(&c, P, np, grads, &xgrad, err) < 0)
        goto done;
    if (o->run_only) {
        rc = 0;
        goto done;
    }
    if (finite_differences(&c, P, np, grads, xgrad, r) < 0) {
        lb_error_set(err, "GradientCheckError", 0, 0, "%s", c.err[0] ? c.err : "the loss failed");
        goto done;
    }
    double tol = o->tol > 0 ? o->tol : 0.1;
    rc = r->worst > tol ? 1 : 0;
done:
    for (int i = 0; grads && i < np; i++)
        free(grads[i]);
    free(grads);
    free(xgrad);
    free(c.x);
    free(c.w);
    lb_graph_free(c.g);
    return rc;
}
