/* test_ops_optim.c — optimizers (SGD plain/momentum/dampening/nesterov/weight decay, Adam,
 * AdamW) against the PyTorch update formulas written out in double, gradient clipping,
 * learning-rate schedules and PyTorch-default initialisation bounds. */
#include "check.h"
#include "ops.h"

#define NP 5

static lb_params *setup(lb_tensor **w) {
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t s[1] = {NP};
    *w = lb_params_add(p, "w", 1, s, 1, &st);
    for (int i = 0; i < NP; i++) (*w)->data[i] = 0.3f * (float)i - 0.5f;
    return p;
}

static void set_grad(lb_tensor *w, int step) {
    for (int i = 0; i < NP; i++) w->grad[i] = (float)sin(1.3 * i + 0.7 * step) * 0.8f;
}

static void test_sgd_variants(void) {
    struct { float mom, damp, wd; int nest; } cfg[] = {{0, 0, 0, 0}, {0.9f, 0, 0, 0}, {0.9f, 0.1f, 0.01f, 0}, {0.8f, 0, 0.05f, 1}};
    for (int c = 0; c < 4; c++) {
        lb_tensor *w;
        lb_params *p = setup(&w);
        lb_optim o = lb_optim_sgd(0.1f, cfg[c].mom, cfg[c].damp, cfg[c].wd, cfg[c].nest);
        double ref[NP], buf[NP] = {0};
        for (int i = 0; i < NP; i++) ref[i] = w->data[i];
        lb_status st = {0};
        for (int step = 0; step < 4; step++) {
            set_grad(w, step);
            CHECK(lb_optim_step(&o, p, &st) == 0);
            for (int i = 0; i < NP; i++) {
                double d = w->grad[i] + cfg[c].wd * ref[i];
                if (cfg[c].mom != 0) {
                    buf[i] = step == 0 ? d : cfg[c].mom * buf[i] + (1 - cfg[c].damp) * d;
                    d = cfg[c].nest ? d + cfg[c].mom * buf[i] : buf[i];
                }
                ref[i] -= 0.1 * d;
            }
        }
        for (int i = 0; i < NP; i++) CHECK_NEAR(w->data[i], ref[i], 1e-6);
        lb_params_free(p);
    }
    lb_tensor *w;
    lb_params *p = setup(&w);
    lb_optim bad = lb_optim_sgd(0.1f, 0, 0, 0, 1);
    lb_status st = {0};
    CHECK(lb_optim_step(&bad, p, &st) == -1);
    CHECK(st.code == LB_EVALUE);
    lb_params_free(p);
}

static void test_adam(void) {
    for (int kind = 0; kind < 3; kind++) {
        lb_tensor *w;
        lb_params *p = setup(&w);
        float wd = kind == 0 ? 0.0f : 0.1f;
        lb_optim o = kind == 2 ? lb_optim_adamw(0.01f, 0.9f, 0.999f, 1e-8f, wd) : lb_optim_adam(0.01f, 0.9f, 0.999f, 1e-8f, wd);
        double ref[NP], m[NP] = {0}, v[NP] = {0};
        for (int i = 0; i < NP; i++) ref[i] = w->data[i];
        lb_status st = {0};
        for (int step = 1; step <= 5; step++) {
            set_grad(w, step);
            CHECK(lb_optim_step(&o, p, &st) == 0);
            for (int i = 0; i < NP; i++) {
                double gi = w->grad[i];
                if (kind == 1) gi += wd * ref[i];
                if (kind == 2) ref[i] *= 1 - 0.01 * wd;
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.999 * v[i] + 0.001 * gi * gi;
                double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
                ref[i] -= 0.01 / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + 1e-8);
            }
        }
        for (int i = 0; i < NP; i++) CHECK_NEAR(w->data[i], ref[i], 2e-6);
        CHECK_INT(o.t, 5);
        CHECK_INT(lb_params_optim_step(p), 5);
        lb_params_free(p);
    }
}

static void test_buffers_not_updated(void) {
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t s[1] = {3};
    lb_tensor *rm = lb_params_add(p, "running_mean", 1, s, 0, &st);
    lb_tensor *w = lb_params_add(p, "w", 1, s, 1, &st);
    rm->data[0] = 2.0f;
    w->grad[0] = 1.0f;
    lb_optim o = lb_optim_adamw(0.1f, 0.9f, 0.999f, 1e-8f, 0.5f);
    CHECK(lb_optim_step(&o, p, &st) == 0);
    CHECK_NEAR(rm->data[0], 2.0, 0);
    CHECK(w->data[0] < 0);
    lb_params_free(p);
}

