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

typedef struct { char name[96]; int ndim; int64_t shape[4]; int64_t n; float *data; } blob;

static blob ins[16], outs[512];
static int nins, nouts;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "fusion_parity_driver: %s: %s\n", what, msg ? msg : "?");
    exit(1);
}

static void read_blobs(const char *path)
{
    FILE *f = fopen(path, "rb");
    char m[4];
    uint32_t n;
    if (!f || fread(m, 1, 4, f) != 4 || memcmp(m, "LBT1", 4) || fread(&n, 4, 1, f) != 1 || n > 16)
        die(path, "not a blob file");
    for (uint32_t i = 0; i < n; i++) {
        blob *b = &ins[nins++];
        uint32_t len, nd;
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof b->name || fread(b->name, 1, len, f) != len ||
            fread(&nd, 4, 1, f) != 1 || nd > 4 || fread(b->shape, 8, nd, f) != nd)
            die(path, "bad header");
        b->name[len] = 0;
        b->ndim = (int)nd;
        b->n = 1;
        for (uint32_t d = 0; d < nd; d++)
            b->n *= b->shape[d];
        b->data = malloc((size_t)(b->n ? b->n : 1) * sizeof(float));
        if (!b->data || fread(b->data, sizeof(float), (size_t)b->n, f) != (size_t)b->n)
            die(path, "short data");
    }
    fclose(f);
}

static const blob *input(const char *name)
{
    for (int i = 0; i < nins; i++)
        if (strcmp(ins[i].name, name) == 0)
            return &ins[i];
    die("missing input", name);
    return NULL;
}

static void put(const char *prefix, const char *name, int ndim, const int64_t *shape, const float *data)
{
    if (nouts >= (int)(sizeof outs / sizeof outs[0]))
        die("output", "too many tensors");
    blob *b = &outs[nouts++];
    snprintf(b->name, sizeof b->name, "%s%s", prefix, name);
    b->ndim = ndim;
    b->n = 1;
    for (int d = 0; d < ndim; d++) {
        b->shape[d] = shape[d];
        b->n *= shape[d];
    }
    b->data = malloc((size_t)(b->n ? b->n : 1) * sizeof(float));
    if (!b->data)
        die("output", "out of memory");
    memcpy(b->data, data, (size_t)b->n * sizeof(float));
}

static void put_params(const char *prefix, lb_params *P, int grads)
{
    for (int i = 0; i < lb_params_count(P); i++) {
        lb_tensor *t = lb_params_get(P, i);
        if (grads && !t->trainable)
            continue;
        put(prefix, t->name, t->ndim, t->shape, grads ? t->grad : t->data);
    }
}

static void write_blobs(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die(path, "cannot write");
    uint32_t n = (uint32_t)nouts;
    fwrite("LBT1", 1, 4, f);
    fwrite(&n, 4, 1, f);
    for (int i = 0; i < nouts; i++) {
        blob *b = &outs[i];
        uint32_t len = (uint32_t)strlen(b->name), nd = (uint32_t)b->ndim;
        fwrite(&len, 4, 1, f);
        fwrite(b->name, 1, len, f);
        fwrite(&nd, 4, 1, f);
        fwrite(b->shape, 8, nd, f);
        fwrite(b->data, sizeof(float), (size_t)b->n, f);
    }
    if (fclose(f))
        die(path, "cannot write");
}

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
