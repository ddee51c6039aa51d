/* linear.c — linear(in_features, out_features, bias=true): y = x W^T + b (PyTorch nn.Linear). */
#include "layers.h"

static const lbp_param params[] = {
    {"in_features", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "size of each input (its last dimension)"},
    {"out_features", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "size of each output"},
    {"bias", LBP_T_BOOL, "true", 0, 0, 0, NULL, "learn an additive bias"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    int64_t in = h->arg_int(a, "in_features"), out = h->arg_int(a, "out_features");
    if (h->in_ndim(L) < 1)
        return h->fail(L, "linear needs at least one input dimension");
    if (h->in_dim(L, -1) != in)
        return h->fail(L, "expects %lld input features (the last dimension) but gets %lld%s",
                       (long long)in, (long long)h->in_dim(L, -1),
                       h->in_ndim(L) > 1 ? "; put flatten() before it?" : "");
    lbp_tensor *w = h->param(L, "weight", 2, (int64_t[]){out, in}, 1);
    lbp_tensor *b = h->arg_bool(a, "bias") ? h->param(L, "bias", 1, (int64_t[]){out}, 1) : NULL;
    if (!w || (h->arg_bool(a, "bias") && !b))
        return -1;
    h->init_linear(L, w, b);
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->linear(g, x, h->get_param(L, "weight"), h->get_param(L, "bias"));
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "in_features");
    return 1;
}

const lbp_type layers_linear = {
    .size = sizeof(lbp_type),
    .name = "linear",
    .kind = LBP_KIND_LAYER,
    .summary = "Fully connected layer: y = x W^T + b over the last dimension (PyTorch nn.Linear).",
    .doc = "weight [out_features, in_features] and bias [out_features] start uniform in\n"
           "+-1/sqrt(in_features), as in PyTorch.",
    .example = "linear(784, 10)\nmodel m = sequential(flatten(), linear(784, 128), relu(), linear(128, 10))",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};
