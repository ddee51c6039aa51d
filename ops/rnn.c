/* rnn.c — one layer, one direction of PyTorch's recurrent layers (nn.RNN with tanh or relu,
 * nn.LSTM, nn.GRU) as one fused op: the input products of all time steps in one GEMM before the
 * recurrence, one GEMM h W_hh^T per step, and a backward that runs the recurrence back and then
 * takes dW_ih, dW_hh and dx in one GEMM each over all steps. Sequences of different lengths in
 * one batch (as pack_padded_sequence), reverse direction, and truncated backpropagation by
 * detaching the state every k steps. Layers, stacks and bidirectional layers are built from
 * calls of this op (the layer plugins). */
#include <cblas.h>
#include <math.h>

#include "ops_impl.h"

/* What the backward pass needs, kept in the step arena. Rows are in iteration order (s, b):
 * iteration s is step s of every sequence's own valid steps (len[b]-1-s with reverse). */
typedef struct {
    int cell, reverse, batch_first, bptt;
    int64_t T, B, In, H, G;
    int64_t *len;
    lb_tensor *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0;
    float *hs;   /* [T+1, B, H] states: hs[0] = h0, hs[s+1] after iteration s */
    float *cs;   /* LSTM: [T+1, B, H] cell states */
    float *act;  /* [T, B, G*H] gate activations (LSTM i,f,g,o; GRU r,z,n); unused by RNN */
    float *aux;  /* LSTM: tanh(c') [T, B, H]; GRU: W_hn h + b_hn [T, B, H] */
} rnn_saved;

int lb_rnn_gates(int cell) { return cell == LB_RNN_LSTM ? 4 : cell == LB_RNN_GRU ? 3 : 1; }

/* The gates' sigmoid and tanh, 4 at a time. libm's scalar expf and tanhf took a third of an
 * LSTM training step; these are Cephes' single-precision expf (range reduction by ln 2 in two
 * parts, degree-6 polynomial, about 1 ulp) and tanhf (an odd polynomial below |x| = 0.625,
 * 1 - 2 / (e^2|x| + 1) above), in GCC vector extensions, branch-free. */
static inline lb_v4f exp4(lb_v4f x) {
    const lb_v4f hi = {88.3762626647949f, 88.3762626647949f, 88.3762626647949f, 88.3762626647949f};
    const lb_v4f lo = {-87.3365447504f, -87.3365447504f, -87.3365447504f, -87.3365447504f};
    x = (lb_v4f)(((lb_v4i)(x > hi) & (lb_v4i)hi) | (~(lb_v4i)(x > hi) & (lb_v4i)x));
    x = (lb_v4f)(((lb_v4i)(x < lo) & (lb_v4i)lo) | (~(lb_v4i)(x < lo) & (lb_v4i)x));
    /* n = floor(x log2 e + 1/2): truncation of a positive number, shifted by 128 */
    lb_v4f t = x * 1.44269504088896341f + 128.5f;
    lb_v4i n = __builtin_convertvector(t, lb_v4i) - 128;
    lb_v4f fn = __builtin_convertvector(n, lb_v4f);
    x = x - fn * 0.693359375f - fn * -2.12194440e-4f;
    lb_v4f z = x * x;
    lb_v4f y = ((((((1.9875691500E-4f * x + 1.3981999507E-3f) * x + 8.3334519073E-3f) * x + 4.1665795894E-2f) * x +
                  1.6666665459E-1f) * x + 5.0000001201E-1f) * z) + x + 1.0f;
    /* times 2^n: n + 127 in the exponent field; n = -127 (x near the low clamp) would be a
     * zero exponent, so that case takes 2^(n+1) / 2 */
    lb_v4i low = n < -126;
    n += low & 1;
    lb_v4f p2 = (lb_v4f)((n + 127) << 23);
    y = y * p2;
    return (lb_v4f)(((lb_v4i)(y * 0.5f) & low) | ((lb_v4i)y & ~low));
}

static inline lb_v4f sigmoid4(lb_v4f x) { return 1.0f / (1.0f + exp4(-x)); }

