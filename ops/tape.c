/* tape.c — reverse-mode autograd: recording nodes on the step tape, lazily zeroed gradient
 * buffers, the backward walk, and the differentiable strided copy used to make inputs
 * contiguous. */
#include "ops_impl.h"

lb_node *lb_record(lb_graph *g, lb_backward_fn bw, lb_tensor *out, int nin, lb_tensor *i0, lb_tensor *i1,
                   lb_tensor *i2, lb_tensor *i3) {
    if (!g->grad_enabled) return NULL;
    lb_tensor *ins[4] = {i0, i1, i2, i3};
    int any = 0;
    for (int i = 0; i < nin; i++)
        if (ins[i] && ins[i]->requires_grad) any = 1;
    if (!any) return NULL;
    lb_node *n = lb_alloc(g, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->bw = bw;
    n->out = out;
    for (int i = 0; i < nin; i++) n->in[i] = ins[i];
    n->prev = g->tape;
    g->tape = n;
    g->tape_len++;
    out->requires_grad = 1;
    return n;
}

float *lb_gradbuf(lb_graph *g, lb_tensor *t) {
    if (!t->grad) {
        t->grad = lb_alloc(g, (size_t)t->numel * sizeof(float));
        if (t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
    }
    return t->grad;
}

float *lb_gradbuf_fresh(lb_graph *g, lb_tensor *t, int *fresh) {
    *fresh = 0;
    if (!t->grad) {
        t->grad = lb_alloc(g, (size_t)t->numel * sizeof(float));
        *fresh = t->grad != NULL;
    }
    return t->grad;
}

int lb_backward(lb_graph *g, lb_tensor *loss) {
    if (g->st.code) return -1;
    if (!loss) { lb_fail(g, LB_EVALUE, "backward: no loss tensor"); return -1; }
    if (loss->numel != 1) {
        char b[64];
        lb_fail(g, LB_ESHAPE, "backward: loss must be a scalar, got shape %s", lb_shape_str(loss, b, sizeof b));
        return -1;
    }
    if (!loss->requires_grad) {
        lb_fail(g, LB_EVALUE, "backward: the loss does not depend on any tensor that requires a gradient");
        return -1;
    }
    if (g->backward_done) { lb_fail(g, LB_EVALUE, "backward: already called on this step's graph"); return -1; }
    float *lg = lb_gradbuf(g, loss);
    if (!lg) return -1;
    lg[0] += 1.0f;
    for (lb_node *n = g->tape; n; n = n->prev) {
        if (!n->out->grad) continue;
        n->bw(g, n);
        if (g->st.code) return -1;
    }
    g->backward_done = 1;
    return 0;
}

static void contig_bw(lb_graph *g, lb_node *n) {
    lb_tensor *x = n->in[0];
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    int64_t cs[LB_MAXDIM];
    lb_contig_strides(x->ndim, x->shape, cs);
    /* out is contiguous with x's shape; both grads are contiguous */
    lb_strided_acc(x->ndim, x->shape, gx, cs, n->out->grad, cs);
}

lb_tensor *lb_contig_in(lb_graph *g, lb_tensor *x) {
    if (!x) return NULL;
    if (lb_is_contiguous(x)) return x;
    lb_tensor *y = lb_new(g, x->ndim, x->shape);
    if (!y) return NULL;
    lb_copy_out(x, y->data);
    lb_record(g, contig_bw, y, 1, x, NULL, NULL, NULL);
    return y;
}

lb_tensor *lb_contiguous(lb_graph *g, lb_tensor *x) {
    LB_CHECK_IN(g, x);
    return lb_contig_in(g, x);
}
