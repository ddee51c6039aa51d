/* fuse.c — the `fusion` plugin: model type fuse(hidden=32, mode="concat", classes=10), a model
 * of two named inputs, a and b (the multimodal lab's late fusion). Each input is flattened and
 * encoded by its own linear layer and a relu; the two codes are fused (concatenated, added,
 * multiplied or subtracted) and a linear head gives the logits, the output "y":
 *
 *     ha = relu(flatten(a) Wa^T + ba)             a: [N, *a] -> [N, hidden]
 *     hb = relu(flatten(b) Wb^T + bb)             b: [N, *b] -> [N, hidden]
 *     f  = [ha, hb] | ha + hb | ha * hb | ha - hb  [N, 2 hidden] for concat, else [N, hidden]
 *     y  = f Wh^T + bh                            [N, classes]
 *
 * The parameters are a.weight, a.bias, b.weight, b.bias, head.weight, head.bias, initialised
 * in that order as PyTorch's nn.Linear does, from the model's seeded generator. */
#include <stdio.h>
#include <string.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("fusion", "0.1.0", "model type fuse: two named inputs, encoded, fused, classified");

static const lbp_param params[] = {
    {"hidden", LBP_T_INT, "32", LBP_LO, 1, 0, NULL, "size of each input's encoding"},
    {"mode", LBP_T_STR, "\"concat\"", 0, 0, 0, "concat|add|mul|diff",
     "how the encodings are fused: concatenated (2 x hidden features), added, multiplied, subtracted (a - b)"},
    {"classes", LBP_T_INT, "10", LBP_LO, 1, 0, NULL, "number of outputs (logits)"},
    {"a", LBP_T_INTS, "[8]", LBP_LO | LBP_NONEMPTY, 1, 0, NULL,
     "shape of input a when `model` is given no input= (flattened)"},
    {"b", LBP_T_INTS, "[4]", LBP_LO | LBP_NONEMPTY, 1, 0, NULL,
     "shape of input b when `model` is given no input= (flattened)"},
    {0}};

static const char *const input_names[] = {"a", "b", NULL};

/* A linear layer's weight [out, in] and bias [out] named "<name>.weight" / "<name>.bias". */
static int encoder(const lbp_host *h, lbp_layer *L, const char *name, int64_t in, int64_t out)
{
    char wn[32], bn[32];
    strcpy(wn, name);
    strcat(wn, ".weight");
    strcpy(bn, name);
    strcat(bn, ".bias");
    lbp_tensor *w = h->param(L, wn, 2, (int64_t[]){out, in}, 1);
    lbp_tensor *b = w ? h->param(L, bn, 1, (int64_t[]){out}, 1) : NULL;
    if (!w || !b)
        return -1;
    h->init_linear(L, w, b);
    return 0;
}

/* The number of features of input i (its dimensions multiplied). */
static int64_t features(const lbp_host *h, lbp_layer *L, int i)
{
    int64_t n = 1;
    for (int d = 0; d < h->in_ndim_at(L, i); d++)
        n *= h->in_dim_at(L, i, d);
    return n;
}

static int build(const lbp_host *h, lbp_layer *L)
{
    if (!LBP_HOST_HAS(h, in_dim_at) || h->in_count(L) != 2)
        return h->fail(L, "fuse takes two inputs, a and b (build it as a model's root: "
                          "`model m = fuse()`)");
    const lbp_args *a = h->args(L);
    int64_t hidden = h->arg_int(a, "hidden");
    int concat = strcmp(h->arg_str(a, "mode"), "concat") == 0;
    if (encoder(h, L, "a", features(h, L, 0), hidden) < 0 ||
        encoder(h, L, "b", features(h, L, 1), hidden) < 0)
        return -1;
    return encoder(h, L, "head", concat ? 2 * hidden : hidden, h->arg_int(a, "classes"));
}

