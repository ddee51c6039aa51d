/* ops_impl.h — internals shared by the ops/ source files (not for the kernel): the step graph and
 * tape node structs, recording helpers, gradient buffers and strided loops. */
#ifndef LB_OPS_IMPL_H
#define LB_OPS_IMPL_H

/* The project builds with -O2, where GCC 12 vectorizes almost no loop of unknown length; the
 * ops' element loops are the exception that pays, so turn the vectorizer on for them. This
 * changes no result: reductions stay in order (no -ffast-math). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "ops.h"

typedef struct lb_node lb_node;
typedef void (*lb_backward_fn)(lb_graph *g, lb_node *n);

/* One recorded op. The backward function reads out->grad and accumulates into in[i]->grad of
 * the inputs that require a gradient. */
struct lb_node {
    lb_node *prev;
    lb_backward_fn bw;
    lb_tensor *out;
    lb_tensor *in[4];
    int64_t ia[8];
    float fa[4];
    void *aux, *aux2;
};

struct lb_graph {
    lb_arena arena;
    lb_node *tape; /* newest node */
    size_t tape_len;
    int grad_enabled;
    int backward_done;
    lb_status st;
    float *ws;     /* shared workspace (im2col), grows, kept across resets */
    size_t ws_floats;
    unsigned fuse_req;    /* lb_graph_fuse: what the next convolution is asked to apply */
    unsigned fused;       /* ... what it applied */
    lb_tensor *fused_out; /* ... and its output */
};

/* Sets g's status and returns NULL. */
lb_tensor *lb_fail(lb_graph *g, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Arena allocation; on failure sets an out-of-memory status. */
void *lb_alloc(lb_graph *g, size_t bytes);
/* Tensor header with shape, contiguous strides, data from the arena (uninitialised). */
lb_tensor *lb_new(lb_graph *g, int ndim, const int64_t *shape);
/* Tensor header only (data set by the caller; for views). */
lb_tensor *lb_header(lb_graph *g, int ndim, const int64_t *shape, const int64_t *stride, float *data);
void lb_contig_strides(int ndim, const int64_t *shape, int64_t *stride);
int64_t lb_numel_of(int ndim, const int64_t *shape);
/* Records a node when grads are on and some input requires grad; marks out. NULL otherwise. */
lb_node *lb_record(lb_graph *g, lb_backward_fn bw, lb_tensor *out, int nin, lb_tensor *i0, lb_tensor *i1,
                   lb_tensor *i2, lb_tensor *i3);
/* The gradient buffer of t (contiguous, zeroed on first use); NULL on OOM. */
float *lb_gradbuf(lb_graph *g, lb_tensor *t);
/* Like lb_gradbuf, but a buffer allocated by this call is NOT zeroed and *fresh is set to 1:
 * the caller must then write every element (assign instead of accumulate). */
float *lb_gradbuf_fresh(lb_graph *g, lb_tensor *t, int *fresh);
/* arena.c: a 64-byte aligned block of at least `bytes` (not zeroed); blocks of 128 KB and more
 * are mapped from the system and given back at lb_block_free, which takes the same size. */
void *lb_block_alloc(size_t bytes);
/* Its contents kept up to the smaller size (mapped blocks are remapped, not copied); NULL on
 * failure, p then unchanged. */
void *lb_block_realloc(void *p, size_t old_bytes, size_t bytes);
void lb_block_free(void *p, size_t bytes);
/* Workspace of at least n floats (not zeroed), shared by every op in the step. */
float *lb_workspace(lb_graph *g, size_t n);
/* Sum in 8 interleaved partial sums: fixed order (deterministic) and vectorizable. */
static inline float lb_sum8(const float *r, int64_t n) {
    float p[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) p[k] += r[i + k];
    float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; i < n; i++) s += r[i];
    return s;
}

/* parallel.c: part i of n of an op's work, on the thread lb_parallel() gives it. */
typedef void (*lb_par_fn)(void *ctx, int part, int nparts);
/* How many parts an op should split into: the thread count (lb_get_threads). */
int lb_parallel_parts(void);
/* Runs fn(ctx, i, nparts) for every i, part 0 on the caller, the others on worker threads,
 * and returns when all are done; OpenBLAS runs single-threaded meanwhile. One job at a time:
 * a call made while another runs (from another thread, or from inside a part) runs its parts
 * in turn on its own thread, with the same results. */
void lb_parallel(int nparts, lb_par_fn fn, void *ctx);

/* A convolution fused with relu (lb_graph_fuse_relu), backward: the output gradient of the
 * planes [n0, n1) of OC planes of ohw, masked where the output is not positive (in place: the
 * gradient is this node's own), and the bias gradient gb (if any) summed from it. */
/* Element-wise loops over run-time lengths, 4 floats at a time (GCC vector extensions: one SSE
 * register on the baseline build). -O2's vectorizer leaves such loops scalar, since they need a
 * scalar tail; the results are the same, element by element. */
typedef float lb_v4f __attribute__((vector_size(16)));
typedef int lb_v4i __attribute__((vector_size(16)));
static inline lb_v4f lb_ld4(const float *p) { lb_v4f v; memcpy(&v, p, sizeof v); return v; }
static inline void lb_st4(float *p, lb_v4f v) { memcpy(p, &v, sizeof v); }