static inline lb_v4f tanh4(lb_v4f x) {
    const lb_v4i sign = {(int)0x80000000u, (int)0x80000000u, (int)0x80000000u, (int)0x80000000u};
    lb_v4f ax = (lb_v4f)((lb_v4i)x & ~sign);
    lb_v4f z = x * x;
    lb_v4f small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z + 1.33314422036E-1f) * z -
                    3.33332819422E-1f) * z * x + x;
    lb_v4f big = 1.0f - 2.0f / (exp4(ax + ax) + 1.0f);
    big = (lb_v4f)((lb_v4i)big | ((lb_v4i)x & sign));
    lb_v4i m = ax < 0.625f;
    return (lb_v4f)(((lb_v4i)small & m) | ((lb_v4i)big & ~m));
}

/* p[0..n) = sigmoid (kind 0) or tanh (kind 1) of itself. */
static void act_n(float *p, int64_t n, int kind) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) lb_st4(p + i, kind ? tanh4(lb_ld4(p + i)) : sigmoid4(lb_ld4(p + i)));
    if (i < n) {
        float t[4] = {0, 0, 0, 0};
        memcpy(t, p + i, (size_t)(n - i) * sizeof(float));
        lb_st4(t, kind ? tanh4(lb_ld4(t)) : sigmoid4(lb_ld4(t)));
        memcpy(p + i, t, (size_t)(n - i) * sizeof(float));
    }
}

/* Row of x (and of y) holding step t of sequence b. */
static inline int64_t xrow(const rnn_saved *S, int64_t t, int64_t b) {
    return S->batch_first ? b * S->T + t : t * S->B + b;
}
/* Step of sequence b taken at iteration s. */
static inline int64_t step_of(const rnn_saved *S, int64_t s, int64_t b) {
    return S->reverse ? S->len[b] - 1 - s : s;
}

/* One output view of the op's packed result P (y, then h, then c): a header over P's data whose
 * backward adds its gradient into P's at the offset (ia[0]). */
static void part_bw(lb_graph *g, lb_node *nd) {
    float *gp = lb_gradbuf(g, nd->in[0]);
    if (!gp) return;
    gp += nd->ia[0];
    const float *gy = nd->out->grad;
    for (int64_t i = 0; i < nd->out->numel; i++) gp[i] += gy[i];
}

static lb_tensor *part(lb_graph *g, lb_tensor *P, int64_t off, int ndim, const int64_t *shape) {
    lb_tensor *t = lb_header(g, ndim, shape, NULL, P->data + off);
    if (!t) return NULL;
    lb_node *nd = lb_record(g, part_bw, t, 1, P, NULL, NULL, NULL);
    if (nd) nd->ia[0] = off;
    return t;
}

static void colsum_acc(float *gb, const float *m, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = m + r * cols;
        for (int64_t j = 0; j < cols; j++) gb[j] += row[j];
    }
}

