/* embedding.c — embedding lookup (rows of a [V, D] weight picked by integral-float ids) and its
 * backward, a scatter-add into the weight gradient. */
#include "ops_impl.h"

static void embedding_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *w = nd->in[1], *y = nd->out;
    float *gw = lb_gradbuf(g, w);
    if (!gw) return;
    const int32_t *ids = nd->aux;
    int64_t D = w->shape[1], n = nd->ia[0];
    for (int64_t i = 0; i < n; i++) {
        float *d = gw + (int64_t)ids[i] * D;
        const float *s = y->grad + i * D;
        for (int64_t j = 0; j < D; j++) d[j] += s[j];
    }
}

lb_tensor *lb_embedding(lb_graph *g, lb_tensor *ids, lb_tensor *w) {
    LB_CHECK_IN(g, ids);
    LB_CHECK_IN(g, w);
    char b[64];
    if (w->ndim != 2) return lb_fail(g, LB_ESHAPE, "embedding: weight must be 2-D [V, D], got %s", lb_shape_str(w, b, sizeof b));
    if (ids->ndim >= LB_MAXDIM)
        return lb_fail(g, LB_ESHAPE, "embedding: ids %s have too many dimensions", lb_shape_str(ids, b, sizeof b));
    w = lb_contig_in(g, w);
    if (!w) return NULL;
    int64_t V = w->shape[0], D = w->shape[1], n = ids->numel;
    int32_t *ix = lb_alloc(g, (size_t)(n ? n : 1) * sizeof(int32_t));
    if (!ix) return NULL;
    for (int64_t i = 0; i < n; i++) {
        float v = lb_get(ids, i);
        if (!(v >= 0 && v < (float)V) || v != (float)(int64_t)v)
            return lb_fail(g, LB_EINDEX, "embedding: id %g out of range for %lld embeddings", (double)v, (long long)V);
        ix[i] = (int32_t)v;
    }
    int64_t shp[LB_MAXDIM];
    for (int i = 0; i < ids->ndim; i++) shp[i] = ids->shape[i];
    shp[ids->ndim] = D;
    lb_tensor *y = lb_new(g, ids->ndim + 1, shp);
    if (!y) return NULL;
    for (int64_t i = 0; i < n; i++) memcpy(y->data + i * D, w->data + (int64_t)ix[i] * D, (size_t)D * sizeof(float));
    lb_node *nd = lb_record(g, embedding_bw, y, 2, ids, w, NULL, NULL);
    if (nd) { nd->aux = ix; nd->ia[0] = n; }
    return y;
}
