/* test_ops_core.c — the engine core: arena reset and reuse, tensors and strided views,
 * broadcasting values, the tape (no-grad mode records nothing, backward accumulates, errors),
 * shape-mismatch messages, the parameter block and checkpoints, the PCG32 generator and
 * determinism (same seed -> bit-identical training), custom ops (lb_custom_op). */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "ops.h"

static void test_arena(void) {
    lb_arena a;
    lb_arena_init(&a, 1024);
    void *p1 = lb_arena_alloc(&a, 10);
    void *p2 = lb_arena_alloc(&a, 5000); /* forces a second chunk */
    CHECK(p1 && p2);
    CHECK(((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0);
    CHECK(a.peak >= 5000);
    lb_arena_reset(&a);
    CHECK_INT(a.used, 0);
    void *p3 = lb_arena_alloc(&a, 5000); /* fits in the one chunk kept */
    CHECK(p3 != NULL);
    lb_arena_reset(&a);
    CHECK(lb_arena_alloc(&a, 5000) == p3); /* steady state: the same single chunk */
    a.limit = 8192;
    CHECK(lb_arena_alloc(&a, 100000) == NULL);
    lb_arena_destroy(&a);
}

static void test_graph_reset_reuses_memory(void) {
    lb_graph *g = lb_graph_new();
    int64_t s[2] = {100, 100};
    float *first = NULL;
    for (int step = 0; step < 3; step++) {
        lb_tensor *x = lb_zeros(g, 2, s);
        lb_tensor *y = lb_add(g, x, x);
        CHECK(y != NULL);
        if (step == 0) first = x->data;
        else CHECK(x->data == first);
        lb_graph_reset(g);
        CHECK_INT(lb_graph_tape_len(g), 0);
    }
    lb_graph_trim(g);
    CHECK_INT(lb_graph_arena(g)->peak, 0);
    CHECK(lb_add(g, lb_zeros(g, 2, s), lb_zeros(g, 2, s)) != NULL);
    lb_graph_free(g);
}

static void test_views(void) {
    lb_graph *g = lb_graph_new();
    float d[24];
    for (int i = 0; i < 24; i++) d[i] = (float)i;
    int64_t s[3] = {2, 3, 4};
    lb_tensor *x = lb_from_data(g, 3, s, d);
    lb_tensor *t = lb_transpose(g, x, 0, 2); /* [4, 3, 2] */
    CHECK(t->data == x->data);
    CHECK(!lb_is_contiguous(t));
    CHECK_INT(t->shape[0], 4);
    CHECK_NEAR(lb_get(t, 1), 12.0, 0); /* t[0,0,1] = x[1,0,0] */
    lb_tensor *sl = lb_slice(g, x, 2, 1, 4, 2); /* [2, 3, 2]: columns 1, 3 */
    CHECK(sl->data == x->data + 1);
    CHECK_NEAR(lb_get(sl, 1), 3.0, 0);
    CHECK_NEAR(lb_get(sl, 2), 5.0, 0);
    lb_tensor *sn = lb_slice(g, x, -1, -2, 100, 1);
    CHECK_INT(sn->shape[2], 2);
    int64_t r[2] = {6, -1};
    lb_tensor *rs = lb_reshape(g, x, 2, r);
    CHECK(rs->data == x->data);
    CHECK_INT(rs->shape[1], 4);
    lb_tensor *rt = lb_reshape(g, t, 2, r); /* not contiguous: copied */
    CHECK(rt->data != x->data);
    CHECK_NEAR(lb_get(rt, 1), 12.0, 0);
    lb_tensor *c = lb_contiguous(g, t);
    CHECK(lb_is_contiguous(c));
    float out[24];
    lb_copy_out(t, out);
    CHECK_NEAR(out[1], 12.0, 0);
    CHECK_NEAR(c->data[1], 12.0, 0);
    lb_tensor *xs[2] = {x, x};
    lb_tensor *cat = lb_concat(g, xs, 2, 0);
    CHECK_INT(cat->shape[0], 4);
    CHECK_NEAR(cat->data[24], 0.0, 0);
    CHECK(lb_graph_error(g) == NULL);
    lb_graph_free(g);
}

static void test_broadcast_values(void) {
    lb_graph *g = lb_graph_new();
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30}, c[2] = {100, 200};
    int64_t sa[2] = {2, 3}, sb[1] = {3}, sc[2] = {2, 1};
    lb_tensor *A = lb_from_data(g, 2, sa, a), *B = lb_from_data(g, 1, sb, b), *C = lb_from_data(g, 2, sc, c);
    lb_tensor *y = lb_add(g, A, B);
    CHECK_NEAR(y->data[4], 25, 0);
    y = lb_mul(g, C, B); /* [2,1] * [3] -> [2,3] */
    CHECK_INT(y->ndim, 2);
    CHECK_INT(y->shape[0], 2);
    CHECK_INT(y->shape[1], 3);
    CHECK_NEAR(y->data[5], 6000, 0);
    y = lb_sub(g, lb_transpose(g, A, 0, 1), C); /* [3,2] - [2,1] -> error */
    CHECK(y == NULL);
    CHECK_STR(lb_graph_error(g), "sub: shapes [3, 2] and [2, 1] cannot be broadcast together");
    lb_graph_reset(g);
    A = lb_from_data(g, 2, sa, a);
    lb_tensor *At = lb_transpose(g, A, 0, 1); /* [3, 2] strided */
    int64_t s3[2] = {3, 1};
    lb_tensor *D = lb_from_data(g, 2, s3, b);
    y = lb_div(g, At, D);
    CHECK_NEAR(y->data[1], 4.0 / 10, 1e-7);
    CHECK_NEAR(y->data[5], 6.0 / 30, 1e-7);
    /* reductions and argmax on a strided view: At = [[1,4],[2,5],[3,6]] */
    lb_tensor *m = lb_max(g, At, 0, 0), *am = lb_argmax(g, At, 1), *sm = lb_sum(g, At, -1, 1), *mn = lb_mean_all(g, At);
    CHECK_NEAR(m->data[0], 3, 0);
    CHECK_NEAR(m->data[1], 6, 0);
    CHECK_NEAR(am->data[2], 1, 0);
    CHECK_INT(sm->ndim, 2);
    CHECK_NEAR(sm->data[1], 7, 0);
    CHECK_NEAR(mn->data[0], 3.5, 1e-7);
    lb_graph_free(g);
}

static void test_nograd_records_nothing(void) {
    lb_graph *g = lb_graph_new();
    int64_t s[2] = {4, 3};
    lb_tensor *x = lb_full(g, 2, s, 0.5f);
    lb_set_requires_grad(x, 1);
    lb_graph_set_grad(g, 0);
    lb_tensor *y = lb_sum_all(g, lb_relu(g, lb_mul(g, x, x)));
    CHECK(y != NULL);
    CHECK_INT(lb_graph_tape_len(g), 0);
    CHECK(!y->requires_grad);
    CHECK(lb_backward(g, y) == -1);
    lb_graph_reset(g);
    lb_graph_set_grad(g, 1);
    x = lb_full(g, 2, s, 0.5f);
    lb_set_requires_grad(x, 1);
    y = lb_sum_all(g, lb_mul(g, x, x));
    CHECK_INT(lb_graph_tape_len(g), 2);
    CHECK(lb_backward(g, y) == 0);
    CHECK_NEAR(x->grad[0], 1.0, 1e-7);
    CHECK(lb_backward(g, y) == -1); /* once per graph */
    lb_graph_free(g);
}

static void test_grad_accumulates_and_reuse(void) {
    lb_graph *g = lb_graph_new();
    int64_t s[1] = {3};
    float d[3] = {1, 2, 3};
    lb_tensor *x = lb_from_data(g, 1, s, d);
    lb_set_requires_grad(x, 1);
    /* x used twice: d/dx sum(x*x + x) = 2x + 1 */
    lb_tensor *y = lb_sum_all(g, lb_add(g, lb_mul(g, x, x), x));
    CHECK(lb_backward(g, y) == 0);
    CHECK_NEAR(x->grad[2], 7.0, 1e-6);
    lb_graph_free(g);
}

static void test_error_messages(void) {
    lb_graph *g = lb_graph_new();
    int64_t s1[2] = {64, 784}, s2[2] = {256, 10};
    lb_tensor *a = lb_zeros(g, 2, s1), *b = lb_zeros(g, 2, s2);
    CHECK(lb_matmul(g, a, b) == NULL);
    CHECK_STR(lb_graph_error(g), "matmul: shapes [64, 784] and [256, 10] do not match");
    CHECK_INT(lb_graph_status(g)->code, LB_ESHAPE);
    /* errors propagate through a chain as NULL, keeping the first message */
    CHECK(lb_relu(g, lb_matmul(g, a, b)) == NULL);
    CHECK_STR(lb_graph_error(g), "matmul: shapes [64, 784] and [256, 10] do not match");
    CHECK(lb_relu(g, a) == NULL); /* sticky until reset */
    CHECK(lb_all_finite(a));
    a->data[5] = NAN;
    CHECK(!lb_all_finite(a));
    lb_graph_reset(g);
    CHECK(lb_graph_error(g) == NULL);
    int64_t w[2] = {10, 100};
    a = lb_zeros(g, 2, s1);
    CHECK(lb_linear(g, a, lb_zeros(g, 2, w), NULL) == NULL);
    CHECK_STR(lb_graph_error(g), "linear: input [64, 784] and weight [10, 100] do not match");
    lb_graph_reset(g);
    int64_t xi[4] = {2, 3, 8, 8}, wi[4] = {4, 1, 3, 3};
    CHECK(lb_conv2d(g, lb_zeros(g, 4, xi), lb_zeros(g, 4, wi), NULL, NULL) == NULL);
    CHECK_STR(lb_graph_error(g), "conv2d: input [2, 3, 8, 8] and weight [4, 1, 3, 3] do not match");
    lb_graph_reset(g);
    int64_t l[2] = {2, 3}, t[1] = {2};
    float tv[2] = {1, 3};
    CHECK(lb_cross_entropy(g, lb_zeros(g, 2, l), lb_from_data(g, 1, t, tv), -100, 0) == NULL);
    CHECK_STR(lb_graph_error(g), "cross_entropy: target 3 out of range for 3 classes");
    lb_graph_reset(g);
    int64_t r[2] = {5, 5};
    CHECK(lb_reshape(g, lb_zeros(g, 2, l), 2, r) == NULL);
    CHECK_STR(lb_graph_error(g), "reshape: cannot reshape [2, 3] into [5, 5]");
    lb_graph_reset(g);
    CHECK(lb_sum(g, lb_zeros(g, 2, l), 2, 0) == NULL);
    CHECK_STR(lb_graph_error(g), "sum: axis 2 out of range for shape [2, 3]");
    lb_graph_reset(g);
    float ids[2] = {0, 7};
    int64_t V[2] = {5, 4};
    CHECK(lb_embedding(g, lb_from_data(g, 1, t, ids), lb_zeros(g, 2, V)) == NULL);
    CHECK_STR(lb_graph_error(g), "embedding: id 7 out of range for 5 embeddings");
    lb_graph_free(g);
}

static void test_rng(void) {
    lb_rng r;
    lb_rng_seed(&r, 42);
    /* Reference values of the PCG32 reference implementation (pcg32_srandom_r(42, 54)). */
    CHECK_INT(lb_rng_u32(&r), 0xa15c02b7u);
    CHECK_INT(lb_rng_u32(&r), 0x7b47f409u);
    CHECK_INT(lb_rng_u32(&r), 0xba1d3330u);
    lb_rng_seed(&r, 1);
    double s = 0, s2 = 0;
    int n = 20000, inrange = 1;
    for (int i = 0; i < n; i++) {
        double v = lb_rng_normal(&r);
        s += v;
        s2 += v * v;
        float u = lb_rng_uniform(&r);
        if (!(u >= 0 && u < 1)) inrange = 0;
        if (lb_rng_below(&r, 10) >= 10) inrange = 0;
    }
    CHECK(inrange);
    CHECK_NEAR(s / n, 0.0, 0.03);
    CHECK_NEAR(s2 / n, 1.0, 0.05);
}

static void test_params_block(void) {
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t s1[2] = {3, 5}, s2[1] = {7};
    lb_tensor *w = lb_params_add(p, "w", 2, s1, 1, &st);
    w->data[0] = 1.5f;
    lb_tensor *b = lb_params_add(p, "b", 1, s2, 1, &st);
    lb_tensor *rm = lb_params_add(p, "rm", 1, s2, 0, &st);
    CHECK(w && b && rm);
    CHECK_NEAR(w->data[0], 1.5, 0); /* survived the move */
    CHECK(lb_params_add(p, "w", 1, s2, 1, &st) == NULL);
    CHECK_STR(st.msg, "params: duplicate name w");
    CHECK_INT(lb_params_numel(p, 1), 22);
    CHECK_INT(lb_params_numel(p, 0), 29);
    CHECK(rm->grad == NULL && !rm->requires_grad);
    size_t n;
    float *blk = lb_params_block(p, &n);
    CHECK(w->data >= blk && b->grad < blk + n);
    CHECK(((uintptr_t)b->data % 64) == 0);
    CHECK(lb_params_ensure_state(p, 2, &st) == 0);
    CHECK_NEAR(w->data[0], 1.5, 0);
    CHECK(lb_params_state(p, 1, b) != NULL);
    for (int i = 0; i < 7; i++) { b->data[i] = (float)i; rm->data[i] = -1.0f * (float)i; b->grad[i] = 3; }
    lb_params_state(p, 1, b)[2] = 9.0f;
    lb_params_set_optim_step(p, 17);
    lb_params_zero_grad(p);
    CHECK_NEAR(b->grad[3], 0, 0);
    char path[] = "/tmp/lb_params_testXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(lb_params_save(p, path, 1, &st) == 0);
    lb_params *q = lb_params_new();
    lb_params_add(q, "b", 1, s2, 1, &st);
    lb_params_add(q, "rm", 1, s2, 0, &st);
    lb_params_add(q, "w", 2, s1, 1, &st);
    CHECK(lb_params_load(q, path, &st) == 0);
    CHECK_NEAR(lb_params_find(q, "w")->data[0], 1.5, 0);
    CHECK_NEAR(lb_params_find(q, "b")->data[6], 6, 0);
    CHECK_NEAR(lb_params_find(q, "rm")->data[6], -6, 0);
    CHECK_NEAR(lb_params_state(q, 1, lb_params_find(q, "b"))[2], 9, 0);
    CHECK_INT(lb_params_optim_step(q), 17);
    lb_params *r = lb_params_new();
    lb_params_add(r, "w", 1, s2, 1, &st);
    CHECK(lb_params_load(r, path, &st) == -1);
    unlink(path);
    lb_params_free(r);
    lb_params_free(q);
    lb_params_free(p);
}

/* The parameter block grows once per parameter, from the heap (small) to mapped blocks
 * (remapped, ops/arena.c), and once per optimizer state: every section keeps what it held
 * (values, gradients, states) and everything new is zero. */
static void test_params_grow_keeps_sections(void) {
    lb_params *p = lb_params_new();
    lb_status st = {0};
    enum { N = 12 };
    lb_tensor *t[N];
    int64_t sizes[N] = {3, 1000, 17, 20000, 5, 30000, 64, 70000, 1, 9, 150000, 33};
    int n = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        if (i == 5) CHECK(lb_params_ensure_state(p, 1, &st) == 0);
        if (i == 9) CHECK(lb_params_ensure_state(p, 2, &st) == 0);
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        t[i] = lb_params_add(p, name, 1, &sizes[i], 1, &st);
        CHECK(t[i] != NULL);
        if (!t[i]) break;
        n = i + 1;
        CHECK(((uintptr_t)t[i]->data % 64) == 0);
        for (int k = 0; k < lb_params_nstate(p); k++)          /* new parts are zero */
            for (int64_t j = 0; j < t[i]->numel; j++) bad += lb_params_state(p, k, t[i])[j] != 0;
        for (int64_t j = 0; j < t[i]->numel; j++) {
            bad += t[i]->data[j] != 0 || t[i]->grad[j] != 0;
            t[i]->data[j] = (float)(i * 1000003 + j);
            t[i]->grad[j] = -(float)(i * 7 + j);
            for (int k = 0; k < lb_params_nstate(p); k++) lb_params_state(p, k, t[i])[j] = (float)(k + 1) * (float)(i + j);
        }
        for (int m = 0; m < i; m++)                             /* the earlier ones kept theirs */
            for (int64_t j = 0; j < t[m]->numel; j++) {
                bad += t[m]->data[j] != (float)(m * 1000003 + j) || t[m]->grad[j] != -(float)(m * 7 + j);
                for (int k = 0; k < lb_params_nstate(p); k++) {
                    /* a state added after tensor m was filled is zero for it */
                    float want = m >= (k == 0 ? 5 : 9) ? (float)(k + 1) * (float)(m + j) : 0.0f;
                    bad += lb_params_state(p, k, t[m])[j] != want;
                }
            }
    }
    CHECK_INT(n, N);
    CHECK_INT(bad, 0);
    size_t nf;
    float *blk = lb_params_block(p, &nf);
    CHECK(nf * sizeof(float) > ((size_t)1 << 20)); /* it did reach mapped sizes */
    CHECK(t[N - 1]->data >= blk && t[N - 1]->grad + t[N - 1]->numel <= blk + nf);
    lb_params_free(p);
}

