/* rnn_bench.c — speed of the fused recurrent op (lb_rnn): one LSTM training step, forward and
 * backward (hidden 256, batch 64, length 20, input 128; loss sum(y R) + sum(h_T R'), gradients
 * of every weight and bias), as bench/rnn_bench.py times nn.LSTM in PyTorch. Prints the median
 * time per step over rounds, the BLAS core and the CPU.
 *   rnn_bench [threads] [rounds] [steps-per-round] [cell: lstm|gru|tanh] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"

/* LB_BENCH_CPU=1 measures process CPU time (fairer on a shared machine with 1 thread). */
static double now(void) {
    struct timespec ts;
    clock_gettime(getenv("LB_BENCH_CPU") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    enum { T = 20, B = 64, I = 128, H = 256 };
    int threads = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 5;
    int steps = argc > 3 ? atoi(argv[3]) : 10;
    const char *cn = argc > 4 ? argv[4] : "lstm";
    int cell = !strcmp(cn, "gru") ? LB_RNN_GRU : !strcmp(cn, "tanh") ? LB_RNN_TANH : LB_RNN_LSTM;
    if (rounds < 1 || rounds > 100 || steps < 1) { fprintf(stderr, "usage: %s [threads] [rounds] [steps] [cell]\n", argv[0]); return 2; }
    lb_set_threads(threads);
    int64_t G = lb_rnn_gates(cell), wi[2] = {G * H, I}, wh[2] = {G * H, H}, bs[1] = {G * H};
    lb_params *p = lb_params_new();
    lb_status st = {0};
    lb_tensor *w[4] = {lb_params_add(p, "w_ih", 2, wi, 1, &st), lb_params_add(p, "w_hh", 2, wh, 1, &st),
                       lb_params_add(p, "b_ih", 1, bs, 1, &st), lb_params_add(p, "b_hh", 1, bs, 1, &st)};
    lb_rng r;
    lb_rng_seed(&r, 1);
    for (int k = 0; k < 4; k++)
        for (int64_t i = 0; i < w[k]->numel; i++) w[k]->data[i] = (lb_rng_uniform(&r) * 2 - 1) / 16.0f; /* 1/sqrt(H) */
    float *X = malloc(sizeof(float) * T * B * I), *R = malloc(sizeof(float) * T * B * H), *R2 = malloc(sizeof(float) * B * H);
    for (int i = 0; i < T * B * I; i++) X[i] = (float)lb_rng_normal(&r);
    for (int i = 0; i < T * B * H; i++) R[i] = (float)lb_rng_normal(&r);
    for (int i = 0; i < B * H; i++) R2[i] = (float)lb_rng_normal(&r);
    lb_graph *g = lb_graph_new();
    double *per = malloc(sizeof(double) * (size_t)rounds);
    for (int round = -1; round < rounds; round++) { /* round -1 warms up */
        double t0 = now();
        for (int s = 0; s < steps; s++) {
            lb_graph_reset(g);
            lb_params_zero_grad(p);
            int64_t xs[3] = {T, B, I}, ys[3] = {T, B, H}, hs[2] = {B, H};
            lb_rnn_opts o = {cell, 0, 0, 0, NULL};
            lb_rnn_result res;
            if (lb_rnn(g, lb_wrap(g, 3, xs, X), w[0], w[1], w[2], w[3], NULL, NULL, &o, &res) ||
                lb_backward(g, lb_add(g, lb_sum_all(g, lb_mul(g, res.y, lb_wrap(g, 3, ys, R))),
                                      lb_sum_all(g, lb_mul(g, res.h, lb_wrap(g, 2, hs, R2)))))) {
                fprintf(stderr, "error: %s\n", lb_graph_error(g));
                return 1;
            }
        }
        if (round >= 0) per[round] = (now() - t0) / steps;
    }
    qsort(per, (size_t)rounds, sizeof *per, cmp);
    char core[320];
    printf("labbook %s T%d B%d I%d H%d, %d thread(s): %.3f ms per training step (median of %d rounds of %d)\n", cn, T, B,
           I, H, threads, 1e3 * per[rounds / 2], rounds, steps);
    printf("blas: %s\ncpu: %s\n", lb_blas_summary(core, sizeof core), lb_blas_info_get()->cpu);
    lb_graph_free(g);
    lb_params_free(p);
    free(X); free(R); free(R2); free(per);
    return 0;
}
