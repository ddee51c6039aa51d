/* layernorm.c — layernorm(features, eps=1e-5, affine=true) over the last dimension
 * (PyTorch nn.LayerNorm(features)). */
#include "layers.h"

static const lbp_param params[] = {
    {"features", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "size of the last dimension, normalised over"},
    {"eps", LBP_T_NUM, "1e-05", LBP_LO | LBP_LO_OPEN, 0, 0, NULL, "added to the variance"},
    {"affine", LBP_T_BOOL, "true", 0, 0, 0, NULL, "learn a per-feature scale (1) and shift (0)"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    int64_t d = h->arg_int(a, "features");
    if (h->in_ndim(L) < 1 || h->in_dim(L, -1) != d)
        return h->fail(L, "expects a last dimension of %lld, got %lld", (long long)d,
                       (long long)h->in_dim(L, -1));
    if (!h->arg_bool(a, "affine"))
        return 0;
    lbp_tensor *w = h->param(L, "weight", 1, &d, 1), *b = h->param(L, "bias", 1, &d, 1);
    if (!w || !b)
        return -1;
    h->init_const(L, w, 1.0f);
    h->init_const(L, b, 0.0f);
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->layernorm(g, x, h->get_param(L, "weight"), h->get_param(L, "bias"),
                        (float)h->arg_num(h->args(L), "eps"));
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "features");
    return 1;
}

const lbp_type layers_layernorm = {
    .size = sizeof(lbp_type),
    .name = "layernorm",
    .kind = LBP_KIND_LAYER,
    .summary = "Layer normalisation over the last dimension (PyTorch nn.LayerNorm).",
    .example = "sequential(linear(784, 256), layernorm(256), gelu(), linear(256, 10))",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};
