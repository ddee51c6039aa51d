/* activations.c — relu(), tanh(), sigmoid(), gelu() (exact, erf form) and
 * leaky_relu(slope=0.01): elementwise, no parameters. */
#include "layers.h"

static const lbp_param none[] = {{0}};
static const lbp_param leaky_params[] = {
    {"slope", LBP_T_NUM, "0.01", 0, 0, 0, NULL, "slope for negative inputs (PyTorch negative_slope)"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h;
    (void)L;
    return 0;
}

static lbp_tensor *f_relu(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)L;
    return h->relu(g, x);
}

static lbp_tensor *f_tanh(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)L;
    return h->tanh(g, x);
}

static lbp_tensor *f_sigmoid(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)L;
    return h->sigmoid(g, x);
}

static lbp_tensor *f_gelu(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)L;
    return h->gelu(g, x);
}

static lbp_tensor *f_leaky(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->leaky_relu(g, x, (float)h->arg_num(h->args(L), "slope"));
}

#define ACT(var, nm, sum, prm, fn)                                                       \
    const lbp_type var = {.size = sizeof(lbp_type), .name = nm, .kind = LBP_KIND_LAYER, \
                          .summary = sum, .params = prm, .build = build, .forward = fn}

ACT(layers_relu, "relu", "Rectified linear unit, max(x, 0), elementwise.", none, f_relu);
ACT(layers_tanh, "tanh", "Hyperbolic tangent, elementwise.", none, f_tanh);
ACT(layers_sigmoid, "sigmoid", "Logistic sigmoid 1 / (1 + exp(-x)), elementwise.", none, f_sigmoid);
ACT(layers_gelu, "gelu", "Gaussian error linear unit x Phi(x) (exact erf form, PyTorch's default).",
    none, f_gelu);
ACT(layers_leaky_relu, "leaky_relu", "x for x > 0, slope * x otherwise, elementwise.", leaky_params,
    f_leaky);