/* Trains a tiny MLP for a few steps; returns a checksum of the final weights. */
static void train_tiny(uint64_t seed, float *out, int nout) {
    lb_rng r;
    lb_rng_seed(&r, seed);
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t s1[2] = {16, 8}, s2[1] = {16}, s3[2] = {4, 16}, s4[1] = {4};
    lb_tensor *w1 = lb_params_add(p, "w1", 2, s1, 1, &st), *b1 = lb_params_add(p, "b1", 1, s2, 1, &st);
    lb_tensor *w2 = lb_params_add(p, "w2", 2, s3, 1, &st), *b2 = lb_params_add(p, "b2", 1, s4, 1, &st);
    lb_init_linear(w1, b1, &r);
    lb_init_linear(w2, b2, &r);
    lb_optim o = lb_optim_adam(0.01f, 0.9f, 0.999f, 1e-8f, 0);
    lb_graph *g = lb_graph_new();
    for (int step = 0; step < 5; step++) {
        lb_graph_reset(g);
        lb_params_zero_grad(p);
        int64_t xs[2] = {10, 8}, ts[1] = {10};
        lb_tensor *x = lb_empty(g, 2, xs), *t = lb_empty(g, 1, ts);
        for (int i = 0; i < 80; i++) x->data[i] = (float)lb_rng_normal(&r);
        for (int i = 0; i < 10; i++) t->data[i] = (float)lb_rng_below(&r, 4);
        lb_tensor *h = lb_dropout(g, lb_gelu(g, lb_linear(g, x, w1, b1)), 0.2f, 1, &r);
        lb_tensor *loss = lb_cross_entropy(g, lb_linear(g, h, w2, b2), t, -100, 0.1f);
        lb_backward(g, loss);
        lb_optim_step(&o, p, &st);
    }
    for (int i = 0; i < nout; i++) out[i] = w1->data[i];
    lb_graph_free(g);
    lb_params_free(p);
}

