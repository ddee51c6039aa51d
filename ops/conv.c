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
/* The same for the batched path (small output planes, e.g. the strided CNN's 7x7): its GEMMs
 * read the columns in large blocks, so keeping them pays up to a larger size. */
#ifndef LB_CONV_KEEP_CHUNK_COLS
#define LB_CONV_KEEP_CHUNK_COLS ((int64_t)1 << 20)
#endif

typedef struct {
    int C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
    int relu, pool;  /* fused (lb_graph_fuse): the output is relu'd, 2x2 max-pooled */
    int32_t *pos;    /* with pool: each window's maximum, its index in the plane */
    int s2;          /* stride 2, dilation 1: columns through phase planes (conv_stride2.c) */
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
static int64_t col_slack(const cgeom *q) { return q->s2 ? LB_S2_COL_SLACK : 0; }
static int64_t s2_scratch(const cgeom *q) {
    if (!q->s2) return 0;
    lb_s2_geom s = s2_geom(q);
    return (int64_t)lb_s2_scratch_floats(&s);
}

/* Columns of one image x[C,H,W] into col: row (c, kh, kw) holds OH*OW values, rows ld apart
 * (scratch: s2_scratch(q) floats). */
static void im2col(const cgeom *q, const float *x, float *col, int64_t ld, float *scratch) {
    if (plane_shift(q)) { im2col_shift(q, x, col, ld); return; }
    if (q->s2) { lb_s2_geom s = s2_geom(q); lb_s2_im2col(&s, x, col, ld, scratch); return; }
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

static void col2im(const cgeom *q, float *col, int64_t ld, float *x, float *scratch) {
    if (plane_shift(q)) { col2im_shift(q, col, ld, x); return; }
    if (q->s2) { lb_s2_geom s = s2_geom(q); lb_s2_col2im(&s, col, ld, x, scratch); return; }
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

/* One pass of the convolution over the batch, split into parts by images (lb_parallel): part p
 * takes images [N p / np, N (p + 1) / np), one at a time (per_image) or in chunks of nb, with
 * its own slice of the workspace; in the backward pass also its own weight and bias gradients,
 * summed in part order at the end (part 0 accumulates straight into the gradients, so one part
 * computes exactly what a plain loop over the images would). Results depend on the thread count,
 * never on timing. While the parts run, OpenBLAS is held at one thread: these GEMMs are small,
 * and splitting the batch keeps the second core busy where OpenBLAS would not. */
typedef struct {
    const cgeom *q;
    int64_t N, OC, ckk, ohw, chw, nb;
    int per_image, pw, need_w, need_x, np;
    const float *x, *w, *bias;
    lb_tensor *y;
    const float *kept;  /* the forward columns of every image, or NULL: per image (ckk x ldc
                         * each), or per chunk (ckk x (nb * ohw + slack) each) */
    float *ws;          /* np slices of part_floats */
    int64_t part_floats;
    float *gx, *gw, *gb;
    float *gw_more, *gb_more; /* parts 1.. : OC * ckk and OC floats each */
} cpass;

static void part_images(const cpass *a, int part, int nparts, int64_t *n0, int64_t *n1) {
    int64_t nch = (a->N + a->nb - 1) / a->nb; /* split by whole chunks */
    *n0 = nch * part / nparts * a->nb;
    *n1 = nch * (part + 1) / nparts * a->nb;
    if (*n1 > a->N) *n1 = a->N;
}

/* The part's slice: columns (ckk x (nb * ohw + slack)), an output / gradient buffer
 * (OC * nb * ohw plus a row: with pooling the image's full-size plane), the phase scratch. */
static void part_ws(const cpass *a, int part, float **col, float **buf, float **scr) {
    float *w = a->ws + part * a->part_floats;
    *col = w;
    *buf = w + a->ckk * (a->nb * a->ohw + col_slack(a->q));
    *scr = *buf + a->OC * a->nb * a->ohw + a->q->OW;
}

static void fw_part(void *ctx, int part, int nparts) {
    const cpass *a = ctx;
    const cgeom *q = a->q;
    int64_t OC = a->OC, ckk = a->ckk, ohw = a->ohw, chw = a->chw, n0, n1;
    float *col, *buf, *scr, *y = a->y->data;
    part_ws(a, part, &col, &buf, &scr);
    part_images(a, part, nparts, &n0, &n1);
    if (a->per_image) {
        int64_t ldc = ohw + col_slack(q), pohw = (int64_t)(q->OH / 2) * (q->OW / 2);
        for (int64_t n = n0; n < n1; n++) {
            float *out = q->pool ? buf : y + n * OC * ohw;
            for (int64_t oc = 0; oc < OC; oc++) {
                float bv = a->bias ? a->bias[oc] : 0.0f;
                for (int64_t k = 0; k < ohw; k++) out[oc * ohw + k] = bv;
            }
            float *c = a->kept ? (float *)a->kept + n * ckk * ldc : col;
            if (!a->pw) im2col(q, a->x + n * chw, c, ldc, scr);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OC, (int)ohw, (int)ckk, 1.0f, a->w, (int)ckk,
                        a->pw ? a->x + n * chw : c, (int)(a->pw ? ohw : ldc), 1.0f, out, (int)ohw);
            if (q->relu) /* while the image's output is in cache */
                lb_add_relu(out, out, OC * ohw, 0.0f, 1);
            if (q->pool)
                for (int64_t o = 0; o < OC; o++) {
                    const float *pl = out + o * ohw;
                    int64_t PW2 = q->OW / 2;
                    float *yo = y + (n * OC + o) * pohw;
                    int32_t *po = q->pos + (n * OC + o) * pohw;
                    for (int64_t ph = 0; ph < q->OH / 2; ph++)
                        lb_max2x2_row(pl + 2 * ph * q->OW, pl + (2 * ph + 1) * q->OW, yo + ph * PW2, po + ph * PW2, PW2,
                                      (int32_t)(2 * ph * q->OW), q->OW);
                }
        }
        return;
    }
    for (int64_t c0 = n0; c0 < n1; c0 += a->nb) {
        int64_t cnt = n1 - c0 < a->nb ? n1 - c0 : a->nb, L = cnt * ohw, ldc = L + col_slack(q);
        float *out = cnt == 1 ? y + c0 * OC * ohw : buf;
        if (a->kept) col = (float *)a->kept + c0 / a->nb * ckk * (a->nb * ohw + col_slack(q));
        for (int64_t i = 0; i < cnt; i++) im2col(q, a->x + (c0 + i) * chw, col + i * ohw, ldc, scr);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OC, (int)L, (int)ckk, 1.0f, a->w, (int)ckk, col,
                    (int)ldc, 0.0f, out, (int)L);
        for (int64_t i = 0; i < cnt; i++)
            for (int64_t oc = 0; oc < OC; oc++) {
                float *dst = y + ((c0 + i) * OC + oc) * ohw;
                const float *src = out + oc * L + i * ohw;
                lb_add_relu(dst, cnt == 1 ? dst : src, ohw, a->bias ? a->bias[oc] : 0.0f, q->relu);
            }
    }
}

static void bw_part(void *ctx, int part, int nparts) {
    const cpass *a = ctx;
    const cgeom *q = a->q;
    int64_t OC = a->OC, ckk = a->ckk, ohw = a->ohw, chw = a->chw, n0, n1;
    float *col, *buf, *scr;
    part_ws(a, part, &col, &buf, &scr);
    part_images(a, part, nparts, &n0, &n1);
    float *gw = a->gw, *gb = a->gb;
    if (part > 0) { /* this part's own sums, added to part 0's afterwards */
        gw = gw ? a->gw_more + (part - 1) * OC * ckk : NULL;
        gb = gb ? a->gb_more + (part - 1) * OC : NULL;
        if (gw) memset(gw, 0, (size_t)(OC * ckk) * sizeof(float));
        if (gb) memset(gb, 0, (size_t)OC * sizeof(float));
    }
    if (a->per_image) { /* one image at a time: dy[n] is already [OC, OH*OW] */
        int64_t ldc = ohw + col_slack(q);
        for (int64_t n = n0; n < n1; n++) {
            const float *dy = image_grad(q, a->y, n, OC, gb, buf);
            if (!a->need_w && !a->need_x) continue;
            const float *cols = a->pw ? a->x + n * chw : a->kept ? a->kept + n * ckk * ldc : col;
            if (a->need_w) {
                if (!a->pw && !a->kept) im2col(q, a->x + n * chw, col, ldc, scr);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OC, (int)ckk, (int)ohw, 1.0f, dy, (int)ohw, cols,
                            (int)(a->pw ? ohw : ldc), 1.0f, gw, (int)ckk);
            }
            if (a->need_x) { /* pointwise: dX[n] += W^T dY[n] directly */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)ohw, (int)OC, 1.0f, a->w, (int)ckk,
                            dy, (int)ohw, a->pw ? 1.0f : 0.0f, a->pw ? a->gx + n * chw : col, (int)(a->pw ? ohw : ldc));
                if (!a->pw) col2im(q, col, ldc, a->gx + n * chw, scr);
            }
        }
        return;
    }
    const float *gy = a->y->grad;
    for (int64_t c0 = n0; c0 < n1; c0 += a->nb) {
        int64_t cnt = n1 - c0 < a->nb ? n1 - c0 : a->nb, L = cnt * ohw, ldc = L + col_slack(q);
        float *dy = buf;
        for (int64_t i = 0; i < cnt; i++)
            for (int64_t o = 0; o < OC; o++)
                memcpy(dy + o * L + i * ohw, gy + ((c0 + i) * OC + o) * ohw, (size_t)ohw * sizeof(float));
        if (a->need_w) {
            const float *cols = col;
            if (a->kept)
                cols = a->kept + c0 / a->nb * ckk * (a->nb * ohw + col_slack(q));
            else
                for (int64_t i = 0; i < cnt; i++) im2col(q, a->x + (c0 + i) * chw, col + i * ohw, ldc, scr);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OC, (int)ckk, (int)L, 1.0f, dy, (int)L, cols,
                        (int)ldc, 1.0f, gw, (int)ckk);
        }
        if (a->need_x) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)L, (int)OC, 1.0f, a->w, (int)ckk, dy,
                        (int)L, 0.0f, col, (int)ldc);
            for (int64_t i = 0; i < cnt; i++) col2im(q, col + i * ohw, ldc, a->gx + (c0 + i) * chw, scr);
        }
    }
}