static lbp_tensor *encode(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x,
                          const char *name)
{
    char wn[32], bn[32];
    strcpy(wn, name);
    strcat(wn, ".weight");
    strcpy(bn, name);
    strcat(bn, ".bias");
    if (x && h->ndim(x) != 2)
        x = h->flatten(g, x, 1);
    return h->relu(g, h->linear(g, x, h->get_param(L, wn), h->get_param(L, bn)));
}

static lbp_tensor *forward_inputs(const lbp_host *h, lbp_layer *L, lbp_graph *g,
                                  lbp_tensor *const *xs, int n)
{
    if (n != 2)
        return h->graph_fail(g, "fuse takes two inputs, a and b (got %d)", n);
    if (h->dim(xs[0], 0) != h->dim(xs[1], 0))
        return h->graph_fail(g, "fuse: inputs a and b have different batch sizes (%lld and %lld)",
                             (long long)h->dim(xs[0], 0), (long long)h->dim(xs[1], 0));
    lbp_tensor *ha = encode(h, L, g, xs[0], "a"), *hb = encode(h, L, g, xs[1], "b"), *f;
    const char *mode = h->arg_str(h->args(L), "mode");
    if (strcmp(mode, "concat") == 0) {
        lbp_tensor *both[2] = {ha, hb};
        f = ha && hb ? h->concat(g, both, 2, 1) : NULL;
    } else if (strcmp(mode, "add") == 0) {
        f = h->add(g, ha, hb);
    } else if (strcmp(mode, "mul") == 0) {
        f = h->mul(g, ha, hb);
    } else {
        f = h->sub(g, ha, hb);
    }
    return h->linear(g, f, h->get_param(L, "head.weight"), h->get_param(L, "head.bias"));
}

static int default_inputs(const lbp_host *h, const lbp_args *a, int i, int64_t shape[LBP_MAXDIM])
{
    const char *name = i == 0 ? "a" : i == 1 ? "b" : NULL;
    size_t n = name ? h->arg_len(a, name) : 0;
    if (n > LBP_MAXDIM - 1)
        return 0;
    for (size_t d = 0; d < n; d++)
        shape[d] = (int64_t)h->arg_item(a, name, d);
    return (int)n;
}

static const lbp_type fuse_type = {
    .size = sizeof(lbp_type),
    .name = "fuse",
    .kind = LBP_KIND_MODEL,
    .summary = "Two named inputs a and b, each encoded by linear + relu, fused (concat, add, mul, diff), then a linear head.",
    .doc = "fuse(hidden=32, mode=\"concat\", classes=10) is a model of two inputs, a and b (each\n"
           "flattened), and one output y (the logits): ha = relu(linear(a)), hb = relu(linear(b)),\n"
           "fused as [ha, hb] (mode=\"concat\", 2 x hidden features), ha + hb (\"add\"), ha * hb\n"
           "(\"mul\") or ha - hb (\"diff\"), then linear(fused, classes). Parameters a.weight, a.bias,\n"
           "b.weight, b.bias, head.weight, head.bias, initialised as PyTorch's nn.Linear. The input\n"
           "shapes are input={a: [...], b: [...]} of `model`, else the parameters a and b. A model\n"
           "type with several inputs is a model's root only (not inside sequential).",
    .example = "use fusion\nmodel f = fuse(hidden=32, mode=\"concat\") input={a: [8], b: [4]}\n"
               "model g = fuse(mode=\"mul\", a=[16], b=[1, 6, 6])\nf.inputs",
    .params = params,
    .build = build,
    .inputs = input_names,
    .output = "y",
    .forward_inputs = forward_inputs,
    .default_inputs = default_inputs,
};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    if (!LBP_HOST_HAS(h, in_dim_at)) {
        snprintf(err, errlen, "fuse needs a labbook with named inputs (lbp_host.in_count)");
        return -1;
    }
    return h->register_type(p, &fuse_type);
}