static void test_determinism(void) {
    float a[64], b[64], c[64];
    for (int threads = 1; threads <= 2; threads++) {
        lb_set_threads(threads);
        train_tiny(5, a, 64);
        train_tiny(5, b, 64);
        train_tiny(6, c, 64);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(memcmp(a, c, sizeof a) != 0);
    }
    lb_set_threads(1);
}

static void test_detach(void) {
    lb_graph *g = lb_graph_new();
    int64_t s[1] = {3};
    lb_tensor *x = lb_full(g, 1, s, 2.0f);
    lb_set_requires_grad(x, 1);
    lb_tensor *y = lb_mul(g, x, x);
    lb_tensor *d = lb_detach(g, y);
    CHECK(d->data == y->data && !d->requires_grad);
    lb_tensor *l = lb_sum_all(g, lb_add(g, lb_mul(g, d, x), y)); /* d treated as a constant 4 */
    CHECK(lb_backward(g, l) == 0);
    CHECK_NEAR(x->grad[0], 4.0 + 4.0, 1e-6);
    lb_graph_free(g);
}


/* lb_custom_op: y = a * x^2 + b (a from the ctx, b a second input) with its own backward,
 * against finite differences; a strided input is made contiguous; errors from fwd. */
typedef struct { float a; int calls; } sq_ctx;

