/* abi1_layer.c — a layer plugin compiled against the frozen ABI-1 header next to it
 * (tests/plugins/abi1/labbook_plugin.h, the header as it was before the named inputs were
 * appended to lbp_type and lbp_host). Its magic block and its type carry the smaller ABI-1
 * sizeof(lbp_type); labbook must still load it, build it and train it (tests/test_abi_compat.py).
 *
 * oldaffine(features): y = x * weight + bias elementwise over the last dimension, with weight
 * starting at 1 and bias at 0. */
#include "labbook_plugin.h"

LBP_MODULE_MAGIC("abi1_layer", "1.0.0", "a layer built against the ABI-1 header");

static const lbp_param params[] = {
    {"features", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "size of the last dimension"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    int64_t n = h->arg_int(h->args(L), "features");
    if (h->in_ndim(L) < 1 || h->in_dim(L, -1) != n)
        return h->fail(L, "expects %lld features in the last dimension", (long long)n);
    lbp_tensor *w = h->param(L, "weight", 1, &n, 1);
    lbp_tensor *b = h->param(L, "bias", 1, &n, 1);
    if (!w || !b)
        return -1;
    h->init_const(L, w, 1.0f);
    h->init_const(L, b, 0.0f);
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->add(g, h->mul(g, x, h->get_param(L, "weight")), h->get_param(L, "bias"));
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "features");
    return 1;
}

static const lbp_type oldaffine = {
    .size = sizeof(lbp_type), /* the ABI-1 size: this header has no appended fields */
    .name = "oldaffine",
    .kind = LBP_KIND_LAYER,
    .summary = "Elementwise y = x * weight + bias (a plugin built against the ABI-1 header).",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return h->register_type(p, &oldaffine);
}
