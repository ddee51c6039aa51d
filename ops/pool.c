/* pool.c — 2-D max and average pooling (NCHW, kernel k, stride s, padding p, floor mode;
 * average counts the padding as PyTorch's count_include_pad=True). Max pooling keeps the
 * argmax of each window for the backward pass. */
#include <float.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ops_impl.h"

static int pool_geom(lb_graph *g, const char *name, lb_tensor *x, int k, int *s, int p, int64_t *oh, int64_t *ow) {
    char b[64];
    if (x->ndim != 4)
        return lb_fail(g, LB_ESHAPE, "%s: expects a 4-D input [N, C, H, W], got %s", name, lb_shape_str(x, b, sizeof b)), -1;
    if (*s <= 0) *s = k;
    if (k <= 0 || p < 0 || 2 * p > k)
        return lb_fail(g, LB_EVALUE, "%s: invalid kernel %d / padding %d", name, k, p), -1;
    int64_t H = x->shape[2], W = x->shape[3];
    if (H + 2 * p < k || W + 2 * p < k)
        return lb_fail(g, LB_ESHAPE, "%s: kernel %d is larger than the padded input %s", name, k, lb_shape_str(x, b, sizeof b)), -1;
    *oh = (H + 2 * p - k) / *s + 1;
    *ow = (W + 2 * p - k) / *s + 1;
    return 0;
}

/* One output row of 2x2 stride-2 max pooling from input rows r0, r1: the maximum of each
 * window and its index (base + offset in the plane). Scan order and ties as PyTorch: (0,0),
 * (0,1), (1,0), (1,1), the first maximum wins; a NaN wins over numbers (the last NaN over an
 * earlier one). */
static inline int32_t max2_pick(float a, float b) { return b > a || b != b; } /* 1: b */

#ifdef __SSE2__
/* Four windows: r0, r1 point at 8 floats of the two input rows; col holds the flat indices of
 * the windows' top-left elements. */
static inline void max2x2_4(const float *r0, const float *r1, float *yo, int32_t *io, __m128i col, __m128i wdv) {
    const __m128i one = _mm_set1_epi32(1);
    __m128 a0 = _mm_loadu_ps(r0), a1 = _mm_loadu_ps(r0 + 4);
    __m128 b0 = _mm_loadu_ps(r1), b1 = _mm_loadu_ps(r1 + 4);
    __m128 v0 = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0)), v1 = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 v2 = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)), v3 = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 k1 = _mm_or_ps(_mm_cmpgt_ps(v1, v0), _mm_cmpunord_ps(v1, v1));
    __m128 k2 = _mm_or_ps(_mm_cmpgt_ps(v3, v2), _mm_cmpunord_ps(v3, v3));
    __m128 m1 = _mm_or_ps(_mm_and_ps(k1, v1), _mm_andnot_ps(k1, v0));
    __m128 m2 = _mm_or_ps(_mm_and_ps(k2, v3), _mm_andnot_ps(k2, v2));
    __m128 sel = _mm_or_ps(_mm_cmpgt_ps(m2, m1), _mm_cmpunord_ps(m2, m2));
    _mm_storeu_ps(yo, _mm_or_ps(_mm_and_ps(sel, m2), _mm_andnot_ps(sel, m1)));
    __m128i i1 = _mm_and_si128(_mm_castps_si128(k1), one), i2 = _mm_and_si128(_mm_castps_si128(k2), one);
    __m128i si = _mm_castps_si128(sel);
    __m128i off = _mm_or_si128(_mm_and_si128(si, _mm_add_epi32(wdv, i2)), _mm_andnot_si128(si, i1));
    _mm_storeu_si128((__m128i *)io, _mm_add_epi32(col, off));
}
#endif

