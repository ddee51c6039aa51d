/* ops_parity_driver.c — runs one ops/ case on inputs read from a binary file and writes the
 * outputs and gradients, for tests/test_ops_parity.py to compare with PyTorch.
 *   ops_parity_driver CASE IN.bin OUT.bin
 * File format (both ways, little-endian): "LBT1", u32 count, then per tensor: u32 name length,
 * name, u32 ndim, i64 shape[ndim], f32 data[numel]. Differentiable cases seed the backward pass
 * with L = sum(y * r) where r is an input; gradients are written as "g_<input>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct { char name[64]; int ndim; int64_t shape[4]; int64_t n; float *data; } blob;

static blob ins[64], outs[64];
static int nins, nouts;
static lb_graph *g;
static lb_tensor *tin[64];

static int read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char m[4];
    uint32_t n;
    if (fread(m, 1, 4, f) != 4 || memcmp(m, "LBT1", 4) || fread(&n, 4, 1, f) != 1 || n > 64) { fclose(f); return -1; }
    for (uint32_t i = 0; i < n; i++) {
        blob *b = &ins[nins++];
        uint32_t len, nd;
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof b->name || fread(b->name, 1, len, f) != len) { fclose(f); return -1; }
        b->name[len] = 0;
        if (fread(&nd, 4, 1, f) != 1 || nd > 4 || fread(b->shape, 8, nd, f) != nd) { fclose(f); return -1; }
        b->ndim = (int)nd;
        b->n = 1;
        for (uint32_t d = 0; d < nd; d++) b->n *= b->shape[d];
        b->data = malloc((size_t)(b->n ? b->n : 1) * 4);
        if (fread(b->data, 4, (size_t)b->n, f) != (size_t)b->n) { fclose(f); return -1; }
    }
    fclose(f);
    return 0;
}

static int write_file(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint32_t n = (uint32_t)nouts;
    fwrite("LBT1", 1, 4, f);
    fwrite(&n, 4, 1, f);
    for (int i = 0; i < nouts; i++) {
        blob *b = &outs[i];
        uint32_t len = (uint32_t)strlen(b->name), nd = (uint32_t)b->ndim;
        fwrite(&len, 4, 1, f);
        fwrite(b->name, 1, len, f);
        fwrite(&nd, 4, 1, f);
        fwrite(b->shape, 8, nd, f);
        fwrite(b->data, 4, (size_t)b->n, f);
    }
    return fclose(f);
}

static int idx_of(const char *name) {
    for (int i = 0; i < nins; i++)
        if (strcmp(ins[i].name, name) == 0) return i;
    return -1;
}

/* The input as a leaf tensor of the graph (made once), requiring grad when asked. */
static lb_tensor *T(const char *name, int grad) {
    int i = idx_of(name);
    if (i < 0) return NULL;
    if (!tin[i]) {
        tin[i] = lb_from_data(g, ins[i].ndim, ins[i].shape, ins[i].data);
        if (grad) lb_set_requires_grad(tin[i], 1);
    }
    return tin[i];
}

static float opt(int k) {
    int i = idx_of("opts");
    return i >= 0 && k < ins[i].n ? ins[i].data[k] : 0.0f;
}

