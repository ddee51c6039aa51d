/* norm.c — layer normalisation over the last axis and batch normalisation per channel
 * (train: batch statistics and running-stat update as PyTorch; eval: running statistics),
 * forward and backward, with mean and 1/std kept for the backward pass. */
#include <math.h>

#include "ops_impl.h"

static void layernorm_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const float *mean = nd->aux, *rstd = nd->aux2;
    int64_t D = x->shape[x->ndim - 1], R = x->numel / (D ? D : 1);
    float *gx = x->requires_grad ? lb_gradbuf(g, x) : NULL;
    float *gw = w && w->requires_grad ? lb_gradbuf(g, w) : NULL;
    float *gb = b && b->requires_grad ? lb_gradbuf(g, b) : NULL;
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x->data + r * D, *gr = y->grad + r * D;
        float mu = mean[r], rs = rstd[r];
        double sd = 0, sdx = 0;
        for (int64_t j = 0; j < D; j++) {
            float xh = (xr[j] - mu) * rs;
            float dn = gr[j] * (w ? w->data[j] : 1.0f);
            sd += dn;
            sdx += dn * xh;
            if (gw) gw[j] += gr[j] * xh;
            if (gb) gb[j] += gr[j];
        }
        if (gx) {
            float md = (float)(sd / (double)D), mdx = (float)(sdx / (double)D);
            float *dr = gx + r * D;
            for (int64_t j = 0; j < D; j++) {
                float xh = (xr[j] - mu) * rs;
                float dn = gr[j] * (w ? w->data[j] : 1.0f);
                dr[j] += rs * (dn - md - xh * mdx);
            }
        }
    }
}

lb_tensor *lb_layernorm(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, float eps) {
    LB_CHECK_IN(g, x);
    char s1[64], s2[64];
    if (x->ndim < 1) return lb_fail(g, LB_ESHAPE, "layernorm: input must have at least 1 dimension");
    int64_t D = x->shape[x->ndim - 1];
    if ((w && w->numel != D) || (b && b->numel != D))
        return lb_fail(g, LB_ESHAPE, "layernorm: input %s and weight %s do not match", lb_shape_str(x, s1, sizeof s1),
                       lb_shape_str(w && w->numel != D ? w : b, s2, sizeof s2));
    x = lb_contig_in(g, x);
    if (w) w = lb_contig_in(g, w);
    if (b) b = lb_contig_in(g, b);
    if (!x) return NULL;
    int64_t R = x->numel / (D ? D : 1);
    lb_tensor *y = lb_new(g, x->ndim, x->shape);
    float *mean = lb_alloc(g, (size_t)(R ? R : 1) * sizeof(float));
    float *rstd = lb_alloc(g, (size_t)(R ? R : 1) * sizeof(float));
    if (!y || !mean || !rstd) return NULL;
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x->data + r * D;
        float *yr = y->data + r * D;
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j];
        double mu = s / (double)D;
        for (int64_t j = 0; j < D; j++) { double d = xr[j] - mu; s2 += d * d; }
        float rs = (float)(1.0 / sqrt(s2 / (double)D + eps));
        mean[r] = (float)mu;
        rstd[r] = rs;
        for (int64_t j = 0; j < D; j++) {
            float v = (xr[j] - (float)mu) * rs;
            if (w) v *= w->data[j];
            if (b) v += b->data[j];
            yr[j] = v;
        }
    }
    lb_node *nd = lb_record(g, layernorm_bw, y, 3, x, w, b, NULL);
    if (nd) { nd->aux = mean; nd->aux2 = rstd; }
    return y;
}

