/* optim.c — optimizers over the parameter block (PyTorch 1.13 semantics): SGD with momentum,
 * dampening, nesterov and weight decay; Adam (L2 weight decay) and AdamW (decoupled); and
 * gradient clipping by global L2 norm. */
#include <math.h>

#include "ops_impl.h"

lb_optim lb_optim_sgd(float lr, float momentum, float dampening, float weight_decay, int nesterov) {
    lb_optim o = {0};
    o.kind = LB_SGD; o.lr = lr; o.momentum = momentum; o.dampening = dampening;
    o.weight_decay = weight_decay; o.nesterov = nesterov;
    return o;
}

lb_optim lb_optim_adam(float lr, float beta1, float beta2, float eps, float weight_decay) {
    lb_optim o = {0};
    o.kind = LB_ADAM; o.lr = lr; o.beta1 = beta1; o.beta2 = beta2; o.eps = eps; o.weight_decay = weight_decay;
    return o;
}

lb_optim lb_optim_adamw(float lr, float beta1, float beta2, float eps, float weight_decay) {
    lb_optim o = lb_optim_adam(lr, beta1, beta2, eps, weight_decay);
    o.kind = LB_ADAMW;
    return o;
}

int lb_optim_step(lb_optim *o, lb_params *p, lb_status *st) {
    int nstate = o->kind == LB_SGD ? (o->momentum != 0 ? 1 : 0) : 2;
    if (o->kind == LB_SGD && o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return lb_status_set(st, LB_EVALUE, "sgd: nesterov momentum requires a momentum and zero dampening");
    if (lb_params_ensure_state(p, nstate, st)) return -1;
    int64_t step = o->t + 1;
    float lr = o->lr, wd = o->weight_decay;
    for (int k = 0; k < lb_params_count(p); k++) {
        lb_tensor *t = lb_params_get(p, k);
        if (!t->trainable) continue;
        float *w = t->data, *gr = t->grad;
        int64_t n = t->numel;
        if (o->kind == LB_SGD) {
            float mom = o->momentum, damp = o->dampening;
            float *buf = nstate ? lb_params_state(p, 0, t) : NULL;
            /* d = g + wd w (exact when wd == 0 and w is finite); branch-free loops vectorize */
            if (!buf) {
                for (int64_t i = 0; i < n; i++) w[i] -= lr * (gr[i] + wd * w[i]);
                continue;
            }
            /* one pass over w, grad and buf (the common cases without the weight-decay term) */
            float d1 = 1.0f - damp;
            if (o->nesterov) {
                if (o->t == 0) for (int64_t i = 0; i < n; i++) buf[i] = gr[i] + wd * w[i];
                else for (int64_t i = 0; i < n; i++) buf[i] = mom * buf[i] + d1 * (gr[i] + wd * w[i]);
                for (int64_t i = 0; i < n; i++) w[i] -= lr * (gr[i] + wd * w[i] + mom * buf[i]);
            } else if (o->t == 0) {
                for (int64_t i = 0; i < n; i++) { float b = gr[i] + wd * w[i]; buf[i] = b; w[i] -= lr * b; }
            } else if (wd == 0 && d1 == 1.0f) {
                for (int64_t i = 0; i < n; i++) { float b = mom * buf[i] + gr[i]; buf[i] = b; w[i] -= lr * b; }
            } else {
                for (int64_t i = 0; i < n; i++) {
                    float b = mom * buf[i] + d1 * (gr[i] + wd * w[i]);
                    buf[i] = b;
                    w[i] -= lr * b;
                }
            }
        } else {
            float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
            float *m = lb_params_state(p, 0, t), *v = lb_params_state(p, 1, t);
            double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
            float step_size = (float)(lr / bc1), bc2s = (float)sqrt(bc2);
            float decay = o->kind == LB_ADAMW ? 1.0f - lr * wd : 1.0f;
            float l2 = o->kind == LB_ADAM ? wd : 0.0f;
            for (int64_t i = 0; i < n; i++) {
                float gi = gr[i] + l2 * w[i];
                float wi = w[i] * decay;
                float mi = b1 * m[i] + (1.0f - b1) * gi;
                float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
                m[i] = mi;
                v[i] = vi;
                w[i] = wi - step_size * mi / (sqrtf(vi) / bc2s + eps);
            }
        }
    }
    o->t = step;
    lb_params_set_optim_step(p, step);
    return 0;
}

float lb_clip_grad_norm(lb_params *p, float max_norm) {
    double s = 0;
    for (int k = 0; k < lb_params_count(p); k++) {
        lb_tensor *t = lb_params_get(p, k);
        if (!t->trainable) continue;
        for (int64_t i = 0; i < t->numel; i++) s += (double)t->grad[i] * t->grad[i];
    }
    float norm = (float)sqrt(s);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (int k = 0; k < lb_params_count(p); k++) {
            lb_tensor *t = lb_params_get(p, k);
            if (!t->trainable) continue;
            for (int64_t i = 0; i < t->numel; i++) t->grad[i] *= coef;
        }
    return norm;
}
