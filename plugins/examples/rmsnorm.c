/* rmsnorm.c — an example labbook plugin, built out of the labbook tree:
 *
 *     cc -shared -fPIC -O2 $(pkg-config --cflags labbook) rmsnorm.c -o rmsnorm.so
 *
 * and loaded in a notebook with
 *
 *     use layers
 *     use "./rmsnorm.so"
 *     model m = sequential(linear(16, 32), rmsnorm(32), relu(), linear(32, 4))
 *     params m
 *
 * It adds one layer type, rmsnorm(features, eps=1e-6): root-mean-square normalisation over the
 * last dimension with a learned gain (Zhang & Sennrich 2019; PyTorch nn.RMSNorm):
 *
 *     y = x / sqrt(mean(x^2) + eps) * weight
 *
 * Everything a plugin needs comes from the one header labbook_plugin.h, and every service of
 * the kernel (ops, parameters, errors) reaches it through the host table `h` passed to each
 * function: the library links against nothing of labbook. The full reference is the ABI
 * document, spec/plugin-abi.md (installed in PREFIX/share/doc/labbook/). The same code also
 * works as a notebook cell that starts with `%%plugin rmsnorm`. */
#include "labbook_plugin.h"

/* 1. The magic block: the plugin's name (what `use` and `plugins` show), version and a
 *    one-line description. The kernel compares it with its own ABI before running anything. */
LBP_MODULE_MAGIC("rmsnorm", "1.0.0", "example plugin: the rmsnorm layer");

/* 2. The parameter schema. The kernel checks every call against it before the plugin sees the
 *    values (types, ranges, unknown names with "did you mean"), and uses it for `help rmsnorm`,
 *    tab completion and the layer's canonical text. def == NULL makes a parameter required. */
static const lbp_param params[] = {
    /* name        type        default  flags                   lo hi choices doc */
    {"features", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "size D of the last dimension"},
    {"eps", LBP_T_NUM, "1e-06", LBP_LO | LBP_LO_OPEN, 0, 0, NULL, "added to the mean square"},
    {0}};

/* 3. build: runs once when a model is built, with the input shape known (batch excluded).
 *    It checks the shape, creates the parameters in the model's parameter block and
 *    initialises them. Errors go through h->fail, which names the layer and its input. */
static int build(const lbp_host *h, lbp_layer *L)
{
    int64_t d = h->arg_int(h->args(L), "features");
    if (h->in_ndim(L) < 1 || h->in_dim(L, -1) != d)
        return h->fail(L, "expects a last dimension of %lld, got %lld", (long long)d,
                       (long long)(h->in_ndim(L) ? h->in_dim(L, -1) : 0));
    lbp_tensor *w = h->param(L, "weight", 1, &d, 1 /* trainable */);
    if (!w)
        return -1;
    h->init_const(L, w, 1.0f); /* as PyTorch: the gain starts at one */
    return 0;
}

/* 4. forward: composes host ops on the step graph g. Each op records itself on the autograd
 *    tape, so there is no backward to write: the kernel differentiates it. An op error is
 *    sticky in g (later ops return NULL), so the chain needs one check, by the kernel. */
static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    float eps = (float)h->arg_num(h->args(L), "eps");
    lbp_tensor *ms = h->mean(g, h->mul(g, x, x), -1, 1);  /* [N, ..., 1] */
    lbp_tensor *rms = h->sqrt(g, h->add_scalar(g, ms, eps));
    return h->mul(g, h->div(g, x, rms), h->get_param(L, "weight")); /* broadcasting */
}

/* 5. default_input (optional): the input shape `model` uses when given none — and the shape
 *    the %%plugin gradient check uses. */
static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "features");
    return 1;
}

/* 6. The type: a name (unique among loaded plugins), documentation for `help`, the schema and
 *    the functions. The example's first rmsnorm(...) call is also what the %%plugin check
 *    builds, since `features` has no default. */
static const lbp_type rmsnorm_type = {
    .size = sizeof(lbp_type),
    .name = "rmsnorm",
    .kind = LBP_KIND_LAYER,
    .summary = "Root-mean-square normalisation over the last dimension, with a learned gain.",
    .doc = "y = x / sqrt(mean(x^2) + eps) * weight (PyTorch nn.RMSNorm); weight [features]\n"
           "starts at one.",
    .example = "rmsnorm(32)\nmodel m = sequential(linear(16, 32), rmsnorm(32), relu(), linear(32, 4))",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};

/* 7. Init: the one exported function. It registers the types (any number, and ops and
 *    commands); a registration the kernel refuses writes its reason into err and returns -1,
 *    and the kernel then unloads the whole plugin. Never exit() or abort(): report. */
int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return h->register_type(p, &rmsnorm_type);
}
