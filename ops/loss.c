/* loss.c — losses: fused cross-entropy (log_softmax + NLL in one pass, ignore_index, label
 * smoothing, mean over the counted rows, as PyTorch F.cross_entropy) and mean squared error. */
#include <math.h>

#include "ops_impl.h"

typedef struct { int32_t *tgt; float *lse; int64_t count; } ce_aux;

static void ce_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    const ce_aux *a = nd->aux;
    int64_t N = x->shape[0], C = x->shape[1];
    float eps = nd->fa[0];
    if (a->count == 0) return;
    float sc = y->grad[0] / (float)a->count, off = eps / (float)C;
    for (int64_t i = 0; i < N; i++) {
        if (a->tgt[i] < 0) continue;
        const float *xr = x->data + i * C;
        float *dr = gx + i * C, lse = a->lse[i];
        for (int64_t c = 0; c < C; c++) dr[c] += sc * (expf(xr[c] - lse) - off);
        dr[a->tgt[i]] -= sc * (1.0f - eps);
    }
}

lb_tensor *lb_cross_entropy(lb_graph *g, lb_tensor *logits, lb_tensor *targets, int ignore_index,
                            float label_smoothing) {
    LB_CHECK_IN(g, logits);
    LB_CHECK_IN(g, targets);
    char s1[64], s2[64];
    if (logits->ndim != 2 || targets->ndim != 1 || targets->shape[0] != logits->shape[0])
        return lb_fail(g, LB_ESHAPE, "cross_entropy: logits %s and targets %s do not match (expected [N, C] and [N])",
                       lb_shape_str(logits, s1, sizeof s1), lb_shape_str(targets, s2, sizeof s2));
    if (!(label_smoothing >= 0 && label_smoothing <= 1))
        return lb_fail(g, LB_EVALUE, "cross_entropy: label_smoothing %g is not in [0, 1]", (double)label_smoothing);
    lb_tensor *x = lb_contig_in(g, logits);
    if (!x) return NULL;
    int64_t N = x->shape[0], C = x->shape[1];
    ce_aux *a = lb_alloc(g, sizeof *a);
    if (!a) return NULL;
    a->tgt = lb_alloc(g, (size_t)(N ? N : 1) * sizeof(int32_t));
    a->lse = lb_alloc(g, (size_t)(N ? N : 1) * sizeof(float));
    if (!a->tgt || !a->lse) return NULL;
    a->count = 0;
    double total = 0;
    float eps = label_smoothing;
    for (int64_t i = 0; i < N; i++) {
        float tv = lb_get(targets, i);
        if (tv == (float)ignore_index) { a->tgt[i] = -1; a->lse[i] = 0; continue; }
        if (!(tv >= 0 && tv < (float)C) || tv != (float)(int64_t)tv)
            return lb_fail(g, LB_EINDEX, "cross_entropy: target %g out of range for %lld classes", (double)tv, (long long)C);
        int32_t t = (int32_t)tv;
        const float *xr = x->data + i * C;
        float m = xr[0];
        for (int64_t c = 1; c < C; c++) if (xr[c] > m) m = xr[c];
        double s = 0, sx = 0;
        for (int64_t c = 0; c < C; c++) { s += expf(xr[c] - m); sx += xr[c]; }
        float lse = m + (float)log(s);
        a->tgt[i] = t;
        a->lse[i] = lse;
        double nll = lse - xr[t];
        double smooth = eps > 0 ? (lse * (double)C - sx) / (double)C : 0.0; /* -mean_c log p_c */
        total += (1.0 - eps) * nll + eps * smooth;
        a->count++;
    }
    lb_tensor *y = lb_new(g, 0, NULL);
    if (!y) return NULL;
    y->data[0] = a->count ? (float)(total / (double)a->count) : NAN;
    lb_node *nd = lb_record(g, ce_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) { nd->aux = a; nd->fa[0] = eps; }
    return y;
}

static void mse_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *t = nd->in[1], *y = nd->out;
    int64_t n = x->numel;
    float sc = 2.0f * y->grad[0] / (float)(n ? n : 1);
    float *gx = x->requires_grad ? lb_gradbuf(g, x) : NULL;
    float *gt = t->requires_grad ? lb_gradbuf(g, t) : NULL;
    for (int64_t i = 0; i < n; i++) {
        float d = sc * (x->data[i] - t->data[i]);
        if (gx) gx[i] += d;
        if (gt) gt[i] -= d;
    }
}

lb_tensor *lb_mse_loss(lb_graph *g, lb_tensor *x, lb_tensor *t) {
    LB_CHECK_IN(g, x);
    LB_CHECK_IN(g, t);
    char s1[64], s2[64];
    if (!lb_same_shape(x, t))
        return lb_fail(g, LB_ESHAPE, "mse_loss: shapes %s and %s do not match", lb_shape_str(x, s1, sizeof s1),
                       lb_shape_str(t, s2, sizeof s2));
    x = lb_contig_in(g, x);
    t = lb_contig_in(g, t);
    if (!x || !t) return NULL;
    double acc = 0;
    for (int64_t i = 0; i < x->numel; i++) { double d = (double)x->data[i] - t->data[i]; acc += d * d; }
    lb_tensor *y = lb_new(g, 0, NULL);
    if (!y) return NULL;
    y->data[0] = x->numel ? (float)(acc / (double)x->numel) : NAN;
    lb_record(g, mse_bw, y, 2, x, t, NULL, NULL);
    return y;
}
