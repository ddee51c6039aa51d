/* mlp.c — the `mlp` plugin: model type mlp(hidden=[...]), a multilayer perceptron built from
 * the `layers` plugin's flatten, linear, activation and dropout layers. */
#include <stdio.h>
#include <string.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("mlp", "0.1.0", "model type mlp: a multilayer perceptron");

static const lbp_param params[] = {
    {"hidden", LBP_T_INTS, "[256, 128]", LBP_LO, 1, 0, NULL, "sizes of the hidden layers ([] for none)"},
    {"classes", LBP_T_INT, "10", LBP_LO, 1, 0, NULL, "number of outputs"},
    {"activation", LBP_T_STR, "\"relu\"", 0, 0, 0, "relu|tanh|sigmoid|gelu|leaky_relu", "activation after each hidden layer"},
    {"dropout", LBP_T_NUM, "0", LBP_LO | LBP_HI | LBP_HI_OPEN, 0, 1, NULL, "dropout after each activation (0: none)"},
    {"input", LBP_T_INTS, "[1, 28, 28]", LBP_LO | LBP_NONEMPTY, 1, 0, NULL, "shape of one example, flattened first (Fashion-MNIST by default)"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    int64_t features = 1;
    for (int i = 0; i < h->in_ndim(L); i++)
        features *= h->in_dim(L, i);
    if (h->in_ndim(L) != 1 && h->child(L, "flatten()") < 0)
        return -1;
    const char *act = h->arg_str(a, "activation");
    double p = h->arg_num(a, "dropout");
    for (size_t i = 0; i < h->arg_len(a, "hidden"); i++) {
        int64_t n = (int64_t)h->arg_item(a, "hidden", i);
        if (h->child(L, "linear(%lld, %lld)", (long long)features, (long long)n) < 0 ||
            h->child(L, "%s()", act) < 0 || (p > 0 && h->child(L, "dropout(%.17g)", p) < 0))
            return -1;
        features = n;
    }
    return h->child(L, "linear(%lld, %lld)", (long long)features, (long long)h->arg_int(a, "classes"));
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    size_t n = h->arg_len(a, "input");
    if (n > LBP_MAXDIM - 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        shape[i] = (int64_t)h->arg_item(a, "input", i);
    return (int)n;
}

static const lbp_type mlp_type = {
    .size = sizeof(lbp_type),
    .name = "mlp",
    .kind = LBP_KIND_MODEL,
    .summary = "Multilayer perceptron: flatten, then linear + activation per hidden size, then a linear output.",
    .doc = "mlp(hidden=[256, 128]) on Fashion-MNIST is flatten(), linear(784, 256), relu(),\n"
           "linear(256, 128), relu(), linear(128, 10).",
    .example = "use mlp\nmodel m = mlp(hidden=[256, 128])\nmodel t = mlp(hidden=[64], activation=\"tanh\", dropout=0.2)",
    .params = params,
    .build = build,
    .default_input = default_input,
};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (h->require(p, "layers") < 0)
        return -1;
    return h->register_type(p, &mlp_type);
}
