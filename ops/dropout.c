/* dropout.c — inverted dropout: a keep-mask drawn from the caller's PCG32 generator (one
 * uniform per element, in row-major order, so the same seed gives the same mask), scaled by
 * 1/(1-p); the backward pass multiplies by the same mask. */
#include "ops_impl.h"

static void dropout_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    const float *m = nd->aux;
    for (int64_t i = 0; i < y->numel; i++) gx[i] += y->grad[i] * m[i];
}

lb_tensor *lb_dropout(lb_graph *g, lb_tensor *x, float p, int training, lb_rng *rng) {
    LB_CHECK_IN(g, x);
    if (!(p >= 0 && p <= 1)) return lb_fail(g, LB_EVALUE, "dropout: probability %g is not in [0, 1]", (double)p);
    if (!training || p == 0) return x;
    if (!rng) return lb_fail(g, LB_EVALUE, "dropout: no random generator");
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    lb_tensor *y = lb_new(g, x->ndim, x->shape);
    float *m = y ? lb_alloc(g, (size_t)(x->numel ? x->numel : 1) * sizeof(float)) : NULL;
    if (!m) return NULL;
    float scale = p >= 1 ? 0.0f : 1.0f / (1.0f - p);
    for (int64_t i = 0; i < x->numel; i++) {
        m[i] = lb_rng_uniform(rng) < p ? 0.0f : scale;
        y->data[i] = x->data[i] * m[i];
    }
    lb_node *nd = lb_record(g, dropout_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) nd->aux = m;
    return y;
}
