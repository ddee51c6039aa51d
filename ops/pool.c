/* pool.c — 2-D max and average pooling (NCHW, kernel k, stride s, padding p, floor mode;
 * average counts the padding as PyTorch's count_include_pad=True). Max pooling keeps the
 * argmax of each window for the backward pass. */
#include <float.h>

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

static void maxpool_bw(lb_graph *g, lb_node *nd) {
    lb_tensor *x = nd->in[0], *y = nd->out;
    float *gx = lb_gradbuf(g, x);
    if (!gx) return;
    const int32_t *idx = nd->aux;
    int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3], ohw = y->shape[2] * y->shape[3];
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
        if (k == 2 && s == 2 && p == 0) { /* the common case: branch-free selects, vectorizable */
            for (int64_t oh = 0; oh < OH; oh++) {
                const float *restrict r0 = xp + 2 * oh * W, *restrict r1 = r0 + W;
                float *restrict yo = yp + oh * OW;
                int32_t *restrict io = ip + oh * OW;
                int32_t base = (int32_t)(2 * oh * W), wd = (int32_t)W;
                for (int64_t ow = 0; ow < OW; ow++) {
                    float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
                    int32_t k1 = v1 > v0, k2 = v3 > v2;
                    float m1 = k1 ? v1 : v0, m2 = k2 ? v3 : v2;
                    int32_t sel = m2 > m1;
                    yo[ow] = sel ? m2 : m1;
                    io[ow] = base + 2 * (int32_t)ow + (sel ? wd + k2 : k1);
                }
            }
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
    if (n) n->aux = idx;
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
