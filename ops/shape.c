/* shape.c — views and copies that change shape: reshape/flatten (a view of contiguous data),
 * transpose and permute (stride views), slice (offset + stride view), concat (copy). A view's
 * backward accumulates its contiguous gradient into the matching strided region of the
 * input's gradient. */
#include "ops_impl.h"

/* ia[0] = offset into x->grad, ia[1..4] = strides into x->grad, in the out's index space. */
static void view_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    if (nd->ia[5] && !x->grad) { /* same layout and y's gradient is final: share the buffer */
        x->grad = y->grad;
        return;
    }
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    int64_t cs[LB_MAXDIM], ds[LB_MAXDIM];
    lb_contig_strides(y->ndim, y->shape, cs);
    for (int i = 0; i < y->ndim; i++) ds[i] = nd->ia[1 + i];
    if (nd->ia[5]) { /* same layout: plain accumulate */
        for (int64_t i = 0; i < y->numel; i++) gx[i] += y->grad[i];
        return;
    }
    lb_strided_acc(y->ndim, y->shape, gx + nd->ia[0], ds, y->grad, cs);
}

static lb_tensor *view_of(lb_graph *g, lb_tensor *x, int ndim, const int64_t *shape, const int64_t *stride,
                          int64_t offset, const int64_t *gstride, int64_t goffset, int flat) {
    lb_tensor *y = lb_header(g, ndim, shape, stride, x->data + offset);
    if (!y) return NULL;
    lb_node *nd = lb_record(g, view_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) {
        nd->ia[0] = goffset;
        for (int i = 0; i < ndim; i++) nd->ia[1 + i] = gstride[i];
        nd->ia[5] = flat;
    }
    return y;
}

lb_tensor *lb_reshape(lb_graph *g, lb_tensor *x, int ndim, const int64_t *shape) {
    LB_CHECK_IN(g, x);
    char b1[64];
    if (ndim < 0 || ndim > LB_MAXDIM) return lb_fail(g, LB_ESHAPE, "reshape: %d dimensions (at most 4)", ndim);
    int64_t s[LB_MAXDIM], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            if (infer >= 0) return lb_fail(g, LB_ESHAPE, "reshape: only one dimension can be -1");
            infer = i;
        } else if (s[i] < 0) {
            return lb_fail(g, LB_ESHAPE, "reshape: negative dimension %lld", (long long)s[i]);
        } else {
            known *= s[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known)
            return lb_fail(g, LB_ESHAPE, "reshape: cannot reshape %s (%lld elements) with a -1 dimension",
                           lb_shape_str(x, b1, sizeof b1), (long long)x->numel);
        s[infer] = x->numel / known;
        known *= s[infer];
    }
    if (known != x->numel) {
        lb_tensor tmp = {0};
        tmp.ndim = ndim;
        for (int i = 0; i < ndim; i++) tmp.shape[i] = s[i];
        char b2[64];
        return lb_fail(g, LB_ESHAPE, "reshape: cannot reshape %s into %s", lb_shape_str(x, b1, sizeof b1),
                       lb_shape_str(&tmp, b2, sizeof b2));
    }
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    int64_t cs[LB_MAXDIM];
    lb_contig_strides(ndim, s, cs);
    return view_of(g, x, ndim, s, cs, 0, cs, 0, 1);
}

lb_tensor *lb_flatten(lb_graph *g, lb_tensor *x, int start_axis) {
    LB_CHECK_IN(g, x);
    int ax = lb_norm_axis(start_axis, x->ndim);
    if (ax < 0) return lb_fail(g, LB_EINDEX, "flatten: axis %d out of range", start_axis);
    int64_t s[LB_MAXDIM];
    for (int i = 0; i < ax; i++) s[i] = x->shape[i];
    s[ax] = 1;
    for (int i = ax; i < x->ndim; i++) s[ax] *= x->shape[i];
    return lb_reshape(g, x, ax + 1, s);
}

lb_tensor *lb_permute(lb_graph *g, lb_tensor *x, const int *perm) {
    LB_CHECK_IN(g, x);
    int seen[LB_MAXDIM] = {0};
    int64_t s[LB_MAXDIM], st[LB_MAXDIM], gs[LB_MAXDIM], cs[LB_MAXDIM];
    lb_contig_strides(x->ndim, x->shape, cs);
    for (int i = 0; i < x->ndim; i++) {
        int p = lb_norm_axis(perm[i], x->ndim);
        if (p < 0 || seen[p]) return lb_fail(g, LB_EINDEX, "permute: invalid permutation for %d dimensions", x->ndim);
        seen[p] = 1;
        s[i] = x->shape[p];
        st[i] = x->stride[p];
        gs[i] = cs[p];
    }
    return view_of(g, x, x->ndim, s, st, 0, gs, 0, 0);
}

