/* conv.c — 2-D convolution (NCHW, stride, padding, dilation, groups = 1) as im2col + one
 * cblas_sgemm, per image when the output plane is large, else per chunk of images whose
 * columns sit side by side in the graph's shared workspace (so small layers still make one
 * wide GEMM); 1x1 stride-1 convolutions use the image itself as its columns, and stride-1
 * "same" convolutions (3x3 pad 1 ...) make each row of columns by one shifted copy of the
 * plane. Backward: dW += dY cols^T (the forward columns are kept in the arena when small
 * enough to stay in cache, else recomputed image by image), dcols = W^T dY, col2im into dX.
 * 3x3 stride-1 layers with enough channels go to Winograd's algorithm (conv_winograd.c).
 * Fusion (lb_graph_fuse, asked by the model runner): relu applied to the output while it is in
 * cache, its mask applied to the output gradient; and on the one-image-at-a-time path 2x2 max
 * pooling of each image's output, so the full-size output never reaches memory (the backward
 * pass rebuilds each image's full-size gradient from the pooled one). */
#include <cblas.h>

#include "ops_impl.h"

/* Output planes at least this large are convolved one image at a time (the columns stay in
 * cache and no reordering is needed); smaller ones batch several images into one GEMM. */
#ifndef LB_CONV_PER_IMAGE
#define LB_CONV_PER_IMAGE 128
#endif

/* Forward columns up to this many floats (all images) are kept in the arena for the weight
 * gradient instead of being recomputed. Small: columns larger than the cache cost more to
 * write out and read back than to recompute image by image into a cache-resident workspace
 * (the Fashion-MNIST CNN's 1.8M-float columns: 7% slower kept). */
#ifndef LB_CONV_KEEP_COLS
#define LB_CONV_KEEP_COLS ((int64_t)1 << 18)
#endif

typedef struct {
    int C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
    int relu, pool;  /* fused (lb_graph_fuse): the output is relu'd, 2x2 max-pooled */
    int32_t *pos;    /* with pool: each window's maximum, its index in the plane */
    float *phases;   /* stride 2: scratch of conv_stride2.c for one image (phase_split) */
} cgeom;

/* The zero-fills are a few to a few dozen floats: inline loops, not memset calls. */
#if defined(__GNUC__) && !defined(__clang__)
#define LB_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define LB_NO_MEMSET
#endif

/* Stride 1, dilation 1 and an output as wide as the input ("same" padding, e.g. 3x3 pad 1):
 * the row (c, kh, kw) of the columns is the input plane shifted by (kh - ph) * W + (kw - pw),
 * so it is one contiguous copy, with the rows and the few columns that fall in the padding
 * zeroed. */
static int plane_shift(const cgeom *q) {
    return q->sh == 1 && q->sw == 1 && q->dh == 1 && q->dw == 1 && q->OW == q->W;
}

/* The valid output rows [*oh0, *oh1) of kernel row kh, the valid columns [*ow0, *ow1) of
 * kernel column kw, and the flat range [*a, *b) of the row (within the valid rows) whose
 * source lies inside the plane; shift is the source offset. */
LB_NO_MEMSET static inline void shift_ranges(const cgeom *q, int kh, int kw, int64_t *oh0, int64_t *oh1, int *ow0, int *ow1, int64_t *a,
                         int64_t *b, int64_t *shift) {
    int64_t ih0 = kh - q->ph, W = q->W, HW = (int64_t)q->H * W;
    int off = kw - q->pw;
    *oh0 = ih0 < 0 ? -ih0 : 0;
    *oh1 = q->H - ih0 < q->OH ? q->H - ih0 : q->OH;
    if (*oh1 < *oh0) *oh1 = *oh0;
    *ow0 = off < 0 ? -off : 0;
    *ow1 = q->W - off < q->OW ? q->W - off : q->OW;
    *shift = ih0 * W + off;
    *a = *oh0 * W;
    *b = *oh1 * W;
    if (*a + *shift < 0) *a = -*shift;
    if (*b + *shift > HW) *b = HW - *shift;
    if (*b < *a) *b = *a;
}

