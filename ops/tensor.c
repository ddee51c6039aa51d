/* tensor.c — tensors and the step graph: status, thread count, shapes and strides, arena-backed
 * tensor creation, strided copy/accumulate loops and the shared workspace. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops_impl.h"

/* ---- status ---- */
int lb_status_set(lb_status *st, int code, const char *fmt, ...) {
    if (!st) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    st->code = code ? code : LB_EVALUE;
    return -1;
}

void lb_status_clear(lb_status *st) { if (st) { st->code = 0; st->msg[0] = 0; } }

lb_tensor *lb_fail(lb_graph *g, int code, const char *fmt, ...) {
    if (g->st.code) return NULL; /* keep the first error */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->st.msg, sizeof g->st.msg, fmt, ap);
    va_end(ap);
    g->st.code = code;
    return NULL;
}

/* ---- threads ---- */
static int lb_threads_ = 0;
void lb_set_threads(int n) {
    if (n <= 0) n = 1;
    if (n == lb_threads_) return;
    openblas_set_num_threads(n);
    lb_threads_ = n;
}
int lb_get_threads(void) { return lb_threads_ ? lb_threads_ : openblas_get_num_threads(); }

/* ---- shapes ---- */
int64_t lb_numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void lb_contig_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) { stride[i] = s; s *= shape[i]; }
}

int lb_is_contiguous(const lb_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

char *lb_shape_str(const lb_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

int lb_same_shape(const lb_tensor *a, const lb_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

int lb_norm_axis(int axis, int ndim) {
    if (axis < 0) axis += ndim;
    return (axis < 0 || axis >= ndim) ? -1 : axis;
}

float lb_get(const lb_tensor *t, int64_t flat) {
    int64_t off = 0;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += (flat % t->shape[i]) * t->stride[i];
        flat /= t->shape[i];
    }
    return t->data[off];
}

void lb_pad4(int ndim, const int64_t *shape, const int64_t *stride, int64_t *s4, int64_t *st4) {
    int pad = 4 - ndim;
    for (int i = 0; i < 4; i++) {
        s4[i] = i < pad ? 1 : shape[i - pad];
        st4[i] = i < pad ? 0 : stride[i - pad];
    }
}

void lb_strided_copy(int ndim, const int64_t *shape, float *dst, const int64_t *dstride, const float *src,
                     const int64_t *sstride) {
    int64_t s[4], d[4], r[4];
    lb_pad4(ndim, shape, dstride, s, d);
    lb_pad4(ndim, shape, sstride, s, r);
    for (int64_t i0 = 0; i0 < s[0]; i0++)
        for (int64_t i1 = 0; i1 < s[1]; i1++)
            for (int64_t i2 = 0; i2 < s[2]; i2++) {
                float *o = dst + i0 * d[0] + i1 * d[1] + i2 * d[2];
                const float *a = src + i0 * r[0] + i1 * r[1] + i2 * r[2];
                int64_t n = s[3], so = d[3], sa = r[3];
                if (so == 1 && sa == 1) memcpy(o, a, (size_t)n * sizeof(float));
                else for (int64_t j = 0; j < n; j++) o[j * so] = a[j * sa];
            }
}

void lb_strided_acc(int ndim, const int64_t *shape, float *dst, const int64_t *dstride, const float *src,
                    const int64_t *sstride) {
    int64_t s[4], d[4], r[4];
    lb_pad4(ndim, shape, dstride, s, d);
    lb_pad4(ndim, shape, sstride, s, r);
    for (int64_t i0 = 0; i0 < s[0]; i0++)
        for (int64_t i1 = 0; i1 < s[1]; i1++)
            for (int64_t i2 = 0; i2 < s[2]; i2++) {
                float *o = dst + i0 * d[0] + i1 * d[1] + i2 * d[2];
                const float *a = src + i0 * r[0] + i1 * r[1] + i2 * r[2];
                int64_t n = s[3], so = d[3], sa = r[3];
                if (so == 1 && sa == 1) for (int64_t j = 0; j < n; j++) o[j] += a[j];
                else for (int64_t j = 0; j < n; j++) o[j * so] += a[j * sa];
            }
}

int lb_all_finite(const lb_tensor *t) {
    int contig = lb_is_contiguous(t);
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(contig ? t->data[i] : lb_get(t, i))) return 0;
    return 1;
}

void lb_copy_out(const lb_tensor *t, float *dst) {
    int64_t cs[LB_MAXDIM];
    lb_contig_strides(t->ndim, t->shape, cs);
    lb_strided_copy(t->ndim, t->shape, dst, cs, t->data, t->stride);
}

/* ---- graph ---- */
lb_graph *lb_graph_new(void) {
    lb_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    lb_arena_init(&g->arena, (size_t)4 << 20);
    g->grad_enabled = 1;
    return g;
}

void lb_graph_free(lb_graph *g) {
    if (!g) return;
    lb_arena_destroy(&g->arena);
    free(g->ws);
    free(g);
}

void lb_graph_reset(lb_graph *g) {
    lb_arena_reset(&g->arena);
    g->tape = NULL;
    g->tape_len = 0;
    g->backward_done = 0;
    g->fuse_req = g->fused = 0;
    g->fused_out = NULL;
    lb_status_clear(&g->st);
}

void lb_graph_trim(lb_graph *g) {
    lb_graph_reset(g);
    size_t chunk = g->arena.chunk_bytes;
    lb_arena_destroy(&g->arena);
    lb_arena_init(&g->arena, chunk);
    free(g->ws);
    g->ws = NULL;
    g->ws_floats = 0;
}

void lb_graph_set_grad(lb_graph *g, int enabled) { g->grad_enabled = enabled != 0; }
int lb_graph_grad_enabled(const lb_graph *g) { return g->grad_enabled; }
void lb_graph_fuse(lb_graph *g, unsigned what) {
    g->fuse_req = what;
    g->fused = 0;
    g->fused_out = NULL;
}
unsigned lb_graph_fused(lb_graph *g, lb_tensor **out) {
    unsigned f = g->fused;
    if (out) *out = g->fused_out;
    g->fuse_req = g->fused = 0;
    g->fused_out = NULL;
    return f;
}
lb_status *lb_graph_status(lb_graph *g) { return &g->st; }
const char *lb_graph_error(const lb_graph *g) { return g->st.code ? g->st.msg : NULL; }
size_t lb_graph_tape_len(const lb_graph *g) { return g->tape_len; }
lb_arena *lb_graph_arena(lb_graph *g) { return &g->arena; }

void *lb_alloc(lb_graph *g, size_t bytes) {
    void *p = lb_arena_alloc(&g->arena, bytes);
    if (!p) lb_fail(g, LB_ENOMEM, "out of memory (step arena, %zu bytes requested)", bytes);
    return p;
}

float *lb_workspace(lb_graph *g, size_t n) {
    if (n > g->ws_floats) {
        float *w = realloc(g->ws, n * sizeof(float));
        if (!w) { lb_fail(g, LB_ENOMEM, "out of memory (workspace of %zu floats)", n); return NULL; }
        g->ws = w;
        g->ws_floats = n;
    }
    return g->ws;
}

lb_tensor *lb_header(lb_graph *g, int ndim, const int64_t *shape, const int64_t *stride, float *data) {
    if (ndim < 0 || ndim > LB_MAXDIM) return lb_fail(g, LB_ESHAPE, "tensor: %d dimensions (at most 4)", ndim);
    lb_tensor *t = lb_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    t->poff = -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return lb_fail(g, LB_ESHAPE, "tensor: negative dimension %lld", (long long)shape[i]);
        t->shape[i] = shape[i];
    }
    if (stride) for (int i = 0; i < ndim; i++) t->stride[i] = stride[i];
    else lb_contig_strides(ndim, shape, t->stride);
    t->numel = lb_numel_of(ndim, shape);
    t->data = data;
    return t;
}

