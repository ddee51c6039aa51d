/* init.c — parameter initialisation matching PyTorch's layer defaults (kaiming_uniform with
 * a = sqrt(5) for Linear/Conv weights and the matching bias bound, N(0,1) embeddings, ones and
 * zeros for norm layers), drawn from lb_rng in row-major order. */
#include <math.h>

#include "ops.h"

static float *elem(lb_tensor *t, int64_t flat) {
    int64_t off = 0;
    for (int i = t->ndim - 1; i >= 0; i--) { off += (flat % t->shape[i]) * t->stride[i]; flat /= t->shape[i]; }
    return t->data + off;
}

void lb_init_uniform(lb_tensor *t, float lo, float hi, lb_rng *r) {
    for (int64_t i = 0; i < t->numel; i++) *elem(t, i) = lo + (hi - lo) * lb_rng_uniform(r);
}

void lb_init_normal(lb_tensor *t, float mean, float std, lb_rng *r) {
    for (int64_t i = 0; i < t->numel; i++) *elem(t, i) = mean + std * (float)lb_rng_normal(r);
}

void lb_init_const(lb_tensor *t, float v) {
    for (int64_t i = 0; i < t->numel; i++) *elem(t, i) = v;
}

int64_t lb_fan_in(const lb_tensor *w) {
    if (w->ndim < 2) return w->ndim == 1 ? w->shape[0] : 1;
    int64_t f = w->shape[1];
    for (int i = 2; i < w->ndim; i++) f *= w->shape[i];
    return f;
}

void lb_init_linear(lb_tensor *w, lb_tensor *b, lb_rng *r) {
    int64_t fan = lb_fan_in(w);
    float bound = fan > 0 ? 1.0f / sqrtf((float)fan) : 0.0f;
    lb_init_uniform(w, -bound, bound, r);
    if (b) lb_init_uniform(b, -bound, bound, r);
}

void lb_init_embedding(lb_tensor *w, lb_rng *r) { lb_init_normal(w, 0.0f, 1.0f, r); }

void lb_init_norm(lb_tensor *w, lb_tensor *b) {
    if (w) lb_init_const(w, 1.0f);
    if (b) lb_init_const(b, 0.0f);
}
