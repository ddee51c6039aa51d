/* matmul.c — matrix products on cblas_sgemm: matmul (2-D, N-D x 2-D folded into one GEMM,
 * batched with equal leading dims or a broadcast 2-D side; transposed views go to sgemm as
 * CblasTrans without a copy) and the fused nn.Linear (x W^T + b). Backward accumulates with
 * beta = 1. */
#include <cblas.h>

#include "ops_impl.h"

/* How the last two dims of t map to an sgemm operand: op(stored) with leading dimension ld. */
typedef struct { CBLAS_TRANSPOSE tr; int ld; } mdesc;

static int mat_desc(const lb_tensor *t, mdesc *d) {
    int nd = t->ndim;
    int64_t r = t->shape[nd - 2], c = t->shape[nd - 1], sr = t->stride[nd - 2], sc = t->stride[nd - 1];
    if ((sc == 1 || c == 1) && (sr >= c || r == 1)) {
        d->tr = CblasNoTrans;
        d->ld = (int)(r == 1 ? (c > 0 ? c : 1) : (sr > 0 ? sr : 1));
        if (d->ld < c) d->ld = (int)c;
        return 1;
    }
    if ((sr == 1 || r == 1) && (sc >= r || c == 1)) {
        d->tr = CblasTrans;
        d->ld = (int)(c == 1 ? (r > 0 ? r : 1) : (sc > 0 ? sc : 1));
        if (d->ld < r) d->ld = (int)r;
        return 1;
    }
    return 0;
}

static CBLAS_TRANSPOSE flip(CBLAS_TRANSPOSE t) { return t == CblasNoTrans ? CblasTrans : CblasNoTrans; }

/* Offset of batch b (flat over the leading dims) of t; batch dims are the first nd-2. */
static int64_t boff(const lb_tensor *t, int64_t b) {
    int64_t off = 0;
    for (int i = t->ndim - 3; i >= 0; i--) {
        off += (b % t->shape[i]) * t->stride[i];
        b /= t->shape[i];
    }
    return off;
}

/* Can the leading dims of a (N-D, NoTrans) be folded into M rows of one GEMM? */
static int foldable(const lb_tensor *a, const mdesc *d) {
    if (d->tr != CblasNoTrans) return 0;
    int nd = a->ndim;
    int64_t rowstride = d->ld;
    int64_t expect = rowstride * a->shape[nd - 2];
    for (int i = nd - 3; i >= 0; i--) {
        if (a->shape[i] != 1 && a->stride[i] != expect) return 0;
        expect *= a->shape[i];
    }
    return 1;
}

static void matmul_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *a = nd->in[0], *b = nd->in[1], *c = nd->out;
    mdesc da, db;
    mat_desc(a, &da);
    mat_desc(b, &db);
    int M = (int)a->shape[a->ndim - 2], K = (int)a->shape[a->ndim - 1], N = (int)b->shape[b->ndim - 1];
    int64_t nb = nd->ia[0];
    int fold = (int)nd->ia[1];
    const float *gc = c->grad;
    if (fold) { /* a [..., M, K] folded to [nb*M, K]; b 2-D */
        int Mt = (int)(nb * M);
        if (a->requires_grad) {
            float *ga = lb_gradbuf(g, a);
            if (!ga) return;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, flip(db.tr), Mt, K, N, 1.0f, gc, N, b->data, db.ld, 1.0f, ga, K);
        }
        if (b->requires_grad) {
            float *gb = lb_gradbuf(g, b);
            if (!gb) return;
            cblas_sgemm(CblasRowMajor, flip(da.tr), CblasNoTrans, K, N, Mt, 1.0f, a->data, da.ld, gc, N, 1.0f, gb, N);
        }
        return;
    }
    float *ga = a->requires_grad ? lb_gradbuf(g, a) : NULL;
    float *gb = b->requires_grad ? lb_gradbuf(g, b) : NULL;
    if ((a->requires_grad && !ga) || (b->requires_grad && !gb)) return;
    int abat = a->ndim > 2, bbat = b->ndim > 2;
    for (int64_t i = 0; i < nb; i++) {
        const float *A = a->data + (abat ? boff(a, i) : 0), *B = b->data + (bbat ? boff(b, i) : 0);
        const float *G = gc + i * (int64_t)M * N;
        if (ga) /* dA += dC @ B^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, flip(db.tr), M, K, N, 1.0f, G, N, B, db.ld, 1.0f,
                        ga + (abat ? i * (int64_t)M * K : 0), K);
        if (gb) { /* dB += A^T @ dC */
            if (da.tr == CblasNoTrans)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, A, da.ld, G, N, 1.0f,
                            gb + (bbat ? i * (int64_t)K * N : 0), N);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, N, M, 1.0f, A, da.ld, G, N, 1.0f,
                            gb + (bbat ? i * (int64_t)K * N : 0), N);
        }
    }
}