static int sq_fwd(lb_custom_call *c) {
    sq_ctx *k = c->ctx;
    const float *x = c->in[0]->data, *b = c->in[1]->data;
    if (k->a == 0) return lb_status_set(lb_graph_status(c->graph), LB_EVALUE, "%s: a must not be 0", c->name);
    for (int64_t i = 0; i < c->out->numel; i++) c->out->data[i] = k->a * x[i] * x[i] + b[i % c->in[1]->numel];
    k->calls++; /* the arena copy: backward sees it */
    return 0;
}

static void sq_bwd(const lb_custom_call *c, const float *gout, float *const *gin) {
    const sq_ctx *k = c->ctx;
    const float *x = c->in[0]->data;
    for (int64_t i = 0; i < c->out->numel; i++) {
        if (gin[0]) gin[0][i] += 2 * k->a * x[i] * gout[i];
        if (gin[1]) gin[1][i % c->in[1]->numel] += gout[i];
    }
    CHECK(k->calls == 1);
}

static void test_custom_op(void) {
    lb_graph *g = lb_graph_new();
    float xv[6] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f}, bv[3] = {0.1f, 0.2f, 0.3f};
    sq_ctx k = {1.5f, 0};
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3};
    lb_tensor *x = lb_from_data(g, 2, s32, xv), *b = lb_from_data(g, 1, s3, bv);
    lb_set_requires_grad(x, 1);
    lb_set_requires_grad(b, 1);
    lb_tensor *xt = lb_transpose(g, x, 0, 1); /* [2, 3], strided */
    lb_tensor *in[2] = {xt, b};
    lb_tensor *y = lb_custom_op(g, "square", 2, in, 2, s23, sq_fwd, sq_bwd, &k, sizeof k);
    CHECK(y && y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3);
    CHECK(k.calls == 0); /* the caller's struct is not touched */
    /* y[i][j] = 1.5 * x[j][i]^2 + b[j] */
    CHECK(y && fabsf(y->data[1] - (1.5f * 2.0f * 2.0f + 0.2f)) < 1e-6f);
    CHECK(lb_backward(g, lb_sum_all(g, y)) == 0);
    for (int i = 0; i < 6; i++) CHECK(fabsf(x->grad[i] - 3.0f * xv[i]) < 1e-6f);
    for (int j = 0; j < 3; j++) CHECK(fabsf(b->grad[j] - 2.0f) < 1e-6f);
    /* a failing forward sets the status with its own message; later ops return NULL */
    lb_graph_reset(g);
    sq_ctx zero = {0, 0};
    x = lb_from_data(g, 2, s32, xv);
    b = lb_from_data(g, 1, s3, bv);
    lb_tensor *in2[2] = {x, b};
    CHECK(lb_custom_op(g, "square", 2, in2, 2, s32, sq_fwd, sq_bwd, &zero, sizeof zero) == NULL);
    CHECK(lb_graph_error(g) && strcmp(lb_graph_error(g), "square: a must not be 0") == 0);
    lb_graph_reset(g);
    CHECK(lb_custom_op(g, "square", 0, in2, 2, s32, sq_fwd, NULL, NULL, 0) == NULL);
    CHECK(lb_graph_error(g) && strstr(lb_graph_error(g), "square: takes 1 to 4 inputs"));
    /* without a backward: a constant (nothing recorded) */
    lb_graph_reset(g);
    x = lb_from_data(g, 2, s32, xv);
    lb_set_requires_grad(x, 1);
    b = lb_from_data(g, 1, s3, bv);
    lb_tensor *in3[2] = {x, b};
    y = lb_custom_op(g, "square", 2, in3, 2, s32, sq_fwd, NULL, &k, sizeof k);
    CHECK(y && !y->requires_grad && lb_graph_tape_len(g) == 0);
    lb_graph_free(g);
}

