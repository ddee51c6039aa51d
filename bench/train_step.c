/* train_step.c — the labbook side of bench/train_step.py: training steps of models built
 * through labbook's real model path (an interpreter runs `use mlp`, `use cnn` and `model ...`,
 * which dlopen the plugins of the build tree), then the trainer's seam: lb_model_forward,
 * lb_cross_entropy, lb_backward, lb_optim_step (SGD lr 0.01 momentum 0.9), batch 64.
 *
 *   train_step THREADS DATA.bin NBATCHES
 *
 * DATA.bin holds NBATCHES * 64 images (float32 [N, 1, 28, 28]) followed by their N labels
 * (float32). Then, on stdin, one request per line:
 *   mlp STEPS | cnn STEPS   runs STEPS steps (cycling over the batches) and answers
 *                           "SECONDS LOSS" (wall time of the steps, last loss)
 *   quit
 * The models are mlp(hidden=[256]) (784-256-10) and cnn(channels=[16, 32], pool="max")
 * (conv16-pool-conv32-pool-linear), both seed 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lang/commands.h"
#include "cli/labbook.h"
#include "lang/interp.h"
#include "ops.h"
#include "host/plugins.h"

enum { BATCH = 64 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    lb_model *m;
    lb_optim opt;
    long next; /* batch counter */
} bench_model;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "train_step: %s: %s\n", what, msg ? msg : "?");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: train_step THREADS DATA.bin NBATCHES\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    long nb = atol(argv[3]);
    if (nb < 1)
        die("NBATCHES", "must be at least 1");
#ifdef LB_BUILD_PLUGIN_DIR
    if (!getenv("LABBOOK_PLUGIN_PATH"))
        setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 1); /* this tree's plugins */
#endif
    lb_set_threads(threads);
    size_t nimg = (size_t)nb * BATCH;
    float *X = malloc(nimg * 784 * sizeof(float)), *Y = malloc(nimg * sizeof(float));
    FILE *f = fopen(argv[2], "rb");
    if (!X || !Y || !f || fread(X, sizeof(float), nimg * 784, f) != nimg * 784 ||
        fread(Y, sizeof(float), nimg, f) != nimg)
        die(argv[2], "cannot read the data");
    fclose(f);

    lb_interp *in = lb_labbook_new(NULL);
    lb_error err = {0};
    if (!in || lb_interp_execute(in,
                                 "use mlp\nuse cnn\n"
                                 "model mlp_model = mlp(hidden=[256]) seed=1\n"
                                 "model cnn_model = cnn(channels=[16, 32], pool=\"max\") seed=1\n",
                                 false, &err) < 0)
        die("building the models", err.evalue);
    bench_model models[2] = {
        {lb_model_from_value(lb_interp_get(in, "mlp_model")), lb_optim_sgd(0.01f, 0.9f, 0, 0, 0), 0},
        {lb_model_from_value(lb_interp_get(in, "cnn_model")), lb_optim_sgd(0.01f, 0.9f, 0, 0, 0), 0},
    };
    if (!models[0].m || !models[1].m)
        die("building the models", "not a model");

    lb_graph *g = lb_graph_new();
    char line[256];
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        char which[32];
        long steps = 0;
        if (strncmp(line, "quit", 4) == 0)
            break;
        if (sscanf(line, "%31s %ld", which, &steps) != 2 || steps < 1 ||
            (strcmp(which, "mlp") && strcmp(which, "cnn")))
            die("bad request", line);
        bench_model *bm = &models[which[0] == 'c'];
        lb_params *P = lb_model_params(bm->m);
        float loss = 0;
        double t0 = now();
        for (long s = 0; s < steps; s++) {
            long k = bm->next++ % nb;
            lb_graph_reset(g);
            lb_params_zero_grad(P);
            lb_tensor *x = lb_wrap(g, 4, (int64_t[]){BATCH, 1, 28, 28}, X + (size_t)k * BATCH * 784);
            lb_tensor *y = lb_wrap(g, 1, (int64_t[]){BATCH}, Y + (size_t)k * BATCH);
            lb_tensor *l = lb_cross_entropy(g, lb_model_forward(bm->m, g, x, 1, NULL), y, -100, 0);
            lb_status st = {0};
            if (lb_backward(g, l) < 0)
                die("step", lb_graph_error(g));
            if (lb_optim_step(&bm->opt, P, &st) < 0)
                die("optimizer", st.msg);
            loss = l->data[0];
        }
        double t = now() - t0;
        printf("%.9f %.6f\n", t, (double)loss);
        fflush(stdout);
    }
    lb_graph_free(g);
    lb_interp_free(in);
    free(X);
    free(Y);
    return 0;
}
