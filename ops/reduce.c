/* reduce.c — reductions over one axis (sum, mean, max with argmax) and over everything (sum_all,
 * mean_all), forward and backward; argmax (not differentiable). */
#include <float.h>

#include "ops_impl.h"

/* Sum in double with 8 interleaved partial sums: a fixed order (deterministic) that does not
 * wait on one long chain of dependent adds. */
static double sum_d(const float *x, int64_t n) {
    double p[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) p[k] += x[i + k];
    double s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

/* x viewed as [outer, n, inner] around axis. */
static void split(const lb_tensor *x, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = 1; *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) *inner *= x->shape[i];
    *n = x->shape[axis];
}

static lb_tensor *out_for(lb_graph *g, const lb_tensor *x, int axis, int keepdim) {
    int64_t s[LB_MAXDIM];
    int k = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == axis) { if (keepdim) s[k++] = 1; }
        else s[k++] = x->shape[i];
    }
    return lb_new(g, k, s);
}

enum { R_SUM, R_MEAN, R_MAX };

static void reduce_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    int64_t outer, n, inner;
    split(x, (int)nd->ia[1], &outer, &n, &inner);
    const float *gy = y->grad;
    if (nd->ia[0] == R_MAX) {
        const int32_t *idx = nd->aux;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++)
                gx[(o * n + idx[o * inner + i]) * inner + i] += gy[o * inner + i];
        return;
    }
    float sc = nd->ia[0] == R_MEAN ? 1.0f / (float)n : 1.0f;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++) {
            float *d = gx + (o * n + k) * inner;
            const float *s = gy + o * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += s[i] * sc;
        }
}

static lb_tensor *reduce(lb_graph *g, int op, const char *name, lb_tensor *x, int axis, int keepdim) {
    LB_CHECK_IN(g, x);
    int ax = lb_norm_axis(axis, x->ndim);
    if (ax < 0) {
        char b[64];
        return lb_fail(g, LB_EINDEX, "%s: axis %d out of range for shape %s", name, axis, lb_shape_str(x, b, sizeof b));
    }
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    int64_t outer, n, inner;
    split(x, ax, &outer, &n, &inner);
    if (op == R_MAX && n == 0) return lb_fail(g, LB_ESHAPE, "%s: empty axis", name);
    lb_tensor *y = out_for(g, x, ax, keepdim);
    if (!y) return NULL;
    int32_t *idx = NULL;
    if (op == R_MAX) {
        idx = lb_alloc(g, (size_t)(outer * inner) * sizeof(int32_t));
        if (!idx) return NULL;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                const float *s = x->data + o * n * inner + i;
                float m = s[0];
                int32_t bi = 0;
                for (int64_t k = 1; k < n; k++)
                    if (s[k * inner] > m || (s[k * inner] != s[k * inner] && m == m)) { m = s[k * inner]; bi = (int32_t)k; }
                y->data[o * inner + i] = m;
                idx[o * inner + i] = bi;
            }
    } else {
        float sc = op == R_MEAN ? 1.0f / (float)n : 1.0f;
        for (int64_t o = 0; o < outer; o++) {
            float *d = y->data + o * inner;
            const float *s = x->data + o * n * inner;
            if (inner == 1) {
                d[0] = (float)sum_d(s, n) * sc;
            } else {
                for (int64_t i = 0; i < inner; i++) d[i] = 0;
                for (int64_t k = 0; k < n; k++)
                    for (int64_t i = 0; i < inner; i++) d[i] += s[k * inner + i];
                if (sc != 1.0f) for (int64_t i = 0; i < inner; i++) d[i] *= sc;
            }
        }
    }
    lb_node *nd = lb_record(g, reduce_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) { nd->ia[0] = op; nd->ia[1] = ax; nd->aux = idx; }
    return y;
}

lb_tensor *lb_sum(lb_graph *g, lb_tensor *x, int axis, int keepdim) { return reduce(g, R_SUM, "sum", x, axis, keepdim); }
lb_tensor *lb_mean(lb_graph *g, lb_tensor *x, int axis, int keepdim) { return reduce(g, R_MEAN, "mean", x, axis, keepdim); }
lb_tensor *lb_max(lb_graph *g, lb_tensor *x, int axis, int keepdim) { return reduce(g, R_MAX, "max", x, axis, keepdim); }

static void all_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0];
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    float v = nd->out->grad[0] * nd->fa[0];
    for (int64_t i = 0; i < x->numel; i++) gx[i] += v;
}

static lb_tensor *reduce_all(lb_graph *g, lb_tensor *x, int mean) {
    LB_CHECK_IN(g, x);
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    lb_tensor *y = lb_new(g, 0, NULL);
    if (!y) return NULL;
    double acc = sum_d(x->data, x->numel);
    float sc = mean ? 1.0f / (float)(x->numel ? x->numel : 1) : 1.0f;
    y->data[0] = (float)(acc * sc);
    lb_node *nd = lb_record(g, all_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) nd->fa[0] = sc;
    return y;
}

lb_tensor *lb_sum_all(lb_graph *g, lb_tensor *x) { return reduce_all(g, x, 0); }
lb_tensor *lb_mean_all(lb_graph *g, lb_tensor *x) { return reduce_all(g, x, 1); }

lb_tensor *lb_argmax(lb_graph *g, lb_tensor *x, int axis) {
    LB_CHECK_IN(g, x);
    int ax = lb_norm_axis(axis, x->ndim);
    if (ax < 0) {
        char b[64];
        return lb_fail(g, LB_EINDEX, "argmax: axis %d out of range for shape %s", axis, lb_shape_str(x, b, sizeof b));
    }
    int saved = g->grad_enabled;
    g->grad_enabled = 0;
    lb_tensor *xc = lb_contig_in(g, x);
    g->grad_enabled = saved;
    if (!xc) return NULL;
    int64_t outer, n, inner;
    split(xc, ax, &outer, &n, &inner);
    lb_tensor *y = out_for(g, xc, ax, 0);
    if (!y) return NULL;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *s = xc->data + o * n * inner + i;
            float m = -FLT_MAX;
            int64_t bi = 0;
            for (int64_t k = 0; k < n; k++)
                if (s[k * inner] > m) { m = s[k * inner]; bi = k; }
            y->data[o * inner + i] = (float)bi;
        }
    return y;
}