LB_NO_MEMSET static void im2col_shift(const cgeom *q, const float *x, float *col, int64_t ld) {
    int64_t HW = (int64_t)q->H * q->W, W = q->W, n = (int64_t)q->OH * q->OW;
    for (int c = 0; c < q->C; c++)
        for (int kh = 0; kh < q->KH; kh++)
            for (int kw = 0; kw < q->KW; kw++) {
                float *restrict row = col + ((int64_t)(c * q->KH + kh) * q->KW + kw) * ld;
                int64_t oh0, oh1, a, b, shift;
                int ow0, ow1;
                shift_ranges(q, kh, kw, &oh0, &oh1, &ow0, &ow1, &a, &b, &shift);
                const float *restrict src = x + c * HW + shift;
                for (int64_t i = 0; i < a; i++) row[i] = 0;
                for (int64_t i = a; i < b; i++) row[i] = src[i];
                for (int64_t i = b; i < n; i++) row[i] = 0;
                for (int64_t oh = oh0; oh < oh1; oh++) {
                    for (int ow = 0; ow < ow0; ow++) row[oh * W + ow] = 0;
                    for (int ow = ow1; ow < q->OW; ow++) row[oh * W + ow] = 0;
                }
            }
}

/* col2im of the same case; the padding entries of col (scratch) are zeroed first so that each
 * row is one contiguous accumulation (adding 0 leaves x exact). */
LB_NO_MEMSET static void col2im_shift(const cgeom *q, float *col, int64_t ld, float *x) {
    int64_t HW = (int64_t)q->H * q->W, W = q->W;
    for (int c = 0; c < q->C; c++)
        for (int kh = 0; kh < q->KH; kh++)
            for (int kw = 0; kw < q->KW; kw++) {
                float *restrict row = col + ((int64_t)(c * q->KH + kh) * q->KW + kw) * ld;
                int64_t oh0, oh1, a, b, shift;
                int ow0, ow1;
                shift_ranges(q, kh, kw, &oh0, &oh1, &ow0, &ow1, &a, &b, &shift);
                for (int64_t oh = oh0; oh < oh1; oh++) {
                    for (int ow = 0; ow < ow0; ow++) row[oh * W + ow] = 0;
                    for (int ow = ow1; ow < q->OW; ow++) row[oh * W + ow] = 0;
                }
                float *restrict dst = x + c * HW + shift;
                for (int64_t i = a; i < b; i++) dst[i] += row[i];
            }
}

/* Stride 2, dilation 1: through phase planes (conv_stride2.c). Their copies write up to
 * LB_S2_COL_SLACK floats past each image's columns, so column buffers get that much room. */
static int phase_split(const cgeom *q) { return q->sh == 2 && q->sw == 2 && q->dh == 1 && q->dw == 1; }
static lb_s2_geom s2_geom(const cgeom *q) {
    lb_s2_geom s = {q->C, q->H, q->W, q->KH, q->KW, q->OH, q->OW, q->ph, q->pw};
    return s;
}
static int64_t col_slack(const cgeom *q) { return q->phases ? LB_S2_COL_SLACK : 0; }

/* Columns of one image x[C,H,W] into col: row (c, kh, kw) holds OH*OW values, rows ld apart. */
static void im2col(const cgeom *q, const float *x, float *col, int64_t ld) {
    if (plane_shift(q)) { im2col_shift(q, x, col, ld); return; }
    if (q->phases) { lb_s2_geom s = s2_geom(q); lb_s2_im2col(&s, x, col, ld, q->phases); return; }
    for (int c = 0; c < q->C; c++)
        for (int kh = 0; kh < q->KH; kh++)
            for (int kw = 0; kw < q->KW; kw++) {
                float *row = col + ((int64_t)(c * q->KH + kh) * q->KW + kw) * ld;
                int off = kw * q->dw - q->pw;
                /* valid ow: 0 <= ow*sw + off < W */
                int ow0 = off >= 0 ? 0 : (-off + q->sw - 1) / q->sw;
                int ow1 = (q->W - off + q->sw - 1) / q->sw;
                if (ow1 > q->OW) ow1 = q->OW;
                if (ow1 < ow0) ow1 = ow0;
                /* rows are short (a few to a few dozen floats): plain loops, not memcpy calls */
                for (int oh = 0; oh < q->OH; oh++) {
                    float *restrict r = row + (int64_t)oh * q->OW;
                    int ih = oh * q->sh - q->ph + kh * q->dh;
                    if (ih < 0 || ih >= q->H) { for (int ow = 0; ow < q->OW; ow++) r[ow] = 0; continue; }
                    const float *restrict xr = x + ((int64_t)c * q->H + ih) * q->W;
                    for (int ow = 0; ow < ow0; ow++) r[ow] = 0;
                    if (q->sw == 1) { const float *restrict xs = xr + off; for (int ow = ow0; ow < ow1; ow++) r[ow] = xs[ow]; }
                    else for (int ow = ow0; ow < ow1; ow++) r[ow] = xr[ow * q->sw + off];
                    for (int ow = ow1; ow < q->OW; ow++) r[ow] = 0;
                }
            }
}

