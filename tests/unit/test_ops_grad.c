/* test_ops_grad.c — finite-difference gradient checks for every differentiable op in ops/:
 * the analytic gradient of L = sum(op(...) * R) (R fixed pseudo-random weights) is compared
 * with central differences of L computed in double from the float forward pass. */
#include <float.h>
#include <stdlib.h>

#include "check.h"
#include "ops.h"

typedef struct {
    int ndim;
    int64_t shape[4];
    int grad;      /* differentiate with respect to this input */
    int kind;      /* 0 = random normal, 1 = positive (0.5..2), 2 = integer ids in [0, hi), 3 = 0/1 mask,
                      4 = distinct values 0.1 apart in random order (for max-like ops) */
    int hi;
    float *data;   /* filled by the checker */
} gc_in;

typedef lb_tensor *(*gc_fn)(lb_graph *g, lb_tensor **x, const void *arg);

static double rweight(int64_t i) { return sin(0.7 * (double)i + 0.3) + 0.25; }

static lb_tensor *gc_build(lb_graph *g, gc_in *in, int nin, gc_fn f, const void *arg, lb_tensor **xs) {
    for (int i = 0; i < nin; i++) {
        xs[i] = lb_from_data(g, in[i].ndim, in[i].shape, in[i].data);
        if (in[i].grad) lb_set_requires_grad(xs[i], 1);
    }
    return f(g, xs, arg);
}

static double gc_eval(lb_graph *g, gc_in *in, int nin, gc_fn f, const void *arg) {
    lb_tensor *xs[8];
    lb_graph_reset(g);
    lb_graph_set_grad(g, 0);
    lb_tensor *y = gc_build(g, in, nin, f, arg, xs);
    lb_graph_set_grad(g, 1);
    if (!y) return NAN;
    double L = 0;
    for (int64_t i = 0; i < y->numel; i++) L += (double)lb_get(y, i) * rweight(i);
    return L;
}

/* Returns the number of mismatching gradient entries (printing the first few). An entry
 * matches when |numeric - analytic| <= tol * (1 + scale) (central differences are exact to
 * O(h^2)) plus the rounding noise of the difference quotient: the float32 forward pass rounds
 * each term of L by about FLT_EPSILON, so L(x +- h) carry an error of up to a few
 * FLT_EPSILON * sum |y_i R_i|, divided by 2h. That part is derived from the float format, not
 * from any CPU's kernels, so the check holds whichever BLAS core rounds the forward pass. */
static int gradcheck(const char *name, gc_in *in, int nin, gc_fn f, const void *arg, double h, double tol) {
    lb_graph *g = lb_graph_new();
    uint64_t seed = 1234;
    for (int i = 0; i < nin; i++) {
        int64_t n = 1;
        for (int d = 0; d < in[i].ndim; d++) n *= in[i].shape[d];
        in[i].data = malloc((size_t)(n ? n : 1) * sizeof(float));
        lb_rng r;
        lb_rng_seed(&r, seed + (uint64_t)i);
        for (int64_t k = 0; k < n; k++) {
            switch (in[i].kind) {
            case 1: in[i].data[k] = 0.5f + 1.5f * lb_rng_uniform(&r); break;
            case 2: in[i].data[k] = (float)lb_rng_below(&r, (uint32_t)in[i].hi); break;
            case 3: in[i].data[k] = lb_rng_uniform(&r) < 0.7f ? 1.0f : 0.0f; break;
            case 4: in[i].data[k] = 0.1f * (float)k - 0.05f * (float)n; break; /* distinct, shuffled below */
            default: in[i].data[k] = (float)lb_rng_normal(&r); break;
            }
        }
        if (in[i].kind == 4) /* Fisher-Yates: values 0.1 apart, so a step h never changes an argmax */
            for (int64_t k = n - 1; k > 0; k--) {
                int64_t j = lb_rng_below(&r, (uint32_t)(k + 1));
                float t = in[i].data[k];
                in[i].data[k] = in[i].data[j];
                in[i].data[j] = t;
            }
    }
    lb_tensor *xs[8];
    lb_tensor *y = gc_build(g, in, nin, f, arg, xs);
    int bad = 0;
    double labs_ = 0; /* sum |y_i R_i|: the scale of L's rounding */
    if (!y) {
        fprintf(stderr, "  %s: forward failed: %s\n", name, lb_graph_error(g));
        bad = 1;
        goto done;
    }
    {
        float *rw = malloc((size_t)y->numel * sizeof(float));
        for (int64_t i = 0; i < y->numel; i++) {
            rw[i] = (float)rweight(i);
            labs_ += fabs((double)lb_get(y, i) * rw[i]);
        }
        lb_tensor *R = lb_from_data(g, y->ndim, y->shape, rw);
        free(rw);
        lb_tensor *L = lb_sum_all(g, lb_mul(g, y, R));
        if (lb_backward(g, L)) {
            fprintf(stderr, "  %s: backward failed: %s\n", name, lb_graph_error(g));
            bad = 1;
            goto done;
        }
    }
    /* copy analytic grads out before the graph is reset */
    float *ana[8] = {0};
    for (int i = 0; i < nin; i++) {
        if (!in[i].grad) continue;
        int64_t n = xs[i]->numel;
        ana[i] = calloc((size_t)(n ? n : 1), sizeof(float));
        if (xs[i]->grad) memcpy(ana[i], xs[i]->grad, (size_t)n * sizeof(float));
    }
    for (int i = 0; i < nin; i++) {
        if (!in[i].grad) continue;
        int64_t n = 1;
        for (int d = 0; d < in[i].ndim; d++) n *= in[i].shape[d];
        for (int64_t k = 0; k < n; k++) {
            float v = in[i].data[k];
            in[i].data[k] = (float)(v + h);
            double lp = gc_eval(g, in, nin, f, arg);
            in[i].data[k] = (float)(v - h);
            double lm = gc_eval(g, in, nin, f, arg);
            in[i].data[k] = v;
            double num = (lp - lm) / (2 * h), an = ana[i][k];
            double scale = fabs(num) > fabs(an) ? fabs(num) : fabs(an);
            double rounding = 8.0 * FLT_EPSILON * labs_ / h;
            if (!(fabs(num - an) <= tol * (1.0 + scale) + rounding)) {
                if (bad < 5)
                    fprintf(stderr, "  %s: input %d [%lld]: analytic %.6g numeric %.6g\n", name, i, (long long)k, an, num);
                bad++;
            }
        }
        free(ana[i]);
    }
done:
    for (int i = 0; i < nin; i++) free(in[i].data);
    lb_graph_free(g);
    return bad;
}