static void rnn_bw(lb_graph *g, lb_node *nd) {
    const rnn_saved *S = nd->aux;
    const int64_t T = S->T, B = S->B, In = S->In, H = S->H, GH = S->G * H, TB = T * B;
    const int cell = S->cell;
    const float *gP = nd->out->grad;
    const float *dy = gP, *dhn = gP + TB * H, *dcn = cell == LB_RNN_LSTM ? gP + TB * H + B * H : NULL;
    /* dGh: gradients of the gate pre-activations in iteration order (what multiplies W_hh);
     * dGx: the same in x's row order (what multiplies W_ih). They differ in GRU's n part
     * (r * dn there) and in row order for reverse or batch_first; otherwise one buffer. */
    int same = cell != LB_RNN_GRU && !S->reverse && !S->batch_first;
    float *dGh = lb_alloc(g, (size_t)TB * GH * sizeof(float));
    float *dGx = same ? dGh : lb_alloc(g, (size_t)TB * GH * sizeof(float));
    float *dh = lb_alloc(g, (size_t)B * H * sizeof(float));
    float *dc = cell == LB_RNN_LSTM ? lb_alloc(g, (size_t)B * H * sizeof(float)) : NULL;
    if (!dGh || !dGx || !dh || (cell == LB_RNN_LSTM && !dc)) return;
    memcpy(dh, dhn, (size_t)B * H * sizeof(float));
    if (dc) memcpy(dc, dcn, (size_t)B * H * sizeof(float));
    if (!same) memset(dGx, 0, (size_t)TB * GH * sizeof(float));
    const float *Whh = S->w_hh->data;
    for (int64_t s = T - 1; s >= 0; s--) {
        const float *hprev = S->hs + s * B * H, *hnext = S->hs + (s + 1) * B * H;
        float *gh_s = dGh + s * B * GH;
        for (int64_t b = 0; b < B; b++) {
            float *gh = gh_s + b * GH;
            if (s >= S->len[b]) { /* padded: the state passes through, no gradient here */
                memset(gh, 0, (size_t)GH * sizeof(float));
                continue;
            }
            int64_t t = step_of(S, s, b), xr = xrow(S, t, b);
            float *gx = dGx + xr * GH, *dhb = dh + b * H;
            const float *dyr = dy + xr * H, *hn = hnext + b * H, *hp = hprev + b * H;
            for (int64_t j = 0; j < H; j++) dhb[j] += dyr[j];
            if (cell == LB_RNN_TANH) {
                for (int64_t j = 0; j < H; j++) { gh[j] = dhb[j] * (1.0f - hn[j] * hn[j]); dhb[j] = 0; }
            } else if (cell == LB_RNN_RELU) {
                for (int64_t j = 0; j < H; j++) { gh[j] = hn[j] > 0 ? dhb[j] : 0.0f; dhb[j] = 0; }
            } else if (cell == LB_RNN_LSTM) {
                const float *a = S->act + (s * B + b) * GH, *tc = S->aux + (s * B + b) * H;
                const float *cp = S->cs + (s * B + b) * H;
                float *dcb = dc + b * H;
                for (int64_t j = 0; j < H; j++) {
                    float i = a[j], f = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
                    float dct = dcb[j] + dhb[j] * o * (1.0f - tc[j] * tc[j]);
                    gh[j] = dct * gg * i * (1.0f - i);
                    gh[H + j] = dct * cp[j] * f * (1.0f - f);
                    gh[2 * H + j] = dct * i * (1.0f - gg * gg);
                    gh[3 * H + j] = dhb[j] * tc[j] * o * (1.0f - o);
                    dcb[j] = dct * f;
                    dhb[j] = 0;
                }
            } else { /* GRU: h' = (1 - z) n + z h, n = tanh(xn + r * hn) */
                const float *a = S->act + (s * B + b) * GH, *hw = S->aux + (s * B + b) * H;
                for (int64_t j = 0; j < H; j++) {
                    float r = a[j], z = a[H + j], n = a[2 * H + j], d = dhb[j];
                    float dn = d * (1.0f - z) * (1.0f - n * n);
                    float dr = dn * hw[j] * r * (1.0f - r), dz = d * (hp[j] - n) * z * (1.0f - z);
                    gx[j] = gh[j] = dr;
                    gx[H + j] = gh[H + j] = dz;
                    gx[2 * H + j] = dn;
                    gh[2 * H + j] = dn * r;
                    dhb[j] = d * z;
                }
            }
            if (!same && cell != LB_RNN_GRU) memcpy(gx, gh, (size_t)GH * sizeof(float));
        }
        if (S->bptt > 0 && s > 0 && s % S->bptt == 0) {
            /* truncation: the state entering iteration s is detached, for the sequences that run
             * in it (an ended sequence's final-state gradient still reaches its last step) */
            for (int64_t b = 0; b < B; b++)
                if (s < S->len[b]) {
                    memset(dh + b * H, 0, (size_t)H * sizeof(float));
                    if (dc) memset(dc + b * H, 0, (size_t)H * sizeof(float));
                }
        } else {
            /* dh_{s-1} += dGh_s W_hh */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)GH, 1.0f, gh_s, (int)GH, Whh,
                        (int)H, 1.0f, dh, (int)H);
        }
    }
    if (S->h0 && S->h0->requires_grad) {
        float *g0 = lb_gradbuf(g, S->h0);
        if (!g0) return;
        for (int64_t i = 0; i < B * H; i++) g0[i] += dh[i];
    }
    if (S->c0 && S->c0->requires_grad) {
        float *g0 = lb_gradbuf(g, S->c0);
        if (!g0) return;
        for (int64_t i = 0; i < B * H; i++) g0[i] += dc[i];
    }
    if (S->w_hh->requires_grad) { /* dW_hh += dGh^T [h_0 .. h_{T-1}] */
        float *gw = lb_gradbuf(g, S->w_hh);
        if (!gw) return;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)GH, (int)H, (int)TB, 1.0f, dGh, (int)GH, S->hs,
                    (int)H, 1.0f, gw, (int)H);
    }
    if (S->b_hh && S->b_hh->requires_grad) {
        float *gb = lb_gradbuf(g, S->b_hh);
        if (!gb) return;
        colsum_acc(gb, dGh, TB, GH);
    }
    if (S->w_ih->requires_grad) { /* dW_ih += dGx^T x */
        float *gw = lb_gradbuf(g, S->w_ih);
        if (!gw) return;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)GH, (int)In, (int)TB, 1.0f, dGx, (int)GH,
                    S->x->data, (int)In, 1.0f, gw, (int)In);
    }
    if (S->b_ih && S->b_ih->requires_grad) {
        float *gb = lb_gradbuf(g, S->b_ih);
        if (!gb) return;
        colsum_acc(gb, dGx, TB, GH);
    }
    if (S->x->requires_grad) { /* dx += dGx W_ih */
        float *gx = lb_gradbuf(g, S->x);
        if (!gx) return;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, (int)In, (int)GH, 1.0f, dGx, (int)GH,
                    S->w_ih->data, (int)In, 1.0f, gx, (int)In);
    }
}