static void col2im(const cgeom *q, float *col, int64_t ld, float *x) {
    if (plane_shift(q)) { col2im_shift(q, col, ld, x); return; }
    if (q->phases) { lb_s2_geom s = s2_geom(q); lb_s2_col2im(&s, col, ld, x, q->phases); return; }
    for (int c = 0; c < q->C; c++)
        for (int kh = 0; kh < q->KH; kh++)
            for (int kw = 0; kw < q->KW; kw++) {
                const float *row = col + ((int64_t)(c * q->KH + kh) * q->KW + kw) * ld;
                int off = kw * q->dw - q->pw;
                int ow0 = off >= 0 ? 0 : (-off + q->sw - 1) / q->sw;
                int ow1 = (q->W - off + q->sw - 1) / q->sw;
                if (ow1 > q->OW) ow1 = q->OW;
                for (int oh = 0; oh < q->OH; oh++) {
                    int ih = oh * q->sh - q->ph + kh * q->dh;
                    if (ih < 0 || ih >= q->H) continue;
                    const float *r = row + (int64_t)oh * q->OW;
                    float *xr = x + ((int64_t)c * q->H + ih) * q->W;
                    if (q->sw == 1) for (int ow = ow0; ow < ow1; ow++) xr[ow + off] += r[ow];
                    else for (int ow = ow0; ow < ow1; ow++) xr[ow * q->sw + off] += r[ow];
                }
            }
}

/* 1x1 kernel, stride 1, no padding: the columns of an image are the image itself. */
static int pointwise(const cgeom *q) {
    return q->KH == 1 && q->KW == 1 && q->sh == 1 && q->sw == 1 && q->ph == 0 && q->pw == 0;
}

/* Images per GEMM chunk so that cols + output stay within ~8 MB (at least 1). */
static int64_t chunk_images(int64_t N, int64_t ckk, int64_t oc, int64_t ohw) {
    int64_t per = (ckk + oc) * ohw;
    int64_t nb = per ? ((int64_t)1 << 14) / per : N;
    if (nb < 1) nb = 1;
    if (nb > N) nb = N;
    return nb;
}

/* The output gradient of image n, one image at a time: with fused pooling rebuilt at full size
 * in dfull (OC * OH * OW floats and a row of scratch), else y's own, masked in place with fused
 * relu; the bias gradient gb (if any) summed from it. Returns it. */
static const float *image_grad(const cgeom *q, lb_tensor *y, int64_t n, int64_t OC, float *gb, float *dfull) {
    int64_t ohw = (int64_t)q->OH * q->OW;
    if (!q->pool) {
        lb_conv_grad_prologue(y->grad, y->data, q->relu, gb, n, n + 1, OC, ohw);
        return y->grad + n * OC * ohw;
    }
    int64_t pohw = (int64_t)(q->OH / 2) * (q->OW / 2);
    for (int64_t o = 0; o < OC; o++)
        lb_unpool2_plane(y->grad + (n * OC + o) * pohw, y->data + (n * OC + o) * pohw, q->pos + (n * OC + o) * pohw,
                         q->relu, q->OH, q->OW, dfull + o * ohw, dfull + OC * ohw);
    lb_conv_grad_prologue(dfull, NULL, 0, gb, 0, 1, OC, ohw);
    return dfull;
}