#define GC_H(name, fn, arg, h, ...)                                                  \
    do {                                                                             \
        gc_in in_[] = {__VA_ARGS__};                                                 \
        CHECK(gradcheck(name, in_, (int)(sizeof in_ / sizeof in_[0]), fn, arg, h, 1e-3) == 0); \
    } while (0)
#define GC(name, fn, arg, ...) GC_H(name, fn, arg, 1e-2, __VA_ARGS__)

#define T1(a) 1, {a}
#define T2(a, b) 2, {a, b}
#define T3(a, b, c) 3, {a, b, c}
#define T4(a, b, c, d) 4, {a, b, c, d}

/* ---- elementwise ---- */
static lb_tensor *f_add(lb_graph *g, lb_tensor **x, const void *a) { (void)a; return lb_add(g, x[0], x[1]); }
static lb_tensor *f_sub(lb_graph *g, lb_tensor **x, const void *a) { (void)a; return lb_sub(g, x[0], x[1]); }
static lb_tensor *f_mul(lb_graph *g, lb_tensor **x, const void *a) { (void)a; return lb_mul(g, x[0], x[1]); }
static lb_tensor *f_div(lb_graph *g, lb_tensor **x, const void *a) { (void)a; return lb_div(g, x[0], x[1]); }

static void test_binary_broadcast(void) {
    GC("add same", f_add, NULL, {T2(3, 4), 1, 0, 0, 0}, {T2(3, 4), 1, 0, 0, 0});
    GC("add row", f_add, NULL, {T2(3, 4), 1, 0, 0, 0}, {T1(4), 1, 0, 0, 0});
    GC("add col", f_add, NULL, {T2(3, 1), 1, 0, 0, 0}, {T2(1, 4), 1, 0, 0, 0});
    GC("add scalar", f_add, NULL, {T3(2, 3, 4), 1, 0, 0, 0}, {0, {0}, 1, 0, 0, 0});
    GC("sub 4d", f_sub, NULL, {T4(2, 1, 3, 2), 1, 0, 0, 0}, {T3(4, 1, 2), 1, 0, 0, 0});
    GC("mul bcast", f_mul, NULL, {T3(2, 3, 4), 1, 0, 0, 0}, {T3(2, 1, 4), 1, 0, 0, 0});
    GC("mul same", f_mul, NULL, {T2(5, 3), 1, 0, 0, 0}, {T2(5, 3), 1, 0, 0, 0});
    GC("div", f_div, NULL, {T2(3, 4), 1, 0, 0, 0}, {T1(4), 1, 1, 0, 0});
    GC("div same", f_div, NULL, {T2(3, 4), 1, 0, 0, 0}, {T2(3, 4), 1, 1, 0, 0});
}

static lb_tensor *f_unary(lb_graph *g, lb_tensor **x, const void *a) {
    switch (*(const int *)a) {
    case 0: return lb_neg(g, x[0]);
    case 1: return lb_exp(g, x[0]);
    case 2: return lb_log(g, x[0]);
    case 3: return lb_sqrt(g, x[0]);
    case 4: return lb_tanh(g, x[0]);
    case 5: return lb_sigmoid(g, x[0]);
    case 6: return lb_relu(g, x[0]);
    case 7: return lb_leaky_relu(g, x[0], 0.1f);
    case 8: return lb_gelu(g, x[0]);
    case 9: return lb_pow(g, x[0], 3.0f);
    case 10: return lb_pow(g, x[0], 2.0f);
    case 11: return lb_pow(g, x[0], 0.5f);
    case 12: return lb_add_scalar(g, x[0], 2.5f);
    default: return lb_mul_scalar(g, x[0], -1.5f);
    }
}

static void test_unary(void) {
    static const char *names[] = {"neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "gelu",
                                  "pow3", "pow2", "pow0.5", "add_scalar", "mul_scalar"};
    static const int positive[] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    static int ops[14];
    for (int k = 0; k < 14; k++) {
        ops[k] = k;
        GC(names[k], f_unary, &ops[k], {T2(3, 5), 1, positive[k], 0, 0});
    }
}

/* ---- reductions ---- */
static lb_tensor *f_red(lb_graph *g, lb_tensor **x, const void *a) {
    const int *p = a;
    switch (p[0]) {
    case 0: return lb_sum(g, x[0], p[1], p[2]);
    case 1: return lb_mean(g, x[0], p[1], p[2]);
    case 2: return lb_max(g, x[0], p[1], p[2]);
    case 3: return lb_sum_all(g, x[0]);
    default: return lb_mean_all(g, x[0]);
    }
}

static void test_reduce(void) {
    static int a[][3] = {{0, 0, 0}, {0, 1, 1}, {0, -1, 0}, {1, 1, 0}, {1, 2, 1}, {2, 0, 0}, {2, 1, 1}, {2, -1, 0}, {3, 0, 0}, {4, 0, 0}};
    for (int k = 0; k < 10; k++) GC("reduce", f_red, a[k], {T3(3, 4, 5), 1, 4, 0, 0});
}

/* ---- shape ---- */
static lb_tensor *f_shape(lb_graph *g, lb_tensor **x, const void *a) {
    switch (*(const int *)a) {
    case 0: { int64_t s[2] = {4, -1}; return lb_reshape(g, x[0], 2, s); }
    case 1: return lb_transpose(g, x[0], 0, 2);
    case 2: { int p[3] = {2, 0, 1}; return lb_permute(g, x[0], p); }
    case 3: return lb_slice(g, x[0], 1, 1, 3, 1);
    case 4: return lb_slice(g, x[0], 2, 0, 5, 2);
    case 5: { lb_tensor *xs[2] = {x[0], x[1]}; return lb_concat(g, xs, 2, 1); }
    case 6: { int64_t s[2] = {5, -1}; return lb_reshape(g, lb_transpose(g, x[0], 1, 2), 2, s); }
    case 7: return lb_exp(g, lb_slice(g, lb_transpose(g, x[0], 0, 1), 0, 1, 4, 2));
    case 9: { /* x reached through two views and a unary op: shared and fresh grad buffers */
        int64_t s[2] = {5, 8};
        lb_tensor *a = lb_reshape(g, x[0], 2, s), *b = lb_reshape(g, lb_exp(g, x[0]), 2, s);
        return lb_add(g, lb_mul(g, a, b), lb_reshape(g, x[0], 2, s));
    }
    case 10: /* unary ops read row-strided views in place */
        return lb_mul(g, lb_gelu(g, lb_slice(g, x[0], 2, 1, 4, 1)), lb_sigmoid(g, lb_slice(g, x[0], 2, 0, 3, 1)));
    default: return lb_flatten(g, x[0], 1);
    }
}