lb_tensor *lb_matmul(lb_graph *g, lb_tensor *a, lb_tensor *b) {
    LB_CHECK_IN(g, a);
    LB_CHECK_IN(g, b);
    char s1[64], s2[64];
    if (a->ndim < 2 || b->ndim < 2)
        return lb_fail(g, LB_ESHAPE, "matmul: expects tensors of at least 2 dimensions, got %s and %s",
                       lb_shape_str(a, s1, sizeof s1), lb_shape_str(b, s2, sizeof s2));
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], K2 = b->shape[b->ndim - 2], N = b->shape[b->ndim - 1];
    int bad = K != K2;
    if (!bad && a->ndim > 2 && b->ndim > 2) {
        if (a->ndim != b->ndim) bad = 1;
        for (int i = 0; !bad && i < a->ndim - 2; i++)
            if (a->shape[i] != b->shape[i]) bad = 1;
    }
    if (bad)
        return lb_fail(g, LB_ESHAPE, "matmul: shapes %s and %s do not match", lb_shape_str(a, s1, sizeof s1),
                       lb_shape_str(b, s2, sizeof s2));
    mdesc da, db;
    if (!mat_desc(a, &da)) { a = lb_contig_in(g, a); if (!a) return NULL; mat_desc(a, &da); }
    if (!mat_desc(b, &db)) { b = lb_contig_in(g, b); if (!b) return NULL; mat_desc(b, &db); }
    const lb_tensor *big = a->ndim >= b->ndim ? a : b;
    int64_t shp[LB_MAXDIM], nb = 1;
    int nd = big->ndim;
    for (int i = 0; i < nd - 2; i++) { shp[i] = big->shape[i]; nb *= big->shape[i]; }
    shp[nd - 2] = M;
    shp[nd - 1] = N;
    lb_tensor *c = lb_new(g, nd, shp);
    if (!c) return NULL;
    int fold = a->ndim > 2 && b->ndim == 2 && foldable(a, &da);
    if (c->numel == 0) {
    } else if (K == 0) {
        memset(c->data, 0, (size_t)c->numel * sizeof(float));
    } else if (a->ndim == 2 && b->ndim == 2) {
        cblas_sgemm(CblasRowMajor, da.tr, db.tr, (int)M, (int)N, (int)K, 1.0f, a->data, da.ld, b->data, db.ld, 0.0f,
                    c->data, (int)N);
    } else if (fold) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, db.tr, (int)(nb * M), (int)N, (int)K, 1.0f, a->data, da.ld, b->data,
                    db.ld, 0.0f, c->data, (int)N);
    } else {
        for (int64_t i = 0; i < nb; i++)
            cblas_sgemm(CblasRowMajor, da.tr, db.tr, (int)M, (int)N, (int)K, 1.0f, a->data + (a->ndim > 2 ? boff(a, i) : 0),
                        da.ld, b->data + (b->ndim > 2 ? boff(b, i) : 0), db.ld, 0.0f, c->data + i * M * N, (int)N);
    }
    lb_node *n = lb_record(g, matmul_bw, c, 2, a, b, NULL, NULL);
    if (n) { n->ia[0] = nb; n->ia[1] = fold || (a->ndim == 2 && b->ndim == 2); }
    return c;
}

/* ---- nn.Linear ---- */
static void linear_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    int in = (int)w->shape[1], out = (int)w->shape[0];
    int M = (int)(x->numel / (in ? in : 1));
    const float *gy = y->grad;
    if (x->requires_grad) {
        int fresh;
        float *gx = lb_gradbuf_fresh(g, x, &fresh);
        if (!gx) return;
        if (fresh && out == 0) memset(gx, 0, (size_t)x->numel * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, in, out, 1.0f, gy, out, w->data, in,
                    fresh ? 0.0f : 1.0f, gx, in);
    }
    if (w->requires_grad) {
        float *gw = lb_gradbuf(g, w);
        if (!gw) return;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, M, 1.0f, gy, out, x->data, in, 1.0f, gw, in);
    }
    if (b && b->requires_grad) {
        float *gb = lb_gradbuf(g, b);
        if (!gb) return;
        for (int i = 0; i < M; i++) {
            const float *r = gy + (int64_t)i * out;
            for (int j = 0; j < out; j++) gb[j] += r[j];
        }
    }
}

lb_tensor *lb_linear(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b) {
    LB_CHECK_IN(g, x);
    LB_CHECK_IN(g, w);
    char s1[64], s2[64];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return lb_fail(g, LB_ESHAPE, "linear: input %s and weight %s do not match", lb_shape_str(x, s1, sizeof s1),
                       lb_shape_str(w, s2, sizeof s2));
    if (b && (b->numel != w->shape[0]))
        return lb_fail(g, LB_ESHAPE, "linear: bias %s and weight %s do not match", lb_shape_str(b, s1, sizeof s1),
                       lb_shape_str(w, s2, sizeof s2));
    x = lb_contig_in(g, x);
    w = lb_contig_in(g, w);
    if (b) b = lb_contig_in(g, b);
    if (!x || !w) return NULL;
    int in = (int)w->shape[1], out = (int)w->shape[0];
    int M = (int)(x->numel / (in ? in : 1));
    int64_t shp[LB_MAXDIM];
    for (int i = 0; i < x->ndim - 1; i++) shp[i] = x->shape[i];
    shp[x->ndim - 1] = out;
    lb_tensor *y = lb_new(g, x->ndim, shp);
    if (!y) return NULL;
    if (b) for (int i = 0; i < M; i++) memcpy(y->data + (int64_t)i * out, b->data, (size_t)out * sizeof(float));
    if (in == 0 || M == 0) {
        if (!b) memset(y->data, 0, (size_t)y->numel * sizeof(float));
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, out, in, 1.0f, x->data, in, w->data, in, b ? 1.0f : 0.0f,
                    y->data, out);
    }
    lb_record(g, linear_bw, y, 3, x, w, b, NULL);
    return y;
}