void lb_max2x2_row(const float *restrict r0, const float *restrict r1, float *restrict yo, int32_t *restrict io,
                       int64_t OW, int32_t base, int32_t wd) {
    int64_t ow = 0;
#ifdef __SSE2__
    /* four windows at a time: even/odd columns by shuffles, selects by compare masks; the last
     * 1 to 3 windows through a padded copy (short rows such as 7 or 14 windows are common) */
    const __m128i wdv = _mm_set1_epi32(wd);
    for (; ow + 4 <= OW; ow += 4)
        max2x2_4(r0 + 2 * ow, r1 + 2 * ow, yo + ow, io + ow,
                 _mm_add_epi32(_mm_set1_epi32(base + 2 * (int32_t)ow), _mm_setr_epi32(0, 2, 4, 6)), wdv);
    if (ow < OW) {
        float t0[8] = {0}, t1[8] = {0}, ty[4];
        int32_t ti[4];
        int64_t n = OW - ow;
        for (int64_t i = 0; i < 2 * n; i++) { t0[i] = r0[2 * ow + i]; t1[i] = r1[2 * ow + i]; }
        max2x2_4(t0, t1, ty, ti, _mm_add_epi32(_mm_set1_epi32(base + 2 * (int32_t)ow), _mm_setr_epi32(0, 2, 4, 6)),
                 wdv);
        for (int64_t i = 0; i < n; i++) { yo[ow + i] = ty[i]; io[ow + i] = ti[i]; }
        return;
    }
#endif
    for (; ow < OW; ow++) {
        float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
        int32_t k1 = max2_pick(v0, v1), k2 = max2_pick(v2, v3);
        float m1 = k1 ? v1 : v0, m2 = k2 ? v3 : v2;
        int32_t sel = max2_pick(m1, m2);
        yo[ow] = sel ? m2 : m1;
        io[ow] = base + 2 * (int32_t)ow + (sel ? wd + k2 : k1);
    }
}

/* Backward of one output row of the 2x2 case: input rows d0, d1 get each window's gradient
 * at its argmax and 0 elsewhere (every element written). */
void lb_max2x2_bw_row(float *restrict d0, float *restrict d1, const float *restrict gr, const int32_t *restrict ir,
                          int64_t OW, int32_t base, int32_t wd) {
    int64_t ow = 0;
#ifdef __SSE2__
    const __m128i wdv = _mm_set1_epi32(wd), one = _mm_set1_epi32(1), wd1 = _mm_set1_epi32(wd + 1);
    for (; ow + 4 <= OW; ow += 4) {
        __m128 gv = _mm_loadu_ps(gr + ow);
        __m128i start = _mm_add_epi32(_mm_set1_epi32(base + 2 * (int32_t)ow), _mm_setr_epi32(0, 2, 4, 6));
        __m128i rel = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(ir + ow)), start);
        __m128 e0 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(rel, _mm_setzero_si128())), gv);
        __m128 e1 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(rel, one)), gv);
        __m128 e2 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(rel, wdv)), gv);
        __m128 e3 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(rel, wd1)), gv);
        _mm_storeu_ps(d0 + 2 * ow, _mm_unpacklo_ps(e0, e1));
        _mm_storeu_ps(d0 + 2 * ow + 4, _mm_unpackhi_ps(e0, e1));
        _mm_storeu_ps(d1 + 2 * ow, _mm_unpacklo_ps(e2, e3));
        _mm_storeu_ps(d1 + 2 * ow + 4, _mm_unpackhi_ps(e2, e3));
    }
#endif
    for (; ow < OW; ow++) {
        int32_t rel = ir[ow] - base - 2 * (int32_t)ow; /* 0, 1, W or W + 1 */
        float gv = gr[ow];
        d0[2 * ow] = rel == 0 ? gv : 0.0f;
        d0[2 * ow + 1] = rel == 1 ? gv : 0.0f;
        d1[2 * ow] = rel == wd ? gv : 0.0f;
        d1[2 * ow + 1] = rel == wd + 1 ? gv : 0.0f;
    }
}

static void maxpool_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    const int32_t *idx = nd->aux;
    int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3], ohw = y->shape[2] * y->shape[3];
    int fresh;
    float *gx = lb_gradbuf_fresh(g, x, &fresh);
    if (!gx) return;
    int64_t H = x->shape[2], W = x->shape[3], OW = y->shape[3];
    if (fresh && nd->ia[0] == 2 && W == 2 * OW && H == 2 * y->shape[2]) {
        /* 2x2 windows tiling the plane: each input element gets its window's gradient or 0,
         * written in one pass (no zero-fill first) */
        for (int64_t pl = 0; pl < planes; pl++) {
            float *d = gx + pl * hw;
            const float *gy = y->grad + pl * ohw;
            const int32_t *ix = idx + pl * ohw;
            for (int64_t oh = 0; oh < H / 2; oh++)
                lb_max2x2_bw_row(d + 2 * oh * W, d + 2 * oh * W + W, gy + oh * OW, ix + oh * OW, OW,
                              (int32_t)(2 * oh * W), (int32_t)W);
        }
        return;
    }
    if (fresh) memset(gx, 0, (size_t)x->numel * sizeof(float));
    for (int64_t pl = 0; pl < planes; pl++) {
        float *d = gx + pl * hw;
        const float *gy = y->grad + pl * ohw;
        const int32_t *ix = idx + pl * ohw;
        for (int64_t i = 0; i < ohw; i++) d[ix[i]] += gy[i];
    }
}

