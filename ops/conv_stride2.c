/* conv_stride2.c — im2col and col2im of stride-2 convolutions (dilation 1), the downsampling
 * layers of the all-convolutional CNN, through phase planes.
 *
 * Tap (kh, kw) of output (oh, ow) reads pixel (2oh + kh, 2ow + kw) of the zero-padded image,
 * which is pixel (oh + kh/2, ow + kw/2) of its phase (kh&1, kw&1): the plane of the padded
 * image's even or odd rows and even or odd columns. So, per image:
 *   - the input is split into its four phases once (each padded row deinterleaved with vector
 *     shuffles into its even and odd columns), instead of gathering every tap at stride 2;
 *   - the column row (c, kh, kw) is then OH runs of OW contiguous floats of one phase plane,
 *     copied 8 floats at a time;
 *   - col2im adds the column rows into zeroed phase planes the same way and interleaves the
 *     planes back into the image's gradient.
 * The generic im2col handles a 7-wide row as a strided scalar loop; this is what made it as
 * slow as the GEMMs it feeds (the strided CNN's second layer).
 *
 * Vectors are GCC vector extensions of 4 floats: one SSE register on the baseline x86-64
 * build, where the deinterleave is one shufps (8-float vectors would be split into scalar
 * moves there). Copies write whole vectors: the last one of a run spills up to 3 floats into
 * what comes next, which is written afterwards, or into the LB_S2_COL_SLACK floats the caller
 * leaves after the columns. Plane rows are padded to a multiple of 4 for the same reason. The sums are the ones the generic path makes, in the same
 * order (each element of col2im receives its taps in (c, kh, kw, oh, ow) order), so the results
 * are bit-identical to it. */
#include "ops_impl.h"

typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));
/* Lanes i, j, k, l of the 8 of a and b (0-3: a, 4-7: b), with GCC's builtin or clang's (the fuzz
 * build, tests/fuzz, compiles this file with clang). */
#ifdef __clang__
#define SHUF4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define SHUF4(a, b, i, j, k, l) __builtin_shuffle(a, b, (v4i){i, j, k, l})
#endif

static inline v4f ld4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* Plane geometry: PH rows of PWp floats (PW = OW + (KW-1)/2 used, padded to 4), four planes
 * (row phase p, column phase r) per channel, 16 floats of slack; then one zero-padded image
 * row of Wq floats (the pixel of column iw at pw + iw). */
typedef struct {
    int64_t PH, PW, PWp, plane, Wq, planes;
} s2dims;

static s2dims dims_of(const lb_s2_geom *s) {
    s2dims d;
    d.PH = s->OH + (s->KH - 1) / 2;
    d.PW = s->OW + (s->KW - 1) / 2;
    d.PWp = (d.PW + 3) / 4 * 4;
    d.plane = d.PH * d.PWp;
    int64_t w = 2 * d.PWp > s->W + 2 * s->pw ? 2 * d.PWp : s->W + 2 * s->pw;
    d.Wq = (w + 3) / 4 * 4 + 4;
    d.planes = (int64_t)s->C * 4 * d.plane + 16;
    return d;
}

size_t lb_s2_scratch_floats(const lb_s2_geom *s) {
    s2dims d = dims_of(s);
    return (size_t)(d.planes + d.Wq);
}

static inline float *plane_of(float *P, const s2dims *d, int c, int p, int r) {
    return P + ((int64_t)(c * 2 + p) * 2 + r) * d->plane;
}

/* Floats j .. j+3 of a zero-padded row xr (the pixel of column iw at pw + iw, W pixels): one
 * load from the row itself, shifted in the register at the row's ends. Reading the image
 * directly matters: copying each row into a padded buffer and reading it back 16 bytes at a
 * time straddles the copy's stores, which the CPU cannot forward (a stall of about 15 cycles a
 * load: a third of this file's time when it did that). */
static inline v4f padded4(const float *xr, int64_t j, int pw, int64_t W) {
    static const v4f zero = {0, 0, 0, 0};
    int64_t i = j - pw;
    if (i >= 0 && i + 4 <= W) return ld4(xr + i);
    if (W >= 4 && i > -4 && i < 0) {
        v4f v = ld4(xr);
        switch (-i) { /* lane k: x[k + i], zero before the row */
        case 1: return SHUF4(v, zero, 4, 0, 1, 2);
        case 2: return SHUF4(v, zero, 4, 4, 0, 1);
        default: return SHUF4(v, zero, 4, 4, 4, 0);
        }
    }
    if (W >= 4 && i + 4 > W && i < W) {
        v4f v = ld4(xr + W - 4);
        switch (i - (W - 4)) { /* lane k: x[i + k], zero past the row */
        case 1: return SHUF4(v, zero, 1, 2, 3, 4);
        case 2: return SHUF4(v, zero, 2, 3, 4, 4);
        default: return SHUF4(v, zero, 3, 4, 4, 4);
        }
    }
    float t[4];
    for (int k = 0; k < 4; k++) t[k] = i + k >= 0 && i + k < W ? xr[i + k] : 0.0f;
    return ld4(t); /* rows narrower than 4 pixels, or padding of 4 and more */
}