static void out_raw(const char *name, int ndim, const int64_t *shape, const float *data) {
    blob *b = &outs[nouts++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->ndim = ndim;
    b->n = 1;
    for (int d = 0; d < ndim; d++) { b->shape[d] = shape[d]; b->n *= shape[d]; }
    b->data = calloc((size_t)(b->n ? b->n : 1), 4);
    if (data) memcpy(b->data, data, (size_t)b->n * 4);
}

static void out_t(const char *name, lb_tensor *t) {
    out_raw(name, t->ndim, t->shape, NULL);
    lb_copy_out(t, outs[nouts - 1].data);
}

static void out_grad(const char *name) {
    lb_tensor *t = T(name, 0);
    char nm[80];
    snprintf(nm, sizeof nm, "g_%s", name);
    out_raw(nm, t->ndim, t->shape, t->grad);
}

static int backward_r(lb_tensor *y) {
    if (!y) return -1;
    out_t("y", y);
    return lb_backward(g, lb_sum_all(g, lb_mul(g, y, T("r", 0))));
}

static int run(const char *c) {
    if (!strcmp(c, "linear")) {
        if (backward_r(lb_linear(g, T("x", 1), T("w", 1), T("b", 1)))) return -1;
        out_grad("x"); out_grad("w"); out_grad("b");
    } else if (!strcmp(c, "unary")) {
        lb_tensor *x = T("x", 1), *y;
        float a = opt(1);
        switch ((int)opt(0)) {
        case 0: y = lb_neg(g, x); break;
        case 1: y = lb_exp(g, x); break;
        case 2: y = lb_log(g, x); break;
        case 3: y = lb_sqrt(g, x); break;
        case 4: y = lb_tanh(g, x); break;
        case 5: y = lb_sigmoid(g, x); break;
        case 6: y = lb_relu(g, x); break;
        case 7: y = lb_leaky_relu(g, x, a); break;
        case 8: y = lb_gelu(g, x); break;
        case 9: y = lb_pow(g, x, a); break;
        case 10: y = lb_add_scalar(g, x, a); break;
        default: y = lb_mul_scalar(g, x, a); break;
        }
        if (backward_r(y)) return -1;
        out_grad("x");
    } else if (!strcmp(c, "binary")) {
        lb_tensor *a = T("a", 1), *b = T("b", 1), *y;
        switch ((int)opt(0)) {
        case 0: y = lb_add(g, a, b); break;
        case 1: y = lb_sub(g, a, b); break;
        case 2: y = lb_mul(g, a, b); break;
        default: y = lb_div(g, a, b); break;
        }
        if (backward_r(y)) return -1;
        out_grad("a"); out_grad("b");
    } else if (!strcmp(c, "reduce")) {
        lb_tensor *x = T("x", 1), *y;
        int ax = (int)opt(1), keep = (int)opt(2);
        switch ((int)opt(0)) {
        case 0: y = lb_sum(g, x, ax, keep); break;
        case 1: y = lb_mean(g, x, ax, keep); break;
        default: y = lb_max(g, x, ax, keep); break;
        }
        if (backward_r(y)) return -1;
        out_grad("x");
    } else if (!strcmp(c, "mse")) {
        lb_tensor *l = lb_mse_loss(g, T("x", 1), T("t", 1));
        if (!l) return -1;
        out_t("loss", l);
        if (lb_backward(g, l)) return -1;
        out_grad("x"); out_grad("t");
    } else if (!strcmp(c, "matmul")) {
        lb_tensor *b = T("b", 1);
        if (opt(0) != 0) b = lb_transpose(g, b, -1, -2);
        if (backward_r(lb_matmul(g, T("a", 1), b))) return -1;
        out_grad("a"); out_grad("b");
    } else if (!strcmp(c, "conv2d")) {
        lb_conv_opts o = {(int)opt(0), (int)opt(1), (int)opt(2), (int)opt(3), (int)opt(4), (int)opt(5)};
        if (backward_r(lb_conv2d(g, T("x", 1), T("w", 1), T("b", 1), &o))) return -1;
        out_grad("x"); out_grad("w"); out_grad("b");
    } else if (!strcmp(c, "maxpool") || !strcmp(c, "avgpool")) {
        lb_tensor *y = c[0] == 'm' ? lb_maxpool2d(g, T("x", 1), (int)opt(0), (int)opt(1), (int)opt(2))
                                   : lb_avgpool2d(g, T("x", 1), (int)opt(0), (int)opt(1), (int)opt(2));
        if (backward_r(y)) return -1;
        out_grad("x");
    } else if (!strcmp(c, "batchnorm")) {
        lb_tensor *rm = T("rm", 0), *rv = T("rv", 0);
        if (backward_r(lb_batchnorm(g, T("x", 1), T("w", 1), T("b", 1), rm, rv, (int)opt(0), opt(1), opt(2)))) return -1;
        out_grad("x"); out_grad("w"); out_grad("b");
        out_t("rm", rm); out_t("rv", rv);
    } else if (!strcmp(c, "layernorm")) {
        if (backward_r(lb_layernorm(g, T("x", 1), T("w", 1), T("b", 1), opt(0)))) return -1;
        out_grad("x"); out_grad("w"); out_grad("b");
    } else if (!strcmp(c, "embedding")) {
        if (backward_r(lb_embedding(g, T("ids", 0), T("w", 1)))) return -1;
        out_grad("w");
    } else if (!strcmp(c, "softmax")) {
        lb_tensor *y = opt(1) != 0 ? lb_log_softmax(g, T("x", 1), (int)opt(0), T("mask", 0))
                                   : lb_softmax(g, T("x", 1), (int)opt(0), T("mask", 0));
        if (backward_r(y)) return -1;
        out_grad("x");
    } else if (!strcmp(c, "cross_entropy")) {
        lb_tensor *l = lb_cross_entropy(g, T("logits", 1), T("targets", 0), (int)opt(0), opt(1));
        if (!l) return -1;
        out_t("loss", l);
        if (lb_backward(g, l)) return -1;
        out_grad("logits");
    } else if (!strcmp(c, "cnn")) {
        lb_conv_opts o = {1, 1, 1, 1, 1, 1};
        lb_tensor *h = lb_maxpool2d(g, lb_relu(g, lb_conv2d(g, T("x", 0), T("c1w", 1), T("c1b", 1), &o)), 2, 2, 0);
        h = lb_maxpool2d(g, lb_relu(g, lb_conv2d(g, h, T("c2w", 1), T("c2b", 1), &o)), 2, 2, 0);
        lb_tensor *logits = lb_linear(g, lb_flatten(g, h, 1), T("fw", 1), T("fb", 1));
        lb_tensor *l = lb_cross_entropy(g, logits, T("targets", 0), -100, 0);
        if (!l) return -1;
        out_t("logits", logits);
        out_t("loss", l);
        if (lb_backward(g, l)) return -1;
        const char *ps[] = {"c1w", "c1b", "c2w", "c2b", "fw", "fb"};
        for (int i = 0; i < 6; i++) out_grad(ps[i]);
    } else if (!strcmp(c, "rnn")) {
        /* opts: cell, reverse, layers. Layer l reads w_ih<l>, w_hh<l>, b_ih<l>, b_hh<l>, h0<l>,
         * c0<l> (biases and states optional) and runs on the previous layer's y; lengths (B
         * floats) optional. L = sum(y r) + sum_l sum(hn<l> rh<l>) (+ sum(cn<l> rc<l>)). */
        int cell = (int)opt(0), layers = (int)opt(2);
        int64_t len[64];
        int li = idx_of("lengths");
        if (li >= 0)
            for (int64_t b = 0; b < ins[li].n && b < 64; b++) len[b] = (int64_t)ins[li].data[b];
        lb_rnn_opts o = {cell, (int)opt(1), 0, 0, li >= 0 ? len : NULL};
        lb_tensor *y = T("x", 1), *loss = NULL;
        for (int l = 0; l < layers; l++) {
            char n[7][16];
            const char *base[7] = {"w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0", "rh"};
            for (int k = 0; k < 7; k++) snprintf(n[k], sizeof n[k], "%s%d", base[k], l);
            lb_rnn_result r;
            if (lb_rnn(g, y, T(n[0], 1), T(n[1], 1), T(n[2], 1), T(n[3], 1), T(n[4], 1), T(n[5], 1), &o, &r)) return -1;
            char hn[16], cn[16], rc[16];
            snprintf(hn, sizeof hn, "hn%d", l);
            snprintf(cn, sizeof cn, "cn%d", l);
            snprintf(rc, sizeof rc, "rc%d", l);
            out_t(hn, r.h);
            lb_tensor *term = lb_sum_all(g, lb_mul(g, r.h, T(n[6], 0)));
            loss = loss ? lb_add(g, loss, term) : term;
            if (r.c) {
                out_t(cn, r.c);
                loss = lb_add(g, loss, lb_sum_all(g, lb_mul(g, r.c, T(rc, 0))));
            }
            y = r.y;
        }
        out_t("y", y);
        if (!loss || lb_backward(g, lb_add(g, loss, lb_sum_all(g, lb_mul(g, y, T("r", 0)))))) return -1;
        out_grad("x");
        for (int l = 0; l < layers; l++) {
            const char *base[6] = {"w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0"};
            for (int k = 0; k < 6; k++) {
                char n[16];
                snprintf(n, sizeof n, "%s%d", base[k], l);
                if (idx_of(n) >= 0) out_grad(n);
            }
        }
    } else if (!strcmp(c, "optim")) {
        lb_params *p = lb_params_new();
        lb_status st = {0};
        int wi = idx_of("w");
        lb_tensor *w = lb_params_add(p, "w", ins[wi].ndim, ins[wi].shape, 1, &st);
        memcpy(w->data, ins[wi].data, (size_t)w->numel * 4);
        lb_optim o;
        int kind = (int)opt(0);
        if (kind == LB_SGD) o = lb_optim_sgd(opt(1), opt(2), opt(3), opt(4), (int)opt(5));
        else if (kind == LB_ADAM) o = lb_optim_adam(opt(1), opt(6), opt(7), opt(8), opt(4));
        else o = lb_optim_adamw(opt(1), opt(6), opt(7), opt(8), opt(4));
        for (int s = 0;; s++) {
            char nm[16];
            snprintf(nm, sizeof nm, "g%d", s);
            int gi = idx_of(nm);
            if (gi < 0) break;
            memcpy(w->grad, ins[gi].data, (size_t)w->numel * 4);
            if (lb_optim_step(&o, p, &st)) { fprintf(stderr, "%s\n", st.msg); return -1; }
        }
        out_t("w", w);
        lb_params_free(p);
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s CASE IN OUT\n", argv[0]); return 2; }
    char core[320];
    fprintf(stderr, "blas: %s\n", lb_blas_summary(core, sizeof core)); /* the suite checks which core ran */
    lb_set_threads(1);
    if (read_file(argv[2])) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    g = lb_graph_new();
    if (run(argv[1])) { fprintf(stderr, "error: %s\n", lb_graph_error(g) ? lb_graph_error(g) : "?"); return 1; }
    if (write_file(argv[3])) return 1;
    lb_graph_free(g);
    for (int i = 0; i < nins; i++) free(ins[i].data);
    for (int i = 0; i < nouts; i++) free(outs[i].data);
    return 0;
}