static void test_shape(void) {
    static int a[11] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (int k = 0; k < 11; k++) {
        if (k == 5) GC("concat", f_shape, &a[k], {T3(2, 3, 5), 1, 0, 0, 0}, {T3(2, 2, 5), 1, 0, 0, 0});
        else GC("shape", f_shape, &a[k], {T3(2, 4, 5), 1, 0, 0, 0});
    }
}

/* ---- matmul / linear ---- */
static lb_tensor *f_mm(lb_graph *g, lb_tensor **x, const void *a) {
    switch (*(const int *)a) {
    case 0: return lb_matmul(g, x[0], x[1]);
    case 1: return lb_matmul(g, lb_transpose(g, x[0], -1, -2), x[1]);
    case 2: return lb_matmul(g, x[0], lb_transpose(g, x[1], -1, -2));
    default: return lb_matmul(g, lb_transpose(g, x[0], -1, -2), lb_transpose(g, x[1], -1, -2));
    }
}

static lb_tensor *f_linear(lb_graph *g, lb_tensor **x, const void *a) {
    return lb_linear(g, x[0], x[1], a ? x[2] : NULL);
}

static void test_matmul(void) {
    static int m[4] = {0, 1, 2, 3};
    GC("mm 2d", f_mm, &m[0], {T2(3, 4), 1, 0, 0, 0}, {T2(4, 5), 1, 0, 0, 0});
    GC("mm aT", f_mm, &m[1], {T2(4, 3), 1, 0, 0, 0}, {T2(4, 5), 1, 0, 0, 0});
    GC("mm bT", f_mm, &m[2], {T2(3, 4), 1, 0, 0, 0}, {T2(5, 4), 1, 0, 0, 0});
    GC("mm aTbT", f_mm, &m[3], {T2(4, 3), 1, 0, 0, 0}, {T2(5, 4), 1, 0, 0, 0});
    GC("mm 3d x 2d", f_mm, &m[0], {T3(2, 3, 4), 1, 0, 0, 0}, {T2(4, 5), 1, 0, 0, 0});
    GC("mm batched", f_mm, &m[0], {T3(2, 3, 4), 1, 0, 0, 0}, {T3(2, 4, 5), 1, 0, 0, 0});
    GC("mm 4d bT", f_mm, &m[2], {T4(2, 2, 3, 4), 1, 0, 0, 0}, {T4(2, 2, 5, 4), 1, 0, 0, 0});
    GC("mm 2d x 3d", f_mm, &m[0], {T2(3, 4), 1, 0, 0, 0}, {T3(2, 4, 5), 1, 0, 0, 0});
    GC("mm 3d aT x 2d", f_mm, &m[1], {T3(2, 4, 3), 1, 0, 0, 0}, {T2(4, 5), 1, 0, 0, 0});
    static int bias = 1;
    GC("linear", f_linear, &bias, {T2(4, 6), 1, 0, 0, 0}, {T2(3, 6), 1, 0, 0, 0}, {T1(3), 1, 0, 0, 0});
    GC("linear 3d nobias", f_linear, NULL, {T3(2, 4, 6), 1, 0, 0, 0}, {T2(3, 6), 1, 0, 0, 0});
}

/* ---- conv / pool ---- */
static lb_tensor *f_conv(lb_graph *g, lb_tensor **x, const void *a) {
    return lb_conv2d(g, x[0], x[1], x[2], (const lb_conv_opts *)a);
}