/* The choice of OpenBLAS core (ops/blas.c) as a table: the fallback cores are replaced by the
 * best the CPU supports, good ones are kept. */
static void test_blas_core_choice(void) {
    CHECK_INT(lb_blas_core_level("Prescott"), 0);
    CHECK_INT(lb_blas_core_level("Nehalem"), 0);
    CHECK_INT(lb_blas_core_level("Sandybridge"), 1);
    CHECK_INT(lb_blas_core_level("haswell"), 2);
    CHECK_INT(lb_blas_core_level("Zen"), 2);
    CHECK_INT(lb_blas_core_level("SkylakeX"), 3);
    CHECK_INT(lb_blas_core_level("Cooperlake"), 3);
    CHECK_INT(lb_blas_core_level(NULL), 0);
    CHECK_STR(lb_blas_better_core("Prescott", 3, 0), "SkylakeX");   /* the unrecognised Xeon */
    CHECK_STR(lb_blas_better_core("Prescott", 3, 1), "SkylakeX");
    CHECK_STR(lb_blas_better_core("Prescott", 2, 0), "Haswell");
    CHECK_STR(lb_blas_better_core("Core2", 2, 1), "Zen");
    CHECK_STR(lb_blas_better_core("Nehalem", 1, 0), "Sandybridge");
    CHECK_STR(lb_blas_better_core("Haswell", 3, 0), "SkylakeX");
    CHECK(lb_blas_better_core("Prescott", 0, 0) == NULL);           /* an SSE-only CPU */
    CHECK(lb_blas_better_core("Haswell", 2, 0) == NULL);
    CHECK(lb_blas_better_core("Zen", 2, 1) == NULL);
    CHECK(lb_blas_better_core("Cooperlake", 3, 1) == NULL);
    CHECK(lb_blas_better_core("SkylakeX", 2, 0) == NULL);           /* never a lesser one */
    const lb_blas_info *b = lb_blas_info_get();
    CHECK(b->core[0] && b->cpu[0] && b->version[0] && b->library[0]);
    if (!strcmp(b->chosen_by, "labbook") && !b->note[0]) /* labbook's choice took effect */
        CHECK(lb_blas_core_level(b->core) >= b->cpu_level);
}

int main(void) {
    char core[320];
    printf("blas: %s\n", lb_blas_summary(core, sizeof core)); /* tests/test_blas.py reads this */
    lb_set_threads(1);
    RUN(test_blas_core_choice);
    RUN(test_arena);
    RUN(test_graph_reset_reuses_memory);
    RUN(test_views);
    RUN(test_broadcast_values);
    RUN(test_nograd_records_nothing);
    RUN(test_grad_accumulates_and_reuse);
    RUN(test_error_messages);
    RUN(test_rng);
    RUN(test_params_block);
    RUN(test_params_grow_keeps_sections);
    RUN(test_determinism);
    RUN(test_detach);
    RUN(test_custom_op);
    return CHECK_SUMMARY();
}
