/* ops_fashion.c — end-to-end check of the ops/ engine on Fashion-MNIST (Debian package
 * dataset-fashion-mnist): trains the reference CNN (conv16-pool-conv32-pool-linear) or MLP for
 * a given number of epochs with SGD momentum, batch 64, then reports test accuracy (no-grad
 * evaluation) and throughput.   ops_fashion [cnn|mlp] [epochs] [threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "ops.h"

#define DIR "/usr/share/datasets/fashion-mnist/"

static unsigned char *load_gz(const char *path, size_t skip, size_t n) {
    gzFile f = gzopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    unsigned char *buf = malloc(skip + n);
    if (gzread(f, buf, (unsigned)(skip + n)) != (int)(skip + n)) { fprintf(stderr, "short read %s\n", path); exit(1); }
    gzclose(f);
    memmove(buf, buf + skip, n);
    return buf;
}

static float *images(const char *path, int n) {
    unsigned char *b = load_gz(path, 16, (size_t)n * 784);
    float *x = malloc(sizeof(float) * (size_t)n * 784);
    for (size_t i = 0; i < (size_t)n * 784; i++) x[i] = ((float)b[i] / 255.0f - 0.2860f) / 0.3530f;
    free(b);
    return x;
}

static float *labels(const char *path, int n) {
    unsigned char *b = load_gz(path, 8, (size_t)n);
    float *y = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) y[i] = b[i];
    free(b);
    return y;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lb_tensor *P[6];

static lb_tensor *forward(lb_graph *g, int cnn, lb_tensor *x) {
    if (!cnn) return lb_linear(g, lb_relu(g, lb_linear(g, lb_flatten(g, x, 1), P[0], P[1])), P[2], P[3]);
    lb_conv_opts o = {1, 1, 1, 1, 1, 1};
    lb_tensor *h = lb_maxpool2d(g, lb_relu(g, lb_conv2d(g, x, P[0], P[1], &o)), 2, 2, 0);
    h = lb_maxpool2d(g, lb_relu(g, lb_conv2d(g, h, P[2], P[3], &o)), 2, 2, 0);
    return lb_linear(g, lb_flatten(g, h, 1), P[4], P[5]);
}

int main(int argc, char **argv) {
    int cnn = argc > 1 ? argv[1][0] == 'c' : 1, epochs = argc > 2 ? atoi(argv[2]) : 1;
    lb_set_threads(argc > 3 ? atoi(argv[3]) : 1);
    int NTR = 60000, NTE = 10000, B = 64;
    float *xtr = images(DIR "train-images-idx3-ubyte.gz", NTR), *ytr = labels(DIR "train-labels-idx1-ubyte.gz", NTR);
    float *xte = images(DIR "t10k-images-idx3-ubyte.gz", NTE), *yte = labels(DIR "t10k-labels-idx1-ubyte.gz", NTE);
    lb_rng r;
    lb_rng_seed(&r, 0);
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t sh[6][4] = {{16, 1, 3, 3}, {16}, {32, 16, 3, 3}, {32}, {10, 32 * 7 * 7}, {10}};
    int nd[6] = {4, 1, 4, 1, 2, 1};
    int64_t mh[4][2] = {{256, 784}, {256}, {10, 256}, {10}};
    int md[4] = {2, 1, 2, 1};
    const char *names[6] = {"w1", "b1", "w2", "b2", "w3", "b3"};
    int np = cnn ? 6 : 4;
    for (int i = 0; i < np; i++) P[i] = lb_params_add(p, names[i], cnn ? nd[i] : md[i], cnn ? sh[i] : mh[i], 1, &st);
    for (int i = 0; i < np; i += 2) lb_init_linear(P[i], P[i + 1], &r);
    lb_optim o = lb_optim_sgd(0.01f, 0.9f, 0, 0, 0);
    lb_graph *g = lb_graph_new();
    int *perm = malloc(sizeof(int) * (size_t)NTR);
    float *bx = malloc(sizeof(float) * (size_t)B * 784), *by = malloc(sizeof(float) * (size_t)B);
    double t0 = now();
    long seen = 0;
    for (int e = 0; e < epochs; e++) {
        for (int i = 0; i < NTR; i++) perm[i] = i;
        for (int i = NTR - 1; i > 0; i--) { int j = (int)lb_rng_below(&r, (uint32_t)i + 1), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        double lsum = 0;
        int nb = 0;
        for (int s = 0; s + B <= NTR; s += B, nb++) {
            for (int k = 0; k < B; k++) {
                memcpy(bx + (size_t)k * 784, xtr + (size_t)perm[s + k] * 784, 784 * sizeof(float));
                by[k] = ytr[perm[s + k]];
            }
            lb_graph_reset(g);
            lb_params_zero_grad(p);
            int64_t xs[4] = {B, 1, 28, 28}, ys[1] = {B};
            lb_tensor *l = lb_cross_entropy(g, forward(g, cnn, lb_wrap(g, 4, xs, bx)), lb_wrap(g, 1, ys, by), -100, 0);
            if (lb_backward(g, l) || lb_optim_step(&o, p, &st)) { fprintf(stderr, "error: %s\n", lb_graph_error(g)); return 1; }
            lsum += l->data[0];
            seen += B;
        }
        printf("epoch %d: mean train loss %.4f\n", e + 1, lsum / nb);
    }
    double tt = now() - t0;
    lb_graph_set_grad(g, 0);
    int correct = 0;
    for (int s = 0; s < NTE; s += 500) {
        lb_graph_reset(g);
        int64_t xs[4] = {500, 1, 28, 28};
        lb_tensor *pred = lb_argmax(g, forward(g, cnn, lb_wrap(g, 4, xs, xte + (size_t)s * 784)), 1);
        for (int k = 0; k < 500; k++) correct += pred->data[k] == yte[s + k];
    }
    printf("%s: test accuracy %.4f, %.0f samples/s training (%.1f s)\n", cnn ? "cnn" : "mlp", correct / (double)NTE,
           seen / tt, tt);
    return 0;
}