/* dst[i] = src[i] + b, then max(., 0) with relu (dst may be src). */
static inline void lb_add_relu(float *dst, const float *src, int64_t n, float b, int relu) {
    const lb_v4f bv = {b, b, b, b}, z = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        lb_v4f v = lb_ld4(src + i) + bv;
        lb_st4(dst + i, relu ? (lb_v4f)((lb_v4i)v & (v > z)) : v);
    }
    for (; i < n; i++) {
        float v = src[i] + b;
        dst[i] = relu ? (v > 0 ? v : 0.0f) : v;
    }
}

static inline void lb_conv_grad_prologue(float *gy, const float *y, int relu, float *gb, int64_t n0, int64_t n1,
                                         int64_t OC, int64_t ohw) {
    const lb_v4f z = {0, 0, 0, 0};
    for (int64_t n = n0; n < n1; n++)
        for (int64_t o = 0; o < OC; o++) {
            float *r = gy + (n * OC + o) * ohw;
            if (relu) { /* the gradient where the output is positive, else 0 */
                const float *yr = y + (n * OC + o) * ohw;
                int64_t i = 0;
                for (; i + 4 <= ohw; i += 4) lb_st4(r + i, (lb_v4f)((lb_v4i)lb_ld4(r + i) & (lb_ld4(yr + i) > z)));
                for (; i < ohw; i++) r[i] = yr[i] > 0 ? r[i] : 0.0f;
            }
            if (gb) gb[o] += lb_sum8(r, ohw);
        }
}

/* pool.c: one output row of 2x2 stride-2 max pooling from input rows r0, r1 (OW windows): the
 * maxima and their flat indices (base + offset in a plane of width wd); and its backward, which
 * writes every element of the two input rows (the gradient at each maximum, 0 elsewhere). */
void lb_max2x2_row(const float *restrict r0, const float *restrict r1, float *restrict yo, int32_t *restrict io,
                   int64_t OW, int32_t base, int32_t wd);
void lb_max2x2_bw_row(float *restrict d0, float *restrict d1, const float *restrict gr, const int32_t *restrict ir,
                      int64_t OW, int32_t base, int32_t wd);

/* A convolution fused with 2x2 max pooling, backward: the full-size gradient d[OH, OW] of one
 * plane from the pooled gradient gp (masked where the pooled value yp is not positive, with
 * relu; m is scratch for a row of it): what lb_maxpool2d's and lb_relu's backward give. */
static inline void lb_unpool2_plane(const float *gp, const float *yp, const int32_t *idx, int relu, int64_t OH,
                                    int64_t OW, float *restrict d, float *restrict m) {
    int64_t PH = OH / 2, PW = OW / 2;
    for (int64_t ph = 0; ph < PH; ph++) {
        const float *g = gp + ph * PW;
        if (relu) {
            for (int64_t j = 0; j < PW; j++) m[j] = yp[ph * PW + j] > 0 ? g[j] : 0.0f;
            g = m;
        }
        float *d0 = d + 2 * ph * OW;
        lb_max2x2_bw_row(d0, d0 + OW, g, idx + ph * PW, PW, (int32_t)(2 * ph * OW), (int32_t)OW);
        if (OW & 1) d0[OW - 1] = d0[2 * OW - 1] = 0; /* the odd last column */
    }
    if (OH & 1) /* the odd last row */
        for (int64_t j = 0; j < OW; j++) d[(OH - 1) * OW + j] = 0;
}

/* conv_winograd.c: 3x3 stride-1 convolutions with at least LB_WINO_MIN_C input and output
 * channels go through Winograd's F(2x2, 3x3); lb_conv2d dispatches. */
#ifndef LB_WINO_MIN_C
#define LB_WINO_MIN_C 8
#endif
int lb_winograd_applies(int64_t C, int64_t OC, int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw);
lb_tensor *lb_conv2d_winograd(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, int ph, int pw,
                              unsigned fuse);
/* Stride-2, dilation-1 convolutions: im2col / col2im of one image through phase planes
 * (conv_stride2.c), with a scratch of lb_s2_scratch_floats floats. Column rows are ld apart;
 * the copies may write LB_S2_COL_SLACK floats past an image's last column. col2im adds. */
typedef struct { int C, H, W, KH, KW, OH, OW, ph, pw; } lb_s2_geom;
enum { LB_S2_COL_SLACK = 8 };
size_t lb_s2_scratch_floats(const lb_s2_geom *s);
void lb_s2_im2col(const lb_s2_geom *s, const float *x, float *col, int64_t ld, float *scratch);
void lb_s2_col2im(const lb_s2_geom *s, const float *col, int64_t ld, float *x, float *scratch);
int lb_norm_axis(int axis, int ndim);
int lb_same_shape(const lb_tensor *a, const lb_tensor *b);

/* 4-D strided loop helpers: shapes/strides padded to 4 on the left. */
void lb_pad4(int ndim, const int64_t *shape, const int64_t *stride, int64_t *s4, int64_t *st4);
/* dst (strided) = src (strided), same shape. */
void lb_strided_copy(int ndim, const int64_t *shape, float *dst, const int64_t *dstride, const float *src,
                     const int64_t *sstride);
/* dst (strided) += src (strided), same shape. */
void lb_strided_acc(int ndim, const int64_t *shape, float *dst, const int64_t *dstride, const float *src,
                    const int64_t *sstride);
/* Returns x contiguous: x itself, or a recorded copy. */
lb_tensor *lb_contig_in(lb_graph *g, lb_tensor *x);

/* Inputs of an op: NULL (an earlier failure) or a pending error makes the op return NULL. */
#define LB_CHECK_IN(g, x) \
    do { if (!(x) || (g)->st.code) return (g)->st.code ? NULL : lb_fail((g), LB_EVALUE, "%s: missing input tensor", __func__); } while (0)

#endif
