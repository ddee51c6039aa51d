/* embedding.c — embedding(num_embeddings, embedding_dim): token ids [...] -> vectors
 * [..., embedding_dim] (PyTorch nn.Embedding, weights N(0, 1)). */
#include "layers.h"

static const lbp_param params[] = {
    {"num_embeddings", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "vocabulary size (ids are 0 .. num_embeddings-1)"},
    {"embedding_dim", LBP_T_INT, NULL, LBP_LO, 1, 0, NULL, "size of each vector"},
    {0}};

static int build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    if (h->in_ndim(L) > LBP_MAXDIM - 2)
        return h->fail(L, "ids may have at most %d dimensions besides the batch", LBP_MAXDIM - 2);
    lbp_tensor *w = h->param(L, "weight", 2,
                             (int64_t[]){h->arg_int(a, "num_embeddings"), h->arg_int(a, "embedding_dim")}, 1);
    if (!w)
        return -1;
    h->init_normal(L, w, 0.0f, 1.0f);
    return 0;
}

static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->embedding(g, x, h->get_param(L, "weight"));
}

static int default_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    (void)h;
    (void)a;
    shape[0] = 16; /* a sequence of 16 token ids */
    return 1;
}

const lbp_type layers_embedding = {
    .size = sizeof(lbp_type),
    .name = "embedding",
    .kind = LBP_KIND_LAYER,
    .summary = "Looks up a learned vector for each token id (PyTorch nn.Embedding).",
    .doc = "The input holds integral ids; the output adds a last dimension embedding_dim.\n"
           "Without input=, a model starting with it takes sequences of 16 ids.",
    .example = "model e = sequential(embedding(1000, 32), flatten(), linear(512, 2))",
    .params = params,
    .build = build,
    .forward = forward,
    .default_input = default_input,
};
