/* plugin_op.c — custom ops of plugins on the autograd tape (see plugin_op.h), built on the
 * engine's public custom-op entry (lb_custom_op in ops/ops.h). */
#include <string.h>

#include "host/plugin_impl.h"
#include "host/plugin_op.h"

typedef struct {
    const lbp_op *op;
    struct lbp_plugin *p;   /* whose code runs (the plugin whose layer called the op) */
    lb_status *st;          /* the graph's: a crash in forward is reported there */
    lbp_opcall call;
} plugin_ctx;

/* Runs on lb_custom_op's arena copy of the context, so the call it fills in is the one the
 * backward pass sees. */
static int plugin_fwd(lb_custom_call *c)
{
    plugin_ctx *p = c->ctx;
    for (int i = 0; i < c->n_inputs; i++) {
        p->call.in[i] = c->in[i]->data;
        p->call.in_ndim[i] = c->in[i]->ndim;
        for (int d = 0; d < c->in[i]->ndim; d++)
            p->call.in_shape[i][d] = c->in[i]->shape[d];
    }
    p->call.out = c->out->data;
    int sig;
    LB_PLUGIN_CALL(sig, p->p, "op", p->op->name, "forward", p->op->forward(&p->call));
    if (sig) {
        const char *msg = lb_fault_pending();
        lb_status_set(p->st, LB_EVALUE, "%s", msg ? msg : "a plugin crashed");
        return -1;
    }
    return 0;
}

/* A crash here has no error channel: it stays pending (base/fault.h) and the trainer, which
 * checks after the backward pass, ends the step before the optimizer runs. */
static void plugin_bwd(const lb_custom_call *c, const float *gout, float *const *gin)
{
    const plugin_ctx *p = c->ctx;
    if (lb_plugin_disabled(p->p))
        return;
    int sig;
    LB_PLUGIN_CALL(sig, p->p, "op", p->op->name, "backward", p->op->backward(&p->call, gout, gin));
    (void)sig;
}

lb_tensor *lb_plugin_custom_op(lb_graph *g, const lbp_op *op, lb_tensor *const *in, int nin,
                               int out_ndim, const int64_t *out_shape, const float *attr, int nattr)
{
    if (!g || lb_graph_error(g))
        return NULL;
    lb_status *st = lb_graph_status(g);
    if (!op || !op->forward) {
        lb_status_set(st, LB_EVALUE, "custom op: no op or no forward function");
        return NULL;
    }
    if (nin < 1 || nin > 4 || nin != op->nin) {
        lb_status_set(st, LB_EVALUE, "custom op %s: takes %d inputs, got %d", op->name, op->nin, nin);
        return NULL;
    }
    if (out_ndim < 0 || out_ndim > LB_MAXDIM || (out_ndim && !out_shape)) {
        lb_status_set(st, LB_ESHAPE, "custom op %s: bad output rank %d", op->name, out_ndim);
        return NULL;
    }
    for (int d = 0; d < out_ndim; d++) {
        if (out_shape[d] < 0) {
            lb_status_set(st, LB_ESHAPE, "custom op %s: negative output dimension", op->name);
            return NULL;
        }
    }
    if (nattr < 0 || nattr > 4 || (nattr && !attr)) {
        lb_status_set(st, LB_EVALUE, "custom op %s: at most 4 attributes", op->name);
        return NULL;
    }
    for (int i = 0; i < nin; i++) {
        if (!in[i]) {
            lb_status_set(st, LB_EVALUE, "custom op %s: input %d is missing", op->name, i);
            return NULL;
        }
    }
    plugin_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.op = op;
    ctx.p = lb_plugin_current();
    ctx.st = st;
    char why[600];
    if (lb_plugin_disabled_text(ctx.p, why, sizeof why)) {
        lb_status_set(st, LB_EVALUE, "%s", why);
        return NULL;
    }
    ctx.call.nin = nin;
    ctx.call.out_ndim = out_ndim;
    for (int d = 0; d < out_ndim; d++)
        ctx.call.out_shape[d] = out_shape[d];
    for (int i = 0; i < nattr; i++)
        ctx.call.attr[i] = attr[i];
    /* lb_custom_op keeps the name pointer for its messages: the op's own outlives the step */
    return lb_custom_op(g, op->name ? op->name : "custom op", nin, in, out_ndim, out_shape, plugin_fwd,
                        op->backward ? plugin_bwd : NULL, &ctx, sizeof ctx);
}
