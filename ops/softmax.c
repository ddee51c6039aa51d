/* softmax.c — softmax and log_softmax over any axis, with an optional mask broadcast to the
 * input (mask == 0 excludes a position, as masked_fill(-inf) would; a fully masked row gives
 * zeros / -inf rather than NaN). */
#include <math.h>

#include "ops_impl.h"

/* The mask expanded to x's shape (contiguous, 1 = keep), or NULL with the status set. */
static uint8_t *expand_mask(lb_graph *g, const char *name, lb_tensor *x, lb_tensor *m) {
    char s1[64], s2[64];
    int pad = x->ndim - m->ndim, ok = pad >= 0;
    int64_t ms[LB_MAXDIM];
    for (int i = 0; ok && i < x->ndim; i++) {
        int j = i - pad;
        if (j < 0) { ms[i] = 0; continue; }
        if (m->shape[j] == x->shape[i]) ms[i] = m->stride[j];
        else if (m->shape[j] == 1) ms[i] = 0;
        else ok = 0;
    }
    if (!ok) {
        lb_fail(g, LB_ESHAPE, "%s: mask %s cannot be broadcast to input %s", name, lb_shape_str(m, s1, sizeof s1),
                lb_shape_str(x, s2, sizeof s2));
        return NULL;
    }
    float *tmp = lb_alloc(g, (size_t)(x->numel ? x->numel : 1) * sizeof(float));
    uint8_t *out = lb_alloc(g, (size_t)(x->numel ? x->numel : 1));
    if (!tmp || !out) return NULL;
    int64_t cs[LB_MAXDIM];
    lb_contig_strides(x->ndim, x->shape, cs);
    lb_strided_copy(x->ndim, x->shape, tmp, cs, m->data, ms);
    for (int64_t i = 0; i < x->numel; i++) out[i] = tmp[i] != 0;
    return out;
}

static void softmax_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    int64_t outer = nd->ia[0], n = nd->ia[1], inner = nd->ia[2];
    int logsm = (int)nd->ia[3];
    const uint8_t *mask = nd->aux;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            const float *yr = y->data + base, *gr = y->grad + base;
            const uint8_t *mr = mask ? mask + base : NULL;
            float *dr = gx + base;
            double s = 0;
            if (logsm) {
                for (int64_t k = 0; k < n; k++) if (!mr || mr[k * inner]) s += gr[k * inner];
                for (int64_t k = 0; k < n; k++)
                    if (!mr || mr[k * inner]) dr[k * inner] += gr[k * inner] - expf(yr[k * inner]) * (float)s;
            } else {
                for (int64_t k = 0; k < n; k++) s += gr[k * inner] * yr[k * inner];
                for (int64_t k = 0; k < n; k++) dr[k * inner] += yr[k * inner] * (gr[k * inner] - (float)s);
            }
        }
}

static lb_tensor *softmax_op(lb_graph *g, lb_tensor *x, int axis, lb_tensor *mask, int logsm) {
    const char *name = logsm ? "log_softmax" : "softmax";
    LB_CHECK_IN(g, x);
    int ax = lb_norm_axis(axis, x->ndim);
    char b[64];
    if (ax < 0) return lb_fail(g, LB_EINDEX, "%s: axis %d out of range for shape %s", name, axis, lb_shape_str(x, b, sizeof b));
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    uint8_t *mk = NULL;
    if (mask && !(mk = expand_mask(g, name, x, mask))) return NULL;
    int64_t outer = 1, inner = 1, n = x->shape[ax];
    for (int i = 0; i < ax; i++) outer *= x->shape[i];
    for (int i = ax + 1; i < x->ndim; i++) inner *= x->shape[i];
    lb_tensor *y = lb_new(g, x->ndim, x->shape);
    if (!y) return NULL;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            const float *xr = x->data + base;
            const uint8_t *mr = mk ? mk + base : NULL;
            float *yr = y->data + base;
            float m = -INFINITY;
            for (int64_t k = 0; k < n; k++)
                if ((!mr || mr[k * inner]) && xr[k * inner] > m) m = xr[k * inner];
            if (m == -INFINITY) { /* everything masked (or -inf) */
                for (int64_t k = 0; k < n; k++) yr[k * inner] = logsm ? -INFINITY : 0.0f;
                continue;
            }
            double s = 0;
            for (int64_t k = 0; k < n; k++)
                if (!mr || mr[k * inner]) s += expf(xr[k * inner] - m);
            if (logsm) {
                float lse = m + (float)log(s);
                for (int64_t k = 0; k < n; k++) yr[k * inner] = (!mr || mr[k * inner]) ? xr[k * inner] - lse : -INFINITY;
            } else {
                float inv = (float)(1.0 / s);
                for (int64_t k = 0; k < n; k++)
                    yr[k * inner] = (!mr || mr[k * inner]) ? expf(xr[k * inner] - m) * inv : 0.0f;
            }
        }
    lb_node *nd = lb_record(g, softmax_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) { nd->ia[0] = outer; nd->ia[1] = n; nd->ia[2] = inner; nd->ia[3] = logsm; nd->aux = mk; }
    return y;
}

lb_tensor *lb_softmax(lb_graph *g, lb_tensor *x, int axis, lb_tensor *mask) { return softmax_op(g, x, axis, mask, 0); }
lb_tensor *lb_log_softmax(lb_graph *g, lb_tensor *x, int axis, lb_tensor *mask) { return softmax_op(g, x, axis, mask, 1); }
