/* plugin.c — the `layers` plugin: magic block and init, registering every layer type. */
#include "layers.h"

LBP_MODULE_MAGIC("layers", "0.1.0",
                 "layer types: linear, conv2d, pooling, flatten, activations, dropout, "
                 "normalisation, embedding");

int layers_need_image(const lbp_host *h, lbp_layer *L, const char *what)
{
    if (h->in_ndim(L) != 3)
        return h->fail(L, "%s needs images [channels, height, width] (batch excluded), got %d "
                          "dimension%s",
                       what, h->in_ndim(L), h->in_ndim(L) == 1 ? "" : "s");
    return 0;
}

int64_t layers_window_out(const lbp_host *h, lbp_layer *L, int64_t in, int64_t k, int64_t s,
                          int64_t p, int64_t d, const char *axis)
{
    int64_t span = d * (k - 1) + 1;
    int64_t out = (in + 2 * p - span) / s + 1;
    if (in + 2 * p < span || out < 1) {
        h->fail(L, "the %s (%lld, padded to %lld) is smaller than the window (%lld)", axis,
                (long long)in, (long long)(in + 2 * p), (long long)span);
        return -1;
    }
    return out;
}

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const lbp_type *types[] = {&layers_linear,    &layers_conv2d,     &layers_maxpool2d,
                               &layers_avgpool2d, &layers_flatten,    &layers_relu,
                               &layers_tanh,      &layers_sigmoid,    &layers_gelu,
                               &layers_leaky_relu, &layers_dropout,   &layers_batchnorm2d,
                               &layers_layernorm, &layers_embedding};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (h->register_type(p, types[i]) < 0)
            return -1;
    return 0;
}