lb_tensor *lb_maxpool2d(lb_graph *g, lb_tensor *x, int k, int s, int p) {
    LB_CHECK_IN(g, x);
    int64_t OH, OW;
    if (pool_geom(g, "maxpool2d", x, k, &s, p, &OH, &OW)) return NULL;
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    int64_t H = x->shape[2], W = x->shape[3], planes = x->shape[0] * x->shape[1];
    int64_t shp[4] = {x->shape[0], x->shape[1], OH, OW};
    lb_tensor *y = lb_new(g, 4, shp);
    int32_t *idx = y ? lb_alloc(g, (size_t)y->numel * sizeof(int32_t)) : NULL;
    if (!idx) return NULL;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * H * W;
        float *yp = y->data + pl * OH * OW;
        int32_t *ip = idx + pl * OH * OW;
        if (k == 2 && s == 2 && p == 0) { /* the common case */
            for (int64_t oh = 0; oh < OH; oh++)
                lb_max2x2_row(xp + 2 * oh * W, xp + 2 * oh * W + W, yp + oh * OW, ip + oh * OW, OW,
                           (int32_t)(2 * oh * W), (int32_t)W);
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * s - p, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * s - p, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                float m = -FLT_MAX;
                int64_t bi = h0 * W + w0;
                int first = 1;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) {
                        float v = xp[h * W + w];
                        if (first || v > m || v != v) { m = v; bi = h * W + w; first = 0; if (v != v) goto done; }
                    }
            done:
                yp[oh * OW + ow] = m;
                ip[oh * OW + ow] = (int32_t)bi;
            }
        }
    }
    lb_node *n = lb_record(g, maxpool_bw, y, 1, x, NULL, NULL, NULL);
    if (n) { n->aux = idx; n->ia[0] = k == 2 && s == 2 && p == 0 ? 2 : 0; }
    return y;
}

static void avgpool_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    int k = (int)nd->ia[0], s = (int)nd->ia[1], p = (int)nd->ia[2];
    int64_t H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3], planes = x->shape[0] * x->shape[1];
    float inv = 1.0f / (float)(k * k);
    for (int64_t pl = 0; pl < planes; pl++) {
        float *d = gx + pl * H * W;
        const float *gy = y->grad + pl * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * s - p, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * s - p, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                float v = gy[oh * OW + ow] * inv;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) d[h * W + w] += v;
            }
        }
    }
}

lb_tensor *lb_avgpool2d(lb_graph *g, lb_tensor *x, int k, int s, int p) {
    LB_CHECK_IN(g, x);
    int64_t OH, OW;
    if (pool_geom(g, "avgpool2d", x, k, &s, p, &OH, &OW)) return NULL;
    x = lb_contig_in(g, x);
    if (!x) return NULL;
    int64_t H = x->shape[2], W = x->shape[3], planes = x->shape[0] * x->shape[1];
    int64_t shp[4] = {x->shape[0], x->shape[1], OH, OW};
    lb_tensor *y = lb_new(g, 4, shp);
    if (!y) return NULL;
    float inv = 1.0f / (float)(k * k);
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * H * W;
        float *yp = y->data + pl * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * s - p, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * s - p, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                float acc = 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) acc += xp[h * W + w];
                yp[oh * OW + ow] = acc * inv;
            }
        }
    }
    lb_node *n = lb_record(g, avgpool_bw, y, 1, x, NULL, NULL, NULL);
    if (n) { n->ia[0] = k; n->ia[1] = s; n->ia[2] = p; }
    return y;
}
