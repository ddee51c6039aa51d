/* conv2d.c — conv2d(in_channels, channels, kernel, stride=1, pad=0, dilation=1, bias=true):
 * 2-D convolution of [N, C, H, W] batches (PyTorch nn.Conv2d, square kernels). */
#include "layers.h"

static const lbp_param params[] = {
    {"in_channels", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "channels of the input image (C of [C, H, W])"},
    {"channels", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "channels of the output (PyTorch's out_channels)"},
    {"kernel", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "kernel size (square)"},
    {"stride", LBP_T_INT, "1", LBP_LO, 1, 0, NULL, "step between windows"},
    {"pad", LBP_T_INT, "0", LBP_LO, 0, 0, NULL, "zero padding on each side"},
    {"dilation", LBP_T_INT, "1", LBP_LO, 1, 0, NULL, "spacing between kernel elements"},
    {"bias", LBP_T_BOOL, "true", 0, 0, 0, NULL, "learn an additive bias per output channel"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    int64_t cin = h->arg_int(a, "in_channels"), cout = h->arg_int(a, "channels");
    int64_t k = h->arg_int(a, "kernel"), s = h->arg_int(a, "stride"), p = h->arg_int(a, "pad");
    int64_t d = h->arg_int(a, "dilation");
    if (layers_need_image(h, L, "conv2d") < 0)
        return -1;
    if (h->in_dim(L, 0) != cin)
        return h->fail(L, "expects %lld input channels but the input has %lld", (long long)cin,
                       (long long)h->in_dim(L, 0));
    if (layers_window_out(h, L, h->in_dim(L, 1), k, s, p, d, "height") < 0 ||
        layers_window_out(h, L, h->in_dim(L, 2), k, s, p, d, "width") < 0)
        return -1;
    int bias = h->arg_bool(a, "bias");
    lbp_tensor *w = h->param(L, "weight", 4, (int64_t[]){cout, cin, k, k}, 1);
    lbp_tensor *b = bias ? h->param(L, "bias", 1, (int64_t[]){cout}, 1) : NULL;
    if (!w || (bias && !b))
        return -1;
    h->init_linear(L, w, b);
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    const lbp_args *a = h->args(L);
    int s = (int)h->arg_int(a, "stride"), p = (int)h->arg_int(a, "pad"), d = (int)h->arg_int(a, "dilation");
    lbp_conv o = {.stride_h = s, .stride_w = s, .pad_h = p, .pad_w = p, .dil_h = d, .dil_w = d};
    return h->conv2d(g, x, h->get_param(L, "weight"), h->get_param(L, "bias"), &o);
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "in_channels");
    shape[1] = 28;
    shape[2] = 28;
    return 3;
}

const lbp_type layers_conv2d = {
    .size = sizeof(lbp_type),
    .name = "conv2d",
    .kind = LBP_KIND_LAYER,
    .summary = "2-D convolution of images [C, H, W] (PyTorch nn.Conv2d with a square kernel).",
    .doc = "Output [channels, H', W'] with H' = (H + 2 pad - dilation (kernel - 1) - 1) / stride + 1.\n"
           "weight [channels, in_channels, kernel, kernel] and bias start uniform in\n"
           "+-1/sqrt(in_channels kernel^2), as in PyTorch.",
    .example = "conv2d(1, 16, 3, pad=1)\nconv2d(16, 32, 3, stride=2, pad=1)",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};