static void conv_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const cgeom *q = nd->aux;
    int64_t N = x->shape[0], OC = w->shape[0], ckk = (int64_t)q->C * q->KH * q->KW, ohw = (int64_t)q->OH * q->OW;
    int64_t chw = (int64_t)q->C * q->H * q->W;
    float *gy = y->grad, *gb = NULL;
    int relu = q->relu;
    if (b && b->requires_grad) {
        gb = lb_gradbuf(g, b);
        if (!gb) return;
    }
    int need_w = w->requires_grad, need_x = x->requires_grad, per_image = ohw >= LB_CONV_PER_IMAGE || pointwise(q);
    /* the relu mask and the bias gradient: image by image below when the images go one at a
     * time (the image's gradient is then in cache for its GEMMs), else here */
    if (!per_image) lb_conv_grad_prologue(gy, y->data, relu, gb, 0, N, OC, ohw);
    if (!need_w && !need_x) {
        if (!per_image || !gb) return;
        float *dfull = q->pool ? lb_workspace(g, (size_t)(OC * ohw + q->OW)) : NULL;
        if (q->pool && !dfull) return;
        for (int64_t n = 0; n < N; n++) image_grad(q, y, n, OC, gb, dfull);
        return;
    }
    float *gw = need_w ? lb_gradbuf(g, w) : NULL;
    float *gx = need_x ? lb_gradbuf(g, x) : NULL;
    if ((need_w && !gw) || (need_x && !gx)) return;
    int pw = pointwise(q);
    const float *kept = nd->aux2;
    if (per_image) { /* one image at a time: dy[n] is already [OC, OH*OW] */
        int need_col = !pw && !(kept && !need_x);
        int64_t ldc = ohw + col_slack(q); /* the columns' leading dimension */
        float *col = need_col || q->pool ? lb_workspace(g, (size_t)((need_col ? ckk * ldc : 0) + (q->pool ? OC * ohw + q->OW : 0))) : NULL;
        if ((need_col || q->pool) && !col) return;
        float *dfull = q->pool ? col + (need_col ? ckk * ldc : 0) : NULL; /* the image's full-size dY */
        for (int64_t n = 0; n < N; n++) {
            const float *dy = image_grad(q, y, n, OC, gb, dfull);
            const float *cols = pw ? x->data + n * chw : kept ? kept + n * ckk * ldc : col;
            if (need_w) {
                if (!pw && !kept) im2col(q, x->data + n * chw, col, ldc);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OC, (int)ckk, (int)ohw, 1.0f, dy, (int)ohw, cols,
                            (int)(pw ? ohw : ldc), 1.0f, gw, (int)ckk);
            }
            if (need_x) { /* pointwise: dX[n] += W^T dY[n] directly */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)ohw, (int)OC, 1.0f, w->data, (int)ckk,
                            dy, (int)ohw, pw ? 1.0f : 0.0f, pw ? gx + n * chw : col, (int)(pw ? ohw : ldc));
                if (!pw) col2im(q, col, ldc, gx + n * chw);
            }
        }
        return;
    }
    int64_t nb = chunk_images(N, ckk, OC, ohw);
    float *ws = lb_workspace(g, (size_t)((ckk + OC) * nb * ohw + ckk * col_slack(q)));
    if (!ws) return;
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb, L = cnt * ohw, ldc = L + col_slack(q);
        float *col = ws, *dy = ws + ckk * ldc;
        for (int64_t i = 0; i < cnt; i++)
            for (int64_t o = 0; o < OC; o++)
                memcpy(dy + o * L + i * ohw, gy + ((n0 + i) * OC + o) * ohw, (size_t)ohw * sizeof(float));
        if (need_w) {
            for (int64_t i = 0; i < cnt; i++) im2col(q, x->data + (n0 + i) * chw, col + i * ohw, ldc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OC, (int)ckk, (int)L, 1.0f, dy, (int)L, col,
                        (int)ldc, 1.0f, gw, (int)ckk);
        }
        if (need_x) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)L, (int)OC, 1.0f, w->data, (int)ckk, dy,
                        (int)L, 0.0f, col, (int)ldc);
            for (int64_t i = 0; i < cnt; i++) col2im(q, col + i * ohw, ldc, gx + (n0 + i) * chw);
        }
    }
}