/* The pass's geometry, parts and workspace (NULL when out of memory). */
static float *pass_init(lb_graph *g, cpass *a, const cgeom *q, lb_tensor *x, lb_tensor *w, lb_tensor *y) {
    memset(a, 0, sizeof *a);
    a->q = q;
    a->N = x->shape[0];
    a->OC = w->shape[0];
    a->ckk = (int64_t)q->C * q->KH * q->KW;
    a->ohw = (int64_t)q->OH * q->OW;
    a->chw = (int64_t)q->C * q->H * q->W;
    a->pw = pointwise(q);
    a->per_image = a->ohw >= LB_CONV_PER_IMAGE || a->pw;
    a->nb = a->per_image ? 1 : chunk_images(a->N, a->ckk, a->OC, a->ohw);
    int64_t nch = (a->N + a->nb - 1) / a->nb;
    a->np = lb_parallel_parts();
    if (a->np > nch) a->np = (int)(nch > 0 ? nch : 1);
    a->x = x->data;
    a->w = w->data;
    a->y = y;
    a->part_floats = a->ckk * (a->nb * a->ohw + col_slack(q)) + a->OC * a->nb * a->ohw + q->OW + s2_scratch(q);
    a->part_floats = (a->part_floats + 15) / 16 * 16; /* parts on separate cache lines */
    return a->ws = lb_workspace(g, (size_t)(a->np * a->part_floats));
}

