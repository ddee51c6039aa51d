/* schedule.c — learning-rate schedules: constant, step decay, cosine annealing, each with an
 * optional linear warm-up (formulas in ops.h). */
#include <math.h>

#include "ops.h"

float lb_sched_lr(const lb_sched *s, int64_t t) {
    if (t < 0) t = 0;
    if (s->warmup > 0 && t < s->warmup) {
        float base = s->base_lr;
        return base * (float)(t + 1) / (float)s->warmup;
    }
    t -= s->warmup > 0 ? s->warmup : 0;
    switch (s->kind) {
    case LB_SCHED_STEP:
        if (s->step_size <= 0) return s->base_lr;
        return (float)(s->base_lr * pow(s->gamma, (double)(t / s->step_size)));
    case LB_SCHED_COSINE: {
        if (s->t_max <= 0) return s->base_lr;
        int64_t tt = t > s->t_max ? s->t_max : t;
        return (float)(s->eta_min + (s->base_lr - s->eta_min) * (1.0 + cos(3.14159265358979323846 * (double)tt / (double)s->t_max)) / 2.0);
    }
    default:
        return s->base_lr;
    }
}
