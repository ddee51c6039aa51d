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
/* Workspace of at least n floats (not zeroed), shared by every op in the step. */
float *lb_workspace(lb_graph *g, size_t n);
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