static void test_conv(void) {
    static lb_conv_opts o1 = {1, 1, 0, 0, 1, 1}, o2 = {2, 2, 1, 1, 1, 1}, o3 = {1, 2, 2, 1, 2, 1}, o4 = {1, 1, 1, 1, 1, 1}, o2n = {2, 2, 0, 0, 1, 1};
    GC("conv plain", f_conv, &o1, {T4(2, 2, 5, 5), 1, 0, 0, 0}, {T4(3, 2, 3, 3), 1, 0, 0, 0}, {T1(3), 1, 0, 0, 0});
    GC("conv s2 p1", f_conv, &o2, {T4(2, 2, 6, 5), 1, 0, 0, 0}, {T4(3, 2, 3, 3), 1, 0, 0, 0}, {T1(3), 1, 0, 0, 0});
    GC("conv dil", f_conv, &o3, {T4(1, 2, 7, 6), 1, 0, 0, 0}, {T4(2, 2, 3, 2), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    GC("conv pad same", f_conv, &o4, {T4(3, 1, 4, 4), 1, 0, 0, 0}, {T4(2, 1, 3, 3), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    GC("conv 1x1", f_conv, &o1, {T4(2, 3, 3, 4), 1, 0, 0, 0}, {T4(2, 3, 1, 1), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    GC("conv 1x1 s2", f_conv, &o2n, {T4(2, 3, 5, 4), 1, 0, 0, 0}, {T4(2, 3, 1, 1), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    /* output planes >= 128 take the one-image-at-a-time path */
    GC("conv per image", f_conv, &o4, {T4(2, 2, 12, 11), 1, 0, 0, 0}, {T4(2, 2, 3, 3), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    GC("conv per image s2", f_conv, &o2, {T4(1, 1, 24, 23), 1, 0, 0, 0}, {T4(2, 1, 3, 3), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    /* 3x3 stride 1 with >= 8 channels in and out: Winograd F(2x2, 3x3); odd and even sizes,
     * padding 0, 1 and 2 (asymmetric), and images over several tile chunks */
    static lb_conv_opts p0 = {1, 1, 0, 0, 1, 1}, p21 = {1, 1, 2, 1, 1, 1}, p02 = {1, 1, 0, 2, 1, 1};
    GC("conv winograd same", f_conv, &o4, {T4(2, 8, 6, 5), 1, 0, 0, 0}, {T4(9, 8, 3, 3), 1, 0, 0, 0}, {T1(9), 1, 0, 0, 0});
    GC("conv winograd valid", f_conv, &p0, {T4(1, 8, 7, 6), 1, 0, 0, 0}, {T4(8, 8, 3, 3), 1, 0, 0, 0}, {T1(8), 1, 0, 0, 0});
    GC("conv winograd pad 2,1", f_conv, &p21, {T4(1, 8, 3, 4), 1, 0, 0, 0}, {T4(8, 8, 3, 3), 1, 0, 0, 0}, {T1(8), 1, 0, 0, 0});
    GC("conv winograd pad 0,2", f_conv, &p02, {T4(1, 8, 4, 11), 1, 0, 0, 0}, {T4(8, 8, 3, 3), 1, 0, 0, 0}, {T1(8), 1, 0, 0, 0});
    /* many outputs: the float rounding of the forward pass would swamp a small step; the
     * convolution is linear in x and in w, so a large step has no truncation error */
    GC_H("conv winograd chunks", f_conv, &o4, 0.5, {T4(3, 8, 23, 22), 1, 0, 0, 0}, {T4(8, 8, 3, 3), 1, 0, 0, 0}, {T1(8), 1, 0, 0, 0});
}

/* conv2d fused with relu (and 2x2 max pooling: lb_graph_fuse) against lb_relu (and
 * lb_maxpool2d) after conv2d: the same output and the same gradients, bit for bit, on each
 * convolution path; lb_graph_fused says what was fused (`expect`) and names the output. */
static int fused_case(const char *name, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, lb_conv_opts o,
                      unsigned want, unsigned expect) {
    int64_t xs[4] = {N, C, H, W}, ws[4] = {OC, C, 3, 3}, bs[1] = {OC};
    int64_t nx = N * C * H * W, nw = OC * C * 9;
    float *xd = malloc(sizeof(float) * (size_t)nx), *wd = malloc(sizeof(float) * (size_t)nw), bd[64];
    lb_rng r;
    lb_rng_seed(&r, 7);
    for (int64_t i = 0; i < nx; i++) xd[i] = (float)lb_rng_normal(&r);
    for (int64_t i = 0; i < nw; i++) wd[i] = 0.3f * (float)lb_rng_normal(&r);
    for (int64_t i = 0; i < OC; i++) bd[i] = 0.1f * (float)lb_rng_normal(&r);
    float *res[2][4] = {{0}};
    int64_t ny = 0, bad = 0;
    for (int fuse = 0; fuse < 2; fuse++) {
        lb_graph *g = lb_graph_new();
        lb_tensor *x = lb_from_data(g, 4, xs, xd), *w = lb_from_data(g, 4, ws, wd), *b = lb_from_data(g, 1, bs, bd);
        lb_set_requires_grad(x, 1);
        lb_set_requires_grad(w, 1);
        lb_set_requires_grad(b, 1);
        lb_tensor *y;
        if (fuse) {
            lb_graph_fuse(g, want);
            y = lb_conv2d(g, x, w, b, &o);
            lb_tensor *out = NULL;
            unsigned done = lb_graph_fused(g, &out);
            if (done != expect || out != y) { fprintf(stderr, "  %s: fused %u, expected %u\n", name, done, expect); bad++; }
            if (y && (done & LB_FUSE_RELU) == 0) y = lb_relu(g, y);
            if (y && (done & LB_FUSE_MAXPOOL2) == 0 && (want & LB_FUSE_MAXPOOL2)) y = lb_maxpool2d(g, y, 2, 2, 0);
        } else {
            y = lb_relu(g, lb_conv2d(g, x, w, b, &o));
            if (want & LB_FUSE_MAXPOOL2) y = lb_maxpool2d(g, y, 2, 2, 0);
        }
        if (!y) { fprintf(stderr, "  %s: %s\n", name, lb_graph_error(g)); lb_graph_free(g); bad++; break; }
        ny = y->numel;
        float *rw = malloc(sizeof(float) * (size_t)ny);
        for (int64_t i = 0; i < ny; i++) rw[i] = (float)rweight(i);
        lb_tensor *R = lb_from_data(g, y->ndim, y->shape, rw);
        free(rw);
        if (lb_backward(g, lb_sum_all(g, lb_mul(g, y, R)))) { fprintf(stderr, "  %s: backward failed\n", name); bad++; }
        lb_tensor *t[4] = {y, x, w, b};
        for (int k = 0; k < 4; k++) {
            const float *src = k ? t[k]->grad : t[k]->data;
            res[fuse][k] = malloc(sizeof(float) * (size_t)t[k]->numel);
            if (src) memcpy(res[fuse][k], src, sizeof(float) * (size_t)t[k]->numel);
        }
        lb_graph_free(g);
    }
    int64_t len[4] = {ny, nx, nw, OC};
    const char *what[4] = {"output", "x grad", "w grad", "b grad"};
    for (int k = 0; k < 4 && !bad; k++)
        if (memcmp(res[0][k], res[1][k], sizeof(float) * (size_t)len[k])) { fprintf(stderr, "  %s: %s differs\n", name, what[k]); bad++; }
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 4; k++) free(res[f][k]);
    free(xd);
    free(wd);
    return (int)bad;
}

static void test_conv_relu_fused(void) {
    lb_conv_opts same = {1, 1, 1, 1, 1, 1}, s2 = {2, 2, 1, 1, 1, 1}, valid = {1, 1, 0, 0, 1, 1};
    unsigned R = LB_FUSE_RELU, RP = LB_FUSE_RELU | LB_FUSE_MAXPOOL2;
    CHECK(fused_case("small planes", 3, 2, 5, 5, 3, same, R, R) == 0); /* images batched into one GEMM */
    CHECK(fused_case("per image", 2, 2, 12, 11, 4, same, R, R) == 0);  /* one image at a time */
    CHECK(fused_case("stride 2", 2, 1, 24, 23, 4, s2, R, R) == 0);
    CHECK(fused_case("winograd", 3, 8, 14, 13, 16, same, R, R) == 0);  /* F(2x2, 3x3), 2 chunks */
    /* with pooling: odd sizes drop the last row/column; small planes apply the relu only */
    CHECK(fused_case("pool small planes", 3, 2, 5, 5, 3, same, RP, R) == 0);
    CHECK(fused_case("pool per image", 2, 2, 12, 11, 4, same, RP, RP) == 0);
    CHECK(fused_case("pool per image odd", 2, 1, 17, 14, 4, valid, RP, RP) == 0);
    CHECK(fused_case("pool winograd", 3, 8, 14, 13, 16, same, RP, RP) == 0);
    CHECK(fused_case("pool winograd odd", 2, 8, 9, 7, 8, valid, RP, RP) == 0);
    CHECK(fused_case("pool winograd 1 row", 2, 8, 3, 6, 8, same, RP, RP) == 0);
    /* a request no convolution takes is dropped by lb_graph_fused */
    lb_graph *g = lb_graph_new();
    lb_graph_fuse(g, RP);
    lb_tensor *out = NULL;
    CHECK(lb_graph_fused(g, &out) == 0 && out == NULL);
    lb_graph_free(g);
}

static lb_tensor *f_pool(lb_graph *g, lb_tensor **x, const void *a) {
    const int *p = a;
    return p[0] ? lb_avgpool2d(g, x[0], p[1], p[2], p[3]) : lb_maxpool2d(g, x[0], p[1], p[2], p[3]);
}

static void test_pool(void) {
    static int a[][4] = {{0, 2, 2, 0}, {0, 3, 2, 1}, {1, 2, 2, 0}, {1, 3, 1, 1}, {0, 2, 1, 1}, {0, 3, 3, 0}};
    for (int k = 0; k < 6; k++) GC("pool", f_pool, a[k], {T4(2, 2, 6, 5), 1, 4, 0, 0});
}

/* ---- embedding, dropout, softmax, losses, norms ---- */
static lb_tensor *f_emb(lb_graph *g, lb_tensor **x, const void *a) { (void)a; return lb_embedding(g, x[0], x[1]); }

static lb_tensor *f_dropout(lb_graph *g, lb_tensor **x, const void *a) {
    (void)a;
    lb_rng r;
    lb_rng_seed(&r, 7); /* same mask on every evaluation */
    return lb_dropout(g, x[0], 0.4f, 1, &r);
}

static lb_tensor *f_softmax(lb_graph *g, lb_tensor **x, const void *a) {
    const int *p = a;
    lb_tensor *m = p[2] ? x[1] : NULL;
    if (p[0] && m) return lb_exp(g, lb_log_softmax(g, x[0], p[1], m)); /* masked entries are -inf */
    return p[0] ? lb_log_softmax(g, x[0], p[1], m) : lb_softmax(g, x[0], p[1], m);
}

static lb_tensor *f_ce(lb_graph *g, lb_tensor **x, const void *a) {
    const float *p = a;
    return lb_cross_entropy(g, x[0], x[1], (int)p[0], p[1]);
}

static lb_tensor *f_mse(lb_graph *g, lb_tensor **x, const void *a) { (void)a; return lb_mse_loss(g, x[0], x[1]); }

static lb_tensor *f_ln(lb_graph *g, lb_tensor **x, const void *a) {
    return a ? lb_layernorm(g, x[0], x[1], x[2], 1e-5f) : lb_layernorm(g, x[0], NULL, NULL, 1e-5f);
}

static lb_tensor *f_bn(lb_graph *g, lb_tensor **x, const void *a) {
    int training = *(const int *)a;
    int64_t C = x[0]->shape[1];
    lb_tensor *rm = lb_zeros(g, 1, &C), *rv = lb_full(g, 1, &C, 1.5f);
    return lb_batchnorm(g, x[0], x[1], x[2], rm, rv, training, 0.1f, 1e-5f);
}

static void test_misc_ops(void) {
    GC("embedding", f_emb, NULL, {T2(2, 3), 0, 2, 5, 0}, {T2(5, 4), 1, 0, 0, 0});
    GC("dropout", f_dropout, NULL, {T2(4, 5), 1, 0, 0, 0});
    static int s[][3] = {{0, -1, 0}, {1, -1, 0}, {0, 1, 0}, {1, 0, 0}, {0, -1, 1}, {1, -1, 1}};
    for (int k = 0; k < 4; k++) GC("softmax", f_softmax, s[k], {T3(2, 3, 4), 1, 0, 0, 0});
    GC("softmax mask", f_softmax, s[4], {T3(2, 3, 4), 1, 0, 0, 0}, {T2(3, 4), 0, 3, 0, 0});
    GC("log_softmax mask", f_softmax, s[5], {T3(2, 3, 4), 1, 0, 0, 0}, {T2(3, 4), 0, 3, 0, 0});
    static float ce[][2] = {{-100, 0}, {-100, 0.1f}, {2, 0}, {1, 0.2f}};
    for (int k = 0; k < 4; k++) GC("cross_entropy", f_ce, ce[k], {T2(6, 4), 1, 0, 0, 0}, {T1(6), 0, 2, 4, 0});
    GC("mse", f_mse, NULL, {T2(3, 4), 1, 0, 0, 0}, {T2(3, 4), 1, 0, 0, 0});
    static int one = 1, zero = 0;
    GC("layernorm", f_ln, &one, {T3(2, 3, 6), 1, 0, 0, 0}, {T1(6), 1, 0, 0, 0}, {T1(6), 1, 0, 0, 0});
    GC("layernorm plain", f_ln, NULL, {T2(4, 5), 1, 0, 0, 0});
    GC("batchnorm2d train", f_bn, &one, {T4(3, 2, 3, 2), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
    GC("batchnorm1d train", f_bn, &one, {T2(5, 3), 1, 0, 0, 0}, {T1(3), 1, 0, 0, 0}, {T1(3), 1, 0, 0, 0});
    GC("batchnorm eval", f_bn, &zero, {T4(2, 2, 2, 3), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0});
}

/* A composite: a tiny CNN, checking that gradients flow through chained ops. */
static lb_tensor *f_cnn(lb_graph *g, lb_tensor **x, const void *a) {
    (void)a;
    lb_conv_opts o = {1, 1, 1, 1, 1, 1};
    lb_tensor *h = lb_relu(g, lb_conv2d(g, x[0], x[1], x[2], &o));
    h = lb_maxpool2d(g, h, 2, 2, 0);
    h = lb_flatten(g, h, 1);
    h = lb_linear(g, h, x[3], NULL);
    return lb_tanh(g, h);
}

/* Single-head causal self-attention with a residual and layernorm: x [B, T, D], wq/wk/wv [D, D]. */
static lb_tensor *f_attn(lb_graph *g, lb_tensor **x, const void *a) {
    (void)a;
    lb_tensor *q = lb_linear(g, x[0], x[1], NULL), *k = lb_linear(g, x[0], x[2], NULL), *v = lb_linear(g, x[0], x[3], NULL);
    int64_t T = x[0]->shape[1];
    int64_t ms[2] = {T, T};
    lb_tensor *mask = lb_zeros(g, 2, ms);
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j <= i; j++) mask->data[i * T + j] = 1;
    lb_tensor *s = lb_mul_scalar(g, lb_matmul(g, q, lb_transpose(g, k, 1, 2)), 0.5f);
    lb_tensor *o = lb_matmul(g, lb_softmax(g, s, -1, mask), v);
    return lb_layernorm(g, lb_add(g, x[0], o), NULL, NULL, 1e-5f);
}

/* One LSTM step from [x, h] (concat) through a linear layer split into 4 gates. */
static lb_tensor *f_lstm(lb_graph *g, lb_tensor **x, const void *a) {
    (void)a;
    lb_tensor *xs[2] = {x[0], x[1]};
    lb_tensor *z = lb_linear(g, lb_concat(g, xs, 2, 1), x[3], x[4]); /* [B, 4H] */
    int64_t H = x[1]->shape[1];
    lb_tensor *i = lb_sigmoid(g, lb_slice(g, z, 1, 0, H, 1)), *f = lb_sigmoid(g, lb_slice(g, z, 1, H, 2 * H, 1));
    lb_tensor *gg = lb_tanh(g, lb_slice(g, z, 1, 2 * H, 3 * H, 1)), *o = lb_sigmoid(g, lb_slice(g, z, 1, 3 * H, 4 * H, 1));
    lb_tensor *c = lb_add(g, lb_mul(g, f, x[2]), lb_mul(g, i, gg));
    return lb_mul(g, o, lb_tanh(g, c));
}

static void test_composite(void) {
    GC("attention", f_attn, NULL, {T3(2, 4, 6), 1, 0, 0, 0}, {T2(6, 6), 1, 0, 0, 0}, {T2(6, 6), 1, 0, 0, 0},
       {T2(6, 6), 1, 0, 0, 0});
    GC("lstm cell", f_lstm, NULL, {T2(3, 4), 1, 0, 0, 0}, {T2(3, 5), 1, 0, 0, 0}, {T2(3, 5), 1, 0, 0, 0},
       {T2(20, 9), 1, 0, 0, 0}, {T1(20), 1, 0, 0, 0});
    GC("cnn", f_cnn, NULL, {T4(2, 1, 4, 4), 1, 0, 0, 0}, {T4(2, 1, 3, 3), 1, 0, 0, 0}, {T1(2), 1, 0, 0, 0},
       {T2(3, 8), 1, 0, 0, 0});
}


/* ---- recurrent layers (lb_rnn): every input, weight, bias and initial state, gradients from
 * the output sequence and the final state(s) together (f_rnn returns them concatenated) ---- */
typedef struct { int cell, reverse, batch_first, bias, h0, bptt; const int64_t *len; } rnn_arg;

static lb_tensor *rnn_cat(lb_graph *g, const lb_rnn_result *r) {
    if (!r->y) return NULL;
    int64_t m1 = -1;
    lb_tensor *parts[3] = {lb_reshape(g, r->y, 1, &m1), lb_reshape(g, r->h, 1, &m1), r->c ? lb_reshape(g, r->c, 1, &m1) : NULL};
    return lb_concat(g, parts, r->c ? 3 : 2, 0);
}

static lb_tensor *f_rnn(lb_graph *g, lb_tensor **x, const void *a) {
    const rnn_arg *p = a;
    lb_rnn_opts o = {p->cell, p->reverse, p->batch_first, p->bptt, p->len};
    lb_rnn_result r;
    int lstm = p->cell == LB_RNN_LSTM;
    if (lb_rnn(g, x[0], x[1], x[2], p->bias ? x[3] : NULL, p->bias ? x[4] : NULL, p->h0 ? x[5] : NULL,
               p->h0 && lstm ? x[6] : NULL, &o, &r))
        return NULL;
    return rnn_cat(g, &r);
}

static void rnn_gc(const char *name, rnn_arg a, int64_t T, int64_t B, int64_t I, int64_t H) {
    int64_t G = lb_rnn_gates(a.cell), d0 = a.batch_first ? B : T, d1 = a.batch_first ? T : B;
    int lstm = a.cell == LB_RNN_LSTM;
    double h = a.cell == LB_RNN_RELU ? 1e-3 : 1e-2; /* relu: keep the step clear of the kinks */
    gc_in in[7] = {{T3(d0, d1, I), 1, 0, 0, 0}, {T2(G * H, I), 1, 0, 0, 0}, {T2(G * H, H), 1, 0, 0, 0},
                   {T1(G * H), a.bias, 0, 0, 0}, {T1(G * H), a.bias, 0, 0, 0}, {T2(B, H), a.h0, 0, 0, 0},
                   {T2(B, H), a.h0 && lstm, 0, 0, 0}};
    CHECK(gradcheck(name, in, 7, f_rnn, &a, h, 1e-3) == 0);
}

static void test_rnn(void) {
    static const int64_t len3[3] = {4, 2, 3}, len4[4] = {1, 5, 3, 5};
    static const char *names[4] = {"rnn tanh", "rnn relu", "lstm", "gru"};
    for (int cell = 0; cell < 4; cell++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s full", names[cell]);
        rnn_gc(nm, (rnn_arg){cell, 0, 0, 1, 1, 0, NULL}, 4, 3, 3, 2);
        snprintf(nm, sizeof nm, "%s lengths", names[cell]);
        rnn_gc(nm, (rnn_arg){cell, 0, 0, 1, 1, 0, len3}, 4, 3, 3, 2);
        snprintf(nm, sizeof nm, "%s reverse lengths", names[cell]);
        rnn_gc(nm, (rnn_arg){cell, 1, 0, 1, 1, 0, len3}, 4, 3, 3, 2);
        snprintf(nm, sizeof nm, "%s batch_first reverse", names[cell]);
        rnn_gc(nm, (rnn_arg){cell, 1, 1, 1, 1, 0, len4}, 5, 4, 2, 3);
        snprintf(nm, sizeof nm, "%s batch_first no bias no h0", names[cell]);
        rnn_gc(nm, (rnn_arg){cell, 0, 1, 0, 0, 0, len4}, 5, 4, 2, 3);
    }
}

/* Runs lb_rnn on fixed data and returns the gradients of L = sum(y R) + sum(h R') (+ c) with
 * respect to x, w_ih, w_hh, b_ih, b_hh, h0, c0 in one array; chunk > 0 runs the sequence as
 * chunks of that many steps with the state detached between them (forward direction). */
static float *rnn_grads(int cell, int64_t T, int64_t B, int64_t I, int64_t H, const int64_t *len, int bptt, int chunk,
                        int64_t *n_out, float **y_out) {
    int64_t G = lb_rnn_gates(cell), GH = G * H;
    int64_t shp[7][3] = {{T, B, I}, {GH, I}, {GH, H}, {GH}, {GH}, {B, H}, {B, H}};
    int nd[7] = {3, 2, 2, 1, 1, 2, 2};
    lb_graph *g = lb_graph_new();
    lb_tensor *t[7];
    lb_rng r;
    lb_rng_seed(&r, 99);
    int64_t total = 0;
    for (int k = 0; k < 7; k++) {
        t[k] = lb_zeros(g, nd[k], shp[k]);
        for (int64_t i = 0; i < t[k]->numel; i++) t[k]->data[i] = 0.5f * (float)lb_rng_normal(&r);
        lb_set_requires_grad(t[k], 1);
        total += t[k]->numel;
    }
    lb_tensor *c0 = cell == LB_RNN_LSTM ? t[6] : NULL;
    lb_tensor *out = NULL;
    if (!chunk) {
        lb_rnn_opts o = {cell, 0, 0, bptt, len};
        lb_rnn_result res;
        if (!lb_rnn(g, t[0], t[1], t[2], t[3], t[4], t[5], c0, &o, &res)) out = rnn_cat(g, &res);
    } else {
        lb_tensor *h = t[5], *c = c0, *ys[16];
        int n = 0;
        for (int64_t s0 = 0; s0 < T; s0 += chunk, n++) {
            int64_t s1 = s0 + chunk < T ? s0 + chunk : T, cl[16];
            for (int64_t b = 0; b < B; b++) cl[b] = len[b] - s0 < 0 ? 0 : len[b] - s0 > s1 - s0 ? s1 - s0 : len[b] - s0;
            lb_rnn_opts o = {cell, 0, 0, 0, cl};
            lb_rnn_result res;
            if (lb_rnn(g, lb_slice(g, t[0], 0, s0, s1, 1), t[1], t[2], t[3], t[4], h, c, &o, &res)) break;
            ys[n] = res.y;
            h = res.h;
            c = res.c;
            if (s1 < T) { /* detach the sequences that run on; an ended one keeps its path */
                int64_t ms[2] = {B, 1};
                lb_tensor *m = lb_zeros(g, 2, ms), *m1 = lb_zeros(g, 2, ms);
                for (int64_t b = 0; b < B; b++) m->data[b] = 1.0f - (m1->data[b] = len[b] > s1 ? 0.0f : 1.0f);
                h = lb_add(g, lb_mul(g, lb_detach(g, h), m), lb_mul(g, h, m1));
                if (c) c = lb_add(g, lb_mul(g, lb_detach(g, c), m), lb_mul(g, c, m1));
            }
        }
        lb_tensor *y = lb_concat(g, ys, n, 0);
        lb_rnn_result all = {y, h, c};
        out = rnn_cat(g, &all);
    }
    float *gr = NULL;
    if (out) {
        lb_tensor *R = lb_zeros(g, 1, &out->numel);
        for (int64_t i = 0; i < out->numel; i++) R->data[i] = (float)rweight(i);
        if (!lb_backward(g, lb_sum_all(g, lb_mul(g, out, R)))) {
            gr = calloc((size_t)total, sizeof(float));
            *y_out = malloc((size_t)out->numel * sizeof(float));
            lb_copy_out(out, *y_out);
            int64_t off = 0;
            for (int k = 0; k < 7; k++) {
                if (t[k]->grad) memcpy(gr + off, t[k]->grad, (size_t)t[k]->numel * sizeof(float));
                off += t[k]->numel;
            }
            *n_out = total;
        }
    }
    if (!gr) fprintf(stderr, "  rnn_grads: %s\n", lb_graph_error(g) ? lb_graph_error(g) : "no output");
    lb_graph_free(g);
    return gr;
}

/* Values agree to float rounding: the two sides sum in different orders (one GEMM over all
 * steps against one per chunk), a few ulps of the largest term. */
static int close_arrays(const char *what, const float *a, const float *b, int64_t n) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fmax(fabs(a[i]), fabs(b[i])));
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= 64 * FLT_EPSILON * (1.0 + scale))) {
            if (bad++ < 5) fprintf(stderr, "  %s [%lld]: %.8g vs %.8g\n", what, (long long)i, a[i], b[i]);
        }
    return bad;
}

/* Truncated BPTT: bptt = k gives the gradients of chunks of k steps with lb_detach between them
 * (lengths that end inside, at and before a chunk's end), and differs from full BPTT. */
static void test_rnn_bptt(void) {
    static const int64_t len[3] = {7, 3, 5};
    for (int cell = 0; cell < 4; cell++) {
        int64_t n1 = 0, n2 = 0, n3 = 0;
        float *y1 = NULL, *y2 = NULL, *y3 = NULL;
        float *a = rnn_grads(cell, 7, 3, 2, 3, len, 3, 0, &n1, &y1);
        float *b = rnn_grads(cell, 7, 3, 2, 3, len, 0, 3, &n2, &y2);
        float *f = rnn_grads(cell, 7, 3, 2, 3, len, 0, 0, &n3, &y3);
        CHECK(a && b && f && n1 == n2 && n1 == n3);
        if (a && b && f) {
            CHECK(close_arrays("bptt outputs", y1, y2, 7 * 3 * 3 + 3 * 3) == 0);
            CHECK(close_arrays("bptt grads", a, b, n1) == 0);
            double diff = 0;
            for (int64_t i = 0; i < n1; i++) diff = fmax(diff, fabs((double)a[i] - f[i]));
            CHECK(diff > 1e-3); /* truncation changed something */
        }
        free(a); free(b); free(f); free(y1); free(y2); free(y3);
    }
}

/* Decoding one step at a time (T = 1, the state carried between calls) gives the outputs of
 * the whole sequence in one call. */
static void test_rnn_single_step(void) {
    for (int cell = 0; cell < 4; cell++) {
        int64_t T = 5, B = 2, I = 3, H = 4, GH = lb_rnn_gates(cell) * H;
        lb_graph *g = lb_graph_new();
        lb_graph_set_grad(g, 0);
        int64_t xs[3] = {T, B, I}, wi[2] = {GH, I}, wh[2] = {GH, H}, bb[1] = {GH};
        lb_tensor *x = lb_zeros(g, 3, xs), *w1 = lb_zeros(g, 2, wi), *w2 = lb_zeros(g, 2, wh), *b1 = lb_zeros(g, 1, bb),
                  *b2 = lb_zeros(g, 1, bb);
        lb_tensor *ts[5] = {x, w1, w2, b1, b2};
        lb_rng r;
        lb_rng_seed(&r, 5);
        for (int k = 0; k < 5; k++)
            for (int64_t i = 0; i < ts[k]->numel; i++) ts[k]->data[i] = 0.5f * (float)lb_rng_normal(&r);
        lb_rnn_opts o = {cell, 0, 0, 0, NULL};
        lb_rnn_result full, st = {0};
        CHECK(lb_rnn(g, x, w1, w2, b1, b2, NULL, NULL, &o, &full) == 0);
        float *steps = malloc(sizeof(float) * (size_t)(T * B * H));
        for (int64_t t = 0; t < T; t++) {
            CHECK(lb_rnn(g, lb_slice(g, x, 0, t, t + 1, 1), w1, w2, b1, b2, st.h, st.c, &o, &st) == 0);
            if (st.y) lb_copy_out(st.y, steps + t * B * H);
        }
        CHECK(close_arrays("single steps", full.y->data, steps, T * B * H) == 0);
        CHECK(close_arrays("single-step final h", full.h->data, st.h->data, B * H) == 0);
        if (cell == LB_RNN_LSTM) CHECK(close_arrays("single-step final c", full.c->data, st.c->data, B * H) == 0);
        free(steps);
        lb_graph_free(g);
    }
}

/* Bad shapes and lengths are errors with a message, never a crash. */
static void test_rnn_errors(void) {
    lb_graph *g = lb_graph_new();
    int64_t xs[3] = {4, 2, 3}, w1s[2] = {8, 3}, w2s[2] = {8, 2}, w2bad[2] = {8, 3}, hs[2] = {3, 2}, bs[1] = {7};
    static const int64_t badlen[2] = {4, 5};
    lb_rnn_result r;
    lb_rnn_opts o = {LB_RNN_LSTM, 0, 0, 0, NULL};
    CHECK(lb_rnn(g, lb_zeros(g, 3, xs), lb_zeros(g, 2, w1s), lb_zeros(g, 2, w2s), NULL, NULL, NULL, NULL, &o, &r) == 0 &&
          r.c != NULL && r.y->shape[2] == 2);
    static const char *msgs[] = {"lstm: weight_hh must be [4*hidden, hidden], got [8, 3]",
                                 "gru: weight_hh must be [3*hidden, hidden], got [8, 2]",
                                 "lstm: bias_ih must have 8 elements, got [7]",
                                 "lstm: initial hidden state must be [2, 2] (batch, hidden), got [3, 2]",
                                 "lstm: length 5 of sequence 1 is not in 0..4",
                                 "rnn: only an lstm has a cell state"};
    for (int k = 0; k < 6; k++) {
        lb_graph_reset(g);
        lb_tensor *x = lb_zeros(g, 3, xs), *w1 = lb_zeros(g, 2, w1s), *w2 = lb_zeros(g, 2, k == 0 ? w2bad : w2s);
        lb_tensor *b = k == 2 ? lb_zeros(g, 1, bs) : NULL, *h0 = k == 3 ? lb_zeros(g, 2, hs) : NULL;
        lb_tensor *c0 = k == 5 ? lb_zeros(g, 2, hs) : NULL;
        lb_rnn_opts ok = {k == 1 ? LB_RNN_GRU : k == 5 ? LB_RNN_TANH : LB_RNN_LSTM, 0, 0, 0, k == 4 ? badlen : NULL};
        if (k == 5) w1 = lb_zeros(g, 2, (int64_t[]){2, 3}), w2 = lb_zeros(g, 2, (int64_t[]){2, 2});
        CHECK(lb_rnn(g, x, w1, w2, b, NULL, h0, c0, &ok, &r) == -1 && r.y == NULL);
        const char *e = lb_graph_error(g);
        CHECK(e && strstr(e, msgs[k]));
        if (!e || !strstr(e, msgs[k])) fprintf(stderr, "  expected: %s\n  got: %s\n", msgs[k], e ? e : "(none)");
    }
    lb_graph_free(g);
}

int main(void) {
    RUN(test_binary_broadcast);
    RUN(test_unary);
    RUN(test_reduce);
    RUN(test_shape);
    RUN(test_matmul);
    RUN(test_conv);
    RUN(test_conv_relu_fused);
    RUN(test_pool);
    RUN(test_misc_ops);
    RUN(test_composite);
    RUN(test_rnn);
    RUN(test_rnn_bptt);
    RUN(test_rnn_single_step);
    RUN(test_rnn_errors);
    return CHECK_SUMMARY();
}
