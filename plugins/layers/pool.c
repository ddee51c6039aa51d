/* pool.c — maxpool2d(kernel, stride=kernel, pad=0) and avgpool2d(...) over [N, C, H, W]
 * (PyTorch nn.MaxPool2d / nn.AvgPool2d, floor mode; avgpool counts the padding). */
#include "layers.h"

static const lbp_param params[] = {
    {"kernel", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "window size (square)"},
    {"stride", LBP_T_INT, "none", LBP_LO | LBP_NONE_OK, 1, 0, NULL, "step between windows (none: kernel)"},
    {"pad", LBP_T_INT, "0", LBP_LO, 0, 0, NULL, "padding on each side (at most kernel / 2)"},
    {0}};

static int stride_of(const lbp_host *h, const lbp_args *a)
{
    return h->arg_none(a, "stride") ? (int)h->arg_int(a, "kernel") : (int)h->arg_int(a, "stride");
}

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    int64_t k = h->arg_int(a, "kernel"), p = h->arg_int(a, "pad"), s = stride_of(h, a);
    if (layers_need_image(h, L, "pooling") < 0)
        return -1;
    if (2 * p > k)
        return h->fail(L, "pad (%lld) must be at most half the kernel (%lld)", (long long)p, (long long)k);
    if (layers_window_out(h, L, h->in_dim(L, 1), k, s, p, 1, "height") < 0 ||
        layers_window_out(h, L, h->in_dim(L, 2), k, s, p, 1, "width") < 0)
        return -1;
    return 0;
}

static lbp_tensor *fwd_max(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    const lbp_args *a = h->args(L);
    return h->maxpool2d(g, x, (int)h->arg_int(a, "kernel"), stride_of(h, a), (int)h->arg_int(a, "pad"));
}

static lbp_tensor *fwd_avg(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    const lbp_args *a = h->args(L);
    return h->avgpool2d(g, x, (int)h->arg_int(a, "kernel"), stride_of(h, a), (int)h->arg_int(a, "pad"));
}

const lbp_type layers_maxpool2d = {
    .size = sizeof(lbp_type),
    .name = "maxpool2d",
    .kind = LBP_KIND_LAYER,
    .summary = "Max pooling of images [C, H, W] over kernel x kernel windows (PyTorch nn.MaxPool2d).",
    .doc = "Output size (H + 2 pad - kernel) / stride + 1, rounded down. No parameters.",
    .example = "maxpool2d(2)\nmaxpool2d(3, stride=2, pad=1)",
    .params = params,
    .build = build,
    .forward = fwd_max,
};

const lbp_type layers_avgpool2d = {
    .size = sizeof(lbp_type),
    .name = "avgpool2d",
    .kind = LBP_KIND_LAYER,
    .summary = "Average pooling of images [C, H, W] (PyTorch nn.AvgPool2d; padding counts as zeros).",
    .doc = "Output size (H + 2 pad - kernel) / stride + 1, rounded down. No parameters.",
    .example = "avgpool2d(2)",
    .params = params,
    .build = build,
    .forward = fwd_avg,
};
