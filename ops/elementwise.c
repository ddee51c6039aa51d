/* elementwise.c — binary ops with numpy/PyTorch broadcasting (add, sub, mul, div) and unary ops
 * (neg, exp, log, sqrt, pow, tanh, sigmoid, relu, leaky_relu, gelu, scalar add/mul), forward and
 * backward. Contiguous same-shape and scalar fast paths; otherwise a 4-D strided loop whose
 * innermost row kernel switches on the op once per row, never per element. */
#include <math.h>

#include "ops_impl.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
static const char *bin_name[] = {"add", "sub", "mul", "div"};

/* ---- forward rows ---- */
#define ROW_LOOP(EXPR)                                                          \
    do {                                                                        \
        if (sa == 1 && sb == 1) for (int64_t j = 0; j < n; j++) { float x = a[j], y = b[j]; o[j] = (EXPR); } \
        else if (sa == 1 && sb == 0) { float y = b[0]; for (int64_t j = 0; j < n; j++) { float x = a[j]; o[j] = (EXPR); } } \
        else if (sa == 0 && sb == 1) { float x = a[0]; for (int64_t j = 0; j < n; j++) { float y = b[j]; o[j] = (EXPR); } } \
        else for (int64_t j = 0; j < n; j++) { float x = a[j * sa], y = b[j * sb]; o[j] = (EXPR); } \
    } while (0)

static void bin_row(int op, float *restrict o, const float *a, int64_t sa, const float *b, int64_t sb, int64_t n) {
    switch (op) {
    case OP_ADD: ROW_LOOP(x + y); break;
    case OP_SUB: ROW_LOOP(x - y); break;
    case OP_MUL: ROW_LOOP(x * y); break;
    default: ROW_LOOP(x / y); break;
    }
}

/* Broadcast strides of t in an `nd`-dim output of shape `os` (0 where t is broadcast). */
static void bstrides(const lb_tensor *t, int nd, const int64_t *os, const int64_t *tstride, int64_t *bs) {
    int pad = nd - t->ndim;
    for (int i = 0; i < nd; i++) {
        if (i < pad) bs[i] = 0;
        else bs[i] = (t->shape[i - pad] == 1 && os[i] != 1) ? 0 : tstride[i - pad];
    }
}

static int bshape(lb_graph *g, const char *name, lb_tensor *a, lb_tensor *b, int *nd, int64_t *os) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s1[64], s2[64];
            lb_fail(g, LB_ESHAPE, "%s: shapes %s and %s cannot be broadcast together", name,
                    lb_shape_str(a, s1, sizeof s1), lb_shape_str(b, s2, sizeof s2));
            return -1;
        }
        os[i] = da == 1 ? db : da;
    }
    *nd = n;
    return 0;
}

/* ---- backward rows: dst[j*sd] += contribution(g[j], a, b) ---- */
enum { BW_A_ADD, BW_B_SUB, BW_A_MUL, BW_B_MUL, BW_A_DIV, BW_B_DIV };
static void bw_row(int op, float *d, int64_t sd, const float *gr, const float *a, int64_t sa, const float *b,
                   int64_t sb, int64_t n) {
    switch (op) {
    case BW_A_ADD:
        if (sd == 1) for (int64_t j = 0; j < n; j++) d[j] += gr[j];
        else { float s = 0; for (int64_t j = 0; j < n; j++) s += gr[j]; if (sd == 0) d[0] += s; else for (int64_t j = 0; j < n; j++) d[j * sd] += gr[j]; }
        break;
    case BW_B_SUB:
        if (sd == 1) for (int64_t j = 0; j < n; j++) d[j] -= gr[j];
        else if (sd == 0) { float s = 0; for (int64_t j = 0; j < n; j++) s += gr[j]; d[0] -= s; }
        else for (int64_t j = 0; j < n; j++) d[j * sd] -= gr[j];
        break;
    case BW_A_MUL: /* += g*b */
    case BW_B_MUL: { /* += g*a: caller swaps a/b so that the factor is in b */
        if (sd == 1 && sb == 1) for (int64_t j = 0; j < n; j++) d[j] += gr[j] * b[j];
        else if (sd == 0) { float s = 0; for (int64_t j = 0; j < n; j++) s += gr[j] * b[j * sb]; d[0] += s; }
        else for (int64_t j = 0; j < n; j++) d[j * sd] += gr[j] * b[j * sb];
        break;
    }
    case BW_A_DIV: /* += g/b */
        if (sd == 0) { float s = 0; for (int64_t j = 0; j < n; j++) s += gr[j] / b[j * sb]; d[0] += s; }
        else for (int64_t j = 0; j < n; j++) d[j * sd] += gr[j] / b[j * sb];
        break;
    default: /* BW_B_DIV: -= g*a/b^2 */
        if (sd == 0) { float s = 0; for (int64_t j = 0; j < n; j++) { float y = b[j * sb]; s += gr[j] * a[j * sa] / (y * y); } d[0] -= s; }
        else for (int64_t j = 0; j < n; j++) { float y = b[j * sb]; d[j * sd] -= gr[j] * a[j * sa] / (y * y); }
        break;
    }
}