static void conv_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const cgeom *q = nd->aux;
    cpass a;
    float *gb = NULL;
    if (b && b->requires_grad) {
        gb = lb_gradbuf(g, b);
        if (!gb) return;
    }
    int need_w = w->requires_grad, need_x = x->requires_grad;
    if (!pass_init(g, &a, q, x, w, y)) return;
    /* the relu mask and the bias gradient: image by image in the parts when the images go one
     * at a time (the image's gradient is then in cache for its GEMMs), else here */
    if (!a.per_image) lb_conv_grad_prologue(y->grad, y->data, q->relu, gb, 0, a.N, a.OC, a.ohw);
    if (!need_w && !need_x && (!a.per_image || !gb)) return;
    a.need_w = need_w;
    a.need_x = need_x;
    a.kept = nd->aux2;
    a.gb = a.per_image ? gb : NULL;
    a.gw = need_w ? lb_gradbuf(g, w) : NULL;
    a.gx = need_x ? lb_gradbuf(g, x) : NULL;
    if ((need_w && !a.gw) || (need_x && !a.gx)) return;
    if (a.np > 1 && (a.gw || a.gb)) {
        a.gw_more = lb_alloc(g, (size_t)((a.np - 1) * (a.OC * a.ckk + a.OC)) * sizeof(float));
        if (!a.gw_more) return;
        a.gb_more = a.gw_more + (a.np - 1) * a.OC * a.ckk;
    }
    lb_parallel(a.np, bw_part, &a);
    for (int p = 1; p < a.np; p++) { /* the parts' sums, in order */
        if (a.gw)
            for (int64_t i = 0; i < a.OC * a.ckk; i++) a.gw[i] += a.gw_more[(p - 1) * a.OC * a.ckk + i];
        if (a.gb)
            for (int64_t i = 0; i < a.OC; i++) a.gb[i] += a.gb_more[(p - 1) * a.OC + i];
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
                d.stride_h, d.stride_w, d.pad_h, d.pad_w, d.dil_h, d.dil_w, 0, 0, NULL, 0};
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
    int pw = pointwise(q);
    q->s2 = phase_split(q);
    q->relu = relu;
    q->pool = (fuse & LB_FUSE_MAXPOOL2) && (ohw >= LB_CONV_PER_IMAGE || pw) && q->OH >= 2 && q->OW >= 2;
    int64_t pohw = (int64_t)(q->OH / 2) * (q->OW / 2);
    int64_t shp[4] = {N, OC, q->pool ? q->OH / 2 : q->OH, q->pool ? q->OW / 2 : q->OW};
    lb_tensor *y = lb_new(g, 4, shp);
    if (!y) return NULL;
    if (q->pool && !(q->pos = lb_alloc(g, (size_t)(N * OC * pohw) * sizeof(int32_t)))) return NULL;
    cpass a;
    if (!pass_init(g, &a, q, x, w, y)) return NULL;
    a.bias = b ? b->data : NULL;
    float *kept = NULL; /* the columns of every image, kept for the weight gradient */
    int64_t nch = (N + a.nb - 1) / a.nb, kept_floats = a.per_image ? N * ckk * (ohw + col_slack(q))
                                                                    : nch * ckk * (a.nb * ohw + col_slack(q));
    if (!pw && g->grad_enabled && w->requires_grad &&
        kept_floats <= (a.per_image ? LB_CONV_KEEP_COLS : LB_CONV_KEEP_CHUNK_COLS)) {
        kept = lb_alloc(g, (size_t)kept_floats * sizeof(float));
        if (!kept) return NULL;
    }
    a.kept = kept;
    lb_parallel(a.np, fw_part, &a);

    lb_node *n = lb_record(g, conv_bw, y, 3, x, w, b, NULL);
    if (n) { n->aux = q; n->aux2 = kept; }
    if (fuse) {
        g->fused = (relu ? LB_FUSE_RELU : 0) | (q->pool ? LB_FUSE_MAXPOOL2 : 0);
        g->fused_out = y;
    }
    return y;
}
