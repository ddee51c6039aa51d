/* layers.h — the layer types of the `layers` plugin, one file per type (Darknet style); each
 * builds its parameters with PyTorch's default initialisation and its forward from host ops,
 * so the backward pass comes from the tape. */
#ifndef LAYERS_H
#define LAYERS_H

#include "labbook_plugin.h"

extern const lbp_type layers_linear, layers_conv2d, layers_maxpool2d, layers_avgpool2d,
    layers_flatten, layers_relu, layers_tanh, layers_sigmoid, layers_gelu, layers_leaky_relu,
    layers_dropout, layers_batchnorm2d, layers_layernorm, layers_embedding;

/* Fails unless the input is [C, H, W] (batch excluded). */
int layers_need_image(const lbp_host *h, lbp_layer *L, const char *what);
/* The output size of a window op along one axis, or -1 (and the build failed) if < 1. */
int64_t layers_window_out(const lbp_host *h, lbp_layer *L, int64_t in, int64_t k, int64_t s,
                          int64_t p, int64_t d, const char *axis);


#endif