/* Loop over the 4-D padded output; gr contiguous in the output shape. */
static void bw_loop(int op, int nd, const int64_t *os, float *d, const int64_t *ds, const float *gr, const float *a,
                    const int64_t *as, const float *b, const int64_t *bs) {
    int64_t s[4], D[4], A[4], B[4];
    lb_pad4(nd, os, ds, s, D);
    lb_pad4(nd, os, as, s, A);
    lb_pad4(nd, os, bs, s, B);
    int64_t row = 0;
    for (int64_t i0 = 0; i0 < s[0]; i0++)
        for (int64_t i1 = 0; i1 < s[1]; i1++)
            for (int64_t i2 = 0; i2 < s[2]; i2++, row++)
                bw_row(op, d + i0 * D[0] + i1 * D[1] + i2 * D[2], D[3], gr + row * s[3],
                       a + i0 * A[0] + i1 * A[1] + i2 * A[2], A[3], b + i0 * B[0] + i1 * B[1] + i2 * B[2], B[3],
                       s[3]);
}

static void binary_bw(lb_graph *g, lb_node *n) {
    int op = (int)n->ia[0];
    lb_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    int nd = y->ndim;
    const float *gr = y->grad;
    int64_t as[4], bs[4], gas[4], gbs[4], cs[4];
    bstrides(a, nd, y->shape, a->stride, as);
    bstrides(b, nd, y->shape, b->stride, bs);
    if (a->requires_grad) {
        float *ga = lb_gradbuf(g, a);
        if (!ga) return;
        lb_contig_strides(a->ndim, a->shape, cs);
        bstrides(a, nd, y->shape, cs, gas);
        if (op == OP_ADD || op == OP_SUB) bw_loop(BW_A_ADD, nd, y->shape, ga, gas, gr, a->data, as, a->data, as);
        else if (op == OP_MUL) bw_loop(BW_A_MUL, nd, y->shape, ga, gas, gr, a->data, as, b->data, bs);
        else bw_loop(BW_A_DIV, nd, y->shape, ga, gas, gr, a->data, as, b->data, bs);
    }
    if (b->requires_grad) {
        float *gb = lb_gradbuf(g, b);
        if (!gb) return;
        lb_contig_strides(b->ndim, b->shape, cs);
        bstrides(b, nd, y->shape, cs, gbs);
        if (op == OP_ADD) bw_loop(BW_A_ADD, nd, y->shape, gb, gbs, gr, b->data, bs, b->data, bs);
        else if (op == OP_SUB) bw_loop(BW_B_SUB, nd, y->shape, gb, gbs, gr, b->data, bs, b->data, bs);
        else if (op == OP_MUL) bw_loop(BW_B_MUL, nd, y->shape, gb, gbs, gr, b->data, bs, a->data, as);
        else bw_loop(BW_B_DIV, nd, y->shape, gb, gbs, gr, a->data, as, b->data, bs);
    }
}

