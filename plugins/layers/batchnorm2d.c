/* batchnorm2d.c — batchnorm2d(channels, eps=1e-5, momentum=0.1) over [N, C, H, W]
 * (PyTorch nn.BatchNorm2d: weight 1, bias 0, running mean 0 and variance 1 as buffers). */
#include "layers.h"

static const lbp_param params[] = {
    {"channels", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "channels C of the input [C, H, W]"},
    {"eps", LBP_T_NUM, "1e-05", LBP_LO | LBP_LO_OPEN, 0, 0, NULL, "added to the variance"},
    {"momentum", LBP_T_NUM, "0.1", LBP_LO | LBP_HI, 0, 1, NULL, "weight of a new batch in the running statistics"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    int64_t c = h->arg_int(h->args(L), "channels");
    if (layers_need_image(h, L, "batchnorm2d") < 0)
        return -1;
    if (h->in_dim(L, 0) != c)
        return h->fail(L, "expects %lld channels but the input has %lld", (long long)c,
                       (long long)h->in_dim(L, 0));
    lbp_tensor *w = h->param(L, "weight", 1, &c, 1), *b = h->param(L, "bias", 1, &c, 1);
    lbp_tensor *rm = h->param(L, "running_mean", 1, &c, 0), *rv = h->param(L, "running_var", 1, &c, 0);
    if (!w || !b || !rm || !rv)
        return -1;
    h->init_const(L, w, 1.0f);
    h->init_const(L, b, 0.0f);
    h->init_const(L, rm, 0.0f);
    h->init_const(L, rv, 1.0f);
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    const lbp_args *a = h->args(L);
    return h->batchnorm(L, g, x, h->get_param(L, "weight"), h->get_param(L, "bias"),
                        h->get_param(L, "running_mean"), h->get_param(L, "running_var"),
                        (float)h->arg_num(a, "momentum"), (float)h->arg_num(a, "eps"));
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "channels");
    shape[1] = 28;
    shape[2] = 28;
    return 3;
}

const lbp_type layers_batchnorm2d = {
    .size = sizeof(lbp_type),
    .name = "batchnorm2d",
    .kind = LBP_KIND_LAYER,
    .summary = "Batch normalisation per channel of images [C, H, W] (PyTorch nn.BatchNorm2d).",
    .doc = "Training normalises with the batch statistics and updates the running ones (buffers,\n"
           "not counted as parameters); evaluation uses the running statistics.",
    .example = "sequential(conv2d(1, 16, 3, pad=1), batchnorm2d(16), relu())",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};