/* The four phase planes of one image x[C, H, W]: the even and odd columns of each padded row,
 * split with one shuffle per 4. */
static void split_phases(const lb_s2_geom *s, const s2dims *d, const float *x, float *P) {
    for (int c = 0; c < s->C; c++)
        for (int p = 0; p < 2; p++) {
            float *r0 = plane_of(P, d, c, p, 0), *r1 = plane_of(P, d, c, p, 1);
            for (int64_t a = 0; a < d->PH; a++) {
                int64_t ih = 2 * a + p - s->ph;
                if (ih < 0 || ih >= s->H) {
                    memset(r0 + a * d->PWp, 0, (size_t)d->PWp * sizeof(float));
                    memset(r1 + a * d->PWp, 0, (size_t)d->PWp * sizeof(float));
                    continue;
                }
                const float *xr = x + ((int64_t)c * s->H + ih) * s->W;
                for (int64_t b = 0; b < d->PWp; b += 4) {
                    v4f lo = padded4(xr, 2 * b, s->pw, s->W), hi = padded4(xr, 2 * b + 4, s->pw, s->W);
                    st4(r0 + a * d->PWp + b, SHUF4(lo, hi, 0, 2, 4, 6));
                    st4(r1 + a * d->PWp + b, SHUF4(lo, hi, 1, 3, 5, 7));
                }
            }
        }
}

void lb_s2_im2col(const lb_s2_geom *s, const float *x, float *col, int64_t ld, float *scratch) {
    s2dims d = dims_of(s);
    float *P = scratch;
    split_phases(s, &d, x, P);
    int64_t OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + ((int64_t)(c * s->KH + kh) * s->KW + kw) * ld;
                const float *src = plane_of(P, &d, c, kh & 1, kw & 1) + (kh >> 1) * d.PWp + (kw >> 1);
                for (int oh = 0; oh < s->OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow += 4) st4(row + oh * OW + ow, ld4(src + oh * d.PWp + ow));
            }
}

void lb_s2_col2im(const lb_s2_geom *s, const float *col, int64_t ld, float *x, float *scratch) {
    s2dims d = dims_of(s);
    float *P = scratch, *tmp = scratch + d.planes; /* one padded row */
    memset(P, 0, (size_t)d.planes * sizeof(float));
    int64_t OW = s->OW, full = OW / 4 * 4;
    v4i keep = {0};
    for (int i = 0; i < 4; i++) keep[i] = i < OW - full ? -1 : 0; /* the last, partial vector */
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                const float *row = col + ((int64_t)(c * s->KH + kh) * s->KW + kw) * ld;
                float *dst = plane_of(P, &d, c, kh & 1, kw & 1) + (kh >> 1) * d.PWp + (kw >> 1);
                for (int oh = 0; oh < s->OH; oh++) {
                    float *o = dst + oh * d.PWp;
                    const float *r = row + oh * OW;
                    int64_t ow = 0;
                    for (; ow < full; ow += 4) st4(o + ow, ld4(o + ow) + ld4(r + ow));
                    if (ow < OW) /* lanes past OW add exactly 0 (bits masked, so never a NaN) */
                        st4(o + ow, ld4(o + ow) + (v4f)((v4i)ld4(r + ow) & keep));
                }
            }
    /* planes back into the image: interleave each pair of column phases into a padded row */
    memset(tmp, 0, (size_t)d.Wq * sizeof(float));
    for (int c = 0; c < s->C; c++)
        for (int p = 0; p < 2; p++) {
            const float *r0 = plane_of(P, &d, c, p, 0), *r1 = plane_of(P, &d, c, p, 1);
            for (int64_t a = 0; a < d.PH; a++) {
                int64_t ih = 2 * a + p - s->ph;
                if (ih < 0 || ih >= s->H) continue; /* taps in the padding: dropped */
                for (int64_t b = 0; b < d.PWp; b += 4) {
                    v4f e = ld4(r0 + a * d.PWp + b), od = ld4(r1 + a * d.PWp + b);
                    st4(tmp + 2 * b, SHUF4(e, od, 0, 4, 1, 5));
                    st4(tmp + 2 * b + 4, SHUF4(e, od, 2, 6, 3, 7));
                }
                float *xr = x + ((int64_t)c * s->H + ih) * s->W;
                const float *t = tmp + s->pw;
                for (int64_t iw = 0; iw < s->W; iw++) xr[iw] += t[iw];
            }
        }
}