/* ---- batch norm: x viewed as [N, C, S] ---- */
static void batchnorm_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const float *mean = nd->aux, *rstd = nd->aux2;
    int training = (int)nd->ia[0];
    int64_t N = x->shape[0], C = x->shape[1], S = x->numel / ((N * C) != 0 ? N * C : 1);
    float *gx = x->requires_grad ? lb_gradbuf(g, x) : NULL;
    float *gw = w && w->requires_grad ? lb_gradbuf(g, w) : NULL;
    float *gb = b && b->requires_grad ? lb_gradbuf(g, b) : NULL;
    double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        float mu = mean[c], rs = rstd[c], wc = w ? w->data[c] : 1.0f;
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->data + (n * C + c) * S, *gr = y->grad + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) { sg += gr[s]; sgx += gr[s] * (xr[s] - mu) * rs; }
        }
        if (gw) gw[c] += (float)sgx;
        if (gb) gb[c] += (float)sg;
        if (!gx) continue;
        float k1 = (float)(sg / M), k2 = (float)(sgx / M);
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->data + (n * C + c) * S, *gr = y->grad + (n * C + c) * S;
            float *dr = gx + (n * C + c) * S;
            if (training)
                for (int64_t s = 0; s < S; s++) {
                    float xh = (xr[s] - mu) * rs;
                    dr[s] += wc * rs * (gr[s] - k1 - xh * k2);
                }
            else
                for (int64_t s = 0; s < S; s++) dr[s] += wc * rs * gr[s];
        }
    }
}

lb_tensor *lb_batchnorm(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, lb_tensor *running_mean,
                        lb_tensor *running_var, int training, float momentum, float eps) {
    LB_CHECK_IN(g, x);
    char s1[64], s2[64];
    if (x->ndim < 2) return lb_fail(g, LB_ESHAPE, "batchnorm: expects [N, C, ...], got %s", lb_shape_str(x, s1, sizeof s1));
    int64_t N = x->shape[0], C = x->shape[1], S = x->numel / ((N * C) != 0 ? N * C : 1);
    lb_tensor *chk[4] = {w, b, running_mean, running_var};
    for (int i = 0; i < 4; i++)
        if (chk[i] && chk[i]->numel != C)
            return lb_fail(g, LB_ESHAPE, "batchnorm: input %s and parameter %s do not match", lb_shape_str(x, s1, sizeof s1),
                           lb_shape_str(chk[i], s2, sizeof s2));
    if (!training && (!running_mean || !running_var))
        return lb_fail(g, LB_EVALUE, "batchnorm: evaluation needs running statistics");
    if (training && N * S <= 1)
        return lb_fail(g, LB_EVALUE, "batchnorm: expected more than 1 value per channel when training, got input %s",
                       lb_shape_str(x, s1, sizeof s1));
    x = lb_contig_in(g, x);
    if (w) w = lb_contig_in(g, w);
    if (b) b = lb_contig_in(g, b);
    if (!x) return NULL;
    lb_tensor *y = lb_new(g, x->ndim, x->shape);
    float *mean = lb_alloc(g, (size_t)C * sizeof(float)), *rstd = lb_alloc(g, (size_t)C * sizeof(float));
    if (!y || !mean || !rstd) return NULL;
    double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double mu, var;
        if (training) {
            double s = 0, s2 = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *xr = x->data + (n * C + c) * S;
                for (int64_t k = 0; k < S; k++) s += xr[k];
            }
            mu = s / M;
            for (int64_t n = 0; n < N; n++) {
                const float *xr = x->data + (n * C + c) * S;
                for (int64_t k = 0; k < S; k++) { double d = xr[k] - mu; s2 += d * d; }
            }
            var = s2 / M;
            if (running_mean) running_mean->data[c] = (float)((1.0 - momentum) * running_mean->data[c] + momentum * mu);
            if (running_var)
                running_var->data[c] = (float)((1.0 - momentum) * running_var->data[c] + momentum * s2 / (M - 1.0));
        } else {
            mu = running_mean->data[c];
            var = running_var->data[c];
        }
        float m = (float)mu, rs = (float)(1.0 / sqrt(var + eps));
        mean[c] = m;
        rstd[c] = rs;
        float wc = w ? w->data[c] : 1.0f, bc = b ? b->data[c] : 0.0f;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->data + (n * C + c) * S;
            float *yr = y->data + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) yr[k] = (xr[k] - m) * rs * wc + bc;
        }
    }
    lb_node *nd = lb_record(g, batchnorm_bw, y, 3, x, w, b, NULL);
    if (nd) { nd->aux = mean; nd->aux2 = rstd; nd->ia[0] = training; }
    return y;
}