lb_tensor *lb_conv2d(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, const lb_conv_opts *o) {
    unsigned fuse = g ? g->fuse_req : 0; /* lb_graph_fuse: taken by this call, done or not */
    if (g) g->fuse_req = 0;
    int relu = (fuse & LB_FUSE_RELU) != 0;
    LB_CHECK_IN(g, x);
    LB_CHECK_IN(g, w);
    char s1[64], s2[64];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return lb_fail(g, LB_ESHAPE, "conv2d: input %s and weight %s do not match", lb_shape_str(x, s1, sizeof s1),
                       lb_shape_str(w, s2, sizeof s2));
    if (b && b->numel != w->shape[0])
        return lb_fail(g, LB_ESHAPE, "conv2d: bias %s and weight %s do not match", lb_shape_str(b, s1, sizeof s1),
                       lb_shape_str(w, s2, sizeof s2));
    lb_conv_opts d = {1, 1, 0, 0, 1, 1};
    if (o) d = *o;
    if (d.stride_h <= 0) d.stride_h = 1;
    if (d.stride_w <= 0) d.stride_w = 1;
    if (d.dil_h <= 0) d.dil_h = 1;
    if (d.dil_w <= 0) d.dil_w = 1;
    if (d.pad_h < 0 || d.pad_w < 0) return lb_fail(g, LB_EVALUE, "conv2d: negative padding");
    cgeom q0 = {(int)x->shape[1], (int)x->shape[2], (int)x->shape[3], (int)w->shape[2], (int)w->shape[3], 0, 0,
                d.stride_h, d.stride_w, d.pad_h, d.pad_w, d.dil_h, d.dil_w, 0, 0, NULL, NULL};
    int ekh = (q0.KH - 1) * q0.dh + 1, ekw = (q0.KW - 1) * q0.dw + 1;
    if (q0.H + 2 * q0.ph < ekh || q0.W + 2 * q0.pw < ekw)
        return lb_fail(g, LB_ESHAPE, "conv2d: kernel %dx%d is larger than the padded input %s", q0.KH, q0.KW,
                       lb_shape_str(x, s1, sizeof s1));
    q0.OH = (q0.H + 2 * q0.ph - ekh) / q0.sh + 1;
    q0.OW = (q0.W + 2 * q0.pw - ekw) / q0.sw + 1;
    x = lb_contig_in(g, x);
    w = lb_contig_in(g, w);
    if (b) b = lb_contig_in(g, b);
    if (!x || !w) return NULL;
    if (lb_winograd_applies(q0.C, w->shape[0], q0.KH, q0.KW, q0.sh, q0.sw, q0.dh, q0.dw, q0.ph, q0.pw)) {
        lb_tensor *y = lb_conv2d_winograd(g, x, w, b, q0.ph, q0.pw, fuse);
        if (y && fuse) {
            g->fused = fuse & (LB_FUSE_RELU | (q0.OH >= 2 && q0.OW >= 2 ? LB_FUSE_MAXPOOL2 : 0));
            g->fused_out = y;
        }
        return y;
    }
    cgeom *q = lb_alloc(g, sizeof *q);
    if (!q) return NULL;
    *q = q0;
    int64_t N = x->shape[0], OC = w->shape[0], ckk = (int64_t)q->C * q->KH * q->KW, ohw = (int64_t)q->OH * q->OW;
    int64_t chw = (int64_t)q->C * q->H * q->W;
    int pw = pointwise(q);
    if (phase_split(q)) {
        lb_s2_geom s2 = s2_geom(q);
        if (!(q->phases = lb_alloc(g, lb_s2_scratch_floats(&s2) * sizeof(float)))) return NULL;
    }
    q->relu = relu;
    q->pool = (fuse & LB_FUSE_MAXPOOL2) && (ohw >= LB_CONV_PER_IMAGE || pw) && q->OH >= 2 && q->OW >= 2;
    int64_t pohw = (int64_t)(q->OH / 2) * (q->OW / 2);
    int64_t shp[4] = {N, OC, q->pool ? q->OH / 2 : q->OH, q->pool ? q->OW / 2 : q->OW};
    lb_tensor *y = lb_new(g, 4, shp);
    if (!y) return NULL;
    if (q->pool && !(q->pos = lb_alloc(g, (size_t)(N * OC * pohw) * sizeof(int32_t)))) return NULL;
    float *kept = NULL; /* the columns of every image, kept for the weight gradient */
    if (ohw >= LB_CONV_PER_IMAGE || pw) {
        int64_t ldc = ohw + col_slack(q); /* the columns' leading dimension */
        if (!pw && g->grad_enabled && w->requires_grad && N * ckk * ldc <= LB_CONV_KEEP_COLS) {
            kept = lb_alloc(g, (size_t)(N * ckk * ldc) * sizeof(float));
            if (!kept) return NULL;
        }
        int need_col = !pw && !kept;
        float *col = need_col || q->pool ? lb_workspace(g, (size_t)((need_col ? ckk * ldc : 0) + (q->pool ? OC * ohw + q->OW : 0))) : NULL;
        if ((need_col || q->pool) && !col) return NULL;
        float *full = q->pool ? col + (need_col ? ckk * ldc : 0) : NULL; /* the image's output before pooling */
        for (int64_t n = 0; n < N; n++) {
            float *out = q->pool ? full : y->data + n * OC * ohw;
            for (int64_t oc = 0; oc < OC; oc++) {
                float bv = b ? b->data[oc] : 0.0f;
                for (int64_t k = 0; k < ohw; k++) out[oc * ohw + k] = bv;
            }
            if (kept) col = kept + n * ckk * ldc;
            if (!pw) im2col(q, x->data + n * chw, col, ldc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OC, (int)ohw, (int)ckk, 1.0f, w->data, (int)ckk,
                        pw ? x->data + n * chw : col, (int)(pw ? ohw : ldc), 1.0f, out, (int)ohw);
            if (relu) /* while the image's output is in cache */
                for (int64_t k = 0; k < OC * ohw; k++) out[k] = out[k] > 0 ? out[k] : 0.0f;
            if (q->pool)
                for (int64_t o = 0; o < OC; o++) {
                    const float *pl = out + o * ohw;
                    int64_t PW2 = q->OW / 2;
                    float *yo = y->data + (n * OC + o) * pohw;
                    int32_t *po = q->pos + (n * OC + o) * pohw;
                    for (int64_t ph = 0; ph < q->OH / 2; ph++)
                        lb_max2x2_row(pl + 2 * ph * q->OW, pl + (2 * ph + 1) * q->OW, yo + ph * PW2, po + ph * PW2, PW2,
                                      (int32_t)(2 * ph * q->OW), q->OW);
                }
        }
        goto record;
    }
    int64_t nb = chunk_images(N, ckk, OC, ohw);
    float *ws = lb_workspace(g, (size_t)((ckk + OC) * nb * ohw + ckk * col_slack(q)));
    if (!ws) return NULL;
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb, L = cnt * ohw, ldc = L + col_slack(q);
        float *col = ws, *out = ws + ckk * ldc;
        for (int64_t i = 0; i < cnt; i++) im2col(q, x->data + (n0 + i) * chw, col + i * ohw, ldc);
        if (cnt == 1) out = y->data + n0 * OC * ohw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OC, (int)L, (int)ckk, 1.0f, w->data, (int)ckk, col,
                    (int)ldc, 0.0f, out, (int)L);
        for (int64_t i = 0; i < cnt; i++)
            for (int64_t oc = 0; oc < OC; oc++) {
                float *dst = y->data + ((n0 + i) * OC + oc) * ohw;
                const float *src = out + oc * L + i * ohw;
                float bv = b ? b->data[oc] : 0.0f;
                if (cnt == 1) { if (b) for (int64_t k = 0; k < ohw; k++) dst[k] += bv; }
                else for (int64_t k = 0; k < ohw; k++) dst[k] = src[k] + bv;
                if (relu)
                    for (int64_t k = 0; k < ohw; k++) dst[k] = dst[k] > 0 ? dst[k] : 0.0f;
            }
    }
record:;
    lb_node *n = lb_record(g, conv_bw, y, 3, x, w, b, NULL);
    if (n) { n->aux = q; n->aux2 = kept; }
    if (fuse) {
        g->fused = (relu ? LB_FUSE_RELU : 0) | (q->pool ? LB_FUSE_MAXPOOL2 : 0);
        g->fused_out = y;
    }
    return y;
}
