/* fusion_parity_driver.c — PyTorch parity of the fusion plugin's two-input model type `fuse`
 * (tests/test_fusion.py): builds the model through labbook's real model path (an interpreter runs
 * `use fusion` and `model m = SPEC input=INPUT seed=1`, which dlopen the plugin of the build tree)
 * and writes its initial parameters, one forward through lb_model_forward_inputs on the inputs
 * a and b, the cross-entropy loss on the labels y and the gradients of every parameter.
 *
 *   fusion_parity_driver SPEC INPUT IN.bin OUT.bin
 *
 * Blob files as tests/parity/ops_parity_driver.c ("LBT1"). Inputs: a [N, ...], b [N, ...], y [N]
 * (class indices as floats). Outputs: "p:NAME" (initial values), "logits", "loss", "g:NAME".
 * A failing forward (inputs of the wrong shape) prints "forward: MESSAGE" on stderr and exits
 * with status 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/commands.h"
#include "cli/labbook.h"
#include "lang/interp.h"
#include "ops.h"
#include "host/plugins.h"

#define DRIVER "fusion_parity_driver"
#include "blobs.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: fusion_parity_driver SPEC INPUT IN.bin OUT.bin\n");
        return 2;
    }
#ifdef LB_BUILD_PLUGIN_DIR
    if (!getenv("LABBOOK_PLUGIN_PATH"))
        setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 1); /* this tree's plugins */
#endif
    lb_set_threads(1);
    read_blobs(argv[3]);
    const blob *a = input("a"), *b = input("b"), *y = input("y");
    lb_interp *in = lb_labbook_new(NULL);
    lb_error err = {0};
    char code[1024];
    snprintf(code, sizeof code, "use fusion\nmodel m = %s input=%s seed=1\n", argv[1], argv[2]);
    if (!in || lb_interp_execute(in, code, false, &err) < 0)
        die("building the model", err.evalue);
    lb_model *m = lb_model_from_value(lb_interp_get(in, "m"));
    if (!m || lb_model_ninputs(m) != 2)
        die("m", "not a model of two inputs");
    put_params("p:", lb_model_params(m), 0);
    lb_graph *g = lb_graph_new();
    lb_params_zero_grad(lb_model_params(m));
    lb_tensor *xs[2] = {lb_from_data(g, a->ndim, a->shape, a->data), lb_from_data(g, b->ndim, b->shape, b->data)};
    lb_tensor *yt = lb_from_data(g, y->ndim, y->shape, y->data);
    lb_tensor *out = lb_model_forward_inputs(m, g, xs, 2, 1, NULL);
    if (!out) {
        fprintf(stderr, "forward: %s\n", lb_graph_error(g) ? lb_graph_error(g) : "?");
        lb_graph_free(g);
        lb_interp_free(in);
        return 3;
    }
    lb_tensor *loss = lb_cross_entropy(g, out, yt, -100, 0);
    if (lb_backward(g, loss) < 0)
        die("forward/backward", lb_graph_error(g));
    put("", "logits", out->ndim, out->shape, out->data);
    put("", "loss", 0, NULL, loss->data);
    put_params("g:", lb_model_params(m), 1);
    write_blobs(argv[4]);
    lb_graph_free(g);
    lb_interp_free(in);
    return 0;
}
