/* flatten.c — flatten(start=1): [N, C, H, W] -> [N, C*H*W] (PyTorch nn.Flatten). */
#include "layers.h"

static const lbp_param params[] = {
    {"start", LBP_T_INT, "1", LBP_LO, 1, 0, NULL, "first dimension to flatten (0 is the batch)"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    if (h->arg_int(h->args(L), "start") > h->in_ndim(L))
        return h->fail(L, "start %lld is past the input's %d dimensions",
                       (long long)h->arg_int(h->args(L), "start"), h->in_ndim(L));
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->flatten(g, x, (int)h->arg_int(h->args(L), "start"));
}

const lbp_type layers_flatten = {
    .size = sizeof(lbp_type),
    .name = "flatten",
    .kind = LBP_KIND_LAYER,
    .summary = "Flattens every dimension from `start` on into one: [C, H, W] -> [C*H*W].",
    .example = "sequential(conv2d(1, 16, 3, pad=1), relu(), maxpool2d(2), flatten(), linear(3136, 10))",
    .params = params,
    .build = build,
    .forward = forward,
};
