/* cnn.c — the `cnn` plugin: model type cnn(channels=[...], kernel=3, pool="max"|"stride"|"avg"),
 * the two (three) CNNs of the "max-pooling vs strided convolution" lab, built from the
 * `layers` plugin's conv2d, batchnorm2d, activations, pooling, dropout and linear layers. */
#include <stdio.h>
#include <string.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("cnn", "0.1.0", "model type cnn: convolutional classifier (max-pooling or strided)");

static const lbp_param params[] = {
    {"channels", LBP_T_INTS, "[16, 32]", LBP_LO | LBP_NONEMPTY, 1, 0, NULL, "output channels of each convolution stage"},
    {"kernel", LBP_T_INT, "3", LBP_LO, 1, 0, NULL, "kernel size of the convolutions (padded to keep the size: pad = kernel / 2)"},
    {"pool", LBP_T_STR, "\"max\"", 0, 0, 0, "max|stride|avg", "how each stage halves the size: maxpool2d(2), a stride-2 convolution, or avgpool2d(2)"},
    {"classes", LBP_T_INT, "10", LBP_LO, 1, 0, NULL, "number of outputs"},
    {"hidden", LBP_T_INTS, "[]", LBP_LO, 1, 0, NULL, "sizes of fully connected hidden layers before the output"},
    {"batchnorm", LBP_T_BOOL, "false", 0, 0, 0, NULL, "batchnorm2d after each convolution"},
    {"activation", LBP_T_STR, "\"relu\"", 0, 0, 0, "relu|tanh|sigmoid|gelu|leaky_relu", "activation after each convolution and hidden layer"},
    {"dropout", LBP_T_NUM, "0", LBP_LO | LBP_HI | LBP_HI_OPEN, 0, 1, NULL, "dropout before each fully connected layer (0: none)"},
    {"input", LBP_T_INTS, "[1, 28, 28]", LBP_LO | LBP_NONEMPTY, 1, 0, NULL, "shape [C, H, W] of one image (Fashion-MNIST by default)"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    if (h->in_ndim(L) != 3)
        return h->fail(L, "cnn needs images [channels, height, width], got %d dimensions", h->in_ndim(L));
    int64_t c = h->in_dim(L, 0);
    int64_t k = h->arg_int(a, "kernel");
    const char *pool = h->arg_str(a, "pool"), *act = h->arg_str(a, "activation");
    int bn = h->arg_bool(a, "batchnorm");
    double p = h->arg_num(a, "dropout");
    for (size_t i = 0; i < h->arg_len(a, "channels"); i++) {
        int64_t n = (int64_t)h->arg_item(a, "channels", i);
        int strided = strcmp(pool, "stride") == 0;
        if (strided) {
            if (h->child(L, "conv2d(%lld, %lld, %lld, stride=2, pad=%lld)", (long long)c, (long long)n,
                         (long long)k, (long long)(k / 2)) < 0)
                return -1;
        } else if (h->child(L, "conv2d(%lld, %lld, %lld, pad=%lld)", (long long)c, (long long)n,
                            (long long)k, (long long)(k / 2)) < 0) {
            return -1;
        }
        if (bn && h->child(L, "batchnorm2d(%lld)", (long long)n) < 0)
            return -1;
        if (h->child(L, "%s()", act) < 0)
            return -1;
        if (!strided && h->child(L, "%s(2)", strcmp(pool, "avg") == 0 ? "avgpool2d" : "maxpool2d") < 0)
            return -1;
        c = n;
    }
    if (h->child(L, "flatten()") < 0)
        return -1;
    int64_t features = h->in_dim(L, 0);
    for (size_t i = 0; i < h->arg_len(a, "hidden"); i++) {
        int64_t n = (int64_t)h->arg_item(a, "hidden", i);
        if ((p > 0 && h->child(L, "dropout(%.17g)", p) < 0) ||
            h->child(L, "linear(%lld, %lld)", (long long)features, (long long)n) < 0 ||
            h->child(L, "%s()", act) < 0)
            return -1;
        features = n;
    }
    if (p > 0 && h->child(L, "dropout(%.17g)", p) < 0)
        return -1;
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

static const lbp_type cnn_type = {
    .size = sizeof(lbp_type),
    .name = "cnn",
    .kind = LBP_KIND_MODEL,
    .summary = "Convolutional classifier: per stage a convolution, activation and 2x downsampling, then linear layers.",
    .doc = "pool=\"max\": conv2d(c, n, kernel, pad=kernel/2), relu(), maxpool2d(2) per stage.\n"
           "pool=\"stride\": conv2d(c, n, kernel, stride=2, pad=kernel/2), relu() per stage: the\n"
           "convolution itself downsamples (the all-convolutional alternative to pooling).\n"
           "pool=\"avg\": as \"max\" with avgpool2d(2). Then flatten(), optional hidden linear\n"
           "layers, and linear(features, classes). On Fashion-MNIST with channels=[16, 32] both\n"
           "variants end in 32 x 7 x 7 = 1568 features.",
    .example = "use cnn\nmodel a = cnn(channels=[16, 32], pool=\"max\")\nmodel b = cnn(channels=[16, 32], pool=\"stride\")\nparams a",
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
    return h->register_type(p, &cnn_type);
}
