/* test_train_loop.c — the training loop of train/ through its C interface (train/train.h),
 * without the language's `train` command: a real model (the mlp plugin, built by an
 * interpreter) on real Fashion-MNIST samples, trained by lb_train_run with hooks. Checks that
 * the hooks are called as documented (poll and batch once per batch, epoch once per epoch,
 * grads once per batch right after the backward pass, with the batch's gradients in place),
 * that a hook's error stops the run cleanly, that the record is filled (status, history,
 * declared metrics, weights hash) and that two runs from the same start are bit-identical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lang/commands.h"
#include "interp_harness.h"
#include "modules/data_values.h"
#include "host/plugins.h"
#include "train/train.h"

typedef struct counts {
    int polls, batches, epochs, grads;
    int nonzero_grads; /* grads calls that saw a gradient block that was not all zero */
    int fail_at_grads; /* > 0: the grads hook fails on that call */
} counts;

static int c_poll(void *ctx, lb_error *err)
{
    (void)err;
    ((counts *)ctx)->polls++;
    return 0;
}
static void c_batch(void *ctx, int64_t e, int64_t b, double loss, int64_t n)
{
    (void)e, (void)b, (void)n;
    counts *c = ctx;
    c->batches++;
    CHECK(isfinite(loss));
}
static void c_epoch(void *ctx) { ((counts *)ctx)->epochs++; }
static int c_grads(void *ctx, lb_params *P, lb_error *err)
{
    counts *c = ctx;
    c->grads++;
    bool any = false;
    for (int i = 0; i < lb_params_count(P); i++) {
        const lb_tensor *t = lb_params_get(P, i);
        for (int64_t j = 0; t->grad && j < t->numel; j++)
            any |= t->grad[j] != 0.0f;
    }
    c->nonzero_grads += any;
    if (c->fail_at_grads && c->grads == c->fail_at_grads)
        return lb_error_set(err, "CommError", 0, 0, "the all-reduce failed (test)");
    return 0;
}

static lb_train_config config(void)
{
    lb_train_config c = {.epochs = 2, .batch = 50, .eval_batch = 100, .opt = LB_SGD, .lr = 0.05, .schedule = LB_SCHED_CONSTANT,
                         .step_size = 1, .gamma = 0.1, .topk = 5, .seed = 3, .test = true};
    snprintf(c.monitor, sizeof c.monitor, "valid.acc");
    snprintf(c.task, sizeof c.task, "classify");
    return c;
}

static void test_loop_and_hooks(void)
{
    harness_start((lb_output){.stream = rec_stream});
    CHECK(run("use mlp\nf = fashion_mnist(valid=100, train=300, test=100, seed=0)\n"
              "model m = mlp(hidden=[16]) seed=1") == 0);
    lb_dataset *ds = NULL;
    CHECK(lb_data_from_value(lb_interp_get(IN, "f"), &ds, NULL));
    lb_model *m = lb_model_from_value(lb_interp_get(IN, "m"));
    CHECK(ds && m);
    if (!ds || !m)
        return;
    lb_train_data d = {ds, lb_dataset_split(ds, "train"), lb_dataset_split(ds, "valid"), lb_dataset_split(ds, "test")};
    lb_train_config c = config();
    CHECK(lb_train_check(m, ds, &c, &ERR) == 0);
    size_t nv = 0;
    const float *v = lb_params_values(lb_model_params(m), &nv);
    float *start = malloc(nv * sizeof *start);
    memcpy(start, v, nv * sizeof *start);
    char sha[65] = "x";
    char *w_first = NULL;
    for (int round = 0; round < 2; round++) {
        counts k = {0};
        lb_train_hooks h = {.ctx = &k, .poll = c_poll, .batch = c_batch, .epoch = c_epoch, .grads = c_grads};
        json_t *rec = lb_train_record_new(&c, m, ds, sha, 1, "m", NULL, NULL);
        lb_run_state st;
        float *w = NULL;
        size_t nw = 0;
        CHECK(lb_train_run(&c, m, &d, start, nv, rec, &h, &st, &w, &nw, &ERR) == 0);
        CHECK(st == LB_RUN_FINISHED);
        CHECK_INT(k.batches, 2 * 6);   /* 300 samples, batches of 50, 2 epochs */
        CHECK_INT(k.grads, 2 * 6);
        CHECK_INT(k.nonzero_grads, 2 * 6);
        CHECK_INT(k.epochs, 2);
        CHECK(k.polls >= 2 * 6);       /* and between evaluation batches */
        CHECK_STR(json_string_value(json_object_get(rec, "status")), "finished");
        CHECK_INT(json_array_size(json_object_get(rec, "history")), 2);
        CHECK(lb_record_better(rec, "valid.acc") == LB_BETTER_HIGHER);
        CHECK(lb_record_better(rec, "train.loss") == LB_BETTER_LOWER);
        CHECK(lb_record_better(rec, "params") == LB_BETTER_NONE);
        CHECK(json_object_get(json_object_get(rec, "final"), "test") != NULL);
        const char *wsha = json_string_value(json_object_get(rec, "weights_sha256"));
        CHECK(wsha && strlen(wsha) == 64 && nw == nv && w);
        if (round == 0)
            w_first = strdup(wsha);
        else
            CHECK_STR(wsha, w_first); /* the same start, seed and threads: bit-identical */
        free(w);
        json_decref(rec);
    }
    /* a hook's error stops the run at once, the record saying why */
    counts k = {.fail_at_grads = 3};
    lb_train_hooks h = {.ctx = &k, .grads = c_grads};
    json_t *rec = lb_train_record_new(&c, m, ds, sha, 2, "m", NULL, NULL);
    lb_run_state st;
    float *w = NULL;
    size_t nw = 0;
    lb_error_clear(&ERR);
    CHECK(lb_train_run(&c, m, &d, start, nv, rec, &h, &st, &w, &nw, &ERR) < 0);
    CHECK(err_has("CommError", "all-reduce failed"));
    CHECK(st == LB_RUN_FAILED);
    CHECK_INT(k.grads, 3);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "failed");
    free(w);
    json_decref(rec);
    free(w_first);
    free(start);
    harness_stop();
}

int main(void)
{
    lb_set_threads(1);
    RUN(test_loop_and_hooks);
    return CHECK_SUMMARY();
}