static const char *cell_name(int cell) {
    return cell == LB_RNN_LSTM ? "lstm" : cell == LB_RNN_GRU ? "gru" : cell == LB_RNN_RELU ? "rnn (relu)" : "rnn";
}

int lb_rnn(lb_graph *g, lb_tensor *x, lb_tensor *w_ih, lb_tensor *w_hh, lb_tensor *b_ih, lb_tensor *b_hh,
           lb_tensor *h0, lb_tensor *c0, const lb_rnn_opts *o, lb_rnn_result *res) {
    if (res) memset(res, 0, sizeof *res);
    if (g->st.code) return -1;
    lb_rnn_opts def = {0};
    if (!o) o = &def;
    int cell = o->cell;
    if (cell < LB_RNN_TANH || cell > LB_RNN_GRU) {
        lb_fail(g, LB_EVALUE, "rnn: unknown cell kind %d", cell);
        return -1;
    }
    const char *nm = cell_name(cell);
    if (!x || !w_ih || !w_hh || !res) {
        lb_fail(g, LB_EVALUE, "%s: missing input, weight or result", nm);
        return -1;
    }
    char s1[64], s2[64];
    if (x->ndim != 3 || w_ih->ndim != 2 || w_hh->ndim != 2) {
        lb_fail(g, LB_ESHAPE, "%s: expects input [%s, features] and 2-D weights, got input %s and weight_ih %s", nm,
                o->batch_first ? "batch, time" : "time, batch", lb_shape_str(x, s1, sizeof s1),
                lb_shape_str(w_ih, s2, sizeof s2));
        return -1;
    }
    int64_t G = lb_rnn_gates(cell), T = x->shape[o->batch_first ? 1 : 0], B = x->shape[o->batch_first ? 0 : 1];
    int64_t In = x->shape[2], GH = w_hh->shape[0], H = GH / G;
    if (T < 1 || B < 1) {
        lb_fail(g, LB_ESHAPE, "%s: empty input %s", nm, lb_shape_str(x, s1, sizeof s1));
        return -1;
    }
    if (T * B > INT32_MAX || GH > INT32_MAX || In > INT32_MAX) { /* BLAS takes int sizes */
        lb_fail(g, LB_ESHAPE, "%s: input %s is too large", nm, lb_shape_str(x, s1, sizeof s1));
        return -1;
    }
    if (GH % G || H < 1 || w_hh->shape[1] != H) {
        lb_fail(g, LB_ESHAPE, "%s: weight_hh must be [%lld*hidden, hidden], got %s", nm, (long long)G,
                lb_shape_str(w_hh, s1, sizeof s1));
        return -1;
    }
    if (w_ih->shape[0] != GH || w_ih->shape[1] != In) {
        lb_fail(g, LB_ESHAPE, "%s: weight_ih must be [%lld, %lld] for input %s and hidden size %lld, got %s", nm,
                (long long)GH, (long long)In, lb_shape_str(x, s1, sizeof s1), (long long)H,
                lb_shape_str(w_ih, s2, sizeof s2));
        return -1;
    }
    lb_tensor *bs[2] = {b_ih, b_hh};
    for (int k = 0; k < 2; k++)
        if (bs[k] && bs[k]->numel != GH) {
            lb_fail(g, LB_ESHAPE, "%s: bias_%s must have %lld elements, got %s", nm, k ? "hh" : "ih", (long long)GH,
                    lb_shape_str(bs[k], s1, sizeof s1));
            return -1;
        }
    if (c0 && cell != LB_RNN_LSTM) {
        lb_fail(g, LB_EVALUE, "%s: only an lstm has a cell state", nm);
        return -1;
    }
    lb_tensor *st0[2] = {h0, c0};
    for (int k = 0; k < 2; k++)
        if (st0[k] && (st0[k]->ndim != 2 || st0[k]->shape[0] != B || st0[k]->shape[1] != H)) {
            lb_fail(g, LB_ESHAPE, "%s: initial %s state must be [%lld, %lld] (batch, hidden), got %s", nm,
                    k ? "cell" : "hidden", (long long)B, (long long)H, lb_shape_str(st0[k], s1, sizeof s1));
            return -1;
        }
    if (o->bptt < 0) {
        lb_fail(g, LB_EVALUE, "%s: bptt must be 0 (full) or a number of steps, got %d", nm, o->bptt);
        return -1;
    }
    int64_t *len = lb_alloc(g, (size_t)B * sizeof(int64_t));
    if (!len) return -1;
    for (int64_t b = 0; b < B; b++) {
        len[b] = o->lengths ? o->lengths[b] : T;
        if (len[b] < 0 || len[b] > T) {
            lb_fail(g, LB_EVALUE, "%s: length %lld of sequence %lld is not in 0..%lld", nm, (long long)len[b],
                    (long long)b, (long long)T);
            return -1;
        }
    }
    x = lb_contig_in(g, x);
    w_ih = lb_contig_in(g, w_ih);
    w_hh = lb_contig_in(g, w_hh);
    if (b_ih) b_ih = lb_contig_in(g, b_ih);
    if (b_hh) b_hh = lb_contig_in(g, b_hh);
    if (h0) h0 = lb_contig_in(g, h0);
    if (c0) c0 = lb_contig_in(g, c0);
    if (g->st.code) return -1;

    rnn_saved *S = lb_alloc(g, sizeof *S);
    if (!S) return -1;
    *S = (rnn_saved){cell, o->reverse != 0, o->batch_first != 0, o->bptt, T, B, In, H, G, len,
                     x, w_ih, w_hh, b_ih, b_hh, h0, c0, NULL, NULL, NULL, NULL};
    const int64_t TB = T * B, BH = B * H, lstm = cell == LB_RNN_LSTM;
    float *XW = lb_alloc(g, (size_t)TB * GH * sizeof(float)), *HW = lb_alloc(g, (size_t)B * GH * sizeof(float));
    S->hs = lb_alloc(g, (size_t)(T + 1) * BH * sizeof(float));
    if (lstm) S->cs = lb_alloc(g, (size_t)(T + 1) * BH * sizeof(float));
    if (cell >= LB_RNN_LSTM) {
        S->act = lb_alloc(g, (size_t)TB * GH * sizeof(float));
        S->aux = lb_alloc(g, (size_t)TB * H * sizeof(float));
    }
    int64_t pshape[1] = {TB * H + BH * (lstm ? 2 : 1)};
    lb_tensor *P = lb_new(g, 1, pshape);
    if (!XW || !HW || !S->hs || (lstm && !S->cs) || (cell >= LB_RNN_LSTM && (!S->act || !S->aux)) || !P) return -1;

    /* all input products at once: XW = x W_ih^T + b_ih, rows in x's order */
    for (int64_t r = 0; r < TB; r++) {
        if (b_ih) memcpy(XW + r * GH, b_ih->data, (size_t)GH * sizeof(float));
        else memset(XW + r * GH, 0, (size_t)GH * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, (int)GH, (int)In, 1.0f, x->data, (int)In,
                w_ih->data, (int)In, 1.0f, XW, (int)GH);
    if (h0) memcpy(S->hs, h0->data, (size_t)BH * sizeof(float));
    else memset(S->hs, 0, (size_t)BH * sizeof(float));
    if (lstm) {
        if (c0) memcpy(S->cs, c0->data, (size_t)BH * sizeof(float));
        else memset(S->cs, 0, (size_t)BH * sizeof(float));
    }
    float *y = P->data;
    memset(y, 0, (size_t)TB * H * sizeof(float)); /* padded steps output 0 */
    for (int64_t s = 0; s < T; s++) {
        const float *hprev = S->hs + s * BH;
        float *hnext = S->hs + (s + 1) * BH;
        for (int64_t b = 0; b < B; b++) {
            if (b_hh) memcpy(HW + b * GH, b_hh->data, (size_t)GH * sizeof(float));
            else memset(HW + b * GH, 0, (size_t)GH * sizeof(float));
        }
        if (s > 0 || h0) /* HW = h W_hh^T + b_hh (a zero initial state adds nothing) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)GH, (int)H, 1.0f, hprev, (int)H,
                        w_hh->data, (int)H, 1.0f, HW, (int)GH);
        for (int64_t b = 0; b < B; b++) {
            const float *hp = hprev + b * H;
            float *hn = hnext + b * H;
            const float *cp = lstm ? S->cs + s * BH + b * H : NULL;
            float *cn = lstm ? S->cs + (s + 1) * BH + b * H : NULL;
            if (s >= len[b]) { /* past this sequence's end: the state is kept */
                memcpy(hn, hp, (size_t)H * sizeof(float));
                if (lstm) memcpy(cn, cp, (size_t)H * sizeof(float));
                continue;
            }
            int64_t xr = xrow(S, step_of(S, s, b), b);
            const float *xw = XW + xr * GH, *hw = HW + b * GH;
            if (cell == LB_RNN_TANH) {
                for (int64_t j = 0; j < H; j++) hn[j] = xw[j] + hw[j];
                act_n(hn, H, 1);
            } else if (cell == LB_RNN_RELU) {
                for (int64_t j = 0; j < H; j++) { float v = xw[j] + hw[j]; hn[j] = v > 0 ? v : 0.0f; }
            } else if (lstm) {
                float *a = S->act + (s * B + b) * GH, *tc = S->aux + (s * B + b) * H;
                for (int64_t j = 0; j < GH; j++) a[j] = xw[j] + hw[j];
                act_n(a, 2 * H, 0); /* i, f */
                act_n(a + 2 * H, H, 1); /* g */
                act_n(a + 3 * H, H, 0); /* o */
                for (int64_t j = 0; j < H; j++) tc[j] = cn[j] = a[H + j] * cp[j] + a[j] * a[2 * H + j];
                act_n(tc, H, 1);
                for (int64_t j = 0; j < H; j++) hn[j] = a[3 * H + j] * tc[j];
            } else {
                float *a = S->act + (s * B + b) * GH, *hwn = S->aux + (s * B + b) * H;
                for (int64_t j = 0; j < 2 * H; j++) a[j] = xw[j] + hw[j];
                act_n(a, 2 * H, 0); /* r, z */
                for (int64_t j = 0; j < H; j++) {
                    hwn[j] = hw[2 * H + j];
                    a[2 * H + j] = xw[2 * H + j] + a[j] * hw[2 * H + j];
                }
                act_n(a + 2 * H, H, 1); /* n */
                for (int64_t j = 0; j < H; j++) hn[j] = (1.0f - a[H + j]) * a[2 * H + j] + a[H + j] * hp[j];
            }
            memcpy(y + xr * H, hn, (size_t)H * sizeof(float));
        }
    }
    memcpy(P->data + TB * H, S->hs + T * BH, (size_t)BH * sizeof(float));
    if (lstm) memcpy(P->data + TB * H + BH, S->cs + T * BH, (size_t)BH * sizeof(float));

    /* The node's inputs are seven; lb_record sees one that requires a gradient (if any) and the
     * backward reads them all from S. */
    lb_tensor *all[7] = {x, w_ih, w_hh, b_ih, b_hh, h0, c0}, *need = NULL;
    for (int k = 0; k < 7 && !need; k++)
        if (all[k] && all[k]->requires_grad) need = all[k];
    lb_node *nd = need ? lb_record(g, rnn_bw, P, 1, need, NULL, NULL, NULL) : NULL;
    if (nd) nd->aux = S;
    int64_t yshape[3] = {x->shape[0], x->shape[1], H}, hshape[2] = {B, H};
    res->y = part(g, P, 0, 3, yshape);
    res->h = part(g, P, TB * H, 2, hshape);
    if (lstm) res->c = part(g, P, TB * H + BH, 2, hshape);
    if (g->st.code) { memset(res, 0, sizeof *res); return -1; }
    return 0;
}
