/* custom.c — lb_custom_op: ops with their own forward and backward (see ops.h), the public
 * entry that plugins' custom ops are built on. */
#include "ops_impl.h"

typedef struct {
    lb_custom_call call;
    lb_custom_bwd bwd;
} custom_rec;

static void custom_bw(lb_graph *g, lb_node *n) {
    custom_rec *r = n->aux;
    float *gin[4] = {0};
    for (int i = 0; i < r->call.n_inputs; i++) {
        if (n->in[i] && n->in[i]->requires_grad) {
            gin[i] = lb_gradbuf(g, n->in[i]);
            if (!gin[i]) return;
        }
    }
    r->call.graph = g;
    r->bwd(&r->call, n->out->grad, gin);
}

lb_tensor *lb_custom_op(lb_graph *g, const char *name, int n_inputs, lb_tensor *const *inputs, int out_ndim,
                        const int64_t *out_shape, lb_custom_fwd fwd, lb_custom_bwd bwd, const void *ctx,
                        size_t ctx_size) {
    if (!g) return NULL;
    if (g->st.code) return NULL;
    if (!name) name = "custom op";
    if (!fwd) return lb_fail(g, LB_EVALUE, "%s: no forward function", name);
    if (n_inputs < 1 || n_inputs > 4 || !inputs)
        return lb_fail(g, LB_EVALUE, "%s: takes 1 to 4 inputs, got %d", name, n_inputs);
    if (out_ndim < 0 || out_ndim > LB_MAXDIM || (out_ndim && !out_shape))
        return lb_fail(g, LB_ESHAPE, "%s: bad output rank %d", name, out_ndim);
    for (int d = 0; d < out_ndim; d++)
        if (out_shape[d] < 0) return lb_fail(g, LB_ESHAPE, "%s: negative output dimension", name);
    if (ctx_size && !ctx) return lb_fail(g, LB_EVALUE, "%s: ctx_size %zu without ctx", name, ctx_size);
    lb_tensor *x[4] = {0};
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) return lb_fail(g, LB_EVALUE, "%s: input %d is missing", name, i);
        x[i] = lb_contig_in(g, inputs[i]);
        if (!x[i]) return NULL;
    }
    lb_tensor *out = lb_new(g, out_ndim, out_shape);
    custom_rec *r = lb_alloc(g, sizeof *r);
    void *copy = ctx_size ? lb_alloc(g, ctx_size) : NULL;
    if (!out || !r || (ctx_size && !copy)) return NULL;
    memset(r, 0, sizeof *r);
    if (ctx_size) memcpy(copy, ctx, ctx_size);
    r->call.graph = g;
    r->call.name = name;
    r->call.n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) r->call.in[i] = x[i];
    r->call.out = out;
    r->call.ctx = ctx_size ? copy : (void *)ctx;
    r->bwd = bwd;
    memset(out->data, 0, (size_t)out->numel * sizeof(float));
    if (fwd(&r->call) != 0 || g->st.code) {
        if (!g->st.code) lb_fail(g, LB_EVALUE, "%s: forward failed", name);
        return NULL;
    }
    if (bwd) {
        lb_node *n = lb_record(g, custom_bw, out, n_inputs, x[0], x[1], x[2], x[3]);
        if (n) n->aux = r;
    }
    return out;
}