lb_tensor *lb_new(lb_graph *g, int ndim, const int64_t *shape) {
    lb_tensor *t = lb_header(g, ndim, shape, NULL, NULL);
    if (!t) return NULL;
    t->data = lb_alloc(g, (size_t)t->numel * sizeof(float));
    return t->data ? t : NULL;
}

lb_tensor *lb_empty(lb_graph *g, int ndim, const int64_t *shape) { return lb_new(g, ndim, shape); }

lb_tensor *lb_zeros(lb_graph *g, int ndim, const int64_t *shape) {
    lb_tensor *t = lb_new(g, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

lb_tensor *lb_full(lb_graph *g, int ndim, const int64_t *shape, float v) {
    lb_tensor *t = lb_new(g, ndim, shape);
    if (t) for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
    return t;
}

lb_tensor *lb_from_data(lb_graph *g, int ndim, const int64_t *shape, const float *data) {
    lb_tensor *t = lb_new(g, ndim, shape);
    if (t) memcpy(t->data, data, (size_t)t->numel * sizeof(float));
    return t;
}

lb_tensor *lb_wrap(lb_graph *g, int ndim, const int64_t *shape, float *data) {
    return lb_header(g, ndim, shape, NULL, data);
}

lb_tensor *lb_scalar(lb_graph *g, float v) { return lb_full(g, 0, NULL, v); }

void lb_set_requires_grad(lb_tensor *t, int on) { if (t) t->requires_grad = on != 0; }
