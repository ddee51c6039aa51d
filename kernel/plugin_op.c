/* plugin_op.c — custom ops of plugins on the autograd tape (see plugin_op.h).
 * This is the one kernel file that uses ops/ops_impl.h (lb_record, lb_gradbuf): ops.h has no
 * public custom-op entry yet. */
#include <string.h>

#include "ops_impl.h"
#include "plugin_op.h"

typedef struct {
    const lbp_op *op;
    lbp_opcall call;
} custom_node;

static void custom_bw(lb_graph *g, lb_node *n)
{
    custom_node *c = n->aux;
    float *gin[4] = {0};
    for (int i = 0; i < c->call.nin; i++) {
        if (n->in[i] && n->in[i]->requires_grad) {
            gin[i] = lb_gradbuf(g, n->in[i]);
            if (!gin[i])
                return;
        }
    }
    c->op->backward(&c->call, n->out->grad, gin);
}

lb_tensor *lb_plugin_custom_op(lb_graph *g, const lbp_op *op, lb_tensor *const *in, int nin,
                               int out_ndim, const int64_t *out_shape, const float *attr, int nattr)
{
    if (!g)
        return NULL;
    if (g->st.code)
        return NULL;
    if (!op || !op->forward)
        return lb_fail(g, LB_EVALUE, "custom op: no op or no forward function");
    if (nin < 1 || nin > 4 || nin != op->nin)
        return lb_fail(g, LB_EVALUE, "custom op %s: takes %d inputs, got %d", op->name, op->nin, nin);
    if (out_ndim < 0 || out_ndim > LB_MAXDIM || (out_ndim && !out_shape))
        return lb_fail(g, LB_ESHAPE, "custom op %s: bad output rank %d", op->name, out_ndim);
    for (int d = 0; d < out_ndim; d++)
        if (out_shape[d] < 0)
            return lb_fail(g, LB_ESHAPE, "custom op %s: negative output dimension", op->name);
    if (nattr < 0 || nattr > 4)
        return lb_fail(g, LB_EVALUE, "custom op %s: at most 4 attributes", op->name);
    lb_tensor *x[4] = {0};
    for (int i = 0; i < nin; i++) {
        if (!in[i])
            return lb_fail(g, LB_EVALUE, "custom op %s: input %d is missing", op->name, i);
        x[i] = lb_contig_in(g, in[i]);
        if (!x[i])
            return NULL;
    }
    lb_tensor *out = lb_new(g, out_ndim, out_shape);
    custom_node *c = lb_alloc(g, sizeof *c);
    if (!out || !c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->op = op;
    c->call.nin = nin;
    for (int i = 0; i < nin; i++) {
        c->call.in[i] = x[i]->data;
        c->call.in_ndim[i] = x[i]->ndim;
        for (int d = 0; d < x[i]->ndim; d++)
            c->call.in_shape[i][d] = x[i]->shape[d];
    }
    c->call.out = out->data;
    c->call.out_ndim = out_ndim;
    for (int d = 0; d < out_ndim; d++)
        c->call.out_shape[d] = out_shape[d];
    for (int i = 0; i < nattr; i++)
        c->call.attr[i] = attr[i];
    memset(out->data, 0, (size_t)out->numel * sizeof(float));
    op->forward(&c->call);
    if (op->backward) {
        lb_node *n = lb_record(g, custom_bw, out, nin, x[0], x[1], x[2], x[3]);
        if (n)
            n->aux = c;
    }
    return out;
}