static lb_tensor *binary(lb_graph *g, int op, lb_tensor *a, lb_tensor *b) {
    LB_CHECK_IN(g, a);
    LB_CHECK_IN(g, b);
    int nd;
    int64_t os[LB_MAXDIM];
    if (bshape(g, bin_name[op], a, b, &nd, os)) return NULL;
    lb_tensor *y = lb_new(g, nd, os);
    if (!y) return NULL;
    if (lb_same_shape(a, b) && lb_is_contiguous(a) && lb_is_contiguous(b)) {
        bin_row(op, y->data, a->data, 1, b->data, 1, y->numel);
    } else if (b->numel == 1 && lb_is_contiguous(a) && nd == a->ndim) {
        bin_row(op, y->data, a->data, 1, b->data, 0, y->numel);
    } else {
        int64_t as[4], bs[4], s[4], A[4], B[4];
        bstrides(a, nd, os, a->stride, as);
        bstrides(b, nd, os, b->stride, bs);
        lb_pad4(nd, os, as, s, A);
        lb_pad4(nd, os, bs, s, B);
        float *o = y->data;
        for (int64_t i0 = 0; i0 < s[0]; i0++)
            for (int64_t i1 = 0; i1 < s[1]; i1++)
                for (int64_t i2 = 0; i2 < s[2]; i2++, o += s[3])
                    bin_row(op, o, a->data + i0 * A[0] + i1 * A[1] + i2 * A[2], A[3],
                            b->data + i0 * B[0] + i1 * B[1] + i2 * B[2], B[3], s[3]);
    }
    lb_node *n = lb_record(g, binary_bw, y, 2, a, b, NULL, NULL);
    if (n) n->ia[0] = op;
    return y;
}

lb_tensor *lb_add(lb_graph *g, lb_tensor *a, lb_tensor *b) { return binary(g, OP_ADD, a, b); }
lb_tensor *lb_sub(lb_graph *g, lb_tensor *a, lb_tensor *b) { return binary(g, OP_SUB, a, b); }
lb_tensor *lb_mul(lb_graph *g, lb_tensor *a, lb_tensor *b) { return binary(g, OP_MUL, a, b); }
lb_tensor *lb_div(lb_graph *g, lb_tensor *a, lb_tensor *b) { return binary(g, OP_DIV, a, b); }

/* ---- unary ---- */
enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_TANH, U_SIGMOID, U_RELU, U_LEAKY, U_GELU, U_POW, U_ADDS, U_MULS };

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

static void unary_fw(int op, float p, float *restrict y, const float *restrict x, int64_t n) {
    switch (op) {
    case U_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case U_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
    case U_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case U_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case U_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    case U_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i])); break;
    case U_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case U_LEAKY: for (int64_t i = 0; i < n; i++) { float v = x[i]; y[i] = v > 0 ? v : p * v; } break;
    case U_GELU: for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2)); break;
    case U_POW:
        if (p == 2.0f) for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i];
        else for (int64_t i = 0; i < n; i++) y[i] = powf(x[i], p);
        break;
    case U_ADDS: for (int64_t i = 0; i < n; i++) y[i] = x[i] + p; break;
    default: for (int64_t i = 0; i < n; i++) y[i] = x[i] * p; break;
    }
}

/* OP is = (fresh gradient buffer) or += (accumulate); operands are rows of n elements. */
#define UNARY_BW(OP)                                                                                     \
    switch (op) {                                                                                        \
    case U_NEG: for (int64_t i = 0; i < n; i++) gx[i] OP - gy[i]; break;                                 \
    case U_EXP: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * y[i]; break;                            \
    case U_LOG: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] / x[i]; break;                            \
    case U_SQRT: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * 0.5f / y[i]; break;                    \
    case U_TANH: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * (1.0f - y[i] * y[i]); break;           \
    case U_SIGMOID: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * y[i] * (1.0f - y[i]); break;        \
    case U_RELU: for (int64_t i = 0; i < n; i++) { float gv = gy[i]; gx[i] OP x[i] > 0 ? gv : 0.0f; } break; \
    case U_LEAKY: for (int64_t i = 0; i < n; i++) { float gv = gy[i]; gx[i] OP x[i] > 0 ? gv : p * gv; } break; \
    case U_GELU:                                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                                \
            float v = x[i];                                                                              \
            float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));                                             \
            float pdf = INV_SQRT2PI * expf(-0.5f * v * v);                                               \
            gx[i] OP gy[i] * (cdf + v * pdf);                                                            \
        }                                                                                                \
        break;                                                                                           \
    case U_POW:                                                                                          \
        if (p == 0.0f) for (int64_t i = 0; i < n; i++) gx[i] OP 0.0f;                                    \
        else if (p == 2.0f) for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * 2.0f * x[i];               \
        else for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * p * powf(x[i], p - 1.0f);                  \
        break;                                                                                           \
    case U_ADDS: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i]; break;                                  \
    default: for (int64_t i = 0; i < n; i++) gx[i] OP gy[i] * p; break;                                  \
    }

