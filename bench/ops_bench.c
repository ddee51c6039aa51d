/* ops_bench.c — training-speed benchmark of the ops/ engine on the two reference models of
 * bench/README.md (batch 64, SGD momentum 0.9, synthetic Fashion-MNIST-shaped data):
 *   MLP 784-256-10 (relu)   and   CNN conv16-pool-conv32-pool-linear (3x3, padding 1, relu).
 * Prints samples/s per model; bench/ops_bench_torch.py does the same in PyTorch.
 *   ops_bench [threads] [seconds-per-model, or -steps] [mlp|cnn|layers [INDEX]|rnn] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops.h"

/* LB_BENCH_CPU=1 measures process CPU time instead of wall time (fairer on a loaded machine
 * with 1 thread; with several threads CPU time adds them up). */
static double now(void) {
    struct timespec ts;
    clock_gettime(getenv("LB_BENCH_CPU") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct { lb_params *p; lb_tensor *t[6]; } model;

static lb_tensor *add(model *m, const char *n, int nd, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    lb_status st = {0};
    return lb_params_add(m->p, n, nd, s, 1, &st);
}

static lb_tensor *forward(lb_graph *g, model *m, int cnn, lb_tensor *x) {
    if (!cnn) {
        lb_tensor *h = lb_relu(g, lb_linear(g, lb_flatten(g, x, 1), m->t[0], m->t[1]));
        return lb_linear(g, h, m->t[2], m->t[3]);
    }
    lb_conv_opts o = {1, 1, 1, 1, 1, 1};
    lb_tensor *h = lb_maxpool2d(g, lb_relu(g, lb_conv2d(g, x, m->t[0], m->t[1], &o)), 2, 2, 0);
    h = lb_maxpool2d(g, lb_relu(g, lb_conv2d(g, h, m->t[2], m->t[3], &o)), 2, 2, 0);
    return lb_linear(g, lb_flatten(g, h, 1), m->t[4], m->t[5]);
}

static double bench(int cnn, double secs) {
    lb_rng r;
    lb_rng_seed(&r, 1);
    model m = {lb_params_new(), {0}};
    if (!cnn) {
        m.t[0] = add(&m, "w1", 2, 256, 784, 0, 0); m.t[1] = add(&m, "b1", 1, 256, 0, 0, 0);
        m.t[2] = add(&m, "w2", 2, 10, 256, 0, 0); m.t[3] = add(&m, "b2", 1, 10, 0, 0, 0);
        lb_init_linear(m.t[0], m.t[1], &r); lb_init_linear(m.t[2], m.t[3], &r);
    } else {
        m.t[0] = add(&m, "c1w", 4, 16, 1, 3, 3); m.t[1] = add(&m, "c1b", 1, 16, 0, 0, 0);
        m.t[2] = add(&m, "c2w", 4, 32, 16, 3, 3); m.t[3] = add(&m, "c2b", 1, 32, 0, 0, 0);
        m.t[4] = add(&m, "fw", 2, 10, 32 * 7 * 7, 0, 0); m.t[5] = add(&m, "fb", 1, 10, 0, 0, 0);
        for (int i = 0; i < 6; i += 2) lb_init_linear(m.t[i], m.t[i + 1], &r);
    }
    int B = 64, nb = 16;
    float *X = malloc(sizeof(float) * (size_t)(B * 784 * nb)), *Y = malloc(sizeof(float) * (size_t)(B * nb));
    for (int i = 0; i < B * 784 * nb; i++) X[i] = lb_rng_uniform(&r);
    for (int i = 0; i < B * nb; i++) Y[i] = (float)lb_rng_below(&r, 10);
    lb_optim o = lb_optim_sgd(0.01f, 0.9f, 0, 0, 0);
    lb_graph *g = lb_graph_new();
    lb_status st = {0};
    long steps = 0;
    double t0 = 0, loss = 0;
    for (int warm = 1;; warm = 0) {
        if (!warm && t0 == 0) t0 = now();
        int k = (int)(steps % nb);
        lb_graph_reset(g);
        lb_params_zero_grad(m.p);
        int64_t xs[4] = {B, 1, 28, 28}, ys[1] = {B};
        lb_tensor *x = lb_wrap(g, 4, xs, X + (size_t)k * B * 784), *y = lb_wrap(g, 1, ys, Y + (size_t)k * B);
        lb_tensor *l = lb_cross_entropy(g, forward(g, &m, cnn, x), y, -100, 0);
        if (lb_backward(g, l) || lb_optim_step(&o, m.p, &st)) {
            fprintf(stderr, "error: %s %s\n", lb_graph_error(g) ? lb_graph_error(g) : "", st.msg);
            exit(1);
        }
        loss = l->data[0];
        if (warm) continue;
        steps++;
        if (secs < 0 ? steps >= (long)-secs : now() - t0 > secs) break; /* secs < 0: a fixed step count */
    }
    double sps = (double)steps * B / (now() - t0);
    fprintf(stderr, "  (%s: %ld steps, last loss %.4f)\n", cnn ? "cnn" : "mlp", steps, loss);
    lb_graph_free(g);
    lb_params_free(m.p);
    free(X);
    free(Y);
    return sps;
}

/* Forward+backward of single layers (input gradient included): ms per call and GFLOP/s. */
static void layers(int only) {
    lb_rng r;
    lb_rng_seed(&r, 2);
    lb_graph *g = lb_graph_new();
    for (int which = 0; which < 5; which++) {
        if (only >= 0 && which != only) continue;
        int64_t xs[4], ws[4];
        int xd, wd;
        double flop;
        const char *name;
        if (which == 0) { /* linear 64x784 -> 256 */
            xs[0] = 64; xs[1] = 784; ws[0] = 256; ws[1] = 784; xd = wd = 2;
            flop = 3.0 * 2 * 64 * 784 * 256; name = "linear [64,784]x[256,784]^T";
        } else if (which == 1) { /* conv 16->32 3x3 p1 on 14x14 */
            xs[0] = 64; xs[1] = 16; xs[2] = 14; xs[3] = 14; ws[0] = 32; ws[1] = 16; ws[2] = 3; ws[3] = 3; xd = wd = 4;
            flop = 3.0 * 2 * 64 * 32 * 196 * 144; name = "conv2d [64,16,14,14] * [32,16,3,3] p1";
        } else if (which == 2) { /* conv 1->16 3x3 p1 on 28x28 */
            xs[0] = 64; xs[1] = 1; xs[2] = 28; xs[3] = 28; ws[0] = 16; ws[1] = 1; ws[2] = 3; ws[3] = 3; xd = wd = 4;
            flop = 3.0 * 2 * 64 * 16 * 784 * 9; name = "conv2d [64,1,28,28] * [16,1,3,3] p1";
        } else if (which == 3) { /* the strided CNN's second layer: 16->32 3x3 s2 p1, 14x14 -> 7x7 */
            xs[0] = 64; xs[1] = 16; xs[2] = 14; xs[3] = 14; ws[0] = 32; ws[1] = 16; ws[2] = 3; ws[3] = 3; xd = wd = 4;
            flop = 3.0 * 2 * 64 * 32 * 49 * 144; name = "conv2d [64,16,14,14] * [32,16,3,3] s2 p1";
        } else { /* its first: 1->16 3x3 s2 p1, 28x28 -> 14x14 */
            xs[0] = 64; xs[1] = 1; xs[2] = 28; xs[3] = 28; ws[0] = 16; ws[1] = 1; ws[2] = 3; ws[3] = 3; xd = wd = 4;
            flop = 3.0 * 2 * 64 * 16 * 196 * 9; name = "conv2d [64,1,28,28] * [16,1,3,3] s2 p1";
        }
        int stride = which >= 3 ? 2 : 1;
        lb_params *p = lb_params_new();
        lb_status st = {0};
        lb_tensor *w = lb_params_add(p, "w", wd, ws, 1, &st);
        lb_init_linear(w, NULL, &r);
        float *xd_ = malloc(sizeof(float) * (size_t)(xs[0] * xs[1] * (xd == 4 ? xs[2] * xs[3] : 1)));
        for (int64_t i = 0; i < xs[0] * xs[1] * (xd == 4 ? xs[2] * xs[3] : 1); i++) xd_[i] = lb_rng_uniform(&r);
        int reps = 0;
        double t0 = now(), t;
        lb_conv_opts o = {stride, stride, 1, 1, 1, 1};
        do {
            lb_graph_reset(g);
            lb_tensor *x = lb_wrap(g, xd, xs, xd_);
            lb_set_requires_grad(x, 1);
            lb_tensor *y = which == 0 ? lb_linear(g, x, w, NULL) : lb_conv2d(g, x, w, NULL, &o);
            lb_backward(g, lb_sum_all(g, y));
            reps++;
        } while ((t = now() - t0) < 1.0);
        printf("  %-40s fwd+bwd %.3f ms  %.1f GFLOP/s\n", name, 1e3 * t / reps, flop * reps / t * 1e-9);
        free(xd_);
        lb_params_free(p);
    }
    lb_graph_free(g);
}

/* LSTM h128 over length-24 sequences of 32 features, batch 64, composed from ops (one linear
 * on [x_t, h] per step, gates by slicing), last hidden state -> linear 10 -> cross-entropy. */
static double bench_lstm(double secs) {
    enum { B = 64, T = 24, I = 32, H = 128 };
    lb_rng r;
    lb_rng_seed(&r, 3);
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t ws[2] = {4 * H, I + H}, bs[1] = {4 * H}, fs[2] = {10, H}, fb[1] = {10};
    lb_tensor *w = lb_params_add(p, "w", 2, ws, 1, &st), *b = lb_params_add(p, "b", 1, bs, 1, &st);
    lb_tensor *fw = lb_params_add(p, "fw", 2, fs, 1, &st), *fbb = lb_params_add(p, "fb", 1, fb, 1, &st);
    lb_init_linear(w, b, &r);
    lb_init_linear(fw, fbb, &r);
    float *X = malloc(sizeof(float) * B * T * I), *Y = malloc(sizeof(float) * B);
    for (int i = 0; i < B * T * I; i++) X[i] = (float)lb_rng_normal(&r);
    for (int i = 0; i < B; i++) Y[i] = (float)lb_rng_below(&r, 10);
    lb_optim o = lb_optim_sgd(0.01f, 0.9f, 0, 0, 0);
    lb_graph *g = lb_graph_new();
    long steps = 0;
    double t0 = 0;
    for (int warm = 1;; warm = 0) {
        if (!warm && t0 == 0) t0 = now();
        lb_graph_reset(g);
        lb_params_zero_grad(p);
        int64_t xs[3] = {B, T, I}, hs[2] = {B, H}, ys[1] = {B};
        lb_tensor *x = lb_wrap(g, 3, xs, X), *h = lb_zeros(g, 2, hs), *c = lb_zeros(g, 2, hs);
        for (int t = 0; t < T; t++) {
            int64_t s2[2] = {B, I};
            lb_tensor *xt = lb_reshape(g, lb_slice(g, x, 1, t, t + 1, 1), 2, s2);
            lb_tensor *cat[2] = {xt, h};
            lb_tensor *z = lb_linear(g, lb_concat(g, cat, 2, 1), w, b);
            lb_tensor *ig = lb_sigmoid(g, lb_slice(g, z, 1, 0, H, 1)), *fg = lb_sigmoid(g, lb_slice(g, z, 1, H, 2 * H, 1));
            lb_tensor *gg = lb_tanh(g, lb_slice(g, z, 1, 2 * H, 3 * H, 1)), *og = lb_sigmoid(g, lb_slice(g, z, 1, 3 * H, 4 * H, 1));
            c = lb_add(g, lb_mul(g, fg, c), lb_mul(g, ig, gg));
            h = lb_mul(g, og, lb_tanh(g, c));
        }
        lb_tensor *l = lb_cross_entropy(g, lb_linear(g, h, fw, fbb), lb_wrap(g, 1, ys, Y), -100, 0);
        if (lb_backward(g, l) || lb_optim_step(&o, p, &st)) { fprintf(stderr, "error: %s\n", lb_graph_error(g)); exit(1); }
        if (warm) continue;
        steps++;
        if (secs < 0 ? steps >= (long)-secs : now() - t0 > secs) break;
    }
    double sps = (double)steps * B / (now() - t0);
    lb_graph_free(g);
    lb_params_free(p);
    free(X);
    free(Y);
    return sps;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double secs = argc > 2 ? atof(argv[2]) : 3.0;
    lb_set_threads(threads);
    if (argc > 3 && argv[3][0] == 'l') {
        printf("labbook ops, %d thread(s), single layers:\n", threads);
        layers(argc > 4 ? atoi(argv[4]) : -1); /* ops_bench T S layers [INDEX]: one layer (profiling) */
        return 0;
    }
    if (argc > 3 && argv[3][0] == 'r') {
        printf("labbook ops, %d thread(s): LSTM h128 x24 %.0f sequences/s\n", threads, bench_lstm(secs));
        return 0;
    }
    if (argc > 3) { /* one model only (for profiling) */
        int cnn = argv[3][0] == 'c';
        printf("labbook ops, %d thread(s): %s %.0f samples/s\n", threads, cnn ? "CNN" : "MLP", bench(cnn, secs));
        return 0;
    }
    printf("labbook ops, %d thread(s): MLP %.0f samples/s, CNN %.0f samples/s\n", threads, bench(0, secs), bench(1, secs));
    return 0;
}
