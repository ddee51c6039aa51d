/* model_parity_driver.c — whole-model PyTorch parity (tests/test_model_parity.py): builds a model
 * through labbook's real model path (an interpreter runs `use mlp`, `use cnn` and
 * `model m = SPEC seed=1`, which dlopen the plugins of the build tree) and writes its initial
 * parameters, one training-mode forward / cross-entropy / backward on the given batch, and the
 * parameters after STEPS optimizer steps of SGD (momentum, weight decay), Adam and AdamW.
 *
 *   model_parity_driver SPEC IN.bin OUT.bin
 *
 * Blob files as tests/parity/ops_parity_driver.c ("LBT1"). Inputs: x [N, ...], y [N] (class
 * indices as floats), hyper = [sgd_lr, sgd_momentum, sgd_weight_decay, adam_lr, beta1, beta2,
 * eps, adam_weight_decay, adamw_weight_decay, steps]. Outputs: "p:NAME" (initial values of every
 * parameter and buffer), "logits", "loss", "g:NAME" (gradients of the trainable ones), and
 * "sgd1:NAME", "adam1:NAME", "adamw1:NAME" (every parameter and buffer after the first step)
 * and "sgdS:NAME" ... after the last (S = steps); each optimizer on its own freshly built model,
 * so no state is shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/commands.h"
#include "cli/labbook.h"
#include "lang/interp.h"
#include "ops.h"
#include "host/plugins.h"

#define DRIVER "model_parity_driver"
#include "blobs.h"

/* One training step's forward, loss and backward on (x, y); grads are zeroed first. */
static lb_tensor *step(lb_model *m, lb_graph *g, lb_tensor **logits)
{
    const blob *x = input("x"), *y = input("y");
    lb_graph_reset(g);
    lb_params_zero_grad(lb_model_params(m));
    lb_tensor *xt = lb_from_data(g, x->ndim, x->shape, x->data);
    lb_tensor *yt = lb_from_data(g, y->ndim, y->shape, y->data);
    lb_tensor *out = lb_model_forward(m, g, xt, 1, NULL);
    lb_tensor *loss = lb_cross_entropy(g, out, yt, -100, 0);
    if (lb_backward(g, loss) < 0)
        die("forward/backward", lb_graph_error(g));
    if (logits)
        *logits = out;
    return loss;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: model_parity_driver SPEC IN.bin OUT.bin\n");
        return 2;
    }
#ifdef LB_BUILD_PLUGIN_DIR
    if (!getenv("LABBOOK_PLUGIN_PATH"))
        setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 1); /* this tree's plugins */
#endif
    char core[320];
    fprintf(stderr, "blas: %s\n", lb_blas_summary(core, sizeof core)); /* the suite checks which core ran */
    lb_set_threads(1);
    read_blobs(argv[2]);
    const blob *hy = input("hyper");
    if (hy->n < 10)
        die("hyper", "needs 10 values");
    const float *h = hy->data;
    int steps = (int)h[9];
    const blob *x = input("x");
    char shape[128] = "[";
    for (int d = 1; d < x->ndim; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d > 1 ? ", " : "",
                 (long long)x->shape[d]);
    strcat(shape, "]");

    lb_interp *in = lb_labbook_new(NULL);
    lb_error err = {0};
    char code[1024];
    snprintf(code, sizeof code,
             "use mlp\nuse cnn\n"
             "model m0 = %s input=%s seed=1\nmodel m1 = %s input=%s seed=1\n"
             "model m2 = %s input=%s seed=1\nmodel m3 = %s input=%s seed=1\n",
             argv[1], shape, argv[1], shape, argv[1], shape, argv[1], shape);
    if (!in || lb_interp_execute(in, code, false, &err) < 0)
        die("building the model", err.evalue);
    lb_model *m[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "m%d", i);
        m[i] = lb_model_from_value(lb_interp_get(in, name));
        if (!m[i])
            die(name, "not a model");
    }
    lb_graph *g = lb_graph_new();

    /* initial values, then forward / loss / gradients */
    put_params("p:", lb_model_params(m[0]), 0);
    lb_tensor *logits = NULL;
    lb_tensor *loss = step(m[0], g, &logits);
    put("", "logits", logits->ndim, logits->shape, logits->data);
    put("", "loss", 0, NULL, loss->data);
    put_params("g:", lb_model_params(m[0]), 1);

    /* optimizer steps, each on its own model built from the same seed */
    lb_optim opts[3] = {
        lb_optim_sgd(h[0], h[1], 0, h[2], 0),
        lb_optim_adam(h[3], h[4], h[5], h[6], h[7]),
        lb_optim_adamw(h[3], h[4], h[5], h[6], h[8]),
    };
    const char *prefix[3] = {"sgd", "adam", "adamw"};
    for (int k = 0; k < 3; k++) {
        lb_model *mk = m[k + 1];
        for (int s = 0; s < steps; s++) {
            lb_status st = {0};
            step(mk, g, NULL);
            if (lb_optim_step(&opts[k], lb_model_params(mk), &st) < 0)
                die("optimizer", st.msg);
            if (s == 0 || s == steps - 1) {
                char pre[16];
                snprintf(pre, sizeof pre, "%s%d:", prefix[k], s + 1);
                put_params(pre, lb_model_params(mk), 0);
            }
        }
    }
    write_blobs(argv[3]);
    lb_graph_free(g);
    lb_interp_free(in);
    return 0;
}
