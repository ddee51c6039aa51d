/* dropout.c — dropout(p=0.5): inverted dropout while training, identity in evaluation. */
#include "layers.h"

static const lbp_param params[] = {
    {"p", LBP_T_NUM, "0.5", LBP_LO | LBP_HI | LBP_HI_OPEN, 0, 1, NULL, "probability of zeroing each element"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h;
    (void)L;
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->dropout(L, g, x, (float)h->arg_num(h->args(L), "p"));
}

const lbp_type layers_dropout = {
    .size = sizeof(lbp_type),
    .name = "dropout",
    .kind = LBP_KIND_LAYER,
    .summary = "Zeroes each element with probability p while training and scales the rest by 1/(1-p).",
    .doc = "In evaluation it passes its input through. The mask comes from the model's seeded generator.",
    .example = "dropout(0.2)",
    .params = params,
    .build = build,
    .forward = forward,
};