lb_tensor *lb_transpose(lb_graph *g, lb_tensor *x, int a0, int a1) {
    LB_CHECK_IN(g, x);
    int p0 = lb_norm_axis(a0, x->ndim), p1 = lb_norm_axis(a1, x->ndim);
    if (p0 < 0 || p1 < 0) {
        char b[64];
        return lb_fail(g, LB_EINDEX, "transpose: axes %d, %d out of range for shape %s", a0, a1,
                       lb_shape_str(x, b, sizeof b));
    }
    int perm[LB_MAXDIM] = {0, 1, 2, 3};
    perm[p0] = p1;
    perm[p1] = p0;
    return lb_permute(g, x, perm);
}

lb_tensor *lb_slice(lb_graph *g, lb_tensor *x, int axis, int64_t start, int64_t end, int64_t step) {
    LB_CHECK_IN(g, x);
    int ax = lb_norm_axis(axis, x->ndim);
    char b[64];
    if (ax < 0) return lb_fail(g, LB_EINDEX, "slice: axis %d out of range for shape %s", axis, lb_shape_str(x, b, sizeof b));
    if (step < 1) return lb_fail(g, LB_EVALUE, "slice: step must be positive, got %lld", (long long)step);
    int64_t d = x->shape[ax];
    if (start < 0) start += d;
    if (end < 0) end += d;
    if (start < 0) start = 0;
    if (end > d) end = d;
    if (start > d) start = d;
    if (end < start) end = start;
    int64_t s[LB_MAXDIM], st[LB_MAXDIM], gs[LB_MAXDIM];
    lb_contig_strides(x->ndim, x->shape, gs);
    for (int i = 0; i < x->ndim; i++) { s[i] = x->shape[i]; st[i] = x->stride[i]; }
    s[ax] = (end - start + step - 1) / step;
    st[ax] *= step;
    int64_t goff = start * gs[ax];
    gs[ax] *= step;
    return view_of(g, x, x->ndim, s, st, start * x->stride[ax], gs, goff, 0);
}

static void concat_bw(lb_graph *g, lb_node *nd) {
    lb_tensor **xs = nd->aux, *y = nd->out;
    int n = (int)nd->ia[0], ax = (int)nd->ia[1];
    int64_t cs[LB_MAXDIM], xcs[LB_MAXDIM], off = 0;
    lb_contig_strides(y->ndim, y->shape, cs);
    for (int i = 0; i < n; i++) {
        lb_tensor *x = xs[i];
        if (x->requires_grad) {
            float *gx = lb_gradbuf(g, x);
            if (!gx) return;
            lb_contig_strides(x->ndim, x->shape, xcs);
            lb_strided_acc(x->ndim, x->shape, gx, xcs, y->grad + off * cs[ax], cs);
        }
        off += x->shape[ax];
    }
}

lb_tensor *lb_concat(lb_graph *g, lb_tensor *const *xs, int n, int axis) {
    if (n < 1) return lb_fail(g, LB_EVALUE, "concat: no tensors");
    for (int i = 0; i < n; i++) LB_CHECK_IN(g, xs[i]);
    int ax = lb_norm_axis(axis, xs[0]->ndim);
    char b1[64], b2[64];
    if (ax < 0) return lb_fail(g, LB_EINDEX, "concat: axis %d out of range for shape %s", axis, lb_shape_str(xs[0], b1, sizeof b1));
    int64_t s[LB_MAXDIM];
    for (int i = 0; i < xs[0]->ndim; i++) s[i] = xs[0]->shape[i];
    s[ax] = 0;
    lb_tensor *rg = NULL;
    for (int k = 0; k < n; k++) {
        lb_tensor *x = xs[k];
        int ok = x->ndim == xs[0]->ndim;
        for (int i = 0; ok && i < x->ndim; i++)
            if (i != ax && x->shape[i] != xs[0]->shape[i]) ok = 0;
        if (!ok)
            return lb_fail(g, LB_ESHAPE, "concat: shapes %s and %s do not match outside axis %d",
                           lb_shape_str(xs[0], b1, sizeof b1), lb_shape_str(x, b2, sizeof b2), ax);
        s[ax] += x->shape[ax];
        if (x->requires_grad && !rg) rg = x;
    }
    lb_tensor *y = lb_new(g, xs[0]->ndim, s);
    if (!y) return NULL;
    int64_t cs[LB_MAXDIM], off = 0;
    lb_contig_strides(y->ndim, y->shape, cs);
    for (int k = 0; k < n; k++) {
        lb_strided_copy(xs[k]->ndim, xs[k]->shape, y->data + off * cs[ax], cs, xs[k]->data, xs[k]->stride);
        off += xs[k]->shape[ax];
    }
    if (rg && g->grad_enabled) {
        lb_tensor **keep = lb_alloc(g, (size_t)n * sizeof *keep);
        if (!keep) return NULL;
        memcpy(keep, xs, (size_t)n * sizeof *keep);
        lb_node *nd = lb_record(g, concat_bw, y, 1, rg, NULL, NULL, NULL);
        if (nd) { nd->aux = keep; nd->ia[0] = n; nd->ia[1] = ax; }
    }
    return y;
}

lb_tensor *lb_detach(lb_graph *g, lb_tensor *x) {
    LB_CHECK_IN(g, x);
    return lb_header(g, x->ndim, x->shape, x->stride, x->data);
}