static void unary_bw_row(int op, float p, int fresh, float *restrict gx, const float *restrict gy,
                         const float *restrict x, const float *restrict y, int64_t n) {
    if (fresh) { UNARY_BW(=) } else { UNARY_BW(+=) }
}

/* Runs BODY for each row of t (last axis unit-stride) with ROW its index and PTR its data. */
#define FOR_ROWS(t, ROW, PTR, BODY)                                                              \
    do {                                                                                         \
        int64_t s4_[4], st4_[4], ROW = 0;                                                        \
        lb_pad4((t)->ndim, (t)->shape, (t)->stride, s4_, st4_);                                  \
        for (int64_t i0 = 0; i0 < s4_[0]; i0++)                                                  \
            for (int64_t i1 = 0; i1 < s4_[1]; i1++)                                              \
                for (int64_t i2 = 0; i2 < s4_[2]; i2++, ROW++) {                                 \
                    const float *PTR = (t)->data + i0 * st4_[0] + i1 * st4_[1] + i2 * st4_[2];   \
                    BODY;                                                                        \
                }                                                                                \
    } while (0)

static void unary_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *xt = nd->in[0], *yt = nd->out;
    int fresh;
    float *gx = lb_gradbuf_fresh(g, xt, &fresh);
    if (!gx) return;
    float p = nd->fa[0];
    int op = (int)nd->ia[0];
    if (lb_is_contiguous(xt)) {
        unary_bw_row(op, p, fresh, gx, yt->grad, xt->data, yt->data, yt->numel);
        return;
    }
    int64_t n = xt->ndim ? xt->shape[xt->ndim - 1] : 1;
    FOR_ROWS(xt, r, xr, unary_bw_row(op, p, fresh, gx + r * n, yt->grad + r * n, xr, yt->data + r * n, n));
}

static lb_tensor *unary(lb_graph *g, int op, lb_tensor *x, float p) {
    LB_CHECK_IN(g, x);
    /* rows with a unit stride are read in place (e.g. gate slices of an LSTM) */
    if (!lb_is_contiguous(x) && !(x->ndim >= 1 && x->stride[x->ndim - 1] == 1)) x = lb_contig_in(g, x);
    if (!x) return NULL;
    lb_tensor *y = lb_new(g, x->ndim, x->shape);
    if (!y) return NULL;
    if (lb_is_contiguous(x)) {
        unary_fw(op, p, y->data, x->data, x->numel);
    } else {
        int64_t n = x->shape[x->ndim - 1];
        FOR_ROWS(x, r, xr, unary_fw(op, p, y->data + r * n, xr, n));
    }
    lb_node *nd = lb_record(g, unary_bw, y, 1, x, NULL, NULL, NULL);
    if (nd) { nd->ia[0] = op; nd->fa[0] = p; }
    return y;
}

lb_tensor *lb_neg(lb_graph *g, lb_tensor *x) { return unary(g, U_NEG, x, 0); }
lb_tensor *lb_exp(lb_graph *g, lb_tensor *x) { return unary(g, U_EXP, x, 0); }
lb_tensor *lb_log(lb_graph *g, lb_tensor *x) { return unary(g, U_LOG, x, 0); }
lb_tensor *lb_sqrt(lb_graph *g, lb_tensor *x) { return unary(g, U_SQRT, x, 0); }
lb_tensor *lb_tanh(lb_graph *g, lb_tensor *x) { return unary(g, U_TANH, x, 0); }
lb_tensor *lb_sigmoid(lb_graph *g, lb_tensor *x) { return unary(g, U_SIGMOID, x, 0); }
lb_tensor *lb_relu(lb_graph *g, lb_tensor *x) { return unary(g, U_RELU, x, 0); }
lb_tensor *lb_leaky_relu(lb_graph *g, lb_tensor *x, float slope) { return unary(g, U_LEAKY, x, slope); }
lb_tensor *lb_gelu(lb_graph *g, lb_tensor *x) { return unary(g, U_GELU, x, 0); }
lb_tensor *lb_pow(lb_graph *g, lb_tensor *x, float p) { return unary(g, U_POW, x, p); }
lb_tensor *lb_add_scalar(lb_graph *g, lb_tensor *x, float s) { return unary(g, U_ADDS, x, s); }
lb_tensor *lb_mul_scalar(lb_graph *g, lb_tensor *x, float s) { return unary(g, U_MULS, x, s); }