static void test_clip(void) {
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t s[1] = {2};
    lb_tensor *a = lb_params_add(p, "a", 1, s, 1, &st), *b = lb_params_add(p, "b", 1, s, 1, &st);
    a->grad[0] = 3; a->grad[1] = 0; b->grad[0] = 0; b->grad[1] = 4;
    float n = lb_clip_grad_norm(p, 1.0f);
    CHECK_NEAR(n, 5.0, 1e-6);
    CHECK_NEAR(a->grad[0], 3.0 / (5 + 1e-6), 1e-6);
    CHECK_NEAR(b->grad[1], 4.0 / (5 + 1e-6), 1e-6);
    n = lb_clip_grad_norm(p, 10.0f); /* below the limit: untouched */
    CHECK_NEAR(n, 1.0, 1e-5);
    CHECK_NEAR(a->grad[0], 3.0 / (5 + 1e-6), 1e-6);
    lb_params_free(p);
}

static void test_schedules(void) {
    lb_sched c = {LB_SCHED_CONSTANT, 0.1f, 0, 0, 0, 0, 0};
    CHECK_NEAR(lb_sched_lr(&c, 0), 0.1, 1e-7);
    CHECK_NEAR(lb_sched_lr(&c, 1000), 0.1, 1e-7);
    lb_sched s = {LB_SCHED_STEP, 0.1f, 10, 0.5f, 0, 0, 0};
    CHECK_NEAR(lb_sched_lr(&s, 9), 0.1, 1e-7);
    CHECK_NEAR(lb_sched_lr(&s, 10), 0.05, 1e-7);
    CHECK_NEAR(lb_sched_lr(&s, 25), 0.025, 1e-7);
    lb_sched cs = {LB_SCHED_COSINE, 0.1f, 0, 0, 100, 0.001f, 0};
    CHECK_NEAR(lb_sched_lr(&cs, 0), 0.1, 1e-7);
    CHECK_NEAR(lb_sched_lr(&cs, 50), 0.001 + 0.099 * 0.5, 1e-6);
    CHECK_NEAR(lb_sched_lr(&cs, 100), 0.001, 1e-7);
    CHECK_NEAR(lb_sched_lr(&cs, 150), 0.001, 1e-7);
    lb_sched w = {LB_SCHED_COSINE, 0.1f, 0, 0, 100, 0, 10};
    CHECK_NEAR(lb_sched_lr(&w, 0), 0.01, 1e-7);
    CHECK_NEAR(lb_sched_lr(&w, 4), 0.05, 1e-7);
    CHECK_NEAR(lb_sched_lr(&w, 10), 0.1, 1e-7);
    CHECK_NEAR(lb_sched_lr(&w, 60), 0.05, 1e-6);
}

static void test_init(void) {
    lb_params *p = lb_params_new();
    lb_status st = {0};
    int64_t ws[4] = {8, 3, 3, 3}, bs[1] = {8}, es[2] = {100, 50};
    lb_tensor *w = lb_params_add(p, "w", 4, ws, 1, &st), *b = lb_params_add(p, "b", 1, bs, 1, &st);
    lb_tensor *e = lb_params_add(p, "e", 2, es, 1, &st), *nw = lb_params_add(p, "nw", 1, bs, 1, &st);
    lb_rng r;
    lb_rng_seed(&r, 3);
    lb_init_linear(w, b, &r);
    CHECK_INT(lb_fan_in(w), 27);
    float bound = 1.0f / sqrtf(27.0f), mx = 0;
    for (int64_t i = 0; i < w->numel; i++) mx = fabsf(w->data[i]) > mx ? fabsf(w->data[i]) : mx;
    CHECK(mx <= bound && mx > 0.8f * bound);
    for (int64_t i = 0; i < b->numel; i++) CHECK(fabsf(b->data[i]) <= bound);
    lb_init_embedding(e, &r);
    double s2 = 0;
    for (int64_t i = 0; i < e->numel; i++) s2 += e->data[i] * e->data[i];
    CHECK_NEAR(s2 / e->numel, 1.0, 0.1);
    lb_init_norm(nw, b);
    CHECK_NEAR(nw->data[3], 1.0, 0);
    CHECK_NEAR(b->data[3], 0.0, 0);
    lb_params_free(p);
}

int main(void) {
    RUN(test_sgd_variants);
    RUN(test_adam);
    RUN(test_buffers_not_updated);
    RUN(test_clip);
    RUN(test_schedules);
    RUN(test_init);
    return CHECK_SUMMARY();
}
